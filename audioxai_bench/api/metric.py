"""The metric contract: what ``audioxai_bench_metrics()`` objects receive and return.

A metric is any object with ``name: str``, ``higher_is_better: bool`` and
``score(batch: EvalBatch) -> MetricOutput``. Optional attributes the runner reads:

- ``representations``: the model inputs it applies to (``{"waveform", "spectrogram"}`` when
  absent); the runner skips a metric on a model it does not declare.
- ``needs``: the optional :class:`EvalBatch` fields it reads (``"signals"``, ``"explainer"``,
  ``"sonifier"``, ``"explain_seconds"``, ``"ground_truth"``). A metric that needs ``"sonifier"``
  is run once per sonifier and its records carry the sonifier's name; every other metric runs
  with ``sonifier=None``.
- ``summarize(output: MetricOutput) -> dict``: run-level facts computed from the merged
  per-sample output (a flag, a correlation across bands).
- ``interval(output: MetricOutput) -> [low, high] | None``: the record's ``ci`` instead of the
  bootstrap over samples (``runtime``: none, its samples share one measurement).
- ``ranked``: ``False`` for a descriptive metric the leaderboard should not rank by.
- ``clip_extras``: names of ``extras`` whose per-sample values the record keeps beside
  their mean (``extras[name]["scores"]``), for a leaderboard that must resample speakers of a
  quantity other than the score (the damage of removing the low bands); a batch's output that
  lacks one of them fails the cell.
- ``versus``: the control a score is a paired difference against (``"random order"``), so
  that 0 means "no better than it"; the leaderboard then tests each explainer's scores
  against 0 (:mod:`audioxai_bench.leaderboard.aggregate`).

The runner builds one :class:`EvalBatch` per batch of test samples and calls ``score`` on every
metric with that same object (metrics reading the same perturbation curves compute them once,
through :class:`BatchMemo`). It sets ``seed`` to a run seed plus the batch index, so random orders
differ between batches and repeat between runs and explainers. It merges the batches' outputs
and turns them into record fields (:mod:`audioxai_bench.evaluation.summary`). Scores are per
sample: never averaged inside a metric.

The engines the built-in metrics share (input manipulation, sonification, seeded randomness)
live in :mod:`audioxai_bench.evaluation`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import REPRESENTATIONS
from audioxai_bench.errors import AudioXaiError

#: Most inputs (samples × perturbation steps) per forward pass unless a batch says otherwise.
DEFAULT_CHUNK = 256
#: Optional :class:`EvalBatch` fields a metric may declare in ``needs``.
OPTIONAL_FIELDS = frozenset({"signals", "explainer", "sonifier", "explain_seconds",
                             "ground_truth"})
#: How many seeds a torch generator takes: :func:`torch_seed` maps every integer into them.
TORCH_SEEDS = 2**64


def torch_seed(value: int) -> int:
    """``value`` as a torch generator seed: reduced modulo :data:`TORCH_SEEDS`, so a seed
    derived by multiplication from any accepted run seed works (2**31 - 1 as a run seed gave
    "Overflow when unpacking long long") and every value torch took before (0 up to 2**64 - 1;
    a negative one, which torch reads modulo 2**64 too) seeds the same generator as before."""
    return value % TORCH_SEEDS


#: The metric name of the runner's record of a trained model's test accuracy.
ACCURACY_METRIC = "test-accuracy"
#: The metric name of the runner's record of a cue model's control (value: accuracy without
#: the cue; :mod:`audioxai_bench.run.control`).
CONTROL_METRIC = "cue-control"
#: Metric names no metric may take: the runner's own records of a trained model (explainer and
#: sonifier null) carry them, and a metric so named would be read as them.
RESERVED_METRICS: dict[str, str] = {
    ACCURACY_METRIC: "the runner's record of a model's test accuracy",
    CONTROL_METRIC: "the runner's record of a cue model's control",
}


# --- the contract -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class EvalBatch:
    """One batch of explained test samples: everything a metric may read.

    Parameters
    ----------
    model : nn.Module
        The trained model (its mode is left as it is; metrics evaluate in eval mode).
    x : Tensor
        Model inputs, ``(B, 1, 8000)`` or ``(B, 1, 227, 227)``.
    target : Tensor
        ``(B,)`` true class indices; relevance was computed for them.
    relevance : Tensor
        The explainer's output for ``x`` and ``target``, in ``x.shape``.
    representation : str
        ``"waveform"`` or ``"spectrogram"``.
    signals : Tensor, optional
        ``(B, 8000)`` padded 8 kHz waveforms that ``x`` was computed from, for metrics that go
        back to sound (band-stop, sonification); ``to_model_input(signals, representation)``
        gives ``x`` again.
    explainer : object, optional
        The explainer under test, for metrics that explain again (model randomisation).
    sonifier : object, optional
        The sonifier under test, for sonification metrics.
    explain_seconds : float, optional
        Wall time the explainer took for this batch (see :func:`timed`).
    ground_truth : Tensor, optional
        Boolean mask in ``x.shape``: True where the evidence for the label was planted (the
        ``cue`` task); absent on data whose evidence nobody knows.
    seed : int
        Seeds every random choice of every metric for this batch.
    chunk_size : int
        Most model inputs per forward pass: the memory budget of a metric.
    shared : dict, optional
        One dict for the batches of every explainer on the same samples, model and seed (the
        runner passes it): metrics keep there what does not depend on the relevance (the random
        and amplitude curves, the damage of removing a band), see :meth:`reuse`.
    """

    model: nn.Module
    x: Tensor
    target: Tensor
    relevance: Tensor
    representation: str
    signals: Tensor | None = None
    explainer: Any = None
    sonifier: Any = None
    explain_seconds: float | None = None
    ground_truth: Tensor | None = None
    seed: int = 0
    chunk_size: int = DEFAULT_CHUNK
    shared: dict[Any, Any] | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        b = self.x.shape[0] if self.x.dim() else 0
        if self.representation not in REPRESENTATIONS:
            raise AudioXaiError(f"EvalBatch: representation must be one of "
                                f"{sorted(REPRESENTATIONS)}, got {self.representation!r}")
        if self.target.shape != (b,):
            raise AudioXaiError(f"EvalBatch: target must have shape ({b},), "
                                f"got {tuple(self.target.shape)}")
        if self.relevance.shape != self.x.shape:
            raise AudioXaiError(f"EvalBatch: relevance has shape {tuple(self.relevance.shape)}, "
                                f"x has {tuple(self.x.shape)}")
        if self.signals is not None and (self.signals.dim() != 2 or self.signals.shape[0] != b):
            raise AudioXaiError(f"EvalBatch: signals must be ({b}, samples), "
                                f"got {tuple(self.signals.shape)}")
        if self.ground_truth is not None and (self.ground_truth.shape != self.x.shape
                                              or self.ground_truth.dtype != torch.bool):
            raise AudioXaiError(f"EvalBatch: ground_truth must be a bool mask of shape "
                                f"{tuple(self.x.shape)}, got {self.ground_truth.dtype} "
                                f"{tuple(self.ground_truth.shape)}")
        if self.chunk_size < 1:
            raise AudioXaiError(f"EvalBatch: chunk_size must be positive, got {self.chunk_size}")

    @property
    def device(self) -> torch.device:
        """Where the batch lives; metrics compute there."""
        return self.x.device

    @property
    def size(self) -> int:
        """Number of samples ``B``."""
        return self.x.shape[0]

    def reuse(self, key: Any, compute: Callable[[], _T]) -> _T:
        """``compute()`` once per ``key`` for all explainers sharing :attr:`shared` (every
        call without it). ``key`` must hold every setting the value depends on."""
        if self.shared is None:
            return compute()
        if key not in self.shared:
            self.shared[key] = compute()
        return self.shared[key]

    def generator(self, salt: int = 0) -> torch.Generator:
        """A fresh generator on :attr:`device` seeded from ``seed`` and a metric's ``salt``."""
        return torch.Generator(device=self.device).manual_seed(
            torch_seed(self.seed * 1_000_003 + salt))


