"""The promises checked after every schedule, against what the servers actually received.

1. Nobody received the issue twice, except one more copy for each
   ``--resend-in-doubt`` run that started while their delivery was in doubt;
   nobody outside the audience received it at all (the audience is fixed
   when the send starts: who joins later gets it only with --include-new).
2. Every member of the audience has a row, and it says accepted, failed, in
   doubt, skipped or suppressed (pending only when the last run did not end by
   itself); accepted means received; failed, suppressed and pending mean not
   received.
3. What each run printed (its summary, or the totals on its error line),
   ``newsletter sends --json`` and the ledger (SQL over ``deliveries``) agree,
   and the exit status is the documented one.
4. A member who left (unsubscribed, bounced) before their row was claimed
   received nothing more after that moment.
5. A second run while one lives is refused (exit 1) and writes nothing; once
   a stopped run's lease has expired, a second run takes the send over, and
   the stopped run, resumed, claims and writes nothing more and ends with an
   error ("lost its hold").
6. A recipient the provider's events prove was handed the message is
   settled as accepted by the next run (or stays skipped), never left in
   doubt nor re-sent.
7. Every copy received is its recipient's own (their address, name, id in it).
8. In doubt only where a message may have gone out: a run leaves new rows in
   doubt only for answers that prove nothing (5xx, a lost connection, a
   timeout: one request each) and for what was in flight when it was killed
   (a batch per request in flight for SendGrid, one message per connection
   for SMTP); it never has more SendGrid requests out than
   NEWSLETTER_CONCURRENCY.
9. Pause and resume: ``newsletter pause`` during a run makes it stop after
   the batches in flight (none claimed after the pause returned, or the one
   being claimed at that moment when several requests are in flight), with
   "Send N paused: <totals>" agreeing with the ledger and exit 3; while it is
   paused a plain ``send`` is refused (exit 1) and nothing is written or
   sent; ``newsletter resume`` continues it (the promises above hold across
   the pause), or only lifts the pause when no run of it stopped.
10. A send scheduled via SendGrid goes out at its time: nothing is handed
    over ahead of it (no request carries ``send_at``, SendGrid holds nothing
    once the time has passed), the worker starts it then, and whoever left
    (unsubscribed, bounced, complained) before their message left the
    provider is suppressed and receives nothing (with promise 4).
11. No live run is taken over: a second run on another host whose clock is
    two minutes ahead (more than the lease) is refused as in promise 5
    (leases are judged on the database's clock); a stopped run on this host
    whose process lives is never taken over, even once its lease has run
    out: a second run is refused, and the first, resumed, finishes.
"""

from __future__ import annotations

import re
from typing import Any

from tests.delivery.harness.record import Ledger, Record, RunRecord, ScheduledRecord
from tests.delivery.harness.servers import SENDGRID_TIMEOUT_S, wire

TOTALS = r"(\d+) accepted, (\d+) failed, (\d+) in doubt, (\d+) skipped, (\d+) suppressed, (\d+) pending"
SUMMARY = re.compile(rf"^Send (\d+) \((\w+)\): {TOTALS}(?:, (\d+) in flight)?; this run: (\d+) accepted", re.M)
STOPPED = re.compile(rf"send stopped with {TOTALS}")
SETTLED = re.compile(r"^Settled (\d+) in-doubt recipient", re.M)
PAUSED = re.compile(rf"^Send (\d+) paused: {TOTALS}(?:, (\d+) in flight)?; `newsletter resume", re.M)
FIELDS = ("accepted", "failed", "in_doubt", "skipped", "suppressed", "pending")
#: SendGrid answers that prove nothing about the request's messages.
UNCERTAIN = ("500", "502", "503", "504", "500-after", "502-after", "drop", "drop-after", "timeout")
#: Exit statuses (README): 0 done, 1 operational failure, 2 usage/credentials, 3 incomplete, 130 interrupted.
DONE, ERROR, USAGE, INCOMPLETE, INTERRUPTED = 0, 1, 2, 3, 130


