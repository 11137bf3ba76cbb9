"""Subscribers and lists through the CLI: import, add, unsubscribe, list, lists."""

from __future__ import annotations

import json
import re

import pytest

from tests.delivery import fakes

CSV = """email,first_name,last_name,company
ada@example.org,Ada,Lovelace,Engines
"grace@example.org",Grace,"Hopper, Jr.",Navy
not-an-address,Broken,Row,x
ADA@EXAMPLE.ORG,Ada,King,Engines Ltd
,,,
gone@example.org,Gone,Person,
"""

#: The progress line an import prints every 5 s without a terminal (newsletter.cli.common.ProgressReporter).
PROGRESS_LINE = re.compile(r"Importing: [\d,]+(/[\d,]+)? subscribers( \(\d+%\))?(, [\d,]+ subscribers/s)?")


@pytest.fixture
def settings(settings, database):
    """The shared test settings on a fresh database of each kind (SQLite, then PostgreSQL), as in tests/delivery."""
    return settings.with_overrides(newsletter_database=database)


def table_counts(database) -> dict[str, int]:
    tables = ("subscribers", "lists", "memberships")
    return dict(zip(tables, fakes.table_counts(database, *tables), strict=True))


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
    assert f"{csv_path}: line 5 repeats line 2's address with another name; kept line 2" in run.stderr

    run = cli(settings, "subscribers", "list", "--list", "news", "--jsonl")
    rows = {r["email"]: r for r in map(json.loads, run.stdout.splitlines())}
    assert set(rows) == {"ada@example.org", "grace@example.org", "gone@example.org"}
    assert rows["ada@example.org"]["name"] == "Ada Lovelace"  # the first row stays; the repeat is reported
    assert rows["ada@example.org"]["attributes"] == {"company": "Engines"}
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


def test_import_reports_progress(settings, tmp_path, monkeypatch):
    import newsletter.audience.members as subscribers
    from newsletter.audience.members import import_csv

    monkeypatch.setattr(subscribers, "IMPORT_BATCH", 1000)
    path = tmp_path / "people.csv"
    path.write_text("email\n" + "".join(f"p{i}@example.org\n" for i in range(2500)), encoding="utf-8")
    calls: list[tuple[int, int | None]] = []
    result = import_csv(path, "news", settings, progress=lambda done, total: calls.append((done, total)))
    assert result.added == 2500
    assert calls == [(1000, None), (2000, None), (2500, None), (2500, 2500)]  # the total is known at the end


def write_list(path, rows: int, *, bad_every: int = 0, tail: str = "") -> None:
    """A CSV of ``rows`` people (person<i>@example.org on line i + 2), an invalid address every ``bad_every`` rows."""
    lines = ["email,name,team"]
    for i in range(rows):
        email = f"person{i}.example.org" if bad_every and i % bad_every == 0 else f"person{i}@example.org"
        lines.append(f"{email},Person {i},team{i % 3}")
    path.write_text("\n".join(lines) + "\n" + tail, encoding="utf-8")


def test_streaming_import_reports_bad_rows_by_line_across_batches(cli, settings, tmp_path, monkeypatch):
    import newsletter.audience.members as subscribers

    monkeypatch.setattr(subscribers, "IMPORT_BATCH", 7)  # many batches, so rows cross batch boundaries
    csv_path = tmp_path / "people.csv"
    write_list(csv_path, 60, bad_every=10, tail="PERSON1@EXAMPLE.ORG,Person One Again,\n")
    run = cli(settings, "subscribers", "import", csv_path, "--list", "news")
    assert run.exit_code == 0, run.output
    assert "54 added, 0 updated, 6 invalid, 0 suppressed, 1 duplicate rows merged" in run.stdout
    skipped = [line.split(": skipped:")[0] for line in run.stderr.splitlines()]
    assert skipped == [f"{csv_path}:{i + 2}" for i in range(0, 60, 10)]
    assert table_counts(settings.newsletter_database) == {"subscribers": 54, "lists": 1, "memberships": 54}
    rows = {r["email"]: r for r in map(json.loads, cli(settings, "subscribers", "list", "--jsonl").stdout.splitlines())}
    assert rows["person1@example.org"]["name"] == "Person One Again"  # a repeat in a later batch merges too
    assert rows["person1@example.org"]["attributes"] == {"team": "team1"}

    # Again, with one person suppressed meanwhile: updates, not additions, and the suppression stays.
    assert cli(settings, "subscribers", "unsubscribe", "person3@example.org").exit_code == 0
    run = cli(settings, "subscribers", "import", csv_path, "--list", "other")
    assert "0 added, 53 updated, 6 invalid, 1 suppressed, 1 duplicate rows merged" in run.stdout
    assert table_counts(settings.newsletter_database) == {"subscribers": 54, "lists": 2, "memberships": 108}


