"""Checking the metrics themselves: maps of known quality, and whether a metric orders them.

Where the evidence for the label is known (:attr:`EvalBatch.ground_truth`, the ``cue`` task),
maps whose quality is known by construction can be scored like any explainer's relevance, in
the spirit of MetaQuantus (Hedström et al. 2023, "The meta-evaluation problem in explainable
AI", TMLR). :data:`REFERENCES`, best to worst:

- ``oracle``: the mask itself (1 on the evidence, 0 elsewhere);
- ``noisy-σ``: the mask plus ``σ`` times one seeded standard normal field per sample, σ in
  :data:`NOISE_LEVELS` (multiples of the mask's scale, the step from 0 to 1); the same field at
  every level, so neighbouring levels differ only in σ;
- ``random``: uniform [-1, 1) noise, the law of the ``random`` explainer;
- ``inverted``: ``1 - mask``, relevant everywhere but on the evidence.

A trustworthy metric scores them in that order, every step apart. The metrics that score a map
against the planted evidence (``needs`` ``ground_truth``: localisation) claim to say where a
map puts its weight, so they also score :data:`SIGNED`, ``oracle-signed``: the mask with a
seeded random sign per unit, every unit of the evidence at full weight and about half of them
negative, as a waveform map's samples follow the oscillation of a planted tone burst (about
40 % of them negative for gradient × input, integrated gradients and LRP). Its weight lies
exactly where the oracle's does, so such a metric must put it above ``noisy-0.25``, as it puts
the oracle; one that reads the sign of single units ranks the negative half below the silent
zeros and reverses that step (read signed, rank accuracy and ROC-AUC gave it 0.50 on the seed-0
cue models, chance). The sign is drawn, not taken from the input (mask · x): a dB spectrogram
is negative everywhere, and an all-negative map has no positive relevance for relevance mass
accuracy to place, which is that metric's definition rather than a failure to localise. Metrics
that do not read the ground truth are not checked on it: deletion reads the sign by design (a
negative unit speaks against the class), and a map with a random sign has no known quality
there.

:func:`reliability` tests each adjacent step, the span oracle → random and, where scored,
oracle-signed → noisy-0.25 with paired Wilcoxon signed-rank tests over (trained model,
speaker) units, Holm-adjusted over the steps, and says ``pass`` (every step in order),
``partial`` (oracle above random, no step reversed, some steps not resolved: a metric that
saturates near the oracle, or cannot tell a random map from an anti-localised one) or ``fail``
(a step reversed, or the oracle not shown above random).

Only verdicts are checked (:func:`uncheckable`): not metrics that score the explaining *method*
rather than a map (its time, its dependence on the model's weights: they need ``explainer`` or
``explain_seconds``), nor descriptive ones (``ranked = False``: Gini would "pass" because the
oracle is the sparsest map, which says nothing about quality). The runner scores the
references of every panel with ground truth under explainer names ``reference:<name>``
(:func:`reference_name`; :func:`references_of` says which a metric scores); :func:`check_metrics`
does the same in memory for one batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audioxai_bench import stats
from audioxai_bench.api.explainer import null_relevance
from audioxai_bench.api.metric import EvalBatch, MetricOutput, torch_seed

#: Noise levels of the noisy oracles, in multiples of the mask's scale.
NOISE_LEVELS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
#: The reference maps, best to worst.
REFERENCES: tuple[str, ...] = ("oracle", *(f"noisy-{s:g}" for s in NOISE_LEVELS), "random",
                               "inverted")
#: The oracle with a random sign per unit, scored by the metrics that read the ground truth
#: (:func:`sign_checked`); outside the chain of :data:`REFERENCES`, it must beat ``noisy-0.25``.
SIGNED = "oracle-signed"
#: The step :data:`SIGNED` must take, in order, where it is scored.
SIGNED_STEP: tuple[str, str] = (SIGNED, REFERENCES[1])
#: Explainer names of reference records start with this.
PREFIX = "reference:"
#: The steps that must be in order for a metric not to fail: it tells the truth from noise.
COARSE: tuple[tuple[str, str], ...] = (("oracle", "random"),)


def reference_name(reference: str) -> str:
    """The explainer name a reference's records carry: ``reference:oracle``."""
    return PREFIX + reference


