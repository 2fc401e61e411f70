"""Small charts drawn as inline SVG/HTML numbers: crisp, deterministic, no image files needed."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 420, 200, 34


@dataclass
class Series:
    """One polyline of a line chart, in SVG coordinates, plus its points for markers."""

    name: str
    points: str
    dots: list[tuple[float, float, str]]


@dataclass
class LineChart:
    """An SVG line chart: series plus axis ticks."""

    width: int
    height: int
    series: list[Series]
    xticks: list[tuple[float, str]]
    yticks: list[tuple[float, str]]
    xlabel: str
    ylabel: str


def line_chart(rows: list[dict[str, float]], x: str, ys: list[str], xlabel: str, ylabel: str
               ) -> LineChart | None:
    """Lay out `rows` (dicts) as a line per key in `ys` against key `x`; None if too few points."""
    rows = [r for r in rows if x in r]
    if len(rows) < 1:
        return None
    xs = [r[x] for r in rows]
    values = [r[k] for r in rows for k in ys if k in r]
    x0, x1 = min(xs), max(xs)
    top = max(values + [1.0])

    def sx(v: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * ((v - x0) / (x1 - x0) if x1 > x0 else 0.5)

    def sy(v: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top

    series = []
    for key in ys:
        pts = [(round(sx(r[x]), 1), round(sy(r[key]), 1), f"{r[x]:g}: {r[key]:g}") for r in rows if key in r]
        if pts:
            series.append(Series(key, " ".join(f"{a},{b}" for a, b, _ in pts), pts))
    xticks = [(round(sx(v), 1), f"{v:g}") for v in sorted(set(xs))]
    yticks = [(round(sy(top * f), 1), f"{top * f:.0f}") for f in (0.0, 0.5, 1.0)]
    return LineChart(WIDTH, HEIGHT, series, xticks, yticks, xlabel, ylabel)


def bar_widths(counts: dict[str, int]) -> list[tuple[str, int, float]]:
    """(name, count, percent of the largest) sorted by count then name, for CSS bars."""
    top = max(list(counts.values()) + [1])
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(name, count, round(100.0 * count / top, 1)) for name, count in rows]
