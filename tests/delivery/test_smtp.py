"""Sending through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy

from newsletter import tokens
from newsletter.store import connect
from newsletter.store import sends as send_rows
from tests.delivery.fakes import send, table_counts

BOB = ("bob@example.org", '<b>Bob & "Co"</b>')


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def test_send_via_smtp_headers_parts_personalisation_and_escaping(cli, smtp_settings, smtp_server, issue, make_list):
    handler, _ = smtp_server
    make_list("news", 5, extra=[BOB, ("off@example.org", "Off")])
    cli(smtp_settings, "subscribers", "unsubscribe", "off@example.org")
    run = cli(smtp_settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 0, run.output
    assert "Recipients: 6 to send (1 suppressed, 0 already sent)" in run.stdout
    assert "Send 1 (done): 6 accepted, 0 failed, 0 in doubt" in run.stdout
    assert handler.delivered() == {f"sub{i}@example.org": 1 for i in range(1, 6)} | {"bob@example.org": 1}

    mail_from, rcpts, data = next(m for m in handler.messages if m[1] == ["bob@example.org"])
    msg = parse(data)
    assert mail_from == "newsletter@example.org"
    assert msg["To"].addresses[0].display_name == '<b>Bob & "Co"</b>'
    assert msg["Subject"] == "Test issue"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert 'Hello <b>Bob & "Co"</b>, welcome' in text
    assert "Hello &lt;b&gt;Bob &amp; &quot;Co&quot;&lt;/b&gt;, welcome" in html
    # The unsubscribe URL is a signed token naming this subscriber and send.
    url = msg["List-Unsubscribe"].strip("<>")
    assert url.startswith(smtp_settings.newsletter_public_url + "/u/")
    conn = connect(smtp_settings.newsletter_database)
    bob_id = conn.execute("SELECT id FROM subscribers WHERE email_key = 'bob@example.org'").fetchone()[0]
    send = send_rows.listing(conn)[0]
    assert tokens.read_unsubscribe(smtp_settings.newsletter_secret_key, url.rsplit("/", 1)[1]) == (bob_id, send["id"])
    assert f'href="{url}"' in html
    assert (send["recipients"], send["accepted"]) == (6, 6)
    conn.close()

    # Running the same command again sends nobody anything.
    run = cli(smtp_settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 0 and "0 accepted" in run.stdout
    assert len(handler.messages) == 6


def test_smtp_4xx_is_retried_and_5xx_fails_that_recipient(smtp_settings, smtp_server, issue, make_list):
    handler, _ = smtp_server
    make_list("news", 4)
    handler.refuse = {"sub2@example.org": "451 try again later", "sub3@example.org": "550 no such user"}
    report = send(issue, smtp_settings.with_overrides(smtp_connections=2), retry_delays=(0.1,))
    assert (report.accepted, report.failed, report.in_doubt) == (3, 1, 0)
    assert report.failures == [("sub3@example.org", "RCPT TO refused: 550 no such user")]
    assert handler.delivered() == {"sub1@example.org": 1, "sub2@example.org": 1, "sub4@example.org": 1}
    # --retry-failed tries the refused one again (it still refuses).
    handler.refuse = {"sub3@example.org": "550 no such user"}
    report = send(issue, smtp_settings, retry_failed=True, retry_delays=())
    assert (report.accepted, report.failed) == (0, 1)
    handler.refuse = {}
    report = send(issue, smtp_settings, retry_failed=True, retry_delays=())
    assert (report.accepted, report.failed, report.status) == (1, 0, "done")
    assert handler.delivered()["sub3@example.org"] == 1 and sum(handler.delivered().values()) == 4


def test_unreachable_smtp_host_is_one_line_and_writes_nothing(cli, settings, issue, make_list, tmp_path):
    from tests.delivery.fakes import free_port

    make_list("news", 3)
    config = settings.with_overrides(newsletter_backend="smtp", smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=5.0)
    run = cli(config, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 1
    assert run.stderr.strip().splitlines()[-1].startswith("Error: 127.0.0.1:")
    assert "cannot connect to SMTP server" in run.stderr and "Traceback" not in run.output
    assert table_counts(config.newsletter_database, "sends", "deliveries") == (0, 0)
