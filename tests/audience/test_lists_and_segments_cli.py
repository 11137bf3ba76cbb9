"""`newsletter lists create|update`, `newsletter form` and `newsletter segments [save]` through the real CLI."""

from __future__ import annotations

import json

from tests.audience.helpers import add_people


def test_lists_create_update_and_show(cli, settings):
    run = cli(settings, "lists", "create", "news", "--title", "The Harbour News", "--signup")
    assert run.exit_code == 0, run.output
    assert "title 'The Harbour News', signup on" in run.stdout
    assert cli(settings, "lists", "create", "staff").exit_code == 0
    assert cli(settings, "lists").stdout.splitlines() == [
        "news\t0 members\t0 active\t0 pending\tsignup on\tThe Harbour News",
        "staff\t0 members\t0 active\t0 pending\tsignup off",
    ]
    run = cli(settings, "lists", "update", "news", "--no-signup")
    assert run.exit_code == 0 and "signup off" in run.stdout and "The Harbour News" in run.stdout
    run = cli(settings, "lists", "update", "staff", "--title", "Staff only")
    assert "title 'Staff only', signup off" in run.stdout


def test_lists_errors_are_one_line(cli, settings):
    assert cli(settings, "lists", "create", "news").exit_code == 0
    cases = [
        (("lists", "create", "news"), "Error: news: a list of that name exists"),
        (("lists", "update", "nope", "--signup"), "Error: nope: no such list"),
        (("lists", "create", "a/b"), "without '/'"),
        (("lists", "update", "news", "--title", "bad\nline"), "Error: --title:"),
        (("form", "news"), "Error: news: signup is off for this list"),
        (("form", "nope"), "Error: nope: no such list"),
    ]
    for args, message in cases:
        run = cli(settings, *args)
        assert run.exit_code == 2, (args, run.output)
        assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_form_prints_a_snippet_with_escaped_values(cli, settings):
    config = settings.with_overrides(newsletter_public_url="https://news.example.org/",
                                     newsletter_consent_text='I agree to "news" & <updates>.')
    assert cli(config, "lists", "create", "harbour news", "--title", "<b>Harbour</b>", "--signup").exit_code == 0
    run = cli(config, "form", "harbour news")
    assert run.exit_code == 0, run.output
    html = run.stdout
    assert 'action="https://news.example.org/subscribe/harbour%20news"' in html
    assert "I agree to &quot;news&quot; &amp; &lt;updates&gt;." in html
    assert "Subscribe to &lt;b&gt;Harbour&lt;/b&gt;" in html and "<b>" not in html
    assert 'name="website" tabindex="-1"' in html and "left:-10000px" in html  # the honeypot, hidden inline
    assert 'type="checkbox" name="consent" value="yes" required' in html


def test_segments_save_and_list(cli, settings):
    add_people(settings.newsletter_database, "news", [
        ("a@example.org", {"city": "Oslo", "team": "red"}),
        ("b@example.org", {"city": "Oslo"}),
        ("c@example.org", {"city": "Bergen"}),
    ])
    run = cli(settings, "segments", "save", "oslo-not-red", "--list", "news", "--where", "City=Oslo", "--where", "team!=red")
    assert run.exit_code == 0, run.output
    assert "Segment 'oslo-not-red' created: list news, city=Oslo team!=red, 1 members now" in run.stdout
    run = cli(settings, "segments", "save", "oslo-not-red", "--list", "news", "--where", "city=Oslo")
    assert "updated" in run.stdout and "2 members now" in run.stdout
    assert cli(settings, "segments").stdout.splitlines() == ["oslo-not-red\tlist news\tcity=Oslo\t2 members"]
    [segment] = json.loads(cli(settings, "segments", "--json").stdout)  # one JSON document
    assert segment["where"] == ["city=Oslo"] and segment["members"] == 2


def test_segment_errors_name_the_problem(cli, settings):
    add_people(settings.newsletter_database, "news", [("a@example.org", {})])
    cases = [
        (("--list", "news", "--where", "city"), "Error: --where: 'city' has no '=': write KEY=VALUE or KEY!=VALUE"),
        (("--list", "news", "--where", "=Oslo"), "Error: --where: '=Oslo' has no attribute name before '='"),
        (("--list", "news", "--where", "!=Oslo"), "has no attribute name before '!='"),
        (("--list", "news", "--where", 'ci"ty=Oslo'), "may not contain"),
        (("--list", "nope", "--where", "city=Oslo"), "Error: nope: no such list"),
    ]
    for args, message in cases:
        run = cli(settings, "segments", "save", "s1", *args)
        assert run.exit_code == 2, (args, run.output)
        assert message in run.stderr, run.stderr
    assert cli(settings, "segments", "save", "bad name", "--list", "news", "--where", "a=b").exit_code == 2
    assert "No segments yet" in cli(settings, "segments").stdout
