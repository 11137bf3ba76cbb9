"""The harness's sequence pauses (issue 24): schedules pause and resume, and the pause check catches a step
received while paused that was not in flight at the pause."""

from __future__ import annotations

from collections import Counter

from tests.delivery.harness.sequence_invariants import check_sequences
from tests.delivery.harness.sequence_schedule import SequenceSchedule, make_sequence_schedule
from tests.delivery.harness.sequence_world import PauseSeen, SequenceRecord


def test_most_schedules_pause_and_every_pause_is_resumed_before_the_last_worker():
    schedules = [make_sequence_schedule(seed) for seed in range(200)]
    assert make_sequence_schedule(7) == make_sequence_schedule(7)
    during = sum(any(e.pause for e in s.events) for s in schedules)
    between = sum(any(e.kind == "pause" for e in s.events) for s in schedules)
    assert during > 30 and between > 30
    assert sum(any(e.pause == "onboarding" or e.who == ("onboarding",) for e in s.events) for s in schedules) > 30
    for s in schedules:
        kinds = [e.kind for e in s.events]
        paused = [i for i, e in enumerate(s.events) if e.pause or e.kind == "pause"]
        resumed = [i for i, k in enumerate(kinds) if k == "resume"]
        assert len(paused) == len(resumed) <= 1
        assert all(p < r < len(kinds) - 1 for p, r in zip(paused, resumed, strict=True)), s.describe()
        assert kinds[-1] == "workers"


def test_the_pause_check_allows_what_was_in_flight_once_and_nothing_else():
    schedule = SequenceSchedule(1, ("a@example.org", "b@example.org"), {"a@example.org": "pro", "b@example.org": "pro"},
                                (), (), 1, ())

    def record(at_resume: Counter) -> SequenceRecord:
        made = SequenceRecord(schedule, {"welcome": ["w"]})
        made.received = {"w": at_resume}
        made.rows = {"w": {e: ("accepted", "") for e in at_resume}}
        made.pauses = [PauseSeen("welcome", 2, True, {("w", "a@example.org")}, {"w": Counter()},
                                 {"w": at_resume}, resumed=4)]
        return made

    assert check_sequences(record(Counter({"a@example.org": 1}))) == []
    late = check_sequences(record(Counter({"a@example.org": 1, "b@example.org": 1})))
    assert ["b@example.org received w 1 time(s) while sequence welcome was paused (events 2-4), not in flight at "
            "the pause"] == [p for p in late if "paused" in p]
    never = record(Counter({"a@example.org": 1}))
    never.pauses[0].resumed = 0
    assert "sequence welcome paused at event 2 was never resumed" in check_sequences(never)
