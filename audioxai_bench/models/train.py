"""Training of the reference models: one iteration-based loop for every budget.

The loop is iteration-based like the paper's Caffe solvers (a fixed number of SGD steps over a
cycled loader, the learning rate halved on a fixed schedule, gradient-norm clipping), evaluates
on the validation split every ``eval_every`` steps and keeps either the best state by validation
accuracy or the final iterate (what the paper tested). It is deterministic on CPU under
``TrainConfig.seed``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from audioxai_bench.models.registry import ModelError
from audioxai_bench.progress import ProgressFn

_SELECT = ("best", "final")
NO_SCORE = (math.nan, math.nan)
_OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser budget and schedule for :func:`train`.

    ``select="best"`` keeps the state with the highest validation accuracy (the lower
    validation loss breaks ties); ``"final"`` keeps the last iterate, as the paper did.
    ``lr_halve_every`` halves the learning rate every that many iterations (Caffe's ``step``
    policy with gamma 0.5); ``grad_clip`` rescales gradients whose global L2 norm exceeds it
    (Caffe's ``clip_gradients``). ``optimizer`` is ``"sgd"`` (the paper) or ``"adam"``
    (``momentum`` is then beta1).
    """

    iterations: int = 2000
    batch_size: int = 100
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_halve_every: int | None = None
    grad_clip: float | None = None
    eval_every: int = 500
    select: str = "best"
    seed: int = 0
    device: str = "cpu"
    num_workers: int = 0
    optimizer: str = "sgd"

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be at least 1")
        if not self.lr > 0:
            raise ValueError("TrainConfig.lr must be positive")
        if self.lr_halve_every is not None and self.lr_halve_every < 1:
            raise ValueError("TrainConfig.lr_halve_every must be None or at least 1")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError("TrainConfig.grad_clip must be None or positive")
        if self.select not in _SELECT:
            raise ValueError(f"TrainConfig.select must be one of {', '.join(_SELECT)}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer must be one of {', '.join(_OPTIMIZERS)}")
        if self.num_workers < 0:
            raise ValueError("TrainConfig.num_workers must be non-negative")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data copy, for checkpoint meta and result records."""
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    ``val_accuracy``/``test_accuracy`` are those of the selected state (NaN without that split),
    held at ``selected_iteration``; ``best_iteration`` is where validation accuracy peaked,
    whichever state was selected. ``history`` has one entry per evaluation.
    """

    val_accuracy: float
    test_accuracy: float
    best_iteration: int
    iterations: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    selected_iteration: int = 0
    select: str = "best"


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"cpu"``/``"cuda"``/``"auto"`` (CUDA when present) into a device, failing clearly
    when CUDA is asked for and absent."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ModelError(f"unknown device {str(device)!r}; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {str(device)!r} requested but CUDA is not available")
    return dev


def _loader(
    dataset: Dataset, batch_size: int, device: torch.device, num_workers: int = 0, **kw: Any
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        **kw,
    )


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    num_workers: int = 0,
) -> float:
    """Top-1 accuracy of ``model`` on ``dataset`` (eval mode, no dropout); NaN if it is empty.

    ``device`` defaults to where the model's parameters are. The model's training mode is
    restored afterwards.
    """
    return _evaluate(model, dataset, batch_size, device, num_workers)[0]


@torch.no_grad()
def _evaluate(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    num_workers: int = 0,
) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``model`` on ``dataset``; NaNs if it is empty."""
    dev = resolve_device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=dev)
    loss = torch.zeros((), dtype=torch.float64, device=dev)
    total = 0
    try:
        for x, y in _loader(dataset, batch_size, dev, num_workers, shuffle=False):
            x = x.to(dev, non_blocking=True)
            y = torch.as_tensor(y).to(dev, non_blocking=True).long()
            logits = model(x)
            correct += (logits.argmax(dim=1) == y).sum()
            loss += F.cross_entropy(logits.float(), y, reduction="sum").double()
            total += int(y.numel())
    finally:
        model.train(was_training)
    if not total:
        return math.nan, math.nan
    return correct.item() / total, loss.item() / total


def _cycle(loader: DataLoader) -> Iterator[Any]:
    """Yield batches forever, reshuffling at each pass (the loader's generator carries on)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("training set is empty")


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(
            model.parameters(),
            lr=config.lr,
            betas=(config.momentum, 0.999),
            weight_decay=config.weight_decay,
        )
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )


