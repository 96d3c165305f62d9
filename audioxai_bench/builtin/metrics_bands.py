"""Frequency-band tests for the spectrogram model (Becker et al., arXiv 1807.03418).

The paper reads its spectrogram heatmaps as saying that the sex of a speaker is decided in the
low bands (fundamental frequency, lowest formants) and checks it by manipulating those bands. Here
each band is removed from the *sound* in turn (a zero-phase Butterworth band-stop of the 8 kHz
waveform, then the model's own preprocessing) and the drop of the explained (true) class's
log-probability, the *damage*, is set against the explanation's relevance in that band. Three
metrics read the same removals (computed once per batch for every explainer):

- ``frequency-bands-beyond-amplitude`` (ranked): per sample, the partial Spearman correlation
  across bands of the *signed* relevance density with the *signed* damage, controlling for the
  band's level (mean dB above the floor). Loud bands attract input-multiplied relevance and
  hurt when removed (the spectrogram is re-levelled to its new maximum), so the plain
  correlation rewards loudness: the amplitude map scored 0.236 next to IG's 0.278 (review M6).
  The partial correlation is 0 for a map that ranks bands as their level does. Extras hold the
  plain correlation, the amplitude map's own correlation and their paired difference.
- ``low-band-relevance`` (descriptive): our reading of the paper's hypothesis as a directional
  test, per sample: the share of positive relevance in the bands below ``split_hz`` (500 Hz)
  minus the amplitude map's share there (relevance there beyond loudness), and the mean damage
  of the low bands minus that of the others (the model needs them). The 500 Hz cut-off is this
  project's operationalisation, not a number from the paper, which speaks of the fundamental
  frequency and the lowest formants. The summary gives each with a
  bootstrap interval and ``supported`` when the interval lies above 0. It is the hypothesis
  for the sex task; read on the digit task it says where digits are decided.
- ``frequency-bands`` (descriptive, the original test): Spearman across bands of positive
  relevance density with the damage, negligible damages tied at 0; confounded with energy.

A clip where no band's removal changes the log-probability (a saturated model) has no order of
bands to correlate with: both correlations are NaN there, left out of means and of ``n``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import numpy as np
import torch
import torchaudio.functional as AF
from scipy import signal as sps
from torch import Tensor

from audioxai_bench.api.explainer import amplitude_of, explaining
from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, EvalBatch, MetricOutput
from audioxai_bench.data.check import TARGET_RATE
from audioxai_bench.data.preprocess import N_FFT, to_model_input
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.summary import true_class_scores
from audioxai_bench.stats import bootstrap_ci, spearman

#: Band edges in Hz: narrow where voices differ (F0 85-255 Hz, F1 around 300-900 Hz), up to the
#: 4 kHz Nyquist limit of the 8 kHz input.
DEFAULT_EDGES: tuple[float, ...] = (0, 125, 250, 375, 500, 750, 1000, 1500, 2000, 3000, 4000)
RELEVANCE_PARTS: tuple[str, ...] = ("positive", "absolute", "signed")


def _check_edges(edges: tuple[float, ...], rate: int) -> None:
    if len(edges) < 3 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"band edges must rise and make at least two bands, got {edges}")
    if edges[0] < 0 or edges[-1] > rate / 2:
        raise ValueError(f"band edges must lie in [0, {rate / 2:g}] Hz, got {edges}")


@functools.lru_cache(maxsize=8)
def band_stop_sos(edges: tuple[float, ...], order: int = 4, rate: int = TARGET_RATE
                  ) -> np.ndarray:
    """``(n_bands, order, 6)`` Butterworth second-order sections removing each band.

    A band from 0 Hz is a high-pass, a band up to Nyquist a low-pass, both of order
    ``2 * order`` so that every filter has the same number of sections and slope.
    """
    _check_edges(edges, rate)
    sections = []
    for low, high in zip(edges, edges[1:]):
        if low <= 0:
            sos = sps.butter(2 * order, high, btype="highpass", output="sos", fs=rate)
        elif high >= rate / 2:
            sos = sps.butter(2 * order, low, btype="lowpass", output="sos", fs=rate)
        else:
            sos = sps.butter(order, [low, high], btype="bandstop", output="sos", fs=rate)
        sections.append(sos)
    return np.stack(sections)


@functools.lru_cache(maxsize=8)
def _power_response(edges: tuple[float, ...], order: int, rate: int, n: int) -> Tensor:
    """``(n_bands, n // 2 + 1)`` squared magnitude ``|H|^2`` at the rfft frequencies of ``n``."""
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    rows = [np.abs(sps.sosfreqz(sos, worN=freqs, fs=rate)[1]) ** 2
            for sos in band_stop_sos(edges, order, rate)]
    return torch.from_numpy(np.stack(rows))


def band_stop(signals: Tensor, band: Tensor, edges: tuple[float, ...], *, order: int = 4,
              rate: int = TARGET_RATE, method: str = "fft") -> Tensor:
    """Remove band ``band[i]`` from ``signals[i]`` (zero phase, as ``filtfilt``).

    ``method="fft"`` multiplies the zero-padded spectrum by ``|H|^2`` of the Butterworth
    sections (linear convolution with filtfilt's impulse response; batched on any device);
    ``method="torchaudio"`` runs the same sections forward and backward with
    ``torchaudio.functional.lfilter`` (a sequential loop: the reference, slow on long batches).
    """
    length = signals.shape[-1]
    if method == "fft":
        n = 1 << (2 * length - 1).bit_length()
        response = _power_response(tuple(edges), order, rate, n).to(signals.device)
        spectrum = torch.fft.rfft(signals.double(), n=n)
        out = torch.fft.irfft(spectrum * response[band], n=n)[..., :length]
        return out.to(signals.dtype)
    if method == "torchaudio":
        sos = torch.from_numpy(band_stop_sos(tuple(edges), order, rate)).to(signals.device)
        out = signals.double()
        for section in sos[band].unbind(1):  # (B, 6) per section
            b, a = section[:, :3], section[:, 3:]
            out = AF.lfilter(out, a, b, clamp=False, batching=True)
            out = AF.lfilter(out.flip(-1), a, b, clamp=False, batching=True)
            out = out.flip(-1)
        return out.to(signals.dtype)
    raise ValueError(f"unknown method {method!r}; valid: fft, torchaudio")


def band_of_rows(n_rows: int, edges: tuple[float, ...], rate: int = TARGET_RATE) -> Tensor:
    """Band index of each spectrogram row (row r is r * rate / N_FFT Hz; row 0 = 0 Hz)."""
    freqs = torch.arange(n_rows, dtype=torch.float64) * rate / N_FFT
    inner = torch.tensor(edges[1:-1], dtype=torch.float64)
    return torch.bucketize(freqs, inner, right=True)


def relevance_per_band(relevance: Tensor, edges: tuple[float, ...], part: str = "positive"
                       ) -> Tensor:
    """``(B, n_bands)`` share of each band in a sample's relevance (rows = frequency).

    ``part``: sum of positive relevance (evidence for the class), of ``|R|``, or signed.
    Shares sum to one where the total is non-zero.
    """
    if part == "positive":
        relevance = relevance.clamp_min(0)
    elif part == "absolute":
        relevance = relevance.abs()
    elif part != "signed":
        raise ValueError(f"unknown relevance part {part!r}; valid: {', '.join(RELEVANCE_PARTS)}")
    if relevance.dim() != 4:
        raise ValueError(f"relevance must be (B, C, rows, frames), got {tuple(relevance.shape)}")
    per_row = relevance.double().sum(dim=(1, 3))  # (B, rows)
    bands = band_of_rows(per_row.shape[1], edges).to(per_row.device)
    mass = torch.zeros(per_row.shape[0], len(edges) - 1, dtype=torch.float64,
                       device=per_row.device).index_add_(1, bands, per_row)
    total = mass.sum(dim=1, keepdim=True)
    return torch.where(total != 0, mass / total.where(total != 0, torch.ones_like(total)), mass)


def rows_per_band(n_rows: int, edges: tuple[float, ...]) -> Tensor:
    """Number of spectrogram rows in each band; every band must hold at least one."""
    counts = torch.bincount(band_of_rows(n_rows, edges), minlength=len(edges) - 1)
    empty = [f"{lo:g}-{hi:g} Hz" for (lo, hi), n in zip(zip(edges, edges[1:]), counts) if n == 0]
    if empty:
        raise ValueError(f"bands narrower than a spectrogram row ({TARGET_RATE / N_FFT:.1f} Hz): "
                         f"{', '.join(empty)}")
    return counts


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrequencyBands(BaseMetric):
    """Per sample, Spearman across bands of relevance density and the damage of removing them.

    Relevance *density* is a band's share of the relevance over its share of the spectrogram's
    rows (1 = as much as a uniform map gives it), so wide bands do not win by width alone. The
    damage is the drop of the true-class log-probability: unlike the probability it does not
    saturate for a confident model.

    Parameters
    ----------
    edges : tuple of float
        Band edges in Hz (see :data:`DEFAULT_EDGES`).
    order : int
        Butterworth order of each band-stop.
    part : str
        Which relevance counts, see :func:`relevance_per_band`.
    tolerance, relative_tolerance : float
        Log-probability changes below ``tolerance``, or below ``relative_tolerance`` times the
        sample's largest change, count as none when ranking bands: Spearman would otherwise
        rank float noise and negligible side effects among the untouched bands.
    """

    edges: tuple[float, ...] = DEFAULT_EDGES
    order: int = 4
    part: str = "positive"
    tolerance: float = 1e-4
    relative_tolerance: float = 0.01
    ranked: bool = False
    #: correlations; the low-band test's shares and their differences
    bounds: ClassVar[tuple[float, float]] = (-1.0, 1.0)

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        key = ("band-stop", self.edges, self.order, batch.seed)
        logp0, c0, logp, correct = batch.reuse(key, lambda: self._removal(batch))
        damage = logp0[:, None] - logp
        settled = self._settle(damage)
        acc_drop = c0[:, None] - correct
        share = relevance_per_band(batch.relevance, self.edges, self.part).cpu()
        rows = rows_per_band(batch.relevance.shape[-2], self.edges).double()
        density = share / (rows / rows.sum())
        centres = [(lo + hi) / 2 for lo, hi in zip(self.edges, self.edges[1:])]
        return MetricOutput(
            scores=where_some_band_hurts(spearman(density, settled), settled),
            curves={"relevance-share": share, "relevance-density": density,
                    "log-probability-drop": damage,
                    "probability-drop": logp0.exp()[:, None] - logp.exp(),
                    "accuracy-drop": acc_drop},
            grid=torch.tensor(centres, dtype=torch.float64),
            extras={"spearman/accuracy": spearman(density, acc_drop),
                    "density-where-it-hurts": _weighted(density, settled)},
            info={"edges_hz": list(self.edges), "relevance": self.part, "order": self.order,
                  "ranked": self.ranked},
        )

    def _removal(self, batch: EvalBatch) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """True-class log-probability and correctness of the input, ``(B,)``, and with each
        band removed, ``(B, n_bands)``: the same for every explainer."""
        n_bands = len(self.edges) - 1
        b = batch.size
        signals = batch.signals.to(batch.device)
        sample = torch.arange(b, device=batch.device).repeat_interleave(n_bands)
        band = torch.arange(n_bands, device=batch.device).repeat(b)
        logp = torch.empty(b * n_bands, dtype=torch.float64)
        correct = torch.empty(b * n_bands, dtype=torch.float64)
        with explaining(batch.model), torch.no_grad():
            logp0, c0 = _log_scores(batch.model, batch.x, batch.target)
            step = batch.chunk_size
            for start in range(0, b * n_bands, step):
                s, k = sample[start: start + step], band[start: start + step]
                filtered = band_stop(signals[s], k, self.edges, order=self.order)
                x = to_model_input(filtered, batch.representation).to(batch.x.dtype)
                lp, c = _log_scores(batch.model, x, batch.target[s])
                logp[start: start + len(s)], correct[start: start + len(s)] = lp, c
        return logp0, c0, logp.view(b, n_bands), correct.view(b, n_bands)

    def _settle(self, drop: Tensor) -> Tensor:
        floor = (self.relative_tolerance * drop.abs().amax(dim=1, keepdim=True)).clamp_min(
            self.tolerance)
        return torch.where(drop.abs() < floor, torch.zeros_like(drop), drop)

    def summarize(self, output: MetricOutput) -> dict[str, Any]:
        """Across the whole run: which band holds the densest relevance, which hurts most to
        remove, and the rank correlations over bands of mean density with mean accuracy drop
        and log-probability drop (the paper's hypothesis test for one task)."""
        density = output.curves["relevance-density"].nanmean(dim=0)
        acc = output.curves["accuracy-drop"].nanmean(dim=0)
        damage = output.curves["log-probability-drop"].nanmean(dim=0)
        bands = list(zip(self.edges, self.edges[1:]))
        return {
            "spearman_density_vs_accuracy_drop": float(spearman(density[None], acc[None])[0]),
            "spearman_density_vs_log_probability_drop": float(
                spearman(density[None], self._settle(damage[None]))[0]),
            "densest_band_hz": list(bands[int(density.argmax())]),
            "most_harmful_band_hz": list(bands[int(damage.argmax())]),
            "relevance_density_per_band": density.tolist(),
            "accuracy_drop_per_band": acc.tolist(),
            "log_probability_drop_per_band": damage.tolist(),
        }


def _weighted(density: Tensor, damage: Tensor) -> Tensor:
    """``(B,)`` relevance density averaged over bands with weights ∝ the damage of removing them
    (1 = no more relevance than a uniform map; NaN where no band's removal hurts)."""
    weight = damage.clamp_min(0)
    total = weight.sum(dim=1)
    mean = (density * weight).sum(dim=1) / total.where(total > 0, torch.ones_like(total))
    return mean.where(total > 0, torch.full_like(mean, float("nan")))


def where_some_band_hurts(correlation: Tensor, damage: Tensor) -> Tensor:
    """``correlation`` (B,) where the settled ``damage`` (B, bands) differs between bands, NaN
    where it does not: when no removal changes the explained class's log-probability (a
    saturated model) no band is told from another, and a correlation of 0 would pull the
    metric's mean towards 0 (on sex · AlexNet 126 of 288 clips). NaN scores are left out of
    means and intervals and not counted in ``n``."""
    flat = (damage == damage[:, :1]).all(dim=1)
    return correlation.where(~flat, torch.full_like(correlation, float("nan")))


def _log_scores(model: torch.nn.Module, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """True-class log-probability and correctness (float64, CPU)."""
    logp, correct = true_class_scores(model(x), target, log=True)
    return logp.cpu(), correct.cpu()


# --- beyond amplitude, and the paper's hypothesis -----------------------------------------------


def band_means(values: Tensor, edges: tuple[float, ...]) -> Tensor:
    """``(B, n_bands)`` mean over each band's rows (and every frame) of ``(B, C, rows, frames)``
    values."""
    per_row = values.double().mean(dim=(1, 3))
    bands = band_of_rows(per_row.shape[1], edges).to(per_row.device)
    total = torch.zeros(per_row.shape[0], len(edges) - 1, dtype=torch.float64,
                        device=per_row.device).index_add_(1, bands, per_row)
    return total / rows_per_band(per_row.shape[1], edges).to(total)


def partial_spearman(x: Tensor, y: Tensor, z: Tensor) -> Tensor:
    """``(B,)`` Spearman correlation of ``x[i]`` and ``y[i]`` controlling for ``z[i]`` (the
    partial correlation of the ranks). 0 where ``x`` or ``y`` is a monotone function of ``z``:
    nothing is left beyond it."""
    r_xy, r_xz, r_yz = spearman(x, y), spearman(x, z), spearman(y, z)
    scale = ((1 - r_xz.square()) * (1 - r_yz.square())).clamp_min(0).sqrt()
    partial = (r_xy - r_xz * r_yz) / scale.clamp_min(1e-12)
    return torch.where(scale > 1e-6, partial, torch.zeros_like(partial)).clamp(-1, 1)


def _interval(values: Tensor) -> dict[str, Any]:
    est = bootstrap_ci(values)
    return {"mean": est.mean, "ci": [est.low, est.high], "n": est.n,
            "supported": bool(est.low > 0)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class BandsBeyondAmplitude(FrequencyBands):
    """Partial Spearman across bands of signed relevance density and signed damage, given the
    band level (see the module docstring).

    Damages smaller than ``tolerance`` (1e-4 in log-probability, well above float noise) count
    as none, so that the bands whose removal changes nothing tie instead of being ranked by
    rounding; unlike the original test no damage is dropped for being small next to the
    largest (``relative_tolerance`` 0).
    """

    relative_tolerance: float = 0.0
    ranked: bool = True
    versus: ClassVar[str] = "the band level (amplitude)"

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        key = ("band-stop", self.edges, self.order, batch.seed)
        logp0, _, logp, _ = batch.reuse(key, lambda: self._removal(batch))
        damage = self._settle(logp0[:, None] - logp)
        relevance = batch.relevance.double()
        total = relevance.abs().flatten(1).sum(dim=1).clamp_min(1e-300)[:, None]
        # signed relevance per row of the band, over the map's mean |relevance| per row: a
        # uniform positive map has density 1 in every band
        density = (band_means(relevance, self.edges) * relevance.shape[-2]
                   * relevance.shape[-1] / total).cpu()
        level = band_means(amplitude_of(batch.x), self.edges).cpu()
        plain, loud = (where_some_band_hurts(spearman(v, damage), damage)
                       for v in (density, level))
        centres = [(lo + hi) / 2 for lo, hi in zip(self.edges, self.edges[1:])]
        return MetricOutput(
            scores=where_some_band_hurts(partial_spearman(density, damage, level), damage),
            curves={"relevance-density": density, "log-probability-drop": damage,
                    "level-db": level},
            grid=torch.tensor(centres, dtype=torch.float64),
            extras={"spearman": plain, "amplitude/spearman": loud,
                    "gain-over-amplitude": plain - loud,
                    "spearman/relevance-vs-level": spearman(density, level)},
            info={"edges_hz": list(self.edges), "relevance": "signed", "control": "band level",
                  "order": self.order, "ranked": self.ranked})

    def summarize(self, output: MetricOutput) -> dict[str, Any]:
        """The mean partial correlation and the paired gain over the amplitude map with
        bootstrap intervals, and the run-level Spearman of mean density with mean damage over
        bands with an interval from resampling the samples."""
        density = output.curves["relevance-density"].numpy()
        damage = output.curves["log-probability-drop"].numpy()
        keep = np.isfinite(density).all(axis=1) & np.isfinite(damage).all(axis=1)
        density, damage = density[keep], damage[keep]
        rng = np.random.default_rng(0)

        def run_level(rows: np.ndarray) -> np.ndarray:
            """The Spearman of mean density with mean damage, one per row of ``rows``."""
            d, g = density[rows].mean(axis=1), damage[rows].mean(axis=1)
            return spearman(torch.from_numpy(d), torch.from_numpy(g)).numpy()

        n = len(density)
        if n:
            draws = run_level(rng.integers(0, n, (1000, n)))
            low, high = np.percentile(draws, [2.5, 97.5])
            value = float(run_level(np.arange(n)[None])[0])
        else:
            low = high = value = np.nan
        return {"partial_spearman": _interval(output.scores),
                "gain_over_amplitude": _interval(output.extras["gain-over-amplitude"]),
                "run_level_spearman": {"value": value, "ci": [float(low), float(high)]}}


@dataclasses.dataclass(frozen=True, kw_only=True)
class LowBandRelevance(FrequencyBands):
    """Our reading of the paper's hypothesis as a directional test: relevance and damage below
    ``split_hz``.

    Parameters
    ----------
    split_hz : float
        A band edge: the bands below it are the "low" ones (F0 and the first formant's lower
        part). The default 500 Hz is this project's cut-off: the paper speaks of the
        fundamental frequency and the lowest formants, not of a frequency.
    """

    split_hz: float = 500.0
    versus: ClassVar[str] = "amplitude (its share of the low bands)"
    #: The leaderboard resamples speakers of the damage, which is mostly a matter of the voice.
    clip_extras: ClassVar[frozenset[str]] = frozenset({"damage-low-minus-high"})

    def __post_init__(self) -> None:
        if self.split_hz not in self.edges[1:-1]:
            raise AudioXaiError(f"metric {self.name!r}: split_hz {self.split_hz:g} must be an "
                                f"inner band edge, one of {list(self.edges[1:-1])}")

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        key = ("band-stop", self.edges, self.order, batch.seed)
        logp0, _, logp, _ = batch.reuse(key, lambda: self._removal(batch))
        damage = logp0[:, None] - logp
        low = torch.tensor([hi <= self.split_hz for hi in self.edges[1:]])
        relevance = relevance_per_band(batch.relevance, self.edges, "positive").cpu()
        amplitude = relevance_per_band(amplitude_of(batch.x), self.edges, "positive").cpu()
        share, loud = relevance[:, low].sum(dim=1), amplitude[:, low].sum(dim=1)
        none = relevance.sum(dim=1) == 0  # no positive relevance: no share to read
        share = share.where(~none, torch.full_like(share, float("nan")))
        rows = rows_per_band(batch.relevance.shape[-2], self.edges).double()
        return MetricOutput(
            scores=share - loud,
            extras={"relevance-share": share, "amplitude-share": loud,
                    "damage-low-minus-high": damage[:, low].mean(dim=1)
                    - damage[:, ~low].mean(dim=1)},
            info={"split_hz": self.split_hz, "edges_hz": list(self.edges),
                  "rows_share": float(rows[low].sum() / rows.sum()),
                  "hypothesis": f"the model decides in the bands below {self.split_hz:g} Hz "
                                "(the paper: sex)", "ranked": self.ranked})

    def summarize(self, output: MetricOutput) -> dict[str, Any]:
        """Each directional statistic with its bootstrap interval and ``supported`` (the
        interval lies above 0)."""
        return {"relevance_beyond_amplitude": _interval(output.scores),
                "damage_low_minus_high": _interval(output.extras["damage-low-minus-high"]),
                "relevance_share": _interval(output.extras["relevance-share"])["mean"],
                "amplitude_share": _interval(output.extras["amplitude-share"])["mean"]}


@hookimpl
def audioxai_bench_metrics() -> list[FrequencyBands]:
    """The frequency-band tests (spectrogram models)."""
    common = {"representations": frozenset({"spectrogram"}), "needs": frozenset({"signals"})}
    return [
        BandsBeyondAmplitude(
            name="frequency-bands-beyond-amplitude", higher_is_better=True,
            display_name="Frequency bands: relevance vs removal beyond level (partial Spearman)",
            **common),
        LowBandRelevance(
            name="low-band-relevance", higher_is_better=True,
            display_name="Relevance below 500 Hz beyond amplitude (our reading of the paper's "
                         "sex hypothesis: < 500 Hz)",
            **common),
        FrequencyBands(
            name="frequency-bands",
            display_name="Frequency bands: relevance vs removal (Spearman)",
            higher_is_better=True, **common),
    ]
