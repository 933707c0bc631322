"""Server-rendered inline SVG charts for the hub's statistics dashboard: horizontal bars and
lines over time. No JavaScript, no external assets; every label is escaped; the SVG scales to
the width of the screen (``viewBox``) and carries a ``<title>`` for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#c62828", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f")
WIDTH = 360
ROW = 26
LABEL_W = 120


def _fmt(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def bar_chart(items: Sequence[tuple[str, float]], *, title: str) -> SafeString:
    """Horizontal bars, one per ``(label, value)``, longest scaled to the full width, values
    written at the end of each bar. An empty list gives a chart with a "no data" line."""
    height = max(1, len(items)) * ROW + 30
    top = max((v for _, v in items), default=0) or 1
    usable = WIDTH - LABEL_W - 50
    parts = [
        f'<svg class="chart chart-bar" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" class="chart-title" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    if not items:
        parts.append('<text x="0" y="44" font-size="12" fill="#666">—</text>')
    for i, (label, value) in enumerate(items):
        y = 30 + i * ROW
        w = max(1.0, usable * float(value) / top) if value else 0
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="12">{escape(str(label)[:18])}</text>'
            f'<rect x="{LABEL_W}" y="{y + 3}" width="{w:.1f}" height="{ROW - 8}" fill="{colour}" rx="2">'
            f"<title>{escape(str(label))}: {escape(_fmt(value))}</title></rect>"
            f'<text x="{LABEL_W + w + 4:.1f}" y="{y + 15}" font-size="12">{escape(_fmt(value))}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def line_chart(labels: Sequence[str], series: dict[str, Sequence[float]], *, title: str) -> SafeString:
    """Lines over time: ``labels`` along the x axis (e.g. days), one line per series with a
    legend; the y axis runs from 0 to the largest value, marked at 0 and at the top."""
    height, left, right, top_pad, bottom = 220, 36, 8, 28, 40
    plot_w, plot_h = WIDTH - left - right, height - top_pad - bottom
    peak = max((max(values, default=0) for values in series.values()), default=0) or 1
    n = len(labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top_pad + plot_h - plot_h * float(v) / peak

    parts = [
        f'<svg class="chart chart-line" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{WIDTH - right}" y2="{top_pad + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top_pad + 4}" font-size="10" text-anchor="end">{escape(_fmt(peak))}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h}" font-size="10" text-anchor="end">0</text>',
    ]
    if n:
        for i in sorted({0, n - 1}):
            anchor = "start" if i == 0 and n > 1 else "end"
            parts.append(
                f'<text x="{x(i):.1f}" y="{top_pad + plot_h + 14}" font-size="10" '
                f'text-anchor="{anchor}">{escape(labels[i])}</text>'
            )
    for k, (name, values) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        if len(values) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        for i, v in enumerate(values):
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)} {escape(labels[i])}: {escape(_fmt(v))}</title></circle>"
            )
        lx = left + (k % 3) * 110
        ly = height - 8 - (k // 3) * 0
        parts.append(
            f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{ly}" font-size="11">{escape(name[:14])}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
