"""The leaderboard's tables as plain rows of text, rendered to Markdown here and to HTML by the
page, plus the CSV files written with pandas.

Tables are built once as :class:`Table` so the README and the page can never disagree. The
Markdown writer is a few lines of our own: pandas' ``to_markdown`` needs ``tabulate``, which the
package does not depend on.
"""

from __future__ import annotations

import dataclasses
import html
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from ..data.splits import class_name
from ..evaluation.meta import NOISE_LEVELS, SIGNED, Step, is_reference
from ..run.control import P_TRUE_WITHOUT_CUE
from ..run.control import RULE as CONTROL_RULE
from ..stats import Clustered, clustered_interval
from .aggregate import (
    ACCURACY_METRIC,
    ALPHA,
    CONTROL_METRIC,
    MIN_CLASS_SHARE,
    MIN_CPU_SHARE,
    OVERLAP_RANK_RULE,
    RANK_METRIC,
    RANK_RULE,
    VERSUS_AMPLITUDE,
    Section,
    by_class,
    clip_extra,
    control_verdict,
    model_label,
    pooled_accuracy,
    reliabilities,
    unbalanced_rule,
)

#: The sanity check whose cell is not its value (:func:`randomisation_cell`).
RANDOMISATION = "model-randomisation-check"
#: The ranking table's column order and labels; a metric not named here (a plugin's) gets a
#: column after these, labelled by its name. Metrics whose records say ``ranked: false`` are
#: shown with a dagger: they describe or check, they are not verdicts.
HEADLINE: dict[str, str] = {
    "faithfulness-gap": "Faithfulness gap",
    "faithfulness-gap-road": "Faithfulness gap (noisy fill)",
    "gap-vs-amplitude": "Gap vs amplitude",
    "srg": "LeRF − MoRF", "insertion-gap": "Insertion gap",
    "relevance-mass-accuracy": "Relevance mass", "pointing-game": "Pointing game",
    "relevance-rank-accuracy": "Relevance rank", "relevance-auc": "Relevance AUC",
    "frequency-bands-beyond-amplitude": "Bands beyond amplitude",
    RANDOMISATION: "Randomisation check",
    "gini": "Gini", "runtime": "Runtime (ms/sample)",
    "low-band-relevance": "Low-band relevance beyond amplitude",
}
#: Metrics with a table or figure of their own (besides the per-sonifier ones): the paper's
#: manipulation test is its accuracy curves (figures.paper_figure), not a column.
OWN_TABLES = frozenset({"frequency-bands", "paper-manipulation"})
#: The paper's control beyond random: deleting the loudest units first.
AMPLITUDE_METRIC = "gap-vs-amplitude"
SPECTROGRAM_ONLY = frozenset({"frequency-bands", "frequency-bands-beyond-amplitude"})
SONIFIED = "sonified-accuracy"
#: The sonification scores, in column order: name -> column label (a sonified metric not
#: named here, a plugin's, gets a column after these, labelled by its name).
SONIFICATION: dict[str, str] = {
    "sonified-sufficiency-gain": "Sufficiency gain",
    f"sonified-sufficiency-gain{VERSUS_AMPLITUDE}": "Sufficiency vs amplitude",
    "sonified-sufficiency-vs-input": "Sufficiency vs model input",
    "sonified-comprehensiveness-gain": "Comprehensiveness gain",
    f"sonified-comprehensiveness-gain{VERSUS_AMPLITUDE}": "Comprehensiveness vs amplitude",
    "sonified-comprehensiveness-vs-input": "Comprehensiveness vs model input",
    "sonified-lmac": "L-MAC Fid-In on the label @20 %", "sonified-accuracy": "Sonified accuracy",
}
#: The paper's test accuracies in % (mean, std over splits; None: std not known for sure).
PAPER_ACCURACY: dict[tuple[str, str], tuple[float, float | None]] = {
    ("digit", "alexnet"): (95.8, 1.5), ("sex", "alexnet"): (95.9, None),
    ("digit", "audionet"): (92.5, 2.0), ("sex", "audionet"): (91.7, 8.6),
}
NONE = "–"
#: The models table's row of a model's mean over its folds and seeds (its Fold cell).
MODELS_SUMMARY = "mean ± std"
#: Which state of a training was tested, by the recorded ``select`` of its settings (the paper
#: tested the final one).
SELECTED = {"best": "validation-best iterate", "final": "final iterate"}
#: A cell's mark where the paired test against its metric's control separates them
#: (:func:`~audioxai_bench.leaderboard.aggregate.control_verdicts`).
MARKS = {"better": " ▲", "worse": " ▼"}
#: A cell whose classes disagree (:func:`~audioxai_bench.leaderboard.aggregate.class_disagreement`).
CLASS_MARK = " ⇅"
#: A cell whose classes kept very unequal shares of their clips
#: (:func:`~audioxai_bench.leaderboard.aggregate.unbalanced`): no mark, no ⇅.
UNBALANCED_MARK = " ◇"
#: A timing measured while its process waited for the CPU
#: (:func:`~audioxai_bench.leaderboard.aggregate.contention`).
CONTENDED_MARK = " ⧗"
CLASS_NOTE = (" ⇅: the classes disagree: on one class's clips the cell's interval lies above 0, "
              "on another's below (Bonferroni over the classes; each class's mean and interval: "
              "leaderboard.csv, column classes; every cell's class means: column "
              "class_means), so the mean depends on the mix of classes and hides both.")


@dataclasses.dataclass(frozen=True)
class Table:
    """A caption, a header and rows of cell text."""

    caption: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


# --- numbers as text ----------------------------------------------------------------------------

def number(value: Any, metric: str = "") -> str:
    """Three decimals, or a runtime (seconds) as milliseconds; ``n/a`` for NaN."""
    if value is None or pd.isna(value):
        return "n/a"
    return milliseconds(value) if metric == "runtime" else f"{value:.3f}"


def milliseconds(seconds: float) -> str:
    """Seconds as milliseconds to two significant digits, never in e-notation: 0.053, 5.3,
    250 (one notation down a column whose values span orders of magnitude)."""
    ms = float(f"{1000 * seconds:.2g}")
    decimals = max(0, 1 - math.floor(math.log10(abs(ms)))) if ms else 0
    return f"{ms:.{decimals}f}"


def with_ci(value: Any, low: Any, high: Any, metric: str = "") -> str:
    """``value [low, high]``; just the value where the interval is unknown."""
    text = number(value, metric)
    if pd.isna(value) or pd.isna(low) or pd.isna(high):
        return text
    return f"{text} [{number(low, metric)}, {number(high, metric)}]"


def percent(value: Any) -> str:
    """A fraction as a percentage with one decimal."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return NONE
    return "n/a" if math.isnan(value) else f"{100 * value:.1f} %"


def percent_interval(value: Any, low: Any, high: Any) -> str:
    """:func:`percent` with its interval in points, where both bounds are there."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return percent(value)
    return f"{percent(value)} [{100 * low:.1f}, {100 * high:.1f}]"


def paper(task: str, model: str) -> str:
    """The paper's accuracy for (task, model), or a dash."""
    if (task, model) not in PAPER_ACCURACY:
        return NONE
    mean, std = PAPER_ACCURACY[task, model]
    if std is None:
        return f"{mean:.1f} % (std unclear in the paper)"
    return f"{mean:.1f} ± {std:.1f} %"


