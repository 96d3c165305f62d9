"""Objective scores of a sonifier: what the model still hears in the sonified sound.

The AudioMNIST paper asked people whether audible heatmaps help (Becker et al., arXiv
1807.03418); this module asks the model. Two engines live here.

**Matched-size scores** (:func:`score_matched_masks`, the ranked ones). The explanation's
top-f units go through the sonifier and are played back to the model, next to random units of
the same number, so that the score is the gain of the explainer's map over a random map of the
same size under the same sonifier. Precisely, per sample:

- *Units*: 10 ms blocks (80 samples) of a waveform map, 8 x 8-bin patches of the model's
  227 x 227 spectrogram grid (the last row and column of patches are 3 bins wide). A unit is
  *active* when it holds sound: its mean amplitude (:func:`~audioxai_bench.api.explainer.
  amplitude_of`, |x| or dB above the floor) exceeds 1e-6 of the loudest unit's. Padding is
  exact silence, so the 40-45 % of units that are padding never count (review H4).
- *Ranking*: active units by their relevance sum, less the sample's mean relevance per
  active feature, over the square root of their size (:meth:`Units.evidence`), ties in a
  seeded random order; silent units never rank. On the spectrogram grid the edge patches are
  smaller, and a map without information must pick every unit as often as the random control
  does: a noise map (the ``random`` explainer) put edge patches in 20 % of its top 5 % by mean
  relevance (6.8 % of the units), in 0.6 % by sum, and now in 7.4 %; a constant or ``|noise|``
  map, which a sum over the root without the mean taken off never let pick one, now 7.1-7.4 %
  (science audit 4, F5; review of session 19). The loudest units of the amplitude control are
  ranked alike, so the ``amplitude`` explainer's map is that control.
- For each fraction f (5, 10, 20, 40 %), k = max(1, round(f x active units)). The *map* of a
  unit set is 1 on its units and 0 elsewhere, in the relevance's shape. Masked-in sound:
  ``sonifier.sonify(signals, map(top-k units), representation)``; masked-out sound:
  ``signals - masked-in`` (every built-in sonifier masks or weights the signal, so this is the
  sound with the explanation removed). The *random control*: the same with k active units in a
  seeded random order, ``controls`` times (4 by default); the *amplitude control*: the k
  loudest active units.
- Every sound is classified through the model's own preprocessing at its clip's level
  (:func:`~audioxai_bench.data.preprocess.to_model_input`: divided by the clip's 95th
  percentile, in dB relative to the clip's peak), as loud as it is in the clip; at its own level
  a sound of a few units had a 95th percentile of 0 and was divided by 0.001, up to a million
  times the clip's scale. It is scored by the probability of the
  class the map *explains*: the true label, the class every explainer is asked about (review
  M5). L-MAC explains and scores the model's clean prediction; scoring the prediction here
  would score a map of the label against another class on every misclassified clip (14-32 %
  on digit · AudioNet). Where the two differ is kept per sample (``explains-predicted-class``).

Why 0/1 maps and not the relevance values: graded values let the kept size depend on how
heavy-tailed a map is (review section 2, point 3: soft masks kept 0-81 % of the energy by
explainer), which is the confound this score removes; with 0/1 maps the explainer and its
controls keep exactly as many units under every sonifier, and the controls do not depend on the
explainer, so every explainer is compared with the same control. The explainer's graded
information still counts through the ranking at four sizes. A sonifier that caps what it keeps
(``keep-top``, ``spectrogram-keep-top`` at 20 % of samples or bins) plays at most its cap, for
the explainer and the controls alike; below its cap it plays what its uncapped sibling plays
(on spectrogram maps ``spectrogram-keep-top`` and ``spectrogram-mask`` give the same sounds
until the kept units exceed 20 % of the bins). The controls' mean is one draw shared by every
explainer of a batch: its sampling error is a common offset of all their gains, which more
``controls`` shrink.

Sufficiency gain = mean over f of p(masked-in) - p(random-in); comprehensiveness gain = mean
over f of p(random-out) - p(masked-out), with p(random-...) the mean over the controls (ERASER,
DeYoung et al. 2020, against a matched control). Both are 0 in expectation for a map that
carries no information (the ``random`` explainer) and positive when the map finds what the
model uses. The L-MAC quantities (Paissan et al. 2024, "Listenable maps for audio
classifiers", ICML) at one fraction follow SpeechBrain's definitions (see
:func:`lmac_quantities`).

The *model-input reference* (``sonifier=None``) applies the same unit sets in the model input,
silence elsewhere, with no sound made: the gains a sonifier is compared with (review H1). An
exact 0/1 gate as sound gives the model exactly that input, so the difference is the
sonifier's own doing: it spreads each kept unit into its neighbours (a smoothed gate, the
STFT's window), which lifts scattered unit sets, the random controls above all, more than
contiguous ones (``benchmarks/bench_sonifier_leakage.py``).

**Energy-matched scores** (:func:`evaluate_sonifier`, kept as descriptive listening aids). A
sonified sound that carries the explanation should still be recognised when played alone, its
complement should not, and it should do better than a random mask that keeps the same share of
the signal's energy. The review (H1) showed why these did not separate explainers when each
sound was heard at its own level: both model inputs then ignore overall gain, and a white
random STFT mask acts as a near-uniform gain.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import amplitude_of, explaining, silence_of
from audioxai_bench.api.metric import DEFAULT_CHUNK
from audioxai_bench.api.sonifier import sound_of
from audioxai_bench.data.preprocess import clip_level, istft, stft, to_model_input
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.randomness import hashed_keys, hashed_uniform
from audioxai_bench.evaluation.summary import true_class_scores
from audioxai_bench.reproducibility import cumsum


@dataclasses.dataclass(frozen=True, eq=False)
class SonificationScores:
    """Per-sample ``(B,)`` float64 results of :func:`evaluate_sonifier`.

    ``probability``/``correct``: true class on the sonified sound alone; ``complement_*``: on
    ``signal - sonified``; ``random_*``: on the random control; ``kept_energy``: energy of the
    sonified sound over that of the signal; ``random_kept_energy``: the same for the control.
    """

    probability: Tensor
    correct: Tensor
    complement_probability: Tensor
    complement_correct: Tensor
    random_probability: Tensor
    random_correct: Tensor
    kept_energy: Tensor
    random_kept_energy: Tensor

    def as_dict(self) -> dict[str, Tensor]:
        """Every field by a record-friendly name (``"complement/probability"``, ...)."""
        return {
            "sonified/probability": self.probability,
            "sonified/accuracy": self.correct,
            "complement/probability": self.complement_probability,
            "complement/accuracy": self.complement_correct,
            "random/probability": self.random_probability,
            "random/accuracy": self.random_correct,
            "kept-energy": self.kept_energy,
            "random/kept-energy": self.random_kept_energy,
            "gap/probability": self.probability - self.random_probability,
            "gap/accuracy": self.correct - self.random_correct,
        }


def random_energy_masker(energy: Tensor, seed: int) -> Callable[[Tensor], Tensor]:
    """A function ``fraction -> (B, N)`` 0/1 mask over units with energies ``energy`` that keeps
    about ``fraction[i]`` of row i's energy, taking units in one seeded random order (the same
    for every sonifier). The order is drawn and sorted once, however many fractions are asked."""
    b, n = energy.shape
    order = hashed_keys(seed, torch.arange(b, device=energy.device), n, stream=31).argsort(dim=1)
    e = energy.gather(1, order)
    total = e.sum(dim=1, keepdim=True)
    before = cumsum(e, dim=1) - e / 2  # midpoint rule: keep a unit if half of it still fits

    def mask(fraction: Tensor) -> Tensor:
        keep = (before < fraction[:, None].to(e.dtype) * total).to(energy.dtype)
        return torch.zeros_like(keep).scatter_(1, order, keep)

    return mask


def energy_matched_random_mask(energy: Tensor, fraction: Tensor, seed: int) -> Tensor:
    """``(B, N)`` 0/1 mask keeping about ``fraction[i]`` of row i's energy in a seeded random
    order of the units (see :func:`random_energy_masker`)."""
    return random_energy_masker(energy, seed)(fraction)


def random_control(signals: Tensor, fraction: Tensor, domain: str, seed: int,
                   iterations: int = 8) -> Tensor:
    """Signals masked at random in ``domain`` so that the resulting sound keeps about
    ``fraction`` of each signal's energy.

    ``"time"``: random samples, taken until their energy reaches the fraction. ``"stft"``: random
    bins of the model's STFT, inverted with the original phase. Overlap-add averages a random
    mask over the 13 frames that cover a sample, so a mask holding a share q of the STFT energy
    gives a sound with about q² of the energy; q is found per signal by bisection (masks for
    different q are nested, so the kept energy grows with q). Eight steps place q within
    1/256, well inside the spread of the energies kept by the sonifiers it is compared with.
    """
    if domain != "stft":
        mask = energy_matched_random_mask(signals.double().square(), fraction, seed)
        return (signals.double() * mask).to(signals.dtype)
    spec = stft(signals)
    energy = spec.abs().square().flatten(1)
    target = fraction.to(energy)
    masker = random_energy_masker(energy, seed)
    low, high = torch.zeros_like(target), torch.ones_like(target)
    sound = signals.new_zeros(signals.shape)
    for _ in range(iterations):
        q = (low + high) / 2
        mask = masker(q)
        sound = istft(spec * mask.view(spec.shape), signals.shape[-1])
        above = kept_energy(sound, signals) > target
        high, low = torch.where(above, q, high), torch.where(above, low, q)
    return sound.to(signals.dtype)


def kept_energy(sonified: Tensor, signals: Tensor) -> Tensor:
    """``(B,)`` energy of ``sonified`` over that of ``signals`` (0 for a silent signal)."""
    total = signals.double().square().sum(dim=1)
    kept = sonified.double().square().sum(dim=1)
    return torch.where(total > 0, kept / total.where(total > 0, torch.ones_like(total)), kept * 0)


def _classify(model: nn.Module, sounds: Tensor, level: Tensor, target: Tensor,
              representation: str, chunk_size: int, dtype: torch.dtype
              ) -> tuple[Tensor, Tensor]:
    """True-class probability and correctness of sounds, preprocessed at their clips' ``level``
    and run in chunks."""
    prob, correct = [], []
    with explaining(model), torch.no_grad():
        for start in range(0, len(sounds), chunk_size):
            part = slice(start, start + chunk_size)
            x = to_model_input(sounds[part], representation, level[part]).to(dtype)
            t = target[start: start + chunk_size]
            p, hit = true_class_scores(model(x), t)
            prob.append(p.cpu())
            correct.append(hit.cpu())
    return torch.cat(prob), torch.cat(correct)


def evaluate_sonifier(
    sonifier: Any,
    model: nn.Module,
    signals: Tensor,
    relevance: Tensor,
    target: Tensor,
    representation: str,
    *,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    dtype: torch.dtype = torch.float32,
) -> SonificationScores:
    """Score ``sonifier`` on a batch: the sonified sound, its complement and a random control.

    ``signals`` are the ``(B, samples)`` padded 8 kHz waveforms the model input came from and
    ``relevance`` the explanation in the model input's shape. The control masks in the
    sonifier's ``domain`` (``"time"`` when it declares none) and keeps the sonified sound's
    energy share.
    """
    signals = signals.to(relevance.device)
    sonified = sound_of(sonifier, signals, relevance, representation)
    kept = kept_energy(sonified, signals)
    control = random_control(signals, kept.clamp(0, 1).to(signals.device),
                             getattr(sonifier, "domain", "time"), seed)
    sounds = torch.cat([sonified, signals - sonified, control])
    level = clip_level(signals, representation)
    prob, correct = _classify(model, sounds, torch.cat([level] * 3), target.repeat(3),
                              representation, chunk_size, dtype)
    b = len(signals)
    return SonificationScores(
        probability=prob[:b], correct=correct[:b],
        complement_probability=prob[b: 2 * b], complement_correct=correct[b: 2 * b],
        random_probability=prob[2 * b:], random_correct=correct[2 * b:],
        kept_energy=kept.cpu(), random_kept_energy=kept_energy(control, signals).cpu(),
    )


# --- matched-size scores ------------------------------------------------------------------------

#: Kept fractions of the active units (of each sample) the matched scores are read at.
FRACTIONS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
#: 10 ms at 8 kHz: the waveform unit.
WAVEFORM_BLOCK = 80
#: Bins x frames of a spectrogram unit: 8 bins (141 Hz) by 8 frames (35 ms).
PATCH: tuple[int, int] = (8, 8)
#: A unit holds sound when its mean amplitude exceeds this share of the loudest unit's.
ACTIVE_SHARE = 1e-6
#: The name of :func:`score_matched_masks`' reference without a sonifier: the unit sets
#: applied in the model input.
INPUT = "model input"
#: Random-stream numbers of :func:`~audioxai_bench.evaluation.randomness.hashed_uniform`.
_TIES, _CONTROLS = 61, 67


@dataclasses.dataclass(frozen=True, eq=False)
class Units:
    """A partition of a model input's features into units (blocks or patches).

    ``index[j]`` is the unit of flattened feature j (channels share a unit); ``label`` names
    the unit for records (``"block 80"``, ``"patch 8x8"``).
    """

    index: Tensor
    count: int
    label: str

    @classmethod
    def of(cls, shape: tuple[int, ...], *, block: int = WAVEFORM_BLOCK,
           patch: tuple[int, int] = PATCH, device: torch.device | str = "cpu") -> Units:
        """Units of one sample of ``shape``: ``(C, T)`` in blocks, ``(C, H, W)`` in patches."""
        if len(shape) == 2:
            c, t = shape
            index = (torch.arange(t, device=device) // block).repeat(c)
            return cls(index, -(-t // block), f"block {block}")
        if len(shape) == 3:
            c, h, w = shape
            ph, pw = patch
            cols = -(-w // pw)
            tile = (torch.arange(h, device=device)[:, None] // ph * cols
                    + torch.arange(w, device=device)[None, :] // pw)
            return cls(tile.flatten().repeat(c), -(-h // ph) * cols, f"patch {ph}x{pw}")
        raise AudioXaiError(f"units: expected a (C, T) or (C, H, W) sample, got {shape}")

    def mean(self, values: Tensor) -> Tensor:
        """``(B, count)`` mean of ``(B, ...)`` feature values over each unit."""
        total, size = self._sums(values)
        return total / size

    def evidence(self, values: Tensor, active: Tensor) -> Tensor:
        """``(B, count)`` the ranking statistic of ``(B, ...)`` feature values: each unit's
        sum of the values minus the sample's mean over its ``active`` units' features, over the
        root of the unit's size. For a map of independent noise about any level (a constant,
        ``|noise|``, noise) every unit then ranks first equally often whatever its size: a mean
        favours small noisy units, a sum (or a sum over the root without the mean taken off)
        large ones, and a sum over the root left a constant map no small unit at all."""
        total, size = self._sums(values)
        inside = active.to(total)
        level = (total * inside).sum(dim=1, keepdim=True) / (size * inside).sum(
            dim=1, keepdim=True).clamp_min(1)
        return (total - level * size) / size.sqrt()

    def _sums(self, values: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, count)`` float64 sums of ``(B, ...)`` values over each unit, and the sizes."""
        flat = values.flatten(1).double()
        total = flat.new_zeros(flat.shape[0], self.count).index_add_(1, self.index, flat)
        return total, torch.bincount(self.index, minlength=self.count).to(flat)

    def spread(self, unit_values: Tensor, shape: tuple[int, ...]) -> Tensor:
        """``(N, *shape)`` feature map holding each unit's value on its features."""
        return unit_values[:, self.index].view(len(unit_values), *shape)


