"""Judge a batch of events before they are stored: the rules of ``verdicts`` applied with what
the database knows of each recipient's copy (delivery time, earlier clicks, canary fetches).

The raw IP address and user agent are read here and then dropped from the event.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from newsletter.store import engagement
from newsletter.tracking import verdicts

if TYPE_CHECKING:
    from newsletter.store import DB
    from newsletter.tracking.event import Event

JUDGED_TYPES = ("open", "click")


def seconds(iso: str) -> float:
    """Seconds since the epoch of an ISO-8601 UTC time as the store writes them ('...Z'; no zone means UTC)."""
    parsed = datetime.fromisoformat(iso)  # C code, ten times quicker than strptime; reads the 'Z'
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def judge_events(conn: DB, events: list[Event]) -> None:
    """Set ``verdict`` and ``verdict_reason`` on each open and click of ``events`` (in place), drop
    their raw IP address and user agent, and judge earlier stored clicks machine when this batch
    completes a burst with them or fetches the canary link near them."""
    judged = [e for e in events if e.type in JUDGED_TYPES or e.type == "canary"]
    if not judged:
        return
    # The history of a copy is looked up only for events the agent or the provider's flag leaves open
    # (a machine by either stays one whatever happened before; half of all opens are Apple's proxy's).
    open_question = [e for e in judged if e.send_id and e.subscriber_id and (e.type == "canary" or not (
        verdicts.provider_flag(e.raw) or _machine_agent(e.user_agent)))]
    known = [(e.send_id or 0, e.subscriber_id or 0) for e in open_question]
    clicks = [(e.send_id or 0, e.subscriber_id or 0) for e in open_question if e.type == "click"]
    times = [seconds(e.occurred_at) for e in open_question]
    # What any rule can reach around this batch: deliveries, canary fetches and clicks that near.
    reach = max(verdicts.SOON_AFTER_DELIVERY_S, verdicts.BURST_S, verdicts.CANARY_WINDOW_S)
    window = (_iso(min(times) - reach), _iso(max(times) + reach)) if times else ("", "")
    history = engagement.histories(conn, known, clicks, *window)
    batch_clicks: dict[tuple[int, int], list[Event]] = defaultdict(list)
    batch_canary: dict[tuple[int, int], list[float]] = defaultdict(list)
    for event in judged:
        if not (event.send_id and event.subscriber_id):
            continue
        pair = (event.send_id, event.subscriber_id)
        if event.type == "click" and not (event.event_key and event.event_key in history.click_keys):
            batch_clicks[pair].append(event)
        elif event.type == "canary":
            batch_canary[pair].append(seconds(event.occurred_at))
    in_burst: set[int] = set()  # id() of this batch's events found in a burst
    earlier: dict[str, set[int]] = defaultdict(set)  # reason -> ids of stored events to judge machine
    for pair, batch in batch_clicks.items():
        stored = history.clicks.get(pair, [])
        if len(stored) + len(batch) < verdicts.BURST_CLICKS:
            continue
        times = [seconds(at) for _, at, _ in stored] + [seconds(e.occurred_at) for e in batch]
        for index in verdicts.bursts(times):
            if index < len(stored):
                earlier[verdicts.BURST_REASON].add(stored[index][0])
            else:
                in_burst.add(id(batch[index - len(stored)]))
    for pair, fetched in batch_canary.items():
        for event_id, _kind, at in engagement.copy_events(conn, *pair):
            if any(abs(seconds(at) - t) <= verdicts.CANARY_WINDOW_S for t in fetched):
                earlier[verdicts.CANARY_REASON].add(event_id)
    for event in judged:
        agent, event.user_agent = event.user_agent, ""  # never stored (nor is the raw event's: Event.to_row)
        if event.type == "canary":
            event.verdict, event.verdict_reason = verdicts.MACHINE, "the hidden canary link"
            continue
        pair = (event.send_id or 0, event.subscriber_id or 0)
        when = seconds(event.occurred_at)
        canary = [*map(seconds, history.canary_at.get(pair, ())), *batch_canary.get(pair, ())]
        verdict = verdicts.judge(verdicts.Hit(
            kind=event.type, user_agent=agent, provider_flag=verdicts.provider_flag(event.raw),
            near_canary=any(abs(when - t) <= verdicts.CANARY_WINDOW_S for t in canary),
            in_burst=id(event) in in_burst,
            seconds_after_delivery=_since_delivery(history, pair, when),
        ))
        event.verdict, event.verdict_reason = verdict.verdict, verdict.reason
    for reason, ids in earlier.items():
        engagement.mark_machine(conn, sorted(ids), reason)


def _machine_agent(agent: str) -> bool:
    found = verdicts.agent_verdict(agent)
    return found is not None and found.verdict == verdicts.MACHINE


def _since_delivery(history: engagement.Histories, pair: tuple[int, int], when: float) -> float | None:
    """Seconds since the latest delivery of the copy before ``when``: the provider's ``delivered``
    event near it, else the ledger's hand-over (None if neither is known)."""
    before = [t for t in map(seconds, history.delivered_at.get(pair, ())) if t <= when]
    if before:
        return when - max(before)
    accepted = history.accepted_at.get(pair)
    return when - seconds(accepted) if accepted else None
