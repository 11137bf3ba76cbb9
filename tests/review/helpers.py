"""Constants and helpers shared by the review tests (``from tests.review.helpers import ...``)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

HERO_URL = "https://images.example.com/hero.png"
CTA_URL = "https://news.example.org/blog/big-story"
NO_CHROMIUM = "Chromium not installed: apt-get install chromium (Debian package 'chromium'), then pip install 'markdown-newsletter[screenshots]'"

ISSUE_FRONTMATTER = """\
templateKey: blog-post
title: "Autumn at the lab"
author: Jo Writer
date: 2026-11-02T09:00:00.000Z
category:
  - value: news
    label: News
hidePost: false
seo:
  url: https://news.example.org/blog/autumn-at-the-lab/
  title: "Autumn at the lab"
  description: "Three new projects, one party and a call for volunteers"
  twitterUsername: "@lab"
"""

ISSUE_BODY = f"""\
![Our team on the roof terrace]({HERO_URL})

# Three new projects

Hi %%name%%, this autumn we start three new projects. The first one is about
soil, the second one about rivers and the third one about the air we breathe.

# A party and a call for volunteers

We need help with the party on the 21st:

- [Sign up to help](https://news.example.org/volunteer)
- [Read the programme](https://news.example.org/programme)

**[READ MORE >>]({CTA_URL})**
"""


def png_bytes(width: int, height: int, rgb: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """A solid-colour PNG, written by hand (no Pillow needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b"")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    data = Path(path).read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _rgb(css: str) -> tuple[float, float, float]:
    inside = css[css.index("(") + 1 : css.index(")")].replace("/", ",")
    parts = [float(p) for p in inside.replace(",", " ").split()[:3]]
    return parts[0], parts[1], parts[2]


def luminance(css: str) -> float:
    """WCAG relative luminance of a CSS rgb()/rgba() colour."""

    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(css))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS colours."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)