def check(record: Record) -> list[str]:
    """Every broken promise of ``record``, in words (empty: the schedule held)."""
    problems = [f"SendGrid stand-in: request breaks a documented limit: {v}" for v in record.violations]
    previous: RunRecord | None = None
    for run in record.runs:
        problems.extend(f"step {run.step + 1}: {p}"
                        for p in _run_problems(run, record.schedule.batch, record.schedule.smtp_connections))
        problems.extend(f"step {run.step + 1}: {p}" for p in _pause_problems(run, previous))
        previous = run
    problems.extend(f"step {sched.step + 1}: {p}" for sched in record.scheduled for p in _scheduled_problems(sched, record))
    problems.extend(_final_problems(record))
    return problems


def _scheduled_problems(sched: ScheduledRecord, record: Record) -> list[str]:
    """Promise 10: a scheduled SendGrid send is handed over at its time, and whoever left before then is out."""
    if sched.error:
        return [f"scheduling failed: {sched.error}"]
    problems = []
    if sched.route != "worker" or sched.ahead or sched.held:
        problems.append(f"scheduled via {sched.route}: {sched.ahead} request(s) handed over ahead of the time "
                        f"(send_at), {sched.held} message(s) SendGrid still holds")
    if [state for state, _ in sched.started] not in (["done"], ["incomplete"]):
        problems.append(f"the worker at the time started {sched.started} (expected the send, done or incomplete)")
    problems.extend(_agree("`sends --json` after the worker", sched.listing, sched.after))
    for leave in record.leaves:
        if leave.step == sched.step and sched.after.state(leave.email) != "suppressed":
            problems.append(f"{leave.email} left ({leave.status}) before the time, yet the row says "
                            f"{sched.after.state(leave.email)}")
    return problems


def _totals(match: re.Match[str], first: int) -> dict[str, int]:
    return {name: int(match.group(first + i)) for i, name in enumerate(FIELDS)}


def _run_problems(r: RunRecord, batch: int, connections: int) -> list[str]:
    out, problems = r.output, []
    text = out.stdout + out.stderr
    if out.crash or "Traceback" in text or "Internal error" in text or out.exit_code == 70:
        return [f"crashed (exit {out.exit_code}): {out.crash or text.strip()[-400:]}"]
    problems.extend(_agree("`sends --json`", r.listing, r.after, r.paused_after) if r.after.send_id is not None else
                    ([f"`sends --json` lists a send the ledger does not have: {r.listing}"] if r.listing else []))
    if r.second is not None:
        problems.extend(_second_problems(r))
    problems.extend(_doubt_problems(r, batch, connections))
    # The engine keeps at most NEWSLETTER_CONCURRENCY requests out (not counting a takeover run beside it, nor
    # the server still sitting on a request the client gave up on: a timeout).
    out_at_once = r.most_in_flight - r.leftover_in_flight - r.answers_used.count("timeout")
    if r.frozen_at is None and out_at_once > r.run.concurrency:
        problems.append(f"{out_at_once} SendGrid requests in flight at once "
                        f"(NEWSLETTER_CONCURRENCY={r.run.concurrency})")
    if out.exit_code == -9:  # SIGKILL: nothing printed to compare
        return problems
    if r.frozen_at is not None:
        problems.extend(_frozen_problems(r))
    summary, stopped, paused = SUMMARY.search(out.stdout), STOPPED.search(out.stderr), PAUSED.search(out.stderr)
    if paused:
        printed = _totals(paused, 2)
        if printed != r.after.counts():
            problems.append(f"pause line says {printed}, the ledger {r.after.counts()}")
        if out.exit_code != INCOMPLETE:
            problems.append(f"exit {out.exit_code} after it paused (expected {INCOMPLETE})")
        if r.pause is None or not r.paused_after:
            problems.append("it says it paused, yet nobody paused the send")
    elif summary:
        printed = _totals(summary, 3)
        if printed != r.after.counts() or summary.group(2) != r.after.status():
            problems.append(f"summary says {summary.group(2)} {printed}, "
                            f"the ledger {r.after.status()} {r.after.counts()}")
        settled = SETTLED.search(out.stdout)
        this_run = int(summary.group(10)) + (int(settled.group(1)) if settled else 0)
        gained = len(r.after.emails_in("accepted")) - len(r.before.emails_in("accepted"))
        if this_run != gained:
            problems.append(f"summary says {this_run} accepted or settled in this run; the ledger gained {gained}")
        stopped_early = "Stopped before the end" in out.stderr
        expected = INTERRUPTED if stopped_early else DONE if r.after.status() == "done" else INCOMPLETE
        if out.exit_code != expected:  # (SIGTERM included: it stops gracefully, with this summary)
            problems.append(f"exit {out.exit_code} after a {r.after.status()} send (expected {expected})")
    elif stopped:
        printed = _totals(stopped, 1)
        if printed != r.after.counts():
            problems.append(f"error line says {printed}, the ledger {r.after.counts()}")
        expected_exit = USAGE if "refused the API key" in out.stderr else ERROR
        if out.exit_code != expected_exit:
            problems.append(f"exit {out.exit_code} for {out.stderr.strip()[-200:]!r} (expected {expected_exit})")
    elif out.exit_code == USAGE and "refused the API key" in out.stderr:
        if r.after.send_id is not None and r.after.rows != r.before.rows:
            problems.append("refused before anything was handed over, yet the ledger changed")
    else:
        problems.append(f"exit {out.exit_code} with neither a summary nor totals: {text.strip()[-300:]!r}")
    return problems


