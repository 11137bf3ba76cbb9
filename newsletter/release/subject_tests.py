"""The pick of a subject test, and when it happens.

- When the run that sends the test groups ends, ``schedule_pick`` turns the
  send's release into a worker's scheduled send due at the test's
  ``decide_at`` (``--pick clicks|opens``); ``store.releases.claim_due`` then
  hands it to exactly one worker, which picks (``pick_due``) and sends the
  rest through the same engine (lease, claim, journal, record). A paused send
  is neither picked nor continued.
- ``--pick manual`` waits for ``newsletter pick SEND B`` (``release.controls.pick``),
  which may also decide any test early. It records the decision with who made
  it and, like ``resume``, sends the rest in this process.

Either way the decision and the release of the held rows are one
transaction that only the first pick makes (``store.subject_tests.decide``):
two workers, or a worker and a person, never pick twice or pick differently.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from newsletter.release.clock import parse_stamp, stamp

if TYPE_CHECKING:
    from newsletter.store.subject_tests import Decision


def decision_for(conn: Any, send_id: int, test: dict[str, Any], *, winner: str | None, by: str,
                 now: datetime) -> Decision:
    """The decision on ``test`` from its counts now: ``winner`` as given (a person's pick) or by the test's
    rule (clicks, opens; a manual test's person is told the clicks' figure)."""
    from newsletter.store import subject_tests as store
    from newsletter.tracking import subject_winner as numbers

    counts = store.variant_counts(conn, send_id)
    results = {v: counts[v] for v in test["variants"]}
    rule = test["pick"] if test["pick"] != "manual" else "clicks"
    chosen = winner or numbers.winner(results, rule)
    return store.Decision(chosen, results, numbers.confidence(results, rule, chosen), by, stamp(now))


def pick_due(conn: Any, send_id: int, *, by: str, now: datetime) -> str:
    """Pick the winner of the send's test by its rule if it is due and undecided; a line saying what happened
    ('' when the send has no test waiting for an automatic pick)."""
    from newsletter.store import subject_tests as store

    test = store.get(conn, send_id)
    if test is None or test["winner"] is not None or test["pick"] == "manual":
        return ""
    if parse_stamp(test["decide_at"]) > now:
        return f"send {send_id}: the subject test is decided at {test['decide_at']}, not yet"
    decision = decision_for(conn, send_id, test, winner=None, by=by, now=now)
    released = store.decide(conn, send_id, decision)
    if released is None:
        return f"send {send_id}: the subject test was decided a moment ago by someone else"
    return (f"send {send_id}: variant {decision.winner} won the subject test on human {test['pick']} "
            f"({describe_confidence(decision.confidence)}); {released} held recipient(s) get it")


def schedule_pick(conn: Any, send_id: int, *, now: str) -> str | None:
    """After a run that ended with the test groups sent: make the send a worker's, due at the pick; return its
    time (``None`` when the send has no test waiting for an automatic pick, or nothing is held)."""
    from newsletter.store import releases
    from newsletter.store import subject_tests as store

    test = store.get(conn, send_id)
    if test is None or test["winner"] is not None or test["pick"] == "manual":
        return None
    if not releases.schedule_for_worker(conn, send_id, run_at=test["decide_at"], now=now):
        return None
    return str(test["decide_at"])


def describe_confidence(confidence: float | None) -> str:
    """'83% sure it is the best' (or '' when none was computed)."""
    return "" if confidence is None else f"{confidence:.0%} sure it is the best"


def with_counts(conn: Any, test: dict[str, Any]) -> dict[str, Any]:
    """``test`` with ``counts``: those the pick was made on, or (undecided) the counts now."""
    from newsletter.store import subject_tests as store

    if test["winner"] is not None:
        return {**test, "counts": test["results"]}
    live = store.variant_counts(conn, test["send_id"])
    return {**test, "counts": {v: live[v] for v in test["variants"]}}


def summary(test: dict[str, Any]) -> list[str]:
    """Lines that show a test (``with_counts``): each variant with its subject, recipients and human
    opens/clicks, then the decision (and its confidence) or when it will be made."""
    counts = test.get("counts") or test["results"]
    lines = [f"Subject test: {test['share']}% of the audience, winner by "
             + ("`newsletter pick`" if test["pick"] == "manual" else f"human {test['pick']}")]
    for variant, subject in test["variants"].items():
        c = counts.get(variant, {})
        mark = " (winner)" if variant == test["winner"] else ""
        lines.append(f"  {variant}{mark}: {subject!r}: {c.get('recipients', 0)} recipient(s), "
                     f"{c.get('accepted', 0)} accepted, {c.get('opens', 0)} human open(s), "
                     f"{c.get('clicks', 0)} human click(s)")
    if test["winner"] is not None:
        lines.append(f"  Decided: {test['winner']} by {test['decided_by'] or 'a worker'} at {test['decided_at']}"
                     + (f", {describe_confidence(test['confidence'])}" if test["confidence"] is not None else ""))
    elif test.get("cancelled"):
        lines.append("  Cancelled before the pick: the rest of the audience gets nothing")
    elif test["pick"] == "manual":
        lines.append("  Waiting for `newsletter pick SEND VARIANT`")
    else:
        lines.append(f"  Decided at {test['decide_at']} by a `newsletter worker` (ties go to A)")
    return lines
