"""The geometry of the radar chart, drawn on the server as inline SVG (no script, prints and reads the same
everywhere): one axis per dimension, clockwise from the top, 0 at the centre and 100 on the outer ring."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH = 420
HEIGHT = 360
CENTRE_X = WIDTH / 2
CENTRE_Y = HEIGHT / 2
RADIUS = 120
LABEL_GAP = 18
RINGS = (25, 50, 75, 100)  # the level thresholds, so a polygon reads against them


@dataclass(frozen=True)
class Axis:
    label: str
    x: float
    y: float
    label_x: float
    label_y: float
    anchor: str  # SVG text-anchor


@dataclass(frozen=True)
class Ring:
    value: int
    points: str
    label_x: float
    label_y: float


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float, ...]
    points: str  # SVG polygon points
    dots: tuple[tuple[float, float], ...]
    current: bool  # the result shown; an earlier year is drawn dashed beneath it


@dataclass(frozen=True)
class RadarChart:
    width: int
    height: int
    centre: tuple[float, float]
    axes: tuple[Axis, ...]
    rings: tuple[Ring, ...]
    series: tuple[Series, ...]
    summary: str  # the numbers in words, for the aria-label


def _point(index: int, count: int, value: float) -> tuple[float, float]:
    angle = -math.pi / 2 + 2 * math.pi * index / count
    distance = RADIUS * max(0.0, min(100.0, value)) / 100
    return round(CENTRE_X + distance * math.cos(angle), 1), round(CENTRE_Y + distance * math.sin(angle), 1)


def _points(values: Sequence[float]) -> str:
    return " ".join(f"{x},{y}" for x, y in (_point(i, len(values), v) for i, v in enumerate(values)))


def radar_chart(
    dimensions: Sequence[tuple[str, str]],
    series: Sequence[tuple[str, Mapping[str, float], bool]],
    summary_prefix: str = "",
) -> RadarChart:
    """`dimensions` [(id, label)]; `series` [(name, {dimension id: 0–100}, is current)], drawn in the given
    order (put the earlier year first so the current polygon lies on top). A missing score counts as 0."""
    count = len(dimensions)
    if count < 3:
        raise ValueError("a radar chart needs at least three dimensions")
    axes = []
    for index, (_, label) in enumerate(dimensions):
        x, y = _point(index, count, 100)
        angle = -math.pi / 2 + 2 * math.pi * index / count
        label_x = round(CENTRE_X + (RADIUS + LABEL_GAP) * math.cos(angle), 1)
        label_y = round(CENTRE_Y + (RADIUS + LABEL_GAP) * math.sin(angle) + 5, 1)
        anchor = "middle" if abs(label_x - CENTRE_X) < 1 else ("start" if label_x > CENTRE_X else "end")
        axes.append(Axis(label, x, y, label_x, label_y, anchor))
    rings = tuple(
        Ring(value, _points([value] * count), CENTRE_X + 3, round(CENTRE_Y - RADIUS * value / 100 - 3, 1))
        for value in RINGS
    )
    drawn = []
    for name, scores, current in series:
        values = tuple(float(scores.get(dimension_id) or 0) for dimension_id, _ in dimensions)
        dots = tuple(_point(i, count, v) for i, v in enumerate(values))
        drawn.append(Series(name, values, _points(values), dots, current))
    summary = "; ".join(
        f"{s.name}: "
        + ", ".join(f"{label} {value:.1f}" for (_, label), value in zip(dimensions, s.values, strict=True))
        for s in drawn
    )
    return RadarChart(
        width=WIDTH,
        height=HEIGHT,
        centre=(CENTRE_X, CENTRE_Y),
        axes=tuple(axes),
        rings=rings,
        series=tuple(drawn),
        summary=f"{summary_prefix} — {summary}" if summary_prefix else summary,
    )
