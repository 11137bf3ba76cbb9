"""``newsletter init [DIR]`` from the command line."""

from __future__ import annotations


def test_init_writes_and_then_refuses(run_cli, tmp_path):
    first = run_cli("init", "team")
    assert first.returncode == 0, first.stderr
    assert "Wrote team/.github/workflows/check-issues.yml" in first.stdout and "Next: cd team" in first.stdout
    before = {p: p.read_bytes() for p in (tmp_path / "team").rglob("*") if p.is_file()}
    again = run_cli("init", "team")
    assert again.returncode == 2
    assert again.stderr.startswith("Error: team: already has ") and "not overwriting anything" in again.stderr
    assert {p: p.read_bytes() for p in (tmp_path / "team").rglob("*") if p.is_file()} == before


def test_init_defaults_to_the_current_folder(run_cli, tmp_path):
    assert run_cli("init").returncode == 0
    assert (tmp_path / ".gitignore").is_file() and any((tmp_path / "issues").iterdir())
