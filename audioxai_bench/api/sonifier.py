"""The sonifier contract: what ``audioxai_bench_sonifiers()`` objects are.

A sonifier turns relevance into sound a person can listen to (the paper's audible heatmaps):
``sonify(waveform, relevance, representation) -> Tensor`` takes the ``(B, 8000)`` padded 8 kHz
signals the model input came from and relevance in the model input's shape and returns a
``(B, 8000)`` waveform (:class:`Sonifier`). The suite scores it by what the model still hears in
the sound (:mod:`audioxai_bench.evaluation.sonification`).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor

from audioxai_bench.api.explainer import REPRESENTATIONS
from audioxai_bench.errors import AudioXaiError

#: Sonifier names no sonifier may take: the page's example sounds are files named
#: ``<sample>__<sonifier>.wav`` beside the clip's own ``<sample>__original.wav``.
RESERVED_SONIFIERS: dict[str, str] = {
    "original": "the file of each example's original sound (<sample>__original.wav)",
}


@runtime_checkable
class Sonifier(Protocol):
    """The duck type of a sonifier (subclassing :class:`BaseSonifier` is optional)."""

    name: str

    def sonify(self, waveform: Tensor, relevance: Tensor, representation: str) -> Tensor: ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class BaseSonifier:
    """Optional base: checks shapes and the representation, then calls :meth:`render`.

    ``domain`` says where the sonifier masks (``"time"`` or ``"stft"``); the sonification scores
    draw their random control mask there.
    """

    name: str
    display_name: str = ""
    representations: frozenset[str] = REPRESENTATIONS
    domain: ClassVar[str] = "time"

    def sonify(self, waveform: Tensor, relevance: Tensor, representation: str) -> Tensor:
        """``(B, samples)`` sound of ``relevance`` for the padded signals ``waveform``."""
        if representation not in self.representations:
            raise AudioXaiError(f"sonifier {self.name!r} does not take {representation} "
                                f"relevance; it declares {', '.join(sorted(self.representations))}")
        if waveform.dim() != 2 or relevance.shape[0] != waveform.shape[0]:
            raise AudioXaiError(f"sonifier {self.name!r}: waveform must be (B, samples) and "
                                f"relevance (B, ...), got {tuple(waveform.shape)} and "
                                f"{tuple(relevance.shape)}")
        if representation == "waveform" and relevance[:, 0].shape != waveform.shape:
            raise AudioXaiError(f"sonifier {self.name!r}: waveform relevance must be "
                                f"(B, 1, {waveform.shape[1]}), got {tuple(relevance.shape)}")
        out = self.render(waveform, relevance.detach(), representation)
        return out.to(waveform.dtype)

    def render(self, waveform: Tensor, relevance: Tensor, representation: str) -> Tensor:
        """The ``(B, samples)`` sound; shapes and the representation are checked already."""
        raise NotImplementedError(f"{type(self).__name__} must implement render(waveform, "
                                  "relevance, representation), which BaseSonifier.sonify calls")


def sound_of(sonifier: Sonifier, waveform: Tensor, relevance: Tensor, representation: str
             ) -> Tensor:
    """``sonifier.sonify(...)`` in ``waveform``'s dtype, checked: the signals' shape and finite
    (a NaN sound would score NaN as an undefined sample, and play as full-scale DC)."""
    name = getattr(sonifier, "name", type(sonifier).__name__)
    sound = sonifier.sonify(waveform, relevance, representation)
    problem = sound_problem(sound, waveform)
    if problem is not None:
        raise AudioXaiError(f"sonifier {name!r} {problem[1]}")
    return sound.to(waveform.dtype)


def sound_problem(sound: object, waveform: Tensor) -> tuple[str, str] | None:
    """Why ``sound``, a sonifier's result for ``waveform``, cannot be played, as ``(kind,
    reason)`` (the guard's kinds ``shape``, ``non-finite``), or None."""
    if not isinstance(sound, Tensor) or sound.shape != waveform.shape:
        got = tuple(sound.shape) if isinstance(sound, Tensor) else type(sound).__name__
        return "shape", f"returned {got}, expected {tuple(waveform.shape)}"
    if not bool(torch.isfinite(sound).all()):
        return "non-finite", (f"returned {int((~torch.isfinite(sound)).sum())} NaN/Inf "
                              f"sample(s) of {sound.numel()}: a sound must be finite")
    return None
