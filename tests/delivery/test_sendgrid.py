"""Sending through a local stand-in speaking SendGrid's v3 mail send (limits checked on every request)."""

from __future__ import annotations

import pytest

from newsletter.delivery import sendgrid as sg
from tests.delivery.fakes import send, table_counts


@pytest.fixture(autouse=True)
def no_real_waiting(monkeypatch):
    # Backoff is tested by counting attempts, not by waiting for it.
    monkeypatch.setattr(sg, "_sleep", lambda s: None)


def db_counts(database) -> tuple[int, ...]:
    return table_counts(database, "sends", "deliveries")


def test_large_send_in_batches_arrives_exactly_once_within_limits(sendgrid_settings, sendgrid_server, issue, make_list):
    emails = make_list("news", 2500, extra=[("odd@example.org", 'Smith; John, "Jr" <b>&</b>')])
    sendgrid_server.faults = [None, "429", None, "drop"]  # a 429 is repeated; the 3rd batch is dropped unanswered
    report = send(issue, sendgrid_settings)
    assert sendgrid_server.violations == []
    # The dropped request was never processed, but we cannot know that: in doubt, left alone.
    assert (report.totals.in_doubt, report.totals.failed, report.totals.accepted) == (501, 0, 2000)
    assert all(n == 1 for n in sendgrid_server.delivered.values())
    report = send(issue, sendgrid_settings)
    assert report.accepted == 0 and report.totals.in_doubt == 501  # still left alone
    report = send(issue, sendgrid_settings, resend_in_doubt=True)
    assert (report.accepted, report.totals.in_doubt, report.status) == (501, 0, "done")
    assert sendgrid_server.delivered == {e: 1 for e in emails}
    assert sendgrid_server.violations == []

    sample = next(a for a in sendgrid_server.accepted if a["personalization"]["to"][0]["email"] == "odd@example.org")
    p, body = sample["personalization"], sample["body"]
    assert p["to"][0]["name"] == 'Smith John "Jr" <b>&</b>'
    assert p["custom_args"]["subscriber_id"].isdigit() and p["custom_args"]["send_id"] == str(report.send_id)
    assert p["substitutions"]["%%name%%"] == "Smith; John, &quot;Jr&quot; &lt;b&gt;&amp;&lt;/b&gt;"
    assert p["substitutions"]["%%text:name%%"] == 'Smith; John, "Jr" <b>&</b>'
    assert p["headers"]["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/u/")
    assert "%%text:name%%" in body["content"][0]["value"] and "%%name%%" in body["content"][1]["value"]
    assert body["categories"] == ["News"]
    assert body["tracking_settings"]["open_tracking"]["enable"] is True
    plain = next(a for a in sendgrid_server.accepted if a["personalization"]["to"][0]["email"] == "sub1@example.org")
    assert "%%name%%" in plain["body"]["content"][0]["value"]  # no escaping needed: same keys in both parts


def test_413_splits_the_batch_and_sandbox_and_asm_are_passed(sendgrid_settings, sendgrid_server, issue, make_list):
    emails = make_list("news", 1000)
    sendgrid_server.too_large_over = 300
    config = sendgrid_settings.with_overrides(sendgrid_sandbox=True, sendgrid_asm_group_id=77)
    report = send(issue, config)
    assert (report.accepted, report.failed, report.in_doubt) == (1000, 0, 0)
    assert sendgrid_server.delivered == {e: 1 for e in emails}
    assert 413 in sendgrid_server.statuses
    assert max(len(r["personalizations"]) for r in sendgrid_server.requests if r in [a["body"] for a in sendgrid_server.accepted]) <= 300
    body = sendgrid_server.accepted[0]["body"]
    assert body["mail_settings"] == {"sandbox_mode": {"enable": True}} and body["asm"] == {"group_id": 77}


def test_400_fails_the_batch_with_sendgrids_message(sendgrid_settings, sendgrid_server, issue, make_list, monkeypatch):
    make_list("news", 3)
    monkeypatch.setattr(sg, "clean_name", lambda name: "Broken, Name")  # the stand-in answers 400
    report = send(issue, sendgrid_settings, retry_delays=())
    assert (report.accepted, report.failed) == (0, 3)
    assert "name with ';' or ','" in report.failures[0][1] and report.failures[0][1].startswith("HTTP 400")
    sendgrid_server.violations.clear()


def test_timeout_after_sending_leaves_the_batch_in_doubt(sendgrid_settings, sendgrid_server, issue, make_list):
    emails = make_list("news", 5)
    sendgrid_server.faults = ["timeout"]
    sendgrid_server.slow_s = 3.0
    report = send(issue, sendgrid_settings.with_overrides(sendgrid_timeout=1.0))
    assert (report.accepted, report.in_doubt) == (0, 5)
    report = send(issue, sendgrid_settings, skip_in_doubt=True)
    assert (report.accepted, report.totals.in_doubt, report.totals.skipped, report.status) == (0, 0, 5, "done")
    assert sendgrid_server.delivered == {e: 1 for e in emails}  # the stand-in got them exactly once


