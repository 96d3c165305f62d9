"""Figures as PNG bytes for the page: perturbation curves, the figure after the paper's
input-manipulation test, and relevance over the inputs.

Drawn on bare :class:`matplotlib.figure.Figure` objects (Agg, no pyplot, no global backend or
rcParams change in the caller's process), with the PNG's version stamp removed, so the same
records give byte-identical images. Drawn at 96 dpi, the CSS pixel density, and shown at their
pixel size, so a 10 pt label reads as 10 pt on the page; no text is smaller than that.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from ..data.check import TARGET_RATE
from ..data.preprocess import HOP, N_FFT
from ..data.splits import N_CLASSES
from ..evaluation.meta import is_reference
from .aggregate import Section
from .media import Examples

#: CSS pixels per inch: a figure shown at its pixel size has its text at the size in points.
DPI = 96
#: The smallest text on any figure, in points.
MIN_FONT_PT = 10
RC = {"font.size": MIN_FONT_PT, "axes.titlesize": MIN_FONT_PT, "axes.labelsize": MIN_FONT_PT,
      "xtick.labelsize": MIN_FONT_PT, "ytick.labelsize": MIN_FONT_PT,
      "legend.fontsize": MIN_FONT_PT, "figure.titlesize": MIN_FONT_PT + 1}
#: Widest figure, in inches: fits the page's column at 96 dpi.
MAX_WIDTH = 12.0
#: Explainer curves: tab10's colours but its grey (kept for the controls), then the same
#: colours again with other markers and dashes.
COLOURS = tuple(c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 7)
MARKERS = ("o", "s", "^", "D", "v")
LINESTYLES = ("-", "--", "-.")
#: Explainers that are controls, not explanations: grey, dash-dot, each its own shade and marker.
CONTROLS = {"random": dict(color="0.3", marker="s"), "amplitude": dict(color="0.6", marker="^")}
#: The name ending of the 0 dB reference variants (relevance relative to 0 dB, the loudest
#: bin): dotted in their base method's colour (grey without it), each its own marker.
ZERO_DB = "-0db"
ZERO_DB_MARKERS = ("X", "P", "*", "h")
#: Which records carry the deletion curves (both metrics read the same ones).
CURVE_METRICS = ("faithfulness-gap", "aopc")
REFERENCES = {"random": dict(color="black", linestyle="--"),
              "amplitude": dict(color="0.45", linestyle=":")}
#: Which records carry the paper's input-manipulation curves: single features, k a share of
#: the whole input, most relevant first against the random and the amplitude order.
PAPER_METRIC = "paper-manipulation"
#: The paper figure's k axis (in %): linear up to this share, logarithmic above, so the steps
#: below 1 % where single features removed loudest first already cost accuracy stay apart.
PAPER_LINEAR_BELOW = 1.0
PAPER_TICKS = (0, 0.5, 1, 2, 5, 10, 20, 50, 100)
#: The heading and anchor of the figure's part of the page and the README.
PAPER_HEADING = "After the paper's input-manipulation test"
PAPER_ANCHOR = "paper-manipulation"
#: Said instead of the figure where no records hold those curves.
PAPER_ABSENT = (f"No figure after the paper's input-manipulation test: these records hold no "
                f"`{PAPER_METRIC}` curves (runs that did not list that metric).")
#: Waveform samples per coloured bin of a waveform's relevance (2 ms at 8 kHz).
BIN = 16
#: The colour of planted evidence (the cue task's ground truth) on the relevance pictures.
PLANTED = "#1a9e3a"


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes at :data:`DPI`, without the Software stamp."""
    buf = io.BytesIO()
    with matplotlib.rc_context(RC):  # ticks are made as they are drawn: at the same sizes
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def nanmean(curves: Sequence[np.ndarray]) -> np.ndarray:
    """Pointwise mean of equally long curves, ignoring NaN; NaN where all are (no warning)."""
    stack = np.asarray(curves, dtype=float)
    count = (~np.isnan(stack)).sum(axis=0)
    return np.where(count > 0, np.nansum(stack, axis=0) / np.maximum(count, 1), np.nan)