def train(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    test_set: Dataset | None,
    config: TrainConfig,
    progress: ProgressFn | None = None,  # (iteration, total, info: loss, lr, val_accuracy)
) -> TrainResult:
    """Train ``model`` in place on ``train_set`` for ``config.iterations`` optimiser steps.

    Datasets yield ``(x, y)`` with ``x`` the model input without batch dimension and ``y`` an
    int label. Seeds torch's global RNG (dropout) and a private generator (shuffling) from
    ``config.seed``, so CPU runs repeat exactly. On return the model holds the selected state
    (validation-best or final, see :class:`TrainConfig`) and is in eval mode. ``val_set`` may be
    ``None`` only with ``select="final"``; ``test_set`` may be ``None`` (test accuracy is NaN).
    """
    if val_set is None and config.select == "best":
        raise ValueError("select='best' needs a validation set")
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model.to(device).train()

    bs = config.batch_size
    loader = _loader(
        train_set,
        bs,
        device,
        config.num_workers,
        shuffle=True,
        generator=torch.Generator().manual_seed(config.seed),
        drop_last=len(train_set) >= bs,  # equal batches, unless the set is smaller than one
        persistent_workers=config.num_workers > 0,
    )
    optimizer = _optimizer(model, config)
    scheduler = (
        torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_halve_every, gamma=0.5)
        if config.lr_halve_every
        else None
    )

    history: list[dict[str, Any]] = []
    best_acc, best_loss, best_it, best_state = -math.inf, math.inf, 0, None
    info: dict[str, Any] = {}
    loss_sum, seen, correct = 0.0, 0, 0
    start = time.perf_counter()
    batches = _cycle(loader)
    for it in range(1, config.iterations + 1):
        x, y = next(batches)
        x = x.to(device, non_blocking=True)
        y = torch.as_tensor(y).to(device, non_blocking=True).long()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise FloatingPointError(
                f"training loss became {loss_value} at iteration {it}; lower the learning rate"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()

        loss_sum += loss_value * len(y)
        seen += len(y)
        correct += int((logits.detach().argmax(dim=1) == y).sum())
        info["loss"], info["lr"] = loss_value, lr

        if it % config.eval_every == 0 or it == config.iterations:
            val_acc, val_loss = (
                _evaluate(model, val_set, device=device) if val_set is not None else NO_SCORE
            )
            history.append(
                {
                    "iteration": it,
                    "loss": loss_sum / seen,
                    "train_accuracy": correct / seen,
                    "val_accuracy": val_acc,
                    "val_loss": val_loss,
                    "lr": lr,
                    "seconds": time.perf_counter() - start,
                }
            )
            loss_sum, seen, correct = 0.0, 0, 0
            # Highest accuracy; on a tie (common once validation saturates) the lower
            # validation loss, i.e. the better-trained state. NaN never wins.
            if (val_acc, -val_loss) > (best_acc, -best_loss):
                best_acc, best_loss, best_it = val_acc, val_loss, it
                if config.select == "best":
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            info["val_accuracy"] = val_acc
            info["best_val_accuracy"] = best_acc
        if progress is not None:
            progress(it, config.iterations, dict(info))

    if config.select == "best" and best_state is not None:
        model.load_state_dict(best_state)
        selected, val_acc = best_it, best_acc
    else:
        selected, val_acc = config.iterations, history[-1]["val_accuracy"]
    model.eval()
    test_acc = evaluate(model, test_set, device=device) if test_set is not None else math.nan
    return TrainResult(
        val_accuracy=val_acc,
        test_accuracy=test_acc,
        best_iteration=best_it if best_acc > -math.inf else config.iterations,
        iterations=config.iterations,
        seconds=time.perf_counter() - start,
        history=history,
        selected_iteration=selected,
        select=config.select,
    )
