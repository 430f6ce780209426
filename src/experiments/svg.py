"""Line and bar charts as standalone SVG files (no plotting library: the docs render them as is).

Only what the experiment reports need: several named series over a shared x axis, axis ticks with
labels, a legend; grouped bars with values printed on them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

COLOURS = ("#222222", "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd")
WIDTH, HEIGHT = 720, 360
MARGIN = {"left": 70, "right": 20, "top": 60, "bottom": 50}


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw), default=raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _fmt(value: float) -> str:
    return f"{value:.3g}"


class _Canvas:
    def __init__(self, title: str, x_range: tuple[float, float], y_range: tuple[float, float]):
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
            f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">'
            f"{escape(title)}</text>",
        ]
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range

    def x(self, value: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        inner = WIDTH - MARGIN["left"] - MARGIN["right"]
        return MARGIN["left"] + (value - self.x0) / span * inner

    def y(self, value: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        inner = HEIGHT - MARGIN["top"] - MARGIN["bottom"]
        return HEIGHT - MARGIN["bottom"] - (value - self.y0) / span * inner

    def axes(self, x_label: str, y_label: str, x_ticks: Sequence[float] | None) -> None:
        left, bottom = MARGIN["left"], HEIGHT - MARGIN["bottom"]
        self.parts.append(
            f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - MARGIN["right"]}" y2="{bottom}" '
            'stroke="black"/>'
        )
        self.parts.append(
            f'<line x1="{left}" y1="{MARGIN["top"]}" x2="{left}" y2="{bottom}" stroke="black"/>'
        )
        for tick in nice_ticks(self.y0, self.y1):
            y = self.y(tick)
            self.parts.append(
                f'<line x1="{left - 4}" y1="{y:.1f}" x2="{WIDTH - MARGIN["right"]}" '
                f'y2="{y:.1f}" stroke="#dddddd"/>'
            )
            self.parts.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>'
            )
        for tick in x_ticks if x_ticks is not None else nice_ticks(self.x0, self.x1):
            x = self.x(tick)
            self.parts.append(
                f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{_fmt(tick)}</text>'
            )
        self.parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle">{escape(x_label)}</text>'
        )
        self.parts.append(
            f'<text x="16" y="{HEIGHT / 2}" text-anchor="middle" '
            f'transform="rotate(-90 16 {HEIGHT / 2})">{escape(y_label)}</text>'
        )

    def legend(self, names: Sequence[str]) -> None:
        """One row under the title, clear of the plot."""
        step = (WIDTH - MARGIN["left"] - MARGIN["right"]) / max(len(names), 1)
        for i, name in enumerate(names):
            y = 44
            x = MARGIN["left"] + i * step
            colour = COLOURS[i % len(COLOURS)]
            self.parts.append(
                f'<rect x="{x}" y="{y - 8}" width="12" height="8" fill="{colour}"/>'
                f'<text x="{x + 18}" y="{y}">{escape(name)}</text>'
            )

    def write(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("\n".join([*self.parts, "</svg>"]) + "\n")
        os.replace(tmp, path)
        return path


def line_chart(
    path: str | os.PathLike,
    series: Mapping[str, Sequence[float]],
    title: str,
    x_label: str,
    y_label: str,
    x: Sequence[float] | None = None,
) -> Path:
    """One polyline per named series (NaNs break the line) over ``x`` (default 0, 1, ...)."""
    length = max(len(v) for v in series.values())
    xs = list(x) if x is not None else list(range(length))
    finite = [v for values in series.values() for v in values if math.isfinite(v)]
    top = max(finite) if finite else 1.0
    canvas = _Canvas(title, (xs[0], xs[-1]), (0.0, top * 1.05 or 1.0))
    canvas.axes(x_label, y_label, None)
    for i, values in enumerate(series.values()):
        runs, current = [], []
        for xv, yv in zip(xs, values, strict=False):
            if math.isfinite(yv):
                current.append(f"{canvas.x(xv):.1f},{canvas.y(yv):.1f}")
            elif current:
                runs.append(current)
                current = []
        runs.append(current)
        for run in runs:
            if len(run) > 1:
                canvas.parts.append(
                    f'<polyline fill="none" stroke="{COLOURS[i % len(COLOURS)]}" '
                    f'stroke-width="1.5" points="{" ".join(run)}"/>'
                )
    canvas.legend(list(series))
    return canvas.write(path)


def bar_chart(
    path: str | os.PathLike,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    y_label: str,
) -> Path:
    """Grouped bars: for each group (x position) one bar per named series, value on top."""
    finite = [v for values in series.values() for v in values if math.isfinite(v)]
    top = max(finite) if finite else 1.0
    canvas = _Canvas(title, (-0.5, len(groups) - 0.5), (0.0, top * 1.15 or 1.0))
    canvas.axes("", y_label, [])
    width = 0.8 / max(len(series), 1)
    for g, group in enumerate(groups):
        canvas.parts.append(
            f'<text x="{canvas.x(g):.1f}" y="{HEIGHT - MARGIN["bottom"] + 16}" '
            f'text-anchor="middle">{escape(group)}</text>'
        )
        for s, values in enumerate(series.values()):
            value = values[g]
            if not math.isfinite(value):
                continue
            left = canvas.x(g - 0.4 + s * width)
            right = canvas.x(g - 0.4 + (s + 1) * width)
            y = canvas.y(value)
            canvas.parts.append(
                f'<rect x="{left:.1f}" y="{y:.1f}" width="{right - left - 2:.1f}" '
                f'height="{canvas.y(0) - y:.1f}" fill="{COLOURS[s % len(COLOURS)]}"/>'
                f'<text x="{(left + right) / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'font-size="10">{_fmt(value)}</text>'
            )
    canvas.legend(list(series))
    return canvas.write(path)
