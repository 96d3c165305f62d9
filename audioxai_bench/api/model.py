"""The model-spec contract: what ``audioxai_bench_models()`` objects are.

A model spec names an architecture, the representation it reads, its input shape, how to build
it and how to train it: ``presets`` maps a preset name (``"cpu"``, ``"paper"``) to a
:class:`~audioxai_bench.models.train.TrainConfig`, and ``cpu_width`` is the width the ``cpu``
preset trains. A plugin model is trained, cached and loaded exactly like the built-in ones.
An optional integer ``revision`` enters the trained model's cache key where it is not 0: raise
it when the same recipe now trains to other numbers through code the key does not see (the
key holds the digest of this package and of the spec's plugin files, as the score cache's).
A preset that centres the training input (``TrainConfig.input_centre``, ``input_scale``)
needs the built model to name the layer that reads the input, ``input_layer`` (an
``nn.Linear`` or unpadded ``nn.Conv2d``): the centring is folded into it after training, so
the model still takes the raw input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from torch import nn


@runtime_checkable
class ModelSpec(Protocol):
    """The duck type of a model spec (see :mod:`audioxai_bench.builtin.models`)."""

    name: str
    representation: str
    input_shape: tuple[int, ...]
    cpu_width: float
    presets: Mapping[str, Any]

    def build(self, n_classes: int, width: float = 1.0) -> nn.Module: ...