def is_reference(explainer: Any) -> bool:
    """Whether an explainer name is a reference map's (not ranked with the explainers)."""
    return isinstance(explainer, str) and explainer.startswith(PREFIX)


def reference_maps(ground_truth: Tensor, seed: int) -> dict[str, Tensor]:
    """Each of :data:`REFERENCES`, then :data:`SIGNED`, for a bool ``ground_truth`` mask,
    float32 in its shape, seeded by ``seed`` (the same seed, shape and device give the same
    maps)."""
    mask = ground_truth.float()
    generator = torch.Generator(device=mask.device).manual_seed(torch_seed(seed))
    noise = torch.randn(mask.shape, generator=generator, device=mask.device)
    maps = {"oracle": mask}
    maps |= {f"noisy-{s:g}": mask + s * noise for s in NOISE_LEVELS}
    maps["random"] = null_relevance(mask.shape, generator)
    maps["inverted"] = 1 - mask
    signs = torch.randint(0, 2, mask.shape, generator=generator, device=mask.device) * 2 - 1
    maps[SIGNED] = mask * signs
    return maps


def sign_checked(metric: Any) -> bool:
    """Whether ``metric`` is checked on :data:`SIGNED`: it scores maps against the ground truth,
    so it claims to say where a map's weight lies, whatever its sign."""
    return "ground_truth" in set(getattr(metric, "needs", ()))


def references_of(metric: Any) -> tuple[str, ...]:
    """The references ``metric`` scores: :data:`REFERENCES`, and :data:`SIGNED` where
    :func:`sign_checked`."""
    return REFERENCES + ((SIGNED,) if sign_checked(metric) else ())


def uncheckable(metric: Any) -> str | None:
    """Why ``metric`` cannot be checked on reference maps, or None when it can."""
    needs = set(getattr(metric, "needs", ()))
    if needs & {"explainer", "explain_seconds"}:
        return ("it scores the explaining method (its time or its dependence on the model), "
                "not a relevance map")
    if getattr(metric, "ranked", True) is False:
        return ("it describes or checks (ranked: false) and does not claim to order maps by "
                "quality (Gini, for one, follows sparseness: the oracle is the sparsest map)")
    return None


@dataclasses.dataclass(frozen=True)
class Step:
    """One comparison of two references: ``difference`` is the mean of better minus worse in
    the metric's good direction (positive: in order), ``interval`` its paired 95 % bootstrap
    interval over models and speakers, ``p`` the Holm-adjusted two-sided Wilcoxon p over
    (model, speaker) units, ``verdict`` ``"ordered"``, ``"tied"`` or ``"reversed"``."""

    better: str
    worse: str
    difference: float
    interval: tuple[float, float]
    p: float
    verdict: str

    def __str__(self) -> str:
        return (f"{self.better} → {self.worse}: {self.verdict}, {self.difference:+.3g} "
                f"[{self.interval[0]:+.3g}, {self.interval[1]:+.3g}], p = {self.p:.2g}")


@dataclasses.dataclass(frozen=True)
class Reliability:
    """How one metric orders the references: their ``means``, every tested ``step`` (the
    adjacent ones in order, the span oracle → random, then :data:`SIGNED_STEP` where scored),
    the ``verdict`` and the number of (model, speaker) ``units`` the tests ran over."""

    means: dict[str, float]
    steps: tuple[Step, ...]
    verdict: str
    units: int

    @property
    def adjacent(self) -> tuple[Step, ...]:
        return self.steps[: len(REFERENCES) - 1]

    @property
    def margin(self) -> Step | None:
        """The adjacent step with the smallest difference in the good direction, among those
        with a difference (a reference without a finite mean has none: its steps are not
        small, they are unknown, and :attr:`failing` lists them); None where no step has one."""
        known = [s for s in self.adjacent if np.isfinite(s.difference)]
        return min(known, key=lambda s: s.difference, default=None)

    @property
    def failing(self) -> tuple[Step, ...]:
        """The steps not in order: reversed ones first, then unresolved ones."""
        bad = [s for s in self.steps if s.verdict != "ordered"]
        return tuple(sorted(bad, key=lambda s: s.verdict != "reversed"))


