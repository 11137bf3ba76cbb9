"""Pausing and resuming a sequence (``sequences pause|resume``) with the worker on the test clock: nothing goes
out while paused, members keep being enrolled, a step that fell due meanwhile goes out on resume (once, and
not to someone who left); the CLI's one-line errors."""

from __future__ import annotations

import json

import pytest

from newsletter.audience.members import add_subscriber, unsubscribe
from newsletter.release import sequences
from newsletter.release.sequence_pause import pause, resume
from newsletter.release.worker import Worker
from tests.release.sequence_helpers import outbox, store_clock


@pytest.fixture
def clock():
    return store_clock()


def join(settings, *emails: str, plan: str = "pro") -> None:
    from tests.release.helpers import add_people

    for email in emails:
        add_subscriber(email, "news", settings, welcome=True)
    add_people(settings.newsletter_database, "news", {e: {"plan": plan} for e in emails})


def test_a_paused_sequence_sends_nothing_and_on_resume_every_step_due_goes_out_once(settings, repo, clock, cli):
    sequences.attach_file("news", repo, settings)
    join(settings, "ann@example.org", "bob@example.org")
    worker = Worker(settings, clock=clock)
    clock.advance(hours=1)
    worker.run_once()
    assert outbox(settings) == {"ann@example.org": ["Getting started"], "bob@example.org": ["Getting started"]}

    said = pause("onboarding", settings, actor="Ann <ann@example.org>", clock=clock)
    assert said.startswith("Paused sequence 'onboarding' of list news")
    join(settings, "cy@example.org", plan="free")  # joins while paused: enrolled as usual (step 2 is for pro)
    unsubscribe("bob@example.org", settings)  # leaves while paused: never gets step 2
    clock.advance(days=3, minutes=1)  # step 2 falls due for ann, step 1 for cy
    assert worker.run_once() == [] and worker.step_runner().next_due() is None
    assert outbox(settings)["ann@example.org"] == ["Getting started"] and "cy@example.org" not in outbox(settings)
    view = sequences.show("onboarding", settings, clock=clock)
    assert view.paused_by == "Ann <ann@example.org>" and view.paused_at
    assert view.enrolled == 2 and [s.due for s in view.steps] == [1, 1]  # due, not written: nothing pending
    assert [s.pending for s in view.steps] == [0, 0]
    shown = cli(settings, "sequences", "show", "onboarding").stdout
    assert "Paused by Ann <ann@example.org> at" in shown
    assert "paused by Ann <ann@example.org>" in cli(settings, "sequences").stdout

    clock.advance(days=2)  # the pause lasts: nothing is skipped for it
    said = resume("onboarding", settings, actor="Ann <ann@example.org>", clock=clock)
    assert said.startswith("Resumed sequence 'onboarding'")
    worker.run_once()
    assert outbox(settings) == {"ann@example.org": ["Getting started", "Going further"],
                                "bob@example.org": ["Getting started"],
                                "cy@example.org": ["Getting started"]}
    assert worker.run_once() == []  # nothing twice
    listed = json.loads(cli(settings, "sequences", "--json").stdout)
    assert [r["paused_at"] for r in listed] == [None]


def test_pause_and_resume_are_audited(settings, repo, clock):
    from newsletter.store import connect

    sequences.attach_welcome("news", repo.parent.parent / "issues" / "welcome.md", settings)
    pause("welcome", settings, actor="Ann <ann@example.org>", clock=clock)
    resume("welcome", settings, actor="Bob <bob@example.org>", list_name="news", clock=clock)
    conn = connect(settings.newsletter_database)
    rows = conn.execute("SELECT action, slug, list_name, actor FROM audit_log ORDER BY id").fetchall()
    conn.close()
    assert [tuple(r) for r in rows] == [("pause", "sequence:welcome", "news", "Ann <ann@example.org>"),
                                        ("resume", "sequence:welcome", "news", "Bob <bob@example.org>")]


def test_a_welcome_email_paused_welcomes_nobody_until_resumed(settings, repo, clock):
    sequences.attach_welcome("news", repo.parent.parent / "issues" / "welcome.md", settings)
    pause("welcome", settings, actor="ann", clock=clock)
    join(settings, "ann@example.org")
    worker = Worker(settings, clock=clock)
    worker.run_once()
    assert outbox(settings) == {}
    resume("welcome", settings, actor="ann", clock=clock)
    worker.run_once()
    assert outbox(settings) == {"ann@example.org": ["Welcome aboard"]}


def test_the_worker_logs_a_pause_once_and_goes_on_with_the_other_sequences(settings, repo, clock):
    from newsletter.release.sequence_steps import StepRunner

    sequences.attach_welcome("news", repo.parent.parent / "issues" / "welcome.md", settings)
    sequences.attach_file("news", repo, settings)
    pause("onboarding", settings, actor="ann", clock=clock)
    join(settings, "ann@example.org")
    lines: list[str] = []
    runner = StepRunner(settings, clock=clock, log=lines.append)
    clock.advance(hours=1)
    runner.run()
    runner.run()
    assert [line for line in lines if "paused" in line] == [
        f"sequence 'onboarding' of list news paused: by ann at {sequences.show('onboarding', settings).paused_at}: "
        "nothing of it goes out until resumed"]
    assert outbox(settings) == {"ann@example.org": ["Welcome aboard"]}  # the welcome email is not paused
    resume("onboarding", settings, actor="ann", clock=clock)
    runner.run()
    assert outbox(settings) == {"ann@example.org": ["Welcome aboard", "Getting started"]}


def test_cli_errors_are_one_line_with_their_exit_status(settings, repo, clock, cli):
    sequences.attach_file("news", repo, settings)
    unknown = cli(settings, "sequences", "pause", "nope", "--as", "Ann <ann@example.org>")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip().splitlines() == ["Error: nope: no such sequence (see `newsletter sequences`)"]
    first = cli(settings, "sequences", "pause", "onboarding", "--as", "Ann <ann@example.org>")
    assert first.exit_code == 0, first.output
    again = cli(settings, "sequences", "pause", "onboarding", "--as", "Bob <bob@example.org>")
    assert again.exit_code == 1
    [line] = again.stderr.strip().splitlines()
    assert "onboarding: already paused (by Ann <ann@example.org> at " in line
    assert "`newsletter sequences resume onboarding --list news` resumes it" in line
    assert cli(settings, "sequences", "resume", "onboarding", "--as", "Ann <ann@example.org>").exit_code == 0
    not_paused = cli(settings, "sequences", "resume", "onboarding", "--as", "Ann <ann@example.org>")
    assert not_paused.exit_code == 1
    assert not_paused.stderr.strip().splitlines() == ["Error: onboarding: it is not paused"]


def test_pause_of_a_step_send_names_its_sequence(settings, repo, clock, cli):
    sequences.attach_welcome("news", repo.parent.parent / "issues" / "welcome.md", settings)
    join(settings, "ann@example.org")
    [step] = Worker(settings, clock=clock).run_once()
    result = cli(settings, "pause", step.send_id, "--as", "Ann <ann@example.org>")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {step.send_id}: this send is a step of sequence 'welcome' of list news: pause or resume the "
        "sequence (`newsletter sequences pause welcome --list news`)"]


def test_a_paused_sequence_taken_off_and_attached_again_stays_paused(settings, repo, clock):
    sequences.attach_file("news", repo, settings)
    pause("onboarding", settings, actor="ann", clock=clock)
    assert sequences.detach("news", "onboarding", settings)
    sequences.attach_file("news", repo, settings)
    assert sequences.show("onboarding", settings).paused_by == "ann"
