"""The gate: ``send`` with NEWSLETTER_REQUIRED_APPROVALS sends only the build that enough people approved."""

from __future__ import annotations

import pytest

from newsletter.release.approvals import approvals_path, load
from tests.release.helpers import add_people, edit


@pytest.fixture
def gated(settings, tmp_path):
    """Two approvals needed; the outbox backend."""
    return settings.with_overrides(newsletter_required_approvals=2)


def approve(cli, config, issue, who, *extra):
    run = cli(config, "approve", issue, "--list", "news", "--as", who, *extra)
    assert run.exit_code == 0, run.output
    return run


def send(cli, config, issue, *extra):
    return cli(config, "send", issue, "--list", "news", "--yes", *extra)


def sent(tmp_path) -> int:
    return len(list((tmp_path / "outbox").glob("*/*.eml")))


def test_two_distinct_people_let_it_through(cli, gated, issue, people, tmp_path):
    people(3)
    run = send(cli, gated, issue)
    assert run.exit_code == 1 and "needs 2 approval(s) from distinct people" in run.stderr and "has 0" in run.stderr
    approve(cli, gated, issue, "Ann <ann@example.org>")
    assert "Already approved" in approve(cli, gated, issue, "Ann again <ANN@example.org>").stdout
    path = approvals_path(issue)  # a second entry by hand: the same person, spelled another way
    path.write_text(path.read_text() + "\n" + path.read_text().split("\n\n", 1)[1].replace(
        'by = "Ann <ann@example.org>"', 'by = "Ann again <ANN@example.org>"'))
    assert len(load(path)) == 2
    run = send(cli, gated, issue)
    assert run.exit_code == 1 and "has 1 (ann@example.org)" in run.stderr and sent(tmp_path) == 0
    approve(cli, gated, issue, "Bob <bob@example.org>")
    run = send(cli, gated, issue)
    assert run.exit_code == 0, run.output
    assert sent(tmp_path) == 3
    log = cli(gated, "sends", "1", "--log").stdout
    assert [line.split("\t")[1] for line in log.splitlines()] == ["approve", "approve", "start", "finish"]


@pytest.mark.parametrize("change, named", [
    (("title: \"Harbour news\"", "title: \"Harbour news (corrected)\""), "subject ('Harbour news' -> 'Harbour news (corrected)')"),
    (("https://docs.example.org/start", "https://docs.example.org/v2"),
     "links (1 added (https://docs.example.org/v2?"),
])
def test_a_change_after_approval_is_refused_naming_it(cli, gated, issue, people, tmp_path, change, named):
    people(2)
    approve(cli, gated, issue, "ann@example.org")
    approve(cli, gated, issue, "bob@example.org")
    edit(issue, *change)
    run = send(cli, gated, issue)
    assert run.exit_code == 1 and sent(tmp_path) == 0
    assert "not counted: ann@example.org approved" in run.stderr and named in run.stderr, run.stderr


def test_a_layout_change_after_approval_is_refused_naming_it(cli, gated, issue, people, tmp_path):
    from newsletter.compose.layout import BUILTIN_LAYOUTS

    layouts = tmp_path / "layouts" / "default"
    layouts.mkdir(parents=True)
    for source in (BUILTIN_LAYOUTS / "default").iterdir():
        (layouts / source.name).write_bytes(source.read_bytes())
    config = gated.with_overrides(newsletter_layouts=str(layouts.parent))
    people(2)
    approve(cli, config, issue, "ann@example.org")
    approve(cli, config, issue, "bob@example.org")
    template = layouts / "email.mjml.j2"
    template.write_text(template.read_text().replace("</mj-body>", "<mj-section><mj-column><mj-text>P.S.</mj-text>"
                                                                   "</mj-column></mj-section></mj-body>"))
    run = send(cli, config, issue)
    assert run.exit_code == 1 and "layout (default: its templates changed)" in run.stderr and "HTML (+" in run.stderr


def test_a_grown_audience_is_refused_and_departures_are_not(cli, gated, issue, people, settings, tmp_path):
    people(4)
    approve(cli, gated, issue, "ann@example.org")
    approve(cli, gated, issue, "bob@example.org")
    people(2, start=10)  # two join after the approvals
    assert cli(gated, "subscribers", "unsubscribe", "p1@example.org").exit_code == 0
    run = send(cli, gated, issue)
    assert run.exit_code == 1 and sent(tmp_path) == 0
    assert "audience (2 joined, 0 left, 1 unsubscribed since (4 then, 5 now))" in run.stderr, run.stderr
    # Only departures: what goes out is a part of what was approved.
    assert cli(gated, "subscribers", "unsubscribe", "p10@example.org").exit_code == 0
    assert cli(gated, "subscribers", "unsubscribe", "p11@example.org").exit_code == 0
    run = send(cli, gated, issue)
    assert run.exit_code == 0, run.output
    assert sent(tmp_path) == 3


def test_an_approval_for_another_audience_does_not_count(cli, gated, issue, settings, tmp_path):
    add_people(settings.newsletter_database, "news", {"a@example.org": {"city": "Oslo"}, "b@example.org": {"city": "Bergen"}})
    approve(cli, gated, issue, "ann@example.org", "--where", "city=Oslo")
    approve(cli, gated, issue, "bob@example.org", "--where", "city=Oslo")
    run = send(cli, gated, issue)
    assert run.exit_code == 1 and "audience (list news where city=Oslo -> list news)" in run.stderr
    assert send(cli, gated, issue, "--where", "city=Oslo").exit_code == 0 and sent(tmp_path) == 1


def test_a_bad_signature_does_not_count(cli, gated, issue, people, ssh_keys, tmp_path):
    people(1)
    approve(cli, gated, issue, "Ann <ann@example.org>", "--sign", "--key", ssh_keys["ann"])
    approve(cli, gated, issue, "Bob <bob@example.org>", "--sign", "--key", ssh_keys["bob"])
    path = approvals_path(issue)
    text = path.read_text()
    cut = text.rindex("-----END SSH SIGNATURE-----")
    body = text[:cut].rstrip("\n")
    path.write_text(body[:-5] + ("AAAAA" if body[-5:] != "AAAAA" else "BBBBB") + "\n" + text[cut:])  # Bob's signature damaged
    run = send(cli, gated, issue)
    assert run.exit_code == 1 and "bob@example.org approved" in run.stderr and "bad signature" in run.stderr
    assert sent(tmp_path) == 0


def test_test_send_is_never_gated_and_dry_run_is(cli, gated, issue, people, tmp_path):
    people(1)
    run = cli(gated, "test-send", issue, "--to", "reviewer@example.org")
    assert run.exit_code == 0 and "reviewer@example.org: accepted" in run.stdout
    run = send(cli, gated, issue, "--dry-run")
    assert run.exit_code == 1 and "needs 2 approval(s)" in run.stderr


def test_no_approvals_needed_by_default(cli, settings, issue, people, tmp_path):
    people(2)
    assert send(cli, settings, issue).exit_code == 0 and sent(tmp_path) == 2
