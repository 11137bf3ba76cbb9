"""The web archive: every issue as it was sent, with an index and an Atom feed per list, and a sitemap.

A room of the audience/review layer: it reads the sends (``store.archive``),
composes their issues again (``compose``) and publishes an issue only when the
composition is the HTML that was sent. ``newsletter archive build`` writes the
files; ``serve`` answers the same bytes at /archive/.

- ``build_site(conn, settings) -> Site`` (files by path, findings)
- ``write_site(site, out_dir) -> list[Path]``
- ``build_archive(settings, out_dir) -> (Site, Path)``: both, on ``NEWSLETTER_DATABASE``
"""

from newsletter.archive.site import Site, build_archive, build_site, write_site

__all__ = ["Site", "build_archive", "build_site", "write_site"]
