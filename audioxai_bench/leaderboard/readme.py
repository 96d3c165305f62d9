"""The leaderboard's README.md: provenance, the models table, the per-section tables and every
failed cell, in Markdown that GitHub renders."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..data.splits import N_CLASSES, accuracy_floor
from ..errors import AudioXaiError
from . import figures, tables
from .aggregate import Section, unbalanced_rule
from .tables import Table

#: What every number means, for a reader who has not read the code: one paragraph per topic
#: (blank lines between them).
HOW_TO_READ = "\n\n".join([
    "**Cells.** Each table is one model architecture on one task; its numbers pool the trained "
    "models of the splits listed (several per split where runs with other seeds are pooled: "
    "their mean per split). A cell is the mean over test clips of a per-clip score with its 95 "
    "% interval, which resamples splits, then speakers (one speaker's clips are not "
    "independent; on the sex task within each sex, as every split's test speakers are half "
    "female, half male), widened for the few speakers it rests on (Student's t). It is an "
    "interval for these trained models' mean over test speakers, with a rough allowance for "
    "training luck through the splits: simulated in this layout it covered the models' mean "
    "at least 95 % of the time and the mean over training again 85–93 % (two splits read "
    "training luck coarsely; the project README's seed table shows how the marks move when "
    "the models are trained again). leaderboard.csv gives every cell's n (the clips it "
    "pools).",
    "**Ranks (#).** Explainers are ranked by the faithfulness gap, and only as far as paired "
    "tests over (split, speaker) units (each unit's mean difference over the clips both "
    "explainers scored), Holm-adjusted over all pairs of the table, separate them, in the "
    "direction of their means; an explainer without a finite mean is not ranked (–) and "
    "takes no part in the tests: a rank such as 2–4 means the data cannot order those "
    "explainers, and each table says how many neighbouring pairs of its order the tests "
    "separate. Overlapping intervals "
    "of two explainers are not a test: compare explainers by # and by the marks (only "
    "records without per-sample scores fall back on overlap, and their caption says so).",
    "**Marks (▲ ▼).** Most columns are paired differences against a control (the random "
    "order, the amplitude order, random units of the same number, the amplitude map's "
    "units), so 0 means no better than it. ▲ or ▼: a paired Wilcoxon signed-rank test over "
    "(split, speaker) units, Holm-adjusted over the column's explainers, finds the cell better "
    "or worse than its control at 5 %; no mark: not separated. On the sex task the test ranks "
    "the differences within each sex and weighs the sexes equally (van Elteren), so a mark "
    "means a direction both share; ⇅ marks a cell whose classes disagree. That balance "
    "holds where every clip has a score. A metric undefined on some clips leaves them out "
    "(the band metrics: clips where no band's removal moves the log-probability), and where "
    f"{unbalanced_rule('one sex', 'the other')}, the cell cannot be read as the balanced "
    "mean of both (by clips it is mostly the other sex's; by speakers, one sex's part rests "
    "on the few it kept): where it would be tested it is marked ◇, gets no ▲ ▼ or ⇅, and its "
    "caption gives the clips and speakers each class kept.",
    "**When a mark and an interval disagree.** They answer different questions, so a cell can "
    "have an interval clear of 0 and no mark, or a mark and an interval that touches 0: the "
    "mark is corrected for the column's many explainers and the interval is not; the test "
    "asks whether the unit differences are shifted as a whole (their pseudo-median), while "
    "the cell shows their mean, which a few large differences can move (where the two lean "
    "opposite ways there is no mark: a mark always points the way the mean does); on the sex "
    "task it asks for a direction both sexes share, while the interval is of their balanced "
    "mean; and it holds these trained models fixed, while the interval also resamples splits. "
    "The mark is the verdict on these models; the interval says how large the difference is. "
    "Likewise Gap vs amplitude tests each explainer against amplitude, Holm-adjusted over the "
    "column, while # adjusts over all pairs: an explainer can be ▲ against amplitude while "
    "its rank range still overlaps amplitude's.",
    "**Controls.** Amplitude (loudness alone) is the control an explainer has to beat to show "
    "more than where the sound is. The `random` explainer is the null: against random "
    "controls its cells should carry no mark and intervals around 0 (about 1 in 20 of them "
    "misses 0 by chance alone). An explainer without ▲ against the random order is not shown "
    "to explain more than random.",
    "**What the gaps reward.** The gaps rank units by signed relevance and move them towards "
    "silence, so they reward a map whose sign says what removing a unit does (to first order "
    "gradient × (input − silence)). On a waveform a gradient's sign flips with the sample's, "
    "so plain gradients (and SmoothGrad, their average) score near or below 0 on AudioNet by "
    "that convention, not for want of information: their magnitudes rank units well above "
    "`random` (the project README). Spectrogram explainers take silence (the −80 dB floor) as "
    "the absent input; the `-0db` variants take x = 0 instead, 0 dB, the loudest level of the "
    "paper's input scale, where any first-layer rule without a box rule puts its reference. "
    "They are not the paper's configuration: its LRP rules and their parameters are not in its "
    "public code.",
    "**Columns marked †** are not part of the ranking: they describe (Gini, low-band "
    "relevance) or check (the randomisation sanity check: on how many models a map passes on "
    "signed Spearman, absolute Spearman and SSIM; no number, since its signed drop is mostly "
    "the explainer's rerun similarity, not a grade: the ranking table's caption says why). "
    "A mark in a † column "
    "is a test against that column's control, not a verdict on faithfulness. Runtime is a "
    "measurement on this machine, without interval or test (⧗: timed while the machine was "
    "busy, the caption gives the share of the CPU it had). Explanations of a model below "
    "the accuracy floor (chance + half the way to 100 %: "
    f"{100 * accuracy_floor(N_CLASSES['digit']):.0f} % on digits, "
    f"{100 * accuracy_floor(N_CLASSES['sex']):.0f} % on sex) are reported but not ranked.",
    "**Planted evidence (the cue task).** Relevance mass, pointing game, relevance rank and AUC "
    "score each map against the planted region: pointing game, rank and AUC by the size of the "
    "relevance, whatever its sign (a waveform map's sign follows the oscillation of the sound it "
    "explains), mass by the share of the positive relevance; units tied at a map's maximum "
    "share the pointing game's hit. Read them beside `amplitude` as well as `random`: a cue a "
    "few dB below the loudest speech is found by loudness alone, so localising it beats the "
    "null only where it beats `amplitude`. The metric reliability table says which metrics "
    "order maps of known quality as they should; where explainers score above the oracle (the "
    "planted region itself), the metric rewards more than finding the evidence.",
])


def _table(table: Table) -> str:
    return f"{table.caption}\n\n{tables.markdown(table)}"


def render(title: str, facts: Sequence[tuple[str, str]], sections: Sequence[Section],
           models: Table, settings: Table | None, failures: Table | None) -> str:
    """The whole README."""
    parts = [f"# {title}",
             "Generated by `audioxai-bench leaderboard` from result records; do not edit by "
             "hand. Perturbation curves, relevance pictures and sonified examples: "
             "[index.html](index.html). Every number: [leaderboard.csv](leaderboard.csv) and "
             "[models.csv](models.csv).",
             "\n".join(f"- **{k}:** {v}" for k, v in facts),
             "## How to read this", HOW_TO_READ,
             "## Models", _table(models)]
    if settings is not None:
        parts += ["## Explainer settings", _table(settings)]
    parts += [f"## {figures.PAPER_HEADING}", paper_text(sections)]
    for s in sections:
        parts += [f"## {s.title}",
                  f"Benchmark {s.benchmark}, dataset {s.dataset}, {s.representation or 'mixed'} "
                  f"input, folds {', '.join(map(str, s.folds))}."]
        if s.explainers:
            parts.append(_table(tables.ranking_table(s)))
        else:
            parts.append("No explainer results for this model.")
        parts += [_table(t) for t in (tables.control_table(s), tables.bands_table(s),
                                      tables.sonification_table(s), tables.reliability_table(s))
                  if t is not None]
    parts += ["## Failed cells", _table(failures) if failures else "No cell failed."]
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"


def paper_text(sections: Sequence[Section]) -> str:
    """Where the figure after the paper's input-manipulation test is and what it shows, or why
    there is none."""
    panels = [s.title for s, _, _ in figures.paper_panels(sections)]
    if not panels:
        return figures.PAPER_ABSENT
    return (f"A figure in [index.html](index.html#{figures.PAPER_ANCHOR}) shows the true-class "
            "accuracy against k, the share of the whole input set to the baseline one sample "
            "or bin at a time, each explainer's most relevant first against the random and the "
            f"amplitude order, for {', '.join(panels)}; its caption says what differs from "
            "the paper.")


#: A block of a project README that ``audioxai-bench leaderboard --readme`` fills with
#: :func:`~audioxai_bench.leaderboard.tables.summary_table` of the named benchmark.
RESULTS_BLOCK = re.compile(r"(<!-- results (?P<name>[\w.-]+) -->\n).*?(<!-- /results -->)",
                           re.S)


def with_results(path: Path, sections: Sequence[Section]) -> str:
    """The text of ``path`` with every ``<!-- results NAME -->`` … ``<!-- /results -->`` block
    holding the summary table of benchmark NAME; fails naming the file where there is no block
    or a block's benchmark has no ranked section in these results."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AudioXaiError(f"{path}: cannot read it ({exc.strerror})") from None

    def fill(match: re.Match) -> str:
        table = tables.summary_table(sections, match["name"])
        if table is None:
            raise AudioXaiError(f"{path}: results block {match['name']!r}: no ranked section of "
                                "that benchmark in these results")
        return f"{match[1]}{tables.markdown(table)}\n{table.caption}\n{match[3]}"

    filled, count = RESULTS_BLOCK.subn(fill, text)
    if not count:
        raise AudioXaiError(f"{path}: no '<!-- results NAME -->' ... '<!-- /results -->' block "
                            "to fill")
    return filled
