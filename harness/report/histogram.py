"""How close to the bound results run: one histogram of error/bound per backend and
dtype, a decade a bin, as the sizes an inline SVG needs."""

from __future__ import annotations

import bisect
import collections
import dataclasses
import math
from typing import Iterable

# The bins of error/bound: exact, a decade each up to the bound (the last one
# includes 1, a pass), then beyond it.
DECADES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
BIN_LABELS = ("0", "<1e-6", "1e-6", "1e-5", "1e-4", "1e-3", "0.01", "0.1-1", ">1", ">10", ">100")
FIRST_OVER = BIN_LABELS.index(">1")


def ratio_bin(ratio: float) -> int:
    """The index in ``BIN_LABELS`` of the bin that holds ``ratio`` (NaN and infinity in the last)."""
    if ratio == 0:
        return 0
    if ratio <= 1:
        return 1 + bisect.bisect_right(DECADES, ratio)
    return FIRST_OVER + (not ratio <= 10) + (not ratio <= 100)


@dataclasses.dataclass(frozen=True)
class Bar:
    """One bin of a histogram."""

    label: str  # the bin's lower edge ("0" holds exact results)
    count: int
    height: int  # pixels, against the plot's tallest bar
    over: bool  # the bin lies beyond the bound


@dataclasses.dataclass(frozen=True)
class Distribution:
    """How close to the bound one backend's results run in one dtype: a histogram
    of error/bound on a log axis (each bin a decade)."""

    backend: str
    dtype: str
    bars: tuple[Bar, ...]
    total: int

    HEIGHT = 48  # pixels of the tallest bar
    STEP = 16  # pixels from one bar to the next; bar i's axis label starts at (10 + STEP*i, LABEL_Y), turned 45 degrees
    LABEL_Y = HEIGHT + 16
    FONT = 9  # the axis labels' size in pixels; their font is monospace (report.css), a character at most 0.62 wide

    def _reach(self, label: str) -> float:
        """How far a label turned 45 degrees reaches right of (and below) its start: its
        length along the slope, plus its height for the glyphs that lean right."""
        return math.sqrt(0.5) * (len(label) * 0.62 * self.FONT + self.FONT)

    @property
    def width(self) -> int:
        """Pixels wide enough for every bar and every axis label, whole."""
        return math.ceil(max(10 + self.STEP * i + self._reach(bar.label) for i, bar in enumerate(self.bars)) + 4)

    @property
    def height(self) -> int:
        """Pixels tall enough for the tallest bar and every axis label, whole."""
        return math.ceil(self.LABEL_Y + max(self._reach(bar.label) for bar in self.bars) + 4)


def distributions(ratios: Iterable[tuple[str, str, float]]) -> tuple[Distribution, ...]:
    """One histogram per (backend, dtype) of the ``(backend, dtype, error/bound)`` given, in that order of keys."""
    grouped: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for backend, dtype, ratio in ratios:
        grouped[(backend, dtype)].append(ratio)
    return tuple(_distribution(backend, dtype, values) for (backend, dtype), values in sorted(grouped.items()))


def _distribution(backend: str, dtype: str, values: list[float]) -> Distribution:
    counts = collections.Counter(map(ratio_bin, values))
    peak = max(counts.values())
    bars = tuple(Bar(label, counts[i], round(Distribution.HEIGHT * counts[i] / peak), i >= FIRST_OVER)
                 for i, label in enumerate(BIN_LABELS))
    return Distribution(backend, dtype, bars, len(values))
