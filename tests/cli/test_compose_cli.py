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
