"""The batched input-manipulation engine that the manipulation metrics share.

:func:`perturbation_curves` is the input-manipulation test of the AudioMNIST paper (Becker et
al., arXiv 1807.03418) and of Samek et al. (2017, IEEE TNNLS, "Evaluating the visualization of
what a deep neural network has learned"): replace the top k % of input features, in a given
order, by a baseline and record the true-class probability and correctness for every k. Each
sample's relevance is ordered once (one partial sort serves most- and least-relevant first), the
random order is one permutation, and all four orders share the unperturbed pass. Each order's
inputs are built step by step (a step changes only the units it adds) straight into one buffer
that goes through the model in forward passes of at most ``chunk_size`` inputs (samples × steps
together), so memory is bounded by the chunk, not by the batch.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audioxai_bench.api.explainer import amplitude_of, explaining, silence_of
from audioxai_bench.api.metric import DEFAULT_CHUNK
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.randomness import hashed_uniform, random_perms
from audioxai_bench.evaluation.summary import true_class_scores

#: Removal orders: by relevance (both ways), uniformly random, by signal amplitude.
ORDERS: tuple[str, ...] = ("most-relevant", "least-relevant", "random", "amplitude")
#: The orders that do not read the relevance: their curves are the same for every explainer.
REFERENCE_ORDERS: tuple[str, ...] = ("random", "amplitude")
#: Fractions of the input perturbed (the issue's default grid, 0 to 50 %).
DEFAULT_GRID: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
#: What replaces a removed feature (see :func:`baseline_values`).
BASELINES: tuple[str, ...] = ("silence", "zero", "mean", "noise")
MODES: tuple[str, ...] = ("deletion", "insertion")
#: How a perturbed input reaches the model (see :func:`re_preprocess`): as written, or
#: re-levelled the way the preprocessing levels a clip.
REMOVALS: tuple[str, ...] = ("replace", "re-preprocess")


def _descending_key(values: Tensor) -> Tensor:
    """int64 keys in ``[0, 2**32)`` whose ascending order is the descending order of ``values``.

    The IEEE-754 trick: float32 bits, with the magnitude bits of negatives flipped, order like the
    floats as signed int32; bitwise not reverses that order.
    """
    bits = values.float().contiguous().view(torch.int32)
    signed = bits ^ ((bits >> 31) & 0x7FFFFFFF)
    return (~signed).to(torch.int64) + 2**31


def _argsort(keys: Tensor, kth: Sequence[int] = ()) -> Tensor:
    """Row-wise order of distinct int64 keys, exact at least at the positions ``kth``.

    Only the sets before each ``kth`` position matter to the engine, so on the CPU NumPy's
    multi-pivot ``argpartition`` does (or its sort without ``kth``); elsewhere a full sort.
    Keys never tie, so every algorithm and device gives the same sets.
    """
    if keys.device.type != "cpu":
        return keys.argsort(dim=1)
    if kth:
        return torch.from_numpy(np.argpartition(keys.numpy(), list(kth), axis=1))
    return torch.from_numpy(np.argsort(keys.numpy(), axis=1))


# --- the perturbation engine ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class PerturbationCurves:
    """True-class probability and correctness after perturbing a growing fraction of the input.

    ``probability`` and ``correct`` are ``(B, len(orders), len(grid))`` float64 on the CPU;
    ``original_*`` are the unperturbed input's values ``(B,)``. In ``"deletion"`` mode step k
    replaces the first ``grid[k]`` of the units in each order; in ``"insertion"`` mode it keeps
    only those and replaces the rest.
    """

    grid: Tensor
    orders: tuple[str, ...]
    mode: str
    n_units: int
    probability: Tensor
    correct: Tensor
    original_probability: Tensor
    original_correct: Tensor

    def curve(self, order: str, kind: str = "probability") -> Tensor:
        """``(B, K)`` curve of one order; ``kind`` is ``"probability"`` or ``"accuracy"``."""
        values = self.probability if kind == "probability" else self.correct
        return values[:, self.orders.index(order)]

    def area(self, order: str, kind: str = "probability") -> Tensor:
        """``(B,)`` mean of a curve over the grid steps (the discrete area of Samek et al.)."""
        return self.curve(order, kind).mean(dim=1)

    def aopc(self, order: str, kind: str = "probability") -> Tensor:
        """``(B,)`` area over the perturbation curve, mean over k of (f(x) - f(x_k)) (Samek et al.
        2017, eq. 12, with the grid's steps)."""
        original = self.original_probability if kind == "probability" else self.original_correct
        return original - self.area(order, kind)


def combine_curves(parts: Sequence[PerturbationCurves], orders: Sequence[str]
                   ) -> PerturbationCurves:
    """One :class:`PerturbationCurves` with ``orders`` taken from ``parts``, curves computed on
    the same inputs, grid and mode for different orders (e.g. one explainer's relevance orders
    and the reference orders shared by all explainers)."""
    where = {o: (p, p.orders.index(o)) for p in parts for o in p.orders}
    first = parts[0]

    def pick(field: str) -> Tensor:
        return torch.stack([getattr(where[o][0], field)[:, where[o][1]] for o in orders], dim=1)

    return dataclasses.replace(first, orders=tuple(orders), probability=pick("probability"),
                               correct=pick("correct"))


def baseline_values(x: Tensor, baseline: str, seed: int, rows: Tensor) -> Tensor:
    """What replaces removed features of ``x`` (``(S, N)``, flattened samples).

    ``"silence"``: :func:`~audioxai_bench.api.explainer.silence_of`, zero for waveforms and the
    -80 dB floor for spectrograms (0 dB is the loudest bin, so zero would be a loud baseline);
    ``"zero"``; ``"mean"``: each sample's mean;
    ``"noise"``: Gaussian noise with each sample's mean and standard deviation, seeded.
    Returns ``(S, 1)`` for constants, ``(S, N)`` for noise.
    """
    if baseline == "zero":
        return x.new_zeros(x.shape[0], 1)
    if baseline == "silence":
        return silence_of(x).flatten(1)
    flat = x.flatten(1)
    if baseline == "mean":
        return flat.mean(dim=1, keepdim=True)
    if baseline == "noise":
        u1 = hashed_uniform(seed, rows, flat.shape[1], stream=11)
        u2 = hashed_uniform(seed, rows, flat.shape[1], stream=12)
        normal = torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * math.pi * u2)
        mean, std = flat.mean(1, keepdim=True), flat.std(1, keepdim=True)
        return (mean + std * normal.to(flat.dtype)).contiguous()
    raise AudioXaiError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)}")