def active_units(loudness: Tensor) -> Tensor:
    """``(B, units)`` True where a unit's mean amplitude ``loudness`` exceeds
    :data:`ACTIVE_SHARE` of the sample's loudest unit (padding, exact silence, never counts)."""
    peak = loudness.amax(dim=1, keepdim=True)
    return (loudness > ACTIVE_SHARE * peak) & (peak > 0)


def unit_ranks(scores: Tensor, active: Tensor, ties: Tensor) -> Tensor:
    """``(B, units)`` position of each unit when active units are sorted by ``scores``
    (highest first, equal scores in the order of ``ties``); silent units come after them all."""
    order = ties.argsort(dim=1)
    key = scores.double().nan_to_num(nan=-math.inf)  # an undefined score ranks last...
    order = order.gather(1, key.gather(1, order).argsort(dim=1, descending=True, stable=True))
    silent = (~active).gather(1, order).to(torch.uint8)  # ...of the active units
    order = order.gather(1, silent.argsort(dim=1, stable=True))
    return torch.empty_like(order).scatter_(
        1, order, torch.arange(order.shape[1], device=order.device).expand_as(order).contiguous())


def kept_counts(n_active: Tensor, fractions: Sequence[float]) -> Tensor:
    """``(B, K)`` units kept at each fraction: max(1, round(f x active)), 0 without sound."""
    f = torch.tensor(fractions, dtype=torch.float64, device=n_active.device)
    k = (f[None, :] * n_active[:, None].double()).round().clamp_min(1).long()
    return torch.where(n_active[:, None] > 0, k, torch.zeros_like(k))


