"""A real send refuses unsubscribe links its recipients could not follow (issue 19, point 3)."""

from __future__ import annotations

import pytest

from newsletter.errors import ConfigError
from newsletter.settings import public_url_problem
from tests.delivery.fakes import table_counts

LOCAL = ["http://127.0.0.1:8000", "http://localhost:8000", "https://localhost", "https://app.localhost/news",
         "https://10.0.0.5", "https://192.168.1.2/news", "https://[::1]:8000", "https://127.0.0.2",
         "https://169.254.10.1", "http://news.example.org"]


@pytest.mark.parametrize("url", LOCAL)
def test_what_subscribers_cannot_reach_is_named(url):
    problem = public_url_problem(url)
    assert problem.startswith(url) and ("https://" in problem or "address" in problem or "localhost" in problem)


@pytest.mark.parametrize("url", ["https://news.example.org", "https://news.example.org:8443/newsletter",
                                 "https://93.184.216.34", "https://[2606:4700::1111]"])
def test_a_public_https_url_is_fine(url):
    assert public_url_problem(url) == ""


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:8000", "https://10.0.0.5",
                                 "http://news.example.org"])
def test_smtp_send_refuses_a_local_or_plain_http_public_url(cli, smtp_settings, smtp_server, issue, make_list,
                                                            tmp_path, url):
    handler, _ = smtp_server
    make_list("news", 2)
    config = smtp_settings.with_overrides(newsletter_public_url=url, newsletter_allow_local_links=False)
    run = cli(config, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 2, run.output
    [line] = run.stderr.splitlines()
    assert line.startswith(f"Error: NEWSLETTER_PUBLIC_URL: {url} is ") and "--allow-local-links" in line
    assert table_counts(config.newsletter_database, "sends", "deliveries") == (0, 0)
    assert handler.messages == []
    # Looking first (--dry-run) says the same, and so does scheduling it.
    assert cli(config, "send", issue, "--list", "news", "--dry-run").exit_code == 2
    run = cli(config, "send", issue, "--list", "news", "--yes", "--at", "2099-01-01 09:00", "--tz", "UTC")
    assert run.exit_code == 2 and "NEWSLETTER_PUBLIC_URL" in run.stderr
    assert table_counts(config.newsletter_database, "sends", "deliveries") == (0, 0)


def test_sendgrid_send_refuses_a_loopback_public_url(cli, sendgrid_settings, sendgrid_server, issue, make_list):
    make_list("news", 2)
    config = sendgrid_settings.with_overrides(newsletter_allow_local_links=False)
    run = cli(config, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 2 and "Error: NEWSLETTER_PUBLIC_URL: http://127.0.0.1:8000 is a loopback address" in run.stderr
    assert sendgrid_server.requests == []
    assert table_counts(config.newsletter_database, "sends", "deliveries") == (0, 0)


def test_the_override_sends_with_a_warning(cli, smtp_settings, smtp_server, issue, make_list):
    handler, _ = smtp_server
    make_list("news", 2)
    config = smtp_settings.with_overrides(newsletter_allow_local_links=False)
    run = cli(config, "send", issue, "--list", "news", "--yes", "--allow-local-links")
    assert run.exit_code == 0, run.output
    assert "NEWSLETTER_PUBLIC_URL: http://127.0.0.1:8000 is a loopback address" in run.stderr
    assert len(handler.messages) == 2
    make_list("news", 3)
    run = cli(config.with_overrides(newsletter_allow_local_links=True), "send", issue, "--list", "news", "--yes",
              "--include-new")
    assert run.exit_code == 0 and len(handler.messages) == 3


def test_the_outbox_and_a_public_https_url_need_no_override(cli, settings, smtp_settings, smtp_server, issue,
                                                            make_list):
    handler, _ = smtp_server
    make_list("news", 1)
    make_list("other", 1)
    strict = settings.with_overrides(newsletter_allow_local_links=False)
    run = cli(strict, "send", issue, "--list", "news", "--yes")  # outbox: files in a folder, local links are fine
    assert run.exit_code == 0 and "NEWSLETTER_PUBLIC_URL" not in run.stderr
    public = smtp_settings.with_overrides(newsletter_allow_local_links=False,
                                          newsletter_public_url="https://news.example.org")
    run = cli(public, "send", issue, "--list", "other", "--yes")
    assert run.exit_code == 0 and "NEWSLETTER_PUBLIC_URL" not in run.stderr and len(handler.messages) == 1


def test_test_send_only_warns(cli, smtp_settings, smtp_server, issue):
    handler, _ = smtp_server
    config = smtp_settings.with_overrides(newsletter_allow_local_links=False, newsletter_reviewers="rev@example.org")
    run = cli(config, "test-send", issue)
    assert run.exit_code == 0, run.output
    assert "warning: NEWSLETTER_PUBLIC_URL: http://127.0.0.1:8000 is a loopback address" in run.stderr
    assert len(handler.messages) == 1


@pytest.mark.parametrize("url", ['https://news.example.org/"x', "https://news.example.org/<x>",
                                 "https://news.example.org/a b"])
def test_characters_that_break_list_unsubscribe_are_refused_for_every_backend(cli, settings, issue, make_list, url):
    make_list("news", 1)
    with pytest.raises(ConfigError, match="List-Unsubscribe"):
        settings.with_overrides(newsletter_public_url=url)
    env_config = {"NEWSLETTER_PUBLIC_URL": url}
    from typer.testing import CliRunner

    from newsletter.cli import app
    from tests.delivery.fakes import settings_env

    run = CliRunner().invoke(app, ["send", str(issue), "--list", "news", "--yes"],
                             env={**settings_env(settings), **env_config})
    assert run.exit_code == 2 and run.stderr.startswith("Error: NEWSLETTER_PUBLIC_URL: must not contain")
    assert table_counts(settings.newsletter_database, "sends", "deliveries") == (0, 0)
