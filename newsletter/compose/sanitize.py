"""Raw HTML inside Markdown: keep it, minus what has no place in an email."""

from __future__ import annotations

from newsletter.compose.model import WARNING, Finding

#: Elements that mail clients strip or that only make sense on a web page.
BLOCKED_TAGS = frozenset(
    "script iframe frame frameset object embed applet form input button select textarea "
    "option base link meta noscript".split()
)
URL_ATTRIBUTES = ("href", "src", "action", "background", "formaction")


def sanitize_html(fragment: str, where: str) -> tuple[str, list[Finding]]:
    """Remove blocked elements, ``on*`` handlers and ``javascript:`` URLs from ``fragment``.

    Returns the cleaned HTML and one warning per removal.
    """
    from lxml import html as lxml_html

    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    findings: list[Finding] = []
    for element in list(root.iter()):
        if not isinstance(element.tag, str):  # comments, processing instructions
            continue
        if element.tag.lower() in BLOCKED_TAGS:
            findings.append(Finding("unsafe-html", WARNING, f"removed <{element.tag}> (it has no place in email)", where))
            element.drop_tree()
            continue
        for name in list(element.attrib):
            value = element.attrib[name]
            if name.lower().startswith("on"):
                findings.append(Finding("unsafe-html", WARNING, f"removed {name}= handler from <{element.tag}>", where))
                del element.attrib[name]
            elif name.lower() in URL_ATTRIBUTES and value.strip().lower().startswith(("javascript:", "vbscript:")):
                findings.append(Finding("unsafe-html", WARNING, f"removed {name}={value[:30]!r} from <{element.tag}>", where))
                del element.attrib[name]
    inner = (root.text or "") + "".join(lxml_html.tostring(child, encoding="unicode") for child in root)
    return inner, findings
