"""Subscribers and lists through the CLI: import, add, unsubscribe, list, lists."""

from __future__ import annotations

import json

import delivery_fakes

CSV = """email,first_name,last_name,company
ada@example.org,Ada,Lovelace,Engines
"grace@example.org",Grace,"Hopper, Jr.",Navy
not-an-address,Broken,Row,x
ADA@EXAMPLE.ORG,Ada,King,Engines Ltd
,,,
gone@example.org,Gone,Person,
"""


def table_counts(database) -> dict[str, int]:
    tables = ("subscribers", "lists", "memberships")
    return dict(zip(tables, delivery_fakes.table_counts(database, *tables)))


def test_import_counts_invalid_lines_duplicates_and_suppressed(cli, settings, tmp_path):
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("email,name\ngone@example.org,Gone\n", encoding="utf-8")
    assert cli(settings, "subscribers", "import", csv_path, "--list", "news").exit_code == 0
    assert cli(settings, "subscribers", "unsubscribe", "GONE@example.org").exit_code == 0

    csv_path.write_text(CSV, encoding="utf-8")
    run = cli(settings, "subscribers", "import", csv_path, "--list", "news")
    assert run.exit_code == 0, run.output
    assert "2 added, 0 updated, 1 invalid, 1 suppressed, 1 duplicate rows merged" in run.stdout
    assert f"{csv_path}:4: skipped:" in run.stderr

    run = cli(settings, "subscribers", "list", "--list", "news", "--jsonl")
    rows = {r["email"]: r for r in map(json.loads, run.stdout.splitlines())}
    assert set(rows) == {"ada@example.org", "grace@example.org", "gone@example.org"}
    assert rows["ada@example.org"]["name"] == "Ada King"  # the later duplicate row wins
    assert rows["ada@example.org"]["attributes"] == {"company": "Engines Ltd"}
    assert rows["grace@example.org"]["name"] == "Grace Hopper, Jr."
    assert rows["gone@example.org"]["status"] == "unsubscribed"  # never re-activated by an import

    run = cli(settings, "subscribers", "list", "--status", "unsubscribed")
    assert run.stdout.split("\t")[0] == "gone@example.org"
    run = cli(settings, "lists")
    assert run.stdout.strip() == "news\t3 members\t2 active\t0 pending\tsignup off"


def test_add_and_unsubscribe(cli, settings):
    run = cli(settings, "subscribers", "add", "Zoe@Example.org", "--name", "Zoë", "--list", "vip")
    assert run.exit_code == 0 and "zoe@example.org: added" in run.stdout.lower()
    assert "unsubscribed" in cli(settings, "subscribers", "unsubscribe", "zoe@example.org").stdout
    run = cli(settings, "subscribers", "add", "zoe@example.org", "--list", "vip")
    assert "status stays unsubscribed" in run.stdout


def test_bad_input_is_one_line_and_writes_nothing(cli, settings, tmp_path):
    no_email = tmp_path / "no-email.csv"
    no_email.write_text("name,mail\nAda,ada@example.org\n", encoding="utf-8")
    cases = [
        (("subscribers", "import", no_email, "--list", "news"), "no 'email' column"),
        (("subscribers", "import", tmp_path / "missing.csv", "--list", "news"), "file not found"),
        (("subscribers", "add", "not an address", "--list", "news"), "not an address"),
        (("subscribers", "unsubscribe", "nobody@example.org"), "no such subscriber"),
        (("subscribers", "list", "--list", "nope"), "no such list"),
    ]
    for args, message in cases:
        run = cli(settings, *args)
        assert run.exit_code == 2, (args, run.output)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], (args, run.stderr)
        assert "Traceback" not in run.output
    assert table_counts(settings.newsletter_database) == {"subscribers": 0, "lists": 0, "memberships": 0}


def test_import_reports_progress(settings, tmp_path):
    from newsletter.subscribers import import_csv

    path = tmp_path / "people.csv"
    path.write_text("email\n" + "".join(f"p{i}@example.org\n" for i in range(2500)), encoding="utf-8")
    calls: list[tuple[int, int | None]] = []
    result = import_csv(path, "news", settings, progress=lambda done, total: calls.append((done, total)))
    assert result.added == 2500
    assert calls == [(0, 2500), (1000, 2500), (2000, 2500), (2500, 2500)]
