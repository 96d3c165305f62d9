"""Model checkpoints: weights plus the metadata that rebuilds and traces them.

A checkpoint is ``{"state_dict": ..., "meta": {...}}`` saved with ``torch.save``. It is loaded
with ``torch.load(..., weights_only=True)`` (no pickled code runs), so ``meta`` holds plain data
only; the architecture is rebuilt from ``meta`` through the model registry. ``meta`` carries
``state_sha256``, a checksum of the weights, which loading verifies: a checkpoint whose weights
changed after it was written fails instead of being used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audioxai_bench.atomic import atomic_write
from audioxai_bench.faults import fault_point
from audioxai_bench.models.registry import ModelError, build_model

#: Bumped when the layout of a checkpoint file changes.
FORMAT_VERSION = 1
_ARCH_KEYS = ("model", "n_classes", "width", "hidden_activation")


class CheckpointError(ModelError):
    """A checkpoint file that is damaged, foreign or does not fit its model (a ValueError)."""


def _plain(value: Any, where: str) -> Any:
    """Return ``value`` as data that ``weights_only`` loading accepts, or raise ``TypeError``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"checkpoint meta key {where}[{key!r}] is not a string")
            out[key] = _plain(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, torch.device):
        return str(value)
    raise TypeError(
        f"checkpoint meta {where} has type {type(value).__name__}; use plain data "
        "(dict, list, str, int, float, bool, None)"
    )


def model_meta(model: nn.Module) -> dict[str, Any]:
    """Architecture fields of ``meta`` for a registry model (name and constructor arguments)."""
    name = getattr(model, "model_name", None)
    build_args = getattr(model, "build_args", None)
    if name is None or build_args is None:
        raise TypeError(
            f"{type(model).__name__} is not a registry model (needs model_name and build_args())"
        )
    return {"model": name, **build_args()}


def save_checkpoint(
    path: str | os.PathLike[str], model: nn.Module, meta: Mapping[str, Any]
) -> Path:
    """Write ``model``'s weights and ``meta`` to ``path`` atomically; return the path.

    The file appears only when complete (:func:`save_atomic`), so an interrupted run never
    leaves a truncated checkpoint that a later run would trust; ``meta`` gets the weights'
    checksum ``state_sha256``. The architecture
    fields (``model``, ``n_classes``, ``width``, ``hidden_activation``) come from the model and
    override any the caller passes; everything else in ``meta`` (task, fold, data fingerprint,
    accuracies, seed, config) is stored as given. Dataclasses are stored as dicts. A model
    from a plugin, without ``model_name``/``build_args``, needs ``model``, ``n_classes`` and
    ``width`` in ``meta``.
    """
    path = Path(path)
    caller = _plain(dict(meta), "meta")
    registry_model = hasattr(model, "model_name") and hasattr(model, "build_args")
    arch = model_meta(model) if registry_model else {}
    missing = [k for k in ("model", "n_classes", "width") if k not in {**caller, **arch}]
    if missing:
        raise ValueError(f"checkpoint meta lacks {', '.join(missing)} for a non-registry model")
    clashes = {
        k: caller[k] for k in _ARCH_KEYS if k in caller and k in arch and caller[k] != arch[k]
    }
    if clashes:
        raise ValueError(f"checkpoint meta contradicts the model: {clashes} vs {arch}")
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    full = {
        **caller,
        **arch,
        "format_version": FORMAT_VERSION,
        "torch_version": str(torch.__version__),
        "state_sha256": state_sha256(state),
    }
    return save_atomic({"state_dict": state, "meta": full}, path)


def save_atomic(payload: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to ``path`` so that the file appears only when complete and on disk
    (:func:`~audioxai_bench.atomic.atomic_write`); return the path. A failed write raises a
    :class:`~audioxai_bench.atomic.WriteError` naming ``path`` (torch reports a full disk as
    ``RuntimeError: [enforce fail at inline_container.cc…] unexpected pos …``)."""

    def write(fh: Any) -> None:
        try:
            torch.save(payload, fh)
        except RuntimeError as exc:  # torch's zip writer: the file could not be written
            raise OSError(None, f"torch.save failed: {_reason(exc)}") from exc
        fault_point("save")  # written, not yet renamed into place

    return atomic_write(path, write)


def state_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of named tensors: every name, dtype, shape and byte, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _reason(exc: BaseException) -> str:
    """One line of ``exc``'s message: torch's own cause where its long banner hides it."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    return (text.strip().splitlines() or [""])[0].strip()[:200]


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return ``(state_dict, meta)`` of a checkpoint on CPU, without building the model.

    Raises ``FileNotFoundError`` or a one-line :class:`CheckpointError` (a ``ValueError``)
    naming the path when the file is missing, unreadable, not a checkpoint of this package, or
    its weights do not match their checksum (checkpoints written before checksums have none).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {_reason(exc)})"
        ) from None
    if not (
        isinstance(payload, dict)
        and isinstance(payload.get("state_dict"), dict)
        and isinstance(payload.get("meta"), dict)
    ):
        raise CheckpointError(f"{path}: not an audioxai-bench checkpoint (no state_dict/meta)")
    meta, state = payload["meta"], payload["state_dict"]
    missing = [k for k in ("model", "n_classes", "width") if k not in meta]
    if missing:
        raise CheckpointError(f"{path}: checkpoint meta lacks {', '.join(missing)}")
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: the state_dict holds values that are not tensors")
    if "state_sha256" in meta and state_sha256(state) != meta["state_sha256"]:
        raise CheckpointError(f"{path}: the weights do not match their checksum (the file was "
                              "changed or damaged after it was written)")
    return state, meta


def load_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", *,
    build: Callable[[dict[str, Any]], nn.Module] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model stored at ``path``; return ``(model, meta)``.

    ``build(meta)`` makes the empty model; by default the built-in architecture named in
    ``meta`` (a model from a plugin: :func:`audioxai_bench.run.training.load_model`). The model
    is on ``device`` and in eval mode, ready to explain. Errors are one line naming the path
    (see :func:`read_checkpoint`); weights that do not fit the architecture named in ``meta``
    are a :class:`CheckpointError` as well.
    """
    state, meta = read_checkpoint(path)
    try:
        model = (build or _build_builtin)(meta)
        model.load_state_dict(state, strict=True)
    except (ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: checkpoint does not match its model ({_reason(exc)})"
        ) from None
    return model.to(device).eval(), meta


def architecture_options(meta: dict[str, Any]) -> dict[str, Any]:
    """Constructor options recorded in a checkpoint's metadata beyond classes and width."""
    return {"hidden_activation": meta["hidden_activation"]} if "hidden_activation" in meta else {}


def _build_builtin(meta: dict[str, Any]) -> nn.Module:
    return build_model(meta["model"], int(meta["n_classes"]), float(meta["width"]),
                       **architecture_options(meta))
