"""Bounces end to end with real parts: an issue sent through aiosmtpd with VERP envelopes,
bounces delivered into a real Dovecot's maildir, read back over IMAP, POP3 or the maildir."""

from __future__ import annotations

import email
import imaplib
import itertools
import os
from pathlib import Path

import pytest

from newsletter.store import connect
from newsletter.tracking.bounces import fetch
from tests.delivery.fakes import RecordingHandler, free_port, settings_env
from tests.delivery.fakes import send as send_issue
from tests.tracking import dovecot as dovecot_helper
from tests.tracking.bounce_helpers import corpus_message

BOUNCE_ADDRESS = "bounces@news.example.org"
_users = itertools.count(1)


@pytest.fixture(scope="session")
def dovecot_server():
    """One Dovecot (IMAP + POP3 on loopback) for the session; skipped cleanly when it is not installed."""
    why = dovecot_helper.unavailable()
    if why:
        pytest.skip(why)
    server = dovecot_helper.DovecotServer().start()
    yield server
    server.stop()


class Mailbox:
    """A fresh login on the Dovecot server: its URLs and a way to drop mail into it."""

    def __init__(self, server: dovecot_helper.DovecotServer) -> None:
        self.server = server
        self.user = f"bounces{next(_users)}"
        self.password = server.add_user(self.user)
        self._bounces = itertools.count(1)

    def url(self, scheme: str) -> str:
        if scheme == "maildir":
            return f"maildir://{self.server.maildir(self.user)}"
        port = self.server.imap_port if scheme == "imap" else self.server.pop3_port
        return f"{scheme}://{self.user}:{self.password}@127.0.0.1:{port}" + ("/INBOX" if scheme == "imap" else "")

    def deliver(self, name: str, sent: tuple[str, str, str]) -> None:
        """Bounce ``sent`` = (VERP envelope, recipient, Message-ID) in the shape of corpus file ``name``."""
        verp, rcpt, message_id = sent
        bounce_id = f"<bounce-{next(self._bounces)}-{self.user}@mail.example.net>"
        self.server.deliver(self.user, corpus_message(name, verp=verp, rcpt=rcpt, message_id=message_id,
                                                       bounce_id=bounce_id))

    def imap(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.server.imap_port)
        conn.login(self.user, self.password)
        conn.select("INBOX")
        return conn

    def subjects_and_flags(self) -> list[tuple[str, str]]:
        """(Subject, FLAGS) of every message in INBOX, read without changing them."""
        conn = self.imap()
        try:
            found = []
            for uid in conn.uid("SEARCH", None, "ALL")[1][0].split():
                data = conn.uid("FETCH", uid, "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1]
                head, body = data[0]
                found.append((email.message_from_bytes(body)["Subject"], head.decode()))
            return sorted(found)
        finally:
            conn.logout()


@pytest.fixture
def mailbox(dovecot_server) -> Mailbox:
    return Mailbox(dovecot_server)


@pytest.fixture
def smtp_server():
    """aiosmtpd on loopback, recording (MAIL FROM, RCPT TO, data) of every message."""
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server, tmp_path):
    _, port = smtp_server
    return settings.with_overrides(
        newsletter_backend="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=10.0,
        newsletter_outbox=str(tmp_path / "outbox"), newsletter_build_dir=str(tmp_path / "build"),
        newsletter_bounce_address=BOUNCE_ADDRESS,
    )


@pytest.fixture
def sent(smtp_settings, smtp_server, write_issue):
    """``sent(people, issue_name=...)``: send an issue to a list of ``people`` through aiosmtpd;
    returns {address: (VERP envelope, address, Message-ID)} of that send."""
    from newsletter.store import subscribers as people_store
    from newsletter.store import transaction

    handler, _ = smtp_server

    def run(people: list[str], issue_name: str = "issue.md", config=None) -> dict[str, tuple[str, str, str]]:
        config = config or smtp_settings
        conn = connect(config.newsletter_database)
        with transaction(conn):
            list_id = people_store.ensure_list(conn, "news")
            for address in people:
                sid, _, _ = people_store.upsert_subscriber(conn, address, "", {})
                people_store.add_membership(conn, list_id, sid)
        conn.close()
        before = len(handler.messages)
        issue = write_issue(f"Hello %%name%%. Issue {issue_name}.\n", name=issue_name)
        send_issue(issue, config, "news")
        out = {}
        for mail_from, rcpts, data in handler.messages[before:]:
            out[rcpts[0]] = (mail_from, rcpts[0], email.message_from_bytes(data)["Message-ID"])
        return out

    return run


