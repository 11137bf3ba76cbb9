"""Control characters in a subscriber attribute stop an import: one line naming ``file:line``, nothing written.

On PostgreSQL a NUL in an attribute once made every ``--where`` query and ``segments`` fail
(its JSON cannot hold ``\\u0000``); the test proves both still work after the refused import.
"""

from __future__ import annotations

import pytest

from tests.audience.test_members import table_counts


@pytest.fixture
def settings(settings, database):
    """The shared test settings on a fresh database of each kind (SQLite, then PostgreSQL)."""
    return settings.with_overrides(newsletter_database=database)


@pytest.mark.parametrize(("cell", "code"), [("Os\0lo", "U+0000"), ("Os\x1blo", "U+001B"), ("Os\x85lo", "U+0085"),
                                           ('"Os\nlo"', "U+000A")])
def test_a_control_character_in_an_attribute_refuses_the_import(cli, settings, tmp_path, monkeypatch, cell, code):
    import newsletter.audience.members as members

    monkeypatch.setattr(members, "IMPORT_BATCH", 2)  # the bad row comes after a batch was written
    csv_path = tmp_path / "people.csv"
    csv_path.write_text(f"email,city\nann@example.org,Oslo\nbob@example.org,Bergen\ncid@example.org,Oslo\n"
                        f"dan@example.org,{cell}\n", encoding="utf-8")
    run = cli(settings, "subscribers", "import", csv_path, "--list", "news")
    assert run.exit_code == 2, run.output
    bad_line = 6 if "\n" in cell else 5  # a quoted cell over two lines is reported where its row ends
    assert run.stderr.splitlines() == [
        f"Error: {csv_path}:{bad_line}: control character {code} in column 'city': remove it and import again"]
    assert table_counts(settings.newsletter_database) == {"subscribers": 0, "lists": 0, "memberships": 0}

    csv_path.write_text("email,city\nann@example.org,Oslo\nbob@example.org,Bergen\n", encoding="utf-8")
    assert cli(settings, "subscribers", "import", csv_path, "--list", "news").exit_code == 0
    run = cli(settings, "segments", "save", "oslo", "--list", "news", "--where", "city=Oslo")
    assert run.exit_code == 0, run.output
    assert cli(settings, "segments").stdout.splitlines() == ["oslo\tlist news\tcity=Oslo\t1 members"]


def test_a_tab_in_an_attribute_and_a_control_character_in_a_column_name(cli, settings, tmp_path):
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("email,note\nann@example.org,a\tb\n", encoding="utf-8")
    assert cli(settings, "subscribers", "import", csv_path, "--list", "news").exit_code == 0
    csv_path.write_text("email,ci\0ty\nbob@example.org,Oslo\n", encoding="utf-8")
    run = cli(settings, "subscribers", "import", csv_path, "--list", "news")
    assert run.exit_code == 2
    assert run.stderr.splitlines() == [
        f"Error: {csv_path}:1: control character U+0000 in column name: remove it and import again"]
    assert table_counts(settings.newsletter_database) == {"subscribers": 1, "lists": 1, "memberships": 1}
