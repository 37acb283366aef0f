"""Bar charts as plain geometry for the SVG the templates draw (no chart library)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    top: float  # the value at the top of the plot (a round number at or above the peak)
    peak: float  # the tallest bar's value
    bars: list[Bar]
    first: str
    last: str


def nice_top(peak: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `peak` (at least 1)."""
    if peak <= 1:
        return 1
    magnitude = 10 ** (len(str(int(peak))) - 1)
    for step in (1, 2, 5, 10):
        if peak <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def bar_chart(points: list[tuple[str, float]], width: int = 600, height: int = 140) -> BarChart:
    """One bar per (label, value), scaled so the tallest fits `height`."""
    peak = max((value for _, value in points), default=0)
    top = nice_top(peak)
    slot = width / max(len(points), 1)
    gap = min(2.0, slot * 0.2)
    bars = []
    for index, (label, value) in enumerate(points):
        size = height * value / top
        bars.append(Bar(round(index * slot + gap / 2, 2), round(height - size, 2),
                        round(slot - gap, 2), round(size, 2), value, label))
    return BarChart(width, height, top, peak, bars,
                    points[0][0] if points else "", points[-1][0] if points else "")
