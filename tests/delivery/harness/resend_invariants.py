"""The promises of a resend to the non-readers (README "Resending to people who did not read"), checked after
every resend schedule against what the servers received.

1. The first send keeps every promise of ``invariants.py``, and it finished (nothing pending) before the resend.
2. The resend keeps them too, as a send of its own: its audience is exactly the harness's count of the
   non-readers when it started (accepted in the first send, no human open or click and no unknown click of it,
   on the list), so reads written after it started change nothing; each member of it receives it at most once
   (one more copy only after ``--resend-in-doubt`` of a row in doubt), accepted means received, failed and
   suppressed mean not; nobody who left receives it after leaving; what each run printed agrees with the ledger.
3. Nobody who read the first send before the resend started, and nobody who was not handed it, receives the
   resend (said on its own, whatever the audience check says).
4. Once finished, the resend command again sends and writes nothing; a resend of the resend is refused (exit 2)
   and writes nothing; a second resend of the first send (``--where``), whether the first is finished or
   still under way, reaches nobody the first resend holds (in any state but suppressed: a failed row may still
   be retried), nobody who read, nobody who was not handed the first send, nobody who received the first
   resend, and nobody twice.
5. A resend scheduled with ``--after`` is accepted, and the workers at its time start it, without errors.
"""

from __future__ import annotations

from tests.delivery.harness.invariants import DONE, INCOMPLETE, USAGE, check
from tests.delivery.harness.resend_world import ResendRecord
from tests.delivery.harness.servers import wire


def check_resend(record: ResendRecord) -> list[str]:
    """Every broken promise of ``record``, in words (empty: the schedule held)."""
    problems = [f"first send: {p}" for p in check(record.base)]  # promise 1
    if record.first_pending:
        problems.append(f"the first send still had {record.first_pending} row(s) pending when the resend began")
    problems.extend(record.unfinished)
    resend = record.resend
    if record.expected is None:
        problems.append("the resend never got to start")
        return problems
    problems.extend(f"resend: {p}" for p in check(resend))  # promise 2
    if resend.final.send_id is None and record.expected:
        problems.append(f"the resend was never created, yet {len(record.expected)} non-reader(s) expected it")
    readers = {r.email for r in record.reads if r.is_read and not r.started}
    who = {wire(e): e for e in resend.people}
    for address, copies in sorted(resend.received.items()):  # promise 3
        email = who.get(address, address)
        if email in readers:
            problems.append(f"{email} read the first send before the resend started, yet received the resend")
        if email not in record.first_accepted:
            problems.append(f"{email} was not handed the first send, yet received the resend ({copies} copies)")
    for email in sorted(readers & set(resend.final.rows)):
        problems.append(f"{email} read the first send before the resend started, yet has a row in it")
    if record.scheduled is not None and record.scheduled.exit_code != DONE:  # promise 5
        out = record.scheduled
        problems.append(f"`send --after` exit {out.exit_code}: {(out.stdout + out.stderr).strip()[-300:]}")
    for workers in record.workers:
        problems.extend(f"worker at step {workers.step + 1}: {e}" for e in workers.errors)
        if resend.final.send_id is not None and resend.final.send_id not in {s for s, _ in workers.started}:
            problems.append(f"the {workers.workers} worker(s) at the resend's time did not start it: {workers.started}")
    problems.extend(_again_problems(record))
    return problems


def _again_problems(record: ResendRecord) -> list[str]:
    """Promise 4."""
    again, problems = record.again, []
    if again is None:
        return ["the schedule did not get to run the resend again"]
    said = (again.again.stdout + again.again.stderr + again.again.crash).strip()[-300:]
    if again.again.exit_code not in (DONE, INCOMPLETE) or again.again_ledgers[0] != again.again_ledgers[1] \
            or again.again_copies[0] != again.again_copies[1]:
        problems.append(f"the resend command again, once finished: exit {again.again.exit_code}, copies "
                        f"{again.again_copies[0]} -> {again.again_copies[1]}, ledger "
                        f"{again.again_ledgers[0].counts()} -> {again.again_ledgers[1].counts()}: {said!r}")
    said = (again.refused.stdout + again.refused.stderr + again.refused.crash).strip()[-300:]
    if again.refused.exit_code != USAGE or again.refused_footprints[0] != again.refused_footprints[1] \
            or again.refused_copies[0] != again.refused_copies[1]:
        problems.append(f"a resend of the resend was not refused with exit 2 writing and sending nothing: "
                        f"exit {again.refused.exit_code}: {said!r}")
    if record.second_early is not None:
        out = record.second_early
        held = {e for e, state in record.held_then.items() if state != "suppressed"}
        if out.exit_code not in (DONE, INCOMPLETE):
            problems.append(f"a second resend while the first was under way: exit {out.exit_code}: "
                            f"{(out.stdout + out.stderr + out.crash).strip()[-300:]!r}")
        for email in sorted(held & set(again.second_rows)):
            problems.append(f"{email} was held by the resend ({record.held_then[email]}) when a second resend "
                            "started, yet is in it")
    if again.second is None:
        return problems
    out = again.second
    text = (out.stdout + out.stderr + out.crash).strip()[-300:]
    if out.crash or "Traceback" in text or out.exit_code not in (DONE, INCOMPLETE):
        problems.append(f"the second resend (--where): exit {out.exit_code}: {text!r}")
    first_rows = {e for e in record.resend.final.rows if record.resend.final.state(e) != "suppressed"}
    readers = {r.email for r in record.reads if r.is_read}
    for email in sorted(set(again.second_rows) & first_rows):
        problems.append(f"{email} is in both resends (first: {record.resend.final.state(email)}, second: "
                        f"{again.second_rows[email]})")
    by_wire = {wire(e): e for e in record.resend.people}
    for address, copies in sorted(again.second_received.items()):
        email = by_wire.get(address, address)
        if copies > 1:
            problems.append(f"{email} received the second resend {copies} times")
        if record.resend.received[address]:
            problems.append(f"{email} received both resends")
        if email in readers or email not in record.first_accepted:
            problems.append(f"{email} received the second resend, but read the first send or was not handed it")
    return problems