def re_preprocess(perturbed: Tensor, original: Tensor) -> Tensor:
    """Model inputs after a removal, levelled again as the preprocessing levels a clip.

    The inputs are normalised per clip (``audioxai_bench.data.preprocess``), so removing the
    loudest parts leaves an input the model never saw in training (a dB spectrogram whose
    maximum is below 0 dB). Spectrograms ``(B, 1, F, T)``: the dB relative to the new maximum,
    as if the removed bins' power were zero and the preprocessing's ``power_to_db`` ran again;
    bins at the -80 dB floor (their level below it is unknown) and removed bins stay at the
    floor, and an input without sound stays silent. Waveforms ``(B, 1, T)``: divided again by
    the new 95th percentile + 0.001 in the signal's units; the scale of the original clip is
    ``0.001 / (1 - q95(original))`` (a clip normalised by its 95th percentile has
    ``q95 = (s - 0.001) / s``), so the result equals re-preprocessing the perturbed sound.
    ``original`` is the unperturbed input of each row of ``perturbed``.
    """
    dims = tuple(range(1, perturbed.dim()))
    if perturbed.dim() == 3:
        q = torch.quantile(perturbed.flatten(1).float(), 0.95, dim=1).to(perturbed.dtype)
        q0 = torch.quantile(original.flatten(1).float(), 0.95, dim=1).to(perturbed.dtype)
        return perturbed / (q + 1 - q0).view(-1, 1, 1)
    floor = silence_of(perturbed)
    top = perturbed.amax(dim=dims, keepdim=True)
    return torch.where(perturbed > floor, perturbed - top, floor)


