"""The promises of a subject test, checked after every subject-test schedule against what the servers received.

1. Each member of the audience received at most one copy, and its subject is that of the variant their ledger
   row holds (never two variants, never one other than the ledger's); a row with no variant got nothing.
2. Whoever was held when the pick was made gets the winner, and only the winner.
3. The pick was made once: one decision, on the human events alone (the counts it recorded are those of the
   human opens or clicks written, none of the machine ones), the winner its rule names (ties to A) or the
   variant ``newsletter pick`` named; several workers started the rest once.
4. Nobody who left (unsubscribed, bounced) before their row was claimed received a copy after leaving.
5. No command crashed; a send whose test was decided ends with nothing held.
"""

from __future__ import annotations

from collections import Counter

from tests.delivery.harness.servers import wire
from tests.delivery.harness.subject_world import SubjectRecord


def check_subject_test(record: SubjectRecord) -> list[str]:
    """Every broken promise of ``record``, in words (empty: the schedule held)."""
    from tests.delivery.harness.subject_schedule import subject_of

    seed = record.base.schedule.seed
    subject = {v: subject_of(seed, v) for v in "ABC"}
    problems = [f"SendGrid stand-in: request breaks a documented limit: {v}" for v in record.base.violations]
    for r in record.base.runs:
        text = r.output.stdout + r.output.stderr
        if r.output.crash or "Traceback" in text or "Internal error" in text or r.output.exit_code == 70:
            problems.append(f"step {r.step + 1}: crashed (exit {r.output.exit_code}): "
                            f"{r.output.crash or text.strip()[-400:]}")
    rows = {wire(e): row for e, row in record.rows.items()}
    for address, subjects in record.subjects.items():  # promise 1
        state, variant = rows.get(address, (None, ""))
        if len(subjects) > 1:
            problems.append(f"{address} received {len(subjects)} copies: {subjects}")
        if variant == "" or any(s != subject[variant] for s in subjects):
            problems.append(f"{address} received {subjects} but the ledger says variant {variant!r} ({state})")
    test = record.test
    decided = test is not None and test["winner"] is not None
    for pick in record.picks:  # promises 2 and 3
        problems.extend(f"pick at step {pick.step + 1}: {e}" for e in pick.errors)
        killed = pick.output is not None and (pick.output.exit_code or 0) < 0 or (
            pick.output is not None and pick.output.exit_code == 130)  # the schedule killed it (SIGKILL, SIGTERM)
        if pick.output is not None and pick.output.exit_code not in (0, 3) and not killed:
            text = (pick.output.stdout + pick.output.stderr).strip()[-300:]
            if not (pick.output.exit_code == 1 and "decided already" in text):
                problems.append(f"`newsletter pick` exit {pick.output.exit_code}: {text}")
        if pick.how == "workers" and decided and len(pick.started) != 1:
            problems.append(f"the workers started the rest {len(pick.started)} time(s): {pick.started}")
        if decided:
            for email in pick.held:
                state, variant = record.rows.get(email, (None, ""))
                if variant != test["winner"]:
                    problems.append(f"{email} was held at the pick but ends {state} with variant {variant!r}, "
                                    f"not the winner {test['winner']}")
    if test is None:
        problems.append("no subject test was recorded")
    elif decided:
        problems.extend(_decision_problems(record))
        held = [e for e, (state, _) in record.rows.items() if state == "held"]
        if held:
            problems.append(f"decided, yet {len(held)} row(s) still held: {held[:5]}")
    elif any(p.how == "workers" and p.started for p in record.picks):
        problems.append("a worker started the send at the pick, but the test is undecided")
    for leave in record.leaves:  # promise 4
        if leave.state_at in (None, "queued", "held"):
            now = len(record.subjects.get(wire(leave.email), []))
            if now > leave.received_at:
                problems.append(f"{leave.email} left ({leave.status}) with row {leave.state_at}, yet received "
                                f"{now - leave.received_at} cop(ies) after")
    return problems


def _decision_problems(record: SubjectRecord) -> list[str]:
    import json

    from newsletter.tracking.subject_winner import winner

    test = record.test
    assert test is not None
    results = json.loads(test["results"])
    rule = record.rule if record.rule != "manual" else "clicks"
    problems = []
    for variant, counts in results.items():
        written = record.engaged.get(variant, Counter())
        want = written["clicks"] if rule == "clicks" else written["opens"] + written["clicks"]
        if counts[rule] != want:
            problems.append(f"the pick counted {counts[rule]} human {rule} for {variant}; {want} were written")
    by_person = not str(test["decided_by"]).startswith("harness worker")  # `newsletter pick`: the person's choice
    if not by_person and test["winner"] != winner(results, rule):
        problems.append(f"the winner is {test['winner']}, but human {rule} {results} name {winner(results, rule)}")
    if not 0.0 <= float(test["confidence"]) <= 1.0:
        problems.append(f"confidence {test['confidence']} is not a probability")
    return problems
