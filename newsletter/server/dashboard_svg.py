"""Charts for the dashboard, drawn on the server as inline SVG: no script, no request, no style attribute
(presentation attributes only, so the pages' Content-Security-Policy needs no ``'unsafe-inline'``).

Each chart is an ``<svg role="img">`` with a ``<title>``; every bar or point carries ``data-series``,
``data-label`` and ``data-value`` (what the browser tests read) and a ``<title>`` as its tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 640
#: Colours of the series, in order (readable on white, distinct for common colour blindness).
COLOURS = ("#1a56db", "#c2410c", "#047857", "#7c3aed", "#6b7280")
_FONT = 'font-family="system-ui,sans-serif" font-size="17" fill="#374151"'
#: Bar charts are narrower, so their labels stay readable on a phone.
BARS_WIDTH = 470


def _open(name: str, title: str, height: int, width: int = WIDTH) -> str:
    return (f'<svg class="chart" data-chart="{escape(name)}" role="img" viewBox="0 0 {width} {height}"'
            f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>')


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def bars(name: str, title: str, rows: Sequence[tuple[str, float]], *, unit: str = "") -> str:
    """Horizontal bars, one per ``(label, value)``, longest = the largest value (a funnel)."""
    top = max((v for _, v in rows), default=0) or 1
    row_h, label_w = 30, 172
    plot = BARS_WIDTH - label_w - 70
    parts = [_open(name, title, row_h * len(rows) + 8, BARS_WIDTH)]
    for i, (label, value) in enumerate(rows):
        y = 4 + i * row_h
        w = max(value / top * plot, 1 if value else 0)
        parts.append(f'<text x="{label_w - 8}" y="{y + 20}" text-anchor="end" {_FONT}>{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 10}" rx="3"'
                     f' fill="{COLOURS[0]}" data-series="{escape(name)}" data-label="{escape(label)}"'
                     f' data-value="{value}"><title>{escape(label)}: {_number(value)}{unit}</title></rect>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 20}" {_FONT}>{_number(value)}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def columns(name: str, title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]],
            *, tick_every: int = 1) -> str:
    """Grouped vertical columns over ``labels`` (hours, weeks), one colour per series, with a legend."""
    height, left, bottom, top_pad = 250, 44, 40, 30
    plot_w, plot_h = WIDTH - left - 8, height - bottom - top_pad
    top = max((v for _, values in series for v in values), default=0) or 1
    slot = plot_w / max(len(labels), 1)
    bar_w = max(slot / max(len(series), 1) - 0.5, 0.5)
    parts = [_open(name, title, height)]
    parts.append(_legend(series))
    for fraction in (0, 0.5, 1):
        y = top_pad + plot_h * (1 - fraction)
        parts.append(f'<line x1="{left}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>{_number(top * fraction)}</text>')
    for s, (series_name, values) in enumerate(series):
        colour = COLOURS[s % len(COLOURS)]
        for i, value in enumerate(values):
            h = value / top * plot_h
            x = left + i * slot + s * bar_w
            parts.append(f'<rect x="{x:.2f}" y="{top_pad + plot_h - h:.2f}" width="{bar_w:.2f}" height="{h:.2f}"'
                         f' fill="{colour}" data-series="{escape(series_name)}" data-label="{escape(labels[i])}"'
                         f' data-value="{value}"><title>{escape(labels[i])}: {_number(value)} {escape(series_name)}'
                         "</title></rect>")
    for i, label in enumerate(labels):
        if i % tick_every == 0:
            parts.append(f'<text x="{left + i * slot:.1f}" y="{height - bottom + 18}" {_FONT}>{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line(name: str, title: str, labels: Sequence[str], values: Sequence[int], *, tick_every: int = 1) -> str:
    """One series as a line with a dot per point (members over time)."""
    height, left, bottom, top_pad = 220, 56, 40, 16
    plot_w, plot_h = WIDTH - left - 16, height - bottom - top_pad
    low, high = min(values, default=0), max(values, default=0)
    low = 0 if low >= 0 and (high - low) * 3 > high else low  # start at zero unless that flattens the line
    span = (high - low) or 1
    step = plot_w / max(len(values) - 1, 1)
    points = [(left + i * step, top_pad + plot_h * (1 - (v - low) / span)) for i, v in enumerate(values)]
    parts = [_open(name, title, height)]
    for value in (low, high):
        y = top_pad + plot_h * (1 - (value - low) / span)
        parts.append(f'<line x1="{left}" x2="{WIDTH - 16}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>{_number(value)}</text>')
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[0]}" stroke-width="2"/>')
    for (x, y), label, value in zip(points, labels, values, strict=True):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLOURS[0]}" data-series="{escape(name)}"'
                     f' data-label="{escape(label)}" data-value="{value}"><title>{escape(label)}: {_number(value)}'
                     "</title></circle>")
    for i, label in enumerate(labels):
        if i % tick_every == 0:
            parts.append(f'<text x="{left + i * step:.1f}" y="{height - bottom + 18}" text-anchor="middle" {_FONT}>'
                         f"{escape(label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _legend(series: Sequence[tuple[str, Sequence[int]]]) -> str:
    parts = []
    x = 44
    for s, (series_name, _) in enumerate(series):
        parts.append(f'<rect x="{x}" y="4" width="14" height="14" fill="{COLOURS[s % len(COLOURS)]}"/>')
        parts.append(f'<text x="{x + 18}" y="17" {_FONT}>{escape(series_name)}</text>')
        x += 28 + 10 * len(series_name)
    return "".join(parts)
