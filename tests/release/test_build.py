"""Build identity: what it covers, how compose and check print it, what meta.json holds."""

from __future__ import annotations

import json

import pytest

from newsletter.compose import compose_issue, write_output
from newsletter.compose.build import changes, identify
from newsletter.store.segments import Audience, parse_conditions
from tests.release.helpers import add_people, edit


def audience(list_name, conditions):
    """An audience from ``KEY=VALUE`` texts, as ``--where`` gives them."""
    return Audience.of(list_name, parse_conditions(conditions))


def build(issue, settings, audience=None):
    return identify(compose_issue(issue, settings), audience)


def test_the_same_input_gives_the_same_build_and_every_part_changes_it(issue, settings, tmp_path):
    first = build(issue, settings)
    assert build(issue, settings) == first
    variants = {
        "subject": lambda: edit(issue, 'title: "Harbour news"', 'title: "Harbour news!"'),
        "preheader": lambda: edit(issue, "description: What happened", "description: What happens"),
        "links": lambda: edit(issue, "https://docs.example.org/start", "https://docs.example.org/begin"),
    }
    for part, change in variants.items():
        before = build(issue, settings)
        change()
        after = build(issue, settings)
        assert after.id != before.id and part in [c.split(" ")[0] for c in changes(before, after)], part
    assert build(issue, settings.with_overrides(newsletter_from="Other <other@example.org>")).parts["from"] != first.parts["from"]
    assert build(issue, settings.with_overrides(newsletter_reply_to="desk@example.org")).parts["reply_to"] != first.parts["reply_to"]


def test_a_layout_change_is_named_as_such(issue, settings, tmp_path):
    from newsletter.compose.layout import BUILTIN_LAYOUTS

    layouts = tmp_path / "layouts"
    (layouts / "default").mkdir(parents=True)
    for source in (BUILTIN_LAYOUTS / "default").iterdir():
        (layouts / "default" / source.name).write_bytes(source.read_bytes())
    config = settings.with_overrides(newsletter_layouts=str(layouts))
    before = build(issue, config)
    template = layouts / "default" / "email.txt.j2"
    template.write_text(template.read_text() + "\n")  # the text part may not even change
    after = build(issue, config)
    assert "layout (default: its templates changed)" in changes(before, after)
    (layouts / "default" / "confirm.txt.j2").write_text("changed confirmation email\n")
    assert build(issue, config).id == after.id  # the signup confirmation is not part of an issue


def test_the_audience_is_part_of_the_build_in_the_engines_order(issue, settings):
    from newsletter.store import session
    from newsletter.store import subscribers as store
    from newsletter.store.segments import resolve

    oslo = audience("news", ["team!=red", "city=Oslo", "city=Oslo"])
    assert oslo == audience("news", ["city=Oslo", "team!=red"]) and oslo.key == "city=Oslo team!=red"
    assert build(issue, settings, oslo).id != build(issue, settings, audience("news", [])).id
    assert build(issue, settings, oslo).id != build(issue, settings, Audience("other", oslo.conditions)).id
    add_people(settings.newsletter_database, "news", {"a@example.org": {"city": "Oslo"}})
    with session(settings.newsletter_database) as conn:
        engine = resolve(conn, "news", ("team!=red", "city=Oslo"), list_id=store.find_list(conn, "news"))
    assert engine.key == oslo.key and engine == oslo  # the ledger's audience key and the build's agree


def test_compose_and_check_print_the_build_and_meta_json_holds_it(cli, issue, settings, tmp_path):
    run = cli(settings, "compose", issue, "--out", tmp_path / "out")
    assert run.exit_code == 0, run.output
    meta = json.loads((tmp_path / "out" / "2026-12-harbour" / "meta.json").read_text())
    content = build(issue, settings)
    assert meta["build"] == {"id": content.id, "audience": None, "parts": content.parts}
    assert f"Build {content.short} (content only" in run.stdout
    with_list = build(issue, settings, audience("news", ["city=Oslo"]))
    run = cli(settings, "check", issue, "--list", "news", "--where", "city=Oslo")
    assert run.exit_code == 0 and f"Build {with_list.short} (list news where city=Oslo)" in run.stdout
    add_people(settings.newsletter_database, "news", {"a@example.org": {"city": "Oslo"}})
    assert cli(settings, "segments", "save", "oslo", "--list", "news", "--where", "city=Oslo").exit_code == 0
    run = cli(settings, "check", issue, "--list", "news", "--segment", "oslo")
    assert f"Build {with_list.short} (list news where city=Oslo)" in run.stdout  # a segment is its conditions
    run = cli(settings, "check", issue, "--where", "city=Oslo")
    assert run.exit_code == 2 and "--where need --list" in run.stderr


@pytest.mark.parametrize("attribute", ["html", "text"])
def test_changes_say_by_how_much(issue, settings, attribute):
    before = build(issue, settings)
    edit(issue, "Hello %%name%%.", "Hello %%name%%, and welcome.")
    found = changes(before, build(issue, settings))
    label = "HTML" if attribute == "html" else "text"
    assert any(c.startswith(f"{label} (+") and "bytes" in c for c in found), found


def test_meta_json_is_written_deterministically(issue, settings, tmp_path):
    result = compose_issue(issue, settings)
    one = (write_output(result, tmp_path / "a") / "meta.json").read_bytes()
    two = (write_output(compose_issue(issue, settings), tmp_path / "b") / "meta.json").read_bytes()
    assert one == two
