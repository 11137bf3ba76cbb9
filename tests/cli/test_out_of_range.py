"""Values a user can type that once crashed (exit 70) or were silently ignored: now usage errors, exit 2."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("command", ["sends", "pause", "cancel", "resume"])
def test_a_send_id_beyond_64_bits_is_a_usage_error(run_cli, command):
    result = run_cli(command, "9223372036854775808")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"Usage: newsletter {command} ")
    assert "Error: Invalid value for 'SEND_ID': 9223372036854775808 is not in the range" in result.stderr
    assert "Internal error" not in result.stderr and "Traceback" not in result.stderr


def test_the_largest_send_id_is_looked_up(run_cli):
    result = run_cli("sends", "9223372036854775807")
    assert result.returncode == 2
    assert result.stderr == "Error: 9223372036854775807: no such send (see `newsletter sends`)\n"


def test_a_missing_env_file_is_named_not_ignored(run_cli, tmp_path):
    missing = tmp_path / "prod.env"
    result = run_cli("sends", env={"NEWSLETTER_ENV_FILE": str(missing)})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"Error: NEWSLETTER_ENV_FILE: names '{missing}', which does not exist (unset it to read ./.env, "
        "or set it to /dev/null to read no file)"]
    missing.write_text("NEWSLETTER_BACKEND=outbox\n")
    assert run_cli("sends", env={"NEWSLETTER_ENV_FILE": str(missing)}).returncode == 0
    assert run_cli("sends", env={"NEWSLETTER_ENV_FILE": "/dev/null"}).returncode == 0