@dataclasses.dataclass(frozen=True, eq=False)
class MaskedSounds:
    """Model verdicts on masked-in and masked-out sounds, ``(B, ..., K)`` float64 on the CPU.

    ``p_in``/``p_out``: probability of the scored class; ``hit_in``: the masked-in sound is
    classified as the scored class (1/0); ``kept_in``: the masked-in sound's energy
    over the signal's.
    """

    p_in: Tensor
    p_out: Tensor
    hit_in: Tensor
    kept_in: Tensor

    def apply(self, fn: Callable[[Tensor], Tensor]) -> MaskedSounds:
        """The same results with ``fn`` applied to each tensor (a selection, a mean)."""
        return MaskedSounds(*(fn(getattr(self, f.name)) for f in dataclasses.fields(self)))

    def mean_over_controls(self) -> MaskedSounds:
        """Average ``(B, C, K)`` control results over the C controls."""
        return self.apply(lambda v: v.mean(dim=1))


@dataclasses.dataclass(frozen=True, eq=False)
class MatchedScores:
    """Result of :func:`score_matched_masks` for one batch (all tensors on the CPU).

    ``explainer``/``amplitude``: ``(B, K)``; ``random``: ``(B, C, K)``, one row per control;
    ``predicted``: the clean prediction; ``p_clean``: the clean probability of the explained
    class; ``n_active``: units holding sound; ``units``: the unit's name.
    """

    fractions: tuple[float, ...]
    predicted: Tensor
    p_clean: Tensor
    n_active: Tensor
    explainer: MaskedSounds
    random: MaskedSounds
    amplitude: MaskedSounds
    units: str

    def _undefined(self, values: Tensor) -> Tensor:
        return values.where(self.n_active > 0, torch.full_like(values, math.nan))

    def sufficiency_gain(self, against: str = "random") -> Tensor:
        """``(B,)`` mean over fractions of p(masked-in) - p(control-in)."""
        control = self._control(against)
        return self._undefined((self.explainer.p_in - control.p_in).mean(dim=1))

    def comprehensiveness_gain(self, against: str = "random") -> Tensor:
        """``(B,)`` mean over fractions of p(control-out) - p(masked-out)."""
        control = self._control(against)
        return self._undefined((control.p_out - self.explainer.p_out).mean(dim=1))

    def _control(self, against: str) -> MaskedSounds:
        if against == "random":
            return self.random.mean_over_controls()
        if against == "amplitude":
            return self.amplitude
        raise ValueError(f"unknown control {against!r}; valid: random, amplitude")

    def at(self, fraction: float) -> int:
        """Column of ``fraction`` in the curves."""
        try:
            return self.fractions.index(fraction)
        except ValueError:
            raise AudioXaiError(f"fraction {fraction} is not on the grid "
                                f"{self.fractions}") from None


