"""Sequence steps under approvals (``NEWSLETTER_REQUIRED_APPROVALS``): each step's email is approved per build
with ``approve --sequence``; the worker holds a step back until its build is approved, then sends it once."""

from __future__ import annotations

import json

import pytest

from newsletter.audience.members import add_subscriber
from newsletter.release import sequences
from newsletter.release.approvals import approvals_path
from newsletter.release.worker import Worker
from tests.release.sequence_helpers import outbox, store_clock, write_issue


@pytest.fixture
def clock():
    return store_clock()


@pytest.fixture
def gated(settings):
    return settings.with_overrides(newsletter_required_approvals=1)


def join(settings, *emails: str, plan: str = "pro") -> None:
    from tests.release.helpers import add_people

    for email in emails:
        add_subscriber(email, "news", settings, welcome=True)
    add_people(settings.newsletter_database, "news", {e: {"plan": plan} for e in emails})


def approve(cli, config, issue: str, who: str, *extra: str, sequence: str = "welcome"):
    return cli(config, "approve", issue, "--list", "news", "--sequence", sequence, "--as", who, *extra)


def rows(settings, sql: str) -> list[tuple]:
    from newsletter.store import connect

    conn = connect(settings.newsletter_database)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def test_a_step_not_approved_is_not_sent_and_says_so_once(gated, repo, clock, tmp_path, cli):
    attached = cli(gated, "lists", "set", "news", "--welcome", "issues/welcome.md")
    assert attached.exit_code == 0, attached.output
    assert "newsletter approve issues/welcome.md --list news --sequence welcome" in attached.stdout
    join(gated, "ann@example.org")
    logged: list[str] = []
    worker = Worker(gated, clock=clock, log=logged.append)
    assert worker.run_once() == [] and worker.run_once() == []
    assert outbox(gated) == {}
    waits = [line for line in logged if "waits for approval" in line]
    assert len(waits) == 1, logged  # one line per step and build, not one per look
    assert "step 1" in waits[0] and "newsletter approve issues/welcome.md --list news --sequence welcome" in waits[0]
    assert "(list news, sequence welcome), has 0" in waits[0]
    assert rows(gated, "SELECT COUNT(*) FROM deliveries") == [(0,)]  # no ledger row before the approval
    [refused] = rows(gated, "SELECT slug, list_name, detail FROM audit_log WHERE action = 'refuse'")
    assert refused[:2] == ("welcome", "news") and "waits for approval" in refused[2]
    shown = cli(gated, "sequences", "show", "welcome")
    assert "Step 1: waiting for approval (build " in shown.stdout and "1 member(s) due wait for it" in shown.stdout, shown.output
    # Without approvals required nothing changed: it goes out at once.
    Worker(gated.with_overrides(newsletter_required_approvals=0), clock=clock).run_once()
    assert outbox(gated) == {"ann@example.org": ["Welcome aboard"]}


def test_approve_sequence_lets_a_step_go_exactly_once_to_whoever_joins(gated, repo, clock, cli):
    sequences.attach_welcome("news", "issues/welcome.md", gated)
    join(gated, "ann@example.org")
    worker = Worker(gated, clock=clock)
    worker.run_once()
    run = approve(cli, gated, "issues/welcome.md", "Ann <ann@example.org>", "--note", "read it")
    assert run.exit_code == 0, run.output
    assert "(list news, sequence welcome, 1 enrolled now)" in run.stdout
    entry = json.loads(cli(gated, "approvals", "issues/welcome.md", "--json").stdout)[0]
    assert (entry["sequence"], entry["counts"], entry["audience"]) == ("welcome", True, "list news, sequence welcome")
    [started] = worker.run_once()
    assert started.state == "done" and worker.run_once() == []
    log = cli(gated, "sends", started.send_id, "--log").stdout  # why it waited, who approved it, then the send
    assert log.index("refuse") < log.index("approve") and "waits for approval" in log, log
    join(gated, "bob@example.org")  # the sequence grows: the approval of its email still counts
    clock.advance(minutes=1)
    worker.run_once()
    worker.run_once()
    assert outbox(gated) == {"ann@example.org": ["Welcome aboard"], "bob@example.org": ["Welcome aboard"]}
    shown = cli(gated, "sequences", "show", "welcome").stdout
    assert "Step 1: approved (build " in shown and "wait for it" not in shown
    [approved] = rows(gated, "SELECT slug, list_name, actor, detail FROM audit_log WHERE action = 'approve'")
    assert approved[:3] == ("welcome", "news", "Ann <ann@example.org>") and "sequence 'welcome'" in approved[3]


