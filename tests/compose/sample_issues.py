"""Sample issues of the shapes a comms team writes, for the compose, review and CLI tests.

The static ones are Markdown files in ``samples/`` (code and tables, nested
lists, right-to-left text, CJK and emoji, raw HTML pasted from a partner);
the very long one is generated, since its length is the point.
"""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parent / "samples"
#: Every static sample, by name.
SAMPLE_NAMES = ("code-and-tables", "mixed-directions", "arabic", "cjk-emoji", "raw-html")

_PARAGRAPH = (
    "The {topic} group met {n} times this quarter and agreed on the next steps for the "
    "[{topic} roadmap](https://news.example.org/blog/roadmap-{n}). Contributors from {city} and "
    "elsewhere reviewed the proposals about {subject}, and the [meeting notes](https://wiki.example.org/notes/{n}) "
    "list every decision with its owner and due date. If you want to take part, the next call is "
    "open to everyone and the agenda is published a week in advance."
)
# Real issues do not repeat themselves: each section gets its own words.
_TOPICS = "storage networking compute security identity billing telemetry packaging documentation translation".split()
_CITIES = "Lisbon Nairobi Osaka Lima Oslo Accra Hanoi Quito".split()
_SUBJECTS = [
    "quota enforcement", "rolling upgrades", "audit logging", "image caching", "key rotation",
    "placement policies", "cold migration", "volume snapshots", "rate limiting", "release cadence",
    "mentoring newcomers", "faster reviews", "flaky tests", "power efficiency", "offline installs",
]


def sample(name: str) -> Path:
    """The path of static sample ``name``."""
    return SAMPLES / f"{name}.md"


def long_issue_text(sections: int = 40) -> str:
    """An issue with ``sections`` sections of prose, lists, a quote and a button each."""
    parts = [
        "---",
        'title: "The year in review: every working group"',
        'preheader: "Forty working groups, one issue: what each of them did this year."',
        "seo:",
        "  url: https://news.example.org/blog/year-in-review",
        "---",
        "![The community at the annual meeting](https://images.example.com/annual.jpg)",
        "",
    ]
    for n in range(1, sections + 1):
        words = {
            "topic": _TOPICS[n % len(_TOPICS)],
            "city": _CITIES[n % len(_CITIES)],
            "subject": _SUBJECTS[n % len(_SUBJECTS)],
        }
        parts += [
            f"# Working group {n}: {words['topic']} in {words['city']}",
            "",
            _PARAGRAPH.format(n=n, **words),
            "",
            _PARAGRAPH.format(n=n + 100, **{**words, "subject": _SUBJECTS[(n * 7) % len(_SUBJECTS)]}),
            "",
            f"* [Charter of group {n}](https://wiki.example.org/groups/{n}/charter)",
            f"* [Mailing list archive](https://lists.example.org/group-{n}/)",
            f"* Chair: member {n}, elected in March",
            "",
            f"> Group {n} closed {n * 3} tickets this year.",
            "",
            f"**[JOIN GROUP {n} >>](https://news.example.org/groups/{n})**",
            "",
        ]
    return "\n".join(parts)


def write_long_issue(folder: Path, sections: int = 40) -> Path:
    """Write the long sample into ``folder`` and return its path."""
    path = Path(folder) / f"long-{sections}.md"
    path.write_text(long_issue_text(sections), encoding="utf-8")
    return path
