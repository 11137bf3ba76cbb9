"""End to end: `newsletter sequences pause` while a real `newsletter worker` process sends a welcome email over
real SMTP stops the step after its batch in flight; nothing more goes out while paused; on resume the rest
goes out, each once."""

from __future__ import annotations

import pytest

from newsletter.audience.lists import create_list
from newsletter.audience.members import add_subscriber
from newsletter.release.sequence_pause import pause, resume
from newsletter.release.sequences import attach_welcome
from tests.delivery.test_welcome_end_to_end import worker

pytestmark = pytest.mark.timeout(180)

PEOPLE = [f"reader{i}@example.org" for i in range(6)]


def test_a_pause_stops_a_workers_step_after_its_batch_in_flight(smtp_settings, smtp_server, tmp_path, cli):
    handler, _ = smtp_server
    welcome = tmp_path / "issues" / "welcome.md"
    welcome.parent.mkdir()
    welcome.write_text("---\ntitle: Welcome to the harbour\nseo:\n  url: https://news.example.org/welcome\n---\n"
                       "Hello %%name%%, glad you are here.\n", encoding="utf-8")
    create_list("news", smtp_settings)
    attach_welcome("news", welcome, smtp_settings)
    for email in PEOPLE:
        add_subscriber(email, "news", smtp_settings, welcome=True)
    # Batches of two (NEWSLETTER_RATE=2), one SMTP connection: the pause lands while the first batch is on
    # the wire (its first message taken, the second not sent yet).
    config = smtp_settings.with_overrides(newsletter_rate=2.0, smtp_connections=1)
    said: list[str] = []

    def tap(stage: str, address: str) -> None:
        if stage == "taken" and not said:
            said.append(pause("welcome", smtp_settings, actor="Ann <ann@example.org>"))

    handler.tap = tap
    first = worker(config, "--once")
    out, err = first.communicate(timeout=120)
    handler.tap = None
    assert first.returncode in (0, 3), (out, err)
    assert b"Traceback" not in err
    assert said and said[0].startswith("Paused sequence 'welcome' of list news")
    assert sum(handler.delivered().values()) == 2  # the batch in flight, and nothing after it

    paused = worker(config, "--once")
    paused.communicate(timeout=120)
    assert sum(handler.delivered().values()) == 2  # paused: a new worker sends nothing
    shown = cli(smtp_settings, "sequences", "show", "welcome")
    assert "Paused by Ann <ann@example.org>" in shown.stdout

    resume("welcome", smtp_settings, actor="Ann <ann@example.org>")
    done = worker(config, "--once")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, (out, err)
    delivered = handler.delivered()
    assert sorted(delivered) == PEOPLE and set(delivered.values()) == {1}
