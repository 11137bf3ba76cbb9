"""Every check fires on its own input and stays quiet on clean input."""

from newsletter.compose import compose_issue
from newsletter.compose.checks import GMAIL_CLIP_BYTES


def codes(result):
    return {(f.code, f.severity) for f in result.findings}


def test_example_issue_is_clean(example_issue, settings):
    assert compose_issue(example_issue, settings).findings == []


def test_link_checks_name_the_place(write_issue, settings):
    path = write_issue("text\n\n![](https://img.example.com/a.png)\n\n[old](http://insecure.example.com/) [todo](#) [e]() [ex](https://example.com/)\n")
    result = compose_issue(path, settings)
    found = codes(result)
    assert ("image-no-alt", "warning") in found
    assert ("insecure-link", "warning") in found
    assert ("placeholder-link", "warning") in found
    placeholders = [f for f in result.findings if f.code == "placeholder-link"]
    assert len(placeholders) == 3
    assert all(f.where == f"{path}:11" for f in placeholders)  # 4 frontmatter lines + 2 fences: body starts on 7


def test_relative_url_without_base_is_error(write_issue, settings):
    path = write_issue("[a](/relative/page)\n", frontmatter="title: T\npreheader: p")
    result = compose_issue(path, settings)
    assert ("relative-url", "error") in codes(result)


def test_subject_and_preheader(write_issue, settings):
    path = write_issue("![a picture, no prose](https://news.example.org/a.png)\n", frontmatter="title: " + "S" * 79)
    found = codes(compose_issue(path, settings))
    assert ("subject-too-long", "warning") in found and ("missing-preheader", "warning") in found


def test_gmail_clipping(write_issue, settings):
    path = write_issue("\n\n".join(f"Paragraph {i} " + "lorem ipsum " * 40 for i in range(250)))
    result = compose_issue(path, settings)
    assert len(result.html.encode()) > GMAIL_CLIP_BYTES
    assert ("html-too-large", "warning") in codes(result)


def test_layout_without_unsubscribe_is_error(write_issue, settings, tmp_path):
    layout = tmp_path / "layouts" / "nounsub"
    layout.mkdir(parents=True)
    (layout / "email.mjml.j2").write_text("<mjml><mj-body><mj-section><mj-column><mj-text>{{ issue.subject }}</mj-text></mj-column></mj-section></mj-body></mjml>")
    path = write_issue("x\n", frontmatter="title: T\npreheader: p\nlayout: nounsub")
    result = compose_issue(path, settings.with_overrides(newsletter_layouts=str(tmp_path / "layouts")))
    assert ("no-unsubscribe", "error") in codes(result)
    assert result.errors[0].where.endswith("nounsub/email.mjml.j2")
