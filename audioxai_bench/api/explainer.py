"""The explainer contract: what ``audioxai_bench_explainers()`` objects are and owe the harness.

An explainer is any object with ``name: str``, ``representations`` (a subset of
:data:`REPRESENTATIONS`) and ``explain(model, x, target) -> Tensor`` returning relevance of
exactly ``x.shape`` on ``x.device``, leaving the model as it found it (:class:`Explainer`).
:class:`BaseExplainer` is an optional helper that adds eval mode, gradients and detaching, and
makes parameters data (``with_params`` builds the variants a benchmark YAML asks for). The
harness enforces the contract around every call (:mod:`audioxai_bench.guard`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor, nn

from audioxai_bench.errors import AudioXaiError

#: The two input representations of the AudioMNIST models (and of any model the suite scores).
REPRESENTATIONS: frozenset[str] = frozenset({"waveform", "spectrogram"})


def silence_of(x: Tensor) -> Tensor:
    """The "absent" input of each sample, broadcastable to ``x``: zero for a waveform batch
    ``(B, 1, T)``, each sample's floor for a dB spectrogram batch ``(B, 1, F, T)`` (0 dB is the
    loudest bin, so zero would be a loud reference)."""
    if x.dim() == 3:
        return x.new_zeros((x.shape[0],) + (1,) * (x.dim() - 1))
    return x.amin(dim=spatial_dims(x), keepdim=True)


def amplitude_of(x: Tensor) -> Tensor:
    """Loudness per input feature: ``|x|`` for waveforms, the level above the floor for dB
    spectrograms (the ``amplitude`` explainer and the paper's "loudest samples" order)."""
    if x.dim() == 3:
        return x.abs()
    return x - silence_of(x)


@runtime_checkable
class Explainer(Protocol):
    """The duck type of an explainer (subclassing :class:`BaseExplainer` is optional)."""

    name: str
    representations: frozenset[str]

    def explain(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor: ...


_E = TypeVar("_E", bound="BaseExplainer")


@contextmanager
def explaining(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (no dropout) for an explanation, then restore every module's mode.

    Explanations describe the deployed model; dropout would make them random. The mode is
    restored per module, so a caller that mixes modes gets back exactly what it had.
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def spatial_dims(x: Tensor) -> tuple[int, ...]:
    """The non-batch dimensions of ``x`` (for per-sample reductions)."""
    return tuple(range(1, x.dim()))


def coerce_param(owner: str, key: str, current: Any, value: Any) -> Any:
    """Convert a YAML value to the type of the parameter it replaces, or fail naming both."""
    if value is None:
        return value
    if current is None:  # an optional number (e.g. LRP box bounds): accept YAML's "1e-6"
        try:
            return float(value) if isinstance(value, str) else value
        except ValueError:
            raise AudioXaiError(
                f"explainer {owner!r}: parameter {key!r} must be a number, got {value!r}"
            ) from None
    if isinstance(current, tuple) and isinstance(value, (list, tuple)):
        return tuple(coerce_param(owner, key, current[0] if current else None, v) for v in value)
    if isinstance(current, bool) or isinstance(value, bool):
        if isinstance(current, bool) and isinstance(value, bool):
            return value
    elif isinstance(current, float) and isinstance(value, (int, float, str)):
        try:
            return float(value)  # YAML reads 1e-6 (no dot) as a string
        except ValueError:
            pass
    elif isinstance(current, int) and isinstance(value, int):
        return value
    elif isinstance(current, str) and isinstance(value, str):
        return value
    raise AudioXaiError(
        f"explainer {owner!r}: parameter {key!r} must be like {current!r}, got {value!r}"
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class BaseExplainer:
    """Optional base class: a frozen dataclass whose fields are the method's parameters.

    Subclasses implement :meth:`attribute`; :meth:`explain` adds the contract every explainer
    owes the harness (eval mode restored, gradients enabled, input and result detached).
    Parameters are the dataclass fields other than ``name``, ``display_name`` and
    ``representations``; :meth:`with_params` makes a variant, as a benchmark YAML asks.
    """

    name: str
    display_name: str = ""
    representations: frozenset[str] = REPRESENTATIONS

    _META: ClassVar[tuple[str, ...]] = ("name", "display_name", "representations")

    @property
    def params(self) -> dict[str, Any]:
        """The method's parameters, for result records and config hashes."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in self._META
        }

    def with_params(self: _E, **params: Any) -> _E:
        """A copy with some parameters (and ``name``/``display_name``) replaced.

        Values are converted to the type of the parameter they replace (YAML lists become
        tuples, ints become floats); an unknown parameter fails with the list of valid ones.
        """
        valid = ["name", "display_name", *self.params]
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise AudioXaiError(
                f"explainer {self.name!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"valid: {', '.join(valid)}"
            )
        changes = {k: coerce_param(self.name, k, getattr(self, k), v) for k, v in params.items()}
        try:
            return dataclasses.replace(self, **changes)
        except (TypeError, ValueError) as exc:
            raise AudioXaiError(f"explainer {self.name!r}: {exc}") from None

    def passes(self, input_shape: tuple[int, ...]) -> int:
        """Forward+backward passes per sample (occlusion: forward only) for ``input_shape``."""
        return 1

    def explain(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        """Relevance of every input feature of ``x`` for class ``target``, in ``x.shape``."""
        with explaining(model), torch.enable_grad():
            return self.attribute(model, x.detach(), target).detach()

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        """Compute relevance; the model is in eval mode and ``x`` is detached."""
        raise NotImplementedError
