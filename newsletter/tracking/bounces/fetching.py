"""Read the bounce mailbox once: classify, match, record, act, and remove only what we recognised.

For each message, in order:

1. **Classify** it (``classify``): hard, soft, delayed, complaint, auto-reply, other.
   Auto-replies and other mail (subscribers' replies) are kept, untouched.
2. **Match** it to a ledger row: by the signed VERP address anywhere in it first
   (``return_path``), else by our Message-ID in the returned original *and* the
   report's Final-/Original-Recipient being that row's subscriber. A report
   matching neither is kept: never guessed at.
3. **Record** it (one transaction, journal first): an event row like SendGrid's
   (``bounce``, ``spamreport``, ``deferred``; source ``bounce-mailbox``) keyed on the
   message, so a message seen again changes nothing, and the decision: a
   permanent failure or a complaint suppresses at once, a temporary one when
   the address failed in ``NEWSLETTER_BOUNCE_SOFT_LIMIT`` of its last
   ``NEWSLETTER_BOUNCE_SOFT_WINDOW`` sends.
4. **Act**: delete it, or move it to ``NEWSLETTER_BOUNCE_FOLDER``.

Then in-doubt ledger rows of the sends that drew bounces are settled as
accepted (a bounce proves the relay took the message), through the ledger's
own settle-from-events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from newsletter.errors import ConfigError
from newsletter.tracking.bounces import classify as kinds

if TYPE_CHECKING:
    from newsletter.return_path import ReturnPaths
    from newsletter.settings import Settings
    from newsletter.store import DB

#: How much of a message is searched for the VERP address (reports put it in the first headers).
SCAN_BYTES = 256 * 1024

#: Event type per kind (SendGrid's names: a soft bounce is a ``bounce`` of type ``blocked``).
EVENT_TYPE = {kinds.HARD: "bounce", kinds.SOFT: "bounce", kinds.DELAYED: "deferred", kinds.COMPLAINT: "spamreport"}


@dataclass
class FetchReport:
    """What one read of the bounce mailbox found and did."""

    read: int = 0
    hard: int = 0
    soft: int = 0
    delayed: int = 0
    complaints: int = 0
    auto_replies: int = 0
    unrecognised: int = 0  # not a report at all: replies and other mail
    unmatched: int = 0  # a report, but naming nothing of ours
    already_recorded: int = 0  # seen before (a removal that did not happen last time)
    suppressed: int = 0
    settled: int = 0  # in-doubt ledger rows settled as accepted
    removed: int = 0
    moved: int = 0
    kept: int = 0
    suppressed_sample: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    def line(self) -> str:
        """One line for a log (``newsletter worker``): the counts, no addresses."""
        return (f"{self.read} read: {self.hard} hard, {self.soft} soft, {self.delayed} delayed, "
                f"{self.complaints} complaints, {self.auto_replies} auto-replies, {self.unrecognised} unrecognised, "
                f"{self.unmatched} unmatched; {self.suppressed} suppressed, {self.settled} settled; "
                f"{self.removed + self.moved} removed or moved, {self.kept} kept")


@dataclass(frozen=True)
class _Match:
    send_id: int | None
    subscriber_id: int | None
    attempt: int | None
    by: str


def message_key(message: Any, data: bytes) -> str:
    """The de-duplication key of a mailbox message: its Message-ID, else its bytes, hashed."""
    message_id = " ".join(str(message.get("Message-ID") or "").split())
    seed = message_id.encode("utf-8", "replace") if message_id else data
    return "mailbox:" + hashlib.sha256(seed).hexdigest()[:40]


def _match(conn: DB, verdict: kinds.Verdict, data: bytes, paths: ReturnPaths | None) -> _Match | None:
    from newsletter.store import bounces as store

    if paths is not None:
        found = paths.find(data[:SCAN_BYTES].decode("latin-1"))
        if found is not None:
            return _Match(found[0], found[1], found[2], "verp")
    wanted = {a.strip().lower() for a in (verdict.recipient, verdict.original_recipient) if a.strip()}
    for message_id in verdict.message_ids:
        row = store.delivery_by_message_id(conn, message_id)
        if row is not None and row.email_key in wanted:
            return _Match(row.send_id, row.subscriber_id, row.attempts or None, "message-id")
    return None


def _record(conn: DB, verdict: kinds.Verdict, match: _Match, key: str, settings: Settings,
            report: FetchReport) -> None:
    """Store the event and the decision in one transaction."""
    from newsletter.store import bounces as store
    from newsletter.store import events as event_store
    from newsletter.store import transaction
    from newsletter.tracking.event import Event

    kind = EVENT_TYPE[verdict.kind]
    raw: dict[str, Any] = {
        "event": kind, "type": "blocked" if verdict.kind == kinds.SOFT else kind, "bounce_class": verdict.kind,
        "status": verdict.status, "diagnostic": verdict.diagnostic, "recipient": verdict.recipient,
        "shape": verdict.shape, "matched_by": match.by, "send_id": match.send_id,
        "subscriber_id": match.subscriber_id, "attempt": match.attempt,
    }
    if verdict.feedback_type:
        raw["feedback_type"] = verdict.feedback_type
    decision = ""
    if verdict.kind == kinds.HARD:
        decision = f"suppressed: permanent failure {verdict.status}"
    elif verdict.kind == kinds.COMPLAINT:
        decision = "suppressed: spam complaint"
    raw["decision"] = decision
    event = Event(source=store.SOURCE, type=kind, occurred_at=event_store.utc_now(), send_id=match.send_id,
                  subscriber_id=match.subscriber_id, event_key=key, attempt=match.attempt, raw=raw)
    row = event.to_row()
    if row.new_status:
        row.status_reason = suppression_reason(verdict)
    with transaction(conn):
        outcome = event_store.store_event_batch(conn, [row])
        if not outcome.stored:  # another reader stored it first
            report.already_recorded += 1
            return
        changed = outcome.status_changes
        if verdict.kind == kinds.SOFT and match.subscriber_id:
            limit, window = settings.newsletter_bounce_soft_limit, settings.newsletter_bounce_soft_window
            failed, considered = store.failures_in_window(conn, match.subscriber_id, window)
            if failed >= limit:
                reason = f"bounce: {failed} of the last {considered} sends failed (latest {verdict.status or '4.0.0'})"
                changed += store.suppress(conn, match.subscriber_id, "bounced", reason[:300])
                raw["decision"] = f"suppressed: {failed} of the last {considered} sends failed"
            else:
                raw["decision"] = f"counted: {failed} of the last {considered} sends failed (limit {limit})"
            store.set_event_raw(conn, key, raw)
    report.suppressed += changed
    if changed and len(report.suppressed_sample) < 20:
        report.suppressed_sample.append(verdict.recipient or f"subscriber {match.subscriber_id}")


def suppression_reason(verdict: kinds.Verdict) -> str:
    """The subscriber's ``status_reason`` for a suppression: the code and diagnostic, shortened."""
    if verdict.kind == kinds.COMPLAINT:
        return f"complaint ({verdict.feedback_type or 'abuse'} report)"
    return f"bounce {verdict.status}: {verdict.diagnostic}"[:300].rstrip()


