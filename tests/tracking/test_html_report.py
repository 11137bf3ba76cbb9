"""``newsletter stats ISSUE --html FILE``: one self-contained file, written whole, errors in one line."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from newsletter.cli import app
from tests.tracking.dashboard_seed import seed_dashboard


def test_html_report_is_one_self_contained_file(tmp_path, settings, cli_env):
    seed_dashboard(settings.newsletter_database)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["stats", "2026-11-harbour", "--html", str(out), "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["human_opens"] == 3  # the JSON on stdout stays clean
    assert f"Wrote {out} (1 send)." in result.stderr
    text = out.read_text(encoding="utf-8")
    assert text.count('data-chart="funnel"') == 1 and 'data-chart="hours"' in text and 'data-chart="providers"' in text
    assert 'data-label="Human opens" data-value="3"' in text
    assert "Harbour &lt;news&gt;" in text and "Harbour <news>" not in text  # escaped
    # Nothing to fetch: no script, no stylesheet or image link, no URL in src or url(); the policy is in the file.
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|url\(", text, re.IGNORECASE)
    assert 'http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;;' in text


def test_html_report_needs_an_issue_and_a_folder(tmp_path, settings, cli_env):
    seed_dashboard(settings.newsletter_database)
    runner = CliRunner()
    no_issue = runner.invoke(app, ["stats", "--html", str(tmp_path / "r.html")], env=cli_env)
    assert no_issue.exit_code == 2 and no_issue.output.startswith("Error: --html: ") and "Traceback" not in no_issue.output
    no_folder = runner.invoke(app, ["stats", "2026-11-harbour", "--html", str(tmp_path / "gone" / "r.html")], env=cli_env)
    assert no_folder.exit_code == 2 and "folder does not exist" in no_folder.output
    unknown = runner.invoke(app, ["stats", "no-such-issue", "--html", str(tmp_path / "r.html")], env=cli_env)
    assert unknown.exit_code == 2 and "no send found" in unknown.output
    assert not (tmp_path / "r.html").exists() and not list(tmp_path.glob(".r.html.*"))  # nothing half-written
