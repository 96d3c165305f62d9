"""Figures as PNG bytes for the page: perturbation curves and relevance over the inputs.

Drawn on bare :class:`matplotlib.figure.Figure` objects (Agg, no pyplot, no global backend or
rcParams change in the caller's process), with the PNG's version stamp removed, so the same
records give byte-identical images. Modest sizes and dpi keep the page small.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .aggregate import Section
from .media import Examples

DPI = 72
RC = {"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7,
      "xtick.labelsize": 6, "ytick.labelsize": 6, "legend.fontsize": 6}
#: Which records carry the deletion curves (both metrics read the same ones).
CURVE_METRICS = ("faithfulness-gap", "aopc")
REFERENCES = {"random": dict(color="black", linestyle="--"),
              "amplitude": dict(color="0.45", linestyle=":")}
RATE = 8000
HOP = 35
WINDOW = 455
#: Waveform samples per coloured bin of a waveform's relevance (2 ms at 8 kHz).
BIN = 16


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes without the Software stamp."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def nanmean(curves: Sequence[np.ndarray]) -> np.ndarray:
    """Pointwise mean of equally long curves, ignoring NaN; NaN where all are (no warning)."""
    stack = np.asarray(curves, dtype=float)
    count = (~np.isnan(stack)).sum(axis=0)
    return np.where(count > 0, np.nansum(stack, axis=0) / np.maximum(count, 1), np.nan)


def mean_curves(section: Section) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]] | None:
    """The grid and, per explainer, each curve averaged over folds (records whose grid differs
    from the first one's are left out)."""
    for metric in CURVE_METRICS:
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


def curves_png(section: Section) -> bytes | None:
    """Most-relevant-first deletion curves of every explainer against the random and amplitude
    orders (averaged over explainers), for probability and accuracy; None without curves."""
    found = mean_curves(section)
    if found is None:
        return None
    grid, curves = found
    order = [e for e in section.explainers if e in curves] + sorted(
        set(curves) - set(section.explainers))
    kinds = [k for k in ("probability", "accuracy")
             if any(f"{k}/most-relevant" in c for c in curves.values())]
    if not kinds:
        return None
    colours = matplotlib.colormaps["tab20"]
    with matplotlib.rc_context(RC):
        width = 4.2 * len(kinds) + 1.8
        fig = Figure(figsize=(width, 2.8))
        axes = fig.subplots(1, len(kinds), squeeze=False)[0]
        fig.subplots_adjust(left=0.5 / width, right=1 - 1.9 / width, bottom=0.16, top=0.96,
                            wspace=0.25)
        x = 100 * grid
        for ax, kind in zip(axes, kinds):
            for i, explainer in enumerate(order):
                curve = curves[explainer].get(f"{kind}/most-relevant")
                if curve is not None:
                    shade = 2 * i % 20 + i // 10 % 2  # the dark tab20 shades first
                    ax.plot(x, curve, color=colours(shade), marker=".", markersize=3,
                            linewidth=1.2, label=explainer)
            for ref, style in REFERENCES.items():
                refs = [c[f"{kind}/{ref}"] for c in curves.values() if f"{kind}/{ref}" in c]
                if refs:
                    ax.plot(x, nanmean(refs), linewidth=1.4,
                            label=f"{ref} order (reference)", **style)
            ax.set_xlabel("input removed, most relevant first (%)")
            ax.set_ylabel(f"true-class {kind}")
            ax.grid(alpha=0.3)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper right", frameon=False)
        return png(fig)


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


def relevance_png(examples: Examples, index: int, explainers: Sequence[str], title: str) -> bytes:
    """The model input of one example and every explainer's relevance over it: a heat map on
    the spectrogram, or the waveform coloured by relevance (red positive, blue negative)."""
    names = [e for e in explainers if e in examples.relevance] + sorted(
        set(examples.relevance) - set(explainers))
    spectrogram = examples.inputs.ndim == 4
    columns = min(4, len(names) + 1)
    rows = math.ceil((len(names) + 1) / columns)
    x = np.nan_to_num(examples.inputs[index, 0].astype(float))
    with matplotlib.rc_context(RC):
        height = 1.6 * rows + 0.55
        fig = Figure(figsize=(2.1 * columns, height))
        fig.suptitle(title, fontsize=8)
        axes = fig.subplots(rows, columns, squeeze=False).ravel()
        fig.subplots_adjust(left=0.5 / (2.1 * columns), right=0.99, bottom=0.4 / height,
                            top=1 - 0.45 / height, wspace=0.08, hspace=0.45)
        for ax in axes[len(names) + 1:]:
            ax.set_axis_off()
        if spectrogram:
            extent = (0, x.shape[1] * HOP / RATE, 0, x.shape[0] * RATE / WINDOW)
            axes[0].imshow(x, origin="lower", aspect="auto", cmap="magma", extent=extent,
                           interpolation="nearest")
            axes[0].set(xlabel="time (s)", ylabel="frequency (Hz)", title="input (dB)")
        else:
            t = np.arange(x.size) / RATE
            axes[0].plot(t, x, color="0.3", linewidth=0.5)
            axes[0].set(xlabel="time (s)", title="input waveform")
        for ax, name in zip(axes[1:], names):
            r = np.nan_to_num(examples.relevance[name][index, 0].astype(float))
            if spectrogram:
                limit = _clip(r)
                ax.imshow(r, origin="lower", aspect="auto", cmap="bwr", vmin=-limit,
                          vmax=limit, extent=extent, interpolation="nearest")
            else:
                _waveform_relevance(ax, t, x, r, axes[0].get_ylim())
            ax.set_title(name)
            ax.set_xticks([])
            ax.set_yticks([])
        return png(fig)
