"""Training a reference model on an AudioMNIST tree: the glue between data and models.

Two presets: ``paper`` (full width, the paper's solver budget; meant for a GPU) and ``cpu``
(the same architectures at a narrow width with a budget of minutes). ``auto`` picks ``paper``
on CUDA and ``cpu`` otherwise, and says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .data.dataset import load_audiomnist
from .data.splits import N_CLASSES, speaker_split
from .errors import AudioXaiError
from .models import (
    CPU_WIDTH,
    TrainResult,
    build_model,
    cpu_config,
    get_model_class,
    paper_config,
    save_checkpoint,
    train,
)
from .models.train import resolve_device
from .progress import Progress

PRESETS = ("auto", "cpu", "paper")


@dataclasses.dataclass(frozen=True)
class TrainRequest:
    data: Path
    model: str
    task: str
    fold: int
    out: Path
    preset: str = "auto"
    width: float | None = None
    iterations: int | None = None
    select: str | None = None
    seed: int = 0
    device: str = "cpu"


def resolve_preset(preset: str, device: torch.device) -> str:
    if preset not in PRESETS:
        raise AudioXaiError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    if preset == "auto":
        return "paper" if device.type == "cuda" else "cpu"
    return preset


def train_reference(req: TrainRequest, quiet: bool = False,
                    log: Callable[[str], None] = print) -> tuple[TrainResult, dict[str, Any]]:
    """Train ``req.model`` on ``req.task`` fold ``req.fold`` and save the checkpoint."""
    speaker_split(req.task, req.fold)  # a bad task or fold fails before any work
    model_class = get_model_class(req.model)
    device = resolve_device(req.device)  # fail before preprocessing, not after
    preset = resolve_preset(req.preset, device)
    width = req.width or (CPU_WIDTH[req.model] if preset == "cpu" else 1.0)
    overrides: dict[str, Any] = {"seed": req.seed, "device": req.device}
    if req.iterations:
        overrides["iterations"] = req.iterations
    if req.select:
        overrides["select"] = req.select
    config = (cpu_config if preset == "cpu" else paper_config)(req.model, **overrides)
    log(f"preset {preset}: {req.model} width {width}, {config.iterations} iterations of batch "
        f"{config.batch_size}, {config.optimizer} lr {config.lr}, select {config.select}, "
        f"device {req.device}")

    data = load_audiomnist(req.data, seed=req.seed,
                           progress=Progress("preprocess", quiet, " clips"))
    if data.skipped:
        log(f"skipped {data.skipped} unusable clips (see 'audioxai-bench data check')")
    train_set, val_set, test_set = data.fold(req.task, req.fold, model_class.representation)
    log(f"{req.task} fold {req.fold}: {len(train_set)} train / {len(val_set)} validate / "
        f"{len(test_set)} test clips")

    torch.manual_seed(req.seed)
    model = build_model(req.model, N_CLASSES[req.task], width)
    bar = Progress("train", quiet, " it")
    result = train(model, train_set, val_set, test_set, config,
                   progress=lambda it, total, info: bar(it, total))
    meta = {"task": req.task, "fold": req.fold, "data": str(req.data),
            "data_fingerprint": data.fingerprint, "preset": preset, "seed": req.seed,
            "config": config.to_dict(), "val_accuracy": result.val_accuracy,
            "test_accuracy": result.test_accuracy, "selected_iteration": result.selected_iteration,
            "train_seconds": result.seconds, "skipped_clips": data.skipped}
    save_checkpoint(req.out, model, meta)
    return result, meta
