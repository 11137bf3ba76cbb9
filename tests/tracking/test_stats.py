"""``newsletter stats``: choosing sends, the table, and errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.tracking.provider_events import ingest_sendgrid
from newsletter.tracking.stats import collect_stats


def test_stats_by_slug_issue_file_and_all(tmp_path, seed_send, settings, cli_env):
    first = seed_send(slug="first-issue")
    seed_send(slug="first-issue", list_name="staff", emails=("staff@example.org",))
    seed_send(slug="second-issue")
    issue = tmp_path / "whatever-name.md"
    issue.write_text("---\nslug: second-issue\ntitle: Hi\n---\nBody\n", encoding="utf-8")
    runner = CliRunner()
    by_slug = json.loads(runner.invoke(app, ["stats", "first-issue", "--json"], env=cli_env).output)
    assert [(s["slug"], s["list"], s["recipients"]) for s in by_slug] == [("first-issue", "main", 3),
                                                                           ("first-issue", "staff", 1)]
    by_file = json.loads(runner.invoke(app, ["stats", str(issue), "--json"], env=cli_env).output)
    assert [s["slug"] for s in by_file] == ["second-issue"]
    assert len(json.loads(runner.invoke(app, ["stats", "--json"], env=cli_env).output)) == 3
    assert collect_stats(settings, "first-issue")[0].send_id == first["send_id"]


def test_rates_fall_back_to_accepted_without_delivery_events(db, seed_send, settings):
    ids = seed_send()
    ingest_sendgrid(db, [{"event": "open", "sg_event_id": "o1", "send_id": str(ids["send_id"]),
                          "subscriber_id": str(ids["subscribers"][0]), "timestamp": 1795000000,
                          "useragent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Thunderbird/126.0"}])
    [stats] = collect_stats(settings)
    assert stats.rate_base == "accepted" and stats.open_rate == round(1 / 3, 4) and stats.click_rate == 0.0


def test_table_output_names_the_figures_and_the_apple_caveat(seed_send, cli_env):
    seed_send()
    result = CliRunner().invoke(app, ["stats"], env={**cli_env, "COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for label in ("Recipients", "Accepted", "Delivered", "Bounced", "Human opens", "Human clicks",
                  "Unsubscribes", "Spam reports", "Apple Mail Privacy Protection"):
        assert label in result.output


def test_unknown_issue_and_empty_database(tmp_path, cli_env):
    runner = CliRunner()
    assert runner.invoke(app, ["stats"], env=cli_env).output == "No sends yet.\n"
    missing = runner.invoke(app, ["stats", "no-such-slug"], env=cli_env)
    assert missing.exit_code == 2 and missing.output.startswith("Error: no-such-slug: no send found")
    nofile = runner.invoke(app, ["stats", str(tmp_path / "gone.md")], env=cli_env)
    assert nofile.exit_code == 2 and "no such issue file" in nofile.output


def test_serve_without_a_signing_key_is_one_clear_line(cli_env):
    result = CliRunner().invoke(app, ["serve", "--port", "0"], env={**cli_env, "NEWSLETTER_SECRET_KEY": ""})
    assert result.exit_code == 2
    assert result.output.startswith("Error: NEWSLETTER_SECRET_KEY: must be set") and "Traceback" not in result.output


def test_recipients_are_counted_once_by_id_or_by_address_and_machine_opens_apart(db, seed_send, settings):
    ids = seed_send()
    send, (ann, bob, _) = str(ids["send_id"]), ids["subscribers"]

    def event(n, kind, subscriber="", email="", **extra):
        return {"event": kind, "sg_event_id": f"x{n}", "send_id": send, "subscriber_id": str(subscriber),
                "email": email, "timestamp": 1795000000 + n, **extra}

    human = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    ingest_sendgrid(db, [
        event(1, "open", ann, sg_machine_open=True), event(2, "open", ann), event(3, "open", bob, sg_machine_open="true"),
        event(4, "open", email="Stranger@Example.org", sg_machine_open=False),  # matches no subscriber
        event(5, "open", email="stranger@example.org", useragent=human),
        event(6, "click", ann, url="https://example.org/b", useragent=human),
        event(7, "click", email="stranger@example.org", url="https://example.org/b"),
        event(8, "click", email="other@example.org", url="https://example.org/b", useragent="python-requests/2.32"),
        event(9, "click", bob, url="https://example.org/a"), event(10, "unsubscribe", bob),
        event(11, "group_unsubscribe", bob), event(12, "delivered", ann),
    ])
    [stats] = collect_stats(settings)
    # ann: a machine open, then a human click (upgraded); bob: a machine open and an unknown click;
    # the stranger (by address): a human open; other@: a script's click (a machine open and click).
    assert (stats.unique_opens, stats.unique_clicks) == (3, 4)
    assert (stats.human_opens, stats.unknown_opens, stats.machine_opens) == (2, 1, 1)
    assert (stats.human_clicks, stats.unknown_clicks, stats.machine_clicks) == (1, 2, 1)
    assert (stats.unsubscribes, stats.delivered, stats.bounced) == (1, 1, 0)
    assert [(link.url, link.clicks, link.unique_clicks) for link in stats.top_links] == [
        ("https://example.org/b", 3, 3), ("https://example.org/a", 1, 1)]