def test_an_edited_email_waits_for_its_own_approval_and_what_was_sent_stands(gated, repo, clock, tmp_path, cli):
    sequences.attach_file("news", repo, gated)
    for issue in ("issues/onboarding-1.md", "issues/onboarding-2.md"):
        assert approve(cli, gated, issue, "ann@example.org", sequence="onboarding").exit_code == 0
    join(gated, "early@example.org")
    logged: list[str] = []
    worker = Worker(gated, clock=clock, log=logged.append)
    clock.advance(hours=1, minutes=1)
    worker.run_once()
    assert outbox(gated) == {"early@example.org": ["Getting started"]}
    write_issue(tmp_path, "onboarding-2", "Going further, edited")  # a new build of step 2's email
    clock.advance(days=3, minutes=1)
    worker.run_once()
    worker.run_once()
    assert outbox(gated) == {"early@example.org": ["Getting started"]}  # step 2 waits; step 1 stood
    waits = [line for line in logged if "waits for approval" in line]
    assert len(waits) == 1 and "step 2" in waits[0] and "differs in subject" in waits[0], logged
    join(gated, "late@example.org")  # step 1's build is unchanged: it still goes out
    clock.advance(hours=1, minutes=1)
    worker.run_once()
    assert outbox(gated)["late@example.org"] == ["Getting started"]
    run = approve(cli, gated, "issues/onboarding-2.md", "ann@example.org", sequence="onboarding")
    assert run.exit_code == 0 and run.stdout.startswith("Approved"), run.output
    clock.advance(days=3, minutes=1)
    worker.run_once()
    worker.run_once()
    assert outbox(gated) == {"early@example.org": ["Getting started", "Going further, edited"],
                             "late@example.org": ["Getting started", "Going further, edited"]}


def test_two_required_approvals_need_two_people(settings, repo, clock, cli):
    gated = settings.with_overrides(newsletter_required_approvals=2)
    sequences.attach_welcome("news", "issues/welcome.md", gated)
    join(gated, "ann@example.org")
    worker = Worker(gated, clock=clock)
    assert approve(cli, gated, "issues/welcome.md", "ann@example.org").exit_code == 0
    again = approve(cli, gated, "issues/welcome.md", "ANN@example.org")
    assert again.stdout.startswith("Already approved")  # the same person (addresses compare case-insensitively)
    worker.run_once()
    assert outbox(gated) == {}
    assert "1 of 2 required approval(s)" in cli(gated, "approvals", "issues/welcome.md").stdout
    assert "Step 1: waiting for approval (build " in cli(gated, "sequences", "show", "welcome").stdout
    assert approve(cli, gated, "issues/welcome.md", "bob@example.org").exit_code == 0
    worker.run_once()
    worker.run_once()
    assert outbox(gated) == {"ann@example.org": ["Welcome aboard"]}


def test_signed_step_approvals_count_as_for_any_send(gated, repo, clock, cli, ssh_keys):
    strict = gated.with_overrides(newsletter_allowed_signers=str(ssh_keys["allowed"]))
    sequences.attach_welcome("news", "issues/welcome.md", strict)
    join(strict, "ann@example.org")
    worker = Worker(strict, clock=clock)
    run = approve(cli, strict, "issues/welcome.md", "bob@example.org", "--sign", "--key", ssh_keys["bob"])
    assert run.exit_code == 0 and "signed" in run.stdout, run.output
    worker.run_once()
    assert outbox(strict) == {}  # bob's key is not in the allowed-signers file
    assert approve(cli, strict, "issues/welcome.md", "ann@example.org", "--sign", "--key", ssh_keys["ann"]).exit_code == 0
    assert "sequence = \"welcome\"" in approvals_path(repo.parent.parent / "issues" / "welcome.md").read_text()
    worker.run_once()
    assert outbox(strict) == {"ann@example.org": ["Welcome aboard"]}


