"""The tracking server (``newsletter serve``): one-click unsubscribe, the
SendGrid Event Webhook, the open pixel and click redirects, a health check,
and the audience pages: signup with double opt-in and the preference page.

``create_app(settings)`` (in ``app.py``) builds the ASGI app; ``run_server``
serves it with uvicorn. Starlette and uvicorn are imported only here, never at
CLI start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsletter.settings import Settings


def run_server(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the tracking app on ``host:port`` until interrupted (blocks).

    ``workers`` > 1 runs that many processes (uvicorn's workers) on one socket;
    each builds its app from the environment and .env, as ``settings`` were,
    and they share nothing but the database.
    """
    import functools

    import uvicorn

    from newsletter.server.access_log import log_config
    from newsletter.server.app import configure_logging, create_app

    configure_logging()
    # proxy_headers off: the app itself believes X-Forwarded-For from NEWSLETTER_TRUSTED_PROXIES only
    # (uvicorn's would also believe 127.0.0.1, whatever the setting). log_config: tokens redacted in the log.
    run = functools.partial(uvicorn.run, host=host, port=port, proxy_headers=False, server_header=False,
                            log_level="info", log_config=log_config())
    if workers > 1:
        create_app(settings)  # refuse bad settings (and migrate) once, before any worker starts
        run("newsletter.server.app:create_app_from_environment", factory=True, workers=workers)
        return
    run(create_app(settings))
