"""A stacked bar chart as inline SVG: no script, no CDN, readable without JavaScript.

Framework-free: text is escaped here, so the markup can be placed in a page as it is.
"""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 28, 48


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... at least ``value`` (axis top), 1 for nothing."""
    step = 1
    while True:
        for multiple in (1, 2, 5):
            if step * multiple >= value:
                return step * multiple
        step *= 10


def stacked_bars_svg(
    *,
    bars: list[tuple[str, dict[str, int]]],
    series: list[tuple[str, str, str]],
    title: str,
) -> str:
    """One bar per ``(label, {series key: value})``, stacked in ``series`` order
    (``(key, label, colour)``), with a y axis, every 5th label and a hover title per segment."""
    top = _nice_ceiling(max((sum(values.values()) for _label, values in bars), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(bars), 1)
    bar_w = max(slot * 0.7, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="chart" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in (0, top // 2 if top % 2 == 0 else None, top):
        if tick is None:
            continue
        y = TOP + plot_h - plot_h * tick / top
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e3e6ea"/><text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="12" fill="#5b6570">{tick}</text>'
        )
    for index, (label, values) in enumerate(bars):
        x = LEFT + slot * index + (slot - bar_w) / 2
        y = TOP + plot_h
        for key, name, colour in series:
            value = values.get(key, 0)
            if not value:
                continue
            height = plot_h * value / top
            y -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{height:.1f}" '
                f'fill="{escape(colour)}"><title>{escape(label)}: {value} '
                f"{escape(name.lower())}</title></rect>"
            )
        if index % 5 == 0 or index == len(bars) - 1:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle" '
                f'font-size="12" fill="#5b6570">{escape(label)}</text>'
            )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
        f'stroke="#5b6570"/></svg>'
    )
    return "".join(parts)
