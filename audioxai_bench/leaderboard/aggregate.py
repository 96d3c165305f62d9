"""Cells over trained models, sections and rankings: the numbers every output shares.

A cell's value is the mean over its splits (folds) of each split's mean over its test clips,
and its interval comes from resampling splits, then speakers within a split
(:class:`audioxai_bench.stats.Clustered`; within each class where the class is the speaker's
own, as the sex task's balanced test speakers are), computed from the per-sample scores the
records keep (for a proportion, the Wilson interval at the speaker clusters' effective sample
size); interval bounds are never averaged. Runs of one definition with other seeds are
replicates: each trains its own model of every split, and their clips join the split's (split,
speaker) units, so a split's mean averages its models' training luck, and the units stay
independent speakers (one speaker's clips under two models are not independent). Explainers are
ranked only as far as paired tests separate them (:func:`audioxai_bench.stats.compare`), and
not at all on a model below the accuracy floor
(:func:`audioxai_bench.data.splits.accuracy_floor`). A metric whose records name the control
its scores are differences against (``versus``) gets a verdict per cell,
:func:`control_verdicts`: better or worse than that control by a Wilcoxon signed-rank test over
(split, speaker) units (within each class where the class is the speaker's), Holm-adjusted over
the explainers of its column, and is flagged where its classes disagree
(:func:`class_disagreement`); a cell whose balanced classes kept very unequal shares of their
clips (a metric undefined on some) gets neither and says so (:func:`unbalanced`). Tests hold these
trained models fixed; intervals resample splits, then speakers, which allows for training luck
only roughly. A cell whose every model failed stays in the frame with no value and its error
count, so no output can drop it silently.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..api.metric import ACCURACY_METRIC, CONTROL_METRIC
from ..data.splits import N_CLASSES, accuracy_floor, class_name
from ..evaluation.meta import (
    REFERENCES,
    SIGNED,
    Reliability,
    is_reference,
    reference_name,
    reliability,
)
from ..run.control import P_TRUE_WITHOUT_CUE, control_passed
from ..stats import (
    Clustered,
    Verdict,
    clustered_interval,
    clustered_wilson,
    compare,
    directed_p,
    holm,
)

#: A table section of the leaderboard: one model on one task of one benchmark and dataset.
SECTION_KEYS: tuple[str, ...] = ("benchmark", "dataset", "task", "model")
#: The columns that name a fold-aggregated cell (and the CSV's first columns).
KEYS: tuple[str, ...] = (*SECTION_KEYS, "explainer", "sonifier", "metric")
#: The ranking metric.
RANK_METRIC = "faithfulness-gap"
#: Significance level of the paired tests (ranks and control verdicts).
ALPHA = 0.05
#: The explainer whose map is loudness alone, and the name ending and control of the sonified
#: metrics' paired difference from it (:func:`_versus_amplitude`).
AMPLITUDE_EXPLAINER = "amplitude"
VERSUS_AMPLITUDE = "-vs-amplitude"
AMPLITUDE_VERSUS = "the amplitude map (loudest units) under the same sonifier"


def model_records(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The runner's records of a trained model named ``metric`` (test accuracy, the cue
    control), picked by their shape as well as their name: no explainer and no sonifier, so a
    metric's record under that name (from before the names were reserved, or written by hand)
    is never read as the model's."""
    return rows[(rows["metric"] == metric) & (rows["explainer"] == "")
                & (rows["sonifier"] == "")]


def run_seed(value: Any) -> int:
    """A record's run seed (-1 where it has none)."""
    return -1 if value is None or pd.isna(value) else int(value)


def trained_model(fold: Any, seed: Any) -> tuple[int, int]:
    """A trained model's key: its split and the run's seed."""
    return int(fold), run_seed(seed)


def scored_models(rows: pd.DataFrame) -> set[tuple[int, int]]:
    """The trained models whose record of ``rows`` holds a finite per-sample score (a record
    without scores: a value): one whose every score is undefined (null, its ``n`` 0) adds no
    clip to its cell."""
    def scored(record: dict[str, Any], value: Any) -> bool:
        scores = record.get("scores")
        if not isinstance(scores, list):
            return bool(pd.notna(value))
        return bool(np.isfinite(np.array(scores, dtype=float)).any())  # None: NaN

    return {trained_model(f, s) for f, s, r, v in zip(rows["fold"], rows["seed"],
                                                       rows["record"], rows["value"])
            if scored(r, v)}


def model_label(fold: Any, seed: Any, several_seeds: bool) -> str:
    """A trained model as the tables name it: its fold, and its seed where runs of several
    seeds are pooled."""
    fold, seed = trained_model(fold, seed)
    return f"{fold} (seed {seed})" if several_seeds else str(fold)


def _clustered(rows: pd.DataFrame, columns: Sequence[str]) -> Clustered | None:
    """Per-sample scores of the ``rows`` (one per trained model and ``columns`` value) as a
    :class:`Clustered` with one method per ``columns`` value, grouped by split, clustered by
    (split, speaker); None unless every row has its scores and every method has the same
    clips (then the methods are paired clip by clip)."""
    methods: dict[tuple, dict[tuple[int, int], dict]] = {}
    for _, row in rows.iterrows():
        record = row["record"]
        if not all(isinstance(record.get(k), list) for k in ("scores", "clips", "speakers")):
            return None
        key = tuple(row[c] for c in columns)
        methods.setdefault(key, {})[trained_model(row["fold"], row.get("seed"))] = record
    if not methods:
        return None
    models = sorted(next(iter(methods.values())))
    scores, names, group, cluster, classes = [], None, None, None, None
    for by_model in methods.values():
        if sorted(by_model) != models:
            return None
        clips = np.array([f"{f}/{s}/{c}" for f, s in models for c in by_model[f, s]["clips"]])
        order = np.argsort(clips, kind="stable")
        values = np.array([v for m in models for v in by_model[m]["scores"]],
                          dtype=float)[order]
        g = np.array([m[0] for m in models for _ in by_model[m]["clips"]])[order]
        k = np.array([m[0] * 1000 + s for m in models for s in by_model[m]["speakers"]])[order]
        if group is not None and not (np.array_equal(clips[order], names)
                                      and np.array_equal(g, group)
                                      and np.array_equal(k, cluster)):
            return None
        scores.append(values)
        names, group, cluster = clips[order], g, k
        if all(isinstance(by_model[m].get("targets"), list) for m in models):
            classes = np.array([t for m in models for t in by_model[m]["targets"]])[order]
    return Clustered(np.stack(scores), group, cluster, classes)


