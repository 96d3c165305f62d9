"""Deletion and insertion after the AudioMNIST paper's input-manipulation test, as paired scores.

Becker et al. (arXiv 1807.03418) remove the most relevant inputs first and compare the damage
with removing random inputs and the loudest ones. The scores here change that test: 10 ms
blocks / 8 × 8 patches instead of single samples (those only in ``faithfulness-gap-feature``
and ``paper-manipulation``), only units that hold sound ranked, k a share of those, the area of
the probability curve as a difference against a control instead of the accuracy at fixed k,
and the -80 dB floor as a spectrogram's baseline (README, results: "After the paper's
input-manipulation test"). ``paper-manipulation`` keeps the paper's design but for that
baseline: single samples or bins over the whole input, most relevant first against the random
and the amplitude order; its records' accuracy curves are the leaderboard's figure of the test.

Samek et al. (2017, IEEE TNNLS, arXiv 1509.06321) summarise such a curve by its area;
insertion (Petsiuk et al. 2018, arXiv 1806.07421) restores the most relevant inputs first;
Blücher et al. (2024, TMLR, "Decoupling pixel flipping and occlusion strategy") rank by the
symmetric relevance gain, least- minus most-relevant-first.

Every score is a per-sample difference of two curve areas on the same sample, so its mean's
interval is a paired test: an interval containing 0 means "not better than the control".

What every metric here shares (:mod:`audioxai_bench.evaluation.perturbation` has the detail,
each record's ``info`` repeats it):

- **Unit**: an 8 × 8 tile of spectrogram bins (141 Hz × 35 ms: 8 bins of 17.6 Hz, 8 frames of
  hop 35 at 8 kHz), or an 80-sample block of a waveform (10 ms at 8 kHz); ``unit="feature"``
  removes single bins or samples (the paper's unit, which ROAD, Rong et al. 2022, shows leaks
  the mask's shape). A unit's relevance is the **sum** of its elements' relevance.
- **Only units that hold sound** (any element not silence) are ranked and removed, unless
  ``scope="all"``: then every unit is, and k is a share of the whole input. A sample without
  any (silence throughout) has nothing to remove, so no order can be told from another: its
  scores are NaN, left out of means and ``n`` (as the Gini index and the sonified gains leave
  it), not a gap of 0 that would pull the mean towards "no better than random".
- **Grid**: 0, 10, …, 100 % of those units; **area**: the trapezoid over the grid divided by
  its x-range, i.e. the mean height of the curve with half weight on 0 % and 100 %.
- **Curve**: the model's true-class probability.
- **Ties** in relevance (e.g. exactly 0 on dead units) are ordered by a seeded random
  permutation, so a tie block is removed in random order; ``tied-share`` reports how much of
  each map ties.
- **Random control**: the mean curve of 8 seeded permutations, computed once per batch for
  every explainer on the same samples (it does not read the relevance).
- **Sign**: units are ranked by signed relevance, largest first, and removal moves a unit to
  the baseline: a score measures agreement with the *signed* effect of removing the unit (to
  first order, gradient · (x - baseline)), not with ``|relevance|``.

The registered metrics (all per sample, higher is better):

=============================  ===========================================  ==========
name                           definition                                   ranked
=============================  ===========================================  ==========
``faithfulness-gap``           area(random) - area(most relevant first)     yes
``gap-vs-amplitude``           area(loudest first) - area(most relevant)    yes
``srg``                        area(least relevant) - area(most relevant)   yes
``insertion-gap``              insertion area(most relevant) - (random)     yes
``aopc``                       p(x) - area(most relevant first)             descriptive
``insertion-auc``              insertion area(most relevant first)          descriptive
``faithfulness-gap-feature``   ``faithfulness-gap`` with single features    descriptive
``paper-manipulation``         the same over all features (k of the input)  descriptive
=============================  ===========================================  ==========

``aopc`` and ``insertion-auc`` are the deletion and insertion gaps plus a constant per sample
that every explainer shares (the random area, M2 of the scientific review): they rank exactly
like the gaps, so they are descriptive. Insertion is read off the deletion passes (keeping the
k most relevant units is removing the n - k least relevant), so ``srg = faithfulness-gap +
insertion-gap`` exactly, and the six unit metrics cost one computation per batch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, BatchMemo, EvalBatch, MetricOutput
from audioxai_bench.evaluation.perturbation import (
    BASELINES,
    DEFAULT_GRID,
    N_RANDOM,
    ORDERS,
    REFERENCE_ORDERS,
    REMOVALS,
    SCOPES,
    PerturbationCurves,
    asymmetry_problem,
    combine_curves,
    perturbation_curves,
    settings_problem,
)

#: The default unit per representation: 8 × 8 bins = 141 Hz × 35 ms (AlexNet's conv1 stride
#: times its first pooling stride, about one unit of the second feature map); 80 samples =
#: 10 ms at 8 kHz.
PATCH: tuple[int, int] = (8, 8)
BLOCK: tuple[int] = (80,)
UNITS: tuple[str, ...] = ("patch", "feature")
#: ``paper-manipulation``'s shares of the input: as many steps as the default grid, five of
#: them below 10 %, where single features removed most relevant or loudest first already take
#: the quickstart models to chance (the default's first step, 10 %, would show only that).
PAPER_GRID: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)

#: statistic → (mode, orders it reads, definition). Areas are of true-class probability curves.
STATISTICS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "gap-vs-random": ("deletion", ("most-relevant", "random"),
                      "area(random order) - area(most relevant first), deletion"),
    "gap-vs-amplitude": ("deletion", ("most-relevant", "amplitude"),
                         "area(loudest first) - area(most relevant first), deletion"),
    "srg": ("deletion", ("most-relevant", "least-relevant"),
            "area(least relevant first) - area(most relevant first), deletion "
            "(symmetric relevance gain, Blücher et al. 2024)"),
    "insertion-gap": ("insertion", ("least-relevant", "random"),
                      "insertion area(most relevant first) - insertion area(random order)"),
    "aopc": ("deletion", ("most-relevant",),
             "p(x) - area(most relevant first), deletion (AOPC, Samek et al. 2017)"),
    "insertion-auc": ("insertion", ("least-relevant",),
                      "insertion area(most relevant first) (Petsiuk et al. 2018)"),
}
#: statistic → the control it is a paired difference against (0 = no better than it).
VERSUS: dict[str, str] = {"gap-vs-random": "random order",
                          "gap-vs-amplitude": "amplitude order (loudest first)",
                          "srg": "least relevant first", "insertion-gap": "random order"}

BASELINE_TEXT = {
    "silence": "silence (waveform 0, spectrogram -80 dB)",
    "zero": "zero",
    "mean": "each sample's mean",
    "noise": "Gaussian noise with each sample's mean and SD, seeded",
    "noisy-linear": "ROAD-style noisy linear imputation along time: the line between the kept "
                    "neighbours before and after each gap (per frequency row on spectrograms), "
                    "plus N(0, (0.01 SD)²) noise, seeded",
}
SCOPE_TEXT = {
    "sounding": "only units that hold sound (any element not silence: waveform != 0, "
                "spectrogram > -80 dB); silent units are never removed",
    "all": "every unit of the input, silent ones ranked among them by the same keys (removing "
           "a silent unit to silence changes nothing)",
}
GRID_TEXT = {"sounding": "fraction f of a sample's units that hold sound",
             "all": "fraction f of all n units of the input (the paper's k)"}
TIES = ("units whose relevance is equal (e.g. exactly 0) are ordered by a seeded random "
        "permutation of the units, independent of the random orders: a tie block is removed "
        "in random order (extra tied-share: the share of tied units per sample)")
SIGN = ("units are ranked by signed relevance, largest first; removal moves a unit to the "
        "baseline, so the score measures agreement with the signed removal effect (to first "
        "order gradient * (x - baseline)), not with |relevance|")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ManipulationMetric(BaseMetric):
    """One paired score from the deletion curves of :func:`perturbation_curves`.

    Parameters
    ----------
    statistic : str
        A key of :data:`STATISTICS`: ``"gap-vs-random"``, ``"gap-vs-amplitude"``, ``"srg"``,
        ``"insertion-gap"``, ``"aopc"`` or ``"insertion-auc"``.
    unit : str
        ``"patch"``: ``spectrogram_patch`` tiles of a spectrogram, ``waveform_patch`` blocks of
        a waveform; ``"feature"``: single bins or samples.
    spectrogram_patch, waveform_patch : tuple of int
        Tile sizes over the trailing dimensions (default 8 × 8 bins, 80 samples).
    grid : tuple of float
        Fractions of the units that hold sound, rising from 0 to 1 (insertion needs it
        symmetric about 0.5); default 0, 0.1, …, 1.
    baseline : str
        What a removed element becomes: ``"silence"`` (default), ``"zero"``, ``"mean"``,
        ``"noise"`` or ``"noisy-linear"`` (ROAD-style imputation along time).
    removal : str
        ``"replace"`` (the paper's) or ``"re-preprocess"`` (dB relative to the new maximum,
        the waveform re-normalised).
    scope : str
        ``"sounding"`` (default): only the units that hold sound are ranked and removed, the
        grid a share of them; ``"all"``: every unit, silent ones ranked among them, the grid a
        share of the whole input (the paper's k).
    orders : tuple of str
        The orders computed (one computation serves every metric sharing ``memo`` and the same
        settings); must include those the statistic reads.
    n_random : int
        Seeded permutations averaged into the random control.
    ranked : bool
        False for a descriptive metric the leaderboard shows but does not rank by.
    memo : BatchMemo
        Shared by metrics that read the same curves.
    """

    statistic: str
    unit: str = "patch"
    spectrogram_patch: tuple[int, ...] = PATCH
    waveform_patch: tuple[int, ...] = BLOCK
    grid: tuple[float, ...] = DEFAULT_GRID
    baseline: str = "silence"
    removal: str = "replace"
    scope: str = "sounding"
    orders: tuple[str, ...] = ORDERS
    n_random: int = N_RANDOM
    ranked: bool = True
    memo: BatchMemo = dataclasses.field(default_factory=BatchMemo, compare=False, repr=False)
    #: areas of probability curves, and their differences
    bounds: ClassVar[tuple[float, float]] = (-1.0, 1.0)

    def __post_init__(self) -> None:
        def fail(text: str) -> None:
            raise ValueError(f"metric {self.name!r}: {text}")

        if self.statistic not in STATISTICS:
            fail(f"statistic must be one of {', '.join(STATISTICS)}")
        if self.unit not in UNITS:
            fail(f"unit must be one of {', '.join(UNITS)}")
        needed = set(STATISTICS[self.statistic][1])
        if not needed <= set(self.orders) or not set(self.orders) <= set(ORDERS):
            fail(f"orders must be out of {', '.join(ORDERS)} and include {sorted(needed)}")
        if self.baseline not in BASELINES:
            fail(f"baseline must be one of {', '.join(BASELINES)}")
        if self.removal not in REMOVALS:
            fail(f"removal must be one of {', '.join(REMOVALS)}")
        if self.scope not in SCOPES:
            fail(f"scope must be one of {', '.join(SCOPES)}")
        problem = settings_problem(self.grid, self.n_random) or (
            asymmetry_problem(self.grid) if self.mode == "insertion" else None)
        if problem:
            fail(problem)
        for name in ("spectrogram_patch", "waveform_patch"):
            if any(not isinstance(n, int) or n < 1 for n in getattr(self, name)):
                fail(f"{name} must be positive whole numbers, got {list(getattr(self, name))}")

    @property
    def versus(self) -> str | None:
        """The control the statistic is a difference against (None: AOPC, insertion AUC)."""
        return VERSUS.get(self.statistic)

    @property
    def mode(self) -> str:
        """``"deletion"`` or ``"insertion"``: which curves the statistic reads."""
        return STATISTICS[self.statistic][0]

    def patch_for(self, batch: EvalBatch) -> tuple[int, ...] | None:
        """The tile size on this batch's input (None: single features)."""
        if self.unit == "feature":
            return None
        return self.waveform_patch if batch.representation == "waveform" \
            else self.spectrogram_patch

    def curves(self, batch: EvalBatch) -> PerturbationCurves:
        """The batch's deletion curves, computed once for every metric sharing :attr:`memo`;
        the reference orders once for every explainer sharing ``batch.shared``."""
        settings = (self.patch_for(batch), self.grid, self.baseline, self.removal,
                    self.n_random, self.scope, batch.seed)
        return self.memo.get(batch, (self.orders, *settings), lambda: self._curves(batch))

    def _curves(self, batch: EvalBatch) -> PerturbationCurves:
        def compute(orders: tuple[str, ...]) -> PerturbationCurves:
            return perturbation_curves(
                batch.model, batch.x, batch.relevance, batch.target, grid=self.grid,
                orders=orders, baseline=self.baseline, patch=self.patch_for(batch),
                seed=batch.seed, chunk_size=batch.chunk_size, removal=self.removal,
                n_random=self.n_random, scope=self.scope)

        reference = tuple(o for o in self.orders if o in REFERENCE_ORDERS)
        own = tuple(o for o in self.orders if o not in REFERENCE_ORDERS)
        if batch.shared is None or not reference or not own:
            return compute(self.orders)
        key = ("perturbation-curves", self.patch_for(batch), self.grid, self.baseline,
               self.removal, self.n_random, self.scope, reference, batch.seed)
        return combine_curves([compute(own), batch.reuse(key, lambda: compute(reference))],
                              self.orders)

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        deletion = self.curves(batch)
        c = deletion.insertion() if self.mode == "insertion" else deletion
        mrf = c.area("most-relevant")  # in insertion: the deletion least-relevant read back
        scores = {
            "gap-vs-random": lambda: c.area("random") - mrf,
            "gap-vs-amplitude": lambda: c.area("amplitude") - mrf,
            "srg": lambda: c.area("least-relevant") - mrf,
            "insertion-gap": lambda: mrf - c.area("random"),
            "aopc": lambda: c.original_probability - mrf,
            "insertion-auc": lambda: mrf,
        }[self.statistic]()
        if self.scope == "sounding":  # nothing in scope: every curve is the intact input's
            scores = scores.where(c.active > 0, torch.full_like(scores, math.nan))
        prefix = "area" if self.mode == "deletion" else "insertion-area"
        extras: dict[str, Tensor] = {"original/probability": c.original_probability,
                                     "original/accuracy": c.original_correct,
                                     "active-share": c.active.double() / c.n_units,
                                     "tied-share": c.tied_share}
        for order in c.orders:
            extras[f"{prefix}/{order}"] = c.area(order)
            extras[f"{prefix}-accuracy/{order}"] = c.area(order, "accuracy")
        if "random" in c.orders:
            extras["random/area-sd"] = c.random_area_sd()
        curves = {}
        for order in c.orders:
            curves[f"probability/{order}"] = c.curve(order)
            curves[f"accuracy/{order}"] = c.curve(order, "accuracy")
        return MetricOutput(scores=scores, curves=curves, grid=c.grid, extras=extras,
                            info=self.describe(batch, c))

    def describe(self, batch: EvalBatch, c: PerturbationCurves) -> dict[str, Any]:
        """The record's ``info``: every choice the number rests on, in words and values."""
        patch = self.patch_for(batch)
        if patch is None:
            unit = "single feature (one sample or bin)"
        elif batch.representation == "waveform":
            unit = f"block of {patch[0]} samples ({patch[0] / 8:g} ms at 8 kHz)"
        else:
            unit = f"{' x '.join(map(str, patch))} bins (frequency x time)"
        return {
            "mode": c.mode, "score": STATISTICS[self.statistic][2],
            "curve": "true-class probability", "unit": unit,
            "unit_shape": None if patch is None else list(patch),
            "unit_relevance": "sum of the relevance of the unit's elements",
            "unit_amplitude": "sum of the amplitude of the unit's elements",
            "scope": self.scope, "units_removed": SCOPE_TEXT[self.scope],
            "n_units": c.n_units, "grid": c.grid.tolist(),
            "grid_of": GRID_TEXT[self.scope] + "; step f removes the first round(f n)"
                       + ("" if c.mode == "deletion" else
                          "; insertion keeps n - round((1 - f) n)"),
            "area": "trapezoid over the grid divided by its x-range",
            "baseline": self.baseline, "baseline_is": BASELINE_TEXT[self.baseline],
            "removal": self.removal, "orders": list(c.orders), "ties": TIES,
            "random": f"mean of {self.n_random} seeded permutations, shared by every explainer",
            "sign": SIGN,
        }


def manipulation_metrics() -> list[ManipulationMetric]:
    """The built-in manipulation metrics: the six unit metrics share one memo (one
    computation per batch), the per-feature gap and the paper's test have their own."""
    units, features = BatchMemo(), BatchMemo()
    return [
        ManipulationMetric(name="faithfulness-gap", display_name="Deletion gap vs random",
                           higher_is_better=True, statistic="gap-vs-random", memo=units),
        ManipulationMetric(name="gap-vs-amplitude",
                           display_name="Deletion gap vs amplitude (loudest first)",
                           higher_is_better=True, statistic="gap-vs-amplitude", memo=units),
        ManipulationMetric(name="srg", display_name="Symmetric relevance gain (LeRF - MoRF)",
                           higher_is_better=True, statistic="srg", memo=units),
        ManipulationMetric(name="insertion-gap", display_name="Insertion gap vs random",
                           higher_is_better=True, statistic="insertion-gap", memo=units),
        ManipulationMetric(name="aopc", display_name="AOPC (most relevant first)",
                           higher_is_better=True, statistic="aopc", ranked=False, memo=units),
        ManipulationMetric(name="insertion-auc", display_name="Insertion AUC",
                           higher_is_better=True, statistic="insertion-auc", ranked=False,
                           memo=units),
        ManipulationMetric(name="faithfulness-gap-feature",
                           display_name="Deletion gap vs random, single features",
                           higher_is_better=True, statistic="gap-vs-random", unit="feature",
                           orders=("most-relevant", "random"), ranked=False, memo=features),
        # the paper's test for its figure (accuracy against k): single samples or bins, k a
        # share of the whole input, most relevant first against random and loudest first
        ManipulationMetric(name="paper-manipulation",
                           display_name="Paper's manipulation: single features, whole input",
                           higher_is_better=True, statistic="gap-vs-random", unit="feature",
                           scope="all", grid=PAPER_GRID,
                           orders=("most-relevant", "random", "amplitude"), ranked=False),
    ]


@hookimpl
def audioxai_bench_metrics() -> list[ManipulationMetric]:
    """Deletion gaps (vs random, vs amplitude, SRG), insertion, AOPC; per unit and per
    feature; the paper's test over the whole input (``paper-manipulation``)."""
    return manipulation_metrics()