@dataclasses.dataclass(frozen=True)
class _Units:
    """How input features group into perturbation units.

    Single features, or ``patch`` tiles of the last two dimensions. With tiles the input is
    zero-padded to whole tiles (``padded`` shape, cropped before the model sees it) so that every
    unit owns the same number of elements: ``elements[u]`` are unit u's flat indices.
    """

    shape: tuple[int, ...]
    patch: tuple[int, int] | None
    padded: tuple[int, ...]
    elements: Tensor

    @classmethod
    def make(cls, shape: tuple[int, ...], patch: tuple[int, int] | None,
             device: torch.device) -> _Units:
        if patch is None:
            n = math.prod(shape)
            return cls(shape, None, shape, torch.arange(n, device=device)[:, None])
        (h, w), (ph, pw) = shape[-2:], patch
        c, hu, wu = math.prod(shape[:-2]), -(-h // ph), -(-w // pw)
        hp, wp = hu * ph, wu * pw
        ar = functools.partial(torch.arange, device=device)
        idx = (ar(c).view(1, 1, c, 1, 1) * hp * wp
               + (ar(hu).view(hu, 1, 1, 1, 1) * ph + ar(ph).view(1, 1, 1, ph, 1)) * wp
               + ar(wu).view(1, wu, 1, 1, 1) * pw + ar(pw).view(1, 1, 1, 1, pw))
        return cls(shape, patch, (c, hp, wp), idx.reshape(hu * wu, c * ph * pw))

    @property
    def count(self) -> int:
        return self.elements.shape[0]

    def pad(self, values: Tensor) -> Tensor:
        """``(S, *shape)`` → ``(S, prod(padded))``."""
        if self.patch is None:
            return values.reshape(values.shape[0], -1)
        c, hp, wp = self.padded
        h, w = self.shape[-2:]
        grid = values.reshape(values.shape[0], c, h, w)
        return F.pad(grid, (0, wp - w, 0, hp - h)).reshape(values.shape[0], -1)

    def crop(self, flat: Tensor) -> Tensor:
        """``(R, prod(padded))`` → ``(R, *shape)`` model inputs."""
        if self.patch is None:
            return flat.view(-1, *self.shape)
        h, w = self.shape[-2:]
        return flat.view(-1, *self.padded)[..., :h, :w].reshape(-1, *self.shape)

    def scores(self, values: Tensor, reduce: str) -> Tensor:
        """``(S, U)`` per-unit sums (``"sum"``) or means (``"mean"``) of ``(S, *shape)``."""
        if self.patch is None:
            return values.reshape(values.shape[0], -1)
        s, (c, hp, wp), (ph, pw) = values.shape[0], self.padded, self.patch
        tiles = self.pad(values).view(s, c, hp // ph, ph, wp // pw, pw).sum(dim=(1, 3, 5))
        if reduce == "mean":
            ones = self.pad(torch.ones_like(values[:1]))
            tiles = tiles / ones.view(1, c, hp // ph, ph, wp // pw, pw).sum(dim=(1, 3, 5))
        return tiles.reshape(s, -1)


def _orderings(orders: Sequence[str], relevance: Tensor, amplitude: Tensor, shuffle: Tensor,
               counts: Sequence[int]) -> list[Tensor]:
    """``(S, U)`` units in perturbation order, one tensor per order; within the stretches
    between two ``counts`` the order is arbitrary (only the sets matter).

    ``shuffle`` is the random order. Each unit's place in it sits below the order-preserving
    bits of relevance or amplitude, so ties are broken at random, no two keys are equal and the
    result is the same for any sort algorithm and device. Relevance is ordered once for both of
    its orders; the random order needs no sort.
    """
    n = shuffle.shape[1]
    rank = torch.empty_like(shuffle).scatter_(
        1, shuffle, torch.arange(n, device=shuffle.device).expand_as(shuffle))
    both_ends = sorted(set(counts) | {n - c for c in counts})
    by_relevance = None
    out = []
    for order in orders:
        if order == "random":
            out.append(shuffle)
        elif order == "amplitude":
            out.append(_argsort((_descending_key(amplitude) << 31) | rank, counts))
        else:
            if by_relevance is None:
                by_relevance = _argsort((_descending_key(relevance) << 31) | rank, both_ends)
            out.append(by_relevance if order == "most-relevant" else by_relevance.flip(1))
    return out


def perturbation_curves(
    model: nn.Module,
    x: Tensor,
    relevance: Tensor,
    target: Tensor,
    *,
    grid: Sequence[float] = DEFAULT_GRID,
    orders: Sequence[str] = ORDERS,
    mode: str = "deletion",
    baseline: str = "silence",
    patch: tuple[int, int] | None = None,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    removal: str = "replace",
) -> PerturbationCurves:
    """Perturbation curves of ``model`` on ``x`` for removal ``orders`` over fractions ``grid``.

    Units are single input features, or ``patch``-sized tiles of the last two dimensions
    (relevance summed, amplitude averaged per tile). ``removal="replace"`` (the paper's) gives
    the model the input with the baseline written in; ``"re-preprocess"`` levels every
    perturbed input again as the preprocessing would (:func:`re_preprocess`). All orders share
    the unperturbed pass and the all-baseline pass; relevance is sorted once per sample, ties
    broken at random. Samples go in blocks of ``chunk_size // steps``; within a block each
    order's inputs are built step by step (each step changes only the units it adds) and every
    forward pass holds at most ``chunk_size`` inputs, so memory follows the chunk, not the
    batch.
    """
    orders = tuple(orders)
    bad = sorted(set(orders) - set(ORDERS))
    if bad or not orders:
        raise AudioXaiError(f"unknown orders {bad}; valid: {', '.join(ORDERS)}")
    if mode not in MODES:
        raise AudioXaiError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    if baseline not in BASELINES:
        raise AudioXaiError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)}")
    if removal not in REMOVALS:
        raise AudioXaiError(f"unknown removal {removal!r}; valid: {', '.join(REMOVALS)}")
    fractions = torch.tensor([float(g) for g in grid], dtype=torch.float64)
    if len(fractions) == 0 or bool(((fractions < 0) | (fractions > 1)).any()):
        raise AudioXaiError(f"grid fractions must lie in [0, 1], got {list(grid)}")
    if patch is not None and x.dim() != 4:
        raise AudioXaiError("patches apply to spectrogram inputs (B, C, H, W) only")
    if relevance.shape != x.shape:
        raise AudioXaiError(f"relevance {tuple(relevance.shape)} does not match x "
                            f"{tuple(x.shape)}")

    b, device = x.shape[0], x.device
    units = _Units.make(tuple(x.shape[1:]), patch, device)
    n_units = units.count
    counts = [int(round(float(f) * n_units)) for f in fractions]
    # Jobs per sample: (order index, units counted from the front), each order's counts rising.
    # The first is the unperturbed input; 0 or all units do not depend on the order: run once.
    untouched = 0 if mode == "deletion" else n_units
    jobs: list[tuple[int, int]] = [(0, untouched)]
    jobs += sorted({(0, c) for c in counts if c in (0, n_units)} - {(0, untouched)})
    steps = sorted({c for c in counts if 0 < c < n_units})
    jobs += [(o, c) for o in range(len(orders)) for c in steps]
    job_of = torch.tensor([[jobs.index((0, c) if c in (0, n_units) else (o, c)) for c in counts]
                           for o in range(len(orders))])

    prob = torch.empty(b, len(jobs), dtype=torch.float64)
    correct = torch.empty(b, len(jobs), dtype=torch.float64)
    per_block = max(1, chunk_size // len(jobs))
    # One input buffer for all blocks (fresh pages for every block would cost page faults).
    capacity = min(chunk_size, len(jobs) * min(b, per_block))
    storage = x.new_empty(capacity * math.prod(units.padded))
    with explaining(model), torch.no_grad():
        for start in range(0, b, per_block):
            stop = min(b, start + per_block)
            rows = torch.arange(start, stop, device=device)
            xb = x[start:stop]
            perms = _orderings(orders, units.scores(relevance[start:stop], "sum"),
                               units.scores(amplitude_of(xb), "mean"),
                               random_perms(seed, rows, n_units), steps)
            flat = units.pad(xb)
            base = baseline_values(xb, baseline, seed, rows).to(flat.dtype)
            base = units.pad(base.expand_as(xb.flatten(1)).reshape(xb.shape))
            pass_ = _Pass(model, units, target[start:stop], storage,
                          original=xb if removal == "re-preprocess" else None)
            for job, (o, c) in enumerate(jobs):
                if c in (0, n_units):  # unperturbed or all-baseline
                    state = flat if (c == 0) == (mode == "deletion") else base
                    pass_.add(job, state)
                    continue
                if c == steps[0]:  # a new order: start from the untouched input
                    state = (flat if mode == "deletion" else base).clone()
                    done = 0
                added = units.elements[perms[o][:, done:c]].flatten(1)  # (S, units × elements)
                source = base if mode == "deletion" else flat
                state.scatter_(1, added, source.gather(1, added))
                done = c
                pass_.add(job, state)
            pass_.flush()
            prob[start:stop], correct[start:stop] = pass_.results(len(jobs))

    return PerturbationCurves(
        grid=fractions,
        orders=orders,
        mode=mode,
        n_units=n_units,
        probability=prob[:, job_of],
        correct=correct[:, job_of],
        original_probability=prob[:, 0],
        original_correct=correct[:, 0],
    )


class _Pass:
    """Collects the inputs of one block of samples in ``storage`` and runs them through the model
    in forward passes as large as ``storage`` holds (whole jobs: every sample of the block)."""

    def __init__(self, model: nn.Module, units: _Units, target: Tensor, storage: Tensor,
                 original: Tensor | None = None):
        self.model, self.units, self.target = model, units, target
        self.original = original  # the block's inputs, when each pass is re-preprocessed
        size = math.prod(units.padded)
        self.per_pass = max(1, len(storage) // (len(target) * size))
        self.buffer = storage[: self.per_pass * len(target) * size].view(
            self.per_pass, len(target), size)
        self.jobs: list[int] = []
        self.prob: dict[int, Tensor] = {}
        self.correct: dict[int, Tensor] = {}

    def add(self, job: int, inputs: Tensor) -> None:
        self.buffer[len(self.jobs)].copy_(inputs)
        self.jobs.append(job)
        if len(self.jobs) == self.per_pass:
            self.flush()

    def flush(self) -> None:
        if not self.jobs:
            return
        n, s = len(self.jobs), len(self.target)
        inputs = self.units.crop(self.buffer[:n].view(n * s, -1))
        if self.original is not None:
            inputs = re_preprocess(inputs, self.original.repeat(n, *[1] * (inputs.dim() - 1)))
        logits = self.model(inputs)
        p, hit = true_class_scores(logits, self.target.repeat(n))
        p, hit = p.view(n, s).cpu(), hit.view(n, s).cpu()  # one transfer per pass
        for i, job in enumerate(self.jobs):
            self.prob[job], self.correct[job] = p[i], hit[i]
        self.jobs = []

    def results(self, n_jobs: int) -> tuple[Tensor, Tensor]:
        """``(S, n_jobs)`` probabilities and correctness."""
        return (torch.stack([self.prob[j] for j in range(n_jobs)], dim=1),
                torch.stack([self.correct[j] for j in range(n_jobs)], dim=1))