def _per_sample(name: str, value: Tensor, b: int | None, ndim: int) -> Tensor:
    """``value`` checked to hold one row per sample (``b`` of them; any number when ``None``)."""
    if not isinstance(value, Tensor) or value.dim() != ndim or value.shape[0] != (
            value.shape[0] if b is None else b):
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        rows = "B" if b is None else b
        what = f"a ({rows},) tensor, one value" if ndim == 1 else f"a ({rows}, K) tensor, one row"
        raise AudioXaiError(f"MetricOutput: {name} must be {what} per sample, got {shape}")
    return value.detach().to("cpu", torch.float64)


@dataclasses.dataclass(frozen=True, eq=False)
class MetricOutput:
    """What a metric returns for a batch; tensors are moved to the CPU as float64.

    Parameters
    ----------
    scores : Tensor
        ``(B,)`` the metric's value per sample (NaN where undefined); the leaderboard number
        is their mean.
    curves : mapping of str to Tensor
        ``(B, K)`` per-sample curves over :attr:`grid` (e.g. ``"accuracy/random"``).
    grid : Tensor, optional
        ``(K,)`` the x-axis of every curve (fraction perturbed, layers randomised, band centre).
    extras : mapping of str to Tensor
        ``(B,)`` further per-sample values worth a record field (e.g. ``"aopc/random"``).
    info : mapping
        Facts that do not depend on the samples (units, layer names, band edges); JSON-able.
        ``"proportion": True`` says each score is a hit (0/1) or the chance of one, so the
        mean is a proportion and its interval Wilson's, not a bootstrap's.
    """

    scores: Tensor
    curves: Mapping[str, Tensor] = dataclasses.field(default_factory=dict)
    grid: Tensor | None = None
    extras: Mapping[str, Tensor] = dataclasses.field(default_factory=dict)
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        scores = _per_sample("scores", self.scores, None, 1)
        b = len(scores)
        curves = {k: _per_sample(f"curve {k!r}", v, b, 2) for k, v in self.curves.items()}
        grid = None if self.grid is None else self.grid.detach().to("cpu", torch.float64)
        widths = {v.shape[1] for v in curves.values()}
        if curves and (grid is None or widths != {len(grid)}):
            raise AudioXaiError(f"MetricOutput: curves have {sorted(widths)} columns but the grid "
                                f"has {None if grid is None else len(grid)} points")
        extras = {k: _per_sample(f"extra {k!r}", v, b, 1) for k, v in self.extras.items()}
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "curves", curves)
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "extras", extras)
        object.__setattr__(self, "info", dict(self.info))

    def __len__(self) -> int:
        return len(self.scores)


