"""Server-rendered SVG charts: no script, readable by screen readers (role="img" with a label), and the
same numbers always sit in a table next to the chart."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from flask_babel import gettext as _
from markupsafe import Markup, escape

from crm.dashboard.breakdowns import Breakdown
from crm.dashboard.quotas import QuotaRow

WIDTH = 720
LABEL_WIDTH = 230
VALUE_WIDTH = 130
BAR_AREA = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20
ROW_HEIGHT = 30
BAR_HEIGHT = 16
TOP = 28
MAX_SCALE = Fraction(3, 2)  # bars beyond 150 % of the target are drawn at 150 %
COLOURS = {"ok": "#1a7f37", "risk": "#b42318", "bar": "#0b5cad", "track": "#e6ebf1", "ink": "#1b1f24"}


def _short(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: object) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.1f}".rstrip("0").rstrip(".")  # type: ignore[arg-type]


def _svg(height: int, label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui, sans-serif" font-size="13">'
        f"<title>{escape(label)}</title>" + "".join(body) + "</svg>"
    )


def quota_chart(rows: Sequence[QuotaRow]) -> Markup:
    """A bar per programme: counted against the target (the grey track is 100 %), with a dark marker where a
    straight line from zero to the target would stand today."""
    label = _("Counted against target per programme; the marker shows where each should be by now.")
    if not rows:
        empty = escape(_("No programmes."))
        return _svg(40, label, [f'<text x="0" y="24">{empty}</text>'])
    scale = min(max([Fraction(1), *(row.share for row in rows)]), MAX_SCALE)
    unit = Fraction(BAR_AREA) / scale
    legend = escape(_("Bar: counted; grey: target; line: expected by now"))
    body = [f'<text x="{LABEL_WIDTH}" y="14" fill="{COLOURS["ink"]}">{legend}</text>']
    for index, row in enumerate(rows):
        y = TOP + index * ROW_HEIGHT
        colour = COLOURS["risk"] if row.at_risk else COLOURS["ok"] if row.share >= 1 else COLOURS["bar"]
        bar = float(min(row.share, scale) * unit)
        marker = LABEL_WIDTH + float(row.elapsed_share * unit)
        value = f"{_number(row.counted)} / {row.target:,} ({row.percent}%)"
        body.append(
            f"<g><title>{escape(row.programme_name)}: {escape(value)}</title>"
            f'<text x="0" y="{y + 12}">{escape(_short(row.programme_name))}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{float(unit):.1f}" height="{BAR_HEIGHT}" '
            f'fill="{COLOURS["track"]}"/>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{bar:.1f}" height="{BAR_HEIGHT}" fill="{colour}"/>'
            f'<line x1="{marker:.1f}" x2="{marker:.1f}" y1="{y - 3}" y2="{y + BAR_HEIGHT + 3}" '
            f'stroke="{COLOURS["ink"]}" stroke-width="2"/>'
            f'<text x="{LABEL_WIDTH + BAR_AREA + 10}" y="{y + 12}">{escape(value)}</text></g>'
        )
    return _svg(TOP + len(rows) * ROW_HEIGHT, label, body)


def breakdown_chart(breakdown: Breakdown) -> Markup:
    """A bar per group, longest for the largest group."""
    label = _("%(title)s: counted engagements per group", title=breakdown.dimension.title)
    rows = breakdown.rows
    if not rows:
        empty = escape(_("Nothing counted yet."))
        return _svg(40, label, [f'<text x="0" y="24">{empty}</text>'])
    largest = max(row.count for row in rows) or 1
    body = []
    for index, row in enumerate(rows):
        y = 6 + index * ROW_HEIGHT
        width = BAR_AREA * row.count / largest
        body.append(
            f"<g><title>{escape(row.label)}: {row.count:,}</title>"
            f'<text x="0" y="{y + 12}">{escape(_short(row.label, 22))}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}" '
            f'fill="{COLOURS["bar"]}"/>'
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 12}">{row.count:,}</text></g>'
        )
    return _svg(6 + len(rows) * ROW_HEIGHT, label, body)