def reliability(data: stats.Clustered, higher_is_better: bool = True, alpha: float = 0.05,
                n_resamples: int = stats.N_RESAMPLES, seed: int = 0) -> Reliability:
    """The verdict on one metric from its per-sample scores of the references (``data.scores``
    holds one row per :data:`REFERENCES` entry, in that order, and optionally a last row of
    :data:`SIGNED`); see the module docstring."""
    if len(data.scores) not in (len(REFERENCES), len(REFERENCES) + 1):
        raise ValueError(f"reliability: need scores of {len(REFERENCES)} references "
                         f"({', '.join(REFERENCES)}), optionally then {SIGNED}, got "
                         f"{len(data.scores)}")
    names = REFERENCES + ((SIGNED,) if len(data.scores) > len(REFERENCES) else ())
    index = {name: i for i, name in enumerate(names)}
    pairs = [*zip(REFERENCES, REFERENCES[1:]), ("oracle", "random")]
    pairs += [SIGNED_STEP] if SIGNED in index else []
    sign = 1.0 if higher_is_better else -1.0
    units = data.unit_means()
    reps = data.bootstrap(n_resamples, seed)
    means = data.means()
    strata = data.unit_strata()  # as the leaderboard's tests and intervals: by class where
    # speakers are resampled within their class
    raw = [stats.directed_p(sign * stats.unit_differences(data, index[a], index[b]),
                            sign * (means[index[a]] - means[index[b]]), strata)
           for a, b in pairs]
    steps = []
    for (a, b), p in zip(pairs, stats.holm(raw)):
        diff = sign * (means[index[a]] - means[index[b]])
        paired = np.isfinite(units[index[a]]) & np.isfinite(units[index[b]])
        (low, high), = stats.percentile_interval(
            sign * (reps[:, [index[a]]] - reps[:, [index[b]]]), [diff], [paired.sum()],
            data.n_strata)
        verdict = "tied" if not (p < alpha and np.isfinite(diff) and diff != 0) else (
            "ordered" if diff > 0 else "reversed")
        steps.append(Step(a, b, float(diff), (float(low), float(high)), float(p), verdict))
    by_pair = {(s.better, s.worse): s for s in steps}
    if any(s.verdict == "reversed" for s in steps) or any(
            by_pair[pair].verdict != "ordered" for pair in COARSE):
        verdict = "fail"
    else:
        verdict = "pass" if all(s.verdict == "ordered" for s in steps) else "partial"
    return Reliability({name: float(means[i]) for name, i in index.items()}, tuple(steps),
                       verdict, units.shape[1])


def score_references(metrics: Iterable[Any], batch: EvalBatch) -> dict[str, dict[str,
                                                                              MetricOutput]]:
    """``{metric name: {reference: output}}``: every checkable metric scored on each of its
    reference maps (:func:`references_of`, in that order) of ``batch.ground_truth`` in place of
    ``batch.relevance`` (seeded from ``batch.seed``)."""
    if batch.ground_truth is None:
        raise ValueError("score_references: the batch has no ground_truth to build references of")
    maps = reference_maps(batch.ground_truth, batch.seed)
    out: dict[str, dict[str, MetricOutput]] = {}
    for metric in metrics:
        if uncheckable(metric) is None:
            out[metric.name] = {name: metric.score(dataclasses.replace(
                batch, relevance=maps[name].to(batch.x.dtype), explainer=None))
                for name in references_of(metric)}
    return out


def check_metrics(metrics: Sequence[Any], batch: EvalBatch,
                  speakers: Sequence[int] | None = None, **options: Any) -> dict[str, Reliability]:
    """:func:`reliability` of each checkable metric on one batch, each sample its own
    speaker unless ``speakers`` says otherwise; ``options`` as :func:`reliability`."""
    cluster = np.arange(batch.size) if speakers is None else np.asarray(speakers)
    verdicts = {}
    by_name = {m.name: m for m in metrics}
    for name, outputs in score_references(metrics, batch).items():
        scores = np.stack([output.scores.numpy() for output in outputs.values()])
        data = stats.Clustered(scores, np.zeros(batch.size, dtype=int), cluster)
        verdicts[name] = reliability(data, bool(by_name[name].higher_is_better), **options)
    return verdicts
