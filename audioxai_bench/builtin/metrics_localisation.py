"""Localisation: does the relevance sit where the evidence for the label was planted?

On data with a known answer (the ``cue`` task, :attr:`EvalBatch.ground_truth`: True where the
evidence is) four scores per sample, each over every unit of the model input:

- **relevance mass accuracy** (Arras, Osman & Samek 2022, "CLEVR-XAI: a benchmark dataset for
  the ground truth evaluation of neural network explanations", Information Fusion 81): the
  share of the positive relevance that lies inside the mask;
- **relevance rank accuracy** (ibid.): of the K most relevant units, K the mask's size, the
  share inside the mask;
- **pointing game** (Zhang et al. 2018, "Top-down neural attention by excitation backprop",
  IJCV 126): a hit when the most relevant unit is inside the mask; a proportion, so its record
  interval is Wilson's (conservative for expected hits: their variance is at most the
  binomial's);
- **relevance ROC-AUC**: how well relevance separates mask from non-mask units, the
  Mann-Whitney U statistic over the units (ties count one half).

Localisation asks *where* a map puts its weight, whatever its sign: rank accuracy, the pointing
game and ROC-AUC read the magnitude ``|R|``. The sign of one unit does not say where the
evidence is. On a waveform the relevance of gradient × input, integrated gradients or LRP
follows the oscillation of what it explains, so about 40 % of a planted tone burst's samples
get negative relevance. Read signed, they rank below the silent zeros, and the planted region
itself, signed like a waveform map (mask · x), scores ROC-AUC 0.50 and rank 0.50 (chance) on
the cue · AudioNet model. On a dB spectrogram the sign of x · gradient flips with the reference
level. Relevance mass accuracy keeps Arras et al.'s definition, the share of the positive part:
an oscillating map is about half positive wherever it has weight, inside the evidence and
outside alike, so keeping the positive half keeps the share inside. On the seed-0
cue · AudioNet model gradient × input scores 0.78 on the positive part and 0.75 on ``|R|``,
occlusion 0.67 and 0.70. Each record's ``info`` says what
each score reads (``relevance``: ``absolute`` or ``positive part``), and the runner adds the
rule of the mask it was scored against (``ground_truth``,
:data:`~audioxai_bench.data.ground_truth.MASK_RULES`). Ties and empty maps are settled so that
no map scores by luck:

- a map of constant magnitude *orders* nothing (a constant, or ± one value, as the sign of a
  gradient): pointing game, rank accuracy and ROC-AUC give the chance level (the mask
  fraction, twice, and 0.5); mass accuracy, which reads positive relevance,
  gives 0 for a constant of 0 or below (no positive mass anywhere) and the mask fraction, the
  chance level, for a positive one (its mass spread evenly);
- pointing game: units tied at the maximum each point with equal chance, so a sample scores
  the share of them inside the mask, the expected hit under a random tie break. Quantus'
  ``PointingGame`` counts a hit when any tied unit is inside (a constant map always hits);
  requiring every tied unit inside fails coarse maps by construction (occlusion in 16 × 16
  tiles ties 256 units, and a 5-bin-high mask can never hold them all);
- rank accuracy: units tied at the K-th value share the remaining slots in proportion, the
  expected hits under a random tie break (Quantus breaks ties by ``argsort`` order);
- a sample whose mask is empty or covers every unit has nothing to localise: NaN.

With these rules, on maps without ties the four numbers equal Quantus' ``RelevanceMassAccuracy``
(of the positive part), and ``RelevanceRankAccuracy``, ``PointingGame`` and ``AUC`` with
``abs=True, normalise=False`` (its default normalisation scales the positive and the negative
values apart before taking ``abs``, which reorders them), the last also scikit-learn's
``roc_auc_score`` of ``|R|`` (``tests/builtin/test_metrics_localisation.py`` pins them on
hand-computed maps). Mass, rank and pointing game carry the per-sample ``mask-fraction``: what
a uniform or random map scores in expectation.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import torch
from torch import Tensor

from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, EvalBatch, MetricOutput
from audioxai_bench.stats import rank_data


def relevance_mass(relevance: Tensor, mask: Tensor) -> Tensor:
    """``(B,)`` positive relevance inside ``mask`` over all positive relevance (0 without
    positive relevance), on ``(B, N)`` float64 maps and bool masks."""
    positive = relevance.clamp_min(0)
    total = positive.sum(dim=1)
    inside = (positive * mask).sum(dim=1)
    return torch.where(total > 0, inside / total.where(total > 0, torch.ones_like(total)),
                       torch.zeros_like(total))


def rank_accuracy(relevance: Tensor, mask: Tensor) -> Tensor:
    """``(B,)`` share of the ``K = |mask|`` most relevant units inside ``mask``; units tied at
    the K-th value fill the remaining slots in proportion to how many of them are inside."""
    k = mask.sum(dim=1)
    kth = relevance.sort(dim=1, descending=True).values.gather(
        1, (k - 1).clamp_min(0)[:, None])  # (B, 1) the K-th largest value
    above, tied = relevance > kth, relevance == kth
    slots = (k - above.sum(dim=1)).double()
    share = (tied & mask).sum(dim=1).double() / tied.sum(dim=1).double()
    return ((above & mask).sum(dim=1).double() + slots * share) / k.clamp_min(1).double()


def pointing_hits(relevance: Tensor, mask: Tensor) -> Tensor:
    """``(B,)`` expected hit of the most relevant unit under a random tie break: the share of
    the units tied at the maximum that lie inside ``mask`` (1 or 0 without ties)."""
    at_max = relevance == relevance.amax(dim=1, keepdim=True)
    return (at_max & mask).sum(dim=1).double() / at_max.sum(dim=1).double()


def roc_auc(relevance: Tensor, mask: Tensor) -> Tensor:
    """``(B,)`` area under the ROC curve of relevance as a detector of ``mask`` units:
    ``U / (m (N - m))`` from the average ranks (the Mann-Whitney U; ties count 1/2)."""
    m = mask.sum(dim=1).double()
    n = mask.shape[1] - m
    ranks = rank_data(relevance) + 1  # 1-based, ties averaged
    u = (ranks * mask).sum(dim=1) - m * (m + 1) / 2
    return u / (m * n).clamp_min(1)


#: What a localisation score reads of the relevance (its records' ``info.relevance``).
Reads = Literal["absolute", "positive part"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Localisation(BaseMetric):
    """A score of the relevance against :attr:`EvalBatch.ground_truth`, per sample."""

    higher_is_better: bool = True
    needs: frozenset[str] = frozenset({"ground_truth"})
    bounds: ClassVar[tuple[float, float]] = (0.0, 1.0)
    #: whether the output carries the chance level of a uniform map (the mask fraction)
    chance_extra: ClassVar[bool] = True
    #: whether each sample's score is the chance of a hit, so the mean is a proportion (the
    #: output says so in ``info``; records and the leaderboard give it a Wilson interval)
    proportion: ClassVar[bool] = False
    #: what the score reads of the relevance: ``"absolute"`` (``|R|``: where the weight is,
    #: whatever its sign) or ``"positive part"``
    reads: ClassVar[Reads] = "absolute"

    def measure(self, relevance: Tensor, mask: Tensor) -> Tensor:
        raise NotImplementedError

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        relevance = batch.relevance.detach().flatten(1).double()
        if self.reads == "absolute":
            relevance = relevance.abs()
        mask = batch.ground_truth.flatten(1)
        size = mask.sum(dim=1)
        defined = (size > 0) & (size < mask.shape[1])
        scores = self.measure(relevance, mask).where(defined, torch.nan)
        extras = ({"mask-fraction": size.double() / mask.shape[1]} if self.chance_extra
                  else {})
        return MetricOutput(scores=scores, extras=extras,
                            info={"units": "every unit of the model input",
                                  "relevance": self.reads}
                            | ({"proportion": True} if self.proportion else {}))


@dataclasses.dataclass(frozen=True, kw_only=True)
class RelevanceMassAccuracy(_Localisation):
    """Share of the positive relevance inside the ground-truth mask (Arras et al. 2022)."""

    reads: ClassVar[Reads] = "positive part"

    def measure(self, relevance: Tensor, mask: Tensor) -> Tensor:
        return relevance_mass(relevance, mask)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RelevanceRankAccuracy(_Localisation):
    """Share of the top-|mask| units by ``|R|`` inside the mask (Arras et al. 2022)."""

    def measure(self, relevance: Tensor, mask: Tensor) -> Tensor:
        return rank_accuracy(relevance, mask)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PointingGame(_Localisation):
    """Hit rate of the unit of largest ``|R|`` on the mask (Zhang et al. 2018); tied maxima
    share the hit."""

    proportion: ClassVar[bool] = True

    def measure(self, relevance: Tensor, mask: Tensor) -> Tensor:
        return pointing_hits(relevance, mask)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RelevanceAuc(_Localisation):
    """ROC-AUC of ``|R|`` against the mask: 1 separates perfectly, 0.5 is chance."""

    chance_extra: ClassVar[bool] = False

    def measure(self, relevance: Tensor, mask: Tensor) -> Tensor:
        return roc_auc(relevance, mask)


@hookimpl
def audioxai_bench_metrics() -> list[_Localisation]:
    """Relevance mass and rank accuracy, pointing game and ROC-AUC against the ground truth."""
    return [
        RelevanceMassAccuracy(name="relevance-mass-accuracy",
                              display_name="Relevance mass accuracy"),
        RelevanceRankAccuracy(name="relevance-rank-accuracy",
                              display_name="Relevance rank accuracy"),
        PointingGame(name="pointing-game", display_name="Pointing game (hit rate)"),
        RelevanceAuc(name="relevance-auc", display_name="Relevance ROC-AUC vs ground truth"),
    ]
