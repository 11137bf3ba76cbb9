"""Link resolution: site-relative URLs made absolute, UTM parameters added.

One ``LinkRewriter`` per compose run serves Markdown links, images and links
in raw HTML alike, and records every URL it saw (with its source line) for
``meta.json``, the checks and the plain text.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

from newsletter.compose.model import ERROR, Finding, Link

#: Where URLs that cannot be resolved are left; the checks report them.
WEB_SCHEMES = ("http", "https")
#: Link shorteners spam filters score (SpamAssassin's __URL_SHORTENER list, in part).
#: youtu.be is expanded offline; the others are reported by the checks.
SHORTENER_HOSTS = frozenset(
    "bit.ly bitly.com buff.ly cutt.ly goo.gl is.gd lnkd.in ow.ly rb.gy rebrand.ly shorturl.at "
    "t.co t.ly tiny.cc tinyurl.com youtu.be".split()
)


def expand_short_link(url: str) -> str:
    """``https://youtu.be/ID?t=42`` as the page it leads to, ``https://www.youtube.com/watch?v=ID&t=42``.

    The short form points to the same video but is on spam filters' list of
    link shorteners; the long form needs no network to work out.
    """
    parts = urlsplit(url)
    video = parts.path.strip("/")
    if parts.scheme not in WEB_SCHEMES or (parts.hostname or "").lower() != "youtu.be" or not video or "/" in video:
        return url
    query = f"v={video}&{parts.query}" if parts.query else f"v={video}"
    return urlunsplit(("https", "www.youtube.com", "/watch", query, parts.fragment))


class LinkRewriter:
    """Rewrites URLs of one issue and remembers them."""

    def __init__(self, *, base_url: str, utm: bool, utm_source: str, campaign: str, source_name: str) -> None:
        self.base_url = base_url
        self.utm = utm
        self.utm_params = [("utm_source", utm_source), ("utm_medium", "email"), ("utm_campaign", campaign)]
        self.source_name = source_name
        self.links: list[Link] = []
        self.findings: list[Finding] = []

    def resolve(self, url: str, *, line: int) -> str:
        """``url`` made absolute against the issue's base, if it is site-relative."""
        url = url.strip()
        if not url or url.startswith("#") or urlsplit(url).scheme:
            return url
        if url.startswith("//"):  # protocol-relative: email clients need a scheme
            return "https:" + url
        if not self.base_url:
            self.findings.append(
                Finding(
                    "relative-url",
                    ERROR,
                    f"site-relative URL {url!r} has no base: set base_url or seo.url in the frontmatter, "
                    "or NEWSLETTER_SITE_URL",
                    f"{self.source_name}:{line}",
                )
            )
            return url
        return urljoin(self.base_url.rstrip("/") + "/", url)

    def add_utm(self, url: str) -> str:
        """``url`` with any missing UTM parameters appended; existing ones are kept as they are."""
        parts = urlsplit(url)
        if not self.utm or parts.scheme not in WEB_SCHEMES or not parts.netloc:
            return url
        present = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
        extra = "&".join(f"{k}={_quote(v)}" for k, v in self.utm_params if k not in present)
        if not extra:
            return url
        query = f"{parts.query}&{extra}" if parts.query else extra
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))

    def link(self, url: str, *, text: str, line: int) -> str:
        """Rewrite a link target and record it."""
        final = self.add_utm(expand_short_link(self.resolve(url, line=line)))
        self.links.append(Link(url=final, original=url, text=text, line=line, kind="link"))
        return final

    def image(self, url: str, *, alt: str, line: int) -> str:
        """Rewrite an image source (no UTM: it is not a visit) and record it."""
        final = self.resolve(url, line=line)
        self.links.append(Link(url=final, original=url, text=alt, line=line, kind="image"))
        return final


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
