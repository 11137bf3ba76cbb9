"""The dashboard's figures (``tracking.report``) from a seeded database, on SQLite and PostgreSQL."""

from __future__ import annotations

from newsletter.store import rollups
from newsletter.tracking import providers
from newsletter.tracking.report import list_reports, send_report, send_summaries
from tests.tracking.dashboard_seed import EXPECTED, seed_dashboard


def test_send_report_matches_the_seeded_events(db, settings):
    ids = seed_dashboard(settings.newsletter_database)
    report = send_report(db, ids["done"])
    assert dict(report.funnel) == EXPECTED["funnel"]
    hours = {h.hour: (h.human_opens, h.human_clicks, h.machine_opens, h.machine_clicks) for h in report.hours
             if h.human_opens or h.human_clicks or h.machine_opens or h.machine_clicks}
    assert hours == EXPECTED["hours"] and len(report.hours) == 72
    assert {d.domain: (d.recipients, d.bounced, d.complaints) for d in report.domains} == EXPECTED["domains"]
    assert {p.provider: p.recipients for p in report.providers} == EXPECTED["providers"]
    assert {p.provider: p.human_opens for p in report.providers if p.human_opens} == EXPECTED["provider_opens"]
    assert report.summary.in_doubt == 1 and report.summary.status == "partial"
    # The finished send's domains were rolled up; the page reads the roll-up next time, and it agrees.
    assert db.execute("SELECT SUM(recipients) FROM send_domains WHERE send_id = ?", (ids["done"],)).fetchone()[0] == 10
    again = send_report(db, ids["done"])
    assert {p.provider: p.recipients for p in again.providers} == EXPECTED["providers"]
    assert send_report(db, 999) is None


def test_a_live_send_is_live_and_not_rolled_up(db, settings):
    ids = seed_dashboard(settings.newsletter_database)
    by_id = {s.send_id: s for s in send_summaries(db)}
    live = by_id[ids["live"]]
    assert (live.status, live.live, live.accepted, live.in_flight, live.pending) == ("sending", True, 4, 2, 4)
    send_report(db, ids["live"])
    assert db.execute("SELECT COUNT(*) FROM send_domains WHERE send_id = ?", (ids["live"],)).fetchone()[0] == 0


def test_lists_count_back_from_todays_members(db, settings):
    seed_dashboard(settings.newsletter_database)
    [news] = list_reports(db)
    members = [w[3] for w in news.weeks]
    assert news.members == EXPECTED["members_now"] and members[-1] == 7 and members[-2] == 10
    assert sum(w[1] for w in news.weeks) == 10 and sum(w[2] for w in news.weeks) == 3


def test_mailbox_providers_by_domain():
    assert providers.provider_of("GMAIL.com") == "Gmail" and providers.provider_of("hotmail.co.uk") == "Outlook/Microsoft"
    assert providers.provider_of("me.com") == "Apple iCloud" and providers.provider_of("example.org") == "Others"


def test_rollups_folded_one_by_one_equal_those_rebuilt_in_sql(db, settings):
    ids = seed_dashboard(settings.newsletter_database)
    send = ids["done"]

    def snapshot():
        return (sorted(rollups.domain_counts(db, send).items()),
                sorted(rollups.hour_counts(db, send, "2000", "3000")),
                sorted(tuple(r) for r in db.execute("SELECT * FROM send_recipient_facts WHERE send_id = ?", (send,))))

    assert rollups.catch_up(db, send) == 19  # few events: folded one by one
    one_by_one = snapshot()
    for table in ("send_rollups", "send_recipient_facts", "send_domain_counts", "send_hour_counts"):
        db.execute(f"DELETE FROM {table} WHERE send_id = ?", (send,))
    assert rollups.catch_up(db, send, rebuild_over=0) == 19  # as a large send is: rebuilt in SQL
    assert snapshot() == one_by_one and one_by_one[0] and one_by_one[1]
    assert rollups.catch_up(db, send) == 0  # nothing new
