"""Training of the reference models: one iteration-based loop for every budget.

The loop is iteration-based like the paper's Caffe solvers (a fixed number of SGD steps over a
cycled loader, the learning rate halved on a fixed schedule, gradient-norm clipping), evaluates
on the validation split every ``eval_every`` steps and keeps either the best state by validation
accuracy or the final iterate (what the paper tested). Under ``TrainConfig.seed`` it repeats
exactly on the same device: deterministic algorithms are on by default
(:mod:`audioxai_bench.reproducibility`).

A dataset with a ``batch(index, device)`` method (:class:`~audioxai_bench.data.dataset.ClipDataset`)
serves whole batches from tensors held on the training device, so a step does no per-sample
work and no copy from the host; any other ``(x, y)`` dataset goes through a ``DataLoader`` in
the same order. Loss and accuracy add up on the device and are read at evaluation points only,
so a step does not wait for the device.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from audioxai_bench.models.fillers import draw
from audioxai_bench.models.layers import Standardise, fold_input_affine
from audioxai_bench.models.registry import ModelError
from audioxai_bench.progress import ProgressFn
from audioxai_bench.reproducibility import torch_mode

_SELECT = ("best", "final")
NO_SCORE = (math.nan, math.nan)
_OPTIMIZERS = ("sgd", "adam")
_PRECISIONS = ("fp32", "bf16")
#: ``TrainConfig.init``: the layers' own initialisation, or the Caffe nets' fillers.
_INITS = ("default", "caffe")
#: Inputs per evaluation forward pass: large on a GPU, where a pass costs its launch overhead.
EVAL_BATCH = {"cpu": 256, "cuda": 1024}
#: A training label saying the input holds evidence for no class: the loss pulls it towards the
#: uniform guess (:func:`training_loss`).
NO_CLASS = -1


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser budget and schedule for :func:`train`.

    ``select="best"`` keeps the state with the highest validation accuracy (the lower
    validation loss breaks ties); ``"final"`` keeps the last iterate, as the paper did.
    ``lr_halve_every`` halves the learning rate every that many iterations (Caffe's ``step``
    policy with gamma 0.5); ``grad_clip`` rescales gradients whose global L2 norm exceeds it
    (Caffe's ``clip_gradients``). ``optimizer`` is ``"sgd"`` (the paper) or ``"adam"``
    (``momentum`` is then beta1).

    ``deterministic`` (default) runs under deterministic algorithms (the same weights on every
    run on one device); ``False`` lets cuDNN autotune, faster and not repeatable on CUDA.
    ``precision="bf16"`` runs forward and loss under bfloat16 autocast and ``compile`` trains
    through ``torch.compile``: both faster on a GPU, neither the paper's exact fp32 (default).
    ``device`` and ``num_workers`` (DataLoader workers for a dataset without ``batch``) change
    where, not what.

    ``input_centre`` and ``input_scale`` precondition training: the model learns on
    ``(x - input_centre) / input_scale`` and the map is then folded into its ``input_layer``
    (:func:`~audioxai_bench.models.layers.fold_input_affine`), so the trained model takes the
    raw input and is explained on it. An input far from 0 (dB spectrograms, -80 to 0) can hold
    a model at the uniform guess for a whole run.

    ``init`` is how the weights start (:func:`initialise`): ``"default"``, the layers' own
    (PyTorch's), or ``"caffe"``, the original Caffe nets' fillers that the paper's solvers
    were tuned on (:mod:`~audioxai_bench.models.fillers`).
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
    deterministic: bool = True
    precision: str = "fp32"
    compile: bool = False
    input_centre: float = 0.0
    input_scale: float = 1.0
    init: str = "default"

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
        if self.precision not in _PRECISIONS:
            raise ValueError(f"TrainConfig.precision must be one of {', '.join(_PRECISIONS)}")
        if self.num_workers < 0:
            raise ValueError("TrainConfig.num_workers must be non-negative")
        if self.init not in _INITS:
            raise ValueError(f"TrainConfig.init must be one of {', '.join(_INITS)}")
        if not (math.isfinite(self.input_centre) and 0 < self.input_scale < math.inf):
            raise ValueError("TrainConfig.input_centre must be finite and input_scale positive")

    @property
    def standardises_input(self) -> bool:
        return (self.input_centre, self.input_scale) != (0.0, 1.0)

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
    #: per test clip, in the test set's order: whether the selected state classifies it right
    test_correct: list[bool] = field(default_factory=list)


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


@runtime_checkable
class BatchSource(Protocol):
    """A dataset that serves whole batches on a device (see the module docstring)."""

    def __len__(self) -> int: ...

    def batch(self, index: torch.Tensor, device: torch.device
              ) -> tuple[torch.Tensor, torch.Tensor]: ...


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    num_workers: int = 0,
) -> float:
    """Top-1 accuracy of ``model`` on ``dataset`` (eval mode, no dropout); NaN if it is empty.

    ``device`` defaults to where the model's parameters are, ``batch_size`` to
    :data:`EVAL_BATCH` for it. The model's training mode is restored afterwards.
    """
    return _evaluate(model, dataset, batch_size, device, num_workers)[0]


def training_loss(logits: torch.Tensor, y: torch.Tensor, no_class_weight: float = 1.0
                  ) -> torch.Tensor:
    """Mean cross-entropy of ``logits`` against labels ``y``; a :data:`NO_CLASS` label counts
    as the uniform target (the mean negative log-probability over the classes), weighted by
    ``no_class_weight``, so a model trained on inputs without evidence learns to answer none of
    its classes there rather than a favourite one."""
    logp = logits.float().log_softmax(dim=1)
    none = y == NO_CLASS
    chosen = logp.gather(1, y.clamp_min(0)[:, None])[:, 0]
    return -torch.where(none, no_class_weight * logp.mean(dim=1), chosen).mean()


def class_probabilities(model: nn.Module, dataset: Dataset, batch_size: int | None = None,
                        device: str | torch.device | None = None) -> torch.Tensor:
    """``(N, classes)`` float64 on the CPU: ``model``'s softmax for each clip of ``dataset``,
    in the dataset's order (eval mode; the training mode is restored)."""
    return _per_clip(model, dataset, batch_size, device,
                     lambda logits, _: logits.double().softmax(dim=1),
                     torch.zeros(0, 0, dtype=torch.float64))