def clip_extra(rows: pd.DataFrame, name: str) -> Clustered | None:
    """The per-clip values of extra ``name`` (a metric's ``clip_extras``) of the ``rows``, one
    record per trained model, as a :class:`Clustered` of one method built as a cell's scores
    are; None unless every record kept them."""
    records = []
    for record in rows["record"]:
        values = ((record.get("extras") or {}).get(name) or {}).get("scores")
        if not isinstance(values, list):
            return None
        records.append(record | {"scores": values})
    return _clustered(rows.assign(record=records), ("metric",)) if records else None


def _proportion_interval(data: Clustered, declared: bool) -> tuple[float, float] | None:
    """Where the metric ``declared`` its per-sample scores hits or chances of a hit (the
    pointing game, L-MAC's Fid-In), the Wilson interval at the effective size of its (fold,
    speaker) clusters; a bootstrap of 48 hits would read [1, 1]. None for any other scores:
    scores that merely happen to be 0 (amplitude against itself) are no proportion. Each
    split's clips weigh alike in all, as in the cell's mean (:meth:`Clustered.means`): where
    splits keep unequal numbers of clips, the pooled proportion is another number."""
    scores = data.scores[0]
    finite = np.isfinite(scores)
    values = scores[finite]
    if not declared or not finite.any() or not ((values >= 0) & (values <= 1)).all():
        return None
    _, which, per_split = np.unique(data.group[finite], return_inverse=True,
                                    return_counts=True)
    low, high, _ = clustered_wilson(values, data.cluster[finite],
                                    weights=1.0 / per_split[which])
    return low, high


def _no_interval(rows: pd.DataFrame) -> bool:
    """Whether every record says its metric has no interval (``"ci": null``: one measurement
    shared by every sample, e.g. ``runtime``): resampling its speakers would only reweigh a
    few timings."""
    return all("ci" in r and r["ci"] is None for r in rows["record"])


def _within_bounds(low: float, high: float, rows: pd.DataFrame) -> tuple[float, float]:
    """``(low, high)`` kept inside the range the records' metric declares its scores lie in
    (``info.bounds``): widened for a few speakers, an interval of Gini scores read [0.54,
    1.06]."""
    bounds = next((r["info"]["bounds"] for r in rows["record"]
                   if (r.get("info") or {}).get("bounds")), None)
    if bounds is None:
        return low, high
    return float(np.clip(low, *bounds)), float(np.clip(high, *bounds))


def pooled_accuracy(rows: pd.DataFrame) -> tuple[float, float, float] | None:
    """Test accuracy over the clips of every trained model, with the Wilson interval at the
    effective size of its (fold, speaker) clusters; None unless every record has its per-clip
    hits and speakers."""
    hits, clusters = [], []
    for fold, record in zip(rows["fold"], rows["record"]):
        if not all(isinstance(record.get(k), list) for k in ("scores", "speakers")):
            return None
        hits += record["scores"]
        clusters += [int(fold) * 1000 + int(s) for s in record["speakers"]]
    low, high, _ = clustered_wilson(hits, clusters)
    return float(np.mean(hits)), low, high


def mean_of_values(rows: pd.DataFrame, by_split: bool = True) -> float:
    """The mean a cell states, from its records' values where not all kept per-sample scores:
    each split's mean over its models' clips (their values weighted by ``n`` where every
    record states one), then the mean over splits (:meth:`Clustered.means`); over every clip
    where not ``by_split`` (test accuracy: :func:`pooled_accuracy`). A plain mean of the
    values weighs a split by its seeds: 2 seeds of split 0 and 1 of split 1 read 0.333 for
    0.2 on split 0 and 0.6 on split 1, not 0.4."""
    rows = rows[rows["value"].notna()]
    means = []
    for _, split in rows.groupby("fold" if by_split else np.zeros(len(rows)), sort=False):
        n = split["n"]
        weights = n.to_numpy(float) if n.notna().all() and (n > 0).all() else None
        means.append(np.average(split["value"].to_numpy(float), weights=weights))
    return float(np.mean(means)) if means else np.nan


def _testable(data: Clustered) -> bool:
    """Whether a paired difference has a (split, speaker) unit mean other than 0 to test
    (``amplitude`` against the amplitude order has none: its 0 [0, 0] is no verdict)."""
    units = data.unit_means()[0]
    return bool((units[np.isfinite(units)] != 0).any())


def _p_versus(data: Clustered) -> float:
    """Two-sided p of the Wilcoxon signed-rank test that the (split, speaker) unit means of a
    paired difference centre on 0 (stratified by class where the class is the speaker's), 1.0
    where the ranks lean against the cell's mean (:func:`directed_p`: the mark says the
    mean's side); NaN where every unit mean is 0 (``amplitude`` against the amplitude order:
    no test to make) or none is finite."""
    units = data.unit_means()[0]
    finite = np.isfinite(units)
    if not (units[finite] != 0).any():
        return np.nan
    return directed_p(units, data.means()[0], data.unit_strata())


