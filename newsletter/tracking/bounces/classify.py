"""What a message in the bounce mailbox is: a bounce (hard, soft or a delay notice),
a complaint, an auto-reply, or something else (a person's reply, unknown mail).

Read in this order, the first that fits wins:

1. **RFC 3464 delivery status notifications** (``multipart/report;
   report-type=delivery-status``): what Postfix, Exim 4, Exchange/Office 365,
   Gmail and Yahoo send today. The per-recipient ``Action``, ``Status`` and
   ``Diagnostic-Code`` fields decide, read with the standard ``email`` package.
2. **RFC 5965 abuse reports** (``report-type=feedback-report``, ARF): the
   feedback loops of Yahoo, Outlook.com and others. ``Feedback-Type: abuse``
   (or fraud, virus, other) is a complaint; ``not-spam`` and
   ``auth-failure`` reports are left alone.
3. **Text bounces without a DSN**: qmail's ``qmail-send`` report (its
   documented format, qmail-send(8) and the "bounce" section of the QSBMF
   spec), older Exim's plain-text report (``This message was created
   automatically by mail delivery software``), Yahoo's old ``Sorry, we were
   unable to deliver`` and the generic ``Undeliverable`` texts. Only when the
   sender is a mail system (``MAILER-DAEMON``/``postmaster``, an empty
   Return-Path, or Exim's ``X-Failed-Recipients``): a person writing "could not
   be delivered" is not a bounce. The status comes from an RFC 3463 code in the
   text, else the SMTP reply code, else "permanent"/"temporary" wording; a text
   that says none of these is not classified (kept in the mailbox).
4. **Auto-replies** (RFC 3834 ``Auto-Submitted``, ``X-Autoreply``,
   ``X-Autorespond``, ``Precedence: auto_reply/bulk/junk``, out-of-office
   subjects): not bounces; left where they are. They come after bounces
   because Postfix and Exim mark their bounces ``Auto-Submitted: auto-replied`` too.

Why not ``flufl.bounce`` (Mailman's detectors, still released in 2026): it
answers only *which addresses* failed, not the status code and diagnostic we
record, and we never match by address anyway (the signed VERP token names the
row). The fallback here is small, covers the shapes above, and declines
rather than guesses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

#: RFC 3463 permanent codes that mean "try later", not "this address is gone": a full mailbox
#: (5.2.2, 5.2.3), a message too big (5.3.4), a delivery time expired (5.4.7), and refusals
#: for policy or content (5.7.0, 5.7.1: spam filters, blocklists, "not authorised" lists)
#: that say nothing about the address. They count as temporary failures.
TRY_LATER = frozenset({"5.2.2", "5.2.3", "5.3.4", "5.4.7", "5.7.0", "5.7.1"})

HARD, SOFT, DELAYED, COMPLAINT, AUTO_REPLY, OTHER = "hard", "soft", "delayed", "complaint", "auto-reply", "other"

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"(?:^|[\s:(#])([45][0-5]\d)(?=[\s:-])", re.MULTILINE)
_MESSAGE_ID = re.compile(r"^Message-ID:[ \t]*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)
_ANGLE_ADDRESS = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")
_BARE_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mail.delivery.system")
_FAILURE_WORDS = re.compile(
    r"could not be delivered|couldn't deliver|unable to deliver|undeliverable|delivery failed|"
    r"delivery to the following recipients? failed|permanent error|failed permanently|"
    r"returned mail|mail delivery failed|delivery status notification", re.IGNORECASE)
_DELAY_WORDS = re.compile(r"has not (?:yet )?been delivered|message delayed|delivery delayed|"
                          r"will (?:continue to )?(?:re)?try|still trying", re.IGNORECASE)
_GIVEN_UP_WORDS = re.compile(r"not going to try again|been in the queue too long|retry time(?:out)? exceeded|"
                             r"retry timeout exceeded", re.IGNORECASE)
_PERMANENT_WORDS = re.compile(r"permanent(?:ly)? (?:error|fail)|this is a permanent", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(r"^\s*(?:auto(?:matic)?[ -]?(?:reply|response)|auto:|out of (?:the )?office|"
                           r"abwesenheitsnotiz|r[ée]ponse automatique|absence)", re.IGNORECASE)
_COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other", ""}


@dataclass
class Verdict:
    """What one mailbox message is, with what the report says (empty strings when it says nothing)."""

    kind: str
    shape: str = ""  # dsn, arf, qmail, exim, text, auto-reply, none
    status: str = ""  # RFC 3463 code, e.g. 5.1.1
    diagnostic: str = ""
    recipient: str = ""  # Final-Recipient (the address that failed)
    original_recipient: str = ""
    message_ids: list[str] = field(default_factory=list)  # Message-IDs of the returned original
    feedback_type: str = ""

    @property
    def is_bounce(self) -> bool:
        """A report about delivery we act on (recorded, then removed or moved)."""
        return self.kind in (HARD, SOFT, DELAYED, COMPLAINT)


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def _address_field(value: str) -> str:
    """``rfc822; ann@example.org`` -> ``ann@example.org``."""
    value = _text(value)
    if ";" in value:
        value = value.split(";", 1)[1]
    return value.strip().strip("<>").strip()


def _status_of(*texts: str) -> str:
    for text in texts:
        match = _STATUS.search(text or "")
        if match:
            return ".".join(match.groups())
    return ""


def _smtp_class(*texts: str) -> str:
    """``5.0.0``/``4.0.0`` from the first SMTP reply code in the texts, else ''."""
    for text in texts:
        match = _SMTP_CODE.search(text or "")
        if match:
            return f"{match.group(1)[0]}.0.0"
    return ""


def failure_kind(status: str) -> str:
    """``hard`` for a permanent failure, ``soft`` for a temporary one (or a 5.x.x meaning "try later")."""
    if status.startswith("5.") and status not in TRY_LATER:
        return HARD
    return SOFT


def _parts_of_type(message: Message, content_type: str) -> list[Message]:
    return [part for part in message.walk() if part.get_content_type() == content_type]


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    from email.parser import HeaderParser

    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = payload if isinstance(payload, str) else ""
    if part.get("Content-Transfer-Encoding", "").lower() in ("base64", "quoted-printable"):
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else ""
    blocks = [b for b in re.split(r"\r?\n\s*\r?\n", text.strip()) if b.strip()]
    return [HeaderParser().parsestr(block) for block in blocks]


def _returned_message_ids(message: Message) -> list[str]:
    """Message-IDs of the original returned in the report (message/rfc822 or text/rfc822-headers)."""
    found: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                found.append(_text(inner.get("Message-ID")))
        elif kind == "text/rfc822-headers":
            found += _MESSAGE_ID.findall(_decoded_text(part))
    return found


def _decoded_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data.decode(part.get_content_charset() or "utf-8", "replace")
    payload = part.get_payload()
    return payload if isinstance(payload, str) else ""


def _body_text(message: Message, limit: int = 64 * 1024) -> str:
    """The text/plain parts (or the single body), decoded, up to ``limit`` characters."""
    pieces: list[str] = []
    for part in message.walk():
        if part.is_multipart() or part.get_content_maintype() not in ("text",):
            continue
        if part.get_content_type() not in ("text/plain", "text/rfc822-headers"):
            continue
        pieces.append(_decoded_text(part))
        if sum(map(len, pieces)) > limit:
            break
    return "\n".join(pieces)[:limit]


def _from_a_mail_system(message: Message) -> bool:
    sender = _text(message.get("From")).lower()
    return (any(name in sender for name in _DAEMONS) or _text(message.get("Return-Path")) == "<>"
            or message.get("X-Failed-Recipients") is not None)


def _read_dsn(message: Message, report: Message) -> Verdict:
    blocks = _field_blocks(report)
    recipients = [b for b in blocks[1:] if b.get("Action") or b.get("Final-Recipient")] or blocks[1:]
    if not recipients:
        return Verdict(OTHER, shape="dsn")
    # The worst recipient speaks for the report: a failure before a delay before anything else.
    order = {"failed": 0, "delayed": 1}
    chosen = min(recipients, key=lambda b: order.get(_text(b.get("Action")).lower(), 2))
    action = _text(chosen.get("Action")).lower()
    diagnostic = _text(chosen.get("Diagnostic-Code"))
    if ";" in diagnostic[:12]:
        diagnostic = diagnostic.split(";", 1)[1].strip()
    status = _status_of(_text(chosen.get("Status")), diagnostic) or _smtp_class(diagnostic)
    detailed = _status_of(diagnostic)
    if status.endswith(".0.0") and detailed[:1] == status[:1]:  # Exim writes 5.0.0; the remote reply says more
        status = detailed
    verdict = Verdict(OTHER, shape="dsn", status=status, diagnostic=diagnostic[:500],
                      recipient=_address_field(chosen.get("Final-Recipient", "")),
                      original_recipient=_address_field(chosen.get("Original-Recipient", "")),
                      message_ids=_returned_message_ids(message))
    if action == "failed":
        verdict.kind = failure_kind(status or "5.0.0")
    elif action == "delayed":
        verdict.kind = DELAYED
    return verdict


def _read_arf(message: Message, report: Message) -> Verdict:
    blocks = _field_blocks(report)
    fields = blocks[0] if blocks else Message()
    feedback_type = _text(fields.get("Feedback-Type")).lower()
    recipient = _address_field(fields.get("Original-Rcpt-To", ""))
    return Verdict(COMPLAINT if feedback_type in _COMPLAINT_TYPES else OTHER, shape="arf", feedback_type=feedback_type,
                   recipient=recipient, diagnostic=f"feedback report: {feedback_type or 'abuse'}"
                   + (f" from {_text(fields.get('Reported-Domain') or fields.get('Source-IP'))}"
                      if fields.get("Reported-Domain") or fields.get("Source-IP") else ""),
                   message_ids=_returned_message_ids(message))


def _read_text_bounce(message: Message) -> Verdict | None:
    body = _body_text(message)
    subject = _text(message.get("Subject"))
    qmail = "qmail-send program" in body
    exim = "created automatically by mail delivery software" in body
    if not (qmail or exim or _FAILURE_WORDS.search(subject) or _FAILURE_WORDS.search(body)):
        return None
    shape = "qmail" if qmail else "exim" if exim else "text"
    recipient, diagnostic = _failed_recipient(message, body, qmail=qmail)
    status = _status_of(diagnostic, body) or _smtp_class(diagnostic, body)
    delayed = bool(_DELAY_WORDS.search(body)) and not _FAILURE_WORDS.search(subject + " " + body[:400])
    if delayed and not _GIVEN_UP_WORDS.search(body):
        kind = DELAYED
    elif _GIVEN_UP_WORDS.search(body):
        kind, status = SOFT, status if status.startswith("4.") else "4.4.7"
    elif status:
        kind = failure_kind(status)
    elif _PERMANENT_WORDS.search(body):
        kind, status = HARD, "5.0.0"
    else:
        return None  # a failure we cannot grade: not guessed at
    return Verdict(kind, shape=shape, status=status, diagnostic=diagnostic[:500] or subject[:200],
                   recipient=recipient, message_ids=_MESSAGE_ID.findall(body))


def _failed_recipient(message: Message, body: str, *, qmail: bool) -> tuple[str, str]:
    """The first failed address and what the report says about it."""
    if qmail:  # qmail: "<address>:" on a line of its own, then the remote reply
        match = re.search(r"^<([^<>\s]+@[^<>\s]+)>:\s*\n(.+?)(?:\n\s*\n|\Z)", body, re.MULTILINE | re.DOTALL)
        if match:
            return match.group(1), _text(match.group(2))
    failed = _text(message.get("X-Failed-Recipients")).split(",")[0].strip()
    # Exim: the address indented under "...failed:", then the SMTP error lines.
    match = re.search(r"failed:\s*\n\s*\n?\s*<?([^\s<>]+@[^\s<>]+?)>?\s*\n(.+?)(?:\n\s*\n|\Z)", body, re.DOTALL)
    if match:
        return failed or match.group(1), _text(match.group(2))
    address = _ANGLE_ADDRESS.search(body) or _BARE_ADDRESS.search(body)
    recipient = failed or (address.group(1) if address and address.re is _ANGLE_ADDRESS else
                           address.group(0) if address else "")
    line = next((ln for ln in body.splitlines() if _STATUS.search(ln) or _SMTP_CODE.search(ln)), "")
    return recipient, _text(line)


def _is_auto_reply(message: Message) -> bool:
    auto = _text(message.get("Auto-Submitted")).lower()
    if auto and not auto.startswith("no"):
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond") or message.get("X-Autoresponse"):
        return True
    if _text(message.get("Precedence")).lower() in ("auto_reply", "bulk", "junk"):
        return True
    return bool(_AUTO_SUBJECT.match(_text(message.get("Subject"))))


def classify(message: Message) -> Verdict:
    """The ``Verdict`` on one parsed message (``email`` package, any policy)."""
    if message.get_content_type() == "multipart/report":
        report_type = (message.get_param("report-type") or "")
        report_type = report_type.lower() if isinstance(report_type, str) else ""
        if report_type == "delivery-status" or (not report_type and _parts_of_type(message, "message/delivery-status")):
            parts = _parts_of_type(message, "message/delivery-status")
            if parts:
                return _read_dsn(message, parts[0])
        if report_type == "feedback-report":
            parts = _parts_of_type(message, "message/feedback-report")
            if parts:
                return _read_arf(message, parts[0])
    if _from_a_mail_system(message):
        verdict = _read_text_bounce(message)
        if verdict is not None:
            return verdict
    if _is_auto_reply(message):
        return Verdict(AUTO_REPLY, shape="auto-reply")
    return Verdict(OTHER, shape="none")


def parse(data: bytes) -> Message:
    """Parse raw message bytes (lenient ``compat32``: bounces are often not quite RFC 5322)."""
    from email import message_from_bytes

    return message_from_bytes(data)