def lmac_quantities(p_clean: Tensor, p_in: Tensor, hit_in: Tensor, p_out: Tensor
                    ) -> dict[str, Tensor]:
    """The L-MAC faithfulness quantities of one masked-in/masked-out pair, per sample.

    As SpeechBrain computes them (``recipes/ESC50/interpret/interpreter_brain.py``,
    ``compute_AI``/``compute_AD``/``compute_AG``/``compute_fidelity``/``compute_faithfulness``,
    called from ``train_lmac.py`` with softmax outputs), all on one class c with
    p = p_c(clean), o = p_c(masked-in); L-MAC's c is the clean prediction, the matched scores'
    the explained class (module docstring):

    - AI (average increase, %): 100 if o > p else 0 (higher is better);
    - AD (average drop, %): 100 ReLU(p - o) / p (lower is better);
    - AG (average gain, %): 100 ReLU(o - p) / (1 - p) (higher is better);
    - Fid-In (input fidelity): 1 if the masked-in sound is still classified as c;
    - FF (faithfulness): p - p_c(masked-out) (higher is better).

    SpeechBrain's ``compute_AD`` applies a softmax to inputs that are already probabilities;
    this follows the paper's formula (a drop of the probabilities themselves) instead.
    """
    eps = 1e-10
    return {
        "ai": 100.0 * (p_in > p_clean).double(),
        "ad": 100.0 * (p_clean - p_in).clamp_min(0) / (p_clean + eps),
        "ag": 100.0 * (p_in - p_clean).clamp_min(0) / (1 - p_clean + eps),
        "fid-in": hit_in.double(),
        "ff": p_clean - p_out,
    }


