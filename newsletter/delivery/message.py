"""Per-recipient MIME messages, built with the stdlib ``email`` package (``policy.SMTP``).

Every message has the same shape: shared headers (From, Reply-To, Subject,
List-Id, Feedback-ID, List-Unsubscribe-Post), per-recipient headers (To,
Date, Message-ID, List-Unsubscribe) and a multipart/alternative body with
text/plain first and text/html second, both UTF-8 quoted-printable. With
``NEWSLETTER_DKIM_SELECTOR`` set, each message is DKIM-signed last
(``delivery/dkim.py``).

Building a full ``EmailMessage`` per recipient costs about 2 ms, too slow for
thousands of messages per second. So ``MessageFactory`` lets the ``email``
package render the message *once* with markers where the per-recipient parts
go, and per recipient only folds four headers (still with the ``email``
header machinery) and quoted-printable-encodes the two personalised bodies
(C-speed ``binascii``). Header values are checked for CR/LF and other
control characters first: they are refused with ``HeaderError``, never
passed on.
"""

from __future__ import annotations

import binascii
import email.policy
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

from newsletter.delivery.base import Build, Mailing, Recipient
from newsletter.delivery.dkim import DKIMSigner, load_signer
from newsletter.delivery.wire_addresses import wire_address
from newsletter.errors import ConfigError, HeaderError
from newsletter.personalize import has_placeholder, personalize

POLICY = email.policy.SMTP
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_RECIPIENT_MARK = "x-newsletter-recipient-headers"
_SUBJECT_MARK = "x-newsletter-subject"
_TEXT_MARK = "NEWSLETTER-TEXT-PART-MARKER"
_HTML_MARK = "NEWSLETTER-HTML-PART-MARKER"
#: A display name made only of these needs neither quoting nor encoding
#: (RFC 5322 atext and spaces; '.' would need quotes).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 !#$%&'*+\-/=?^_`{|}~]*")
_PLAIN_ADDR = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@\[\]:]+")
_NOT_LABEL = re.compile(r"[^a-z0-9]+")


def list_label(list_name: str) -> str:
    """A list's name as one DNS label (for List-Id) and a Feedback-ID field: lower case, ``a-z0-9-``."""
    label = _NOT_LABEL.sub("-", list_name.lower()).strip("-")[:63].strip("-")
    return label or "list"


def check_header(name: str, value: str) -> str:
    """Return ``value`` unchanged, or raise ``HeaderError`` if it holds CR, LF or another control character."""
    if _CONTROL.search(value or ""):
        shown = (value or "").encode("unicode_escape").decode("ascii")[:80]
        raise HeaderError(f"control character (CR/LF or similar) in header value {shown!r}; refusing to send", subject=name)
    return value


@dataclass(frozen=True)
class SharedHeaders:
    """The header values common to every recipient of one message, already checked."""

    from_name: str
    from_email: str
    reply_to: str
    subject: str
    list_id: str
    domain: str
    unsubscribe_mailto: str
    list_name: str = ""

    @property
    def from_header(self) -> str:
        """The From header value."""
        return str(Address(display_name=self.from_name, addr_spec=self.from_email))

    def list_unsubscribe(self, url: str) -> str:
        """The List-Unsubscribe value: the one-click HTTPS URL, then a mailto: when configured."""
        value = f"<{url}>"
        if self.unsubscribe_mailto:
            value += f", <mailto:{self.unsubscribe_mailto}?subject=unsubscribe>"
        return value

    def feedback_id(self, send_id: int) -> str:
        """The Feedback-ID value in Gmail's ``a:b:c:SenderId`` form: send, list, kind of mail, sending domain.

        Gmail's feedback loop counts complaints per field, so a spike names the send and the list.
        """
        return f"{send_id}:{list_label(self.list_name) if self.list_name else '-'}:newsletter:{self.domain}"


