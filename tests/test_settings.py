"""Settings: precedence, parsing, secrets, and .env.example kept in step."""

import re
from pathlib import Path

import pytest

from newsletter.errors import ConfigError
from newsletter.settings import load_settings, setting_names

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_in_env_example():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert set(setting_names()) <= documented
    assert documented <= set(setting_names())  # and nothing stale is documented


def test_env_example_values_parse():
    load_settings({}, env_file=ROOT / ".env.example")


def test_precedence_environment_over_file_over_default(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SMTP_PORT=2525\nNEWSLETTER_BRAND=From file\n")
    config = load_settings({"SMTP_PORT": "587"}, env_file=env_file)
    assert config.smtp_port == 587 and config.newsletter_brand == "From file"
    assert config.smtp_host == "localhost"
    assert config.with_overrides(smtp_port=465, smtp_host=None).smtp_port == 465


def test_env_file_setting_is_honoured(tmp_path):
    env_file = tmp_path / "other.env"
    env_file.write_text("NEWSLETTER_BACKEND=smtp\n")
    assert load_settings({"NEWSLETTER_ENV_FILE": str(env_file)}).newsletter_backend == "smtp"


@pytest.mark.parametrize("name, value", [("SMTP_PORT", "twenty"), ("NEWSLETTER_TRACKING", "perhaps"), ("NEWSLETTER_RATE", "x")])
def test_bad_values_name_the_setting(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_secrets_never_in_repr():
    config = load_settings({"SENDGRID_API_KEY": "SG.supersecret", "SMTP_PASSWORD": "hunter2", "NEWSLETTER_SECRET_KEY": "k" * 32})
    text = repr(config) + str(config)
    assert "supersecret" not in text and "hunter2" not in text and "k" * 32 not in text


def test_reviewers_split():
    assert load_settings({"NEWSLETTER_REVIEWERS": " a@example.org, ,b@example.org "}).reviewers == ["a@example.org", "b@example.org"]
