"""`newsletter serve` at /archive/ through a real uvicorn: byte for byte the files `archive build` writes,
with ETag, Last-Modified and 304s, and up to date after the next send."""

from __future__ import annotations

from email.utils import format_datetime, parsedate_to_datetime

import httpx


def _url_of(base: str, name: str) -> str:
    return f"{base}/archive/{name.removesuffix('index.html')}"


def test_serve_answers_exactly_what_build_writes(sent, serve, tmp_path):
    base = serve(sent.config)
    assert sent.cli("archive", "build", "--out", tmp_path / "site").exit_code == 0
    files = {p.relative_to(tmp_path / "site").as_posix(): p.read_bytes()
             for p in (tmp_path / "site").rglob("*") if p.is_file() and p.name != ".newsletter-archive"}
    assert len(files) == 9
    with httpx.Client() as client:
        for name, data in sorted(files.items()):
            answer = client.get(_url_of(base, name))
            assert answer.status_code == 200, name
            assert answer.content == data, name
            expected = "application/atom+xml" if name.endswith("feed.xml") else \
                "application/xml" if name.endswith(".xml") else "text/html"
            assert answer.headers["content-type"].startswith(expected), name
            assert answer.headers["etag"] and answer.headers["x-content-type-options"] == "nosniff"


def test_etag_last_modified_and_304(sent, serve):
    base = serve(sent.config)
    with httpx.Client() as client:
        first = client.get(f"{base}/archive/2026-12-harbour/")
        assert first.status_code == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert modified == "Tue, 15 Dec 2026 08:02:00 GMT"
        assert "frame-ancestors 'none'" in first.headers["content-security-policy"]
        again = client.get(f"{base}/archive/2026-12-harbour/", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        other = client.get(f"{base}/archive/2026-12-harbour/", headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200 and other.content == first.content
        since = client.get(f"{base}/archive/2026-12-harbour/", headers={"If-Modified-Since": modified})
        assert since.status_code == 304
        older = format_datetime(parsedate_to_datetime(modified).replace(day=14), usegmt=True)
        assert client.get(f"{base}/archive/2026-12-harbour/", headers={"If-Modified-Since": older}).status_code == 200
        feed = client.get(f"{base}/archive/team/feed.xml")
        assert feed.headers["last-modified"] == "Tue, 24 Nov 2026 08:05:00 GMT"
        assert client.get(f"{base}/archive/team/feed.xml", headers={"If-None-Match": feed.headers["etag"]}).status_code == 304


def test_addresses_redirects_and_404s(sent, serve):
    base = serve(sent.config)
    with httpx.Client(follow_redirects=False) as client:
        assert client.get(f"{base}/archive").headers["location"] == "/archive/"
        moved = client.get(f"{base}/archive/news")
        assert moved.status_code == 308 and moved.headers["location"] == "/archive/news/"
        for missing in ("nope/", "2026-12-harbour/other.html", "%2e%2e/healthz", "news/index.htm"):
            assert client.get(f"{base}/archive/{missing}").status_code == 404, missing
        assert client.head(f"{base}/archive/").status_code == 200


def test_the_next_send_and_an_edit_show_without_a_restart(sent, serve):
    base = serve(sent.config)
    with httpx.Client() as client:
        assert b"Harbour News: January" not in client.get(f"{base}/archive/").content
        issue = sent.write("2027-01-harbour", 'title: "Harbour News: January"\narchive: unlisted')
        sent.send(issue, "news")
        page = client.get(f"{base}/archive/2027-01-harbour/")
        assert page.status_code == 200 and page.headers["x-robots-tag"] == "noindex"
        assert b"Harbour News: January" not in client.get(f"{base}/archive/").content  # unlisted
        issue.write_text(issue.read_text() + "\nEdited after the send.\n")
        assert client.get(f"{base}/archive/2027-01-harbour/").status_code == 404
