"""Benchmark: the web archive of N sent issues.

On a fresh SQLite database: N issues (default 50, copies of the example issue with their own slug), each
sent to a list of S subscribers (default 10,000) with every delivery accepted. Measures:

- ``build_site``: composing every issue again, checking it against the send, writing pages and feeds;
- the same with the issues already composed (what ``serve`` does after a send: it composes only the new one);
- ``freshness``: what ``serve`` checks on every /archive/ request to know whether to build again;
- a cached /archive/ answer through the app (Starlette's test client, no network).

    .venv/bin/python bench/archive.py [--issues 50] [--subscribers 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from newsletter.archive.site import ComposeMemo, build_site, freshness
from newsletter.compose import compose_issue
from newsletter.settings import load_settings
from newsletter.store import connect

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-11-24T08:00:00Z"


def seed(folder: Path, issues: int, subscribers: int):
    """Issue files, a list, its subscribers and one accepted send per issue; returns the settings."""
    settings = load_settings({}).with_overrides(
        newsletter_database=str(folder / "bench.db"), newsletter_issues=str(folder / "issues"),
        newsletter_secret_key="bench-secret-key-0123456789", newsletter_public_url="https://news.example.org")
    (folder / "issues").mkdir()
    example = (ROOT / "issues" / "2026-11-example.md").read_text()
    conn = connect(settings.newsletter_database)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO lists (id, name, created_at) VALUES (1, 'news', ?)", (NOW,))
    conn.executemany(
        "INSERT INTO subscribers (id, email, email_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        ((i, f"p{i}@example.org", f"p{i}@example.org", NOW, NOW) for i in range(1, subscribers + 1)))
    for n in range(issues):
        path = folder / "issues" / f"issue-{n:04d}.md"
        path.write_text(example.replace("---\n", f"---\nslug: issue-{n:04d}\n", 1))
        result = compose_issue(path, settings)
        send_id = conn.execute(
            "INSERT INTO sends (slug, list_id, html_sha256, backend, subject, created_at, started_at, finished_at)"
            " VALUES (?, 1, ?, 'outbox', ?, ?, ?, ?) RETURNING id",
            (result.issue.slug, result.html_sha256, result.issue.subject, NOW, NOW, NOW)).fetchone()[0]
        conn.executemany("INSERT INTO deliveries (send_id, subscriber_id, state, updated_at) VALUES (?, ?, 'accepted', ?)",
                         ((send_id, i, NOW) for i in range(1, subscribers + 1)))
    conn.execute("COMMIT")
    conn.close()
    return settings


def best(work, repeat: int) -> float:
    """The fastest of ``repeat`` runs of ``work()``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        settings = seed(Path(temp), args.issues, args.subscribers)
        conn = connect(settings.newsletter_database)
        site = build_site(conn, settings)
        assert site.issues == args.issues and not site.findings, site.findings
        built = best(lambda: build_site(conn, settings), 3)
        memo = ComposeMemo(settings)
        memo.begin()
        build_site(conn, settings, memo)
        rebuilt = best(lambda: build_site(conn, settings, memo), 3)
        fresh = best(lambda: freshness(conn, settings), 20)
        conn.close()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*httpx2.*")
            from starlette.testclient import TestClient

        from newsletter.server.app import create_app

        with TestClient(create_app(settings)) as client:
            assert client.get("/archive/").status_code == 200  # the first request builds
            cached = best(lambda: client.get("/archive/feed.xml"), 20)
        size = sum(len(data) for data in site.files.values())
        print(f"{args.issues} issues, {args.subscribers:,} accepted deliveries each, {len(site.files)} files, "
              f"{size / 1e6:.1f} MB")
        print(f"build_site:            {built:.2f} s ({built / args.issues * 1000:.0f} ms per issue)")
        print(f"build_site, composed:  {rebuilt:.2f} s ({rebuilt / args.issues * 1000:.0f} ms per issue)")
        print(f"freshness (per serve request): {fresh * 1000:.1f} ms")
        print(f"cached GET /archive/feed.xml:  {cached * 1000:.1f} ms")


if __name__ == "__main__":
    main()
