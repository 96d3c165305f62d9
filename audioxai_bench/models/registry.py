"""The reference models by name, so configs, the CLI and checkpoints can refer to them.

Like lm-evaluation-harness's registry: one spelling per model, and an unknown name fails with the
list of valid names.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from torch import nn

from audioxai_bench.errors import AudioXaiError
from audioxai_bench.models.alexnet import AlexNetSpectrogram
from audioxai_bench.models.audionet import AudioNet

#: Model classes by registry name (read-only).
MODELS: MappingProxyType[str, type[nn.Module]] = MappingProxyType(
    {"audionet": AudioNet, "alexnet": AlexNetSpectrogram}
)
#: Valid model names, in a stable order.
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


class ModelError(AudioXaiError, ValueError):
    """An unknown model name, options it does not take, or an unusable checkpoint.

    A ``ValueError`` for callers, and an ``AudioXaiError`` so the CLI prints it as one line.
    """


def get_model_class(name: str) -> type[nn.Module]:
    """Return the class registered as ``name`` (to read ``representation``/``input_shape``)."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ModelError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}") from None


def build_model(name: str, n_classes: int, width: float = 1.0, **options: Any) -> nn.Module:
    """Build a freshly initialised model by registry name.

    ``options`` are further constructor arguments (``hidden_activation`` for AudioNet); one the
    model does not take raises :class:`ModelError` rather than a bare ``TypeError``.
    """
    cls = get_model_class(name)
    try:
        return cls(n_classes=n_classes, width=width, **options)
    except TypeError as exc:
        raise ModelError(f"bad options for model {name!r}: {exc}") from None