def _list_id(settings: Any, domain: str, list_name: str) -> str:
    """``NEWSLETTER_LIST_ID`` (or ``BRAND <newsletter.DOMAIN>``) with the list's own label in front of its id."""
    base = check_header("NEWSLETTER_LIST_ID", settings.newsletter_list_id.strip())
    if not base:
        phrase, ident = settings.newsletter_brand, f"newsletter.{domain}"
    elif "<" in base:
        phrase, _, rest = base.partition("<")
        phrase, ident = phrase.strip(), rest.rstrip().rstrip(">").strip()
    else:
        phrase, ident = "", base
    if list_name:
        ident = f"{list_label(list_name)}.{ident}"
    return f"{phrase} <{ident}>" if phrase else f"<{ident}>"


def shared_headers(result: Any, settings: Any, *, subject_prefix: str = "", list_name: str = "") -> SharedHeaders:
    """Check and assemble the shared headers of an issue sent to ``list_name`` (none for test sends);
    ``HeaderError``/``ConfigError`` if unusable."""
    sender = check_header("NEWSLETTER_FROM", result.sender or settings.newsletter_from)
    from_name, from_email = parseaddr(sender)
    if "@" not in from_email:
        raise ConfigError(f"not an address: {sender!r}", subject="NEWSLETTER_FROM")
    reply_to = check_header("NEWSLETTER_REPLY_TO", settings.newsletter_reply_to.strip())
    subject = check_header("Subject", subject_prefix + (result.issue.subject or ""))
    if not result.issue.subject.strip():
        raise HeaderError("the issue has no subject", subject=str(result.issue.path))
    domain = from_email.rsplit("@", 1)[1].lower()
    list_id = _list_id(settings, domain, check_header("list name", list_name))
    mailto = check_header("NEWSLETTER_UNSUBSCRIBE_MAILTO", settings.newsletter_unsubscribe_mailto.strip())
    if mailto.lower().startswith("mailto:"):
        mailto = mailto[7:]
    return SharedHeaders(from_name, from_email, reply_to, subject, check_header("List-Id", list_id), domain, mailto,
                         list_name)


def _qp(content: str) -> bytes:
    # One newline convention in, CRLF out (SMTP line endings); trailing blanks
    # and non-ASCII are encoded, long lines soft-wrapped at 76.
    data = content.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


class _EncodedBody:
    """A body QP-encoded once, except the lines that carry placeholders.

    Quoted-printable works line by line, so encoding the unchanging lines
    once and only the placeholder lines per recipient gives exactly the bytes
    of encoding the whole personalised body, at a fraction of the cost.
    """

    def __init__(self, content: str, *, is_html: bool) -> None:
        self.is_html = is_html
        self.parts: list[bytes | str] = []  # bytes: encoded once; str: lines to personalise
        fixed: list[str] = []
        for line in content.replace("\r\n", "\n").replace("\r", "\n").splitlines(keepends=True):
            if "%%" in line:
                if fixed:
                    self.parts.append(_qp("".join(fixed)))
                    fixed = []
                self.parts.append(line)
            else:
                fixed.append(line)
        if fixed:
            self.parts.append(_qp("".join(fixed)))

    def encode(self, values: dict[str, str]) -> bytes:
        """The personalised, encoded body."""
        return b"".join(
            part if isinstance(part, bytes) else _qp(personalize(part, values, is_html=self.is_html))
            for part in self.parts
        )