def accuracy_text(rows: pd.DataFrame) -> str:
    """Test accuracy of a model's records: one model's value, or mean ± std over the trained
    models (folds, and seeds where there are several)."""
    done = rows[(rows["status"] == "ok") & rows["value"].notna()]
    ok = done["value"]
    if ok.empty:
        return "error" if len(rows) else NONE
    if len(ok) == 1:
        return percent(ok.iloc[0])
    what = "folds" if done["fold"].is_unique else "models"
    return f"{100 * ok.mean():.1f} ± {100 * ok.std(ddof=1):.1f} % ({len(ok)} {what})"


def band(edges: Any) -> str:
    """``[lo, hi]`` in Hz as ``lo–hi Hz``."""
    try:
        lo, hi = (float(e) for e in edges)
    except (TypeError, ValueError):
        return NONE
    return f"{lo:g}–{hi:g} Hz"


def cell_text(cell: pd.Series | None, shown: str | None = None) -> str:
    """An aggregated cell: value and interval (or ``shown`` in their place, without the marks
    that judge that value), ``error`` when no model has a value and one failed; where it rests
    on fewer than its section's trained models, a note on how many and what became of the
    others."""
    if cell is None:
        return NONE
    failed, models, trained = cell["errors"], cell["models"], cell.get("section_models")
    # every trained model of the section: scored, failed, or without a score (no record, or
    # one whose every score is undefined)
    trained = max(int(trained) if trained is not None and pd.notna(trained) else 0,
                  failed + models)
    if models == 0 and failed:
        return "error" + (f" ({failed} of {trained} models failed, {trained - failed} without "
                          "a score)" if failed < trained else "")
    text = shown if shown is not None else (
        with_ci(cell["value"], cell["ci_low"], cell["ci_high"], cell["metric"])
        + MARKS.get(cell.get("versus_verdict"), "") + marks_classes(cell)
        + (CONTENDED_MARK if cell.get("contended") else ""))
    if failed and failed + models == trained:
        return text + f" ({failed} of {trained} models failed)"
    if failed:
        return text + (f" (on {models} of the {trained} trained models: {failed} failed, "
                       f"{trained - failed - models} without a score)")
    if models < trained:
        return text + f" (on {models} of the {trained} trained models)"
    return text


def marks_classes(cell: pd.Series) -> str:
    """:data:`CLASS_MARK` where the cell's classes disagree, :data:`UNBALANCED_MARK` where they
    kept too unequal shares of their clips to be read together."""
    return (CLASS_MARK if cell.get("classes") else "") + (
        UNBALANCED_MARK if cell.get("unbalanced") else "")


def contended_note(section: Section, metrics: Sequence[str], labels: dict[str, str]) -> str:
    """What ⧗ means and each marked cell's CPU share; empty where no cell of ``metrics`` is
    marked."""
    c = section.cells
    flagged = c[c["metric"].isin(metrics) & c["contended"].astype(bool)]
    if flagged.empty:
        return ""
    cells = "; ".join(f"{labels.get(m, m)} of {e}: {share}" for m, e, share in
                      zip(flagged["metric"], flagged["explainer"], flagged["contended"]))
    return (f"{CONTENDED_MARK.strip()}: timed on a busy machine: the run's process had the CPU "
            f"for less than {100 * MIN_CPU_SHARE:.0f} % of the timed wall time (one torch "
            "thread; other work on the machine, or an explainer that waits), so the time is "
            f"longer than on an idle machine. Least share: {cells}.")


def unbalanced_note(section: Section, metrics: Sequence[str], labels: dict[str, str]) -> str:
    """What ◇ means and what the ◇ cells of ``metrics`` keep of each class, each different
    account once per column (the band metrics leave out the same clips for every map); empty
    where no cell of them is ◇."""
    c = section.cells
    flagged = c[c["metric"].isin(metrics) & c["unbalanced"].astype(bool)]
    if flagged.empty:
        return ""
    columns = []
    for metric in metrics:
        mine = flagged[flagged["metric"] == metric]
        texts = list(dict.fromkeys(mine["unbalanced"]))
        for text in texts:
            who = ("" if len(texts) == 1 else
                   f" ({', '.join(mine.loc[mine['unbalanced'] == text, 'explainer'])})")
            columns.append(f"{labels.get(metric, metric)}{who}: {text}")
    return (f"{UNBALANCED_MARK.strip()}: not judged (no ▲ / ▼, no ⇅): the metric left out "
            f"clips where it is undefined, and {unbalanced_rule()}, so the cell cannot be read as "
            "the balanced mean of its classes (by clips, the better-kept class's clips make up "
            "most of it; by speakers, a class's part rests on the few it kept); the class "
            "means in leaderboard.csv (class_means) pool each class's clips. "
            + "; ".join(columns) + ".")


def controls_note(section: Section, metrics: Sequence[str], labels: dict[str, str]) -> str:
    """What the ▲ and ▼ of ``metrics``' cells mean, naming each column's control; empty where
    none of them was tested."""
    c = section.cells
    columns: dict[str, list[str]] = {}  # control -> the columns tested against it
    for metric in metrics:
        tested = c[(c["metric"] == metric) & c["p_versus"].notna()]
        if not tested.empty:
            columns.setdefault(tested["versus"].iloc[0], []).append(labels.get(metric, metric))
    if not columns:
        return ""
    named = "; ".join(f"{', '.join(names)}: {control}" for control, names in columns.items())
    split = c["metric"].isin(metrics) & c["classes"].astype(bool)
    return (f" ▲ / ▼: better / worse than the column's control ({named}): a paired "
            "Wilcoxon signed-rank test over (split, test speaker) units, Holm-adjusted over the "
            "column's explainers, 5 %; no mark: not separated from it (see How to read: a mark "
            "and an interval can disagree)." + (CLASS_NOTE if split.any() else ""))


def arrow(section: Section, metric: str) -> str:
    """↑ or ↓ from the records' ``higher_is_better``."""
    higher = section.direction(metric)
    return "" if higher is None else " ↑" if higher else " ↓"


def _summaries(section: Section, metric: str, explainer: str) -> list[dict[str, Any]]:
    rows = section.metric_rows(metric)
    rows = rows[(rows["explainer"] == explainer) & (rows["status"] == "ok")]
    return [r.get("summary") or {} for r in rows["record"]]


LOW_BAND = "low-band-relevance"


def _explainer_rows(section: Section, metric: str) -> pd.DataFrame:
    """The section's records of ``metric`` that succeeded on an explainer's map, not on a
    reference map (the references may be scored on other clips)."""
    rows = section.metric_rows(metric)
    return rows[(rows["status"] == "ok") & ~rows["explainer"].map(is_reference).astype(bool)]


def _per_model_rows(section: Section, metric: str) -> pd.DataFrame:
    """One row of ``metric`` per trained model (the first of :func:`_explainer_rows`), in
    (fold, seed) order: for what a metric measures of the model alone, the same for every
    explainer."""
    rows = _explainer_rows(section, metric).sort_values(["fold", "seed"], kind="stable")
    return rows.groupby(["fold", "seed"], sort=False).head(1)


def _per_model(section: Section, metric: str) -> list[dict[str, Any]]:
    """The records of :func:`_per_model_rows`."""
    return list(_per_model_rows(section, metric)["record"])


def _extra(record: dict[str, Any], name: str) -> dict[str, Any]:
    return (record.get("extras") or {}).get(name) or {}


def hypothesis(split: float) -> str:
    """The hypothesis the low-band records test, with its cut-off, which is this project's: the
    paper speaks of the fundamental frequency and the lowest formants, not of a frequency."""
    return (f"Our reading of the paper's hypothesis (sex is read in the bands below {split:g} "
            "Hz: the cut-off is this project's, the paper speaks of the fundamental frequency "
            "and the lowest formants)")