def score_matched_masks(
    sonifier: Any,
    model: nn.Module,
    signals: Tensor | None,
    x: Tensor,
    target: Tensor,
    relevance: Tensor,
    representation: str,
    *,
    fractions: Sequence[float] = FRACTIONS,
    controls: int = 4,
    block: int = WAVEFORM_BLOCK,
    patch: tuple[int, int] = PATCH,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    reuse: Callable[[Any, Callable[[], Any]], Any] | None = None,
) -> MatchedScores:
    """Play the top-f units of ``relevance``, and matched random and loudest units, through
    ``sonifier`` and score them on ``target``, the class the map explains (definitions: module
    docstring). With ``sonifier=None`` the same unit sets are applied in the model input
    instead, the rest at silence (:func:`~audioxai_bench.api.explainer.silence_of`): what the
    units carry before any sonifier turns them into sound, the reference a sonifier is judged
    against (review H1).

    ``x`` is the model input of ``signals`` (``(B, samples)`` padded 8 kHz waveforms; not
    needed without a sonifier) and
    ``relevance`` the explanation of ``target`` in ``x.shape``. ``reuse(key, compute)`` (e.g.
    :meth:`EvalBatch.reuse`) shares what does not depend on the relevance, the clean scores and
    the controls' sounds, between explainers; the controls come from ``seed`` and the sample's
    position in the batch.
    """
    fractions = tuple(float(f) for f in fractions)
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise AudioXaiError(f"kept fractions must lie in (0, 1], got {fractions}")
    if controls < 1:
        raise AudioXaiError(f"need at least one random control, got {controls}")
    if relevance.shape != x.shape:
        raise AudioXaiError(f"relevance has shape {tuple(relevance.shape)}, x has "
                            f"{tuple(x.shape)}")
    share = reuse or (lambda key, compute: compute())
    device, b = x.device, x.shape[0]
    signals = None if signals is None else signals.to(device)
    units = Units.of(tuple(x.shape[1:]), block=block, patch=patch, device=device)
    rows = torch.arange(b, device=device)
    target = target.to(device)
    setting = (fractions, controls, units.label, seed, tuple(target.tolist()))

    def clean() -> tuple[Tensor, Tensor, Tensor, Tensor]:
        with explaining(model), torch.no_grad():
            prob = torch.softmax(model(x).float(), dim=1).double()
        amplitude = amplitude_of(x)
        active = active_units(units.mean(amplitude))
        return prob.argmax(dim=1), prob.gather(1, target[:, None])[:, 0], active, \
            units.evidence(amplitude, active)

    predicted, p_clean, active, loudness = share(("sonified-clean", setting), clean)
    n_active = active.sum(dim=1)
    k = kept_counts(n_active, fractions)
    if sonifier is None:
        render = functools.partial(_mask_input, model, x, target, units, chunk_size)
    else:
        render = functools.partial(_play, sonifier, model, signals, target, units,
                                   tuple(x.shape[1:]), representation, chunk_size, x.dtype)

    def control_sounds() -> tuple[MaskedSounds, MaskedSounds]:
        ties = hashed_uniform(seed, rows, units.count, stream=_TIES)
        ranks = [unit_ranks(torch.zeros_like(loudness), active,
                            hashed_uniform(seed, rows, units.count, stream=_CONTROLS + c))
                 for c in range(controls)]
        ranks.append(unit_ranks(loudness, active, ties))
        sounds = render(torch.stack(ranks, dim=1), k)  # (B, C + 1, K)
        return sounds.apply(lambda v: v[:, :controls]), sounds.apply(lambda v: v[:, controls])

    name = INPUT if sonifier is None else getattr(sonifier, "name", type(sonifier).__name__)
    # the sonifier by value (its repr), so that the key holds in another process as well
    random, amplitude = share(("sonified-controls", name, repr(sonifier), setting),
                              control_sounds)
    ties = hashed_uniform(seed, rows, units.count, stream=_TIES)
    mine = render(unit_ranks(units.evidence(relevance, active), active, ties)[:, None], k)
    return MatchedScores(
        fractions=fractions, predicted=predicted.cpu(), p_clean=p_clean.cpu(),
        n_active=n_active.cpu(),
        explainer=mine.apply(lambda v: v[:, 0]),
        random=random, amplitude=amplitude, units=units.label)


