"""Input manipulation, the AudioMNIST paper's test of an explanation, and insertion, its mirror.

Becker et al. (arXiv 1807.03418) replace the most relevant inputs first and compare the drop in
accuracy with removing random inputs and the loudest ones; Samek et al. (2017, IEEE TNNLS,
arXiv 1509.06321) summarise such a curve by its area over the perturbation curve (AOPC).
Insertion (Petsiuk et al. 2018, arXiv 1806.07421) starts from the baseline and restores the most
relevant inputs first. Every metric here returns the accuracy and true-class probability curves
of all four orders; ``aopc`` and ``faithfulness-gap`` (likewise the insertion pair) share one
computation of those curves per batch.
"""

from __future__ import annotations

import dataclasses

from torch import Tensor

from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, BatchMemo, EvalBatch, MetricOutput
from audioxai_bench.evaluation.perturbation import (
    DEFAULT_GRID,
    ORDERS,
    REFERENCE_ORDERS,
    REMOVALS,
    PerturbationCurves,
    combine_curves,
    perturbation_curves,
)

#: Tile of the per-patch spectrogram test: 8 × 8 bins = 141 Hz × 35 ms (8 bins of 17.6 Hz,
#: 8 frames of hop 35 at 8 kHz), AlexNet's conv1 stride times its first pooling stride, so a
#: tile is about one unit of the second feature map.
PATCH: tuple[int, int] = (8, 8)
STATISTICS: tuple[str, ...] = ("aopc", "gap", "auc")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ManipulationMetric(BaseMetric):
    """One number from the perturbation curves of :func:`perturbation_curves`.

    Parameters
    ----------
    statistic : str
        Deletion: ``"aopc"`` (mean drop of the true-class probability, most relevant first) or
        ``"gap"`` (random curve minus most-relevant curve, averaged over the grid: the
        faithfulness gap). Insertion: ``"auc"`` (mean probability, most relevant restored first)
        or ``"gap"`` (most-relevant minus random).
    mode : str
        ``"deletion"`` or ``"insertion"``.
    patch : tuple of int, optional
        Perturb spectrogram tiles of this size instead of single bins.
    grid, baseline, orders, removal
        Passed to :func:`perturbation_curves`; ``removal="re-preprocess"`` levels every
        perturbed input again as the preprocessing does (dB relative to the new maximum), where
        the default ``"replace"`` (the paper's) writes the baseline into the model input.
    memo : BatchMemo
        Shared by metrics that read the same curves.
    """

    statistic: str
    mode: str = "deletion"
    patch: tuple[int, int] | None = None
    grid: tuple[float, ...] = DEFAULT_GRID
    baseline: str = "silence"
    orders: tuple[str, ...] = ORDERS
    removal: str = "replace"
    memo: BatchMemo = dataclasses.field(default_factory=BatchMemo, compare=False, repr=False)

    def __post_init__(self) -> None:
        allowed = ("aopc", "gap") if self.mode == "deletion" else ("auc", "gap")
        if self.statistic not in allowed:
            raise ValueError(f"metric {self.name!r}: statistic must be one of {allowed}")
        needed = {"most-relevant"} | ({"random"} if self.statistic == "gap" else set())
        if not needed <= set(self.orders):
            raise ValueError(f"metric {self.name!r}: orders must include {sorted(needed)}")
        if self.removal not in REMOVALS:
            raise ValueError(f"metric {self.name!r}: removal must be one of {REMOVALS}")

    def curves(self, batch: EvalBatch) -> PerturbationCurves:
        """The batch's curves, computed once for every metric sharing :attr:`memo`; the
        reference orders once for every explainer sharing ``batch.shared``."""
        key = (self.mode, self.patch, self.grid, self.baseline, self.orders, self.removal)
        return self.memo.get(batch, key, lambda: self._curves(batch))

    def _curves(self, batch: EvalBatch) -> PerturbationCurves:
        def compute(orders: tuple[str, ...]) -> PerturbationCurves:
            return perturbation_curves(
                batch.model, batch.x, batch.relevance, batch.target, grid=self.grid,
                orders=orders, mode=self.mode, baseline=self.baseline, patch=self.patch,
                seed=batch.seed, chunk_size=batch.chunk_size, removal=self.removal)

        reference = tuple(o for o in self.orders if o in REFERENCE_ORDERS)
        own = tuple(o for o in self.orders if o not in REFERENCE_ORDERS)
        if batch.shared is None or not reference or not own:
            return compute(self.orders)
        key = ("perturbation-curves", self.mode, self.patch, self.grid, self.baseline,
               self.removal, reference, batch.seed)
        return combine_curves([compute(own), batch.reuse(key, lambda: compute(reference))],
                              self.orders)

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        c = self.curves(batch)
        extras: dict[str, Tensor] = {"original/probability": c.original_probability,
                                     "original/accuracy": c.original_correct}
        if self.mode == "deletion":
            for order in c.orders:
                extras[f"aopc/{order}"] = c.aopc(order)
                extras[f"aopc-accuracy/{order}"] = c.aopc(order, "accuracy")
            mrf = c.area("most-relevant")
            for order in [o for o in c.orders if o != "most-relevant"]:
                extras[f"gap/{order}"] = c.area(order) - mrf
            scores = c.aopc("most-relevant") if self.statistic == "aopc" else extras["gap/random"]
        else:
            for order in c.orders:
                extras[f"auc/{order}"] = c.area(order)
                extras[f"auc-accuracy/{order}"] = c.area(order, "accuracy")
            mrf = c.area("most-relevant")
            for order in [o for o in c.orders if o != "most-relevant"]:
                extras[f"gap/{order}"] = mrf - c.area(order)
            scores = mrf if self.statistic == "auc" else extras["gap/random"]
        curves = {}
        for order in c.orders:
            curves[f"probability/{order}"] = c.curve(order)
            curves[f"accuracy/{order}"] = c.curve(order, "accuracy")
        units = "feature" if self.patch is None else f"patch {self.patch[0]}x{self.patch[1]}"
        info = {"mode": c.mode, "baseline": self.baseline, "removal": self.removal,
                "units": units,
                "n_units": c.n_units, "orders": list(c.orders)}
        return MetricOutput(scores=scores, curves=curves, grid=c.grid, extras=extras, info=info)


