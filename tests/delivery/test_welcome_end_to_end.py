"""End to end: people sign up and confirm over the real server, `newsletter worker` (a real process) sends
the welcome email over SMTP, once each, also when the worker is killed mid-send and started again."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from newsletter.audience.lists import create_list
from newsletter.release.sequences import attach_welcome
from tests.audience.helpers import confirmation_files, read_confirmation
from tests.delivery.fakes import settings_env
from tests.delivery.test_kill import kill, wait_for
from tests.helpers import wait_until
from tests.server.conftest import serve  # noqa: F401  (the fixture: uvicorn on loopback)

pytestmark = pytest.mark.timeout(180)

PEOPLE = [f"reader{i}@example.org" for i in range(6)]


def worker(config, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "newsletter", "worker", *args],
                            env={**os.environ, **settings_env(config)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_confirmed_signup_gets_the_welcome_email_once_even_after_a_kill(smtp_settings, smtp_server, serve,  # noqa: F811
                                                                         tmp_path, cli):
    import httpx

    handler, _ = smtp_server
    welcome = tmp_path / "issues" / "welcome.md"
    welcome.parent.mkdir()
    welcome.write_text("---\ntitle: Welcome to the harbour\nseo:\n  url: https://news.example.org/welcome\n---\n"
                       "Hello %%name%%, glad you are here.\n", encoding="utf-8")
    create_list("news", smtp_settings, title="Harbour News", signup=True)
    attach_welcome("news", welcome, smtp_settings)
    # The server mails confirmations to the outbox; the worker sends the welcome over SMTP.
    site = smtp_settings.with_overrides(newsletter_backend="outbox", newsletter_outbox=str(tmp_path / "outbox"))
    url = serve(site)
    with httpx.Client() as http:
        for email in PEOPLE:
            assert http.post(f"{url}/subscribe/news", data={"email": email, "consent": "yes"}).status_code == 200
        wait_until(lambda: len(confirmation_files(site.newsletter_outbox)) == len(PEOPLE), 30,
                   message="the confirmation emails were not all written")
        for eml in confirmation_files(site.newsletter_outbox):
            answer = http.post(read_confirmation(eml)[2])
            assert answer.status_code == 200 and "You are subscribed" in answer.text

    handler.hang_after = 3  # the fourth message stalls: the worker is killed while it is on the wire
    proc = worker(smtp_settings.with_overrides(smtp_connections=1))
    try:
        wait_for(handler.hung.is_set, proc)
    finally:
        kill(proc)
    handler.hang_after = None
    handler.release.set()

    done = worker(smtp_settings, "--once")
    out, err = done.communicate(timeout=120)
    assert done.returncode in (0, 3), (out, err)  # 3: the message the killed worker had on the wire is in doubt
    again = worker(smtp_settings, "--once")
    assert again.communicate(timeout=120)[0].decode().strip() == "Nothing due."

    delivered = handler.delivered()
    assert max(delivered.values()) == 1 and len(delivered) == len(PEOPLE) - 1
    shown = json.loads(cli(smtp_settings, "sequences", "show", "welcome", "--json").stdout)
    [step] = shown["steps"]
    assert (step["sent"], step["in_doubt"], step["pending"]) == (len(PEOPLE) - 1, 1, 0)
