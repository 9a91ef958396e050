"""Heat maps of |error| over the output positions, one grid per channel slice,
as plain data for HTML cells (no plotting library: a table of coloured cells)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..layouts import to_channels_first_axes
from ..tolerance import error_ratios, worst_element

MAX_SLICES = 6


@dataclasses.dataclass(frozen=True)
class Cell:
    colour: str
    title: str
    over: bool  # beyond the bound


@dataclasses.dataclass(frozen=True)
class Slice:
    label: str
    rows: tuple[tuple[Cell, ...], ...]


@dataclasses.dataclass(frozen=True)
class HeatMap:
    slices: tuple[Slice, ...]
    hidden: int  # slices with smaller errors, not drawn
    peak: float


def _colour(fraction: float) -> str:
    """White (no error) to deep red (the largest error in the map)."""
    fraction = min(max(fraction, 0.0), 1.0)
    level = round(255 * (1 - fraction))
    return f"rgb(255,{level},{round(level * 0.9)})"


def heat_map(error_map: dict, layout: str, names: tuple[str, ...] | None = None) -> HeatMap:
    """Grids of |error| from a record's ``error_map`` (flat values in ``layout``).

    1-D outputs draw one grid per batch item (rows are channels); 2-D one per
    (batch, channel); 3-D one per (batch, channel, depth). The slices with the
    worst element (by |error| / bound, as checks judge) come first. ``names`` label
    the axes where they are no (n, c, *spatial) (a weight gradient's (o, i, *kernel)).
    """
    shape = tuple(error_map["shape"])
    errors = np.asarray(error_map["abs"], dtype=np.float64).reshape(shape)
    bound = np.asarray(error_map["bound"], dtype=np.float64).reshape(shape)
    if layout.endswith("C"):
        axes = to_channels_first_axes(len(shape) - 2)
        errors, bound = errors.transpose(axes), bound.transpose(axes)
    names = names or {3: ("n", "c", "w"), 4: ("n", "c", "h", "w"), 5: ("n", "c", "d", "h", "w")}[errors.ndim]
    lead = 1 if errors.ndim == 3 else errors.ndim - 2  # axes that pick a slice
    finite = errors[np.isfinite(errors)]
    peak = float(finite.max()) if finite.size else 0.0
    slices = []
    for index in np.ndindex(*errors.shape[:lead]):
        grid, grid_bound = errors[index], bound[index]
        label = " ".join(f"{n}={i}" for n, i in zip(names, index))
        slices.append((float(error_ratios(grid, grid_bound)[worst_element(grid, grid_bound)]), label, index, grid,
                       grid_bound))
    slices.sort(key=lambda item: -item[0])  # stable: among equals, the first in C order
    drawn = []
    for _, label, index, grid, grid_bound in slices[:MAX_SLICES]:
        row_name, col_name = names[-2:]
        rows = tuple(
            tuple(
                Cell(
                    _colour(1.0 if not np.isfinite(e) else (e / peak if peak else 0.0)),
                    f"{label} {row_name}={i} {col_name}={j}: |error| {e:.3g}, bound {bd:.3g}",
                    bool(e > bd),
                )
                for j, (e, bd) in enumerate(zip(grid[i], grid_bound[i]))
            )
            for i in range(grid.shape[0])
        )
        drawn.append(Slice(label or "all channels", rows))
    return HeatMap(tuple(drawn), max(len(slices) - MAX_SLICES, 0), peak)