def correct_per_clip(model: nn.Module, dataset: Dataset, batch_size: int | None = None,
                     device: str | torch.device | None = None) -> torch.Tensor:
    """``(N,)`` bool on the CPU: whether ``model`` classifies each clip of ``dataset`` right,
    in the dataset's order (for intervals that resample speakers, not clips)."""
    return _per_clip(model, dataset, batch_size, device,
                     lambda logits, y: logits.argmax(dim=1) == y, torch.zeros(0, dtype=torch.bool))


@torch.no_grad()
def _per_clip(model: nn.Module, dataset: Dataset, batch_size: int | None,
              device: str | torch.device | None,
              of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], empty: torch.Tensor
              ) -> torch.Tensor:
    """``of(logits, labels)`` for every batch of ``dataset`` in order, joined on the CPU
    (``empty`` for an empty dataset); eval mode, the training mode restored."""
    dev = resolve_device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [of(model(x), y) for x, y in
               _eval_batches(dataset, batch_size or EVAL_BATCH.get(dev.type, 256), dev, 0)]
    finally:
        model.train(was_training)
    return torch.cat(out).cpu() if out else empty


def _on_device(dataset: Dataset, loader: Iterable[Any], device: torch.device
               ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The loader's batches on ``device``; for a :class:`BatchSource` the loader yields
    positions (so both kinds are ordered, and draw from the RNGs, the same way)."""
    for batch in loader:
        if isinstance(dataset, BatchSource):
            yield dataset.batch(batch, device)
        else:
            x, y = batch
            yield x.to(device, non_blocking=True), torch.as_tensor(y).to(device).long()


def _eval_batches(dataset: Dataset, batch_size: int, device: torch.device, num_workers: int
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    resident = isinstance(dataset, BatchSource)
    loader = _loader(range(len(dataset)) if resident else dataset, batch_size, device,
                     0 if resident else num_workers, shuffle=False)
    return _on_device(dataset, loader, device)


@torch.no_grad()
def _evaluate(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int | None = None,
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
        for x, y in _eval_batches(dataset, batch_size or EVAL_BATCH.get(dev.type, 256), dev,
                                  num_workers):
            logits = model(x)
            correct += (logits.argmax(dim=1) == y).sum()
            loss += F.cross_entropy(logits.float(), y, reduction="sum").double()
            total += int(y.numel())
    finally:
        model.train(was_training)
    if not total:
        return math.nan, math.nan
    return correct.item() / total, loss.item() / total


def _cycle(loader: DataLoader) -> Iterable[Any]:
    """Yield batches forever, reshuffling at each pass (the loader's generator carries on)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("training set is empty")


def _training_batches(dataset: Dataset, config: TrainConfig, device: torch.device
                      ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled batches forever, on ``device``. A :class:`BatchSource` is indexed through a
    loader of positions, which shuffles exactly as a loader of the dataset would. A batch larger
    than the set is refused: every step would take the whole set, not the batch the config
    (and the records made from it) state."""
    if 0 < len(dataset) < config.batch_size:  # an empty set fails as such (_cycle)
        raise ModelError(f"TrainConfig.batch_size {config.batch_size} is larger than the "
                         f"{len(dataset)} clips of the training set; lower it or use more data")
    resident = isinstance(dataset, BatchSource)
    loader = _loader(
        range(len(dataset)) if resident else dataset,
        config.batch_size,
        device,
        0 if resident else config.num_workers,
        shuffle=True,
        generator=torch.Generator().manual_seed(config.seed),
        drop_last=True,  # equal batches
        persistent_workers=config.num_workers > 0 and not resident,
    )
    return _on_device(dataset, _cycle(loader), device)


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


def initialise(model: nn.Module, init: str) -> None:
    """Draw ``model``'s starting weights as ``TrainConfig.init`` says, in place.

    ``"default"`` keeps what the layers drew when built; ``"caffe"`` draws from the model's
    ``caffe_fillers()`` and fails naming a model that lists none.
    """
    if init not in _INITS:
        raise ValueError(f"init must be one of {', '.join(_INITS)}, got {init!r}")
    if init == "caffe":
        fillers = getattr(model, "caffe_fillers", None)
        if fillers is None:
            raise ModelError(f"{type(model).__name__} lists no Caffe fillers (caffe_fillers()) "
                             "for TrainConfig.init='caffe' to draw from")
        draw(fillers())


def train(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    test_set: Dataset | None,
    config: TrainConfig,
    progress: ProgressFn | None = None,  # (iteration, total, info: loss, lr, val_accuracy)
    no_class_weight: float = 1.0,
) -> TrainResult:
    """Train ``model`` in place on ``train_set`` for ``config.iterations`` optimiser steps.

    Datasets yield ``(x, y)`` with ``x`` the model input without batch dimension and ``y`` an
    int label (or serve batches, :class:`BatchSource`). Seeds torch's RNGs (dropout, on every
    device) and a private generator (shuffling) from ``config.seed``, so runs on one device
    repeat exactly. On return the model holds the selected state (validation-best or final, see
    :class:`TrainConfig`) and is in eval mode. ``val_set`` may be ``None`` only with
    ``select="final"``; ``test_set`` may be ``None`` (test accuracy is NaN). ``progress``
    hears the mean loss of the last evaluation interval, not of each step (reading it would make
    every step wait for the device). ``no_class_weight`` weighs the :data:`NO_CLASS` inputs'
    uniform target (:func:`training_loss`).
    """
    if val_set is None and config.select == "best":
        raise ValueError("select='best' needs a validation set")
    with torch_mode(config.deterministic):
        return _train(model, train_set, val_set, test_set, config, progress, no_class_weight)


def _input_layer(model: nn.Module, config: TrainConfig) -> nn.Module | None:
    """The layer a standardised input folds into (None when the config does not standardise)."""
    if not config.standardises_input:
        return None
    layer = getattr(model, "input_layer", None)
    if not isinstance(layer, nn.Module):
        raise ModelError(f"{type(model).__name__} names no input_layer to fold the training "
                         "input's centring into (TrainConfig.input_centre, input_scale)")
    return layer


def _train(model: nn.Module, train_set: Dataset, val_set: Dataset | None,
           test_set: Dataset | None, config: TrainConfig, progress: ProgressFn | None,
           no_class_weight: float = 1.0) -> TrainResult:
    device = resolve_device(config.device)
    input_layer = _input_layer(model, config)
    torch.manual_seed(config.seed)
    model.to(device).train()
    net = (nn.Sequential(Standardise(config.input_centre, config.input_scale), model)
           if input_layer is not None else model)
    step_model = torch.compile(net) if config.compile else net
    autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                              enabled=config.precision == "bf16")
    optimizer = _optimizer(model, config)
    scheduler = (
        torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_halve_every, gamma=0.5)
        if config.lr_halve_every
        else None
    )

    history: list[dict[str, Any]] = []
    best_acc, best_loss, best_it, best_state = -math.inf, math.inf, 0, None
    info: dict[str, Any] = {}
    # sums over the evaluation interval, kept on the device: read at evaluation points only
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    labelled = torch.zeros((), dtype=torch.long, device=device)  # inputs not NO_CLASS
    seen, since = 0, 1
    start = time.perf_counter()
    batches = _training_batches(train_set, config, device)
    for it in range(1, config.iterations + 1):
        x, y = next(batches)
        with autocast:
            logits = step_model(x)
            loss = training_loss(logits, y, no_class_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()

        loss_sum += loss.detach().double() * len(y)
        seen += len(y)
        correct += (logits.detach().argmax(dim=1) == y).sum()
        labelled += (y != NO_CLASS).sum()
        info["lr"] = lr

        if it % config.eval_every == 0 or it == config.iterations:
            mean_loss = loss_sum.item() / seen
            if not math.isfinite(mean_loss):
                raise FloatingPointError(
                    f"training loss became {mean_loss} between iterations {since} and {it}; "
                    "lower the learning rate"
                )
            val_acc, val_loss = (
                _evaluate(net, val_set, device=device) if val_set is not None else NO_SCORE
            )
            history.append(
                {
                    "iteration": it,
                    "loss": mean_loss,
                    "train_accuracy": correct.item() / max(labelled.item(), 1),
                    "val_accuracy": val_acc,
                    "val_loss": val_loss,
                    "lr": lr,
                    "seconds": time.perf_counter() - start,
                }
            )
            loss_sum.zero_()
            correct.zero_()
            labelled.zero_()
            seen, since = 0, it + 1
            # Highest accuracy; on a tie (common once validation saturates) the lower
            # validation loss, i.e. the better-trained state. NaN never wins.
            if (val_acc, -val_loss) > (best_acc, -best_loss):
                best_acc, best_loss, best_it = val_acc, val_loss, it
                if config.select == "best":
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            info["loss"] = mean_loss
            info["val_accuracy"] = val_acc
            info["best_val_accuracy"] = best_acc
        if progress is not None:
            progress(it, config.iterations, dict(info))

    if config.select == "best" and best_state is not None:
        model.load_state_dict(best_state)
        selected, val_acc = best_it, best_acc
    else:
        selected, val_acc = config.iterations, history[-1]["val_accuracy"]
    if input_layer is not None:
        fold_input_affine(input_layer, config.input_centre, config.input_scale)
    model.eval()
    correct = (correct_per_clip(model, test_set, device=device) if test_set is not None
               else torch.zeros(0, dtype=torch.bool))
    test_acc = float(correct.double().mean()) if len(correct) else math.nan
    return TrainResult(
        val_accuracy=val_acc,
        test_accuracy=test_acc,
        best_iteration=best_it if best_acc > -math.inf else config.iterations,
        iterations=config.iterations,
        seconds=time.perf_counter() - start,
        history=history,
        selected_iteration=selected,
        select=config.select,
        test_correct=correct.tolist(),
    )