@pytest.mark.parametrize(("extra", "words"), [
    (("--sequence", "nope"), "--sequence nope: list news has no sequence of that name"),
    (("--sequence", "welcome", "--where", "plan=pro"), "--sequence: does not go with --where"),
    (("--sequence", "welcome", "--segment", "pros"), "--sequence: does not go with --segment"),
])
def test_bad_sequence_input_is_one_line_and_exit_2(gated, repo, cli, extra, words):
    sequences.attach_welcome("news", "issues/welcome.md", gated)
    run = cli(gated, "approve", "issues/welcome.md", "--list", "news", "--as", "ann@example.org", *extra)
    assert run.exit_code == 2 and words in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.output
    assert not approvals_path(repo.parent.parent / "issues" / "welcome.md").exists()


def test_an_issue_that_is_no_step_of_the_sequence_is_refused(gated, repo, cli):
    sequences.attach_welcome("news", "issues/welcome.md", gated)
    run = cli(gated, "approve", "issues/onboarding-1.md", "--list", "news", "--sequence", "welcome",
              "--as", "ann@example.org")
    assert run.exit_code == 2 and "is not a step of sequence 'welcome' of list news" in run.stderr, run.output


def test_rows_left_queued_wait_for_the_approval_of_the_email_as_it_is_now(gated, repo, clock, tmp_path, cli):
    from newsletter.store import connect, transaction

    sequences.attach_welcome("news", "issues/welcome.md", gated)
    assert approve(cli, gated, "issues/welcome.md", "ann@example.org").exit_code == 0
    join(gated, "ann@example.org")
    worker = Worker(gated, clock=clock)
    worker.run_once()
    # Bob's row was written under the approved build, and its worker died before sending it.
    join(gated, "bob@example.org")
    conn = connect(gated.newsletter_database)
    with transaction(conn):
        conn.execute("INSERT INTO deliveries (send_id, subscriber_id, state, error, updated_at)"
                     " SELECT d.send_id, s.id, 'queued', '', '2026-01-01T00:00:00Z' FROM deliveries d, subscribers s"
                     " WHERE s.email = 'bob@example.org'")
    conn.close()
    write_issue(tmp_path, "welcome", "Welcome, edited")
    clock.advance(minutes=1)
    worker.run_once()
    assert outbox(gated) == {"ann@example.org": ["Welcome aboard"]}  # the edit is not approved: nothing runs
    assert "1 member(s) due wait for it" in cli(gated, "sequences", "show", "welcome").stdout
    assert approve(cli, gated, "issues/welcome.md", "ann@example.org").exit_code == 0
    worker.run_once()
    worker.run_once()
    assert outbox(gated) == {"ann@example.org": ["Welcome aboard"], "bob@example.org": ["Welcome, edited"]}


def test_an_approval_is_for_one_sequence_of_one_list(gated, repo, clock, cli):
    from newsletter.audience.lists import create_list

    create_list("club", gated)
    sequences.attach_welcome("news", "issues/welcome.md", gated)
    sequences.attach_welcome("club", "issues/welcome.md", gated)
    # An approval of the issue for a plain send to the list does not count for its welcome email either.
    assert cli(gated, "approve", "issues/welcome.md", "--list", "club", "--as", "bob@example.org").exit_code == 0
    assert approve(cli, gated, "issues/welcome.md", "ann@example.org").exit_code == 0  # news' welcome only
    join(gated, "ann@example.org")
    add_subscriber("cy@example.org", "club", gated, welcome=True)
    logged: list[str] = []
    Worker(gated, clock=clock, log=logged.append).run_once()
    assert outbox(gated) == {"ann@example.org": ["Welcome aboard"]}
    [waits] = [line for line in logged if "waits for approval" in line]
    assert "of list club" in waits and "differs in audience" in waits and "--list club --sequence welcome" in waits
    listed = cli(gated, "approvals", "issues/welcome.md").stdout
    # Bob approved a plain send to club before cy joined it: that approval no longer counts (cy is new).
    assert "list club: 0 of 1 required approval(s)" in listed and "list news, sequence welcome: 1 of 1" in listed
