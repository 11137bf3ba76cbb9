"""Names in messages (issue 19, points 5 and 6): %%first_name%%, a personal subject on every backend,
and review copies addressed to the reviewer."""

from __future__ import annotations

import email
import email.policy
import html

import pytest

from newsletter.compose import compose_issue
from newsletter.delivery.base import Recipient
from newsletter.personalize import first_name, personalize
from newsletter.review.new_issue import new_issue

BODY = """
Hi %%first_name%%, this is for %%name%%.

Read [the post](https://news.example.org/blog/post).
"""
FRONTMATTER = """
title: "Test issue"
subject: "%%first_name%%, your news"
seo:
  url: https://news.example.org/blog/test
  description: A test preheader
"""
PEOPLE = [("emeka@example.org", "Emeka Okafor"), ("nameless@example.org", ""), ("ana@example.org", "  Ana  ")]


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


@pytest.fixture
def named_issue(write_issue):
    return write_issue(BODY, FRONTMATTER)


def test_first_name_is_the_first_word_of_the_name_with_the_same_fallback():
    assert [first_name(n) for n in ("Emeka Okafor", "Ana", "", "  ")] == ["Emeka", "Ana", "", ""]
    assert personalize("Hi %%first_name%% / %%name%%", {"name": "Emeka Okafor"}, is_html=False) == "Hi Emeka / Emeka Okafor"
    assert personalize("Hi %%first_name%%", {"name": ""}, is_html=False) == "Hi there"
    assert personalize("Hi %%first_name%%", {"name": "<b>Bo</b> Z"}, is_html=True) == "Hi &lt;b&gt;Bo&lt;/b&gt;"
    assert Recipient(1, "a@example.org", "Emeka Okafor").values()["first_name"] == "Emeka"


def test_outbox_fills_first_name_and_a_personal_subject(cli, settings, named_issue, make_list, tmp_path):
    make_list("news", extra=PEOPLE)
    run = cli(settings, "send", named_issue, "--list", "news", "--yes")
    assert run.exit_code == 0, run.output
    messages = {m["To"].addresses[0].addr_spec: m for m in
                (parse(p.read_bytes()) for p in (tmp_path / "outbox" / "1").glob("*.eml"))}
    assert {a: m["Subject"] for a, m in messages.items()} == {
        "emeka@example.org": "Emeka, your news", "nameless@example.org": "there, your news",
        "ana@example.org": "Ana, your news"}
    assert "Hi Emeka, this is for Emeka Okafor." in messages["emeka@example.org"].get_body(("plain",)).get_content()
    assert "Hi there, this is for there." in messages["nameless@example.org"].get_body(("plain",)).get_content()
    assert "Hi Emeka, this is for Emeka Okafor." in messages["emeka@example.org"].get_body(("html",)).get_content()
    # The sends table keeps the subject as written.
    assert "%%first_name%%, your news" in cli(settings, "sends", "--json").stdout


def test_smtp_fills_a_personal_subject_with_non_ascii_names(cli, smtp_settings, smtp_server, named_issue, make_list):
    handler, _ = smtp_server
    make_list("news", extra=[("zoe@example.org", "Zoë Ødegård"), ("bob@example.org", "Bob")])
    run = cli(smtp_settings, "send", named_issue, "--list", "news", "--yes")
    assert run.exit_code == 0, run.output
    subjects = {rcpts[0]: parse(data)["Subject"] for _, rcpts, data in handler.messages}
    assert subjects == {"zoe@example.org": "Zoë, your news", "bob@example.org": "Bob, your news"}
    assert all(data.count(b"\r\nSubject:") == 1 for _, _, data in handler.messages)


def test_sendgrid_personalizations_carry_the_subject_and_first_name(cli, sendgrid_settings, sendgrid_server,
                                                                    named_issue, make_list):
    make_list("news", extra=[("emeka@example.org", "Emeka Okafor"), ("x@example.org", 'A&B "Q"')])
    run = cli(sendgrid_settings, "send", named_issue, "--list", "news", "--yes")
    assert run.exit_code == 0, run.output
    personal = {p["to"][0]["email"]: p for body in sendgrid_server.requests for p in body["personalizations"]}
    assert personal["emeka@example.org"]["subject"] == "Emeka, your news"
    assert personal["x@example.org"]["subject"] == "A&B, your news"  # plain text, not HTML-escaped
    assert personal["emeka@example.org"]["substitutions"]["%%first_name%%"] == "Emeka"
    assert html.unescape(personal["x@example.org"]["substitutions"]["%%first_name%%"]) == "A&B"


