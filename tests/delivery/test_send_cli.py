"""``send``, ``sends`` and ``test-send`` through the CLI with the outbox backend."""

from __future__ import annotations

import email
import email.policy

import pytest

from newsletter.store.runs import Process
from newsletter.store.segments import Audience
from newsletter.store.sends import SendVersion
from tests.delivery.fakes import send, table_counts


def counts(database) -> tuple[int, ...]:
    return table_counts(database, "sends", "deliveries")


def test_outbox_send_plan_summary_and_sends_listing(cli, settings, issue, make_list, tmp_path):
    make_list("news", 3)
    run = cli(settings, "send", issue, "--list", "news", "--dry-run")
    assert run.exit_code == 0 and "Recipients: 3 to send (0 suppressed, 0 already sent)" in run.stdout
    assert "Backend:    outbox" in run.stdout and "Subject:    Test issue" in run.stdout
    assert counts(settings.newsletter_database) == (0, 0)
    assert not (tmp_path / "outbox").exists()

    run = cli(settings, "send", issue, "--list", "news")  # no terminal, no --yes
    assert run.exit_code == 2 and "pass --yes" in run.stderr
    assert counts(settings.newsletter_database) == (0, 0)

    run = cli(settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 0, run.output
    assert "Send 1 (done): 3 accepted, 0 failed, 0 in doubt, 0 skipped" in run.stdout
    files = sorted((tmp_path / "outbox" / "1").glob("*.eml"))
    assert len(files) == 3
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["To"] == "Subscriber 1 <sub1@example.org>"
    assert "Hello Subscriber 1, welcome" in msg.get_body(("plain",)).get_content()

    run = cli(settings, "sends")
    header, row = run.stdout.splitlines()
    assert header == "ID\tISSUE\tLIST\tBACKEND\tSTATUS\tRECIPIENTS\tCREATED"
    assert row.startswith("1\ttest-issue\tnews\toutbox\tdone\t3 recipients, 3 accepted")
    assert row.endswith(" UTC")  # no NEWSLETTER_TIMEZONE: UTC, and says so


def test_changed_issue_after_partial_send_needs_allow_changed(cli, settings, issue, make_list):
    make_list("news", 3)
    assert cli(settings, "send", issue, "--list", "news", "--yes").exit_code == 0
    make_list("news", 5)  # two new members
    issue.write_text(issue.read_text().replace("welcome", "hello again"))
    run = cli(settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 2 and "--allow-changed" in run.stderr
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--allow-changed")
    # The audience was fixed when the send started: the two who joined wait for --include-new.
    assert run.exit_code == 0 and "Joined:     2 joined the list after the send started" in run.stdout
    assert "this run: 0 accepted" in run.stdout
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--allow-changed", "--include-new")
    assert run.exit_code == 0 and "this run: 2 accepted" in run.stdout


def test_refusals_are_one_line(cli, settings, issue, make_list, write_issue):
    make_list("news", 1)
    broken = write_issue("No title here.\n", frontmatter="author: x", name="broken.md")
    cases = [
        (settings, ("send", issue, "--list", "nope", "--yes"), "no such list"),
        (settings.with_overrides(newsletter_secret_key=""), ("send", issue, "--list", "news", "--yes"), "NEWSLETTER_SECRET_KEY"),
        (settings.with_overrides(newsletter_backend="pigeon"), ("send", issue, "--list", "news", "--yes"), "unknown backend"),
        (settings, ("send", broken, "--list", "news", "--yes"), "broken.md"),
        (settings, ("test-send", issue), "no reviewers"),
    ]
    for config, args, message in cases:
        run = cli(config, *args)
        assert run.exit_code != 0, args
        last = run.stderr.strip().splitlines()[-1]
        assert last.startswith("Error: ") and message in last, (args, run.stderr)
        assert "Traceback" not in run.output
    assert counts(settings.newsletter_database) == (0, 0)


def test_test_send_to_reviewers_with_screenshots(cli, settings, issue, tmp_path, monkeypatch):
    import newsletter.review.screenshots as screenshots

    def fake_capture(result, out_dir):  # Chromium is tested in tests/review; here: the attaching
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = [out_dir / f"{result.issue.slug}-{w}-{s}.png" for w in (375, 600) for s in ("light", "dark")]
        for p in paths:
            p.write_bytes(b"\x89PNG\r\n\x1a\n" + p.name.encode())
        return paths

    monkeypatch.setattr(screenshots, "capture", fake_capture)
    config = settings.with_overrides(newsletter_reviewers="rev1@example.org, rev2@example.org")
    run = cli(config, "test-send", issue, "--screenshots")
    assert run.exit_code == 0, run.output
    assert "rev1@example.org: accepted" in run.stdout and "4 screenshots attached" in run.stdout
    assert run.stderr == ""  # the spinner shows only on a terminal (tests/cli/test_messages.py)
    files = sorted((tmp_path / "outbox").glob("test-*/*.eml"))
    assert len(files) == 2
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "[TEST] Test issue"
    assert msg.get_content_type() == "multipart/mixed"
    assert "Hello Alex Example, welcome" in msg.get_body(("plain",)).get_content()
    assert len([p for p in msg.iter_attachments() if p.get_content_type() == "image/png"]) == 4
    assert not (tmp_path / "newsletter.db").exists()  # not recorded as a send: the database is not even opened

    run = cli(config, "test-send", issue, "--to", "other@example.org")
    assert run.exit_code == 0 and "other@example.org: accepted" in run.stdout


def test_tracking_rewrites_links_for_outbox(settings, issue, make_list, tmp_path):
    from newsletter import tokens

    make_list("news", 1)
    report = send(issue, settings.with_overrides(newsletter_tracking=True))
    assert report.accepted == 1
    data = next((tmp_path / "outbox" / "1").glob("*.eml")).read_bytes()
    html = email.message_from_bytes(data, policy=email.policy.default).get_body(("html",)).get_content()
    assert "/c/" in html and "/o/" in html
    token = html.split("/c/", 1)[1].split('"', 1)[0]
    assert tokens.read_click(settings.newsletter_secret_key, token)[:2] == (report.send_id, 1)



@pytest.mark.sqlite_only  # a second path to the same file
def test_a_send_held_by_a_live_run_is_refused_whatever_path_names_the_database(cli, settings, issue, make_list, tmp_path):
    """The lease is in the database: a second run through a symlink to it refuses too, and writes nothing."""
    import os

    from newsletter.delivery.lease import HOST, process_started
    from newsletter.store import connect, runs

    make_list("news", 2)
    assert cli(settings, "send", issue, "--list", "news", "--yes", "--dry-run").exit_code == 0
    conn = connect(settings.newsletter_database)
    from newsletter.store import ledger, sends

    send_id, _, _ = sends.create_send(conn, "test-issue", 1, Audience(), SendVersion("x", "Test issue", [], "outbox"))
    pid = os.getpid()  # a live process on this host holds the lease
    run_id, _, _ = runs.start(conn, send_id, Process("other", HOST, pid, process_started(pid)), lease_s=60, is_gone=lambda run: False)
    link = tmp_path / "alias.db"
    link.symlink_to(settings.newsletter_database)
    run = cli(settings.with_overrides(newsletter_database=str(link)), "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 1 and f"send {send_id} is being sent by process {pid}" in run.stderr
    assert ledger.counts(conn, send_id)["queued"] == 2
    assert not (tmp_path / "outbox").exists()
    runs.end(conn, run_id, send_id, "finished")  # the holder exits
    conn.close()
    run = cli(settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 0 and "this run: 2 accepted" in run.stdout


def test_html_gmail_would_clip_is_refused_unless_allowed(cli, settings, make_list, tmp_path):
    from tests.compose.sample_issues import write_long_issue

    make_list("news", 2)
    issue = write_long_issue(tmp_path)
    run = cli(settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 2 and "Traceback" not in run.output
    line = run.stderr.strip().splitlines()[-1]
    assert "Gmail clips it after 102 KB" in line and "pass --allow-clipping" in line
    assert counts(settings.newsletter_database) == (0, 0)
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--allow-clipping")
    assert run.exit_code == 0 and "this run: 2 accepted" in run.stdout


def test_a_refused_second_run_leaves_the_send_as_the_live_run_has_it(cli, settings, issue, make_list):
    """Asking for another backend (or sending a changed issue) while a run holds the send is refused before
    anything is written: the live run's send keeps its backend, version and links."""
    import os

    from newsletter.delivery.lease import HOST, process_started
    from newsletter.store import connect, runs, sends

    make_list("news", 2)
    conn = connect(settings.newsletter_database)
    send_id, _, _ = sends.create_send(conn, "test-issue", 1, Audience(), SendVersion("x", "Old subject", ["https://old.example.org/"], "outbox"))
    pid = os.getpid()  # a live process on this host holds the lease
    runs.start(conn, send_id, Process("other", HOST, pid, process_started(pid)), lease_s=60,
               is_gone=lambda run: False)
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--backend", "smtp")
    assert run.exit_code == 1 and "is being sent by process" in run.stderr
    send = sends.get_send(conn, send_id)
    conn.close()
    assert (send["backend"], send["html_sha256"], send["subject"], send["links"]) == (
        "outbox", "x", "Old subject", '["https://old.example.org/"]')