def low_band_note(section: Section) -> str:
    """The low-band column's caption with this section's reference points: 0 is the amplitude
    map's share, and a map without information (uniform: the share of the spectrogram's rows
    below the split) scores the difference of the two; empty where the records lack them."""
    records = _per_model(section, LOW_BAND)
    loud = [_extra(r, "amplitude-share").get("value") for r in records]
    info = (records[0].get("info") or {}) if records else {}
    uniform, split = info.get("rows_share"), info.get("split_hz")
    if uniform is None or split is None or not loud or None in loud:
        return ""
    loud_mean = _mean(loud)
    return (f" Low-band relevance beyond amplitude: the share of positive relevance below "
            f"{split:g} Hz minus the amplitude map's share on the same clip ({loud_mean:.3f} "
            "here), its mark a test against 0. Its 0 is loudness, not the absence of "
            f"information: a uniform map puts {uniform:.3f} of its relevance there (the rows' "
            f"share), so a map without information scores about {uniform - loud_mean:+.3f} "
            "here (read each cell beside the random row) and ▼ says less low-band relevance "
            "than loudness has, not relevance away from the low bands."
            + (f" {hypothesis(split)} is about what the model needs: the frequency-band "
               "table's caption gives the damage of removing them."
               if section.has("frequency-bands") else damage_note(section)))


#: The band metrics whose records say which clips they left out (NaN scores), in the order
#: :func:`damage_note` looks for them: the same clips for every map of a trained model.
BAND_METRICS = ("frequency-bands-beyond-amplitude", "frequency-bands")


def _left_out(section: Section) -> dict[str, tuple[int, int]] | None:
    """Clips the band metrics left out (no band's removal moves the log-probability: a
    saturated model) and clips, over the trained models: ``{"": (left out, clips)}`` and the
    same per class where the records name their targets (``{"female": (116, 144), ...}``). A
    clip counts as left out where every explainer's record of its model has no score there.
    None where the section's band records keep no per-clip scores."""
    metric = next((m for m in BAND_METRICS if section.has(m)), None)
    if metric is None:
        return None
    rows = _explainer_rows(section, metric)
    counts: dict[str, list[int]] = {"": [0, 0]}
    for _, model in rows.groupby(["fold", "seed"], sort=False):
        records = list(model["record"])
        if not all(isinstance(r.get("scores"), list) for r in records) or len(
                {len(r["scores"]) for r in records}) != 1:
            return None
        out = [all(r["scores"][i] is None or not math.isfinite(r["scores"][i])
                   for r in records) for i in range(len(records[0]["scores"]))]
        targets = records[0].get("targets")
        labels = ([class_name(section.task, int(t)) for t in targets]
                  if isinstance(targets, list) and len(targets) == len(out) else [None] * len(out))
        for label, left in zip(labels, out):
            for key in ("", *([label] if label is not None else [])):
                counts.setdefault(key, [0, 0])
                counts[key][0] += left
                counts[key][1] += 1
    return {k: (a, b) for k, (a, b) in counts.items()}


def damage_note(section: Section) -> str:
    """The paper's hypothesis read off the model, whatever the map: how much more removing the
    low bands costs than removing the others (``damage-low-minus-high`` of the low-band
    records), with its interval and each class's where the records keep every clip's damage,
    and the range of the trained models' means; empty where the section has no such records.

    The interval resamples splits, then speakers, as a cell's does: damage is mostly a matter
    of the voice, so a bootstrap over one model's clips (the records' own ``ci``) would treat
    one speaker's clips as independent. Records without per-clip damage (older runs) get the
    mean and range alone. Every clip counts, those the band metrics leave out with a damage of
    about 0 (every band's removal moves the log-probability by less than their tolerance), so
    where there are any the caption says which clips the mean comes from, per class where one
    class kept under :data:`MIN_CLASS_SHARE` of the share of clips another kept."""
    rows = _per_model_rows(section, LOW_BAND)
    damage = [_extra(r, "damage-low-minus-high").get("value") for r in rows["record"]]
    if not damage or None in damage:
        return ""
    values = [float(d) for d in damage]
    split = (rows["record"].iloc[0].get("info") or {}).get("split_hz", 500)
    spread = (f"per model {min(values):+.3f} to {max(values):+.3f}" if len(values) > 1
              else "one model")
    text = (f" {hypothesis(split)}, read off the model, whatever the map (above 0 supports "
            f"it): the damage of removing a band below {split:g} Hz (the drop of the true "
            "class's log-probability) minus that of removing one of the others, "
            + _damage_interval(clip_extra(rows, "damage-low-minus-high"), values, spread,
                               section.task, split))
    left = _left_out(section)
    if not left or not left[""][0]:
        return text
    out, clips = left[""]
    kept = {name: (n - k, n) for name, (k, n) in left.items() if name}
    shares = [k / n for k, n in kept.values()]
    uneven = bool(shares) and min(shares) < MIN_CLASS_SHARE * max(shares)  # as ◇ reads clips
    per_class = ", ".join(f"{name} {k} of {n}" for name, (k, n) in kept.items())
    return (text + f" It counts the {out} of {clips} clips the band metrics leave out (no "
            "band's removal moves the log-probability) with a damage of about 0, so it comes "
            f"from the other {clips - out}" + (f" ({per_class})" if uneven else "")
            + ", pulled towards 0.")


