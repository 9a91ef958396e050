"""The comparisons' section: a model against its port (what ``compare --json`` wrote),
pair by pair, the first divergence marked."""

from __future__ import annotations

import dataclasses
from typing import Iterable

from ..porting.model_comparison import final_output_text
from .section import SectionPage

VERDICT_CSS = {"agree": "pass", "differs": "mismatch", "input_differs": "mismatch", "unpaired": "unsupported",
               "inherited": ""}
NOT_DIVERGING = ("agree", "inherited")  # an inherited input difference is the first divergence's, not a new one


@dataclasses.dataclass(frozen=True)
class PairRow:
    """A source layer and the target layer paired with it."""

    source: str
    target: str
    verdict: str
    css: str  # the status class its verdict is shown in
    detail: str
    fix: str
    call: str  # pasteable code computing the source layer in the target's framework, where they differ
    first: bool  # the first divergence


@dataclasses.dataclass(frozen=True)
class ComparisonPage(SectionPage):
    """A model against its port (what ``compare --json`` wrote): the pairs side by side; ``title``
    is the source model's."""

    target: str
    rows: tuple[PairRow, ...]
    first: str  # the first divergence's layer, or ""
    final: str  # the final outputs, in words


def comparison_pages(comparisons: Iterable[dict]) -> tuple[ComparisonPage, ...]:
    """One page per comparison, in the order given."""
    return tuple(_page(index, data) for index, data in enumerate(comparisons, 1))


def _page(index: int, data: dict) -> ComparisonPage:
    pairs = data["pairs"]
    first = next((i for i, pair in enumerate(pairs) if pair["verdict"] not in NOT_DIVERGING), None)
    rows = tuple(PairRow(pair.get("source") or "-", pair.get("target") or "-", pair["verdict"],
                         VERDICT_CSS.get(pair["verdict"], ""), pair.get("detail", ""), pair.get("fix", ""),
                         pair.get("call", ""), i == first)
                 for i, pair in enumerate(pairs))
    return ComparisonPage(f"compare-{index}", data.get("source", "?"), data.get("target", "?"), rows,
                          data.get("first_divergence") or "", final_output_text(data.get("final_output", {})))