def _frozen_problems(r: RunRecord) -> list[str]:
    problems = []
    # Resumed, it finishes (or fails) the batch in flight, whose rows are in doubt now, then stops: "lost its
    # hold", or the error that batch met (a 401); never a summary as if it had done the send.
    if r.output.exit_code not in (ERROR, USAGE) or "Error: " not in r.output.stderr:
        problems.append(f"stopped, taken over, then resumed, it did not stop with an error: "
                        f"exit {r.output.exit_code}, {r.output.stderr.strip()[-300:]!r}")
    if r.takeover is not None and r.after.rows != r.takeover.after.rows:
        changed = {e: (r.takeover.after.rows.get(e), r.after.rows[e])
                   for e in sorted(r.after.rows) if r.after.rows[e] != r.takeover.after.rows.get(e)}
        problems.append(f"resumed after the takeover, it still wrote to the ledger: {changed}")
    return problems


def _doubt_problems(r: RunRecord, batch: int, connections: int) -> list[str]:
    end = r.frozen_at or r.after  # a run taken over: what it left in flight when its lease ran out
    new = end.emails_in("in_doubt") - r.before.emails_in("in_doubt")
    uncertain = sum(a in UNCERTAIN for a in r.answers_used)
    if r.pause is not None and r.pause.during and r.pause.seconds >= SENDGRID_TIMEOUT_S:
        uncertain += 1  # the request whose answer the server held while the operator paused may have timed out
    killed = r.output.exit_code == -9 or r.frozen_at is not None
    in_flight = (batch * r.run.concurrency if r.run.backend == "sendgrid" else connections) if killed else 0
    if len(new) > uncertain * batch + in_flight:
        return [f"{len(new)} new in doubt ({', '.join(sorted(new)[:5])}...), but only {uncertain} answer(s) "
                f"proved nothing{' and it was killed' if killed else ''}"]
    return []


def _agree(what: str, row: dict[str, Any] | None, ledger: Ledger, paused: bool = False) -> list[str]:
    if row is None or "error" in row:
        return [f"{what} failed or lacks the send: {row}"]
    shown = {k: row[k] for k in FIELDS}
    status = "paused" if paused else ledger.status()
    if shown != ledger.counts() or row["status"] != status or row["recipients"] != len(ledger.rows):
        return [f"{what} says {row['status']} {shown} ({row['recipients']} recipients), "
                f"the ledger {status} {ledger.counts()} ({len(ledger.rows)})"]
    return []


