"""Subject tests end to end: ``send --subject-b --test --wait --pick``, the worker's pick on a fake clock,
``newsletter pick``, what ``sends`` shows, and the refusals. Each member gets exactly one variant."""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from datetime import UTC, datetime, timedelta

from newsletter.release.worker import Worker
from tests.delivery.fakes import rows

A, B = "Test issue", "Another subject"


def _outbox(tmp_path, send_id: int = 1) -> dict[str, list[str]]:
    """Subjects received per address in the outbox."""
    found: dict[str, list[str]] = {}
    for path in sorted((tmp_path / "outbox" / str(send_id)).glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found.setdefault(str(msg["To"].addresses[0].addr_spec), []).append(str(msg["Subject"]))
    return found


def _ledger(database: str) -> dict[str, tuple[str, str]]:
    return {r[0]: (r[1], r[2]) for r in rows(database, "SELECT s.email, d.state, d.variant FROM deliveries d"
                                              " JOIN subscribers s ON s.id = d.subscriber_id WHERE d.send_id = 1")}


def _human_click(database: str, address: str) -> None:
    from newsletter.store import connect, transaction

    conn = connect(database)
    with transaction(conn):
        conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, occurred_at, attempt, verdict)"
                     " SELECT 'test', 'click', 1, id, '2026-01-01T00:00:00Z', 1, 'human' FROM subscribers WHERE email = ?",
                     (address,))
    conn.close()


def test_the_test_groups_go_out_then_the_worker_picks_on_human_clicks_and_sends_the_rest(cli, settings, issue,
                                                                                          make_list, tmp_path):
    make_list("news", 20)
    run = cli(settings, "send", issue, "--list", "news", "--subject-b", B, "--test", "50%", "--wait", "2h", "--yes")
    assert run.exit_code == 0, run.output
    assert "Test:       10 drawn at random (50%)" in run.stdout and "Send 1 (testing)" in run.stdout
    sent = _outbox(tmp_path)
    assert len(sent) == 10 and Counter(s for subjects in sent.values() for s in subjects) == {A: 5, B: 5}
    ledger = _ledger(settings.newsletter_database)
    for address, (subject,) in sent.items():  # the message carries the variant fixed in the ledger
        assert ledger[address] == ("accepted", "A" if subject == A else "B")
    assert sum(1 for state, _ in ledger.values() if state == "held") == 10

    listing = cli(settings, "sends", "1").stdout
    assert "testing" in listing and f"B: '{B}': 5 recipient(s), 5 accepted" in listing and "Decided at" in listing

    run = cli(settings, "send", issue, "--list", "news", "--yes")  # the rest waits for the pick, not for a re-run
    assert run.exit_code == 1 and "waits for its subject test's pick" in run.stderr and "newsletter pick 1" in run.stderr
    assert len(_outbox(tmp_path)) == 10

    now = datetime.now(UTC)
    assert Worker(settings, clock=lambda: now).run_once() == []  # not due yet: nothing picked, nothing sent
    assert len(_outbox(tmp_path)) == 10
    clicker = next(a for a, (s,) in sent.items() if s == B)
    _human_click(settings.newsletter_database, clicker)
    started = Worker(settings, clock=lambda: now + timedelta(hours=3)).run_once()
    assert [(s.send_id, s.state) for s in started] == [(1, "done")]
    received = _outbox(tmp_path)
    assert len(received) == 20 and all(len(subjects) == 1 for subjects in received.values())  # one each
    rest = {a: s for a, s in received.items() if a not in sent}
    assert set(s for (s,) in rest.values()) == {B}  # the remainder only gets the winner
    assert Worker(settings, clock=lambda: now + timedelta(hours=5)).run_once() == []  # never picked twice

    listing = cli(settings, "sends", "1").stdout
    assert "done" in listing and "B (winner)" in listing and "Decided: B by worker" in listing
    assert "sure it is the best" in listing
    as_json = cli(settings, "sends", "1", "--json").stdout
    assert '"winner": "B"' in as_json


def test_a_manual_test_waits_for_pick_which_records_who_and_sends_the_rest(cli, settings, issue, make_list, tmp_path):
    make_list("news", 9)
    run = cli(settings, "send", issue, "--list", "news", "--subject-b", B, "--subject-c", "Third", "--test", "34%",
              "--pick", "manual", "--yes")
    assert run.exit_code == 0, run.output
    assert len(_outbox(tmp_path)) == 3
    later = datetime.now(UTC) + timedelta(days=3)
    assert Worker(settings, clock=lambda: later).run_once() == []  # a manual test is never picked by a worker
    assert "Waiting for `newsletter pick SEND VARIANT`" in cli(settings, "sends", "1").stdout

    for args, status, words in [(("pick", "1", "D"), 2, "no variant 'D'"), (("pick", "7", "A"), 2, "no such send")]:
        run = cli(settings, *args)
        assert run.exit_code == status and words in run.stderr.strip().splitlines()[-1], run.output
    run = cli(settings, "pick", "1", "c")  # no terminal to confirm on: nothing decided
    assert run.exit_code == 2 and "pass --yes" in run.stderr
    assert "Waiting for `newsletter pick SEND VARIANT`" in cli(settings, "sends", "1").stdout
    run = cli(settings, "pick", "1", "c", "--yes", "--as", "Ada <ada@example.org>")
    assert run.exit_code == 0, run.output
    assert "Picked variant C for send 1: 6 held recipient(s) get it." in run.stdout
    received = _outbox(tmp_path)
    assert len(received) == 9 and all(len(s) == 1 for s in received.values())
    assert Counter(s for (s,) in received.values())["Third"] == 7  # its own test member and the six held
    run = cli(settings, "pick", "1", "A", "--yes")
    assert run.exit_code == 1 and "decided already: C by Ada <ada@example.org>" in run.stderr
    assert len(_outbox(tmp_path)) == 9


