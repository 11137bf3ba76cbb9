"""Fixtures for the tracking-server tests: the real app over a temporary database,
a webhook key pair made here, and signed SendGrid posts."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.settings import Settings
from tests.helpers import wait_until
from tests.tracking import seeding
from tests.tracking.seeding import seed_send, status_of  # noqa: F401  (shared fixtures, registered by importing)

SECRET = seeding.SECRET
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


class WebhookKeys:
    """An ECDSA P-256 key pair like SendGrid's; ``public`` is base64 DER without PEM armour."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Signature headers for ``body`` as SendGrid sends them."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.private.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {SIGNATURE: base64.b64encode(signature).decode(), TIMESTAMP: ts, "Content-Type": "application/json"}


@pytest.fixture(scope="session")
def keys() -> WebhookKeys:
    """One key pair for the session (generation is the slow part)."""
    return WebhookKeys()


@pytest.fixture
def settings(database, keys) -> Settings:
    """Settings on a fresh database (SQLite, then PostgreSQL), with the webhook public key configured."""
    return Settings(newsletter_database=database, newsletter_secret_key=SECRET,
                    newsletter_public_url="http://testserver", newsletter_brand="The <Example> News",
                    sendgrid_webhook_public_key=keys.public)


def _test_client_class():
    import warnings

    with warnings.catch_warnings():  # Starlette 1.x nudges towards "httpx2"; httpx still works
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from starlette.testclient import TestClient
    return TestClient


@pytest.fixture
def make_client():
    """``make_client(settings)``: Starlette's TestClient over ``create_app(settings)`` (use with ``with``).

    Server bugs surface as 500 answers, as a real client would see them.
    """
    from newsletter.server.app import create_app

    test_client = _test_client_class()
    return lambda settings: test_client(create_app(settings), raise_server_exceptions=False, follow_redirects=False)


@pytest.fixture
def serve():
    """``serve(settings)``: ``create_app(settings)`` under uvicorn in a thread on a free loopback port, with
    ``NEWSLETTER_PUBLIC_URL`` set to where it listens; returns that URL. Every server is stopped at teardown."""
    import socket
    import threading

    import uvicorn

    from newsletter.server.app import create_app

    running = []

    def start(settings) -> str:
        # IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections, as when uvicorn binds itself.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = create_app(settings.with_overrides(newsletter_public_url=url))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread, sock))
        wait_until(lambda: server.started, 30, message="uvicorn did not start",
                   abort=lambda: None if thread.is_alive() else "uvicorn did not start")
        return url

    yield start
    for server, thread, sock in running:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive()


@pytest.fixture
def client(settings, make_client):
    """A TestClient over the app for ``settings``."""
    with make_client(settings) as test_client:
        yield test_client



@pytest.fixture
def post_events(client, keys):
    """``post_events(events)`` posts a signed SendGrid event array to the webhook."""

    def post(events, **kw):
        body = json.dumps(events).encode()
        return client.post("/webhooks/sendgrid", content=body, headers=keys.headers(body, **kw))

    return post


@pytest.fixture
def count_events(settings):
    """``count_events(sql_where='TRUE', *params)``: rows in the events table."""
    from newsletter.store import connect

    def count(where: str = "TRUE", *params) -> int:
        conn = connect(settings.newsletter_database)
        try:
            return conn.execute(f"SELECT COUNT(*) FROM events WHERE {where}", params).fetchone()[0]
        finally:
            conn.close()

    return count
