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
    from newsletter.tracking.provider_events import Event

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
    known = [(e.send_id, e.subscriber_id) for e in judged if e.send_id and e.subscriber_id]
    clicks = [e for e in judged if e.type == "click" and e.send_id and e.subscriber_id]
    times = [seconds(e.occurred_at) for e in clicks]
    window = (_iso(min(times) - verdicts.BURST_S), _iso(max(times) + verdicts.BURST_S)) if times else ("", "")
    history = engagement.histories(conn, [(s, w) for s, w in known if s and w],
                                   [(e.send_id or 0, e.subscriber_id or 0) for e in clicks], *window)
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
        delivered = history.delivered_at.get(pair)
        verdict = verdicts.judge(verdicts.Hit(
            kind=event.type, user_agent=agent, provider_flag=verdicts.provider_flag(event.raw),
            near_canary=any(abs(when - t) <= verdicts.CANARY_WINDOW_S for t in canary),
            in_burst=id(event) in in_burst,
            seconds_after_delivery=when - seconds(delivered) if delivered else None,
        ))
        event.verdict, event.verdict_reason = verdict.verdict, verdict.reason
    for reason, ids in earlier.items():
        engagement.mark_machine(conn, sorted(ids), reason)