def test_bad_subject_test_options_are_one_line_and_write_nothing(cli, settings, issue, make_list):
    make_list("news", 3)
    cases = [
        (("--test", "20%"), "--subject-b"),
        (("--subject-b", B), "--test 20%"),
        (("--subject-b", B, "--test", "0%"), "from 1% to 100%"),
        (("--subject-b", B, "--test", "120%"), "from 1% to 100%"),
        (("--subject-b", B, "--test", "some"), "whole percent"),
        (("--subject-b", B, "--test", "20%", "--wait", "soon"), "--wait"),
        (("--subject-b", B, "--test", "20%", "--pick", "likes"), "clicks, opens, manual"),
        (("--subject-b", "Two\r\nlines", "--test", "20%"), "carriage return"),
        (("--subject-b", A, "--test", "20%"), "same subject as variant A"),
        (("--subject-b", B, "--test", "20%", "--at", "2099-01-01 08:00"), "not --at"),
    ]
    for extra, words in cases:
        run = cli(settings, "send", issue, "--list", "news", "--yes", *extra)
        last = run.stderr.strip().splitlines()[-1]
        assert run.exit_code == 2 and last.startswith("Error: ") and words in last, (extra, run.output)
    assert rows(settings.newsletter_database, "SELECT COUNT(*) FROM sends") == [(0,)]
    assert cli(settings, "send", issue, "--list", "news", "--yes").exit_code == 0
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--subject-b", B, "--test", "20%")
    assert run.exit_code == 2 and "has started already" in run.stderr
    run = cli(settings, "pick", "1", "B")
    assert run.exit_code == 2 and "no subject test" in run.stderr


def test_cancelling_the_pick_keeps_the_rest_from_ever_getting_a_copy(cli, settings, issue, make_list, tmp_path):
    make_list("news", 8)
    assert cli(settings, "send", issue, "--list", "news", "--subject-b", B, "--test", "50%", "--yes").exit_code == 0
    run = cli(settings, "cancel", "1")
    assert run.exit_code == 0 and "nothing more is sent" in run.stdout
    run = cli(settings, "pick", "1", "B", "--yes")
    assert run.exit_code == 1 and "cancelled" in run.stderr
    assert Worker(settings, clock=lambda: datetime.now(UTC) + timedelta(days=1)).run_once() == []
    assert len(_outbox(tmp_path)) == 4
    listing = cli(settings, "sends").stdout
    assert "\tcancelled " in listing and "Cancelled before the pick" in listing


def test_a_long_variant_subject_or_an_unknown_placeholder_warns_like_the_issue_s_own(cli, settings, issue, make_list):
    make_list("news", 3)
    run = cli(settings, "send", issue, "--list", "news", "--dry-run", "--subject-b", "x" * 90, "--subject-c",
              "Hi %%nickname%%", "--test", "50%")
    assert run.exit_code == 0, run.output
    assert "--subject-b: subject is 90 characters" in run.stderr
    assert "--subject-c: %%nickname%% in the subject is not a recipient field" in run.stderr
    assert "Test:       3 drawn at random (50%)" in run.stdout  # at least one member per variant


def test_an_early_pick_decides_before_the_wait_and_the_worker_then_has_nothing_to_do(cli, settings, issue, make_list,
                                                                                     tmp_path):
    make_list("news", 10)
    assert cli(settings, "send", issue, "--list", "news", "--subject-b", B, "--test", "40%", "--wait", "1d",
               "--yes").exit_code == 0
    assert "testing" in cli(settings, "sends").stdout.splitlines()[1]  # with the time of the pick beside it
    run = cli(settings, "pick", "1", "A", "--yes")
    assert run.exit_code == 0 and "Picked variant A for send 1: 6 held recipient(s) get it." in run.stdout
    assert Worker(settings, clock=lambda: datetime.now(UTC) + timedelta(days=2)).run_once() == []
    received = _outbox(tmp_path)
    assert len(received) == 10 and Counter(s for (s,) in received.values()) == {A: 8, B: 2}