def test_429_is_repeated_a_bounded_number_of_times_then_the_batch_counts_as_failed(
        sendgrid_settings, sendgrid_server, issue, make_list):
    make_list("news", 2)
    sendgrid_server.faults = ["429"] * sg.MAX_ATTEMPTS
    report = send(issue, sendgrid_settings, retry_delays=())
    assert (report.accepted, report.failed) == (0, 2)
    assert len(sendgrid_server.requests) == sg.MAX_ATTEMPTS
    report = send(issue, sendgrid_settings, retry_failed=True)
    assert (report.accepted, report.failed, report.status) == (2, 0, "done")


@pytest.mark.parametrize("status", ["500", "502", "504"])
def test_5xx_after_the_request_went_out_is_in_doubt_and_never_repeated(sendgrid_settings, sendgrid_server, issue,
                                                                       make_list, status):
    sendgrid_server.faults = [status]
    make_list("news", 3)
    report = send(issue, sendgrid_settings, retry_delays=())
    assert (report.accepted, report.in_doubt, report.failed) == (0, 3, 0)
    assert len(sendgrid_server.requests) == 1  # a gateway may have answered after SendGrid took it
    report = send(issue, sendgrid_settings)
    assert len(sendgrid_server.requests) == 1 and report.totals.in_doubt == 3


def test_wrong_or_missing_api_key_is_one_line_and_writes_nothing(cli, sendgrid_settings, sendgrid_server, issue, make_list):
    make_list("news", 3)
    run = cli(sendgrid_settings.with_overrides(sendgrid_api_key="SG.wrong-key"), "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 2
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "refused the API key (HTTP 401)" in last
    assert "SG.wrong-key" not in run.output
    assert db_counts(sendgrid_settings.newsletter_database) == (0, 0)

    run = cli(sendgrid_settings.with_overrides(sendgrid_api_key=""), "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 2 and run.stderr.strip() == "Error: SENDGRID_API_KEY: is not set (needed for the sendgrid backend)"
    assert db_counts(sendgrid_settings.newsletter_database) == (0, 0)
    assert sendgrid_server.delivered == {}


def test_unreachable_api_is_retried_then_stops_with_nothing_half_written(sendgrid_settings, issue, make_list):
    from newsletter.errors import DeliveryError
    from tests.delivery.fakes import free_port

    make_list("news", 3)
    config = sendgrid_settings.with_overrides(sendgrid_api_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DeliveryError, match="unreachable after"):
        send(issue, config)
    assert db_counts(config.newsletter_database) == (0, 0)


def test_several_requests_in_flight_never_more_than_the_bound(sendgrid_settings, sendgrid_server, issue, make_list):
    emails = make_list("news", 6000)
    sendgrid_server.latency_s = 0.3  # a provider's round trip, so requests overlap
    report = send(issue, sendgrid_settings.with_overrides(newsletter_concurrency=3))
    assert report.status == "done" and sendgrid_server.delivered == {e: 1 for e in emails}
    assert len(sendgrid_server.requests) == 6 and sendgrid_server.max_active == 3
    assert sendgrid_server.violations == []


def test_the_rate_limit_holds_across_requests_in_flight(sendgrid_settings, sendgrid_server, issue, make_list):
    make_list("news", 600)
    report = send(issue, sendgrid_settings.with_overrides(newsletter_concurrency=4), rate=200.0)
    assert report.status == "done" and len(sendgrid_server.requests) == 3  # batches of 200 at 200/s
    first, *_, last = sendgrid_server.arrivals
    assert last - first >= 2 * 200 / 200.0 * 0.95  # the third batch may leave 2 s after the first, not sooner


def test_failures_of_requests_in_flight_are_each_recorded(sendgrid_settings, sendgrid_server, issue, make_list):
    emails = make_list("news", 4000)
    sendgrid_server.latency_s = 0.2
    sendgrid_server.faults = [None, "500-after", "400", "drop-after"]  # which batch gets which is up to the race
    report = send(issue, sendgrid_settings.with_overrides(newsletter_concurrency=4), retry_delays=())
    assert (report.totals.accepted, report.totals.failed, report.totals.in_doubt) == (1000, 1000, 2000)
    assert sum(sendgrid_server.delivered.values()) == 3000  # the 400 took nothing
    assert max(sendgrid_server.delivered.values()) == 1 and set(sendgrid_server.delivered) <= set(emails)
    assert sendgrid_server.violations == []