def _settle_in_doubt(conn: DB, send_id: int) -> int:
    """In-doubt rows of ``send_id`` proven handed over by their events, settled as accepted."""
    from newsletter.store import ledger

    return ledger.settle_from_events(conn, send_id)[0]


def fetch(settings: Settings, progress: Callable[[int, int | None], None] | None = None) -> FetchReport:
    """Read ``NEWSLETTER_BOUNCE_MAILBOX`` once (``newsletter bounces fetch``; ``newsletter worker``).

    ``progress(done, total)`` is called after each message. Raises
    ``ConfigError`` for missing or bad settings, ``AuthError``/``DeliveryError``
    when the mailbox cannot be reached; what was recorded before such an
    error stays recorded, and its messages are found again next time.
    """
    from newsletter.store import connect
    from newsletter.tokens import require_key
    from newsletter.tracking.bounces.mailboxes import open_mailbox

    if not settings.newsletter_bounce_mailbox.strip():
        raise ConfigError("is not set: name the mailbox bounces arrive in (imaps://, pop3s://, maildir:///)",
                          subject="NEWSLETTER_BOUNCE_MAILBOX")
    paths = None
    if settings.newsletter_bounce_address:
        from newsletter.return_path import ReturnPaths

        require_key(settings.newsletter_secret_key)
        paths = ReturnPaths(settings.newsletter_bounce_address, settings.newsletter_secret_key)
    report = FetchReport()
    bounced_sends: set[int] = set()
    move_to = settings.newsletter_bounce_folder.strip()
    conn = connect(settings.newsletter_database)
    try:
        with open_mailbox(settings.newsletter_bounce_mailbox, move_to) as box:
            keys = box.keys()
            for done, key in enumerate(keys, 1):
                data = box.read(key)
                if data is not None:
                    report.read += 1
                    if _process(conn, data, paths, settings, report, bounced_sends):
                        box.remove(key)
                        if move_to:
                            report.moved += 1
                        else:
                            report.removed += 1
                    else:
                        report.kept += 1
                if progress is not None:
                    progress(done, len(keys))
            box.finish()
        for send_id in sorted(bounced_sends):
            report.settled += _settle_in_doubt(conn, send_id)
    finally:
        conn.close()
    return report


def _process(conn: DB, data: bytes, paths: ReturnPaths | None, settings: Settings, report: FetchReport,
             bounced_sends: set[int]) -> bool:
    """Classify, match and record one message; True if it is to be removed (or moved)."""
    from newsletter.store import bounces as store

    message = kinds.parse(data)
    verdict = kinds.classify(message)
    if not verdict.is_bounce:
        if verdict.kind == kinds.AUTO_REPLY:
            report.auto_replies += 1
        else:
            report.unrecognised += 1
        return False
    match = _match(conn, verdict, data, paths)
    if match is None:
        report.unmatched += 1
        return False
    counter = {kinds.HARD: "hard", kinds.SOFT: "soft", kinds.DELAYED: "delayed", kinds.COMPLAINT: "complaints"}
    setattr(report, counter[verdict.kind], getattr(report, counter[verdict.kind]) + 1)
    key = message_key(message, data)
    if store.seen(conn, key):
        report.already_recorded += 1
        return True
    _record(conn, verdict, match, key, settings, report)
    if match.send_id and verdict.kind in (kinds.HARD, kinds.SOFT, kinds.DELAYED):
        bounced_sends.add(match.send_id)
    return True