def test_a_file_that_breaks_halfway_writes_nothing_and_names_its_line(cli, settings, tmp_path, monkeypatch):
    import newsletter.audience.members as subscribers

    monkeypatch.setattr(subscribers, "IMPORT_BATCH", 5)
    good = tmp_path / "good.csv"
    write_list(good, 3)
    assert cli(settings, "subscribers", "import", good, "--list", "news").exit_code == 0
    before = table_counts(settings.newsletter_database)

    not_utf8 = tmp_path / "latin1.csv"
    write_list(not_utf8, 200_000 // 50)  # well past the first batches and the reader's first block
    with not_utf8.open("ab") as out:
        out.write("zoë@example.org,Zoë,x\n".encode("latin-1"))
    broken_quote = tmp_path / "quote.csv"
    write_list(broken_quote, 40, tail='x@example.org,"Unclosed,team\n')
    stray_quote = tmp_path / "stray.csv"
    write_list(stray_quote, 40, tail='x@example.org,"Ann" Lee,team\n' + "more@example.org,More,team\n" * 20)
    cases = [(not_utf8, 4002, "not UTF-8"), (broken_quote, 42, "not valid CSV"), (stray_quote, 42, "not valid CSV")]
    for path, line, message in cases:
        run = cli(settings, "subscribers", "import", path, "--list", "news")
        assert run.exit_code == 2, run.output
        # A slow machine may print progress lines first (one every 5 s): besides them, one line, the last: the error.
        *progress, error = run.stderr.strip().splitlines()
        assert all(PROGRESS_LINE.fullmatch(p) for p in progress), run.stderr
        assert error.startswith(f"Error: {path}:{line}: {message}"), run.stderr
        assert table_counts(settings.newsletter_database) == before


def test_only_the_first_invalid_rows_are_listed_but_all_are_counted(cli, settings, tmp_path, monkeypatch):
    import newsletter.audience.members as subscribers

    monkeypatch.setattr(subscribers, "INVALID_KEPT", 2)
    csv_path = tmp_path / "people.csv"
    write_list(csv_path, 30, bad_every=5)
    run = cli(settings, "subscribers", "import", csv_path, "--list", "news")
    assert "24 added, 0 updated, 6 invalid" in run.stdout
    lines = run.stderr.splitlines()
    assert [line.split(": skipped: ")[0] for line in lines[:2]] == [f"{csv_path}:2", f"{csv_path}:7"]
    assert lines[2:] == [f"{csv_path}: 4 more invalid rows not shown"]


def test_a_repeat_with_another_name_is_reported_and_the_first_kept_unless_last_wins(cli, settings, tmp_path):
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("email,name,team\ndmitri@example.org,Dmitri Volkov,a\numa@example.org,Uma Patel,b\n"
                        "DMITRI@example.org,Uma Patel,c\ndmitri@example.org,,d\numa@example.org,Uma Patel,\n",
                        encoding="utf-8")
    run = cli(settings, "subscribers", "import", csv_path, "--list", "news")
    assert run.exit_code == 0, run.output
    # Only the repeat with another name is a conflict: a blank name or the same name is not.
    assert run.stderr.splitlines() == [f"{csv_path}: line 4 repeats line 2's address with another name; kept line 2"]
    assert "2 added, 0 updated, 0 invalid, 0 suppressed, 3 duplicate rows merged" in run.stdout
    rows = {r["email"]: r for r in map(json.loads, cli(settings, "subscribers", "list", "--jsonl").stdout.splitlines())}
    assert (rows["dmitri@example.org"]["name"], rows["dmitri@example.org"]["attributes"]) == ("Dmitri Volkov", {"team": "a"})

    run = cli(settings, "subscribers", "import", csv_path, "--list", "news", "--last-wins")
    assert "line 4 repeats line 2's address with another name; kept line 4" in run.stderr
    rows = {r["email"]: r for r in map(json.loads, cli(settings, "subscribers", "list", "--jsonl").stdout.splitlines())}
    assert (rows["dmitri@example.org"]["name"], rows["dmitri@example.org"]["attributes"]) == ("Uma Patel", {"team": "d"})
