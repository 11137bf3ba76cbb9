"""``newsletter serve --workers 2`` on PostgreSQL: several processes, one database, nothing stored twice.

The real CLI starts uvicorn's worker processes; several clients post the same
signed webhook bodies twice at the same moment, press the same one-click
unsubscribe button at once, and click the same link many times.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest

from newsletter import tokens
from tests.delivery.fakes import free_port, rows
from tests.helpers import wait_until

SECRET = "tracking-test-secret-key-0123456789"
pytestmark = [pytest.mark.postgresql, pytest.mark.timeout(180)]


@pytest.fixture
def database(postgres_database):
    """Several processes on one store: PostgreSQL."""
    return postgres_database


@contextmanager
def serving(database: str, public_key: str, *extra_env: tuple[str, str]):
    """``newsletter serve --workers 2`` in a subprocess until the block ends: yields its base URL and,
    once stopped, its whole output in the list."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NEWSLETTER_DATABASE": database, "NEWSLETTER_SECRET_KEY": SECRET,
           "SENDGRID_WEBHOOK_PUBLIC_KEY": public_key, "NEWSLETTER_PUBLIC_URL": base, "NEWSLETTER_ENV_FILE": "/dev/null",
           **dict(extra_env)}
    proc = subprocess.Popen([sys.executable, "-m", "newsletter", "serve", "--workers", "2", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        def answers() -> bool:  # a worker answers
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, 60, 0.1, "serve did not start",
                   abort=lambda: proc.communicate()[0] if proc.poll() is not None else None)
        yield base, output
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output.append(proc.communicate(timeout=30)[0])
        except subprocess.TimeoutExpired:
            proc.kill()
            output.append(proc.communicate()[0])


def signed_bodies(send: int, subscribers: list[int]) -> list[bytes]:
    """20 webhook bodies of 50 distinct events each."""
    kinds = ["delivered", "open", "click", "unsubscribe", "bounce"]
    return [json.dumps([{"event": kinds[(b + i) % len(kinds)], "type": "bounce", "email": "x@example.org",
                         "timestamp": 1795000000 + i, "sg_event_id": f"ev-{b}-{i}", "send_id": str(send),
                         "subscriber_id": str(subscribers[(b + i) % len(subscribers)]), "url": "https://example.org/b"}
                        for i in range(50)]).encode()
            for b in range(20)]


def test_two_workers_store_each_event_once_under_concurrent_repeats(settings, keys, seed_send, postgres_server):
    ids = seed_send()
    send, subscribers = ids["send_id"], ids["subscribers"]
    posts = [body for body in signed_bodies(send, subscribers) for _ in range(2)]  # every body twice ...
    random.Random(7).shuffle(posts)

    with serving(settings.newsletter_database, keys.public) as (base, output):
        def post(body: bytes) -> dict:
            answer = httpx.post(f"{base}/webhooks/sendgrid", content=body, headers=keys.headers(body), timeout=60)
            assert answer.status_code == 200, answer.text
            return answer.json()

        unsubscribe = tokens.unsubscribe_url(base, SECRET, subscribers[0], send)
        click = tokens.click_url(base, SECRET, send, subscribers[1], 1)
        with ThreadPoolExecutor(max_workers=8) as pool:  # ... from eight clients at once
            answers = list(pool.map(post, posts))
            pressed = list(pool.map(lambda _: httpx.post(
                unsubscribe, content=b"List-Unsubscribe=One-Click", timeout=60,
                headers={"Content-Type": "application/x-www-form-urlencoded"}), range(10)))
            clicked = list(pool.map(lambda _: httpx.get(click, timeout=60), range(30)))

    database = settings.newsletter_database
    assert rows(database, "SELECT COUNT(*), COUNT(DISTINCT event_key) FROM events WHERE source = 'sendgrid'") == \
        [(1000, 1000)]
    assert sum(a["stored"] for a in answers) == 1000 and sum(a["duplicates"] for a in answers) == 1000
    assert all(r.status_code == 200 for r in pressed)
    assert rows(database, "SELECT COUNT(*) FROM events WHERE source = 'unsubscribe-page'") == [(1,)]
    assert all(r.status_code in (302, 303, 307) for r in clicked)
    assert rows(database, "SELECT COUNT(*) FROM events WHERE source = 'tracking' AND type = 'click'") == [(30,)]
    assert {r[0] for r in rows(database, "SELECT status FROM subscribers")} == {"bounced"}  # never better again
    assert output[0].count("Started server process") == 2 and "Traceback" not in output[0]
    assert postgres_server.password not in output[0]


def test_two_workers_start_together_on_an_empty_database_and_never_log_the_password(postgres_server, keys):
    url = postgres_server.create_database()  # empty: the workers migrate it together
    with serving(url, keys.public, ("NEWSLETTER_DATABASE_TIMEOUT", "2")) as (base, output):
        migrated = rows(url, "SELECT version FROM schema_migrations ORDER BY version")
        postgres_server.drop_database(url)  # the database goes away under the server
        answer = httpx.get(f"{base}/healthz", timeout=30)
    from newsletter.store import list_migrations

    assert [v for (v,) in migrated] == [n for n, _, _ in list_migrations()]
    assert answer.status_code == 503 and answer.text == "temporarily unavailable, try again later\n"
    assert output[0].count("Started server process") == 2 and "database error on GET /healthz" in output[0]
    assert postgres_server.password not in output[0]
