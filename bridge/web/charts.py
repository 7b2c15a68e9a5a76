"""Charts drawn on the server as inline SVG.

No JavaScript charting library: the dashboard works with no network access at all, needs
no vendored front-end code to keep patched, and its Content-Security-Policy can forbid
scripts outright. Every label is escaped (server names come from other organisations).
Each bar carries its figure in a ``<title>`` (a tooltip) and a ``data-value`` attribute.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

BAR_W, BAR_GAP, HEIGHT, TOP_PAD, AXIS = 14, 3, 110, 14, 18


def day_bars(days: Sequence[str], values: Sequence[int], label: str) -> Markup:
    """Items per day for one recipient: a bar per day, the peak marked on the left."""
    peak = max(values, default=0)
    width = 40 + len(values) * (BAR_W + BAR_GAP)
    parts = [
        f'<svg class="chart day-bars" role="img" width="{width}" height="{HEIGHT + AXIS}" '
        f'viewBox="0 0 {width} {HEIGHT + AXIS}" data-recipient="{escape(label)}" '
        f'aria-label="{escape(label)}: items per day">',
        f'<text x="0" y="{TOP_PAD}" class="axis">{peak}</text>',
        f'<line x1="36" y1="{HEIGHT}" x2="{width}" y2="{HEIGHT}" class="base"/>',
    ]
    for n, (day, value) in enumerate(zip(days, values, strict=True)):
        h = 0 if peak == 0 else round((HEIGHT - TOP_PAD) * value / peak)
        x = 40 + n * (BAR_W + BAR_GAP)
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - h}" width="{BAR_W}" height="{h}" class="bar" '
            f'data-day="{escape(day)}" data-value="{value}">'
            f"<title>{escape(day)}: {value} items</title></rect>"
        )
    if days:
        parts.append(f'<text x="40" y="{HEIGHT + AXIS - 4}" class="axis">{escape(days[0])}</text>')
        parts.append(
            f'<text x="{width}" y="{HEIGHT + AXIS - 4}" class="axis" text-anchor="end">'
            f"{escape(days[-1])}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value is escaped or a number


def ranking(rows: Sequence[tuple[str, int]], unit: str) -> Markup:
    """Horizontal bars, one per recipient, longest first as given."""
    peak = max((v for _, v in rows), default=0)
    line, label_w, bar_w = 22, 220, 300
    height = max(1, len(rows)) * line
    parts = [
        f'<svg class="chart ranking" role="img" width="{label_w + bar_w + 80}" '
        f'height="{height}" aria-label="{escape(unit)} per recipient">'
    ]
    for n, (name, value) in enumerate(rows):
        y = n * line
        w = 0 if peak == 0 else max(1, round(bar_w * value / peak))
        parts.append(
            f'<text x="0" y="{y + 15}" class="label">{escape(name)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w}" height="14" class="bar" '
            f'data-recipient="{escape(name)}" data-value="{value}">'
            f"<title>{escape(name)}: {value} {escape(unit)}</title></rect>"
            f'<text x="{label_w + w + 6}" y="{y + 15}" class="value">{value}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value is escaped or a number