def _one(database: str, sql: str, *params):
    conn = connect(database)
    try:
        return conn.execute(sql, params).fetchone()
    finally:
        conn.close()


def status(config, address: str) -> str:
    return _one(config.newsletter_database, "SELECT status FROM subscribers WHERE email_key = ?", address)[0]


def event_rows(config) -> int:
    return _one(config.newsletter_database, "SELECT COUNT(*) FROM events")[0]


PEOPLE = ["ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com",
          "fay@example.com"]


def test_over_imap_hard_soft_complaint_auto_reply_reply_and_in_doubt(sent, smtp_settings, mailbox, monkeypatch):
    messages = sent(PEOPLE)
    assert set(messages) == set(PEOPLE)
    for verp, _, _ in messages.values():  # every envelope names its own row
        assert verp.startswith("bounces+") and verp.endswith("@news.example.org")
    assert len({verp for verp, _, _ in messages.values()}) == len(PEOPLE)
    send_id, fay_id = _one(smtp_settings.newsletter_database,
                           "SELECT d.send_id, d.subscriber_id FROM deliveries d JOIN subscribers s"
                           " ON s.id = d.subscriber_id WHERE s.email_key = 'fay@example.com'")
    # A crash left fay's message in doubt: the relay may or may not have taken it.
    conn = connect(smtp_settings.newsletter_database)
    conn.execute("UPDATE deliveries SET state = 'in_doubt' WHERE send_id = ? AND subscriber_id = ?", (send_id, fay_id))
    conn.close()

    mailbox.deliver("postfix_hard.eml", messages["ann@example.com"])
    mailbox.deliver("gmail_soft.eml", messages["bob@example.com"])
    mailbox.deliver("yahoo_arf.eml", messages["cy@example.com"])
    mailbox.deliver("auto_reply.eml", messages["dee@example.com"])
    mailbox.deliver("subscriber_reply.eml", messages["eve@example.com"])
    mailbox.deliver("exchange_hard.eml", messages["fay@example.com"])
    config = smtp_settings.with_overrides(newsletter_bounce_mailbox=mailbox.url("imap"))

    seen: list[tuple[int, int | None]] = []
    report = fetch(config, progress=lambda done, total: seen.append((done, total)))

    assert (report.read, report.hard, report.soft, report.complaints) == (6, 2, 1, 1)
    assert (report.auto_replies, report.unrecognised, report.unmatched) == (1, 1, 0)
    assert (report.removed, report.kept, report.suppressed, report.settled) == (4, 2, 3, 1)
    assert seen[-1] == (6, 6)
    assert status(config, "ann@example.com") == "bounced"  # permanent: at once
    assert status(config, "bob@example.com") == "active"  # temporary: one failure is not enough
    assert status(config, "cy@example.com") == "complained"
    assert status(config, "fay@example.com") == "bounced"
    assert status(config, "dee@example.com") == status(config, "eve@example.com") == "active"
    # The in-doubt row is settled: its bounce proves the relay had taken it.
    state, error = _one(config.newsletter_database, "SELECT state, error FROM deliveries WHERE send_id = ? AND"
                        " subscriber_id = ?", send_id, fay_id)
    assert state == "accepted" and error.startswith("settled")
    # stats counts them as SendGrid's events are counted.
    from newsletter.store.events import event_counts

    conn = connect(config.newsletter_database)
    counts = event_counts(conn, send_id)
    conn.close()
    assert (counts["bounced"], counts["spam_reports"]) == (3, 1)
    # The auto-reply and the subscriber's reply are still there, unread.
    kept = mailbox.subjects_and_flags()
    assert [subject for subject, _ in kept] == ["Out of office: Test issue", "Re: Test issue"]
    assert all("\\Seen" not in flags for _, flags in kept)

    # Fetching again changes nothing.
    events = event_rows(config)
    again = fetch(config)
    assert (again.read, again.kept, again.removed, again.suppressed, again.hard) == (2, 2, 0, 0, 0)
    assert event_rows(config) == events
    assert mailbox.subjects_and_flags() == kept

    # The CLI shows the decision with its code and diagnostic, and reactivate undoes it.
    from typer.testing import CliRunner

    from newsletter.cli import app

    for name, value in settings_env(config).items():
        monkeypatch.setenv(name, value)
    shown = CliRunner().invoke(app, ["subscribers", "show", "ann@example.com"])
    assert shown.exit_code == 0, shown.output
    assert "why: bounce 5.1.1: 550 5.1.1" in shown.stdout and "[suppressed: permanent failure 5.1.1]" in shown.stdout
    refused = CliRunner().invoke(app, ["subscribers", "reactivate", "cy@example.com"])
    assert refused.exit_code == 2 and "reported the newsletter as spam" in refused.output
    done = CliRunner().invoke(app, ["subscribers", "reactivate", "ann@example.com"])
    assert done.exit_code == 0 and "reactivated (was bounced)" in done.stdout
    assert status(config, "ann@example.com") == "active"


