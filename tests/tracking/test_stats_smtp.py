"""``stats`` for a send nobody reports delivery of (SMTP, outbox): "unknown", not "0"."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from newsletter.cli import app


def test_smtp_delivery_is_unknown_not_zero(seed_send, db, cli_env):
    ids = seed_send()
    seed_send(slug="by-sendgrid")
    from newsletter.store import transaction

    with transaction(db):
        db.execute("UPDATE sends SET backend = 'smtp' WHERE id = ?", (ids["send_id"],))
    runner = CliRunner()
    table = runner.invoke(app, ["stats", "2026-11-example"], env={**cli_env, "COLUMNS": "160"}).output
    [delivered] = [line for line in table.splitlines() if "Delivered" in line]
    assert "unknown" in delivered and "smtp does not report delivery" in delivered and " 0 " not in delivered
    [row] = json.loads(runner.invoke(app, ["stats", "2026-11-example", "--json"], env=cli_env).output)
    assert (row["delivered"], row["delivery_reported"]) == (0, False)
    sendgrid = runner.invoke(app, ["stats", "by-sendgrid"], env={**cli_env, "COLUMNS": "160"}).output
    [delivered] = [line for line in sendgrid.splitlines() if "Delivered" in line]
    assert "unknown" not in delivered and "reported by SendGrid only" in delivered
