"""Training a reference model on an AudioMNIST tree: the glue between data and models.

Two presets: ``paper`` (full width, the paper's solver budget; meant for a GPU) and ``cpu``
(the same architectures at a narrow width with a budget of minutes). ``auto`` picks ``paper``
on CUDA and ``cpu`` otherwise, and says so.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..atomic import temp_name
from ..data.clipfile import DEFAULT_RESAMPLER, check_resampler
from ..data.cue import is_cue_tree, refuse_planted_tree
from ..data.dataset import load_audiomnist
from ..data.splits import speaker_split
from ..errors import AudioXaiError
from ..models import TrainResult
from ..models.checkpoint import architecture_options, load_checkpoint
from ..models.train import resolve_device
from ..plugins import PluginManager, load_plugins
from ..progress import Progress, status
from ..reproducibility import numerics
from .artifacts import fit, make_recipe
from .records import keep_aside

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
    deterministic: bool = True
    resampler: str = DEFAULT_RESAMPLER  # how clips reach 8 kHz (data/preprocess.py)
    overwrite: bool = False  # replace a checkpoint at ``out`` (the earlier one is kept aside)


def resolve_preset(preset: str, device: torch.device) -> str:
    if preset not in PRESETS:
        raise AudioXaiError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    if preset == "auto":
        return "paper" if device.type == "cuda" else "cpu"
    return preset


def train_reference(req: TrainRequest, quiet: bool = False,
                    log: Callable[[str], None] = status) -> tuple[TrainResult, dict[str, Any]]:
    """Train ``req.model`` on ``req.task`` fold ``req.fold`` and save the checkpoint.

    ``req.out`` is checked before any work: a folder, a path that cannot be written or (without
    ``req.overwrite``) an existing file is refused, so that hours of training never end in an
    error or silently replace an earlier checkpoint. A checkpoint found at ``req.out`` when
    training ends is kept aside (:func:`~audioxai_bench.run.records.keep_aside`), never deleted.
    """
    check_out(req.out, req.overwrite)
    speaker_split(req.task, req.fold)  # a bad task, fold or resampler fails before any work
    check_resampler(req.resampler)
    if req.task == "cue" and is_cue_tree(req.data):  # as a run checks its data.path
        refuse_planted_tree(req.data, req.resampler)
    spec = load_plugins().models.registration(req.model)  # unknown: fails with the valid ones
    device = resolve_device(req.device)  # fail before preprocessing, not after
    preset = resolve_preset(req.preset, device)
    overrides: dict[str, Any] = {"seed": req.seed, "device": req.device,
                                 "deterministic": req.deterministic}
    if req.iterations is not None:  # 0 is an error, not "the preset's"
        if req.iterations < 1:
            raise AudioXaiError(f"iterations must be at least 1, got {req.iterations}")
        overrides["iterations"] = req.iterations
    if req.select:
        overrides["select"] = req.select
    recipe = make_recipe(spec.obj, str(spec.source), req.task, req.fold, preset,
                         width=req.width, **overrides)
    config = recipe.config
    log(f"preset {preset}: {req.model} width {recipe.width}, {config.iterations} iterations of "
        f"batch {config.batch_size}, {config.optimizer} lr {config.lr}, select {config.select}, "
        f"device {req.device}, resampler {req.resampler}")

    data = load_audiomnist(req.data, seed=req.seed, resampler=req.resampler,
                           progress=Progress("preprocess", quiet, " clips"))
    if data.skipped:
        log(f"skipped {data.skipped} unusable clips (see 'audioxai-bench data check')")
    bar = Progress("train", quiet, " it")

    def keep_earlier() -> None:  # --overwrite's, or one that appeared while training
        if os.path.lexists(req.out):
            log(f"kept the earlier checkpoint {req.out} as {keep_aside(req.out)}")

    _, meta, result = fit(recipe, data, req.out, bar, log,
                          {"data": str(req.data), "skipped_clips": data.skipped,
                           "numerics": numerics(device, torch.get_num_threads())},
                          before_save=keep_earlier)
    return result, meta


def check_out(out: Path, overwrite: bool = False) -> None:
    """Refuse a checkpoint path that training would end on: a folder, an existing file without
    ``overwrite``, or a path whose folder cannot be written (tried by creating and removing a
    temporary file in its nearest existing folder, which a permission check alone misses on a
    read-only mount)."""
    out = Path(out)
    if out.is_dir():
        raise AudioXaiError(f"--out {out}: is a folder; give the checkpoint's file path "
                            f"(e.g. {out / 'model.pt'})")
    if os.path.lexists(out):
        if not overwrite:
            raise AudioXaiError(f"--out {out}: already exists; replace it with --overwrite (the "
                                f"earlier file is kept aside, never deleted) or write to another "
                                f"--out")
        if not out.is_file():
            raise AudioXaiError(f"--out {out}: not a regular file; give another --out")
    folder = out.absolute().parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise AudioXaiError(f"--out {out}: cannot be written ({folder} is not a folder)")
    probe = folder / temp_name(out)
    try:
        with open(probe, "xb"):
            pass
        probe.unlink()
    except OSError as err:
        raise AudioXaiError(f"--out {out}: cannot be written in {folder} "
                            f"({err.strerror or err})") from None


def load_model(path: str | Path, device: str | torch.device = "cpu", *,
               plugins: PluginManager | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a checkpoint of any registered model, a plugin's included; return ``(model, meta)``.

    The architecture comes from the model spec named in the checkpoint's metadata, looked up in
    ``plugins`` (default: every installed plugin).
    """
    pm = plugins or load_plugins()

    def build(meta: dict[str, Any]) -> torch.nn.Module:
        spec = pm.models.get(str(meta.get("model")))
        return spec.build(int(meta["n_classes"]), float(meta["width"]),
                          **architecture_options(meta))

    return load_checkpoint(path, device, build=build)