def by_class(data: Clustered | None) -> list[tuple[int, Clustered]]:
    """``(label, its clips)`` per class, where the records say two classes or more (else
    empty): split once per cell for :func:`class_disagreement` and :func:`class_means`."""
    if data is None or data.classes is None:
        return []
    labels = np.unique(data.classes)
    return [(int(label), data.of_class(label)) for label in labels] if len(labels) > 1 else []


def class_disagreement(classes: list[tuple[int, Clustered]], task: str) -> str:
    """Each class's mean and interval of a paired difference (``"female 0.441 [0.312, 0.571] /
    male -0.386 [...]"``) where the classes disagree: one class's interval above 0 and
    another's below; empty where they do not, or where the records do not say the classes.
    The intervals are Bonferroni-adjusted over the classes (97.5 % for two, 99.5 % for ten),
    so a cell with no class effect is flagged in about 5 % of cases or fewer.

    The mean over a class-balanced sample then hides two opposite effects. On the sex task
    removing units to silence pushes the model towards one class, so a map that removes the
    loud units first gains on the clips of one sex and loses on the other's. ``classes``:
    :func:`by_class`."""
    if not classes:
        return ""
    confidence = 1 - ALPHA / len(classes)  # Bonferroni: one cell, all its classes at ALPHA
    parts, above, below = [], False, False
    for label, one in classes:
        (low, high), = clustered_interval(one, confidence)
        above, below = above or low > 0, below or high < 0
        parts.append(f"{class_name(task, label)} {one.means()[0]:.3f} [{low:.3f}, {high:.3f}]")
    return " / ".join(parts) if above and below else ""


def class_means(classes: list[tuple[int, Clustered]], task: str) -> str:
    """Each class's mean in class order (``"male -0.386 / female 0.441"``; ``classes``:
    :func:`by_class`): the numbers behind the balanced mean, for every cell and not only where
    :func:`class_disagreement` flags one. Each is pooled over the class's clips, every split
    and seed together, and says how many clips it keeps where the metric left some out (``"female
    -0.001 (28 of 144 clips)"``). On a class-balanced cell with every clip (each split holding as
    many clips of a class) this is the mean over splits the cell takes; a mean over splits of
    each split's class mean would count a split that keeps one clip of a class as half the
    class: sex · AlexNet's Bands beyond amplitude read female 0.188 for gradient × input, (-0.016
    + 0.392) / 2 with the 0.392 one clip, pooled -0.001."""
    parts = []
    for label, one in classes:
        values = one.scores[0]
        finite = np.isfinite(values)
        mean = float(values[finite].mean()) if finite.any() else np.nan
        kept = "" if finite.all() else f" ({int(finite.sum())} of {len(values)} clips)"
        parts.append(f"{class_name(task, label)} {mean:.3f}{kept}")
    return " / ".join(parts)


#: A class must keep at least this fraction of the share of clips (and of (split, speaker)
#: units) that the best-kept class keeps, and at least :data:`MIN_CLASS_SPEAKERS` units, for
#: a cell to be read as class-balanced (:func:`unbalanced`).
MIN_CLASS_SHARE = 0.5
MIN_CLASS_SPEAKERS = 3


def balance_rule(who: str = "one class", other: str = "another",
                 what: str = "clips or speakers") -> str:
    """:func:`unbalanced`'s rule in words, from :data:`MIN_CLASS_SHARE` (``"female keeps under
    half the share of clips male keeps"``): its reasons and the tables' notes say it alike."""
    share = "half" if MIN_CLASS_SHARE == 0.5 else f"{100 * MIN_CLASS_SHARE:g} % of"
    return f"{who} keeps under {share} the share of {what} {other} keeps"


def few_speakers(who: str) -> str:
    """:func:`unbalanced`'s rule on speakers in words, from :data:`MIN_CLASS_SPEAKERS`."""
    return f"{who} keeps fewer than {MIN_CLASS_SPEAKERS} speakers"


def unbalanced_rule(who: str = "one class", other: str = "another") -> str:
    """:func:`unbalanced`'s whole rule in words, as the tables' notes and the README say it."""
    return f"{balance_rule(who, other)}, or fewer than {MIN_CLASS_SPEAKERS} speakers"