def _damage_interval(data: Clustered | None, values: list[float], spread: str,
                     task: str, split: float) -> str:
    """:func:`damage_note`'s number: with its interval and what it says of the hypothesis at
    ``split`` Hz where ``data`` (every clip's damage) is known, else the mean of the models'
    means and why no interval."""
    if data is None:
        return (f"{_mean(values):+.3f} (the mean over the {len(values)} trained models of each "
                f"one's mean over its clips; {spread}), without an interval: one speaker's "
                "clips are not independent, and these records keep each model's mean damage "
                "but not its clips', so no interval that resamples speakers can be drawn.")
    (low, high), = clustered_interval(data)
    classes = by_class(data) if data.speaker_classes() is not None else []
    per_class = "".join(
        f"; {class_name(task, label)} {one.means()[0]:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        for label, one in classes for (lo, hi), in [clustered_interval(one)])
    if per_class:
        per_class += " (each class's own 95 % interval, not adjusted over the classes)"
    verdict = (f"the models need the bands below {split:g} Hz more than the others" if low > 0
               else f"the models need the other bands more, against the hypothesis at "
               f"{split:g} Hz" if high < 0
               else f"these models show it neither way at {split:g} Hz")
    return (f"{data.means()[0]:+.3f} [{low:+.3f}, {high:+.3f}] (the mean over splits of "
            "their clips' damage, the interval resampling splits, then speakers, as a cell's; "
            f"{spread}{per_class}): {verdict}.")


#: Columns of which the first is the sum of the other two, and what the caption says of it.
SRG_PARTS = ("srg", "faithfulness-gap", "insertion-gap")
SRG_NOTE = (" LeRF − MoRF is the faithfulness gap plus the insertion gap (insertion is read "
            "off the same deletion curves), so these three columns carry two independent "
            "numbers, not three.")

#: Why a band metric has fewer clips than its table (said with every band column).
SATURATED = ("Clips where no band's removal moves the log-probability (by 1e-4; a saturated "
             "model) have no order of bands and are left out: n in leaderboard.csv.")
#: What a reader needs to know of a column beyond its header, said where the column is shown
#: (the low-band column's own numbers: :func:`low_band_note`).
COLUMN_NOTES = {
    "gap-vs-amplitude": " Gap vs amplitude is the faithfulness gap minus the amplitude "
    "order's on the same clip, so it orders explainers as the faithfulness gap does; what it "
    "adds is the test against loudness (▲: more than where the sound is).",
    "faithfulness-gap-road": " Faithfulness gap (noisy fill): removed units are replaced by "
    "ROAD's noisy linear fill (Rong et al. 2022) instead of silence, which the model cannot "
    "tell apart from sound by its silence alone.",
    "frequency-bands-beyond-amplitude": " Bands beyond amplitude: per clip, the partial "
    "Spearman correlation over the frequency bands of the signed relevance density with the "
    "signed damage of removing each band from the sound (the drop of the true class's "
    "log-probability), given the band's level (its mean dB): 0 = no more than the band level "
    "tells (the amplitude map scores exactly 0), its mark a test against 0. It is not the "
    "Spearman minus the amplitude map's (the records keep that as gain-over-amplitude; it can "
    "have the other sign). " + SATURATED,
    "low-band-relevance": " Low-band relevance beyond amplitude: the share of positive "
    "relevance below 500 Hz minus the amplitude map's share on the same clip, its mark a test "
    "against 0; a map without information (uniform, or `random`) scores below 0, so read it "
    "beside the random row.",
}

#: The randomisation check's similarity measures as its cell names them.
RANDOMISATION_MEASURES = {"spearman": "signed", "abs-spearman": "absolute", "ssim": "SSIM"}


def randomisation_cell(section: Section, explainer: str) -> str:
    """The randomisation check's cell: the pass counts on each similarity (:data:`NONE` where
    the records hold none), not a number: the check's value, the signed drop, is mostly the
    explainer's rerun similarity (science audit 6, M1), and the absolute-Spearman difference
    shown before this is about 0 both for a model-blind map and for one unrelated to any model
    (review 20, H2)."""
    passes = randomisation_passes(_summaries(section, RANDOMISATION, explainer))
    return cell_text(section.cell(explainer, RANDOMISATION), passes or NONE)


def randomisation_note(section: Section) -> str:
    """What the randomisation check's cell says, with the margin its records pass by."""
    margins = {s.get("min_drop") for e in section.explainers
               for s in _summaries(section, RANDOMISATION, e)}
    margin = f"{margins.pop():g}" if len(margins) == 1 else "the records' min_drop"
    return (" Randomisation check (Adebayo et al.'s sanity check, every layer of the model "
            "re-initialised): on how many trained models the map passes, by signed Spearman, "
            "absolute Spearman and SSIM; it passes where its similarity to the randomised "
            "model's map lies below its similarity to itself run again by more than "
            f"{margin} (the lower end of the drop's 95 % interval). The check's value in "
            "leaderboard.csv, the signed drop, is not shown: a map that reads the model mostly "
            "has a signed Spearman near 0 with a randomised model's map, so the drop is mostly "
            "the explainer's rerun similarity, not a grade of how much the map depends on the "
            "model. The absolute measure fails maps whose magnitudes follow the input (|x|) "
            "more than the model.")


def randomisation_passes(summaries: Sequence[dict[str, Any]]) -> str:
    """``passes: signed 6/6 · absolute 1/6 · SSIM 6/6``: on how many trained models the check
    passes on each similarity; empty where the records hold neither counts nor a verdict. The
    signed drop fails mostly maps that ignore the model (a map that reads it mostly has a
    similarity of about 0 to a randomised model's map); absolute Spearman and SSIM, Adebayo et
    al.'s measures, fail maps whose magnitudes hardly change, so they are shown beside it rather
    than hidden behind one "pass"."""
    counts = []
    for measure, label in RANDOMISATION_MEASURES.items():
        passed = [m[measure]["passes"] for m in (s.get("measures") or {} for s in summaries)
                  if isinstance(m.get(measure), dict) and "passes" in m[measure]]
        if passed:
            counts.append(f"{label} {sum(passed)}/{len(passed)}")
    if counts:
        return f"passes: {' · '.join(counts)}"
    # records that kept only a verdict (older ones: ``passed``)
    verdicts = [s.get("verdict") or s.get("passed") for s in summaries]
    return ", ".join(dict.fromkeys(str(v) for v in verdicts if v is not None))


def _joined(values: Iterable[str]) -> str:
    return " / ".join(dict.fromkeys(v for v in values if v != NONE)) or NONE


def _mean(values: Iterable[Any]) -> float:
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(
        v, bool) and math.isfinite(v)]
    return sum(numbers) / len(numbers) if numbers else math.nan


# --- the tables ---------------------------------------------------------------------------------

def _ranked(section: Section, metric: str) -> bool:
    """Whether ``metric``'s records call it a verdict (older records say nothing: a verdict)."""
    rows = section.metric_rows(metric)
    return all(r.get("ranked", True) is not False for r in rows["record"])


def _rank_note(section: Section) -> str:
    """What the # column means for this section."""
    return f" #: {_rank_rule(section)}{_within_classes(section)}"


def _rank_rule(section: Section) -> str:
    if section.unranked:
        return "– (not ranked)."
    return RANK_RULE if section.verdict is not None else OVERLAP_RANK_RULE


def _within_classes(section: Section) -> str:
    """Where the pairwise tests are stratified by class and the ranked column shows a ⇅, why a
    ⇅ explainer can share ranks with one whose interval lies clear of its own."""
    c = section.cells
    split = (c["metric"] == RANK_METRIC) & (c["sonifier"] == "") & c["classes"].astype(bool)
    if section.unranked or section.verdict is None or not section.verdict.stratified or (
            not split.any()):
        return ""
    return (" The pairwise tests too rank the differences within each class (see ⇅), so an "
            "explainer whose classes disagree (⇅) can share ranks with explainers whose "
            "intervals lie clear of its own.")


def ranking_table(section: Section) -> Table:
    """Explainers ranked by faithfulness gap, with every other metric the section has that is
    scored per explainer (sonifier metrics have their own table)."""
    cells = section.cells
    # per explainer only: a model's own records (test accuracy, the cue control) are elsewhere
    present = [m for m in dict.fromkeys(cells["metric"])
               if (cells.loc[cells["metric"] == m, "explainer"] != "").any()]
    per_explainer = [m for m in present
                     if (section.cells.loc[section.cells["metric"] == m, "sonifier"] == "").all()]
    metrics = [m for m in HEADLINE if m in per_explainer] + sorted(
        m for m in per_explainer if m not in HEADLINE and m not in OWN_TABLES)
    metrics = [m for m in metrics if m not in SPECTROGRAM_ONLY
               or section.representation == "spectrogram"]
    header = ["#", "Explainer",
              *(f"{HEADLINE.get(m, m)}{arrow(section, m)}" if _ranked(section, m)
                else f"{HEADLINE.get(m, m)} †" for m in metrics)]
    rows = []
    for explainer in section.explainers:
        row = [section.ranks[explainer], explainer]
        row += [randomisation_cell(section, explainer) if metric == RANDOMISATION
                else cell_text(section.cell(explainer, metric)) for metric in metrics]
        rows.append(row)
    order_note = f" {section.unranked.capitalize()}." if section.unranked else ""
    order_note += _apart_note(section)
    if section.separation is not None:
        k, n = section.separation
        order_note += (f" The paired tests separate {k} of the {n} neighbouring pairs of this "
                       f"order; the rest is not supported by the data.{units_note(section)}")
    notes = [low_band_note(section) or note if metric == LOW_BAND else note
             for metric, note in COLUMN_NOTES.items() if metric in metrics]
    notes += [randomisation_note(section)] if RANDOMISATION in metrics else []
    caption = ("Explainers ranked by faithfulness gap: per clip, the true-class probability "
               "with units removed in random order minus with the most relevant removed first, "
               "averaged over the removed fractions (higher is better; 0 = no better than "
               f"random).{_rank_note(section)}{order_note} Cells: value [95 % interval]; † not "
               f"part of the ranking (descriptive, or a sanity check); {NONE}: not measured."
               f"{controls_note(section, metrics, HEADLINE)}"
               f"{SRG_NOTE if set(SRG_PARTS) <= set(metrics) else ''}{''.join(notes)}"
               f"{_spaced(unbalanced_note(section, metrics, HEADLINE))}"
               f"{_spaced(contended_note(section, metrics, HEADLINE))}")
    return Table(caption, header, rows)