@runtime_checkable
class Metric(Protocol):
    """The duck type of a metric (subclassing :class:`BaseMetric` is optional)."""

    name: str
    higher_is_better: bool

    def score(self, batch: EvalBatch) -> MetricOutput: ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class BaseMetric:
    """Optional base class: declares the attributes and checks a batch against them."""

    name: str
    higher_is_better: bool
    display_name: str = ""
    representations: frozenset[str] = REPRESENTATIONS
    needs: frozenset[str] = frozenset()
    #: the range every score lies in (None: not bounded); the leaderboard keeps intervals in it
    bounds: ClassVar[tuple[float, float] | None] = None

    def check(self, batch: EvalBatch) -> None:
        """Fail with a clear message when the batch lacks what this metric reads."""
        if batch.representation not in self.representations:
            raise AudioXaiError(f"metric {self.name!r} does not apply to {batch.representation} "
                                f"models; it declares {', '.join(sorted(self.representations))}")
        unknown = sorted(set(self.needs) - OPTIONAL_FIELDS)
        if unknown:
            raise AudioXaiError(f"metric {self.name!r} needs unknown EvalBatch fields {unknown}; "
                                f"valid: {', '.join(sorted(OPTIONAL_FIELDS))}")
        missing = [f for f in sorted(self.needs) if getattr(batch, f) is None]
        if missing:
            raise AudioXaiError(f"metric {self.name!r} needs EvalBatch.{', '.join(missing)}")

    def score(self, batch: EvalBatch) -> MetricOutput:
        raise NotImplementedError(f"{type(self).__name__} must implement score(batch) -> "
                                  "MetricOutput, one score per sample of the batch")


_T = TypeVar("_T")


class BatchMemo:
    """Results computed for the latest :class:`EvalBatch` object, one per settings key.

    Metrics registered as separate names but reading the same curves (``aopc`` and
    ``faithfulness-gap``, the sonification scores) share a memo, so the runner's calls on one
    batch compute them once. It holds only the latest batch; what every explainer's batch
    shares goes through :meth:`EvalBatch.reuse` instead.
    """

    def __init__(self) -> None:
        self._batch: EvalBatch | None = None
        self._values: dict[Any, Any] = {}

    def get(self, batch: EvalBatch, key: Any, compute: Callable[[], _T]) -> _T:
        if self._batch is not batch:
            self._batch, self._values = None, {}
        if key not in self._values:
            self._values[key] = compute()
            self._batch = batch
        return self._values[key]
