"""``approve`` and ``approvals``: the file beside the issue, who, SSH signatures, what still matches."""

from __future__ import annotations

import json
import tomllib

from newsletter.release.approvals import approvals_path, load
from tests.release.helpers import edit


def approve(cli, settings, issue, who, *extra):
    return cli(settings, "approve", issue, "--list", "news", "--as", who, *extra)


def test_approve_writes_the_build_beside_the_issue_and_appends(cli, settings, issue, people):
    people(3)
    run = approve(cli, settings, issue, "Ann Example <ann@example.org>", "--note", "read it twice")
    assert run.exit_code == 0, run.output
    path = approvals_path(issue)
    assert path == issue.parent / "2026-12-harbour.approvals.toml" and "Approved build" in run.stdout
    [entry] = tomllib.loads(path.read_text())["approval"]
    assert (entry["by"], entry["list"], entry["audience_count"], entry["note"]) == (
        "Ann Example <ann@example.org>", "news", 3, "read it twice")
    first = path.read_bytes()
    assert approve(cli, settings, issue, "Ann Example <ann@example.org>").stdout.startswith("Already approved")
    assert path.read_bytes() == first  # nothing written twice
    assert approve(cli, settings, issue, "Bob <bob@example.org>").exit_code == 0
    assert path.read_bytes().startswith(first)  # appended: earlier approvals keep their bytes
    assert [a.email for a in load(path)] == ["ann@example.org", "bob@example.org"]


def test_approve_needs_a_known_list_and_a_person(cli, settings, issue, people, tmp_path):
    people(1)
    run = cli(settings, "approve", issue, "--list", "nope", "--as", "a@example.org")
    assert run.exit_code == 2 and "nope: no such list" in run.stderr
    run = cli(settings, "approve", issue, "--list", "news", "--as", "Just A Name")
    assert run.exit_code == 2 and "--as" in run.stderr and "email address" in run.stderr
    assert not approvals_path(issue).exists()


def test_approvals_say_which_still_match(cli, settings, issue, people):
    people(2)
    assert approve(cli, settings, issue, "ann@example.org").exit_code == 0
    edit(issue, "the docs", "the manual")
    assert approve(cli, settings, issue, "bob@example.org").exit_code == 0
    run = cli(settings, "approvals", issue, "--json")
    rows = {r["by"]: r for r in json.loads(run.stdout)}
    assert rows["bob@example.org"]["counts"] is True
    assert rows["ann@example.org"]["counts"] is False and "HTML" in rows["ann@example.org"]["why"]
    run = cli(settings, "approvals", issue)
    assert "1 of 0 required approval(s) from distinct people (bob@example.org)" in run.stdout


def test_signed_approvals_verify_and_a_tampered_one_does_not_count(cli, settings, issue, people, ssh_keys):
    people(2)
    run = approve(cli, settings, issue, "Ann <ann@example.org>", "--sign", "--key", ssh_keys["ann"])
    assert run.exit_code == 0 and "signed" in run.stdout, run.output
    path = approvals_path(issue)
    assert "-----BEGIN SSH SIGNATURE-----" in path.read_text()
    strict = settings.with_overrides(newsletter_allowed_signers=str(ssh_keys["allowed"]))
    [row] = json.loads(cli(strict, "approvals", issue, "--json").stdout)
    assert (row["signature"], row["counts"]) == ("signature verified", True)

    # Bob signs with his own key, which the allowed-signers file does not list for him.
    assert approve(cli, settings, issue, "Bob <bob@example.org>", "--sign", "--key", ssh_keys["bob"]).exit_code == 0
    rows = {r["by"]: r for r in json.loads(cli(strict, "approvals", issue, "--json").stdout)}
    assert rows["Bob <bob@example.org>"]["counts"] is False and "does not list" in rows["Bob <bob@example.org>"]["signature"]
    rows = {r["by"]: r for r in json.loads(cli(settings, "approvals", issue, "--json").stdout)}
    assert rows["Bob <bob@example.org>"]["counts"] is True  # without an allowed-signers file: intact counts

    # Someone edits Ann's approval (her note) after she signed it: the signature no longer verifies.
    path.write_text(path.read_text().replace('note = ""', 'note = "approved, honest"', 1))
    rows = {r["by"]: r for r in json.loads(cli(settings, "approvals", issue, "--json").stdout)}
    assert (rows["Ann <ann@example.org>"]["signature"], rows["Ann <ann@example.org>"]["counts"]) == ("bad signature", False)


def test_a_malformed_approvals_file_is_one_clear_line(cli, settings, issue):
    approvals_path(issue).write_text("[[approval]]\nbuild = \n")
    run = cli(settings, "approvals", issue)
    assert run.exit_code == 2 and "not a valid approvals file" in run.stderr and "Traceback" not in run.output