class MessageFactory:
    """Builds each recipient's message of one issue as bytes ready for SMTP or an ``.eml`` file."""

    def __init__(
        self,
        result: Any,
        settings: Any,
        *,
        send_id: int = 0,
        subject_prefix: str = "",
        tracking: Any = None,
        list_name: str = "",
    ) -> None:
        """``tracking`` is an optional ``TrackingRewriter`` (open pixel and click links per recipient);
        ``list_name`` the list sent to (its List-Id and Feedback-ID). The DKIM key, when configured,
        is read and checked here, once per send."""
        self.headers = shared_headers(result, settings, subject_prefix=subject_prefix, list_name=list_name)
        self.signer: DKIMSigner | None = load_signer(settings, self.headers.from_email)
        self.send_id = send_id
        self.html = result.html
        self.text = result.text
        self.tracking = tracking
        self._text_body = _EncodedBody(self.text, is_html=False)
        self._html_body = _EncodedBody(self.html, is_html=True) if tracking is None else None
        skeleton = EmailMessage(policy=POLICY)
        skeleton["From"] = self.headers.from_header
        if self.headers.reply_to:
            skeleton["Reply-To"] = self.headers.reply_to
        # A subject with %%name%% or %%first_name%% is written per recipient (in ``build``). The shared one
        # stands where the mark is; a subject test's variant (``Recipient.subject``) takes its place.
        self._personal_subject = has_placeholder(self.headers.subject)
        skeleton[_SUBJECT_MARK] = "x"
        shared = EmailMessage(policy=POLICY)
        if not self._personal_subject:
            shared["Subject"] = self.headers.subject
        self._shared_subject = shared.as_bytes(policy=POLICY).split(b"\r\n\r\n", 1)[0] + b"\r\n" \
            if not self._personal_subject else b""
        skeleton["List-Id"] = self.headers.list_id
        skeleton["Feedback-ID"] = self.headers.feedback_id(send_id)
        skeleton["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        skeleton[_RECIPIENT_MARK] = "x"
        skeleton["MIME-Version"] = "1.0"
        skeleton.set_type("multipart/alternative")
        for subtype, mark in (("plain", _TEXT_MARK), ("html", _HTML_MARK)):
            part = EmailMessage(policy=POLICY)
            part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
            part["Content-Transfer-Encoding"] = "quoted-printable"
            part.set_payload(mark)
            skeleton.attach(part)
        rendered = skeleton.as_bytes(policy=POLICY)
        before_subject, head = rendered.split(_SUBJECT_MARK.encode() + b": x\r\n", 1)
        self._before_subject = before_subject
        head, rest = head.split(_RECIPIENT_MARK.encode() + b": x\r\n", 1)
        middle, rest = rest.split(_TEXT_MARK.encode(), 1)
        between, tail = rest.split(_HTML_MARK.encode(), 1)
        self._pieces = (head, middle, between, tail)
        self._date = ""
        self._date_at = 0.0

    def _date_header(self) -> str:
        now = datetime.now(UTC)
        stamp = now.timestamp()
        if stamp - self._date_at >= 1.0:  # a second's resolution is all Date has
            self._date = format_datetime(now.replace(microsecond=0))
            self._date_at = int(stamp)
        return self._date

    def message_id(self, recipient: Recipient) -> str:
        """A new, globally unique Message-ID for this recipient's copy."""
        return f"<{self.send_id}.{recipient.subscriber_id}.{secrets.token_hex(6)}@{self.headers.domain}>"

    @staticmethod
    def _to_header(recipient: Recipient) -> str:
        # The common case (plain ASCII name, short line) is written directly:
        # it is exactly what the email package would write. Anything else
        # (quotes, commas, non-ASCII, long lines) goes through its folding.
        # International domains are written in their IDNA form; a non-ASCII
        # local part can only be written as UTF-8 (SMTPUTF8, RFC 6532).
        email, utf8 = wire_address(recipient.email)
        shown = recipient.addressee
        line = f"To: {shown} <{email}>" if shown else f"To: {email}"
        if len(line) <= 78 and _PLAIN_NAME.fullmatch(shown) and _PLAIN_ADDR.fullmatch(email):
            return line + "\r\n"
        if utf8:  # the email package refuses such an Address: the name RFC 2047-encoded, the address raw UTF-8
            name = Header(shown, "utf-8").encode() if shown else ""
            return f"To: {name} <{email}>\r\n" if name else f"To: {email}\r\n"
        address = Address(display_name=shown, addr_spec=email)
        return POLICY.header_factory("To", address).fold(policy=POLICY)

    def _subject_header(self, values: dict[str, str], own: str = "") -> str:
        """The Subject line of one recipient when it is personalised or their own (a subject test's
        variant: ``own``); '' when it is shared."""
        if not (self._personal_subject or own):
            return ""
        subject = check_header("Subject", personalize(own or self.headers.subject, values, is_html=False))
        return POLICY.header_factory("Subject", subject).fold(policy=POLICY)

    def _unsubscribe_header(self, url: str) -> str:
        value = self.headers.list_unsubscribe(url)
        if value.isascii():
            # Fold between the <...> items, as the email package does.
            return "List-Unsubscribe: " + ",\r\n ".join(value.split(", ")) + "\r\n"
        return POLICY.header_factory("List-Unsubscribe", value).fold(policy=POLICY)

    def build(self, recipient: Recipient) -> tuple[str, bytes]:
        """``(message_id, message bytes)`` for one recipient; ``HeaderError`` for a bad name or address."""
        check_header("To", recipient.name)
        check_header("To", recipient.email)
        message_id = self.message_id(recipient)
        values = recipient.values()
        try:
            # A variant's subject stands where the shared one would; a personalised one among these lines.
            subject_line = (self._subject_header(values, recipient.subject).encode("utf-8") if recipient.subject
                            else self._shared_subject)
            lines = (
                ("" if recipient.subject else self._subject_header(values))
                + self._to_header(recipient)
                + f"Date: {self._date_header()}\r\n"
                + f"Message-ID: {message_id}\r\n"
                + self._unsubscribe_header(recipient.unsubscribe_url)
            ).encode("utf-8")  # ASCII but for a UTF-8 local part (sent only with SMTPUTF8)
        except (ValueError, TypeError, IndexError, UnicodeError) as exc:
            raise HeaderError(f"cannot write address header: {exc}", subject=recipient.email) from None
        if self._html_body is not None:
            html_part = self._html_body.encode(values)
        else:  # tracking rewrites every link per recipient: encode the whole part
            html = self.tracking.for_recipient(recipient.subscriber_id)
            html_part = _qp(personalize(html, values, is_html=True))
        head, middle, between, tail = self._pieces
        body = (
            self._before_subject
            + subject_line
            + head
            + lines
            + middle
            + self._text_body.encode(values)
            + between
            + html_part
            + tail
        )
        if self.signer is not None:
            body = self.signer.sign(body)
        return message_id, body


def with_attachments(message: bytes, files: Sequence[Path], signer: DKIMSigner | None = None) -> bytes:
    """Wrap a message's alternative body in multipart/mixed with ``files`` (PNG screenshots) attached.

    A DKIM signature of the message no longer holds once the body changes: it is removed, and the new
    message signed again when ``signer`` (``MessageFactory.signer``) is given."""
    import email as email_pkg

    msg = email_pkg.message_from_bytes(message, policy=POLICY)
    del msg["DKIM-Signature"]
    msg.make_mixed()
    for path in files:
        msg.add_attachment(Path(path).read_bytes(), maintype="image", subtype="png", filename=Path(path).name)
    data = msg.as_bytes(policy=POLICY)
    return signer.sign(data) if signer is not None else data


def message_builder(settings: Any, mailing: Mailing) -> tuple[Build, str]:
    """``(build, envelope sender)`` for the per-message backends (outbox, SMTP): one recipient's
    ``(message_id, bytes)`` with the mailing's tracking, attachments and list (List-Id, Feedback-ID),
    DKIM-signed when that is configured (after the attachments too), and the From address."""
    rewriter = None
    if mailing.tracking:  # open and click tracking for outbox/SMTP (SendGrid tracks on its own)
        from newsletter.tracking.instrument import TrackingRewriter

        result = mailing.result
        rewriter = TrackingRewriter(result.html, result.web_links, public_url=settings.newsletter_public_url,
                                    secret_key=settings.newsletter_secret_key, send_id=mailing.send_id)
    factory = MessageFactory(mailing.result, settings, send_id=mailing.send_id, subject_prefix=mailing.subject_prefix,
                             tracking=rewriter, list_name=mailing.list_name)
    if not mailing.attachments:
        return factory.build, factory.headers.from_email
    attachments, signer = mailing.attachments, factory.signer

    def build_with_attachments(recipient: Recipient) -> tuple[str, bytes]:
        message_id, data = factory.build(recipient)
        return message_id, with_attachments(data, attachments, signer)

    return build_with_attachments, factory.headers.from_email