def _apart_note(section: Section) -> str:
    """Why an explainer with a faithfulness gap has no rank where the paired tests ranked the
    others (:func:`~audioxai_bench.leaderboard.aggregate.apart`); empty where none."""
    if section.verdict is None:
        return ""
    names = [e for e in section.explainers if e not in section.compared
             and (cell := section.cell(e, RANK_METRIC)) is not None and pd.notna(cell["value"])]
    if not names:
        return ""
    return (f" Not ranked (–): {', '.join(names)}, whose faithfulness gap is on fewer of the "
            "trained models than the others' (its mean is over other splits or seeds).")


def units_note(section: Section) -> str:
    """Where the (split, speaker) units are so few that Holm can separate a pair only where all
    of them, or all but one, agree in sign, that limit; empty elsewhere (science audit 6, L1).

    A pair on which d of its U units disagree in sign has an exact two-sided p of at least
    2^(d+1) / 2^U, Wilcoxon's or van Elteren's: each of the 2^d sign patterns that flip some of
    those d back is as extreme. Holm's threshold for the pairs separated and for the next is at
    most alpha / (pairs - separated)."""
    verdict = section.verdict
    if verdict is None or not verdict.units:
        return ""
    units, m = verdict.units, int(pd.notna(verdict.means).sum())  # the ranked methods
    pairs, separated = m * (m - 1) // 2, int((verdict.p_adjusted < ALPHA).sum()) // 2
    if separated >= pairs:
        return ""
    threshold = ALPHA / (pairs - separated)
    dissent = -1  # the most units that can disagree in a pair Holm separates
    while dissent < units and 2.0 ** (dissent + 2 - units) < threshold:
        dissent += 1
    if dissent > 1:
        return ""
    seeds = ("; more seeds add no units (a split pools its seeds' clips by speaker), more test "
             "speakers would.")
    if dissent < 0:
        return (f" With {units} (split, speaker) units no pair can be separated, whatever the "
                f"data: the exact test's p is at least 2/2^{units} = {2.0 ** (1 - units):.2g}, "
                f"above Holm's first threshold, {ALPHA:g}/{pairs} = {threshold:.2g}{seeds}")
    who = "all of them agree" if dissent == 0 else "all of them, or all but one, agree"
    return (f" With {units} (split, speaker) units, a pair on which d of them disagree in sign "
            f"has an exact p of at least 2^(d+1)/2^{units} ({2.0 ** (1 - units):.2g} where none "
            f"does, {2.0 ** (2 - units):.2g} where one does), and Holm's threshold for each "
            f"pair separated here and for the next is at most {ALPHA:g}/{pairs - separated} = "
            f"{threshold:.2g}: a pair is separated only where {who}{seeds}")


def _spaced(note: str) -> str:
    return f" {note}" if note else ""


def sonification_table(section: Section) -> Table | None:
    """Every (explainer, sonifier) pair: the gains over a random mask of the same size and
    their paired difference from the amplitude map's, and the descriptive scores; never a
    best-of over sonifiers."""
    c = section.cells
    sonified = list(dict.fromkeys(c.loc[c["sonifier"] != "", "metric"]))
    metrics = [m for m in SONIFICATION if m in sonified] + sorted(
        m for m in sonified if m not in SONIFICATION)
    if not metrics:
        return None
    c = c[c["metric"].isin(metrics)]
    pairs = [(e, s) for e in section.explainers
             for s in sorted(set(c.loc[c["explainer"] == e, "sonifier"]))]
    rows = [[e, s, *(cell_text(section.cell(e, m, s)) for m in metrics)] for e, s in pairs]
    header = ["Explainer", "Sonifier", *(f"{SONIFICATION.get(m, m)}{arrow(section, m)}"
                                         f"{'' if _ranked(section, m) else ' †'}"
                                         for m in metrics)]
    versus = ("" if not any(m.endswith(VERSUS_AMPLITUDE) for m in metrics) else
              " Vs amplitude: the gain minus the amplitude row's on the same clip and "
              "sonifier, so above 0 means the map plays more of what the model uses than its "
              "loudest units do. A sonifier that spreads each kept unit's sound into its "
              "neighbours (keep-positive's smoothed gate) helps scattered units more than "
              "contiguous ones, and loudness' units are the most contiguous: there vs "
              "amplitude also rewards scatter (benchmarks/bench_sonifier_leakage.py); the "
              "ranking table's Gap vs amplitude compares the maps in the model input.")
    if any(m.endswith("-vs-input") for m in metrics):
        versus += (" Vs model input (†, it judges the sonifier, not the map): the gain minus "
                   "that of the same units applied in the model input, silence elsewhere; 0 = "
                   "the sound carries what those units carry in the input, below 0 = less, "
                   "above 0 = more (a removal the STFT spreads to neighbouring bins, say).")
    if "sonified-lmac" in metrics:
        versus += (" L-MAC Fid-In (†, Paissan et al. 2024): the share of clips whose sound of "
                   "the top 20 % of units the model still assigns to the label, without a "
                   "control (read it beside the random row).")
    return Table("Sonification: the model's probability for the explained class (the label) "
                 "on the sound of the explanation's top units (sufficiency) and on the sound "
                 "without them (comprehensiveness), heard at the clip's level, each minus the "
                 "same for random units of the same number (5/10/20/40 % of the units that hold "
                 "sound, averaged): 0 = no "
                 "better than random. The amplitude row (the loudest units) is a control, not "
                 "a method: what loudness alone scores (where it is ▲, loudness beats random "
                 f"units too).{versus} † descriptive."
                 f"{controls_note(section, metrics, SONIFICATION)}"
                 f"{_spaced(unbalanced_note(section, metrics, SONIFICATION))}",
                 header, rows)


