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


def line_chart(lines: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str) -> LineChart | None:
    """Lay out named lines of (x, y) points in SVG coordinates; None when there is nothing to draw."""
    points = [p for line in lines.values() for p in line]
    if not points:
        return None
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    top = max([p[1] for p in points] + [1.0])

    def sx(v: float) -> float:
        return round(PAD + (WIDTH - 2 * PAD) * ((v - x0) / (x1 - x0) if x1 > x0 else 0.5), 1)

    def sy(v: float) -> float:
        return round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top, 1)

    series = []
    for name, line in lines.items():
        dots = [(sx(x), sy(y), f"{x:g}: {y:g}") for x, y in sorted(line)]
        series.append(Series(name, " ".join(f"{a},{b}" for a, b, _ in dots), dots))
    xticks = [(sx(v), f"{v:g}") for v in sorted({p[0] for p in points})]
    yticks = [(sy(top * f), f"{top * f:.3g}") for f in (0.0, 0.5, 1.0)]
    return LineChart(WIDTH, HEIGHT, series, xticks, yticks, xlabel, ylabel)


def bar_widths(counts: dict[str, int]) -> list[tuple[str, int, float]]:
    """(name, count, percent of the largest) for the non-zero counts, largest first, for CSS bars."""
    top = max(list(counts.values()) + [1])
    rows = sorted(((k, v) for k, v in counts.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))
    return [(name, count, round(100.0 * count / top, 1)) for name, count in rows]