def test_soft_bounces_suppress_only_when_the_rule_says_so(sent, smtp_settings, mailbox):
    config = smtp_settings.with_overrides(newsletter_bounce_mailbox=mailbox.url("maildir"),
                                          newsletter_bounce_soft_limit=3, newsletter_bounce_soft_window=5)
    statuses = []
    for number in range(1, 5):
        messages = sent(["bob@example.com", "ann@example.com"], issue_name=f"issue-{number}.md")
        if number != 2:  # bob fails in sends 1, 3 and 4; the second reached him
            mailbox.deliver("postfix_mailbox_full.eml", messages["bob@example.com"])
        mailbox.deliver("postfix_delayed.eml", messages["ann@example.com"])  # a warning only, never a failure
        report = fetch(config)
        statuses.append((status(config, "bob@example.com"), status(config, "ann@example.com")))
        assert report.delayed == 1 and report.kept == 0
    assert statuses == [("active", "active")] * 3 + [("bounced", "active")]
    reason = _one(config.newsletter_database, "SELECT status_reason FROM subscribers WHERE email_key = 'bob@example.com'")[0]
    assert reason.startswith("bounce: 3 of the last 4 sends failed (latest 5.2.2)")


def test_over_pop3_a_bounce_is_deleted_and_a_reply_kept(sent, smtp_settings, mailbox):
    messages = sent(["ann@example.com", "eve@example.com"])
    mailbox.deliver("qmail_hard.eml", messages["ann@example.com"])
    mailbox.deliver("subscriber_reply.eml", messages["eve@example.com"])
    config = smtp_settings.with_overrides(newsletter_bounce_mailbox=mailbox.url("pop3"))
    report = fetch(config)
    assert (report.hard, report.removed, report.kept, report.unrecognised) == (1, 1, 1, 1)
    assert status(config, "ann@example.com") == "bounced"
    assert [s for s, _ in mailbox.subjects_and_flags()] == ["Re: Test issue"]
    events = event_rows(config)
    again = fetch(config)
    assert (again.read, again.removed, again.kept) == (1, 0, 1) and event_rows(config) == events


def test_maildir_moves_recognised_mail_to_the_folder_and_matches_by_message_id_without_verp(
        sent, smtp_settings, mailbox):
    # Sent before NEWSLETTER_BOUNCE_ADDRESS was set: the envelope is the From address, no VERP.
    plain = smtp_settings.with_overrides(newsletter_bounce_address="")
    messages = sent(["ann@example.com", "bob@example.com", "cy@example.com"], config=plain)
    assert {verp for verp, _, _ in messages.values()} == {"newsletter@example.org"}
    mailbox.deliver("exim_dsn.eml", messages["ann@example.com"])  # our Message-ID + ann as Final-Recipient
    mailbox.deliver("gmail_hard.eml", messages["bob@example.com"])
    # A report quoting bob's Message-ID but about someone else (a forward): not bob's bounce.
    verp, _, message_id = messages["bob@example.com"]
    mailbox.deliver("yahoo_text.eml", (verp, "someone.else@example.net", message_id))
    # A forged VERP token is no match either.
    forged = (f"bounces+{'a' * 26}@news.example.org", "cy@example.com", "<1.1.00@example.org>")
    mailbox.deliver("postfix_hard.eml", forged)
    config = smtp_settings.with_overrides(newsletter_bounce_mailbox=mailbox.url("maildir"),
                                          newsletter_bounce_folder="Processed")
    report = fetch(config)
    assert (report.hard, report.unmatched, report.moved, report.kept) == (2, 2, 2, 2)
    assert status(config, "ann@example.com") == status(config, "bob@example.com") == "bounced"
    assert status(config, "cy@example.com") == "active"
    matched = _one(config.newsletter_database, "SELECT COUNT(*) FROM events WHERE raw LIKE '%\"matched_by\":\"message-id\"%'")
    assert matched[0] == 2
    inbox = Path(mailbox.url("maildir").removeprefix("maildir://"))
    moved = inbox / ".Processed"
    assert len(os.listdir(moved / "new")) + len(os.listdir(moved / "cur")) == 2
    assert len(os.listdir(inbox / "new")) + len(os.listdir(inbox / "cur")) == 2
    again = fetch(config)
    assert (again.read, again.moved, again.kept, again.suppressed) == (2, 0, 2, 0)


