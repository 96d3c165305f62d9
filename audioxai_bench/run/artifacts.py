"""What a run keeps between runs, keyed by content hashes: data, trained models, relevance.

Each artifact lives under :func:`audioxai_bench.data.cache.cache_root` at a name derived from
everything that determines it (a synthetic set from its parameters and the package version; a
model from the data fingerprint, architecture, width, task, split, training settings and seed;
relevance from the model's key, the explainer and its parameters and the samples). An artifact
appears only when complete (written aside, then renamed), so a killed run never leaves one that
a later run would trust.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..data.cache import cache_root
from ..data.dataset import AudioMNIST
from ..data.splits import N_CLASSES, female_speakers, select_speakers
from ..data.synth import synthesize_dataset
from ..errors import AudioXaiError
from ..hashing import config_hash
from ..models.checkpoint import read_checkpoint, save_atomic, save_checkpoint
from ..models.train import TrainConfig, TrainResult, train
from ..progress import ProgressFn

_DONE = ".complete"


def synthetic_data(speakers: int, reps: int, seed: int, progress: ProgressFn | None = None,
                   workers: int | None = None) -> tuple[Path, bool]:
    """The synthetic tree for these parameters, generated on first use; ``(root, was_cached)``.

    The package version is part of the key: a new generator never reuses an old tree.
    """
    key = config_hash({"speakers": speakers, "reps": reps, "seed": seed, "version": __version__})
    parent = cache_root() / "synth"
    root = parent / f"{speakers}x{reps}-seed{seed}-{key}"
    if (root / _DONE).exists():
        return root, True
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{root.name}."))
    try:
        synthesize_dataset(tmp, select_speakers(speakers), female_speakers(), reps=reps,
                           seed=seed, workers=workers, progress=progress)
        (tmp / _DONE).write_text("")
        if root.exists():  # an interrupted rename or a concurrent run: replace it
            shutil.rmtree(root)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root, False


@dataclasses.dataclass(frozen=True)
class ModelRecipe:
    """Everything that determines a trained reference model."""

    spec: Any  # a model spec registered through ``audioxai_bench_models``
    plugin: str  # ``name version`` of the plugin that registered the spec
    task: str
    fold: int
    width: float
    preset: str
    config: TrainConfig

    @property
    def key(self) -> str:
        train_settings = {k: v for k, v in self.config.to_dict().items()
                          if k not in ("device", "num_workers")}
        return config_hash({"model": self.spec.name, "plugin": self.plugin, "task": self.task,
                            "fold": self.fold, "width": self.width, "train": train_settings})

    def build(self) -> nn.Module:
        return self.spec.build(N_CLASSES[self.task], self.width)


def make_recipe(spec: Any, plugin: str, task: str, fold: int, preset: str, *,
                width: float | None = None, **overrides: Any) -> ModelRecipe:
    """The recipe for ``spec`` under ``preset``: the spec's own training settings for that
    preset with ``overrides``, at the spec's ``cpu_width`` for ``cpu`` (1.0 otherwise) unless
    ``width`` is given. A spec without the preset fails naming both."""
    presets = getattr(spec, "presets", None) or {}
    if preset not in presets:
        raise AudioXaiError(f"model {spec.name!r} ({plugin}) has no training preset {preset!r}; "
                            f"it declares {', '.join(sorted(presets)) or 'none'}")
    if width is None:
        width = getattr(spec, "cpu_width", 1.0) if preset == "cpu" else 1.0
    try:
        config = dataclasses.replace(presets[preset], **overrides)
    except (TypeError, ValueError) as exc:
        raise AudioXaiError(f"model {spec.name!r}, preset {preset!r}: {exc}") from None
    return ModelRecipe(spec, plugin, task, fold, float(width), preset, config)


def fit(recipe: ModelRecipe, data: AudioMNIST, path: Path,
        progress: ProgressFn | None = None,
        log: Callable[[str], None] | None = None,
        extra_meta: Mapping[str, Any] | None = None
        ) -> tuple[nn.Module, dict[str, Any], TrainResult]:
    """Train ``recipe`` on its split of ``data`` and save the checkpoint at ``path`` with its
    metadata (and ``extra_meta``); return the model, the metadata and the training result. ``log``
    hears the split sizes."""
    sets = data.fold(recipe.task, recipe.fold, recipe.spec.representation)
    if log is not None:
        log(f"{recipe.task} fold {recipe.fold}: {len(sets[0])} train / {len(sets[1])} validate "
            f"/ {len(sets[2])} test clips")
    torch.manual_seed(recipe.config.seed)
    model = recipe.build()
    result = train(model, *sets, recipe.config, progress=progress)
    meta = {"task": recipe.task, "fold": recipe.fold, "data_fingerprint": data.fingerprint,
            "preset": recipe.preset, "recipe": recipe.key, "seed": recipe.config.seed,
            "config": recipe.config.to_dict(), "val_accuracy": result.val_accuracy,
            "test_accuracy": result.test_accuracy,
            "selected_iteration": result.selected_iteration, "train_seconds": result.seconds,
            "model": recipe.spec.name, "n_classes": N_CLASSES[recipe.task],
            "width": recipe.width, **(extra_meta or {})}
    save_checkpoint(path, model, meta)
    return model, meta, result


def model_path(recipe: ModelRecipe, data_fingerprint: str) -> Path:
    key = config_hash({"recipe": recipe.key, "data": data_fingerprint})
    return cache_root() / "models" / f"{recipe.spec.name}-{recipe.task}-{recipe.fold}-{key}.pt"


def trained_model(recipe: ModelRecipe, data: AudioMNIST, device: torch.device,
                  progress: ProgressFn | None = None
                  ) -> tuple[nn.Module, dict[str, Any], bool]:
    """The trained model for ``recipe`` on ``data`` in eval mode on ``device``, its checkpoint
    meta, and whether it came from the cache."""
    path = model_path(recipe, data.fingerprint)
    if path.exists():
        state, meta = read_checkpoint(path)
        model = recipe.build()
        model.load_state_dict(state, strict=True)
        return model.to(device).eval(), meta, True
    model, meta, _ = fit(recipe, data, path, progress)
    return model.to(device).eval(), meta, False


def relevance_path(key: str) -> Path:
    return cache_root() / "relevance" / f"{key}.pt"


def load_relevance(key: str) -> dict[str, torch.Tensor] | None:
    """``{"relevance", "seconds"}`` stored under ``key``, or None."""
    path = relevance_path(key)
    if not path.exists():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged entry is recomputed and rewritten, never trusted
        warnings.warn(f"{path}: unreadable cache entry ({type(exc).__name__}); recomputing",
                      stacklevel=2)
        path.unlink(missing_ok=True)
        return None
    return entry if isinstance(entry, dict) and {"relevance", "seconds"} <= set(entry) else None


def store_relevance(key: str, relevance: torch.Tensor, seconds: torch.Tensor) -> None:
    save_atomic({"relevance": relevance.detach().cpu(), "seconds": seconds.cpu()},
                relevance_path(key))
