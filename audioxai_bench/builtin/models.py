"""The reference models of the AudioMNIST paper as model-spec plugin objects.

A model spec tells the runner what a model eats (representation, input shape) and how to build
it; the architectures live in :mod:`audioxai_bench.models`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.models import CPU_WIDTH, MODEL_NAMES, build_model, get_model_class

_DISPLAY = {"audionet": "AudioNet (waveform)", "alexnet": "AlexNet (spectrogram)"}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A buildable model: ``name``, ``representation``, ``input_shape`` (no batch dimension).

    ``cpu_width`` is the width multiplier recommended for CPU runs.
    """

    name: str
    representation: str
    input_shape: tuple[int, ...]
    display_name: str = ""
    cpu_width: float = 1.0

    def build(self, n_classes: int, width: float = 1.0, **options: Any) -> nn.Module:
        """A freshly initialised model with ``n_classes`` outputs at ``width``."""
        return build_model(self.name, n_classes, width, **options)


@hookimpl
def audioxai_bench_models() -> list[ModelSpec]:
    """AudioNet (waveform) and the AlexNet-style spectrogram net."""
    specs = []
    for name in MODEL_NAMES:
        cls = get_model_class(name)
        specs.append(
            ModelSpec(
                name=name,
                representation=cls.representation,
                input_shape=tuple(cls.input_shape),
                display_name=_DISPLAY.get(name, name),
                cpu_width=CPU_WIDTH.get(name, 1.0),
            )
        )
    return specs
