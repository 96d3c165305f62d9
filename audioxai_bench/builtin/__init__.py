"""Built-in plugins, registered through the same hooks as outside packages.

:data:`BUILTIN_PLUGINS` is the one list of built-in plugin modules; the plugin manager registers
each under the name ``builtin.<module>`` (block one by that name). :class:`BaseExplainer` is an
optional helper for explainers: plugins may use it, but any object with ``name``,
``representations`` and ``explain`` is an explainer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from audioxai_bench.errors import AudioXaiError

#: The built-in plugin modules, in registration order (earlier wins a name clash).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "audioxai_bench.builtin.explainers_lrp",
    "audioxai_bench.builtin.explainers_captum",
    "audioxai_bench.builtin.explainers_baseline",
    "audioxai_bench.builtin.models",
    "audioxai_bench.builtin.sonifiers",
    "audioxai_bench.builtin.metrics_manipulation",
    "audioxai_bench.builtin.metrics_randomisation",
    "audioxai_bench.builtin.metrics_complexity",
    "audioxai_bench.builtin.metrics_bands",
    "audioxai_bench.builtin.metrics_runtime",
    "audioxai_bench.builtin.metrics_sonification",
)

#: Both input representations of the AudioMNIST models.
BOTH: frozenset[str] = frozenset({"waveform", "spectrogram"})

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


def _coerce(owner: str, key: str, current: Any, value: Any) -> Any:
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
        return tuple(_coerce(owner, key, current[0] if current else None, v) for v in value)
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
    representations: frozenset[str] = BOTH

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
        changes = {k: _coerce(self.name, k, getattr(self, k), v) for k, v in params.items()}
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