def test_cli_bounces_fetch_prints_a_summary(sent, smtp_settings, mailbox, monkeypatch):
    from typer.testing import CliRunner

    from newsletter.cli import app

    messages = sent(["ann@example.com"])
    mailbox.deliver("exchange_hard.eml", messages["ann@example.com"])
    mailbox.deliver("auto_reply.eml", messages["ann@example.com"])
    config = smtp_settings.with_overrides(newsletter_bounce_mailbox=mailbox.url("imap"))
    for name, value in settings_env(config).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["bounces", "fetch"])
    assert result.exit_code == 0, result.output
    assert "2 messages read: 1 hard bounces, 0 soft bounces, 0 delay notices, 0 complaints, 1 auto-replies" in result.stdout
    assert "1 addresses suppressed" in result.stdout and "1 removed, 1 kept" in result.stdout
    assert mailbox.password not in result.output

    wrong = config.with_overrides(newsletter_bounce_mailbox=mailbox.url("imap").replace(mailbox.password, "wrong-pw"))
    for name, value in settings_env(wrong).items():
        monkeypatch.setenv(name, value)
    refused = CliRunner().invoke(app, ["bounces", "fetch"])
    assert refused.exit_code == 2 and "login refused" in refused.output and "wrong-pw" not in refused.output
    monkeypatch.setenv("NEWSLETTER_BOUNCE_MAILBOX", "")
    unset = CliRunner().invoke(app, ["bounces", "fetch"])
    assert unset.exit_code == 2 and "NEWSLETTER_BOUNCE_MAILBOX" in unset.output


def test_over_imap_recognised_mail_moves_to_the_folder_and_the_rest_stays(sent, smtp_settings, mailbox):
    messages = sent(["ann@example.com", "bob@example.com"])
    mailbox.deliver("gmail_hard.eml", messages["ann@example.com"])
    mailbox.deliver("postfix_delayed.eml", messages["bob@example.com"])
    mailbox.deliver("subscriber_reply.eml", messages["bob@example.com"])
    config = smtp_settings.with_overrides(newsletter_bounce_mailbox=mailbox.url("imap"),
                                          newsletter_bounce_folder="Processed")
    report = fetch(config)
    assert (report.hard, report.delayed, report.moved, report.removed, report.kept) == (1, 1, 2, 0, 1)
    assert [s for s, _ in mailbox.subjects_and_flags()] == ["Re: Test issue"]
    conn = mailbox.imap()
    try:
        typ, data = conn.select('"Processed"', readonly=True)
        assert typ == "OK" and int(data[0]) == 2
    finally:
        conn.logout()
    assert status(config, "ann@example.com") == "bounced" and status(config, "bob@example.com") == "active"


@pytest.mark.parametrize("move_to", ["", "Processed"])
def test_imap_without_move_or_uidplus_copies_flags_and_expunges_only_what_it_was_told(mailbox, move_to):
    from newsletter.tracking.bounces.mailboxes import open_mailbox

    for name in ("gmail_hard.eml", "subscriber_reply.eml"):
        mailbox.deliver(name, ("bounces+x@news.example.org", "ann@example.com", "<1.1.00@example.org>"))
    box = open_mailbox(mailbox.url("imap"), move_to)
    try:
        assert {"MOVE", "UIDPLUS"} <= box.capabilities  # Dovecot has both: take them away for the older path
        box.capabilities -= {"MOVE", "UIDPLUS"}
        first, _ = box.keys()
        box.remove(first)
        box.finish()
    finally:
        box.close()
    assert [s for s, _ in mailbox.subjects_and_flags()] == ["Re: Test issue"]
    conn = mailbox.imap()
    try:
        typ, data = conn.select('"Processed"', readonly=True)
        assert (typ == "OK" and int(data[0]) == 1) if move_to else typ == "NO"
    finally:
        conn.logout()