def unbalanced(data: Clustered | None, classes: list[tuple[int, Clustered]], task: str) -> str:
    """Why a cell cannot be read as its classes' balanced mean, with the clips and speakers each
    class keeps (``"female keeps under half the share of clips male keeps; kept: male 134 of
    144 clips (6 of 6 speakers) / female 28 of 144 clips (3 of 6 speakers)"``); empty where
    every class keeps at least half the share of clips and of speakers the best-kept class
    keeps, and 3 speakers or all it had, and where the classes are not the speakers' own
    (digits: no balance is claimed there). ``classes``: :func:`by_class` of ``data``.

    The sex task's test speakers are half female, half male, so a cell is read as the balanced
    mean of both and tested within each (:meth:`Clustered.speaker_classes`). A metric leaves
    out clips where its score is undefined (the band metrics: clips where no band's removal
    moves the log-probability), and those need not fall evenly on the classes: on sex ·
    AlexNet the band metrics kept 134 of 144 male clips but 28 of 144 female ones, from 3 of 6
    female speakers. The cell's mean is then mostly one class's (female clips weigh 28 / 162 =
    17 %, not half; at half the other class's share a class still weighs a third), and the
    test rests on the few speakers of that class left (below 3, a class's speakers cannot be
    resampled to any purpose). A share that is even (the randomisation check scores a third
    of every class's clips by design) is no imbalance. Such a cell gets no mark and no ⇅
    (:func:`by_cell`), and the tables say why; :func:`by_cell` asks only of a cell it would
    test (one with a control and a unit difference other than 0, on a model above the
    accuracy floor), since no other is judged."""
    if data is None or not classes or data.speaker_classes() is None:
        return ""
    counts = []
    for label, one in classes:
        finite = np.isfinite(one.scores[0])
        counts.append((class_name(task, label), int(finite.sum()), len(finite),
                       len(np.unique(one.cluster[finite])), len(np.unique(one.cluster))))
    by_clips = max(counts, key=lambda c: c[1] / c[2])
    by_units = max(counts, key=lambda c: c[3] / c[4])
    reasons = []
    for name, kept, clips, kept_units, units in counts:
        if kept < MIN_CLASS_SHARE * by_clips[1] / by_clips[2] * clips:
            reasons.append(balance_rule(name, by_clips[0], "clips"))
        elif kept_units < MIN_CLASS_SHARE * by_units[3] / by_units[4] * units:
            reasons.append(balance_rule(name, by_units[0], "speakers"))
        elif kept_units < min(MIN_CLASS_SPEAKERS, units):
            reasons.append(few_speakers(name))
    kept = " / ".join(f"{name} {k} of {c} clips ({ku} of {u} speakers)"
                      for name, k, c, ku, u in counts)
    return f"{', '.join(reasons)}; kept: {kept}" if reasons else ""


#: Below this share of its timed wall time on the CPU, a single-threaded timing waited for the
#: CPU (see ``builtin/metrics_runtime``): the machine was busy, the runtime is inflated.
MIN_CPU_SHARE = 0.9


def contention(group: pd.DataFrame) -> str:
    """The least CPU share of a cell's single-threaded CPU timings (``info.cpu_share`` where
    ``info.threads`` is 1), as a percentage, where it is below :data:`MIN_CPU_SHARE`; else
    empty. With more threads the share of an idle machine is not known, so it is not read."""
    infos = [r.get("info") or {} for r in group["record"]]
    shares = [i["cpu_share"] for i in infos
              if i.get("threads") == 1 and isinstance(i.get("cpu_share"), (int, float))]
    least = min(shares, default=None)
    return f"{100 * least:.0f} %" if least is not None and least < MIN_CPU_SHARE else ""


def _verdict(data: Clustered, classes: list[tuple[int, Clustered]], task: str, tested: bool,
             *, disagreement: bool = True) -> tuple[float, str, str]:
    """``(p_versus, classes, unbalanced)`` of a cell that is ``tested`` against its control
    (``classes``: :func:`by_class` of ``data``): a cell whose classes kept too unequal shares
    of their clips (:func:`unbalanced`) gets its reason and neither a test nor a ⇅; any other
    its test's p and, where ``disagreement``, whether its classes disagree."""
    uneven = unbalanced(data, classes, task) if tested else ""
    if not tested or uneven:
        return np.nan, "", uneven
    return _p_versus(data), class_disagreement(classes, task) if disagreement else "", uneven


def _versus_amplitude(ok: pd.DataFrame, weak: set[tuple]) -> list[tuple]:
    """Cells of every ranked sonified metric paired against the :data:`AMPLITUDE_EXPLAINER`'s
    map under the same sonifier, as :func:`by_cell`'s rows (metric ``<metric>-vs-amplitude``).

    A sonified gain is a difference against random units, and a loudness map beats those too;
    this column asks whether a map plays more than its loudest units. Per sample it is the
    explainer's score minus the amplitude map's on the same clip; the matched engine shares the
    random controls between explainers, so this equals the gain over the amplitude control
    (the records' ``gain/amplitude``). Its interval and test are the usual ones of a paired
    difference (:func:`clustered_interval`, :func:`_p_versus`); no row where the section has
    no amplitude map, ``n/a`` where the clips cannot be paired."""
    sonified = ok[(ok["sonifier"] != "")
                  & ok["record"].map(lambda r: r.get("ranked", True) is not False)]
    rows = []
    for key, group in sonified.groupby([*SECTION_KEYS, "sonifier", "metric"], sort=False):
        loud = group[group["explainer"] == AMPLITUDE_EXPLAINER]
        if loud.empty:
            continue
        judged = key[:len(SECTION_KEYS)] not in weak
        for explainer, mine in group.groupby("explainer", sort=False):
            data = _clustered(pd.concat([mine.assign(explainer="_"), loud]), ["explainer"])
            value = low = high = p_versus = np.nan
            classes = per_class = uneven = ""
            if data is not None:
                paired = Clustered(data.scores[:1] - data.scores[1:], data.group, data.cluster,
                                   data.classes)
                value = float(paired.means()[0])
                low, high = clustered_interval(paired)[0]
                split = by_class(paired)
                p_versus, classes, uneven = _verdict(paired, split, key[2],
                                                     judged and _testable(paired))
                per_class = class_means(split, key[2])
            *section, sonifier, metric = key
            rows.append((*section, explainer, sonifier, f"{metric}{VERSUS_AMPLITUDE}", value, low,
                         high, mine["n"].sum(min_count=1),
                         len(scored_models(mine) & scored_models(loud)), AMPLITUDE_VERSUS,
                         p_versus, classes, per_class, uneven, mine["representation"].iloc[0],
                         higher_is_better(mine["higher_is_better"])))
    return rows


