"""Server-drawn charts: geometry for an inline SVG, so the page needs no charting library."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 12, 28


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    label: str
    observation_id: int
    out_of_range: bool


@dataclass(frozen=True)
class TrendChart:
    width: int
    height: int
    points: list[ChartPoint]
    polyline: str
    band: tuple[float, float] | None  # y of the reference range's top edge, and its height
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    unit: str
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_width: int = WIDTH - LEFT - RIGHT
    plot_bottom: int = HEIGHT - BOTTOM


def trend_chart(
    points: list[tuple[dt.datetime | None, float, str, int]], low: float | None = None, high: float | None = None
) -> TrendChart | None:
    """Scale (time, value, unit, observation id) points into the plot area; None when there is nothing to draw."""
    dated = [(t, v, u, pk) for t, v, u, pk in points if t is not None]
    if not dated:
        return None
    t0, t1 = dated[0][0].timestamp(), dated[-1][0].timestamp()
    values = [v for _, v, _, _ in dated] + [r for r in (low, high) if r is not None]
    v0, v1 = min(values), max(values)
    pad = (v1 - v0) * 0.1 or abs(v0) * 0.1 or 1.0
    v0, v1 = v0 - pad, v1 + pad

    def x_of(t: dt.datetime) -> float:
        if t1 == t0:  # one point, or all on one instant: centre it
            return (LEFT + WIDTH - RIGHT) / 2
        return round(LEFT + (t.timestamp() - t0) / (t1 - t0) * (WIDTH - LEFT - RIGHT), 1)

    def y_of(v: float) -> float:
        return round(TOP + (v1 - v) / (v1 - v0) * (HEIGHT - TOP - BOTTOM), 1)

    chart_points = [
        ChartPoint(x_of(t), y_of(v), f"{t:%Y-%m-%d}: {v:g} {u}".strip(), pk, _outside(v, low, high)) for t, v, u, pk in dated
    ]
    band = None
    if low is not None or high is not None:
        top, bottom = y_of(high if high is not None else v1), y_of(low if low is not None else v0)
        band = (top, round(bottom - top, 1))
    y_ticks = [(y_of(v0 + (v1 - v0) * i / 4), f"{v0 + (v1 - v0) * i / 4:.3g}") for i in range(5)]
    x_ticks = [(x_of(dated[0][0]), f"{dated[0][0]:%Y-%m-%d}")]
    if t1 > t0:
        tz = dated[0][0].tzinfo
        between = [dt.datetime.fromtimestamp(t0 + (t1 - t0) * i / 4, tz) for i in (1, 2, 3)]
        x_ticks += [(x_of(t), f"{t:%Y-%m}") for t in between] + [(x_of(dated[-1][0]), f"{dated[-1][0]:%Y-%m-%d}")]
    polyline = " ".join(f"{p.x},{p.y}" for p in chart_points)
    return TrendChart(WIDTH, HEIGHT, chart_points, polyline, band, y_ticks, x_ticks, dated[-1][2])


def _outside(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low) or (high is not None and value > high)
