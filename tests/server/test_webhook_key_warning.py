"""``serve`` warns of a missing SendGrid webhook key only to a team that sends with SendGrid."""

from __future__ import annotations

import logging

import pytest


@pytest.mark.parametrize(("backend", "warned"), [("sendgrid", True), ("smtp", False), ("outbox", False)])
def test_the_missing_key_warning_is_for_sendgrid_teams(settings, make_client, caplog, backend, warned):
    caplog.set_level(logging.WARNING)
    config = settings.with_overrides(newsletter_backend=backend, sendgrid_webhook_public_key="",
                                     sendgrid_api_key="SG.test")
    with make_client(config) as client:
        assert client.get("/healthz").status_code in (200, 404)
        body = b"[]"
        # Without a key the webhook still refuses, whatever the backend.
        assert client.post("/webhooks/sendgrid", content=body).status_code == 503
    assert ("SENDGRID_WEBHOOK_PUBLIC_KEY is not set" in caplog.text) is warned
