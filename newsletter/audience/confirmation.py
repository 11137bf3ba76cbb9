"""The double opt-in confirmation email: rendered from the layout folder's
``confirm.mjml.j2`` (Jinja2, then MJML and the CSS inliner, as issues are)
and ``confirm.txt.j2``, and sent through the configured backend with the
delivery registry's ``make_backend`` and a backend's ``send_batch``.

Each confirmation is its own message (its link is signed for one signup), so
it is rendered per signup; the outbox backend files them as
``NEWSLETTER_OUTBOX/confirmations/<consent id>/<subscriber id>.eml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from newsletter.audience.consent import CONFIRMATIONS_FOLDER
from newsletter.audience.forms import list_label
from newsletter.audience.signup import Confirmation
from newsletter.errors import LayoutError
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.compose.model import ComposeResult

HTML_TEMPLATE = "confirm.mjml.j2"
TEXT_TEMPLATE = "confirm.txt.j2"
#: The layout folder whose confirmation templates are used.
LAYOUT = "default"
#: Outbox subfolder for confirmation emails (named beside erasure, which removes a person's from it).
OUTBOX_FOLDER = CONFIRMATIONS_FOLDER


@dataclass(frozen=True)
class _Header:
    """The parts of an issue a backend reads for the headers (subject, web URL, categories)."""

    subject: str
    path: Path
    slug: str = "confirmation"
    web_url: str = ""
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConfirmationEmail:
    """A rendered confirmation, shaped like a composed issue for ``make_backend``."""

    issue: _Header
    html: str
    text: str
    sender: str = ""
    web_links: tuple[str, ...] = field(default_factory=tuple)


def template_folder(settings: Settings) -> Path:
    """The folder holding ``confirm.mjml.j2``: ``NEWSLETTER_LAYOUTS/default``, else the shipped layout."""
    from newsletter.compose.layout import BUILTIN_LAYOUTS

    for base in (Path(settings.newsletter_layouts), BUILTIN_LAYOUTS):
        if (base / LAYOUT / HTML_TEMPLATE).is_file():
            return base / LAYOUT
    raise LayoutError("no confirmation template", subject=str(Path(settings.newsletter_layouts) / LAYOUT / HTML_TEMPLATE))


def render(settings: Settings, confirmation: Confirmation, confirm_url: str) -> ConfirmationEmail:
    """The confirmation email for one signup, HTML and plain text, with ``%%email%%`` left for the backend."""
    from newsletter.compose.adapters import inline_css, mjml_to_html
    from newsletter.compose.layout import render_layout

    folder = template_folder(settings)
    title = list_label({"title": confirmation.list_title}, settings)
    subject = f"Please confirm your subscription to {title}"
    context = {
        "lang": "en",
        "subject": subject,
        "brand": settings.newsletter_brand,
        "list_title": title,
        "confirm_url": confirm_url,
        "valid_hours": settings.newsletter_confirm_hours,
        "postal_address": settings.newsletter_postal_address,
    }
    mjml = render_layout(folder, HTML_TEMPLATE, context)
    html, _ = mjml_to_html(mjml, web_fonts=settings.newsletter_web_fonts, origin=str(folder / HTML_TEMPLATE))
    html, _ = inline_css(html)
    text = render_layout(folder, TEXT_TEMPLATE, context) if (folder / TEXT_TEMPLATE).is_file() else confirm_url + "\n"
    return ConfirmationEmail(issue=_Header(subject=subject, path=folder / HTML_TEMPLATE), html=html, text=text)


def send(settings: Settings, confirmation: Confirmation, confirm_url: str) -> bool:
    """Render and send one confirmation through ``NEWSLETTER_BACKEND``; True if the backend accepted it.

    The recipient carries no name (see the template) and the usual one-click
    unsubscribe URL, which a backend puts in List-Unsubscribe.
    """
    from newsletter import tokens
    from newsletter.delivery.base import ACCEPTED, Mailing, NoJournal, Recipient
    from newsletter.delivery.registry import make_backend

    message = render(settings, confirmation, confirm_url)
    # A ConfirmationEmail has every attribute of a composed issue that a backend reads.
    mailing = Mailing(cast("ComposeResult", message), 0, list_name=confirmation.list_name,
                      outbox_dir=settings.path("newsletter_outbox") / OUTBOX_FOLDER / str(confirmation.consent_id))
    backend = make_backend(settings.newsletter_backend, settings, mailing)
    unsubscribe = tokens.unsubscribe_url(settings.newsletter_public_url, settings.newsletter_secret_key,
                                         confirmation.subscriber_id)
    with backend:
        outcome = backend.send_batch([Recipient(confirmation.subscriber_id, confirmation.email, "", unsubscribe)], NoJournal())
    return all(o.state == ACCEPTED for o in outcome.outcomes) and outcome.stop is None
