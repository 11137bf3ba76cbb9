"""``POST /webhooks/sendgrid``: SendGrid's signed Event Webhook.

Checks, in order: a public key is configured (else 503), signature and
timestamp headers are present and the timestamp is within ``MAX_AGE_S`` (else
403), the body is at most ``MAX_BODY`` bytes (else 400), the ECDSA signature
over timestamp + raw body verifies (else 403), the body is a JSON array (else
400). Then the whole POST is stored in one transaction.
"""

from __future__ import annotations

import logging
import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from newsletter.server.common import SAFE_HEADERS, plain, with_db
from newsletter.tracking import provider_events as events

log = logging.getLogger("newsletter.server")

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_BODY = 5 * 1024 * 1024
#: A signed request older than this is refused as a replay.
MAX_AGE_S = 600
#: Allowed clock skew for timestamps in the future.
MAX_FUTURE_S = 120


class SignatureVerifier:
    """Verifies SendGrid signatures with the ``sendgrid`` library's ``EventWebhook`` helper."""

    def __init__(self, public_key: str) -> None:
        from sendgrid.helpers.eventwebhook import EventWebhook

        # Parsing the key once here; EventWebhook raises ValueError for a bad key.
        self._helper = EventWebhook(public_key.strip())

    def verify(self, body: str, signature: str, timestamp: str) -> bool:
        """True if ``signature`` signs ``timestamp + body``; never raises."""
        try:
            return bool(self._helper.verify_signature(body, signature, timestamp))
        except Exception:  # malformed base64 or DER: simply not a valid signature
            return False


def load_verifier(public_key: str, *, expected: bool = True) -> SignatureVerifier | None:
    """A verifier for ``SENDGRID_WEBHOOK_PUBLIC_KEY``, or None if unset or unusable (logged when
    ``expected``: the team sends with SendGrid; a team on SMTP has no webhook to miss)."""
    if not public_key.strip():
        if expected:
            log.warning("SENDGRID_WEBHOOK_PUBLIC_KEY is not set: /webhooks/sendgrid will refuse every request")
        return None
    try:
        return SignatureVerifier(public_key)
    except Exception:
        log.error("SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid base64 EC public key: "
                  "/webhooks/sendgrid will refuse every request")
        return None


def _fresh(timestamp: str, now: float) -> bool:
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    age = now - int(timestamp)
    return -MAX_FUTURE_S <= age <= MAX_AGE_S


async def read_limited(request: Request, limit: int, *, too_large: int = 400) -> bytes:
    """The request body, refusing (``too_large``) one over ``limit`` bytes before and while reading it."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, "invalid Content-Length")
        if int(declared) > limit:
            raise HTTPException(too_large, "request body too large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a chunked or lying client: stop reading at once
            raise HTTPException(too_large, "request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def sendgrid_events(request: Request) -> Response:
    """Verify, parse and store one POST of SendGrid events."""
    verifier: SignatureVerifier | None = request.app.state.verifier
    if verifier is None:
        log.error("refused a SendGrid webhook request: SENDGRID_WEBHOOK_PUBLIC_KEY is not configured")
        return plain("webhook not configured", 503)
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not signature or not timestamp:
        return plain("missing signature", 403)
    if not _fresh(timestamp, time.time()):
        return plain("stale or invalid timestamp", 403)
    body = await read_limited(request, MAX_BODY)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return plain("body is not UTF-8", 400)
    if not verifier.verify(text, signature, timestamp):
        return plain("invalid signature", 403)
    items = events.parse_event_array(body, subject="webhook body")
    result = await with_db(request, events.ingest_sendgrid, items)
    return JSONResponse(result.as_dict(), headers=SAFE_HEADERS)