def _pause_problems(r: RunRecord, previous: RunRecord | None) -> list[str]:
    """Promise 9: a pause stops the run after the batches in flight; nothing goes out until it is resumed."""
    problems = []
    pause, out = r.pause, r.output
    if pause is not None:
        said = (pause.output.stdout + pause.output.stderr + pause.output.crash).strip()
        if pause.during:
            if pause.output.exit_code != DONE or "Pausing send" not in said:
                problems.append(f"`pause` during the run: exit {pause.output.exit_code}, {said[-300:]!r}")
        elif pause.output.exit_code not in (DONE, ERROR) or (pause.output.exit_code == ERROR
                                                              and "nothing to pause" not in said):
            problems.append(f"`pause` after the run: exit {pause.output.exit_code}, {said[-300:]!r}")
        if r.paused_after != (pause.output.exit_code == DONE):
            problems.append(f"`pause` exited {pause.output.exit_code}, yet the send is "
                            f"{'' if r.paused_after else 'not '}paused")
        if pause.during and pause.output.exit_code == DONE:
            # Batches claimed after the pause returned: none while the run waits for the answer the server
            # holds, or the one it was claiming at that moment when it keeps several requests in flight.
            allowed = 1 if r.run.concurrency > 1 else 0
            late = sorted({b for b in r.after.batches.values() if b > pause.ledger.last_batch()})
            if len(late) > allowed:
                problems.append(f"paused with batch {pause.ledger.last_batch()} the last claimed, the run still "
                                f"claimed batches {late}")
            ended = out.exit_code not in (None, -9)
            terminated = r.fired and r.run.process.kind == "term"  # SIGTERM may stop it first: exit 130
            if ended and not PAUSED.search(out.stderr) and not STOPPED.search(out.stderr) \
                    and not (terminated and "Stopped before the end" in out.stderr):
                problems.append(f"paused during the run, it ended without saying so: exit {out.exit_code}, "
                                f"{(out.stdout + out.stderr).strip()[-300:]!r}")
    if r.blocked is not None:
        b = r.blocked
        if b.output.exit_code != ERROR or "is paused" not in b.output.stderr:
            problems.append(f"`send` while the send is paused was not refused with exit 1: exit {b.output.exit_code}, "
                            f"{(b.output.stdout + b.output.stderr + b.output.crash).strip()[-300:]!r}")
        if b.after != b.before or b.received_after != b.received_before:
            problems.append(f"`send` while paused wrote or sent something: {b.before} -> {b.after}, "
                            f"copies {b.received_before} -> {b.received_after}")
        if previous is not None and previous.output.exit_code not in (None, -9) \
                and b.received_before != previous.received_after:
            problems.append(f"{b.received_before - previous.received_after} copies went out while the send was paused")
    if r.resume_only is not None:
        o = r.resume_only
        if o.exit_code != DONE or "Resumed send" not in o.stdout:
            problems.append(f"`resume` failed: exit {o.exit_code}, {(o.stdout + o.stderr + o.crash).strip()[-300:]!r}")
    return problems


def _second_problems(r: RunRecord) -> list[str]:
    s, problems = r.second, []
    assert s is not None
    if s.output.exit_code != ERROR or f"process {s.holder_pid}" not in s.output.stderr:
        problems.append(f"a second run while process {s.holder_pid} sends was not refused with exit 1: "
                        f"exit {s.output.exit_code}, {(s.output.stderr + s.output.crash).strip()[-300:]!r}")
    if s.after != s.before:
        problems.append(f"the refused second run wrote to the database: {s.before} -> {s.after}")
    if s.listing is None or s.listing.get("status") != "sending":
        problems.append(f"`sends --json` while a run lives does not say 'sending': {s.listing}")
    return problems


def _audience(record: Record) -> set[str]:
    """The send's audience: members when it was created (who had not left at an earlier step, and who had
    joined at one), and those who joined later but before a run with --include-new."""
    created = max((r.step for r in record.runs if r.created), default=0)
    left = {leave.email for leave in record.leaves if leave.step < created}
    audience = {m for m in record.schedule.members if m not in left}
    for email, joined in record.joins.items():
        if joined < created or any("--include-new" in r.run.flags and joined < r.step for r in record.runs):
            audience.add(email)
    return audience