def control_table(section: Section) -> Table | None:
    """The cue task's control per fold: does the model decide by the planted cue?"""
    rows = section.model_rows(CONTROL_METRIC)
    rows = rows[rows["status"] == "ok"]
    if rows.empty:
        return None

    def text(value: Any, ci: Any) -> str:
        return percent_interval(value, *(ci or (None, None)))

    body, unchecked = [], []
    for _, r in rows.iterrows():
        rec, extras = r["record"], r["record"].get("extras") or {}
        info = rec.get("info") or {}
        verdict, why = control_verdict(rec)
        label = section.model_label(r["fold"], r["seed"])
        if why:
            unchecked.append(f"fold {label} ({why})")
        body.append([label, text(rec.get("value"), rec.get("ci")),
                     _favourite(extras, section.task),
                     *(text((extras.get(k) or {}).get("value"), (extras.get(k) or {}).get("ci"))
                       for k in ("cue-only-accuracy", "cue-swapped-accuracy")),
                     percent(info.get("chance")), verdict])
    header = ["Fold", "Without the cue ↓", "Its class's p without it, most ↓", "Cue alone ↑",
              "Another clip's cue ↑", "Chance", "Control"]
    stated = {(rec.get("info") or {}).get("rule") for rec in rows["record"]} - {CONTROL_RULE}
    other = (" (some records state another: their numbers are judged by this one)" if stated
             else "")
    not_judged = f" Not judged: {'; '.join(unchecked)}." if unchecked else ""
    return Table("Cue control: test accuracy with each clip's burst subtracted, the highest "
                 "over classes of the mean probability a class's clips keep for their class "
                 "without their burst, the accuracy with the burst alone, and with another "
                 "clip's burst in its place (scored on that clip's label). A model that decides "
                 "by the cue falls to chance without it, for every class: a model that answers "
                 "one favourite class whenever it hears no cue is at chance too, but that "
                 "class's clips need no cue, so the planted region is not their evidence. "
                 f"Rule: {CONTROL_RULE}{other}.{not_judged} The burst alone is an input "
                 "the model never saw and is shown, not judged. Intervals count speakers, not "
                 "clips.", header, body)


def _favourite(extras: dict[str, Any], task: str) -> str:
    """The class that keeps most of its true-class probability without its cue, and that
    probability (``0.770 (class 0)``); ``–`` where the record does not say (older runs)."""
    kept = {key.rpartition("/")[2]: (value or {}).get("value") for key, value in extras.items()
            if key.startswith(f"{P_TRUE_WITHOUT_CUE}/")}
    if not kept or None in kept.values():
        return NONE
    label, p = max(kept.items(), key=lambda item: item[1])
    return f"{p:.3f} ({class_name(task, int(label))})"


def bands_table(section: Section) -> Table | None:
    """The frequency-band test's detail (spectrogram model), descriptive: the per-sample
    Spearman rewards relevance that merely follows loudness (review M6), so the verdict is the
    ranking table's paired difference from the amplitude map."""
    metric = "frequency-bands"
    if section.representation != "spectrogram" or not section.has(metric):
        return None
    rows = []
    for e in section.explainers:
        cell = section.cell(e, metric)
        if cell is None:
            continue
        s = _summaries(section, metric, e)
        rows.append([e, cell_text(cell),
                     number(_mean(x.get("spearman_density_vs_accuracy_drop") for x in s)),
                     number(_mean(x.get("spearman_density_vs_log_probability_drop")
                                  for x in s)),
                     _joined(band(x.get("densest_band_hz")) for x in s),
                     _joined(band(x.get("most_harmful_band_hz")) for x in s)])
    header = ["Explainer", "Spearman per sample †",
              "Run: density vs accuracy drop †", "Run: density vs log-p drop †", "Densest band",
              "Most harmful band"]
    verdict = ("the verdict is the ranking table's Bands beyond amplitude column (per clip, the "
               "partial Spearman of the signed relevance density with the signed damage, given "
               "the band's level, so that loudness alone scores 0; not this Spearman minus the "
               "amplitude map's)"
               if section.has("frequency-bands-beyond-amplitude") else
               "the run did not score frequency-bands-beyond-amplitude, the partial correlation "
               "given the band's level that would be the verdict")
    return Table("Frequency bands, descriptive (†): does relevance sit in the bands whose "
                 "removal hurts? Per-sample Spearman over the 10 bands; a map of loudness alone "
                 f"scores here too (the amplitude row), so {verdict}. Run: rank correlations of "
                 "the mean relevance density with the mean damage over the 10 bands, one number "
                 "per trained model over all its clips, averaged over the models, without an "
                 "interval; bands: where relevance is densest and where removal hurts most, "
                 f"each answer of the trained models listed once. {SATURATED}"
                 f"{_spaced(unbalanced_note(section, [metric], {metric: header[1]}))}"
                 f"{damage_note(section)}",
                 header, rows)


#: How the reliability table words each verdict of
#: :class:`~audioxai_bench.evaluation.meta.Reliability`.
VERDICTS = {"pass": "yes", "partial": "partly", "fail": "no"}


def _step(step: Step | None) -> str:
    if step is None:  # no adjacent step has a difference
        return NONE
    low, high = step.interval
    return (f"{step.better} → {step.worse}: {step.difference:+.3f} "
            f"[{low:+.3f}, {high:+.3f}]")


def _above_oracle(section: Section, metric: str, sonifier: str, oracle: float) -> str:
    """``"8 of 11 (best 0.606)"``: the explainers whose mean beats the oracle map's."""
    cells = [section.cell(e, metric, sonifier) for e in section.explainers]
    values = [float(c["value"]) for c in cells if c is not None and pd.notna(c["value"])]
    if not values or not math.isfinite(oracle):
        return NONE
    lower = section.direction(metric) is False
    above = [v for v in values if (v < oracle if lower else v > oracle)]
    best = min(values) if lower else max(values)
    return f"{len(above)} of {len(values)}" + (f" (best {number(best, metric)})" if above
                                                else "")


def reliability_table(section: Section) -> Table | None:
    """Per metric (and sonifier): does it order maps of known quality as it should (see
    :mod:`audioxai_bench.evaluation.meta`)? None where the section has no reference maps."""
    found = reliabilities(section)
    if not found:
        return None
    rows = []
    for metric, sonifier, r in found:
        means = " · ".join(number(r.means[k]) for k in ("oracle", "random", "inverted"))
        signed = number(r.means[SIGNED]) if SIGNED in r.means else NONE
        failing = "; ".join(f"{s.better} → {s.worse} {s.verdict} (p = {s.p:.2g})"
                            for s in r.failing) or NONE
        rows.append([HEADLINE.get(metric, metric), sonifier or NONE, VERDICTS[r.verdict], means,
                     signed, _step(r.margin), failing,
                     _above_oracle(section, metric, sonifier, r.means["oracle"])])
    header = ["Metric", "Sonifier", "Orders the references?", "Oracle · random · inverted",
              "Signed oracle", "Smallest step [95 % CI]", "Steps not in order",
              "Explainers beating the oracle"]
    levels = ", ".join(f"{s:g}" for s in NOISE_LEVELS)
    return Table(
        "Metric reliability: every metric scored maps whose quality is known by construction "
        "from the planted evidence: the evidence itself (oracle), the oracle plus Gaussian "
        f"noise of σ = {levels} (noisy-σ), uniform random relevance, and its inverse "
        "(relevant everywhere but on the evidence). A metric to believe orders them oracle > "
        "noisy oracles, least noise first > random > inverted. The localisation metrics also "
        f"score the oracle with a random sign per unit (signed oracle, {SIGNED}; – for the "
        "other metrics, for which a unit's sign is part of what a map claims: the gaps read it "
        "by design): its weight lies exactly on the evidence, half of it negative as a waveform "
        "map's samples are on an oscillating sound, so it must score above noisy-"
        f"{NOISE_LEVELS[0]:g} as the oracle does; a metric that reads the sign of single units "
        "reverses that step. yes: every step in order "
        "(paired Wilcoxon signed-rank tests over (split, speaker) units, Holm-adjusted "
        "over the steps, 5 %); partly: the oracle above random and no step reversed, but the "
        "steps listed not resolved (the metric saturates near the oracle, or cannot tell a "
        "random map from an anti-localised one); no: a step reversed, or the oracle not "
        "above random: do not read that metric's column as a ranking of explanations. "
        "Smallest step: the adjacent difference closest to (or below) 0, in the metric's good "
        "direction, with its paired 95 % interval over splits and speakers (of the steps "
        "whose references both have a mean; – where none has). Explainers beating "
        "the oracle: how many explainers' means (the random and amplitude controls included) "
        "beat the planted evidence's own map in the metric's good direction, and the best; "
        "where many do, the metric rewards more than finding the evidence (removing speech "
        "the model also uses, say), so a high score there does not mean the map found the "
        "cue. Descriptive metrics and those that time or re-run the explainer are not "
        "checked.",
        header, rows)


