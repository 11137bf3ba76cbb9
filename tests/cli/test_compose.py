"""``newsletter compose`` and ``check`` through typer's CliRunner."""

import json

import pytest
from typer.testing import CliRunner

from newsletter.cli import app

runner = CliRunner()


def test_compose_writes_outputs_and_summary(example_issue, tmp_path):
    result = runner.invoke(app, ["compose", str(example_issue), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Composed 'Inside the Harbour Project: November 2026'" in result.stdout
    folder = tmp_path / "2026-11-example"
    assert {p.name for p in folder.iterdir()} == {"email.html", "email.txt", "meta.json"}
    assert json.loads((folder / "meta.json").read_text())["slug"] == "2026-11-example"


def test_compose_uses_build_dir_setting(example_issue, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_BUILD_DIR", str(tmp_path / "custom"))
    assert runner.invoke(app, ["compose", str(example_issue)]).exit_code == 0
    assert (tmp_path / "custom" / "2026-11-example" / "email.html").is_file()


def test_compose_reads_dotenv(example_issue, tmp_path, monkeypatch):
    env = tmp_path / "settings.env"
    env.write_text("NEWSLETTER_BRAND='Harbour Weekly'\n")
    monkeypatch.setenv("NEWSLETTER_ENV_FILE", str(env))
    assert runner.invoke(app, ["compose", str(example_issue), "-o", str(tmp_path)]).exit_code == 0
    assert "Harbour Weekly" in (tmp_path / "2026-11-example" / "email.txt").read_text()


def test_check_exit_codes(write_issue):
    clean = write_issue("Hello [a](https://a.example.com/)\n")
    warned = write_issue("Hello [a](http://a.example.com/)\n", name="warned.md")
    broken = write_issue("[a](/relative)\n", frontmatter="title: T\npreheader: p", name="broken.md")
    assert runner.invoke(app, ["check", str(clean), "--strict"]).exit_code == 0
    assert runner.invoke(app, ["check", str(warned)]).exit_code == 0
    strict = runner.invoke(app, ["check", str(warned), "--strict"])
    assert strict.exit_code == 1 and "[insecure-link]" in strict.output
    failed = runner.invoke(app, ["check", str(broken)])
    assert failed.exit_code == 1 and "[relative-url]" in failed.output and f"{broken}:5" in failed.output


def test_compose_with_errors_exits_1(write_issue, tmp_path):
    broken = write_issue("[a](/relative)\n", frontmatter="title: T\npreheader: p")
    result = runner.invoke(app, ["compose", str(broken), "-o", str(tmp_path)])
    assert result.exit_code == 1 and "error(s)" in result.output


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "file not found"),
        (b"", "file is empty"),
        (b"\x00\x01\x02binary", "not a text file"),
        (b"---\ntitle: caf\xe9\n---\n", "not valid UTF-8"),
        (b"---\ntitle: 'unclosed\n---\nbody\n", "malformed YAML"),
        (b"---\nauthor: A\n---\nNo heading here.\n", "no subject found"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, content, expected):
    path = tmp_path / "issue.md"
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "out"
    result = runner.invoke(app, ["compose", str(path), "-o", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0] and str(path) in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()  # nothing half-written


def test_broken_layout_is_one_line_exit_2(write_issue, tmp_path, monkeypatch):
    (tmp_path / "layouts" / "bad").mkdir(parents=True)
    (tmp_path / "layouts" / "bad" / "email.mjml.j2").write_text("<mjml><mj-head/></mjml>")
    monkeypatch.setenv("NEWSLETTER_LAYOUTS", str(tmp_path / "layouts"))
    path = write_issue("x\n", frontmatter="title: T\nlayout: bad")
    result = runner.invoke(app, ["compose", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "bad/email.mjml.j2" in result.output and "MJML" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_invalid_setting_is_one_line(example_issue, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_UTM", "maybe")
    result = runner.invoke(app, ["compose", str(example_issue)])
    assert result.exit_code == 2 and result.output.strip() == "Error: NEWSLETTER_UTM: expected on/off, got 'maybe'"


def test_help_and_version():
    assert "compose" in runner.invoke(app, ["--help"]).output
    assert runner.invoke(app, ["--version"]).output.startswith("newsletter ")


def test_check_format_json(write_issue):
    issue = write_issue("Hello [a](http://a.example.com/)\n")
    result = runner.invoke(app, ["check", str(issue), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["errors"] == 0 and report["warnings"] == 1
    (finding,) = report["findings"]
    assert finding["code"] == "insecure-link" and finding["file"] == str(issue) and finding["line"] == 7
    strict = runner.invoke(app, ["check", str(issue), "--format", "json", "--strict"])
    assert strict.exit_code == 1 and json.loads(strict.stdout)["ok"] is False


def test_check_format_junit_and_sarif(write_issue):
    from xml.etree import ElementTree as ET

    issue = write_issue("[a](/relative)\n", frontmatter="title: T\npreheader: p")
    junit = runner.invoke(app, ["check", str(issue), "--format", "junit"])
    assert junit.exit_code == 1
    suite = ET.fromstring(junit.stdout).find("testsuite")
    assert suite.get("failures") == "1"
    case = suite.find("testcase")
    assert case.get("file") == str(issue) and case.get("line") == "5" and case.find("failure").get("type") == "error"
    sarif = json.loads(runner.invoke(app, ["check", str(issue), "--format", "sarif"]).stdout)
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    (hit,) = run["results"]
    assert hit["ruleId"] == "relative-url" and hit["level"] == "error"
    location = hit["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": str(issue)}, "region": {"startLine": 5}}
    assert run["tool"]["driver"]["rules"][0]["id"] == "relative-url"
    clean = ET.fromstring(runner.invoke(app, ["check", str(write_issue("Hi.\n", name="clean.md")), "--format", "junit"]).stdout)
    assert clean.find("testsuite").get("tests") == "1" and clean.find("testsuite").get("failures") == "0"


def test_check_unknown_format_is_one_line(write_issue):
    result = runner.invoke(app, ["check", str(write_issue("Hi.\n")), "--format", "yaml"])
    assert result.exit_code == 2 and result.output.strip().startswith("Error: --format: unknown format 'yaml'")


def test_check_refuses_a_subject_send_would_refuse(write_issue):
    issue = write_issue("Hi.\n", frontmatter='title: "News\\r\\nBcc: everyone@example.org"\npreheader: p')
    result = runner.invoke(app, ["check", str(issue)])
    assert result.exit_code == 1 and "[subject-control-character]" in result.output and "carriage return" in result.output


def test_check_spam_without_spamassassin_says_how_to_install(write_issue, monkeypatch):
    from newsletter.review import spam

    monkeypatch.setattr(spam, "spamassassin_path", lambda: None)
    result = runner.invoke(app, ["check", str(write_issue("Hi.\n")), "--spam"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [  # one line: the spinner shows only on a terminal
        "Error: check --spam: SpamAssassin is not installed; install the Debian package 'spamassassin' (apt-get install spamassassin)"
    ]
