"""The models' section: one page per scanned model and environment, its layers in
order with their outcomes, calls and verdicts (what ``port`` recorded)."""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

from ..records import Record
from .environments import environment_key
from .section import SectionPage
from .text import figures


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One layer of a model: checked in every backend, or not a spec (``state`` "unchecked")."""

    index: int
    name: str
    kind: str
    spec: str
    outcomes: tuple[tuple[str, str, str], ...]  # (backend, status, anchor of its detail or "")
    worst: str
    verdict: str
    calls: tuple[tuple[str, str], ...]  # (backend, pasteable code)
    state: str  # "agree", "disagree" or "unchecked"


@dataclasses.dataclass(frozen=True)
class ModelPage(SectionPage):
    """A scanned model in one environment (``title``: the model's name)."""

    environment: str
    layers: tuple[LayerRow, ...]

    @property
    def disagreeing(self) -> int:
        """How many layers disagree with the reference in some backend."""
        return sum(row.state == "disagree" for row in self.layers)


def model_pages(records: Iterable[Record], anchors: Mapping[int, str]) -> tuple[ModelPage, ...]:
    """One page per scanned model and environment, in order of first appearance; ``anchors``
    gives, by position among the records, the detail that shows a record."""
    grouped: dict[tuple[str, str], dict[int, list[tuple[int, Record]]]] = {}
    for position, record in enumerate(records):
        if record.model is not None:
            key = (record.model, environment_key(record.environment))
            grouped.setdefault(key, {}).setdefault(record.layer_index, []).append((position, record))
    return tuple(
        ModelPage(f"m{number}", name, env, tuple(_layer_row(index, layers[index], anchors) for index in sorted(layers)))
        for number, ((name, env), layers) in enumerate(grouped.items(), 1)
    )


def _layer_row(index: int, entries: list[tuple[int, Record]], anchors: Mapping[int, str]) -> LayerRow:
    first = entries[0][1]
    if first.spec is None:
        return LayerRow(index, first.layer, first.kind or "", "", (), "-", f"not checked: {first.message}", (),
                        "unchecked")
    bad = [f"{r.backend} {r.status}" for _, r in entries if r.status.failing]
    return LayerRow(
        index, first.layer, first.kind or "", first.conv_spec.describe(),
        outcomes=tuple((r.backend, str(r.status), anchors.get(p, "")) for p, r in entries),
        worst=figures(max((r.ratio for _, r in entries if r.ratio is not None), default=None)),
        verdict=f"DISAGREE: {', '.join(bad)}" if bad else "agree",
        calls=tuple((r.backend, r.invocation.standalone()) for _, r in entries
                    if r.invocation and r.invocation.body and r.backend != "numpy"),
        state="disagree" if bad else "agree",
    )