def _final_problems(record: Record) -> list[str]:
    final, received, problems = record.final, record.received, []
    everyone = record.schedule.members + tuple(record.joins)
    grants = {m: sum(m in r.grants for r in record.runs) for m in everyone}
    audience = _audience(record) if final.send_id is not None else set()
    if final.send_id is not None and set(final.rows) != audience:
        problems.append(f"audience: missing {sorted(audience - set(final.rows))}, "
                        f"not expected {sorted(set(final.rows) - audience)}")
    last = record.runs[-1] if record.runs else None
    ended_by_itself = last is not None and last.output.exit_code in (DONE, INCOMPLETE) and not last.paused_after
    for member in everyone:
        copies, state = received[wire(member)], final.state(member)
        allowed = 1 + grants[member] if member in audience else 0
        if copies > allowed:
            problems.append(f"{member} received {copies} copies (allowed {allowed}; ledger: {state})")
        if state == "accepted" and copies == 0:
            problems.append(f"{member} is accepted but never received it")
        if state in ("failed", "suppressed", "queued") and copies:
            problems.append(f"{member} is {state} but received {copies} copies")
        raw = final.rows.get(member, ("", None))[0]
        if raw in ("queued", "claimed", "sending") and ended_by_itself:
            problems.append(f"{member} is still {raw} after a run that ended by itself")
    problems.extend(_leave_problems(record))
    problems.extend(_report_problems(record))
    problems.extend(_copy_problems(record))
    return problems


def _copy_problems(record: Record) -> list[str]:
    """Every copy is its recipient's own: their address, name (and, for SendGrid, subscriber id) in it."""
    by_wire = {wire(e): e for e in record.people}
    problems = []
    for copy in record.copies:
        person = by_wire.get(copy.to)
        if person is None:
            problems.append(f"a copy went to {copy.to}, who is no subscriber")
            continue
        sid, name = record.people[person]
        if (copy.email, copy.name) != (copy.to, name or "there") or copy.subscriber_id not in (None, sid):
            problems.append(f"{person} (id {sid}, {name!r}) received a copy made for {copy.email} "
                            f"({copy.name!r}, id {copy.subscriber_id})")
    return problems


def _report_problems(record: Record) -> list[str]:
    problems = []
    for report in record.reports:
        if report.output.exit_code != DONE:
            problems.append(f"step {report.step + 1}: `events import` failed: {report.output.stderr.strip()[-300:]}")
        for run in record.runs:
            if run.step > report.step:
                unsettled = {m for m in report.proven if run.after.state(m) not in ("accepted", "skipped")}
                if unsettled:
                    problems.append(f"step {run.step + 1}: the events of step {report.step + 1} prove "
                                    f"{sorted(unsettled)} were handed over, yet the ledger says "
                                    f"{sorted({run.after.state(m) for m in unsettled}, key=str)}")
    return problems


def _leave_problems(record: Record) -> list[str]:
    problems = []
    # Rows a stopped run had in flight when it was taken over: in doubt now, yet claimed before anyone left,
    # and its request may still go out when it resumes (a SendGrid request repeated after a 429).
    in_flight = {(r.step, e) for r in record.runs if r.frozen_at is not None
                 for e in r.frozen_at.emails_in("in_doubt") - r.before.emails_in("in_doubt")}
    for leave in record.leaves:
        if leave.state_at in ("claimed", "sending") or (leave.step, leave.email) in in_flight:
            continue  # already on its way when they left
        copies = record.received[wire(leave.email)]
        if copies != leave.received_at:
            problems.append(f"{leave.email} left ({leave.status}) with the row {leave.state_at}, "
                            f"then received {copies - leave.received_at} more")
        state = record.final.state(leave.email)
        # In doubt may be settled from the provider's events (accepted: no new copy, checked above).
        allowed = {"queued": ("suppressed", "queued"), "in_doubt": ("in_doubt", "skipped", "accepted"),
                   "failed": ("failed",)}
        if leave.state_at in allowed and state not in allowed[leave.state_at]:
            problems.append(f"{leave.email} left with the row {leave.state_at}, which then became {state}")
    return problems
