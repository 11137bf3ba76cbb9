"""The dashboard's send page shows a subject test: variants, subjects (escaped), figures, the decision."""

from __future__ import annotations

from newsletter.server.dashboard_pages import send_body
from newsletter.store import connect, sends, subject_tests, transaction
from newsletter.store import subscribers as people
from newsletter.store.segments import Audience
from newsletter.store.sends import SendVersion
from newsletter.store.subject_tests import Decision, SubjectTest
from newsletter.tracking.report import send_report


def test_the_send_page_shows_the_test_then_its_decision(database):
    conn = connect(database)
    with transaction(conn):
        list_id = people.ensure_list(conn, "news")
        for i in range(10):
            sid, _, _ = people.upsert_subscriber(conn, f"p{i}@example.org", "", {})
            people.add_membership(conn, list_id, sid)
    send_id, _, _ = sends.create_send(conn, "x", list_id, Audience("news"), SendVersion("h", "Issue <1>", [], "smtp"),
                                      SubjectTest(("Try <b>this</b>",), 40, 3600, "opens"))
    html = send_body(send_report(conn, send_id))
    assert 'data-section="subject-test"' in html and "40% of the audience" in html
    assert "Try &lt;b&gt;this&lt;/b&gt;" in html and "<b>this</b>" not in html
    assert "most human opens at" in html and "ties go to A" in html
    counts = subject_tests.variant_counts(conn, send_id)
    subject_tests.decide(conn, send_id, Decision("B", counts, 0.83, "Ada <ada@example.org>", "2026-12-07T12:00:00Z"))
    html = send_body(send_report(conn, send_id))
    assert "B (winner)" in html and "Decided: B by Ada &lt;ada@example.org&gt;" in html and "83% sure" in html
    conn.close()