def manipulation_metrics() -> list[ManipulationMetric]:
    """The built-in manipulation metrics; each pair shares one memo (one computation)."""
    spec = frozenset({"spectrogram"})
    deletion, patches, insertion = BatchMemo(), BatchMemo(), BatchMemo()
    return [
        ManipulationMetric(name="aopc", display_name="AOPC (most relevant first)",
                           higher_is_better=True, statistic="aopc", memo=deletion),
        ManipulationMetric(name="faithfulness-gap", display_name="Faithfulness gap vs random",
                           higher_is_better=True, statistic="gap", memo=deletion),
        ManipulationMetric(name="aopc-patch", display_name="AOPC, 8×8 patches",
                           higher_is_better=True, statistic="aopc", patch=PATCH,
                           representations=spec, memo=patches),
        ManipulationMetric(name="faithfulness-gap-patch", display_name="Faithfulness gap, patches",
                           higher_is_better=True, statistic="gap", patch=PATCH,
                           representations=spec, memo=patches),
        ManipulationMetric(name="insertion-auc", display_name="Insertion AUC",
                           higher_is_better=True, statistic="auc", mode="insertion",
                           memo=insertion),
        ManipulationMetric(name="insertion-gap", display_name="Insertion gap vs random",
                           higher_is_better=True, statistic="gap", mode="insertion",
                           memo=insertion),
    ]


@hookimpl
def audioxai_bench_metrics() -> list[ManipulationMetric]:
    """AOPC and faithfulness gap (per feature; per patch on spectrograms), insertion."""
    return manipulation_metrics()
