"""The explainer contract: what ``audioxai_bench_explainers()`` objects are and owe the harness.

An explainer is any object with ``name: str``, ``representations`` (a subset of
:data:`REPRESENTATIONS`) and ``explain(model, x, target) -> Tensor`` returning relevance of
exactly ``x.shape`` on ``x.device``, leaving the model as it found it (:class:`Explainer`).
:class:`BaseExplainer` is an optional helper that adds eval mode, gradients and detaching, and
makes parameters data (``with_params`` builds the variants a benchmark YAML asks for). The
harness enforces the contract around every call (:mod:`audioxai_bench.guard`).

"Absent" has one meaning in the suite: :func:`silence_of`. It is THE reference of every method
that explains relative to a reference input (gradient × input, the LRP input layer, integrated
gradients, occlusion) and the value that deletion metrics write into removed inputs, so a plugin
that needs a reference should take it from there. It is exact for both representations: zero
for a waveform, and for a dB spectrogram the floor of the preprocessing, ``-DB_TOP`` = -80 dB,
the same for every sample (each spectrogram is dB relative to its own maximum, which is 0 dB,
floored 80 dB below; zero would be the *loudest* bin, Kindermans et al. 2019).
:func:`audioxai_bench.api.reference.relative_to` explains relative to it exactly, for methods
whose reference is implicitly x = 0 (gradient × input, LRP), by reparameterising the model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor, nn

from audioxai_bench.errors import AudioXaiError

#: The two input representations of the AudioMNIST models (and of any model the suite scores).
REPRESENTATIONS: frozenset[str] = frozenset({"waveform", "spectrogram"})


def silence_of(x: Tensor) -> Tensor:
    """The "absent" input of each sample, ``(B, 1, ...)`` broadcastable to ``x``: zero for a
    waveform batch ``(B, 1, T)``, the preprocessing's floor ``-DB_TOP`` (-80 dB) for a dB
    spectrogram batch ``(B, 1, F, T)``.

    The floor is a constant of the representation, not each sample's minimum: a sample with no
    bin at the floor (a clip that fills the window with sound) has a minimum above -80 dB, and
    taking that as silence would call a quiet but audible bin "absent".
    """
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    if x.dim() == 3:
        return x.new_zeros(shape)
    # imported here: the data layer pulls in torchaudio, which listing plugins does not need
    from audioxai_bench.data.preprocess import DB_TOP

    return x.new_full(shape, -DB_TOP)


def amplitude_of(x: Tensor) -> Tensor:
    """Loudness per input feature: ``|x|`` for waveforms, the level above silence (dB above the
    -80 dB floor) for dB spectrograms (the ``amplitude`` explainer and the paper's "loudest
    samples" order)."""
    if x.dim() == 3:
        return x.abs()
    return x - silence_of(x)


def null_relevance(shape: Sequence[int], generator: torch.Generator, *,
                   dtype: torch.dtype | None = None) -> Tensor:
    """The null's law, uniform on [-1, 1) on ``generator``'s device (the ``random`` explainer
    and the metric check's ``reference:random``). Signed, so a unit's summed relevance has mean
    0 whatever its size (from [0, 1) the smaller edge tiles of a spectrogram summed lowest and
    the null ranked them last). Its spread still grows with the size, so on AlexNet's grid the
    null puts the 3-bin edge tiles (6.8 % of the units) among its top 5 % less often when units
    are ranked by sum (deletion: 0.6 %) and more often by mean (sonification: 20 %) than the
    random controls, which draw units uniformly (science audit 4, F5); the shipped null rows
    show no effect beyond chance, as those tiles hold little of a clip."""
    return 2 * torch.rand(tuple(shape), generator=generator, dtype=dtype,
                          device=generator.device) - 1


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


def require_positive(owner: object, *names: str) -> None:
    """Fail naming the first of ``owner``'s parameters ``names`` that is not positive (tuples:
    every element), so a bad value stops where the explainer is made, not mid-run."""
    for key in names:
        values = getattr(owner, key)
        for v in values if isinstance(values, tuple) else (values,):
            if not v > 0:
                raise ValueError(f"{key} must be positive, got {values!r}")


def coerce_param(owner: str, key: str, current: Any, value: Any, *,
                 kind: str = "explainer", annotation: str = "float | None") -> Any:
    """Convert a YAML value to the type of the parameter it replaces, or fail naming the
    ``kind``, its name ``owner`` and the parameter, so a bad value stops a run before any work
    instead of failing every cell with a bare ``TypeError``. A parameter whose default is
    ``None`` goes by its field's ``annotation``: a number (LRP's box bounds) accepts YAML's
    ``"1e-6"`` and nothing else; any other optional field (``label: str | None``) takes the
    value as given."""
    if value is None:
        return value
    if current is None:
        numeric = "float" in annotation or "int" in annotation
        if not numeric or not isinstance(value, str):
            return value
        try:
            return float(value) if "float" in annotation else int(value)
        except ValueError:
            raise AudioXaiError(
                f"{kind} {owner!r}: parameter {key!r} must be a number, got {value!r}"
            ) from None
    if isinstance(current, tuple) and isinstance(value, (list, tuple)):
        if not current:  # nothing to compare the elements with
            return tuple(value)
        return tuple(coerce_param(owner, key, current[0], v, kind=kind) for v in value)
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
        f"{kind} {owner!r}: parameter {key!r} must be like {current!r}, got {value!r}"
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
        types = {f.name: str(f.type) for f in dataclasses.fields(self)}
        changes = {k: coerce_param(self.name, k, getattr(self, k), v, annotation=types[k])
                   for k, v in params.items()}
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
        raise NotImplementedError(f"{type(self).__name__} must implement attribute(model, x, "
                                  "target), which BaseExplainer.explain calls")
