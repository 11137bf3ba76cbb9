"""The tracking server (``newsletter serve``): one-click unsubscribe, the
SendGrid Event Webhook, the open pixel and click redirects, a health check,
and the audience pages: signup with double opt-in and the preference page.

``create_app(settings)`` (in ``app.py``) builds the ASGI app; ``run_server``
serves it with uvicorn. Starlette and uvicorn are imported only here, never at
CLI start-up.
"""

from __future__ import annotations


def run_server(settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the tracking app on ``host:port`` until interrupted (blocks)."""
    import logging

    import uvicorn

    from newsletter.server.app import create_app

    # uvicorn configures only its own loggers; ours say what the webhook refused and why.
    logging.basicConfig(level=logging.INFO, format="%(levelname)-9s %(name)s: %(message)s")
    app = create_app(settings)
    # proxy_headers: production runs behind the team's HTTPS proxy on loopback.
    uvicorn.run(app, host=host, port=port, proxy_headers=True, server_header=False, log_level="info")
