"""The fault-injection harness (issue 8, "Prove it"): random schedules of provider answers
and process events over the real CLI and engine, every promise checked after each.

``make test`` plays a bounded number of schedules from a fixed seed;
``make harness`` plays thousands (``HARNESS_SCHEDULES``, ``HARNESS_SEED``) and
prints how many held. A failing schedule prints its seed and how to replay it.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace

import pytest

from tests.delivery.harness.runner import play_many

#: What ``make test`` plays (about 70 s on two cores).
DEFAULT_SCHEDULES = 60
DEFAULT_SEED = 20261125


def schedules_wanted() -> tuple[int, int]:
    """``(count, first seed)`` from HARNESS_SCHEDULES / HARNESS_SEED (an empty seed: a random one)."""
    count = int(os.environ.get("HARNESS_SCHEDULES") or DEFAULT_SCHEDULES)
    seed = os.environ.get("HARNESS_SEED", str(DEFAULT_SEED))
    return count, int(seed) if seed.strip() else random.SystemRandom().randrange(1_000_000_000)


@pytest.mark.timeout(0)  # bounded by the number of schedules; each wait inside has its own deadline
def test_random_schedules_hold(harness_servers, tmp_path, capsys):
    from tests.delivery.harness.world import World

    count, first = schedules_wanted()
    long_mode = "HARNESS_SCHEDULES" in os.environ

    def say(line: str) -> None:
        with capsys.disabled():
            print(line, flush=True)

    if long_mode:
        say(f"harness: {count} schedules from seed {first}")
    tally = play_many(World(harness_servers), range(first, first + count), tmp_path,
                      say=say if long_mode else lambda line: None, every=50 if long_mode else 0)
    say(tally.line())
    if long_mode:
        say(tally.coverage())
    assert not tally.failures, "\n\n".join(tally.failures[:5])


#: Sequence schedules ``make test`` plays (issue 24: welcome emails and sequences; a few seconds each).
DEFAULT_SEQUENCE_SCHEDULES = 3


@pytest.mark.timeout(0)  # bounded by the number of schedules; each wait inside has its own deadline
def test_random_sequence_schedules_hold(harness_servers, tmp_path, capsys):
    from tests.delivery.harness.sequence_invariants import play_sequences
    from tests.delivery.harness.sequence_world import SequenceWorld

    count, first = schedules_wanted()
    long_mode = "HARNESS_SCHEDULES" in os.environ
    count = count if long_mode else DEFAULT_SEQUENCE_SCHEDULES
    played, failures, seen = play_sequences(SequenceWorld(harness_servers), range(first, first + count), tmp_path)
    if long_mode:
        with capsys.disabled():
            print(f"harness: {played - len(failures)} of {played} sequence schedules held; reached: "
                  + ", ".join(f"{k} {n}" for k, n in sorted(seen.items())), flush=True)
    assert not failures, "\n\n".join(failures[:5])


# --- the harness itself: schedules cover the brief, checks catch what they must -------------


def test_schedules_are_reproducible_and_cover_every_fault():
    from tests.delivery.harness.schedule import SENDGRID_ANSWERS, Join, Leave, Report, Run, make_schedule

    assert make_schedule(7) == make_schedule(7) and make_schedule(7) != make_schedule(8)
    steps = [step for seed in range(300) for step in make_schedule(seed).steps]
    runs = [s for s in steps if isinstance(s, Run)]
    answers = {a for r in runs for a in r.sendgrid_answers}
    assert answers == {a for a, _ in SENDGRID_ANSWERS}
    smtp_replies = {reply[0] for r in runs for _, replies in (*r.rcpt_refusals, *r.data_refusals) for reply in replies}
    assert smtp_replies == {"4", "5"}
    assert {(r.process.kind, r.process.phase) for r in runs if r.process.kind != "inline"} >= {
        ("kill", "lost"), ("kill", "taken"), ("kill", "answered"), ("term", "taken"), ("concurrent", "lost"),
        ("concurrent", "taken")}
    assert {f for r in runs for f in r.flags} == {"--resend-in-doubt", "--skip-in-doubt", "--retry-failed",
                                                  "--include-new"}
    assert {r.backend for r in runs} == {"sendgrid", "smtp"}
    assert {r.concurrency for r in runs if r.backend == "sendgrid"} == {1, 2, 4}
    assert {r.concurrency for r in runs if r.backend == "smtp"} == {1}
    paused = [r for r in runs if r.pause is not None]
    assert paused and {r.process.kind for r in paused} == {"inline", "kill", "term"}
    for seed in range(300):  # a send paused by its last run is resumed by one more
        last = [s for s in make_schedule(seed).steps if isinstance(s, Run)][-1]
        assert last.pause is None
    assert any(r.leave for r in runs) and any(isinstance(s, Leave) for s in steps)
    assert any(r.join for r in runs) and any(isinstance(s, Join) for s in steps)
    assert any(isinstance(s, Report) and s.bounces for s in steps)
    # Issue 20: unsubscribes before a scheduled SendGrid send's time; a second run with a clock two minutes
    # ahead; a stopped run of this host whose lease ran out.
    from tests.delivery.harness.schedule import Scheduled

    scheduled = [s for s in steps if isinstance(s, Scheduled)]
    assert scheduled and {s.leave.status for s in scheduled} == {"unsubscribed", "bounced", "complained"}
    assert any(r.process.skewed for r in runs) and any(r.process.kind == "concurrent" and not r.process.skewed
                                                       for r in runs)
    assert any(r.process.same_host for r in runs) and any(r.process.kind == "freeze" and not r.process.same_host
                                                          for r in runs)
    assert all(not r.process.skewed or r.process.kind == "concurrent" for r in runs)
    assert all(not r.process.same_host or r.process.kind == "freeze" for r in runs)


def _record(received: dict[str, int], states: dict[str, str], summary: str, exit_code: int = 3, **run_fields):
    """A hand-made record of one inline SendGrid run that created the send (to test the checks)."""
    from collections import Counter

    from tests.delivery.harness.record import Ledger, Record, RunRecord
    from tests.delivery.harness.schedule import Run, Schedule
    from tests.delivery.harness.servers import Output

    after = Ledger(1, {e: (s, None) for e, s in states.items()})
    listing = {"status": after.status(), "recipients": len(states), **after.counts()}
    fields = dict(step=0, run=Run("sendgrid"), output=Output(exit_code, summary), before=Ledger(), after=after,
                  listing=listing, grants=frozenset(), created=True, fired=False)
    fields.update(run_fields)
    record = Record(Schedule(0, tuple(states), 2, 1, (fields["run"],)), [RunRecord(**fields)])
    record.received, record.final = Counter(received), after
    return record


def test_the_checks_catch_a_second_copy_a_silent_loss_and_a_summary_that_disagrees():
    from tests.delivery.harness.invariants import check

    line = ("Send 1 (partial): 2 accepted, 1 failed, 0 in doubt, 0 skipped, 0 suppressed, 0 pending; "
            "this run: 2 accepted")
    states = {"a@example.org": "accepted", "b@example.org": "accepted", "c@example.org": "failed"}
    assert check(_record({"a@example.org": 1, "b@example.org": 1}, states, line)) == []

    problems = check(_record({"a@example.org": 2, "c@example.org": 1}, states, line.replace("1 failed", "0 failed")))
    assert any("a@example.org received 2 copies" in p for p in problems)
    assert any("b@example.org is accepted but never received it" in p for p in problems)
    assert any("c@example.org is failed but received 1" in p for p in problems)
    assert any("summary says partial" in p for p in problems)


def test_a_second_copy_is_allowed_only_after_resend_in_doubt_for_a_recipient_in_doubt():
    from tests.delivery.harness.invariants import check
    from tests.delivery.harness.schedule import Run

    line = "Send 1 (done): 1 accepted, 0 failed, 0 in doubt, 0 skipped, 0 suppressed, 0 pending; this run: 1 accepted"
    states, received = {"a@example.org": "accepted"}, {"a@example.org": 2}
    assert any("received 2 copies" in p for p in check(_record(received, states, line, exit_code=0)))
    resent = Run("sendgrid", ("--resend-in-doubt",))
    assert check(_record(received, states, line, exit_code=0, run=resent, grants=frozenset(states))) == []


def test_the_checks_catch_a_copy_sent_after_the_member_left():
    from tests.delivery.harness.invariants import check
    from tests.delivery.harness.record import LeaveRecord

    line = "Send 1 (done): 1 accepted, 0 failed, 0 in doubt, 0 skipped, 1 suppressed, 0 pending; this run: 1 accepted"
    states = {"a@example.org": "accepted", "b@example.org": "suppressed"}
    record = _record({"a@example.org": 1, "b@example.org": 1}, states, line, exit_code=0)
    record.leaves.append(LeaveRecord("b@example.org", "unsubscribed", 0, "queued", 0))
    problems = check(record)
    assert any("b@example.org left (unsubscribed) with the row queued, then received 1 more" in p for p in problems)


def test_the_checks_catch_a_copy_made_for_someone_else():
    from tests.delivery.harness.invariants import check
    from tests.delivery.harness.servers import Copy

    line = "Send 1 (done): 1 accepted, 0 failed, 0 in doubt, 0 skipped, 0 suppressed, 0 pending; this run: 1 accepted"
    record = _record({"a@example.org": 1}, {"a@example.org": "accepted"}, line, exit_code=0)
    record.people = {"a@example.org": (1, "Ann"), "b@example.org": (2, "Bob")}
    record.copies = [Copy("a@example.org", "a@example.org", "Ann", 1)]
    assert check(record) == []
    record.copies = [Copy("a@example.org", "b@example.org", "Bob", 2)]
    assert any("a@example.org (id 1, 'Ann') received a copy made for b@example.org" in p for p in check(record))


def _paused_record(after_batches: dict[str, int], concurrency: int, stderr: str):
    """A hand-made record of a SendGrid run paused while batch 1 was in flight (to test promise 9)."""
    from tests.delivery.harness.record import Ledger, PauseRecord
    from tests.delivery.harness.schedule import Pause, Run
    from tests.delivery.harness.servers import Output

    states = {e: "accepted" if b else "queued" for e, b in after_batches.items()}
    line = ", ".join(f"{n} {k}" for k, n in (("accepted", sum(v == "accepted" for v in states.values())),
                                              ("failed", 0), ("in doubt", 0), ("skipped", 0), ("suppressed", 0),
                                              ("pending", sum(v == "queued" for v in states.values()))))
    run = Run("sendgrid", concurrency=concurrency, pause=Pause(1))
    record = _record({e: 1 for e, s in states.items() if s == "accepted"}, states, "", run=run,
                     output=Output(3, "", stderr.format(line=line)), paused_after=True)
    after = Ledger(1, {e: (s, None) for e, s in states.items()}, after_batches)
    record.runs[0].after = record.final = after
    record.runs[0].listing["status"] = "paused"
    at_pause = Ledger(1, {e: ("sending" if b == 1 else "queued", None) for e, b in after_batches.items()},
                      {e: 1 for e, b in after_batches.items() if b == 1})
    record.runs[0].pause = PauseRecord(True, Output(0, "Pausing send 1: it stops after the batches in flight."),
                                       at_pause, 0)
    return record


def test_the_checks_catch_a_batch_claimed_after_the_pause():
    from tests.delivery.harness.invariants import check

    said = "Send 1 paused: {line}; `newsletter resume 1` continues it."
    batches = {"a@example.org": 1, "b@example.org": 1, "c@example.org": 0}
    assert check(_paused_record(batches, 1, said)) == []
    later = {**batches, "c@example.org": 2}
    assert check(_paused_record(later, 2, said)) == []  # the batch being claimed as the pause came
    assert any("still claimed batches [2]" in p for p in check(_paused_record(later, 1, said)))
    two_more = {**later, "d@example.org": 3}
    assert any("still claimed batches [2, 3]" in p for p in check(_paused_record(two_more, 4, said)))
    quiet = check(_paused_record(batches, 1, "Stopped.\n"))
    assert any("paused during the run, it ended without saying so" in p for p in quiet)


def test_the_checks_catch_a_send_that_goes_out_while_paused():
    from tests.delivery.harness.invariants import check
    from tests.delivery.harness.record import Blocked
    from tests.delivery.harness.servers import Output

    said = "Send 1 paused: {line}; `newsletter resume 1` continues it."
    record = _paused_record({"a@example.org": 1, "b@example.org": 0}, 1, said)
    paused = record.runs[0]
    paused.received_after = 1
    refused = Output(1, "", "Error: issue.md: send 1 is paused (by ann); `newsletter resume 1` continues it")
    # (the resume that follows is killed: only the refused `send` before it is under test)
    resumed = replace(paused, step=1, pause=None, output=Output(-9), paused_after=False,
                      listing={**paused.listing, "status": "partial"}, blocked=Blocked(refused, (1,), (1,), 1, 1))
    record.runs.append(resumed)
    assert check(record) == []
    resumed.blocked = Blocked(refused, (1,), (1,), 2, 3)
    problems = check(record)
    assert any("`send` while paused wrote or sent something" in p for p in problems)
    assert any("1 copies went out while the send was paused" in p for p in problems)
    resumed.blocked = Blocked(Output(0, "Send 1 (done)"), (1,), (1,), 1, 1)
    assert any("was not refused with exit 1" in p for p in check(record))


def test_the_checks_catch_more_requests_in_flight_than_the_concurrency_allows():
    from tests.delivery.harness.invariants import check
    from tests.delivery.harness.schedule import Run

    line = "Send 1 (done): 1 accepted, 0 failed, 0 in doubt, 0 skipped, 0 suppressed, 0 pending; this run: 1 accepted"
    states, received = {"a@example.org": "accepted"}, {"a@example.org": 1}
    two = Run("sendgrid", concurrency=2)
    assert check(_record(received, states, line, exit_code=0, run=two, most_in_flight=3, leftover_in_flight=1)) == []
    problems = check(_record(received, states, line, exit_code=0, run=two, most_in_flight=3))
    assert any("3 SendGrid requests in flight at once (NEWSLETTER_CONCURRENCY=2)" in p for p in problems)


def test_the_checks_catch_a_scheduled_send_that_reaches_someone_who_left_before_its_time():
    from tests.delivery.harness.invariants import check
    from tests.delivery.harness.record import LeaveRecord, ScheduledRecord

    line = "Send 1 (done): 1 accepted, 0 failed, 0 in doubt, 0 skipped, 1 suppressed, 0 pending; this run: 1 accepted"
    states = {"a@example.org": "accepted", "b@example.org": "suppressed"}
    record = _record({"a@example.org": 1}, states, line, exit_code=0)
    after = record.final
    listing = {"status": after.status(), "recipients": 2, **after.counts()}
    record.scheduled.append(ScheduledRecord(0, "worker", [("done", "")], 0, 0, after, listing))
    record.leaves.append(LeaveRecord("b@example.org", "complained", 0, "queued", 0))
    assert check(record) == []
    # Handed to SendGrid with send_at when it was scheduled: SendGrid sent it to her at the time.
    record.scheduled[0] = ScheduledRecord(0, "sendgrid", [], 2, 0, after, listing)
    record.received["b@example.org"] = 1
    problems = check(record)
    assert any("handed over ahead of the time" in p for p in problems)
    assert any("b@example.org left (complained) with the row queued, then received 1 more" in p for p in problems)


def test_the_sequence_checks_catch_a_second_step_a_step_after_leaving_and_a_missing_step():
    from collections import Counter

    from tests.delivery.harness.sequence_invariants import NOT_MATCHED, check_sequences
    from tests.delivery.harness.sequence_schedule import SequenceSchedule, SequenceStep
    from tests.delivery.harness.sequence_world import LeaveSeen, SequenceRecord

    schedule = SequenceSchedule(1, ("a@example.org", "b@example.org"), {"a@example.org": "pro", "b@example.org": "free"},
                                (SequenceStep(False), SequenceStep(True, "plan=pro")), (), 1, ())

    def record(received: dict[str, Counter], rows: dict[str, dict]) -> SequenceRecord:
        made = SequenceRecord(schedule, {"welcome": ["w"], "onboarding": ["one", "two"]}, {"one": "", "two": "plan=pro"})
        made.joined, made.received, made.rows = list(schedule.members), received, rows
        return made

    everyone = Counter({"a@example.org": 1, "b@example.org": 1})
    good_rows = {"w": {"a@example.org": ("accepted", ""), "b@example.org": ("accepted", "")},
                 "one": {"a@example.org": ("accepted", ""), "b@example.org": ("accepted", "")},
                 "two": {"a@example.org": ("accepted", ""), "b@example.org": ("suppressed", NOT_MATCHED)}}
    good = {"w": everyone, "one": everyone, "two": Counter({"a@example.org": 1})}
    assert check_sequences(record(good, good_rows)) == []
    twice = record({**good, "one": Counter({"a@example.org": 2, "b@example.org": 1})}, good_rows)
    assert any("a@example.org received one 2 times" in p for p in check_sequences(twice))
    missing = record(good, {**good_rows, "two": {"b@example.org": ("suppressed", NOT_MATCHED)}})
    assert any("a@example.org is on the list and enrolled, yet has no row" in p for p in check_sequences(missing))
    wrong = record(good, {**good_rows, "two": {**good_rows["two"], "b@example.org": ("accepted", "")}})
    assert any("does not match two's condition" in p for p in check_sequences(wrong))
    after_leaving = record(good, good_rows)
    after_leaving.leaves = [LeaveSeen("a@example.org", 2, {"w": "accepted", "one": "accepted", "two": "queued"},
                                      {"w": 1, "one": 1, "two": 0})]
    assert any("a@example.org left at event 2 with the row of two queued, then received 1 more" in p
               for p in check_sequences(after_leaving))
def _play_kind(world, play, coverage, tmp_path, capsys, *, env: str, default: int, kind: str) -> None:
    """Play ``os.environ[env]`` (else ``default``) schedules of one kind from the harness seed; print how many
    held (and, in long mode, what they reached); fail with the first reports."""
    from collections import Counter

    count = int(os.environ.get(env) or default)
    _, first = schedules_wanted()
    failures: list[str] = []
    seen = Counter[str]()
    for seed in range(first, first + count):
        report, record = play(world, seed, tmp_path / f"{kind}-{seed}")
        failures.extend(["\n".join(report)] if report else [])
        seen.update(coverage(record) if record is not None else {})
    with capsys.disabled():
        print(f"harness: {count - len(failures)} of {count} {kind} schedules held", flush=True)
        if env in os.environ:
            print("harness reached: " + ", ".join(f"{k} {n}" for k, n in sorted(seen.items())), flush=True)
    assert not failures, "\n\n".join(failures[:3])


@pytest.mark.timeout(0)
def test_random_subject_test_schedules_hold(harness_servers, tmp_path, capsys):
    """Subject tests (issue 24) under the same faults: each member gets exactly one variant, the one the ledger
    fixed; the rest only the winner; one pick; nobody who left gets one. ``HARNESS_SUBJECTS`` schedules."""
    from tests.delivery.harness.subject_world import SubjectWorld, coverage, play_subject

    _play_kind(SubjectWorld(harness_servers), play_subject, coverage, tmp_path, capsys,
               env="HARNESS_SUBJECTS", default=3, kind="subject-test")


def test_the_subject_checks_catch_a_second_variant_a_wrong_one_and_a_loser_sent_to_the_rest():
    from tests.delivery.harness.record import Record
    from tests.delivery.harness.schedule import Schedule
    from tests.delivery.harness.subject_invariants import check_subject_test
    from tests.delivery.harness.subject_world import PickRecord, SubjectRecord

    a, b = "Harness issue 5", "Harness issue 5 B"
    decided = {"winner": "B", "results": '{"A": {"clicks": 0}, "B": {"clicks": 0}}', "confidence": 0.5,
               "decided_by": "someone"}
    record = SubjectRecord(Record(Schedule(5, ("x@example.org", "y@example.org", "z@example.org"), 2, 1, ())),
                           rule="manual", test=decided,
                           rows={"x@example.org": ("accepted", "A"), "y@example.org": ("accepted", "B"),
                                 "z@example.org": ("accepted", "A")},
                           subjects={"x@example.org": [a, b], "y@example.org": [a], "z@example.org": [a]},
                           picks=[PickRecord(3, {"z@example.org"}, "pick")])
    problems = "\n".join(check_subject_test(record))
    assert "x@example.org received 2 copies" in problems  # never two variants
    assert "y@example.org received ['Harness issue 5'] but the ledger says variant 'B'" in problems
    assert "z@example.org was held at the pick but ends accepted with variant 'A', not the winner B" in problems


@pytest.mark.timeout(0)
def test_random_resend_schedules_hold(harness_servers, tmp_path, capsys):
    """Resends to the non-readers (issue 24) under the same faults: each non-reader gets the resend at most once,
    nobody who read or was not handed the first send gets it, nobody who left, the audience stays as it was when
    the resend started, and running it again sends nothing. ``HARNESS_RESENDS`` schedules."""
    from tests.delivery.harness.resend_world import ResendWorld, coverage, play_resend

    _play_kind(ResendWorld(harness_servers), play_resend, coverage, tmp_path, capsys,
               env="HARNESS_RESENDS", default=2, kind="resend")


def _resend_record():
    """A hand-made resend schedule that held: a, b, c were handed send 1; a clicked (unknown: a read), b's open
    is unknown (not a read), c read after the resend started; the resend reached b and c once."""
    from tests.delivery.harness.resend_world import AgainRecord, ReadSeen, ResendRecord
    from tests.delivery.harness.servers import Output

    done = "Send 1 (done): {n} accepted, 0 failed, 0 in doubt, 0 skipped, 0 suppressed, 0 pending; this run: {n} accepted"
    first = {"a@example.org": "accepted", "b@example.org": "accepted", "c@example.org": "accepted"}
    base = _record(dict.fromkeys(first, 1), first, done.format(n=3), exit_code=0)
    resent = {"b@example.org": "accepted", "c@example.org": "accepted"}
    resend = _record(dict.fromkeys(resent, 1), resent, done.format(n=2), exit_code=0)
    reads = [ReadSeen("a@example.org", "click", "unknown", 2, False), ReadSeen("b@example.org", "open", "unknown", 2,
                                                                               False),
             ReadSeen("c@example.org", "click", "human", 5, True)]
    same = (resend.final, resend.final)
    again = AgainRecord(Output(0, done.format(n=2)), same, (2, 2), Output(2, "", "Error: --to-non-readers-of: ..."),
                        ((1, ()), (1, ())), (2, 2))
    return ResendRecord(base, resend, source=1, first_accepted=set(first), reads=reads, expected=set(resent),
                        again=again)


def test_the_resend_checks_catch_a_reader_a_stranger_a_second_copy_a_repeat_and_an_overlap():
    from collections import Counter

    from tests.delivery.harness.resend_invariants import check_resend
    from tests.delivery.harness.servers import Output

    assert check_resend(_resend_record()) == []

    record = _resend_record()
    record.resend.received = Counter({"a@example.org": 1, "b@example.org": 2, "c@example.org": 1, "d@example.org": 1})
    problems = "\n".join(check_resend(record))
    assert "a@example.org read the first send before the resend started, yet received the resend" in problems
    assert "d@example.org was not handed the first send, yet received the resend" in problems
    assert "b@example.org received 2 copies (allowed 1" in problems

    record = _resend_record()
    record.reads[1] = record.reads[1].__class__("b@example.org", "open", "human", 2, False)  # b did read
    assert "b@example.org read the first send before the resend started, yet has a row in it" in "\n".join(
        check_resend(record))

    record = _resend_record()  # c's read came after the resend started: it must not take c out
    record.resend.final = replace(record.resend.final, rows={"b@example.org": ("accepted", None)})
    record.resend.received = Counter({"b@example.org": 1})
    assert "resend: audience: missing ['c@example.org']" in "\n".join(check_resend(record))

    record = _resend_record()  # b left with the row queued, then received it
    from tests.delivery.harness.record import LeaveRecord

    record.resend.leaves.append(LeaveRecord("b@example.org", "unsubscribed", 3, "queued", 0))
    assert "b@example.org left (unsubscribed) with the row queued, then received 1 more" in "\n".join(
        check_resend(record))

    record = _resend_record()
    assert record.again is not None
    record.again.again_copies = (2, 3)
    record.again.refused = Output(0, "Send 3 (done)")
    record.again.second = Output(0, "Send 3 (done)")
    record.again.second_rows = {"b@example.org": "accepted"}
    record.again.second_received = Counter({"b@example.org": 1})
    problems = "\n".join(check_resend(record))
    assert "the resend command again, once finished: exit 0, copies 2 -> 3" in problems
    assert "a resend of the resend was not refused with exit 2" in problems
    assert "b@example.org is in both resends" in problems and "b@example.org received both resends" in problems


def test_resend_schedules_are_reproducible_and_reach_what_the_brief_asks():
    from tests.delivery.harness.resend_schedule import (
        Again,
        Finish,
        Reads,
        ResendWorkers,
        ScheduleResend,
        SecondResend,
        make_resend_schedule,
    )
    from tests.delivery.harness.schedule import Leave, Run

    assert make_resend_schedule(7) == make_resend_schedule(7) and make_resend_schedule(7) != make_resend_schedule(8)
    schedules = [make_resend_schedule(seed) for seed in range(200)]
    resend_steps = [step for s in schedules for step in s.steps[s.resend_from:]]
    runs = [r for r in resend_steps if isinstance(r, Run)]
    assert all("--include-new" not in r.flags for r in runs)  # a resend refuses it
    assert {r.process.kind for r in runs} >= {"kill", "term", "concurrent", "freeze"}
    assert any(r.pause for r in runs) and any(r.leave for r in runs) and {r.backend for r in runs} == {"sendgrid", "smtp"}
    assert any(isinstance(s, ScheduleResend) for s in resend_steps)
    assert {w.workers for w in resend_steps if isinstance(w, ResendWorkers)} == {1, 2, 3}
    assert any(isinstance(s, Reads) for s in resend_steps) and any(isinstance(s, Leave) for s in resend_steps)
    for s in schedules:  # the first send is finished before the resend; the resend too before `Again`
        assert isinstance(s.steps[s.resend_from - 1], (Finish, Reads, Leave))
        assert isinstance(s.steps[-2], Finish) and isinstance(s.steps[-1], Again)
    assert any(isinstance(s.steps[-1], Again) and s.steps[-1].second for s in schedules)
    assert any(isinstance(s, SecondResend) for s in resend_steps)  # while the first is under way
    starting = [next(r for r in s.steps[s.resend_from:] if isinstance(r, (Run, ResendWorkers))) for s in schedules]
    assert {r.process.kind for r in starting if isinstance(r, Run)} >= {"kill", "term", "concurrent", "freeze"}