def _accuracy(row: pd.DataFrame) -> tuple[Any, Any, Any]:
    """One trained model's test accuracy and interval, worked out again from its per-clip hits
    where the record keeps them (so older records get today's interval), else as recorded."""
    again = pooled_accuracy(row) if (row["status"] == "ok").all() else None
    return again if again is not None else tuple(row[["value", "ci_low", "ci_high"]].iloc[0])


def model_setup(info: dict[str, Any]) -> str:
    """A trained model's recipe as its accuracy record states it: preset, width, steps and
    which state was tested (the validation-best iterate at the iteration it came from, or the
    final one; after a second stage, such as the cue task's, its final state)."""
    parts = [f"{k} {info[k]}" for k in ("preset", "width", "iterations")
             if info.get(k) is not None]
    training = info.get("training") or {}
    selected, at = SELECTED.get(training.get("select")), info.get("selected_iteration")
    if selected and training.get("then"):
        parts.append(f"{selected}, then a second stage"
                     + (f" to iteration {at}" if at is not None else "") + ", its final state")
    elif selected:
        parts.append(selected + (f" (iteration {at})" if training.get("select") == "best"
                                 and at is not None else ""))
    return ", ".join(parts) or NONE


def models_table(sections: Sequence[Section]) -> Table:
    """Test accuracy per trained model beside the paper's, with mean ± std where there are
    several."""
    rows = []
    for s in sections:
        acc = s.model_rows(ACCURACY_METRIC)
        for i, r in acc.iterrows():
            rec = r["record"]
            info = rec.get("info") or {}
            val = ((rec.get("extras") or {}).get("val-accuracy") or {}).get("value")
            value, low, high = _accuracy(acc.loc[[i]])
            setup = model_setup(info)
            test = ("error" if r["status"] == "error"
                    else percent_interval(value, low, high))
            n = NONE if pd.isna(r["n"]) else str(r["n"])
            rows.append([s.benchmark, s.task, s.model, s.model_label(r["fold"], r["seed"]), test,
                         percent(val), n,
                         setup, paper(s.task, s.model)])
        if ((acc["status"] == "ok") & acc["value"].notna()).sum() > 1:
            rows.append([s.benchmark, s.task, s.model, MODELS_SUMMARY, accuracy_text(acc),
                         NONE, NONE, NONE, paper(s.task, s.model)])
    header = ["Benchmark", "Task", "Model", "Fold", "Test accuracy [95 % CI]",
              "Val accuracy", "n", "Setup", "Paper"]
    return Table("Model test accuracy per fold next to the paper's (Becker et al., mean ± std "
                 "over splits, on the recorded AudioMNIST at full width: a narrow model or "
                 "other data is not expected to match it). Ours: mean ± std over every trained "
                 "model listed, splits and seeds alike, so it holds the seed-to-seed spread as "
                 "well. The interval counts speakers, not clips: one speaker's clips are not "
                 "independent, so it is the Wilson interval at the effective sample size of the "
                 "speaker clusters (no more than the clips, no fewer than the speakers), with "
                 "Student's quantile where that size comes from a variance of few speakers. "
                 "Where every clip is right, which says nothing of how errors cluster, the "
                 "size is k^0.8 n^0.2 for k speakers and n clips, and no interval's lower "
                 "bound lies above that perfect score's (86.7 % for 12 speakers of 40 clips), "
                 "so a perfect score never reads lower than an imperfect one: a dozen "
                 "speakers cannot show that the next one will not fail outright, and without "
                 "that bound accuracies of "
                 "95–97 % were covered as rarely as 80 % of the time where a few speakers "
                 "fail (simulated: benchmarks/bench_clustered_wilson.py). Setup: the recipe "
                 "as the record states it, and which state of the training was tested: the "
                 "validation-best iterate (the iteration it came from) or the final one, which "
                 "the paper tested.",
                 header, rows)


