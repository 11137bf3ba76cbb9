"""Benchmark: reading and classifying bounces from a maildir.

On a fresh SQLite database with N subscribers (default 10,000) and one SMTP
send journaled for all of them, one bounce per subscriber is written into a
maildir, in turn in each shape of the test corpus (Postfix, Exim, Exchange,
Gmail, Yahoo, qmail; hard, soft, delayed, complaints), each naming its
recipient by VERP. Then:

- classify only: every message read from the maildir and classified (no database);
- ``bounces fetch``: classified, matched, recorded, rules applied, removed.

    .venv/bin/python bench/bounces.py [--bounces 10000]

Prints the time of each, messages per second, and the process's peak memory
(max RSS) before and after the fetch, which shows that the mailbox is streamed.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import tempfile
import time
from pathlib import Path
from string import Template

from newsletter.return_path import ReturnPaths
from newsletter.settings import Settings
from newsletter.store import connect

NOW = "2026-12-07T08:00:00Z"
SECRET = "bench-secret-key-0123456789abcdef"
BOUNCE_ADDRESS = "bounces@news.example.org"
CORPUS = Path(__file__).resolve().parent.parent / "tests" / "tracking" / "bounce_corpus"
SHAPES = ("postfix_hard.eml", "gmail_hard.eml", "exchange_hard.eml", "exim_dsn.eml", "exim_text.eml",
          "qmail_hard.eml", "yahoo_text.eml", "gmail_soft.eml", "postfix_mailbox_full.eml", "postfix_delayed.eml",
          "yahoo_arf.eml")


def seed(db: Path, count: int) -> int:
    """``count`` subscribers, one send to all of them (accepted, with Message-IDs); the send's id."""
    conn = connect(db)
    conn.execute("BEGIN")
    list_id = conn.execute("INSERT INTO lists (name, created_at) VALUES ('news', ?) RETURNING id", (NOW,)).fetchone()[0]
    conn.executemany(
        "INSERT INTO subscribers (email, email_key, created_at, updated_at) VALUES (?, ?, ?, ?)",
        ((f"person{i}@example.com", f"person{i}@example.com", NOW, NOW) for i in range(1, count + 1)))
    conn.execute("INSERT INTO memberships (list_id, subscriber_id, created_at) SELECT ?, id, ? FROM subscribers",
                 (list_id, NOW))
    send_id = conn.execute("INSERT INTO sends (slug, html_sha256, list_id, backend, subject, links, created_at)"
                           " VALUES ('bench', 'x', ?, 'smtp', 'Bench', '[]', ?) RETURNING id", (list_id, NOW)).fetchone()[0]
    conn.execute("INSERT INTO deliveries (send_id, subscriber_id, state, attempts, message_id, updated_at)"
                 " SELECT ?, id, 'accepted', 1, '<' || ? || '.' || id || '.00ff@example.org>', ? FROM subscribers",
                 (send_id, send_id, NOW))
    conn.execute("COMMIT")
    conn.close()
    return int(send_id)


def write_maildir(folder: Path, count: int, send_id: int) -> None:
    """One bounce per subscriber, cycling through the corpus shapes."""
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    paths = ReturnPaths(BOUNCE_ADDRESS, SECRET)
    templates = [Template((CORPUS / name).read_text(encoding="utf-8")) for name in SHAPES]
    for number, template in zip(range(1, count + 1), itertools.cycle(templates), strict=False):
        text = template.substitute(verp=paths.address(send_id, number, 1), rcpt=f"person{number}@example.com",
                                   message_id=f"<{send_id}.{number}.00ff@example.org>",
                                   bounce_id=f"<bounce-{number}@mail.example.net>")
        (folder / "new" / f"1796700000.M{number}P1.bench").write_bytes(text.replace("\n", "\r\n").encode())


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bounces", type=int, default=10_000)
    args = parser.parse_args()
    from newsletter.tracking.bounces import fetch
    from newsletter.tracking.bounces.classify import classify, parse
    from newsletter.tracking.bounces.mailboxes import MaildirMailbox

    with tempfile.TemporaryDirectory(prefix="newsletter-bench-bounces-") as tmp:
        root = Path(tmp)
        send_id = seed(root / "bench.db", args.bounces)
        write_maildir(root / "Maildir", args.bounces, send_id)
        size = sum(p.stat().st_size for p in (root / "Maildir" / "new").iterdir())
        print(f"{args.bounces:,} bounces in a maildir, {size / 1e6:.1f} MB")

        start = time.perf_counter()
        kinds: dict[str, int] = {}
        for _, data in MaildirMailbox(str(root / "Maildir"), "").iter_bytes():
            verdict = classify(parse(data))
            kinds[verdict.kind] = kinds.get(verdict.kind, 0) + 1
        took = time.perf_counter() - start
        print(f"classify only: {took:.2f} s ({args.bounces / took:,.0f} messages/s) {dict(sorted(kinds.items()))}")

        settings = Settings(newsletter_database=str(root / "bench.db"), newsletter_secret_key=SECRET,
                            newsletter_bounce_address=BOUNCE_ADDRESS, newsletter_bounce_mailbox=f"maildir://{root}/Maildir")
        before = max_rss_mib()
        start = time.perf_counter()
        report = fetch(settings)
        took = time.perf_counter() - start
        print(f"bounces fetch: {took:.2f} s ({report.read / took:,.0f} messages/s): {report.hard} hard, {report.soft} soft, "
              f"{report.delayed} delayed, {report.complaints} complaints, {report.suppressed} suppressed, "
              f"{report.removed} removed, {report.kept} kept")
        print(f"peak memory (max RSS): {before:.0f} MiB before the fetch, {max_rss_mib():.0f} MiB after")


if __name__ == "__main__":
    main()
