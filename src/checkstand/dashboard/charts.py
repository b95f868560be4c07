"""Bar charts as inline SVG, drawn on the server: no charting service, no script, nothing from another host.

Colours are presentation attributes, not ``style`` (the pages' policy allows no inline style), and each chart
names itself for screen readers (``role="img"`` with a title and a description); the page shows the same figures
in a table beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

WIDTH: Final = 720
HEIGHT: Final = 200
AXIS: Final = 24
# AA against white for the bars and text (each at least 4.5:1, and 3:1 between the two series).
INK: Final = "#1a1a1a"
SERIES: Final = ("#0b57d0", "#8a4b00")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def bars(chart_id: str, title: str, description: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Vertical bars, one group per label and one bar per series in it, scaled to the largest value."""
    top = max((value for one in series for value in one.values), default=0) or 1
    slot = (WIDTH - AXIS) / max(1, len(labels))
    width = max(1.0, slot * 0.8 / max(1, len(series)))
    shapes: list[str] = []
    for index in range(len(labels)):
        for number, one in enumerate(series):
            height = (HEIGHT - AXIS) * one.values[index] / top
            x = AXIS + index * slot + slot * 0.1 + number * width
            y = HEIGHT - AXIS - height
            shapes.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
                f'fill="{SERIES[number % len(SERIES)]}"><title>{escape(labels[index])}: {escape(one.name)} '
                f"{one.values[index]}</title></rect>"
            )
    axis = f'<line x1="{AXIS}" y1="{HEIGHT - AXIS}" x2="{WIDTH}" y2="{HEIGHT - AXIS}" stroke="{INK}" stroke-width="1"/>'
    ends = ""
    if labels:
        ends = (
            f'<text x="{AXIS}" y="{HEIGHT - 6}" fill="{INK}" font-size="12">{escape(labels[0])}</text>'
            f'<text x="{WIDTH}" y="{HEIGHT - 6}" fill="{INK}" font-size="12" text-anchor="end">'
            f"{escape(labels[-1])}</text>"
        )
    return Markup(  # noqa: S704 - every text in it is escaped above
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>'
        f"{axis}{''.join(shapes)}{ends}</svg>"
    )
