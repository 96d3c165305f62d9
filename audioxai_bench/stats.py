"""Uncertainty of benchmark numbers: bootstrap intervals, paired tests, rank correlation.

A mean over test samples gets its percentile bootstrap interval from :func:`bootstrap_ci`
(Efron & Tibshirani 1993); methods scored on the same clips are compared by :func:`compare`
(Wilcoxon signed-rank tests over (model, speaker) units with Holm's adjustment, and a
hierarchical bootstrap for intervals). :func:`spearman` is the batched rank
correlation the randomisation check (Adebayo et al. 2018) and the frequency-band test use.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy import stats as sps
from torch import Tensor

#: Bootstrap resamples by default: enough for stable 95 % percentile limits (±0.5 % of SE).
N_RESAMPLES = 2000


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean with its bootstrap interval over ``n`` finite values (NaN where ``n == 0``)."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float


def _finite(values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array[np.isfinite(array)]


def bootstrap_ci(
    values: ArrayLike | Tensor,
    *,
    confidence: float = 0.95,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """Mean of ``values`` with its percentile-bootstrap interval over samples
    (``scipy.stats.bootstrap``).

    Non-finite values (a correlation of two constant maps, say) are left out and not counted.
    The same ``seed`` gives the same interval; one value gives the interval ``[x, x]``.
    """
    if isinstance(values, Tensor):
        values = values.detach().cpu().double().numpy()
    finite = _finite(values)
    if len(finite) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, confidence)
    mean = float(finite.mean())
    if len(finite) < 2 or np.all(finite == finite[0]):  # nothing to resample
        return Estimate(mean, mean, mean, len(finite), confidence)
    res = sps.bootstrap((finite,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
                        method="percentile", vectorized=True,
                        rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return Estimate(mean, float(low), float(high), len(finite), confidence)


def wilson_interval(accuracy: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (an accuracy over ``n`` independent trials, as
    ``scipy.stats.binomtest(...).proportion_ci(method="wilson")``): unlike the normal
    approximation it stays inside [0, 1] and is sensible at 0 % and 100 %."""
    if n <= 0 or not 0 <= accuracy <= 1:
        return math.nan, math.nan
    return _wilson(accuracy, n, confidence)


