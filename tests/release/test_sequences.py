"""Welcome emails and sequences sent by the worker, with a clock the test moves: each step reaches each
member once, when due, never after they left; edits follow Buttondown's rule."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from newsletter.audience.members import add_subscriber, unsubscribe
from newsletter.release import sequences
from newsletter.release.worker import Worker
from tests.release.sequence_helpers import outbox, store_clock, write_issue


@pytest.fixture
def clock():
    return store_clock()


def join(settings, *emails: str, **attributes: str) -> None:
    from tests.release.helpers import add_people

    for email in emails:
        add_subscriber(email, "news", settings, welcome=True)
    if attributes:
        add_people(settings.newsletter_database, "news", {e: dict(attributes) for e in emails})


def test_a_welcome_email_reaches_each_new_member_once(settings, repo, clock, tmp_path):
    add_subscriber("old@example.org", "news", settings, welcome=True)  # before the welcome email: never welcomed
    sequences.attach_welcome("news", tmp_path / "issues" / "welcome.md", settings)
    join(settings, "ann@example.org", "bob@example.org")
    worker = Worker(settings, clock=clock)
    started = worker.run_once()
    assert [s.state for s in started] == ["done"]
    assert outbox(settings) == {"ann@example.org": ["Welcome aboard"], "bob@example.org": ["Welcome aboard"]}
    assert worker.run_once() == []  # nothing due twice
    join(settings, "cy@example.org")
    clock.advance(minutes=1)
    worker.run_once()
    assert sorted(outbox(settings)) == ["ann@example.org", "bob@example.org", "cy@example.org"]
    assert all(len(subjects) == 1 for subjects in outbox(settings).values())


def backdate(settings) -> None:
    from newsletter.store import connect, transaction

    conn = connect(settings.newsletter_database)
    with transaction(conn):
        conn.execute("UPDATE memberships SET updated_at = '2026-01-01T00:00:00Z'")
    conn.close()


def test_an_import_enrols_only_with_welcome(settings, repo, clock, tmp_path):
    from newsletter.audience.members import import_csv

    sequences.attach_welcome("news", tmp_path / "issues" / "welcome.md", settings)
    csv = tmp_path / "people.csv"
    csv.write_text("email\nann@example.org\nbob@example.org\n", encoding="utf-8")
    assert import_csv(csv, "news", settings).enrolled == 0
    backdate(settings)  # that import was yesterday
    csv.write_text("email\nann@example.org\ncy@example.org\n", encoding="utf-8")
    assert import_csv(csv, "news", settings, welcome=True).enrolled == 1  # cy joined; ann was there
    Worker(settings, clock=clock).run_once()
    assert list(outbox(settings)) == ["cy@example.org"]


def test_steps_wait_for_their_delays_and_conditions(settings, repo, clock):
    sequences.attach_file("news", repo, settings)
    join(settings, "pro@example.org", plan="pro")
    join(settings, "free@example.org", plan="free")
    worker = Worker(settings, clock=clock)
    start = clock()
    assert worker.run_once() == [] and outbox(settings) == {}  # the first step waits an hour
    clock.advance(hours=1)
    worker.run_once()
    assert outbox(settings) == {"pro@example.org": ["Getting started"], "free@example.org": ["Getting started"]}
    # The store stamps the rows with the real time, which is a minute behind the test's clock.
    clock.set(start + timedelta(days=3, minutes=-2))
    assert worker.run_once() == []
    due = worker.step_runner().next_due()
    assert due is not None and start + timedelta(days=3, minutes=-2) < due <= start + timedelta(days=3)
    clock.set(start + timedelta(days=3, minutes=1))
    worker.run_once()
    # Step 2 is for plan=pro: the other member's row is suppressed, and the sequence is over for both.
    assert outbox(settings)["pro@example.org"] == ["Getting started", "Going further"]
    assert outbox(settings)["free@example.org"] == ["Getting started"]
    view = sequences.show("onboarding", settings, clock=clock)
    assert [(s.sent, s.suppressed) for s in view.steps] == [(2, 0), (1, 1)]
    assert (view.enrolled, view.finished) == (2, 2)


def test_someone_who_leaves_gets_no_further_step_and_a_rejoin_does_not_restart(settings, repo, clock):
    sequences.attach_file("news", repo, settings)
    join(settings, "ann@example.org", "bob@example.org", plan="pro")
    worker = Worker(settings, clock=clock)
    clock.advance(hours=1)
    worker.run_once()
    unsubscribe("bob@example.org", settings)
    clock.advance(days=3, minutes=1)
    worker.run_once()
    assert outbox(settings)["bob@example.org"] == ["Getting started"]
    assert outbox(settings)["ann@example.org"] == ["Getting started", "Going further"]
    # Ann leaves the list and signs up again: her enrolment exists, nothing starts again.
    from newsletter.store import connect, consent, transaction

    conn = connect(settings.newsletter_database)
    with transaction(conn):
        list_id = conn.execute("SELECT id FROM lists WHERE name = 'news'").fetchone()[0]
        ann = conn.execute("SELECT id FROM subscribers WHERE email = 'ann@example.org'").fetchone()[0]
        consent.leave_lists(conn, ann, [list_id], "test")
    conn.close()
    join(settings, "ann@example.org")
    clock.advance(days=10)
    worker.run_once()
    assert outbox(settings)["ann@example.org"] == ["Getting started", "Going further"]


def test_restart_sends_every_step_again_once(settings, repo, clock, cli):
    sequences.attach_file("news", repo, settings)
    join(settings, "ann@example.org", plan="pro")
    worker = Worker(settings, clock=clock)
    clock.advance(hours=1)
    worker.run_once()
    clock.advance(days=3, minutes=1)
    worker.run_once()
    result = cli(settings, "sequences", "restart", "onboarding", "ann@example.org")
    assert result.exit_code == 0, result.output
    clock.advance(hours=1, minutes=1)
    worker.run_once()
    clock.advance(days=3, minutes=1)
    worker.run_once()
    worker.run_once()
    assert outbox(settings)["ann@example.org"] == ["Getting started", "Going further"] * 2
    sends = cli(settings, "sends").stdout
    assert "news sequence:onboarding#2" in sends and "news sequence:onboarding\t" in sends


def test_an_edited_email_reaches_those_waiting_and_edited_steps_apply_to_new_members(settings, repo, clock, tmp_path):
    sequences.attach_file("news", repo, settings)
    join(settings, "early@example.org", plan="pro")
    worker = Worker(settings, clock=clock)
    clock.advance(hours=1)
    worker.run_once()
    write_issue(tmp_path, "onboarding-2", "Going further, edited")  # the email: for everyone still waiting
    repo.write_text(repo.read_text().replace('after_previous = "3d"', 'after_previous = "1d"'))  # the steps: new ones
    logged: list[str] = []
    worker = Worker(settings, clock=clock, log=logged.append)
    worker.run_once()
    assert any("version 2" in line for line in logged)
    join(settings, "late@example.org", plan="pro")
    clock.advance(hours=1, minutes=1)
    worker.run_once()
    clock.advance(days=1, minutes=1)
    worker.run_once()
    assert outbox(settings)["late@example.org"] == ["Getting started", "Going further, edited"]
    assert outbox(settings)["early@example.org"] == ["Getting started"]  # still on version 1's 3 days
    clock.advance(days=2)
    worker.run_once()
    assert outbox(settings)["early@example.org"] == ["Getting started", "Going further, edited"]


def test_a_broken_sequence_file_is_one_log_line_and_stops_nothing_else(settings, repo, clock, tmp_path):
    sequences.attach_file("news", repo, settings)
    sequences.attach_welcome("news", tmp_path / "issues" / "welcome.md", settings)
    join(settings, "ann@example.org")
    repo.write_text("[[step]]\nissue = 'issues/onboarding-1.md'\nafter_joining = 'soon'\n")
    logged: list[str] = []
    worker = Worker(settings, clock=clock, log=logged.append)
    worker.run_once()
    worker.run_once()
    problems = [line for line in logged if "soon" in line]
    assert len(problems) == 1 and "step 1" in problems[0] and "onboarding.toml" in problems[0]
    assert outbox(settings)["ann@example.org"] == ["Welcome aboard"]
    clock.advance(hours=1, minutes=1)  # version 1 goes on
    worker.run_once()
    assert outbox(settings)["ann@example.org"] == ["Welcome aboard", "Getting started"]


def test_workers_racing_send_each_step_once(settings, repo, clock, tmp_path):
    sequences.attach_welcome("news", tmp_path / "issues" / "welcome.md", settings)
    emails = [f"p{i}@example.org" for i in range(12)]
    join(settings, *emails)
    barrier = threading.Barrier(3)

    def work(name: str) -> None:
        barrier.wait()
        Worker(settings, clock=clock, name=name).run_once()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outbox(settings) == {email: ["Welcome aboard"] for email in emails}


def test_the_worker_waits_no_longer_than_the_next_due_step(settings, repo, clock):
    sequences.attach_file("news", repo, settings)
    join(settings, "ann@example.org", plan="pro")
    runner = Worker(settings, clock=clock).step_runner()
    due = runner.next_due()
    assert due is not None and 0 < (due - clock()).total_seconds() <= 3600


def test_a_detached_sequence_sends_nothing_and_enrols_nobody(settings, repo, clock, tmp_path, cli):
    sequences.attach_welcome("news", tmp_path / "issues" / "welcome.md", settings)
    result = cli(settings, "lists", "set", "news", "--no-welcome")
    assert result.exit_code == 0, result.output
    join(settings, "ann@example.org")
    Worker(settings, clock=clock).run_once()
    assert outbox(settings) == {}


def test_a_step_whose_issue_no_longer_composes_is_one_log_line_and_the_rest_goes_on(settings, repo, clock, tmp_path):
    sequences.attach_welcome("news", tmp_path / "issues" / "welcome.md", settings)
    sequences.attach_file("news", repo, settings)
    join(settings, "ann@example.org", plan="pro")
    (tmp_path / "issues" / "welcome.md").write_text("---\ntitle: ''\n---\nHello.\n", encoding="utf-8")
    logged: list[str] = []
    worker = Worker(settings, clock=clock, log=logged.append)
    clock.advance(hours=1, minutes=1)
    worker.run_once()
    worker.run_once()
    assert len([line for line in logged if "sequence 'welcome' of list news, step 1: " in line]) == 1
    assert outbox(settings) == {"ann@example.org": ["Getting started"]}
    write_issue(tmp_path, "welcome", "Welcome back")  # mended: sent at the next look
    worker.run_once()
    assert outbox(settings)["ann@example.org"] == ["Getting started", "Welcome back"]


def test_no_step_goes_out_around_required_approvals(settings, repo, clock, tmp_path, cli):
    sequences.attach_welcome("news", tmp_path / "issues" / "welcome.md", settings)
    join(settings, "ann@example.org")
    gated = settings.with_overrides(newsletter_required_approvals=1)
    logged: list[str] = []
    worker = Worker(gated, clock=clock, log=logged.append)
    assert worker.run_once() == [] and worker.run_once() == [] and outbox(settings) == {}
    # Each step's build waits for its approvals (tests/release/test_sequence_approvals.py): said once.
    assert len([line for line in logged if "waits for approval" in line]) == 1
    attached = cli(gated, "lists", "set", "news", "--sequence", repo)  # attaching sends nothing: allowed
    assert attached.exit_code == 0 and "--sequence onboarding" in attached.output, attached.output


def test_steps_with_no_delay_all_go_out_in_one_look_in_order(settings, repo, clock, tmp_path):
    write_issue(tmp_path, "onboarding-3", "Mastery")
    repo.write_text("".join(f'[[step]]\nissue = "issues/onboarding-{i}.md"\n'
                            + ('after_joining = "0"\n' if i == 1 else 'after_previous = "0"\n') for i in (1, 2, 3)))
    sequences.attach_file("news", repo, settings)
    join(settings, "ann@example.org")
    assert len(Worker(settings, clock=clock).run_once()) == 3
    assert outbox(settings) == {"ann@example.org": ["Getting started", "Going further", "Mastery"]}