def test_a_shared_subject_stays_in_the_shared_headers(cli, sendgrid_settings, sendgrid_server, issue, make_list):
    make_list("news", 1)
    assert cli(sendgrid_settings, "send", issue, "--list", "news", "--yes").exit_code == 0
    [body] = sendgrid_server.requests
    assert body["subject"] == "Test issue" and "subject" not in body["personalizations"][0]


def test_check_warns_of_a_placeholder_that_is_no_field(cli, settings, write_issue):
    path = write_issue("Hi %%frist_name%%!\n", 'title: "News for %%nmae%%"\nseo:\n  url: https://news.example.org/b\n'
                       "  description: A preheader")
    result = compose_issue(path, settings)
    found = [f.message for f in result.warnings if f.code == "unknown-placeholder"]
    assert len(found) == 2 and "%%nmae%% in the subject" in found[0] and "%%frist_name%% in the body" in found[1]
    run = cli(settings, "check", path)
    assert "unknown-placeholder" in run.stderr


def test_the_starter_issue_greets_by_first_name(tmp_path, settings):
    path = new_issue("Winter", "2026-12-01", tmp_path)
    assert "Hi %%first_name%%," in path.read_text(encoding="utf-8")
    assert [f for f in compose_issue(path, settings).findings if f.code == "unknown-placeholder"] == []


def test_review_copies_are_addressed_to_the_reviewer_not_the_sample_subscriber(cli, settings, named_issue, tmp_path,
                                                                               smtp_settings, smtp_server):
    config = settings.with_overrides(newsletter_reviewers="reviewer@example.org")
    assert cli(config, "test-send", named_issue).exit_code == 0
    [path] = (tmp_path / "outbox").glob("test-*/*.eml")
    msg = parse(path.read_bytes())
    assert msg["To"] == "reviewer@example.org"
    assert msg["Subject"] == "[TEST] Alex, your news"
    assert "Hi Alex, this is for Alex Example." in msg.get_body(("plain",)).get_content()
    handler, _ = smtp_server
    assert cli(smtp_settings, "test-send", named_issue, "--to", "rev@example.org").exit_code == 0
    [(_, _, data)] = handler.messages
    assert parse(data)["To"] == "rev@example.org"


def test_an_imported_first_name_is_used_where_it_is_not_the_first_word(cli, settings, named_issue, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("email,name,first_name\nmary@example.org,Mary Ann Lee,Mary Ann\n"
                      "emeka@example.org,Emeka Okafor,Emeka\ndoc@example.org,Dr. Uma Patel,Uma\n"
                      "solo@example.org,Solo Person,\n", encoding="utf-8")
    assert cli(settings, "subscribers", "import", people, "--list", "news").exit_code == 0
    listed = {r["email"]: r["attributes"] for r in
              map(__import__("json").loads, cli(settings, "subscribers", "list", "--jsonl").stdout.splitlines())}
    assert listed == {"mary@example.org": {"first_name": "Mary Ann"}, "emeka@example.org": {},
                      "doc@example.org": {"first_name": "Uma"}, "solo@example.org": {}}
    run = cli(settings, "send", named_issue, "--list", "news", "--yes")
    assert run.exit_code == 0, run.output
    greetings = {}
    for path in (tmp_path / "outbox" / "1").glob("*.eml"):
        msg = parse(path.read_bytes())
        text = msg.get_body(("plain",)).get_content()
        greetings[msg["To"].addresses[0].addr_spec] = (msg["Subject"], text[text.index("Hi "):].split(",")[0])
    assert greetings == {"mary@example.org": ("Mary Ann, your news", "Hi Mary Ann"),
                         "emeka@example.org": ("Emeka, your news", "Hi Emeka"),
                         "doc@example.org": ("Uma, your news", "Hi Uma"),
                         "solo@example.org": ("Solo, your news", "Hi Solo")}
