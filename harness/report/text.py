"""How the page writes a number and sorts versions: shared by its sections."""

from __future__ import annotations

import re


def figures(value: float | None) -> str:
    """Three significant figures, or "-" where there is none."""
    return "-" if value is None else f"{value:.3g}"


def natural(text: str) -> list:
    """Sort key that puts jax 0.4.38 before jax 0.10.2."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