def _setting(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " × ".join(map(_setting, value))
    return NONE if value is None else str(value)  # None: not set (an LRP box's bounds)


def settings_table(df: pd.DataFrame) -> Table | None:
    """Each explainer's parameters as its records state them, per benchmark: one name can mean
    other settings in another benchmark (the quickstart cuts integrated gradients to 16 steps),
    and some methods' scores depend on them (occlusion's window). Where records of one name
    disagree, every setting is listed. None where no record names an explainer."""
    found: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for _, r in df[df["explainer"] != ""].iterrows():
        rec = r["record"]
        params = (rec.get("params") or {}).get("explainer") or {}
        entry = (rec.get("plugins") or {}).get("explainer") or {}
        plugin = f"{entry.get('plugin') or NONE} {entry.get('version') or ''}".strip()
        if entry.get("base") and entry["base"] != r["explainer"]:  # a variant: what it wraps
            plugin += f", variant of {entry['base']}"
        text = ", ".join(f"{k} {_setting(v)}" for k, v in sorted(params.items())
                         if v is not None) or NONE  # an unset option is no setting
        found.setdefault((r["benchmark"], r["explainer"]), set()).add((plugin, text))
    if not found:
        return None
    rows = [[benchmark, explainer, plugin, text]
            for (benchmark, explainer), settings in sorted(found.items())
            for plugin, text in sorted(settings)]
    return Table("The explainers' settings as their records state them (a spectrogram setting "
                 "applies to AlexNet, a waveform one to AudioNet). A name listed twice in one "
                 "benchmark was run with two settings, and its numbers pool both. Sizes count "
                 "the model input's units: samples at 8 kHz on the waveform (320 = 40 ms), bins "
                 "on the spectrogram; an option left unset is not listed; a variant (a "
                 "definition's own name for a method with other settings) names the method "
                 "it configures.",
                 ["Benchmark", "Explainer", "Plugin", "Parameters"], rows)


def _ranks_note(sections: Sequence[Section]) -> str:
    """What the shared ranks of ``sections`` mean, each rule once."""
    rules = dict.fromkeys([*(_rank_rule(s) for s in sections),
                           *(_within_classes(s).strip() for s in sections)])
    tested = any(s.verdict is not None for s in sections)
    return (f" Ranks: {' '.join(r for r in rules if r)}"
            + (" A ▲ against amplitude (one test per explainer) can therefore sit beside a rank "
               "range that overlaps amplitude's." if tested else ""))


def summary_table(sections: Sequence[Section], benchmark: str) -> Table | None:
    """One column per ranked section of ``benchmark``: each explainer's shared rank and
    faithfulness gap with its interval, under the models' test accuracy per fold and the share
    of neighbouring pairs the paired tests separate; rows by mean position over the columns.
    None where the benchmark has no ranked section."""
    chosen = [s for s in sections if s.benchmark == benchmark and s.explainers]
    if not chosen:
        return None
    position: dict[str, list[int]] = {}
    for s in chosen:
        for i, name in enumerate(s.explainers):
            position.setdefault(name, []).append(i)
    names = sorted(position, key=lambda n: (_mean(position[n]), n))

    same_folds = len({tuple(s.folds) for s in chosen}) == 1

    def accuracy(s: Section) -> str:
        acc = s.model_rows(ACCURACY_METRIC).sort_values(["fold", "seed"])
        text = " / ".join(", ".join("error" if r["status"] == "error" else percent(r["value"])
                                    for _, r in fold.iterrows())
                          for _, fold in acc.groupby("fold", sort=True)) or NONE
        return text if same_folds else f"{text} (split {' / '.join(map(str, s.folds))})"

    def separated(s: Section) -> str:
        return NONE if s.separation is None else "{} of {}".format(*s.separation)

    def entry(s: Section, name: str) -> str:
        cell = s.cell(name, RANK_METRIC)
        if cell is None:
            return NONE
        text = cell_text(cell)  # with the section tables' marks and "(failed / on fewer)"
        return f"{s.ranks.get(name, NONE)}: {text}" if s.ranks.get(name) else text

    def beating(s: Section, metric: str) -> str:
        c = s.cells[(s.cells["metric"] == metric) & s.cells["p_versus"].notna()
                    & s.cells["explainer"].isin(s.explainers)]
        marked = c[c["versus_verdict"] == "better"].set_index("explainer")
        better = [e + marks_classes(marked.loc[e]) for e in s.explainers if e in marked.index]
        return (NONE if c.empty else f"{len(better)} of {len(c)}"
                + (f": {', '.join(better)}" if better else ""))

    seeds = sorted({seed for s in chosen for seed in s.seeds})
    per_split = f", seeds {', '.join(map(str, seeds))} of each" if len(seeds) > 1 else ""
    label = (f"*test accuracy (split {' / '.join(map(str, chosen[0].folds))}{per_split})*"
             if same_folds else f"*test accuracy{per_split}*")
    rows = [[label, *(accuracy(s) for s in chosen)],
            ["*neighbouring pairs separated*", *(separated(s) for s in chosen)]]
    if any(s.has(AMPLITUDE_METRIC) for s in chosen):
        rows.append(["*better than the amplitude order*",
                     *(beating(s, AMPLITUDE_METRIC) for s in chosen)])
    rows += [[name, *(entry(s, name) for s in chosen)] for name in names]
    texts = [text for row in rows for text in row[1:]]
    unranked = any(text.startswith(f"{NONE}: ") for text in texts)
    # a dash alone, or one of a column's accuracies ("88.3 %, –")
    missing = any(NONE in text.replace(" / ", ", ").split(", ") for text in texts)
    dashes = "; ".join(
        ([f"{NONE}: not measured"] if missing or not unranked else [])
        + ([f"{NONE} as a rank (before a value): not ranked in that column (its section table "
            "says why: a model below the accuracy floor or failing its cue control, or an "
            "explainer without a finite mean or on fewer trained models than the others)"]
           if unranked else []))
    return Table(f"{benchmark}: shared rank: faithfulness gap [95 % interval], per model and "
                 "task (the leaderboard's first column; `audioxai-bench leaderboard --readme`). "
                 "▲ / ▼: above / below the random order, and *better than the amplitude "
                 "order*: the explainers whose gap vs amplitude is above 0, each by a paired "
                 "Wilcoxon signed-rank test over (split, test speaker) units, "
                 f"Holm-adjusted over the column's explainers, 5 %.{_ranks_note(chosen)} Rows "
                 "in order of their mean position over the columns, not a ranking across them; "
                 f"{dashes}."
                 + (CLASS_NOTE if any(CLASS_MARK in text for row in rows for text in row[1:])
                    else "")
                 + (f" {UNBALANCED_MARK.strip()}: not judged: {unbalanced_rule()} "
                    "(leaderboard.csv, column unbalanced)."
                    if any(UNBALANCED_MARK in text for row in rows for text in row[1:])
                    else ""),
                 ["explainer", *(s.title for s in chosen)], rows)


def failures_table(df: pd.DataFrame) -> Table | None:
    """Every failed cell with its reason."""
    failed = df[df["status"] == "error"].sort_values(
        ["benchmark", "dataset", "task", "model", "explainer", "sonifier", "metric", "fold",
         "seed"], kind="stable")
    if failed.empty:
        return None
    several = df["seed"].nunique(dropna=False) > 1
    rows = [[r["benchmark"], r["dataset"], r["task"], r["model"],
             model_label(r["fold"], r["seed"], several),
             r["explainer"] or NONE, r["sonifier"] or NONE, r["metric"],
             " ".join(str(r["error"]).split())] for _, r in failed.iterrows()]
    header = ["Benchmark", "Dataset", "Task", "Model", "Fold", "Explainer", "Sonifier",
              "Metric", "Reason"]
    return Table(f"Failed cells ({len(rows)}), each with its reason; a cell whose every "
                 "trained model failed reads 'error' in the tables above.", header, rows)


# --- renderers ----------------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    """One line of ``text`` as a Markdown cell: ``|`` escaped, and ``<``, ``>``, ``&`` as
    entities, so a plugin's error text cannot put HTML into the page."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown table (numbers and ranks right-aligned)."""
    def line(cells: Iterable[str]) -> str:
        return "| " + " | ".join(_md_cell(c) for c in cells) + " |"

    rule = ["---:" if h in ("#", "n", "Fold") else "---" for h in table.header]
    body = [line(table.header), "|" + "|".join(rule) + "|", *map(line, table.rows)]
    return "\n".join(body) + "\n"


def leaderboard_csv(cells: pd.DataFrame) -> str:
    """The aggregated cells as CSV (six significant digits, ``\\n`` line ends). An unranked
    metric's ``higher_is_better`` is left empty: it describes or checks, so a reader sorting by
    that flag must not take it for a grade (the tables keep its direction for ▲ / ▼)."""
    cells = cells.assign(higher_is_better=cells["higher_is_better"].astype("boolean").where(
        cells["ranked"].astype(bool)))
    buf = io.StringIO()
    cells.to_csv(buf, index=False, float_format="%.6g", lineterminator="\n")
    return buf.getvalue()


def models_csv(sections: Sequence[Section]) -> str:
    """Test accuracy per trained model (fold and seed), with the paper's numbers beside
    it."""
    rows = []
    for s in sections:
        acc = s.model_rows(ACCURACY_METRIC)
        for i, r in acc.iterrows():
            rec = r["record"]
            info = rec.get("info") or {}
            value, low, high = _accuracy(acc.loc[[i]])
            mean, std = PAPER_ACCURACY.get((s.task, s.model), (None, None))
            rows.append({
                "benchmark": s.benchmark, "dataset": s.dataset, "task": s.task,
                "model": s.model, "fold": r["fold"], "seed": r["seed"], "status": r["status"],
                "test_accuracy": value, "ci_low": low, "ci_high": high,
                "val_accuracy": ((rec.get("extras") or {}).get("val-accuracy") or {}).get(
                    "value"),
                "n": r["n"], "preset": info.get("preset"), "width": info.get("width"),
                "iterations": info.get("iterations"), "paper_accuracy": mean,
                "paper_std": std})
    columns = ["benchmark", "dataset", "task", "model", "fold", "seed", "status",
               "test_accuracy",
               "ci_low", "ci_high", "val_accuracy", "n", "preset", "width", "iterations",
               "paper_accuracy", "paper_std"]
    buf = io.StringIO()
    pd.DataFrame(rows, columns=columns).to_csv(buf, index=False, float_format="%.6g",
                                               lineterminator="\n")
    return buf.getvalue()