def _wilson(p: float, n: float, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of proportion ``p`` at (effective) sample size ``n``; ``p n``
    need not be whole (expected hits, a design-effect-adjusted size)."""
    z = sps.norm.ppf(0.5 + confidence / 2)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n**2))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


#: Where no clip's outcome differs from the others (every clip a hit, or none), the clusters
#: cannot show how outcomes cluster; the effective size is then k^(1 - g) n^g for k clusters
#: and n trials, between "each speaker one observation" (k) and "each clip one" (n). See
#: :func:`clustered_wilson` for the choice of g.
BOUNDARY_CLIP_WEIGHT = 0.2


def clustered_wilson(hits: ArrayLike, clusters: ArrayLike, confidence: float = 0.95, *,
                     clip_weight: float = BOUNDARY_CLIP_WEIGHT,
                     weights: ArrayLike | None = None) -> tuple[float, float, float]:
    """``(low, high, n_effective)``: the Wilson interval of a proportion whose trials come in
    clusters (the clips of one speaker), at the effective sample size.

    The effective size is n p(1-p) / v (Kish's design effect; Korn & Graubard 1998 use it for
    survey proportions), v the cluster-robust (linearised ratio) variance of the proportion,
    kept between the number of clusters and of trials. A variance estimated from k clusters
    has k - 1 degrees of freedom: the size it gives is shrunk by (z / t)² (Korn & Graubard's
    degrees-of-freedom adjustment; the same as Wilson with Student's quantile in place of the
    normal one). With the normal quantile, clustered accuracies of 6 and 12 speakers were
    covered 83–90 % and 88–92 % of the time; with it, 90–96 % (simulated;
    `tests/test_stats.py`).

    Where every trial is a hit (or none is), v says nothing of how errors cluster. The size is
    then k^(1 - g) n^g (g = ``clip_weight``, :data:`BOUNDARY_CLIP_WEIGHT` = 1/5): 480 right
    clips of 12 speakers read [86.7 %, 100 %], 300 of 6 speakers [77.4 %, 100 %]; and no lower
    bound lies above the one of every trial a hit (no upper bound below the one of none), so
    a perfect score never reads lower than an imperfect one. Before, the size
    was k there and up to n one error away: 480 of 480 read [75.8 %, 100 %] and 479 of 480
    [98.6 %, 100 %], a perfect score below an imperfect one; now both read [86.7 %, 100 %].
    ``benchmarks/bench_clustered_wilson.py`` chose g (speakers' accuracies Beta-distributed
    around 0.70-0.995, 6 × 50 and 12 × 40 clips): at 1/5 the lowest coverage over its 90
    settings rises from 80 % to 90 % (at true accuracies of 95-97 %: 80-97 % before, 96-99 %
    now), and no setting loses more than 0.01 (Monte Carlo noise); at 1/4 one lost 0.03 and at
    1/2 0.18 (where a few speakers fail outright and every sampled one happens to be perfect);
    at 0 (the old size) every lower bound of 12 speakers would be capped at 75.8 %. Student's
    shrink now also applies where every speaker has the same proportion (v = 0), so 12 errors,
    one per speaker, no longer read narrower than 11. A hit that leaves the other errors more
    concentrated in fewer speakers can still lower the lower bound (the design effect rises):
    that is the estimate at work, not the boundary.

    ``weights`` (one per trial) make it the interval of the weighted proportion, v its
    linearised variance: a leaderboard cell's mean weighs each split alike, and the pooled
    proportion of splits that kept unequal numbers of clips lay outside it (0.625 read
    [0.691, 0.969]).
    """
    hits, clusters = np.asarray(hits, dtype=float), np.asarray(clusters)
    n = len(hits)
    if n == 0:
        return math.nan, math.nan, 0.0
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float) * n / np.sum(weights)
    ids, which = np.unique(clusters, return_inverse=True)
    k = len(ids)
    edge = k ** (1 - clip_weight) * n ** clip_weight
    if (hits == 0).all() or (hits == 1).all():
        return (*_wilson(hits[0], edge, confidence), edge)
    p = float((w * hits).sum() / n)
    residuals = np.bincount(which, w * (hits - p), minlength=k)
    v = (k / (k - 1) * np.square(residuals).sum() / n**2) if k > 1 else 0.0
    n_eff = float(np.clip(p * (1 - p) / v, k, n)) if v > 0 else float(n)
    q = 0.5 + confidence / 2
    # v has k - 1 degrees of freedom (also where it is 0: every cluster at the same proportion)
    shrink = (sps.norm.ppf(q) / sps.t.ppf(q, k - 1)) ** 2 if k > 1 else 1.0
    low, high = _wilson(p, n_eff * shrink, confidence)
    perfect = _wilson(1.0, edge, confidence)[0]
    if low > perfect or high < 1 - perfect:  # a bound is the boundary's: so is the size
        n_eff = edge
    return min(low, perfect), max(high, 1 - perfect), n_eff


def rank_data(values: Tensor) -> Tensor:
    """Ranks (0-based, float) along the last dimension, ties given their average rank.

    Batched and on ``values``' device: one sort per call, no loop over rows. A tie group's
    average rank is the mean of its first and last sorted position.
    """
    sorted_vals, order = values.sort(dim=-1, stable=True)
    n = values.shape[-1]
    flat = sorted_vals.reshape(-1, n)
    starts = torch.ones_like(flat, dtype=torch.bool)
    starts[:, 1:] = flat[:, 1:] != flat[:, :-1]
    ends = torch.ones_like(starts)
    ends[:, :-1] = starts[:, 1:]
    position = torch.arange(n, device=flat.device).expand_as(flat)
    first = torch.where(starts, position, 0).cummax(dim=1).values
    last = torch.where(ends, position, n - 1).flip(1).cummin(dim=1).values.flip(1)
    mean_rank = ((first + last).double() / 2).reshape(values.shape)
    ranks = torch.empty_like(mean_rank)
    ranks.scatter_(-1, order, mean_rank)
    return ranks


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of ``a[i]`` and ``b[i]`` over all non-batch dimensions.

    Returns a ``(B,)`` float64 tensor. Where a map is constant its ranks carry no order: two
    constant maps count as unchanged (1.0), one constant and one varying map as unrelated (0.0),
    so a method whose output never changes is not hidden behind NaN.
    """
    if a.shape != b.shape:
        raise ValueError(f"spearman: shapes differ, {tuple(a.shape)} and {tuple(b.shape)}")
    return correlate_ranks(rank_data(a.reshape(a.shape[0], -1)),
                           rank_data(b.reshape(b.shape[0], -1)))


def correlate_ranks(ra: Tensor, rb: Tensor) -> Tensor:
    """:func:`spearman` of ``(B, N)`` ranks from :func:`rank_data` (rank a map once when it is
    compared with many)."""
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    na, nb = ra.norm(dim=1), rb.norm(dim=1)
    rho = (ra * rb).sum(dim=1) / (na * nb).clamp_min(1e-300)
    const_a, const_b = na == 0, nb == 0
    rho = torch.where(const_a & const_b, torch.ones_like(rho), rho)
    rho = torch.where(const_a ^ const_b, torch.zeros_like(rho), rho)
    return rho.clamp(-1.0, 1.0)


# --- verdicts over clustered, paired samples ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Clustered:
    """Per-sample scores of several methods on the same clips, grouped as the data were drawn:
    ``scores`` is ``(M, N)`` (methods × clips, NaN where undefined), ``group`` gives each clip's
    trained model (fold or seed), ``cluster`` its speaker and ``classes``, where known, the
    class it was explained for. Clips of one speaker are not independent, and neither are the
    clips a model was tested on, so every interval and test below resamples models, then
    speakers within a model, never single clips."""

    scores: np.ndarray
    group: np.ndarray
    cluster: np.ndarray
    classes: np.ndarray | None = None

    def of_class(self, label: Any) -> Clustered:
        """The clips explained for class ``label`` alone."""
        if self.classes is None:
            raise ValueError("these scores do not say which class each clip was explained for")
        keep = self.classes == label
        return Clustered(self.scores[:, keep], self.group[keep], self.cluster[keep],
                         self.classes[keep])

    def speaker_classes(self) -> list[np.ndarray] | None:
        """Per model, each speaker's class (in :meth:`units`' speaker order) where the class is
        the speaker's own: every clip of a speaker explained for one class, more than one class
        in all (the sex task). Test speakers were drawn balanced by such a class, and the mean
        shown is over that balanced sample, so resamples and tests keep the balance (a
        resample of 5 men and 1 woman measures the mix, not the mean). None where a speaker's
        clips are explained for several classes (digits), where a model has a class of one
        speaker (a few digit clips of as many speakers look speaker-level by chance, and one
        speaker cannot be resampled), or where the classes are not known."""
        return self._speaker_classes

    @functools.cached_property
    def _speaker_classes(self) -> list[np.ndarray] | None:
        # worked out once per instance: the bootstrap, the degrees of freedom and the tests
        # all ask
        if self.classes is None or len(np.unique(self.classes)) < 2:
            return None
        _, _, ids = self.units()
        per_model = []
        for g, speakers in zip(np.unique(self.group), ids):
            in_group = self.group == g
            labels = []
            for speaker in speakers:
                own = np.unique(self.classes[in_group & (self.cluster == speaker)])
                if len(own) != 1:
                    return None
                labels.append(own[0])
            _, sizes = np.unique(labels, return_counts=True)
            if sizes.min() < 2:
                return None
            per_model.append(np.array(labels))
        return per_model

    @property
    def n_strata(self) -> int:
        """Resampling strata: (model, class) pairs where speakers are resampled within their
        class (:meth:`speaker_classes`), else models; each costs the interval one degree of
        freedom (:func:`small_sample_factor`)."""
        strata = self.speaker_classes()
        return self.n_groups if strata is None else sum(len(np.unique(c)) for c in strata)

    def unit_strata(self) -> np.ndarray | None:
        """``(U,)`` each (model, speaker) unit's class, aligned with :meth:`unit_means`; None
        where speakers are not resampled by class."""
        strata = self.speaker_classes()
        return None if strata is None else np.concatenate(strata)

    def units(self) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Per model: per-speaker score sums ``(M, S)``, finite-score counts ``(M, S)`` and the
        speaker ids (read-only: computed once per instance, every estimate starts here)."""
        return self._units

    @functools.cached_property
    def _units(self) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        sums, counts, ids = [], [], []
        finite = np.isfinite(self.scores)
        values = np.where(finite, self.scores, 0.0)
        for g in np.unique(self.group):
            in_group = self.group == g
            speakers = np.unique(self.cluster[in_group])
            member = (self.cluster[in_group][None, :] == speakers[:, None]).astype(float)
            sums.append(values[:, in_group] @ member.T)
            counts.append(finite[:, in_group].astype(float) @ member.T)
            ids.append(speakers)
        return sums, counts, ids

    @property
    def n_groups(self) -> int:
        """Trained models (folds or seeds)."""
        return len(np.unique(self.group))

    def unit_counts(self) -> np.ndarray:
        """``(M,)`` each method's (model, speaker) units with at least one finite score."""
        _, counts, _ = self.units()
        return sum((c > 0).sum(axis=1) for c in counts) if counts else np.zeros(len(self.scores))

    def unit_means(self) -> np.ndarray:
        """``(M, U)`` each method's mean over the clips of every (model, speaker) unit."""
        sums, counts, _ = self.units()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.concatenate([s / c for s, c in zip(sums, counts)], axis=1)

    def means(self) -> np.ndarray:
        """``(M,)`` the mean over models of each model's mean over its clips."""
        sums, counts, _ = self.units()
        with np.errstate(invalid="ignore", divide="ignore"):
            per_model = np.stack([s.sum(1) / c.sum(1) for s, c in zip(sums, counts)])
        if not len(per_model):
            return np.full(len(self.scores), np.nan)
        with warnings.catch_warnings():  # a method without a finite model mean: NaN, said so
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(per_model, axis=0)

    def bootstrap(self, n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
        """``(B, M)`` means of hierarchical resamples: models with replacement, then, for every
        model drawn, its own speakers with replacement (within each class where the class is
        the speaker's, :meth:`speaker_classes`); a model drawn twice gets two independent
        speaker resamples. Every method sees the same resample, so the replicates are paired."""
        rng = np.random.default_rng(seed)
        sums, counts, _ = self.units()
        strata = self.speaker_classes() or [None] * len(sums)
        drawn = rng.integers(0, len(sums), size=(n_resamples, len(sums)))
        slots = np.full((len(sums), len(self.scores), n_resamples), np.nan)  # (G, M, B)
        for slot in range(len(sums)):
            for g in np.unique(drawn[:, slot]):
                rows = np.flatnonzero(drawn[:, slot] == g)
                pick = resample_speakers(rng, strata[g], sums[g].shape[1], len(rows))
                with np.errstate(invalid="ignore", divide="ignore"):
                    slots[slot][:, rows] = sums[g][:, pick].sum(2) / counts[g][:, pick].sum(2)
        with warnings.catch_warnings():  # a resample without a finite score: NaN, left out
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(slots, axis=0).T


def resample_speakers(rng: np.random.Generator, classes: np.ndarray | None, n_speakers: int,
                      n_resamples: int) -> np.ndarray:
    """``(n_resamples, n_speakers)`` speaker indices drawn with replacement; within each class
    where ``classes`` (one per speaker) are given, so every resample keeps the class counts."""
    if classes is None:
        return rng.integers(0, n_speakers, size=(n_resamples, n_speakers))
    members = [np.flatnonzero(classes == c) for c in np.unique(classes)]
    return np.concatenate([m[rng.integers(0, len(m), size=(n_resamples, len(m)))]
                           for m in members], axis=1)


def small_sample_factor(units: int, groups: int, confidence: float = 0.95) -> float:
    """How much a percentile interval from resampling ``units`` speaker clusters (within
    ``groups`` trained models) must widen about its estimate to keep its coverage; NaN below
    one degree of freedom.

    Resampling U clusters gives a variance (U - G) / U of the unbiased one, and normal-shaped
    limits where a mean of U clusters follows Student's t with U - G degrees of freedom. With one
    model and 12 test speakers the plain percentile interval covers 91 % instead of 95 % (6
    speakers: 86 %); widened by this factor, 94 % (simulated, `tests/test_stats.py`)."""
    dof = units - groups
    if dof < 1:
        return math.nan
    q = 1 - (1 - confidence) / 2
    return float(sps.t.ppf(q, dof) / sps.norm.ppf(q) * math.sqrt(units / dof))


def widened(point: ArrayLike, low: ArrayLike, high: ArrayLike, factor: ArrayLike
            ) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` moved away from ``point`` by ``factor`` (the interval's asymmetry kept)."""
    point, factor = np.asarray(point, float), np.asarray(factor, float)
    return point - factor * (point - np.asarray(low)), point + factor * (np.asarray(high) - point)


def percentile_interval(reps: np.ndarray, point: ArrayLike, units: ArrayLike, groups: int,
                        confidence: float = 0.95) -> np.ndarray:
    """``(M, 2)`` the percentile limits of bootstrap replicates ``reps`` ``(B, M)``, widened by
    :func:`small_sample_factor` for each column's number of resampled units."""
    alpha = (1 - confidence) / 2
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        # a method without a finite replicate (no score at all) gets NaN limits, as its mean
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        low, high = np.nanquantile(reps, [alpha, 1 - alpha], axis=0)
    factor = [small_sample_factor(int(u), groups, confidence) for u in np.atleast_1d(units)]
    return np.stack(widened(point, low, high, factor), axis=-1)


def clustered_interval(data: Clustered, confidence: float = 0.95, n_resamples: int = N_RESAMPLES,
                       seed: int = 0) -> np.ndarray:
    """``(M, 2)`` each method's interval from :meth:`Clustered.bootstrap`: percentile limits,
    widened for the few speakers resampled (:func:`small_sample_factor`)."""
    return percentile_interval(data.bootstrap(n_resamples, seed), data.means(),
                               data.unit_counts(), data.n_strata, confidence)


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (Holm 1979): controls the chance of
    any false "different" among all pairs, without assuming independence."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


@dataclasses.dataclass(frozen=True)
class Verdict:
    """How methods compare on one metric: their means and clustered intervals, pairwise
    Holm-adjusted p-values of paired Wilcoxon tests over (model, speaker) units, which pairs
    differ at ``alpha`` and each method's shared rank ``(best, worst)``."""

    means: np.ndarray
    intervals: np.ndarray
    p_adjusted: np.ndarray  # (M, M), NaN on the diagonal
    better: np.ndarray  # (M, M) bool: method i is distinguishably better than j
    ranks: list[tuple[int, int] | None]  # None: no finite mean, unranked
    units: int
    #: whether the tests ranked the differences within each class (:func:`paired_p`'s strata)
    stratified: bool = False


def paired_p(differences: np.ndarray, strata: np.ndarray | None = None,
             n_resamples: int = 9999, alternative: str = "two-sided") -> float:
    """Two-sided p (or ``alternative``'s: ``"greater"``, ``"less"``) of the Wilcoxon
    signed-rank test that paired ``differences`` (one per unit; NaN and, as Wilcoxon did, zeros
    left out) centre on 0; 1.0 where none is left.

    Without ties scipy's exact test. With tied magnitudes (binary scores, saturated metrics)
    scipy falls back on a permutation test that is slow and unseeded; here the same test runs
    vectorised over the sign flips: exact up to ``n_resamples`` flips (13 units), else seeded.
    With ``strata`` (each unit's class, where the sample was drawn balanced by it) the
    magnitudes are ranked within each class and a class's ranks divided by its units + 1 (van
    Elteren's weights, 1960), so each class weighs as in the balanced mean; the sign flips are
    the same exact null."""
    keep = np.isfinite(differences) & (differences != 0)
    diff = differences[keep]
    if len(diff) == 0:
        return 1.0
    magnitude = np.abs(diff)
    classes = None if strata is None else np.asarray(strata)[keep]
    if classes is None or len(np.unique(classes)) < 2:
        if len(np.unique(magnitude)) == len(diff):
            return float(sps.wilcoxon(diff, alternative=alternative, method="exact").pvalue)
        ranks = sps.rankdata(magnitude)
    else:
        ranks = np.empty_like(magnitude)
        for label in np.unique(classes):
            mine = classes == label
            ranks[mine] = sps.rankdata(magnitude[mine]) / (mine.sum() + 1)

    def signed_rank_sum(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return (ranks * (x > y)).sum(axis=axis)  # a swapped pair flips its difference's sign

    return float(sps.permutation_test((diff, np.zeros_like(diff)), signed_rank_sum,
                                      permutation_type="samples", vectorized=True,
                                      n_resamples=n_resamples, alternative=alternative,
                                      rng=np.random.default_rng(0)).pvalue)


def directed_p(differences: np.ndarray, direction: float,
               strata: np.ndarray | None = None) -> float:
    """:func:`paired_p`'s two-sided p where the signed ranks lean the way ``direction`` (the
    sign of the mean shown) does, else 1.0 (and 1.0 where it is 0 or NaN): twice the one-sided
    p in that direction. A test can reject a centre of 0 on many small differences while a few
    large ones put the mean on the other side (11 of 12 units above the control, one far
    below); a mark or rank by the mean's sign would then claim the opposite of what the test
    found."""
    if not direction or not np.isfinite(direction):
        return 1.0
    side = "greater" if direction > 0 else "less"
    return min(1.0, 2 * paired_p(differences, strata, alternative=side))


def unit_differences(data: Clustered, i: int, j: int) -> np.ndarray:
    """``(U,)`` each (model, speaker) unit's mean of method ``i``'s score minus ``j``'s over
    the clips both scored: a difference of the two unit means would compare a method on its
    defined clips with the other on more (a metric left out on the hard clips of one method
    made that method better on every unit while every shared clip scored alike)."""
    both = Clustered(data.scores[i:i + 1] - data.scores[j:j + 1], data.group, data.cluster)
    return both.unit_means()[0]


def compare(data: Clustered, higher_is_better: bool = True, alpha: float = 0.05,
            n_resamples: int = N_RESAMPLES, seed: int = 0) -> Verdict:
    """Rank methods only as far as the data separate them.

    Each pair is tested on the per-(model, speaker) mean of its per-clip differences (the clips
    both methods scored: :func:`unit_differences`) with scipy's Wilcoxon signed-rank test, in
    the direction of the means shown (:func:`directed_p`); the family of all pairs is adjusted
    with :func:`holm`. A method's shared rank runs from 1 + the
    number of methods distinguishably better to the number not distinguishably worse. A
    method without a finite mean is left out of the pairs, the family and the ranks (its rank
    is None): a pair it cannot be ordered in would otherwise widen every other method's rank
    and Holm's multiplier. Intervals come from the paired hierarchical bootstrap. (No bootstrap
    rank interval: it is not adjusted for the pairs compared and reads narrower than the tests
    allow.)
    """
    strata = data.unit_strata()
    m = len(data.scores)
    sign = 1.0 if higher_is_better else -1.0
    means = data.means()
    valued = [i for i in range(m) if np.isfinite(means[i])]
    raw = np.full((m, m), np.nan)
    pairs = [(i, j) for n, i in enumerate(valued) for j in valued[n + 1:]]
    for i, j in pairs:
        raw[i, j] = directed_p(unit_differences(data, i, j), means[i] - means[j], strata)
    adjusted = np.full((m, m), np.nan)
    if pairs:
        flat = holm([raw[i, j] for i, j in pairs])
        for (i, j), p in zip(pairs, flat):
            adjusted[i, j] = adjusted[j, i] = p
    better = np.zeros((m, m), dtype=bool)
    for i, j in pairs:
        if adjusted[i, j] < alpha:
            if sign * (means[i] - means[j]) > 0:
                better[i, j] = True
            else:
                better[j, i] = True
    ranks = [(1 + int(better[:, i].sum()), len(valued) - int(better[i, :].sum()))
             if i in valued else None for i in range(m)]
    reps = data.bootstrap(n_resamples, seed)
    intervals = percentile_interval(reps, means, data.unit_counts(), data.n_strata)
    return Verdict(means, intervals, adjusted, better, ranks, data.unit_means().shape[1],
                   strata is not None)