def _play(sonifier: Any, model: nn.Module, signals: Tensor, target: Tensor, units: Units,
          shape: tuple[int, ...], representation: str, chunk_size: int, dtype: torch.dtype,
          ranks: Tensor, kept: Tensor) -> MaskedSounds:
    """Masked-in and masked-out sounds of the unit sets ``ranks < kept`` (``ranks``:
    ``(B, M, units)``, ``kept``: ``(B, K)``) through ``sonifier``, scored on ``target``;
    results ``(B, M, K)``. Maps and sounds are built ``chunk_size // 2`` at a time; the model
    hears them at their clip's level (:func:`~audioxai_bench.data.preprocess.to_model_input`).
    """
    level = clip_level(signals, representation)

    def verdicts(s: Tensor, keep: Tensor) -> tuple[Tensor, ...]:
        signal = signals[s]
        sound = sound_of(sonifier, signal, units.spread(keep.to(dtype), shape), representation)
        inputs = to_model_input(torch.cat([sound, signal - sound]), representation,
                                torch.cat([level[s]] * 2))
        p, hit = true_class_scores(model(inputs.to(dtype)), target[s].repeat(2))
        return p[:len(s)], p[len(s):], hit[:len(s)], kept_energy(sound, signal)

    return _collect(ranks, kept, chunk_size, model, verdicts)