def control_verdicts(cells: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """``p_versus`` Holm-adjusted over each column (section and metric; the explainers it
    shows: reference maps and sonifiers' rows of one metric count as one family), and
    ``versus_verdict``: ``better`` / ``worse`` than the control where the adjusted p is below
    ``alpha`` (in the metric's good direction), ``not separated`` above it, empty without a test."""
    cells = cells.copy()
    tested = cells["p_versus"].notna() & ~cells["explainer"].map(is_reference)
    cells.loc[~tested, "p_versus"] = np.nan
    for _, family in cells[tested].groupby([*SECTION_KEYS, "metric"], sort=False):
        cells.loc[family.index, "p_versus"] = holm(family["p_versus"].to_numpy())
    higher = cells["higher_is_better"].astype("boolean").fillna(True).to_numpy(bool)
    sign = np.where(higher, 1.0, -1.0)
    verdict = np.where(cells["p_versus"] >= alpha, "not separated",
                       np.where(sign * cells["value"] > 0, "better", "worse"))
    cells["versus_verdict"] = np.where(cells["p_versus"].notna(), verdict, "")
    return cells


def by_cell(df: pd.DataFrame) -> pd.DataFrame:
    """One row per :data:`KEYS` over trained models: value and interval over splits and
    speakers (see the module docstring), summed ``n``, the number of trained models with a
    value (``models``: splits × seeds; :func:`scored_models`) and of failed ones (``errors``),
    and ``ranked``: false where the records call the metric descriptive or a check. Test
    accuracy pools the clips of every model (:func:`pooled_accuracy`). Where a record kept no
    per-sample scores (older runs), a cell of one record keeps its interval, one of several
    the same mean from their values (:func:`mean_of_values`) and no interval. Where the records
    name a control (``versus``), :func:`control_verdicts` tests the cell against it, unless a
    model of its section is not judged (:func:`not_judged`). Ranked sonified
    metrics get a second cell per explainer, paired against the amplitude map
    (:func:`_versus_amplitude`). ``contended``: a timing that waited for the CPU
    (:func:`contention`)."""
    ok = df[df["status"] == "ok"]
    # a model below the accuracy floor, or failing its cue control: its explanations are not
    # judged, against a control no more than against each other
    weak = {key for key, rows in df.groupby(list(SECTION_KEYS), sort=False)
            if not_judged(rows, key[2])}
    rows = []
    for key, group in ok.groupby(list(KEYS), sort=False):
        accuracy = key[-1] == ACCURACY_METRIC and not key[-3] and not key[-2]
        data = _clustered(group, ["metric"]) if not accuracy else None
        pooled = pooled_accuracy(group) if accuracy else None
        versus = next((r["versus"] for r in group["record"] if r.get("versus")), None)
        split = by_class(data)
        tested = bool(versus and data is not None and key[:len(SECTION_KEYS)] not in weak
                      and _testable(data))
        p_versus, classes, uneven = _verdict(data, split, key[2], tested,
                                             disagreement=not is_reference(key[-3]))
        if data is not None:
            value = float(data.means()[0])
            declared = any((r.get("info") or {}).get("proportion") for r in group["record"])
            low, high = ((np.nan, np.nan) if _no_interval(group)
                         else _proportion_interval(data, declared) or clustered_interval(data)[0])
            low, high = _within_bounds(low, high, group)
        elif pooled is not None:
            value, low, high = pooled
        elif len(group) == 1:
            value, low, high = group[["value", "ci_low", "ci_high"]].iloc[0]
        else:
            value, low, high = mean_of_values(group, by_split=not accuracy), np.nan, np.nan
        rows.append((*key, value, low, high, group["n"].sum(min_count=1),
                     len(scored_models(group)), versus,
                     p_versus, classes, class_means(split, key[2]), uneven, contention(group)))
    values = pd.DataFrame(rows, columns=[*KEYS, "value", "ci_low", "ci_high", "n", "models",
                                         "versus", "p_versus", "classes", "class_means",
                                         "unbalanced", "contended"])
    values = values.set_index(list(KEYS))
    errors = df[df["status"] == "error"].groupby(list(KEYS), sort=False).size().rename("errors")
    cells = values.join(errors, how="outer")
    info = df.assign(ranked=df["record"].map(lambda r: r.get("ranked") is not False)).groupby(
        list(KEYS), sort=False).agg(representation=("representation", "first"),
                                    higher_is_better=("higher_is_better", "first"),
                                    ranked=("ranked", "all"))
    cells = cells.join(info).reset_index()
    derived = pd.DataFrame(_versus_amplitude(ok, weak), columns=[
        *KEYS, "value", "ci_low", "ci_high", "n", "models", "versus", "p_versus", "classes",
        "class_means", "unbalanced", "representation", "higher_is_better"]).assign(ranked=True)
    if not derived.empty:
        cells = pd.concat([cells, derived], ignore_index=True)
    cells["models"] = cells["models"].fillna(0).astype(int)
    cells["errors"] = cells["errors"].fillna(0).astype(int)
    cells["n"] = cells["n"].astype("Int64")
    cells["classes"] = cells["classes"].fillna("")
    cells["class_means"] = cells["class_means"].fillna("")
    cells["unbalanced"] = cells["unbalanced"].fillna("")
    cells["contended"] = cells["contended"].fillna("")
    # the trained models of each section: a cell on fewer of them says so
    trained = df.assign(model_id=list(zip(df["fold"], df["seed"].map(run_seed)))).groupby(
        list(SECTION_KEYS), sort=False)["model_id"].nunique().rename("section_models")
    cells = cells.join(trained, on=list(SECTION_KEYS))
    cells = control_verdicts(cells)
    columns = [*KEYS, "representation", "higher_is_better", "ranked", "value", "ci_low",
               "ci_high", "n", "models", "errors", "section_models", "versus", "p_versus",
               "versus_verdict", "classes", "class_means", "unbalanced", "contended"]
    return cells[columns].sort_values(list(KEYS), kind="stable").reset_index(drop=True)


@dataclasses.dataclass(frozen=True, eq=False)
class Section:
    """The records (every trained model) and aggregated cells of one section, explainers
    ranked."""

    benchmark: str
    dataset: str
    task: str
    model: str
    representation: str | None
    rows: pd.DataFrame
    cells: pd.DataFrame
    explainers: tuple[str, ...]
    #: explainer -> its rank as text ("2", "1–3" where it shares ranks; see :func:`rank_texts`)
    ranks: dict[str, str]
    #: the paired comparison behind the ranks (None: no per-sample scores, or not ranked)
    verdict: Verdict | None = None
    #: why the explainers of this section are not ranked (a model below the accuracy floor)
    unranked: str | None = None
    #: the explainers the verdict covers, in the verdict's order
    compared: tuple[str, ...] = ()

    @property
    def separation(self) -> tuple[int, int] | None:
        """``(k, n)``: of the ``n`` neighbouring pairs in leaderboard order, the paired tests
        separate ``k``; None where no paired comparison was made. The share says how much of
        the order the data support."""
        if self.verdict is None:
            return None
        index = {name: i for i, name in enumerate(self.compared)}
        order = [index[e] for e in self.explainers if e in index
                 and np.isfinite(self.verdict.means[index[e]])]
        pairs = list(zip(order, order[1:]))
        return sum(bool(self.verdict.better[a, b]) for a, b in pairs), len(pairs)

    @property
    def title(self) -> str:
        return f"{self.task} · {self.model}"

    @property
    def anchor(self) -> str:
        text = "-".join((self.benchmark, self.dataset, self.task, self.model))
        return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

    def cell(self, explainer: str, metric: str, sonifier: str = "") -> pd.Series | None:
        """The aggregated cell, or None where the section has no record of it."""
        c = self.cells
        hit = c[(c["explainer"] == explainer) & (c["metric"] == metric)
                & (c["sonifier"] == sonifier)]
        return None if hit.empty else hit.iloc[0]

    def direction(self, metric: str) -> bool | None:
        """Whether higher is better for ``metric``, as its records state it
        (:func:`higher_is_better`); None where they do not say."""
        return higher_is_better(self.cells.loc[self.cells["metric"] == metric,
                                                "higher_is_better"])

    def metric_rows(self, metric: str) -> pd.DataFrame:
        """Per-model records of one metric (each naming an explainer), in (explainer,
        sonifier, fold, seed) order."""
        rows = self.rows[(self.rows["metric"] == metric) & (self.rows["explainer"] != "")]
        return rows.sort_values(["explainer", "sonifier", "fold", "seed"], kind="stable")

    def model_rows(self, metric: str) -> pd.DataFrame:
        """The runner's records of each trained model named ``metric`` (test accuracy, the cue
        control; :func:`model_records`), in (fold, seed) order."""
        return model_records(self.rows, metric).sort_values(["fold", "seed"], kind="stable")

    def has(self, metric: str) -> bool:
        return bool((self.cells["metric"] == metric).any())

    @property
    def folds(self) -> list[int]:
        return sorted(int(f) for f in self.rows["fold"].unique())

    @property
    def seeds(self) -> list[int]:
        """The runs' seeds (more than one: replicate models of each split)."""
        return sorted({run_seed(s) for s in self.rows["seed"]})

    def model_label(self, fold: Any, seed: Any) -> str:
        """:func:`model_label` in this section."""
        return model_label(fold, seed, len(self.seeds) > 1)


def higher_is_better(flags: pd.Series) -> bool | None:
    """The direction the records state: the first stated value (a failed cell's record states
    none, so the first row alone could read as "lower is better" and reverse a ranking)."""
    stated = flags[flags.notna()]
    return None if stated.empty else bool(stated.iloc[0])


def ranked(cells: pd.DataFrame) -> tuple[str, ...]:
    """Explainers by :data:`RANK_METRIC`, best first; unranked ones (no value) last by name.
    Reference maps (:mod:`audioxai_bench.evaluation.meta`) are not explainers: left out."""
    names = sorted(e for e in set(cells["explainer"]) - {""} if not is_reference(e))
    rank = cells[(cells["metric"] == RANK_METRIC) & (cells["sonifier"] == "")]
    score = dict(zip(rank["explainer"], rank["value"]))
    better = higher_is_better(rank["higher_is_better"]) is not False

    def key(name: str) -> tuple[bool, float, str]:
        value = score.get(name, np.nan)
        missing = bool(pd.isna(value))
        return missing, 0.0 if missing else (-value if better else value), name

    return tuple(sorted(names, key=key))


#: What a shared rank means where paired tests ranked the explainers (:func:`compare`).
RANK_RULE = ("shared rank: A ranks above B only where a paired Wilcoxon signed-rank test over "
             "(split, test speaker) units, Holm-adjusted over all pairs of the table, finds A "
             "better at 5 %, the way its mean is; a rank such as 1–3 runs from 1 + the number "
             "of explainers "
             "distinguishably better to the number not distinguishably worse.")
#: What a shared rank means where records kept no per-sample scores (:func:`shared_ranks`).
OVERLAP_RANK_RULE = ("shared rank: not every record of these cells kept per-sample scores to "
                     "test, so two explainers share ranks where their 95 % intervals overlap "
                     "or either has none.")


def shared_ranks(cells: pd.DataFrame, explainers: Sequence[str]) -> dict[str, str]:
    """The fallback for records without per-sample scores: ranks shared where 95 % intervals
    of :data:`RANK_METRIC` overlap (touching counts) or either has no interval. An explainer's
    rank runs from 1 + the number distinguishably better to the number not distinguishably
    worse (itself included); without a value it is "–"."""
    rank = cells[(cells["metric"] == RANK_METRIC) & (cells["sonifier"] == "")]
    rows = {e: r for e, r in zip(rank["explainer"], rank.itertuples())}
    better = higher_is_better(rank["higher_is_better"]) is not False
    valued = [e for e in explainers if e in rows and not pd.isna(rows[e].value)]

    def interval(name: str) -> tuple[float, float] | None:
        low, high = rows[name].ci_low, rows[name].ci_high
        return None if pd.isna(low) or pd.isna(high) else (float(low), float(high))

    def ahead(a: str, b: str) -> bool:
        """``a`` is distinguishably better than ``b``."""
        ia, ib = interval(a), interval(b)
        if ia is None or ib is None:
            return False
        return ia[0] > ib[1] if better else ia[1] < ib[0]

    spans = {}
    for name in valued:
        spans[name] = (1 + sum(ahead(o, name) for o in valued if o != name),
                       len(valued) - sum(ahead(name, o) for o in valued if o != name))
    return rank_texts(spans, explainers)


def rank_texts(spans: dict[str, tuple[int, int]], explainers: Sequence[str]) -> dict[str, str]:
    """``(best, worst)`` rank spans as text: ``"2"`` or ``"1–3"``; "–" for the unranked."""
    return {e: ("–" if e not in spans else str(spans[e][0]) if spans[e][0] == spans[e][1]
                else f"{spans[e][0]}–{spans[e][1]}") for e in explainers}


def apart(rows: pd.DataFrame) -> set[str]:
    """The explainers of ``rows`` (one metric's records) scored on fewer trained models than
    the explainers of ``rows`` together (:func:`scored_models`: a record without a finite
    score is no model scored)."""
    models = {e: scored_models(g) for e, g in rows.groupby("explainer", sort=False)}
    every = set().union(*models.values())
    return {e for e, mine in models.items() if mine != every}


def paired_verdict(rows: pd.DataFrame, explainers: Sequence[str]
                   ) -> tuple[Verdict, list[str]] | None:
    """The paired comparison of ``explainers`` on :data:`RANK_METRIC` from the records' per-sample
    scores, and the explainers it covers (in its order); None without such scores. An explainer
    scored on fewer of the trained models than another (its cell failed or is missing on one)
    has its mean over other splits or seeds: it is left out (unranked, :func:`apart`), not the
    comparison of the others."""
    mine = rows[(rows["metric"] == RANK_METRIC) & (rows["status"] == "ok")
                & (rows["sonifier"] == "") & rows["explainer"].isin(explainers)]
    mine = mine[~mine["explainer"].isin(apart(mine))]
    data = _clustered(mine, ["explainer"])
    if data is None:
        return None
    names = list(dict.fromkeys(mine["explainer"]))
    better = higher_is_better(mine["higher_is_better"]) is not False
    return compare(data, higher_is_better=better, alpha=ALPHA), names


def reliabilities(section: Section) -> list[tuple[str, str, Reliability]]:
    """``(metric, sonifier, verdict)`` for every metric of the section whose records hold
    per-sample scores of every reference map on the same clips, and of the signed oracle where
    the runs scored it on those clips (:func:`audioxai_bench.evaluation.meta.reliability`), in
    the records' metric order; none where a cue model failed its control (the references are
    made from a planted region not shown to be the evidence: :func:`failed_control`)."""
    if failed_control(section.rows, section.task):
        return []
    names = [reference_name(r) for r in (*REFERENCES, SIGNED)]
    rows = section.rows[(section.rows["status"] == "ok") & section.rows["explainer"].isin(names)]
    out = []
    for (metric, sonifier), group in rows.groupby(["metric", "sonifier"], sort=False):
        group = group.assign(_order=group["explainer"].map(names.index)).sort_values(
            ["_order", "fold"], kind="stable")
        if not set(names[: len(REFERENCES)]) <= set(group["explainer"]):
            continue
        data = _clustered(group, ["explainer"])
        if data is None:  # the signed oracle not on the same clips (an older run among them)
            group = group[group["explainer"] != reference_name(SIGNED)]
            data = _clustered(group, ["explainer"])
        if data is not None:
            better = higher_is_better(group["higher_is_better"]) is not False
            out.append((metric, sonifier, reliability(data, higher_is_better=better)))
    return out


def not_judged(rows: pd.DataFrame, task: str) -> str | None:
    """Why explanations of this section's models are neither ranked nor tested against their
    controls (a model below the accuracy floor, or a cue model whose control failed), or None
    when they are."""
    return below_floor(rows, task) or failed_control(rows, task)


def failed_control(rows: pd.DataFrame, task: str) -> str | None:
    """Where a model of the cue task failed its control (or has none that succeeded), why its
    section is not judged: the planted region is then not shown to be the evidence the model
    uses, so every score against it, and the metric reliability checked by it, rests on an
    unproven ground truth (a model that answers one favourite class without the cue passed the
    old rule while that class's clips needed no cue)."""
    if task != "cue":
        return None
    models = {trained_model(f, s) for f, s in zip(rows["fold"], rows["seed"])}
    control = model_records(rows, CONTROL_METRIC)
    verdicts = {trained_model(f, s): control_verdict(r)[0] for f, s, status, r in zip(
        control["fold"], control["seed"], control["status"], control["record"])
        if status == "ok"}
    failed = sorted(m for m in models if verdicts.get(m) != PASSED)
    if not failed:
        return None
    several = rows["seed"].nunique(dropna=False) > 1
    unchecked = [m for m in failed if verdicts.get(m) == UNCHECKED]
    parts = []
    if len(unchecked) < len(failed):
        names = ", ".join(model_label(f, s, several) for f, s in failed if (f, s) not in unchecked)
        parts.append(f"the model of fold {names} failed its cue control or has none that asks "
                     "every class")
    if unchecked:
        names = ", ".join(model_label(f, s, several) for f, s in unchecked)
        parts.append(f"the cue control of fold {names} states a verdict its numbers do not "
                     "bear out under the current rule")
    return (f"not ranked or judged: {'; '.join(parts)} (see the control table), so the planted "
            "region is not shown to be the evidence it uses; the metric reliability check, "
            "which rests on it, is not shown")


#: A cue control record's verdict as the leaderboard reads it (:func:`control_verdict`).
PASSED, FAILED, UNCHECKED = "pass", "FAIL", "not judged"


def control_verdict(record: dict[str, Any]) -> tuple[str, str | None]:
    """A cue control record's verdict under the current rule, from its numbers (accuracy
    without the cue, each class's true-class probability without it, following another clip's
    cue, chance: :func:`~audioxai_bench.run.control.control_passed`), not from its stored
    ``info.passed`` alone: :data:`PASSED` or :data:`FAILED` with no reason where the two agree,
    else :data:`UNCHECKED` and why (the record edited, or made under another rule, whose
    verdict beside today's rule and numbers would mislead). A record without per-class
    probabilities (made before that rule) fails: the rule cannot pass it."""
    info = record.get("info") if isinstance(record.get("info"), dict) else {}
    extras = record.get("extras") if isinstance(record.get("extras"), dict) else {}
    if not _per_class(record):
        return FAILED, None
    p = [_number((v or {}).get("value") if isinstance(v, dict) else None)
         for k, v in extras.items() if k.startswith(f"{P_TRUE_WITHOUT_CUE}/")]
    swapped = extras.get("cue-swapped-accuracy")
    numbers = [_number(record.get("value")), _number(info.get("chance")),
               _number(swapped.get("value") if isinstance(swapped, dict) else None), *p]
    stored = info.get("passed")
    if any(x is None for x in numbers) or not isinstance(stored, bool):
        return UNCHECKED, ("its record lacks a number the rule reads (accuracy without the cue, "
                           "chance, another clip's cue, a class's probability) or a verdict")
    removed, chance, follows, *p_true = numbers
    passes = control_passed(removed, p_true, follows, chance)
    if passes != stored:
        return UNCHECKED, (f"its record says {'pass' if stored else 'fail'}, its numbers "
                           f"{'pass' if passes else 'fail'} the current rule (edited, or "
                           "recorded under another rule)")
    return (PASSED if passes else FAILED), None


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None where it is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if np.isfinite(value) else None


def _per_class(control: dict[str, Any]) -> bool:
    """Whether a cue control record asked each class for its probability without its cue (a
    control made before that rule passed models that answer a favourite class)."""
    extras = control.get("extras")
    return isinstance(extras, dict) and any(k.startswith(f"{P_TRUE_WITHOUT_CUE}/")
                                            for k in extras)


def below_floor(rows: pd.DataFrame, task: str) -> str | None:
    """Why explanations of this section's models are not ranked (a model's test accuracy below
    the floor, or a record of it with no value: not shown above it), or None when they are."""
    floor = accuracy_floor(N_CLASSES.get(task, 2))
    acc = model_records(rows, ACCURACY_METRIC)
    acc = acc[acc["status"] == "ok"]
    models = list(zip(acc["fold"], acc["seed"], acc["value"]))
    weak = sorted(trained_model(f, s) for f, s, v in models if v < floor)
    unknown = sorted(trained_model(f, s) for f, s, v in models if pd.isna(v))
    if not weak and not unknown:
        return None
    several = acc["seed"].nunique(dropna=False) > 1

    def names(models: list[tuple[int, int]]) -> str:
        return ", ".join(model_label(f, s, several) for f, s in models)

    rule = f"the floor of {floor:.0%} (chance + half the way to 100 %)"
    parts = [f"the model of fold {names(weak)} has test accuracy below {rule}"] if weak else []
    if unknown:
        parts.append(f"the model of fold {names(unknown)} has a test accuracy record without a "
                     f"value, so is not shown above {'that floor' if weak else rule}")
    return f"not ranked: {'; '.join(parts)}"


def sections(df: pd.DataFrame, cells: pd.DataFrame | None = None) -> list[Section]:
    """Every section in (benchmark, dataset, task, model) order."""
    cells = by_cell(df) if cells is None else cells
    out = []
    for key, rows in df.groupby(list(SECTION_KEYS), sort=True):
        mine = cells[(cells[list(SECTION_KEYS)] == pd.Series(key, index=SECTION_KEYS)).all(
            axis=1)]
        reps = sorted({r for r in rows["representation"] if isinstance(r, str)})
        order = ranked(mine)
        rows = rows.reset_index(drop=True)
        unranked = not_judged(rows, key[2])
        verdict, names = None, []
        if unranked:
            ranks = dict.fromkeys(order, "–")
        elif (found := paired_verdict(rows, order)) is not None:
            verdict, names = found
            spans = {n: r for n, r in zip(names, verdict.ranks) if r is not None}
            ranks = rank_texts(spans, order)
        else:
            ranks = shared_ranks(mine, order)
        out.append(Section(*key, representation=reps[0] if len(reps) == 1 else None,
                           rows=rows, cells=mine.reset_index(drop=True), explainers=order,
                           ranks=ranks, verdict=verdict, unranked=unranked,
                           compared=tuple(names)))
    return out
