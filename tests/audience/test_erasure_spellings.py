"""Erasure scrubs every spelling of the address – its domain in Unicode and in IDNA (xn--) form, in any
case – from every table, on SQLite and PostgreSQL, and removes the person's files from the outbox."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from newsletter.audience import confirmation, signup
from newsletter.store import connect
from newsletter.tracking import provider_events as events
from tests.audience.helpers import add_people, query

BOB = "reject.bob@bücher.example.org"
BOB_WIRE = "reject.bob@xn--bcher-kva.example.org"  # how it went out and how servers quote it
EMILE = "REJECT.ÉMILE@example.org"
KEEP = "keep@example.org"


@pytest.fixture
def config(settings, database, tmp_path):
    """Settings on a fresh database of each kind, with an outbox and stored signup IPs (the strictest case)."""
    return settings.with_overrides(newsletter_database=database, newsletter_outbox=str(tmp_path / "outbox"),
                                   newsletter_signup_ip="stored")


def everything(database: str) -> str:
    """Every value of every table, as lower-case text (Python's lower: every letter, not only ASCII)."""
    conn = connect(database)
    try:
        tables = conn.dialect.tables(conn)
        text = "\n".join(repr(tuple(row)) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
    finally:
        conn.close()
    return unicodedata.normalize("NFC", text).lower()


def traces(database: str) -> list[str]:
    """The spellings of the two people's addresses still somewhere in the database."""
    held = everything(database)
    return [part for part in ("reject.bob", "reject.émile", "bücher", "xn--bcher-kva") if part in held]


def test_erasure_scrubs_every_spelling_everywhere_and_the_outbox(cli, config, write_issue):
    database, outbox = config.newsletter_database, Path(config.newsletter_outbox)
    bob, emile, keep = add_people(database, "news", [(BOB, {}), (EMILE, {}), (KEEP, {})])
    issue = write_issue("Hello %%name%%.\n")
    run = cli(config, "send", issue, "--list", "news", "--yes")  # through the outbox: one .eml each
    assert run.exit_code == 0, run.output
    [(send_id,)] = query(database, "SELECT id FROM sends")
    assert {p.name for p in (outbox / str(send_id)).iterdir()} == {f"{bob}.eml", f"{emile}.eml", f"{keep}.eml"}

    # A confirmation email in the outbox for Émile (a signup on another list).
    assert cli(config, "lists", "create", "extra", "--signup").exit_code == 0
    conn = connect(database)
    try:
        form = signup.parse_form({"email": EMILE, "consent": "yes"})
        pending = signup.register(conn, config, "extra", form, ip="203.0.113.5", source="form")
    finally:
        conn.close()
    assert pending is not None and confirmation.send(config, pending, signup.confirm_url(config, pending))
    confirmation_file = outbox / "confirmations" / str(pending.consent_id) / f"{emile}.eml"
    assert confirmation_file.is_file()

    # Servers and the provider quote the addresses in other spellings than the one stored.
    conn = connect(database)
    try:
        conn.execute("UPDATE deliveries SET error = ? WHERE subscriber_id = ?",
                     (f"550 5.1.1 <{BOB_WIRE}>: Recipient address rejected; also <{BOB_WIRE.upper()}>", bob))
        conn.execute("UPDATE deliveries SET error = ? WHERE subscriber_id = ?",
                     ("550 <REJECT.ÉMILE@EXAMPLE.ORG> unknown, <reject.émile@Example.org> gone, "
                      + unicodedata.normalize("NFD", "<Reject.Émile@example.org>"), emile))
        events.ingest_sendgrid(conn, [  # no subscriber_id: matched by the address alone
            {"event": "bounce", "email": BOB_WIRE, "timestamp": 1795000000, "sg_event_id": "b-1",
             "reason": f"550 <{BOB_WIRE}> rejected", "ip": "198.51.100.7"},
            {"event": "dropped", "email": BOB_WIRE.upper(), "timestamp": 1795000001, "sg_event_id": "d-1",
             "reason": "Bounced Address", "ip": "198.51.100.7"},
            {"event": "bounce", "email": KEEP, "timestamp": 1795000002, "sg_event_id": "b-2",
             "reason": f"550 <{KEEP}> full", "ip": "198.51.100.8"},
        ])
    finally:
        conn.close()
    assert traces(database) == ["reject.bob", "reject.émile", "bücher", "xn--bcher-kva"]  # the checks can fail
    exported = cli(config, "subscribers", "export", BOB)
    assert sorted(e["event_key"] for e in json.loads(exported.stdout)["events"]) == ["sg:b-1", "sg:d-1"]  # any spelling

    for address, sid in ((BOB, bob), (EMILE.lower(), emile)):
        run = cli(config, "subscribers", "erase", address)
        assert run.exit_code == 0 and f"erased-{sid}@erased.invalid" in run.stdout, run.output
    assert traces(database) == []
    if "://" not in database:  # SQLite: no freed page or log frame of the file keeps an old spelling either
        stored = b"".join(p.read_bytes() for p in Path(database).parent.glob(Path(database).name + "*")).lower()
        assert not [part for part in (b"reject.bob", b"xn--bcher-kva", "émile".encode()) if part in stored]
    assert "198.51.100.7" not in everything(database)  # the unmatched events lost their personal fields too
    # Nobody else's data went (no event keeps an IP address at all: tracking/event.py drops it on the way in).
    assert KEEP in everything(database) and f"550 <{KEEP}> full" in everything(database)

    assert {p.name for p in (outbox / str(send_id)).iterdir()} == {f"{keep}.eml"}
    assert not confirmation_file.exists()
    assert "2 outbox file(s) removed" in run.stdout  # Émile: the issue and the confirmation email


def test_the_spellings_pattern_matches_every_case_and_form_and_nothing_else():
    import re

    from newsletter.store.privacy import spellings_pattern

    assert spellings_pattern(BOB).ascii_hint == "reject.bob" and spellings_pattern(EMILE).ascii_hint == "reject."
    bob = re.compile(spellings_pattern(BOB).regex)
    for text in (BOB, BOB.upper(), BOB_WIRE, BOB_WIRE.upper(), "Reject.Bob@Bücher.Example.Org",
                 unicodedata.normalize("NFD", BOB)):
        assert bob.search(f"550 <{text}>"), text
    assert not bob.search("reject.bob@bucher.example.org") and not bob.search("reject-bob@xn--bcher-kva.example.org")
    strasse = re.compile(spellings_pattern("straße@example.org").regex)
    assert strasse.search("STRASSE@EXAMPLE.ORG") and strasse.search("Straße@example.org")