def _mask_input(model: nn.Module, x: Tensor, target: Tensor, units: Units, chunk_size: int,
                ranks: Tensor, kept: Tensor) -> MaskedSounds:
    """:func:`_play` without sound: the unit sets kept in the model input ``x`` and the rest
    set to silence (masked-in), and the reverse (masked-out); ``kept_in`` is the masked-in
    input's share of the loudness (:func:`~audioxai_bench.api.explainer.amplitude_of`)."""
    silence = silence_of(x)

    def verdicts(s: Tensor, keep: Tensor) -> tuple[Tensor, ...]:
        keep = units.spread(keep, tuple(x.shape[1:]))
        sample, quiet = x[s], silence[s]
        inside, outside = sample.where(keep, quiet), quiet.where(keep, sample)
        p, hit = true_class_scores(model(torch.cat([inside, outside])), target[s].repeat(2))
        share = (amplitude_of(inside).flatten(1).double().sum(dim=1)
                 / amplitude_of(sample).flatten(1).double().sum(dim=1))
        return p[:len(s)], p[len(s):], hit[:len(s)], share

    return _collect(ranks, kept, chunk_size, model, verdicts)


def _collect(ranks: Tensor, kept: Tensor, chunk_size: int, model: nn.Module,
             verdicts: Callable[[Tensor, Tensor], tuple[Tensor, ...]]) -> MaskedSounds:
    """``verdicts(samples, keep)`` of the unit sets ``ranks < kept`` (``ranks``:
    ``(B, M, units)``, ``kept``: ``(B, K)``), ``chunk_size // 2`` sets at a time (each set is
    two model inputs), as :class:`MaskedSounds` of ``(B, M, K)``; ``keep`` is ``(n, units)``
    boolean, ``samples`` the batch rows of its sets."""
    b, m, _ = ranks.shape
    n_fractions = kept.shape[1]
    grid = torch.meshgrid(*(torch.arange(n, device=ranks.device) for n in (b, m, n_fractions)),
                          indexing="ij")
    sample, which, fraction = (g.flatten() for g in grid)
    results = torch.empty(4, len(sample), dtype=torch.float64)
    step = max(1, chunk_size // 2)
    with explaining(model), torch.no_grad():
        for start in range(0, len(sample), step):
            s, w, f = (v[start: start + step] for v in (sample, which, fraction))
            values = verdicts(s, ranks[s, w] < kept[s, f][:, None])
            results[:, start: start + len(s)] = torch.stack([v.double().cpu() for v in values])
    return MaskedSounds(*(r.view(b, m, n_fractions) for r in results))