def mean_curves(section: Section, metrics: Sequence[str] = CURVE_METRICS
                ) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]] | None:
    """The grid and, per explainer, each curve averaged over trained models (splits × seeds;
    records whose grid differs from the first one's are left out), from the first of
    ``metrics`` whose records hold curves."""
    for metric in metrics:
        rows = section.metric_rows(metric)
        records = [r for r, s in zip(rows["record"], rows["status"])
                   if s == "ok" and r.get("curves") and r.get("explainer")]
        if records:
            break
    else:
        return None
    grid = np.asarray(records[0]["grid"], dtype=float)
    stacks: dict[str, dict[str, list[np.ndarray]]] = {}
    for r in records:
        if np.array_equal(np.asarray(r["grid"], dtype=float), grid):
            for name, curve in r["curves"].items():
                stacks.setdefault(r["explainer"], {}).setdefault(name, []).append(
                    np.asarray(curve, dtype=float))
    return grid, {e: {k: nanmean(v) for k, v in c.items()} for e, c in stacks.items()}


def explainer_styles(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """A line style (colour, marker, dashes) per explainer that depends only on the set of
    ``names``: given every explainer of a page, a method looks the same in each of its figures,
    whatever its rank. The methods by name take the :data:`COLOURS` in turn, solid with
    circles, then again dashed with squares, and so on (no grey); :data:`CONTROLS` are grey and
    :data:`ZERO_DB` variants dotted (see there)."""
    names = sorted(set(names))
    methods = [n for n in names if n not in CONTROLS and not n.endswith(ZERO_DB)]
    turn = len(COLOURS)
    styles: dict[str, dict[str, Any]] = {
        name: dict(color=COLOURS[i % turn], marker=MARKERS[i // turn % len(MARKERS)],
                   linestyle=LINESTYLES[i // turn % len(LINESTYLES)])
        for i, name in enumerate(methods)}
    for name in names:
        if name in CONTROLS:
            styles[name] = dict(linestyle="-.", **CONTROLS[name])
    variants = [n for n in names if n.endswith(ZERO_DB)]
    for i, name in enumerate(variants):
        base = styles.get(name[: -len(ZERO_DB)])
        styles[name] = dict(color=base["color"] if base else "0.45", linestyle=":",
                            marker=ZERO_DB_MARKERS[i % len(ZERO_DB_MARKERS)])
    return styles


def curves_png(section: Section, styles: Mapping[str, dict[str, Any]] | None = None
               ) -> tuple[bytes, tuple[str, ...]] | None:
    """:func:`curves_figure` as PNG bytes, with its panels' kinds left to right; None without
    curves."""
    drawn = curves_figure(section, styles)
    return None if drawn is None else (png(drawn[0]), drawn[1])


def curves_figure(section: Section, styles: Mapping[str, dict[str, Any]] | None = None
                  ) -> tuple[Figure, tuple[str, ...]] | None:
    """Most-relevant-first deletion curves of every explainer against the random and amplitude
    orders (averaged over explainers), a panel each for the true-class probability and the
    accuracy (``kinds``, returned with the figure, where the records have them), the legend
    below the panels; None without curves. ``styles``: :func:`explainer_styles` of every
    explainer on the page (default: of this section's)."""
    found = mean_curves(section)
    if found is None:
        return None
    grid, curves = found
    order = [e for e in section.explainers if e in curves] + sorted(
        e for e in set(curves) - set(section.explainers) if not is_reference(e))
    kinds = tuple(k for k in ("probability", "accuracy")
                  if any(f"{k}/most-relevant" in c for c in curves.values()))
    if not kinds:
        return None
    if styles is None or not set(order) <= set(styles):
        styles = explainer_styles([*(styles or ()), *order])
    with matplotlib.rc_context(RC):
        entries = len(order) + len(REFERENCES)
        columns = min(4, entries)
        legend_rows = math.ceil(entries / columns)
        width = min(MAX_WIDTH, 6.0 * len(kinds) + 0.5)
        legend_height = 0.23 * legend_rows + 0.1
        height = 3.0 + 0.55 + legend_height
        fig = Figure(figsize=(width, height))
        axes = fig.subplots(1, len(kinds), squeeze=False)[0]
        fig.subplots_adjust(left=0.75 / width, right=1 - 0.2 / width,
                            bottom=(legend_height + 0.6) / height, top=1 - 0.15 / height,
                            wspace=0.22)
        x = 100 * grid
        for ax, kind in zip(axes, kinds):
            for explainer in order:
                curve = curves[explainer].get(f"{kind}/most-relevant")
                if curve is not None:
                    ax.plot(x, curve, markersize=4, linewidth=1.4, label=explainer,
                            **styles[explainer])
            for ref, style in REFERENCES.items():
                refs = [c[f"{kind}/{ref}"] for c in curves.values() if f"{kind}/{ref}" in c]
                if refs:
                    ax.plot(x, nanmean(refs), linewidth=1.8,
                            label=f"{ref} order (reference)", **style)
            ax.set_xlabel("input removed, most relevant first (%)")
            ax.set_ylabel(f"true-class {kind}")
            ax.grid(alpha=0.3)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncols=columns, frameon=False,
                   bbox_to_anchor=(0.5, 0.01), columnspacing=1.5, handlelength=2.5)
        return fig, kinds


def _clip(relevance: np.ndarray) -> float:
    """Symmetric colour limit: the 99.5th percentile of |R|, so one hot bin cannot blank the
    rest of the map."""
    magnitude = np.abs(relevance)
    limit = float(np.percentile(magnitude, 99.5))
    if not math.isfinite(limit) or limit <= 0:
        limit = float(magnitude.max())
    return limit if math.isfinite(limit) and limit > 0 else 1.0


def _waveform_relevance(ax, t: np.ndarray, x: np.ndarray, r: np.ndarray,
                        ylim: tuple[float, float]) -> None:
    """The waveform's envelope in grey, overdrawn per bin of :data:`BIN` samples in the colour
    of the bin's summed relevance, as opaque as the relevance is strong."""
    cut = x.size // BIN * BIN
    lo, hi = x[:cut].reshape(-1, BIN).min(axis=1), x[:cut].reshape(-1, BIN).max(axis=1)
    binned = r[:cut].reshape(-1, BIN).sum(axis=1)
    centres = t[:cut].reshape(-1, BIN).mean(axis=1)
    limit = _clip(binned)
    colours = matplotlib.colormaps["bwr"](Normalize(-limit, limit)(binned))
    colours[:, 3] = np.clip(np.abs(binned) / limit, 0, 1)
    ax.fill_between(centres, lo, hi, color="0.82", linewidth=0)
    ax.vlines(centres, lo, hi, colors=colours, linewidth=1.0)
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(ylim)


def _planted(ax, truth: np.ndarray | None, extent: tuple[float, ...] | None) -> None:
    """Outline where the evidence was planted (nothing where it is unknown): a contour on a
    spectrogram (``extent`` its axes), a shaded span per run of marked samples on a waveform."""
    if truth is None:
        return
    if extent is not None:
        if truth.any() and not truth.all():
            ax.contour(truth.astype(float), levels=[0.5], colors=PLANTED, linewidths=1.0,
                       origin="lower", extent=extent)
        return
    edges = np.flatnonzero(np.diff(np.concatenate([[0], truth.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        ax.axvspan(start / TARGET_RATE, stop / TARGET_RATE, color=PLANTED, alpha=0.3,
                   linewidth=0)


def relevance_png(examples: Examples, index: int, explainers: Sequence[str], title: str) -> bytes:
    """:func:`relevance_figure` as PNG bytes."""
    return png(relevance_figure(examples, index, explainers, title))


def relevance_figure(examples: Examples, index: int, explainers: Sequence[str],
                     title: str) -> Figure:
    """The model input of one example and every explainer's relevance over it: a heat map on
    the spectrogram, or the waveform coloured by relevance (red positive, blue negative)."""
    names = [e for e in explainers if e in examples.relevance] + sorted(
        set(examples.relevance) - set(explainers))
    spectrogram = examples.inputs.ndim == 4
    columns = min(6, len(names) + 1)
    rows = math.ceil((len(names) + 1) / columns)
    x = np.nan_to_num(examples.inputs[index, 0].astype(float))
    with matplotlib.rc_context(RC):
        panel = min(1.85, (MAX_WIDTH - 0.9) / columns)
        width = panel * columns + 0.9
        height = 1.75 * rows + (0.75 if rows == 1 else 0.4)
        fig = Figure(figsize=(width, height))
        fig.suptitle(title)
        axes = fig.subplots(rows, columns, squeeze=False).ravel()
        # the input panel's axis labels sit in the gap below the first row, or at the bottom
        bottom = (0.5 if rows == 1 else 0.12) / height
        fig.subplots_adjust(left=0.8 / width, right=1 - 0.1 / width, bottom=bottom,
                            top=1 - 0.55 / height, wspace=0.1, hspace=0.6)
        for ax in axes[len(names) + 1:]:
            ax.set_axis_off()
        if spectrogram:
            extent = (0, x.shape[1] * HOP / TARGET_RATE, 0, x.shape[0] * TARGET_RATE / N_FFT)
            axes[0].imshow(x, origin="lower", aspect="auto", cmap="magma", extent=extent,
                           interpolation="nearest")
            axes[0].set(xlabel="time (s)", ylabel="frequency (Hz)", title="input (dB)")
        else:
            t = np.arange(x.size) / TARGET_RATE
            axes[0].plot(t, x, color="0.3", linewidth=0.5)
            axes[0].set(xlabel="time (s)", title="input waveform")
            extent = None
        truth = None if examples.ground_truth is None else examples.ground_truth[index, 0]
        _planted(axes[0], truth, extent)
        for ax, name in zip(axes[1:], names):
            r = np.nan_to_num(examples.relevance[name][index, 0].astype(float))
            if spectrogram:
                limit = _clip(r)
                ax.imshow(r, origin="lower", aspect="auto", cmap="bwr", vmin=-limit,
                          vmax=limit, extent=extent, interpolation="nearest")
            else:
                _waveform_relevance(ax, t, x, r, axes[0].get_ylim())
            _planted(ax, truth, extent)
            ax.set_title(name)
            ax.set_xticks([])
            ax.set_yticks([])
        return fig


# --- after the paper's input-manipulation figure ---------------------------------------------


def paper_panels(sections: Sequence[Section]
                 ) -> list[tuple[Section, np.ndarray, dict[str, dict[str, np.ndarray]]]]:
    """The sections whose :data:`PAPER_METRIC` records hold accuracy curves, with the grid and
    each explainer's curves averaged over trained models (:func:`mean_curves`)."""
    panels = []
    for section in sections:
        found = mean_curves(section, (PAPER_METRIC,))
        if found and any("accuracy/most-relevant" in c for c in found[1].values()):
            panels.append((section, *found))
    return panels


def paper_png(sections: Sequence[Section], styles: Mapping[str, dict[str, Any]] | None = None
              ) -> bytes | None:
    """:func:`paper_figure` as PNG bytes; None without curves."""
    fig = paper_figure(sections, styles)
    return None if fig is None else png(fig)


def paper_figure(sections: Sequence[Section],
                 styles: Mapping[str, dict[str, Any]] | None = None) -> Figure | None:
    """After the paper's input-manipulation figure: a panel per (task, model) whose records
    hold :data:`PAPER_METRIC` curves, the true-class accuracy against k (the share of the input
    set to the baseline), each explainer's most-relevant-first order thin and muted in its
    page colour, the random and the amplitude order (averaged over explainers) thick, chance a
    thin grey line; the legend below the panels. None without such curves. ``styles``:
    :func:`explainer_styles` of every explainer on the page (default: of these sections')."""
    panels = paper_panels(sections)
    if not panels:
        return None
    orders = []
    for section, _, curves in panels:
        orders.append([e for e in section.explainers if e in curves] + sorted(
            e for e in set(curves) - set(section.explainers) if not is_reference(e)))
    names = sorted({e for order in orders for e in order})
    if styles is None or not set(names) <= set(styles):
        styles = explainer_styles([*(styles or ()), *names])
    benchmarks = len({(s.benchmark, s.dataset) for s, _, _ in panels}) > 1
    with matplotlib.rc_context(RC):
        columns = min(2, len(panels))
        rows = math.ceil(len(panels) / columns)
        entries = len(names) + len(REFERENCES) + 1
        legend_columns = min(5, entries)
        legend_height = 0.23 * math.ceil(entries / legend_columns) + 0.1
        width = min(MAX_WIDTH, 5.6 * columns + 0.8)
        height = 3.0 * rows + 0.75 * (rows - 1) + 0.95 + legend_height
        fig = Figure(figsize=(width, height))
        axes = fig.subplots(rows, columns, squeeze=False).ravel()
        fig.subplots_adjust(left=0.75 / width, right=1 - 0.2 / width,
                            bottom=(legend_height + 0.6) / height, top=1 - 0.35 / height,
                            wspace=0.18, hspace=0.75 / 3.0)
        for ax in axes[len(panels):]:
            ax.set_axis_off()
        labelled: dict[str, Any] = {}
        for ax, (section, grid, curves), order in zip(axes, panels, orders):
            x = 100 * grid
            for explainer in order:
                curve = curves[explainer].get("accuracy/most-relevant")
                if curve is not None:
                    line, = ax.plot(x, curve, markersize=3, linewidth=1.1, alpha=0.7,
                                    label=explainer, **styles[explainer])
                    labelled.setdefault(explainer, line)
            for ref, style in REFERENCES.items():
                refs = [c[f"accuracy/{ref}"] for c in curves.values() if f"accuracy/{ref}" in c]
                if refs:
                    label = ("random order" if ref == "random" else
                             "amplitude order (loudest first)")
                    line, = ax.plot(x, nanmean(refs), linewidth=2.4, zorder=5, label=label,
                                    **style)
                    labelled.setdefault(label, line)
            chance = N_CLASSES.get(section.task)
            if chance:
                labelled.setdefault("chance", ax.axhline(1 / chance, color="0.7",
                                                         linewidth=0.8, zorder=0,
                                                         label="chance"))
            ax.set_xscale("symlog", linthresh=PAPER_LINEAR_BELOW, linscale=1.0)
            ax.set_xlim(0, 100)
            ax.set_xticks(PAPER_TICKS, [f"{t:g}" for t in PAPER_TICKS])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_ylim(-0.02, 1.02)
            title = f"{section.title} ({section.representation or 'mixed'})"
            ax.set_title(f"{title}, {section.benchmark}" if benchmarks else title)
            ax.set_xlabel("k: input set to the baseline (% of the whole input)")
            ax.set_ylabel("true-class accuracy")
            ax.grid(alpha=0.3)
        fig.legend(list(labelled.values()), list(labelled), loc="lower center",
                   ncols=legend_columns, frameon=False, bbox_to_anchor=(0.5, 0.01),
                   columnspacing=1.5, handlelength=2.5)
        return fig
