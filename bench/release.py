"""Benchmark: what the release gate adds to a send at list scale.

On a fresh SQLite database with N subscribers (default 100,000) on one list:

- ``approve``: compose, count the audience, keep its snapshot, append the approval;
- the gate of ``send --dry-run`` with NEWSLETTER_REQUIRED_APPROVALS=1 and one
  matching approval, against the same dry run with no approvals required;
- the gate when 100 members joined since the approval (the diff is computed);
- verifying one SSH-signed approval (``ssh-keygen -Y verify``).

    .venv/bin/python bench/release.py [--subscribers 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from newsletter.delivery.plan import SendOptions
from newsletter.errors import NewsletterError
from newsletter.settings import load_settings
from newsletter.store import connect

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-11-24T08:00:00Z"


def seed(db: Path, start: int, count: int) -> None:
    """Subscribers person<start..start+count-1> on list 'news'."""
    conn = connect(db)
    conn.execute("BEGIN")
    conn.execute("INSERT OR IGNORE INTO lists (id, name, created_at) VALUES (1, 'news', ?)", (NOW,))
    conn.executemany(
        "INSERT INTO subscribers (email, email_key, name, attributes, created_at, updated_at) VALUES (?, ?, '', '{}', ?, ?)",
        ((f"person{i}@example.org", f"person{i}@example.org", NOW, NOW) for i in range(start, start + count)),
    )
    conn.execute("INSERT INTO memberships (list_id, subscriber_id, created_at)"
                 " SELECT 1, id, ? FROM subscribers WHERE id NOT IN (SELECT subscriber_id FROM memberships)", (NOW,))
    conn.execute("COMMIT")
    conn.close()


def timed(label: str, work) -> object:
    started = time.perf_counter()
    result = work()
    print(f"{label}: {(time.perf_counter() - started) * 1000:,.0f} ms")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    args = parser.parse_args()
    from newsletter.delivery.send import send_issue
    from newsletter.release.approve import Signing, approve
    from newsletter.release.gate import ReleaseHooks

    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        issue = base / "issue.md"
        issue.write_text((ROOT / "issues" / "2026-11-example.md").read_text())
        db = base / "bench.db"
        seed(db, 1, args.subscribers)
        settings = load_settings({}, env_file="/dev/null").with_overrides(
            newsletter_database=str(db), newsletter_secret_key="bench-only-secret-key-0123456789")
        gated = settings.with_overrides(newsletter_required_approvals=1)
        options = SendOptions("news", dry_run=True)
        print(f"{args.subscribers:,} subscribers on one list")
        timed("approve (compose, count, snapshot, append)",
              lambda: approve(issue, SendOptions("news"), settings, as_="bench@example.org"))

        def dry_run(config):
            def run() -> str:
                try:
                    send_issue(issue, options, config, hooks=ReleaseHooks(config, issue, options))
                    return "passed"
                except NewsletterError as exc:  # a refusal is an outcome here
                    return f"refused: ...{str(exc)[-120:]}"
            return run

        timed("send --dry-run, no approvals required", dry_run(settings))
        timed("send --dry-run, gate with 1 matching approval", dry_run(gated))
        seed(db, args.subscribers + 1, 100)
        print("  " + str(timed("send --dry-run, gate refusing (100 joined since)", dry_run(gated))))
        key = base / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        signed = approve(issue, SendOptions("news"), settings, as_="signer@example.org", signing=Signing(str(key)))
        from newsletter.release.approvals import signature_status

        timed("check one SSH signature (ssh-keygen -Y check-novalidate)",
              lambda: signature_status(signed.approval, settings))


if __name__ == "__main__":
    main()
