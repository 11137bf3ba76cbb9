"""`newsletter serve` (real uvicorn, in its own process) logs each request's path with the token redacted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from newsletter import tokens
from tests.delivery.fakes import free_port
from tests.helpers import wait_until

SECRET = "access-log-test-secret-key-0123456789"
pytestmark = pytest.mark.timeout(120)


def serve_and_log(database: str, paths: list[str], *args: str) -> str:
    """Start ``newsletter serve ARGS``, GET and POST each of ``paths`` (and /healthz), stop it; its whole output."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NEWSLETTER_DATABASE": database, "NEWSLETTER_SECRET_KEY": SECRET,
           "NEWSLETTER_PUBLIC_URL": base}
    proc = subprocess.Popen([sys.executable, "-m", "newsletter", "serve", "--port", str(port), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def answers() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, 60, 0.1, "serve did not start",
                   abort=lambda: proc.communicate()[0] if proc.poll() is not None else None)
        with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as http:
            for path in paths:
                http.get(path)
                http.post(path)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0]
    return output


def signed_paths() -> dict[str, str]:
    """A valid token for each token route (path -> the token in it)."""
    far = int(time.time()) + 3600
    urls = [tokens.unsubscribe_url("", SECRET, 7, 3), tokens.preferences_url("", SECRET, 7),
            tokens.confirm_url("", SECRET, 7, 1, 1, far), tokens.click_url("", SECRET, 3, 7, 0),
            tokens.open_url("", SECRET, 3, 7)]
    return {url: url.split("/")[2].removesuffix(".gif") for url in urls}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_access_log_holds_paths_with_the_token_redacted(tmp_path, workers):
    paths = signed_paths()
    output = serve_and_log(str(tmp_path / "serve.db"), [*paths, "/u/not-a-token?x=1"], "--workers", workers)
    assert '"GET /healthz HTTP/1.1" 200' in output  # the access log is on
    for path, token in paths.items():
        assert token not in output and token.split(".")[0] not in output, path
    for logged in ("/u/[token]", "/p/[token]", "/confirm/[token]", "/c/[token]", "/o/[token].gif"):
        assert f'"GET {logged} HTTP/1.1"' in output and f'"POST {logged} HTTP/1.1"' in output, (logged, output)
    assert '"GET /u/[token]?x=1 HTTP/1.1"' in output  # a query string is kept; no token route is ever shown whole


def test_redact_leaves_other_paths_alone():
    from newsletter.server.access_log import redact

    assert redact("/healthz") == "/healthz"
    assert redact("/subscribe/news") == "/subscribe/news"
    assert redact("/webhooks/sendgrid") == "/webhooks/sendgrid"
    assert redact("/o/abc.def.gif") == "/o/[token].gif"
    assert redact("/confirm/abc.def?utm=x") == "/confirm/[token]?utm=x"
    assert redact("/c/a.b/extra") == "/c/[token]/extra"
