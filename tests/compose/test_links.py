"""Link resolution and UTM tagging."""

from newsletter.compose.links import LinkRewriter


def rewriter(base="https://site.example.org", utm=True):
    return LinkRewriter(base_url=base, utm=utm, utm_source="newsletter", campaign="nov", source_name="x.md")


def test_site_relative_resolved_and_tagged():
    assert rewriter().link("/blog/a", text="a", line=3) == (
        "https://site.example.org/blog/a?utm_source=newsletter&utm_medium=email&utm_campaign=nov"
    )


def test_existing_parameters_are_kept_and_never_overwritten():
    url = "https://x.example.com/p?si=abc&utm_source=partner#frag"
    assert rewriter().link(url, text="", line=1) == (
        "https://x.example.com/p?si=abc&utm_source=partner&utm_medium=email&utm_campaign=nov#frag"
    )


def test_mailto_untouched_and_utm_switch():
    assert rewriter().link("mailto:a@example.org", text="", line=1) == "mailto:a@example.org"
    assert rewriter(utm=False).link("https://x.example.com/", text="", line=1) == "https://x.example.com/"


def test_images_resolved_without_utm_and_protocol_relative():
    r = rewriter()
    assert r.image("/img/a.jpg", alt="", line=1) == "https://site.example.org/img/a.jpg"
    assert r.image("//cdn.example.com/b.png", alt="", line=1) == "https://cdn.example.com/b.png"


def test_relative_without_base_is_an_error_naming_the_line():
    r = rewriter(base="")
    assert r.link("/blog/a", text="a", line=12) == "/blog/a"
    (finding,) = r.findings
    assert finding.code == "relative-url" and finding.severity == "error" and finding.where == "x.md:12"
