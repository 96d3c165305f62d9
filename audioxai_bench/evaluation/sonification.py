"""Objective scores of a sonifier: what the model still hears in the sonified sound.

The AudioMNIST paper asked people whether audible heatmaps help (Becker et al., arXiv
1807.03418); this module asks the model. A sonified sound that carries the explanation should
still be recognised when played alone (run back through the model's own preprocessing), its
complement (``signal - sonified``) should not, and it should do better than a random mask that
keeps the same share of the signal's energy. How much energy it keeps says how selective it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import explaining
from audioxai_bench.api.metric import DEFAULT_CHUNK
from audioxai_bench.data.preprocess import istft, stft, to_model_input
from audioxai_bench.evaluation.randomness import hashed_keys
from audioxai_bench.evaluation.summary import true_class_scores


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
    before = e.cumsum(dim=1) - e / 2  # midpoint rule: keep a unit if half of it still fits

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


def _classify(model: nn.Module, sounds: Tensor, target: Tensor, representation: str,
              chunk_size: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """True-class probability and correctness of sounds, preprocessed and run in chunks."""
    prob, correct = [], []
    with explaining(model), torch.no_grad():
        for start in range(0, len(sounds), chunk_size):
            x = to_model_input(sounds[start: start + chunk_size], representation).to(dtype)
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
    sonified = sonifier.sonify(signals, relevance, representation).to(signals.dtype)
    if sonified.shape != signals.shape:
        raise ValueError(f"sonifier {getattr(sonifier, 'name', sonifier)!r} returned "
                         f"{tuple(sonified.shape)}, expected {tuple(signals.shape)}")
    kept = kept_energy(sonified, signals)
    control = random_control(signals, kept.clamp(0, 1).to(signals.device),
                             getattr(sonifier, "domain", "time"), seed)
    sounds = torch.cat([sonified, signals - sonified, control])
    prob, correct = _classify(model, sounds, target.repeat(3), representation, chunk_size, dtype)
    b = len(signals)
    return SonificationScores(
        probability=prob[:b], correct=correct[:b],
        complement_probability=prob[b: 2 * b], complement_correct=correct[b: 2 * b],
        random_probability=prob[2 * b:], random_correct=correct[2 * b:],
        kept_energy=kept.cpu(), random_kept_energy=kept_energy(control, signals).cpu(),
    )
