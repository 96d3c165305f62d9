"""The batched input-manipulation engine that the manipulation metrics share.

:func:`perturbation_curves` follows the input-manipulation test of the AudioMNIST paper (Becker
et al., arXiv 1807.03418) and of Samek et al. (2017, IEEE TNNLS, "Evaluating the visualization of
what a deep neural network has learned"): remove a growing fraction of the input, unit by unit in
a given order, and record the true-class probability and correctness at every step. It differs
from the paper's test: units may be blocks or patches (the paper removes single samples), by
default only units that hold sound are ranked and the fraction is a share of those (``scope=
"all"`` ranks every unit, the fraction then a share of the whole input, as in the paper), and a
spectrogram's silence is the -80 dB floor (the paper's spectrogram manipulation is not
known here); the metrics then score curve areas against controls, not the accuracy at a fixed
fraction (README, results: "After the paper's input-manipulation test").

The definitions, which the metrics' docstrings and ``info`` repeat:

- **Units**: single features, or tiles of the last ``len(patch)`` dimensions (the metrics use
  80-sample blocks of a waveform and 8 × 8 bins of a spectrogram). A unit's relevance is the
  *sum* of its elements' relevance, its amplitude the sum of
  :func:`~audioxai_bench.api.explainer.amplitude_of` (so the amplitude order is the order of
  the ``amplitude`` explainer's map, also on the smaller tiles at a spectrogram's edges).
- **Only units that hold sound are removed** (``scope="sounding"``, the default): a unit holds
  sound when any of its elements is not silence (waveform ≠ 0, spectrogram above the -80 dB
  floor; the definition of the Gini metric). 40–45 % of an AudioMNIST input is padding or
  floor, where removal to silence changes nothing, so counting it would spend that share of
  every order's steps on no-ops. ``scope="all"`` ranks and removes every unit, silent ones
  among them by the same keys, so the fraction is a share of the whole input (the paper's k).
- **Orders** of those units: ``most-relevant`` first (signed relevance, largest first),
  ``least-relevant`` first (its exact reverse), ``amplitude`` (loudest first, the paper's
  control) and ``random``, whose curve is the mean of ``n_random`` seeded permutations (one
  permutation's area has a per-sample SD of 0.02–0.04 on the quickstart models).
- **Ties** (equal unit relevance or amplitude, e.g. a map that is exactly 0 on dead units) are
  ordered by a seeded random permutation of the units, drawn apart from the random orders: a
  tie block is removed in random order, never in position order. :attr:`PerturbationCurves.
  tied_share` reports how much of each map is tied.
- **Grid**: fractions f of a sample's n units in scope (those that hold sound, or all of
  them); step f removes the first
  ``round(f · n)`` units of the order (half to even). The area under a curve is the trapezoid
  over the grid divided by the grid's x-range (:func:`trapezoid`).
- **Removal**: the removed elements take a baseline value (:func:`baseline_values`), or with
  ``"noisy-linear"`` the ROAD-style interpolation of the elements kept beside them
  (:func:`noisy_linear_fill`); ``removal="re-preprocess"`` then levels the input again as the
  preprocessing would (:func:`re_preprocess`).
- **Insertion** comes from the same passes (:meth:`PerturbationCurves.insertion`): keeping the
  k most relevant units and removing the rest *is* removing the n - k least relevant, so the
  insertion curve of an order is the deletion curve of its reverse, read backwards.

Each order's inputs are built step by step (a step removes only the units it adds) into one
buffer that goes through the model in forward passes of at most ``chunk_size`` inputs, so
memory is bounded by the chunk, not by the batch. (The runner sizes the chunk by the
activations it makes: :mod:`~audioxai_bench.evaluation.passes`.)
"""

from __future__ import annotations

import dataclasses
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
#: Fractions of the units that hold sound, 0 to 100 % in steps of 10 % (a uniform grid: every
#: step weighs the same in the trapezoid area, as in Samek et al. and Petsiuk et al.).
DEFAULT_GRID: tuple[float, ...] = tuple(k / 10 for k in range(11))
#: Seeded permutations averaged into the random order's curve (M7 of the scientific review).
N_RANDOM = 8
#: What replaces a removed feature (see :func:`baseline_values`, :func:`noisy_linear_fill`).
BASELINES: tuple[str, ...] = ("silence", "zero", "mean", "noise", "noisy-linear")
#: Which units are ranked and removed (:func:`perturbation_curves`): those that hold sound, the
#: grid a share of them; or all of them, the grid a share of the whole input.
SCOPES: tuple[str, ...] = ("sounding", "all")
#: How a perturbed input reaches the model (see :func:`re_preprocess`): as written, or
#: re-levelled the way the preprocessing levels a clip.
REMOVALS: tuple[str, ...] = ("replace", "re-preprocess")
#: Noise of the noisy-linear fill, as a fraction of each sample's standard deviation (ROAD adds
#: N(0, 0.01²) to images normalised to unit variance).
IMPUTATION_NOISE = 0.01


def _descending_key(values: Tensor) -> Tensor:
    """int64 keys in ``[0, 2**32)`` whose ascending order is the descending order of ``values``.

    The IEEE-754 trick: float32 bits, with the magnitude bits of negatives flipped, order like the
    floats as signed int32; bitwise not reverses that order. ``-0.0`` counts as ``0.0`` (they
    are equal, so they tie).
    """
    bits = (values.float() + 0.0).contiguous().view(torch.int32)
    signed = bits ^ ((bits >> 31) & 0x7FFFFFFF)
    return (~signed).to(torch.int64) + 2**31


def _argsort(keys: Tensor) -> Tensor:
    """Row-wise ascending order of distinct int64 keys (NumPy's sort on the CPU: keys never tie,
    so every algorithm and device gives the same order)."""
    if keys.device.type != "cpu":
        return keys.argsort(dim=1)
    return torch.from_numpy(np.argsort(keys.numpy(), axis=1))


def stream_seed(seed: int, stream: int) -> int:
    """The seed of permutation ``stream`` (0 … 62: the random orders; -1: the tie order) of a
    batch seeded ``seed``: one-to-one in (seed, stream)."""
    return seed * 64 + stream + 1


def trapezoid(curves: Tensor, grid: Tensor) -> Tensor:
    """``(..., K)`` curves over ``grid`` → ``(...)`` trapezoid areas divided by the grid's
    x-range (the mean height; the one value itself for a one-point grid)."""
    if len(grid) == 1:
        return curves[..., 0]
    widths = (grid[1:] - grid[:-1]).to(curves)
    heights = (curves[..., 1:] + curves[..., :-1]) / 2
    return (heights * widths).sum(dim=-1) / float(grid[-1] - grid[0])


# --- the curves ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class PerturbationCurves:
    """True-class probability and correctness after removing a growing fraction of the units
    in scope (those that hold sound, or all).

    ``probability`` and ``correct`` are ``(B, len(orders), len(grid))`` float64 on the CPU
    (``"random"``: the mean over ``random_probability``'s ``(B, n_random, K)`` permutations);
    ``original_*`` are the unperturbed input's values ``(B,)``; ``active`` ``(B,)`` counts each
    sample's units that hold sound, out of ``n_units`` (whatever the scope); ``tied_share``
    ``(B,)`` is the share of the n units in scope (those that hold sound, or all with
    ``scope="all"``) whose relevance equals another one's (NaN where n is 0; None without a
    relevance order). In ``"deletion"`` mode step f has the first ``round(f · n)`` units of each
    order removed; in ``"insertion"`` mode (:meth:`insertion`) it keeps the first
    ``n - round((1 - f) · n)`` and has the rest removed.
    """

    grid: Tensor
    orders: tuple[str, ...]
    mode: str
    n_units: int
    probability: Tensor
    correct: Tensor
    original_probability: Tensor
    original_correct: Tensor
    active: Tensor
    random_probability: Tensor | None = None
    tied_share: Tensor | None = None

    def curve(self, order: str, kind: str = "probability") -> Tensor:
        """``(B, K)`` curve of one order; ``kind`` is ``"probability"`` or ``"accuracy"``."""
        values = self.probability if kind == "probability" else self.correct
        return values[:, self.orders.index(order)]

    def area(self, order: str, kind: str = "probability") -> Tensor:
        """``(B,)`` trapezoid area of a curve over the grid, divided by the grid's x-range."""
        return trapezoid(self.curve(order, kind), self.grid)

    def aopc(self, order: str, kind: str = "probability") -> Tensor:
        """``(B,)`` area over the perturbation curve: f(x) minus the curve's area (Samek et al.
        2017, eq. 12, with the trapezoid over the grid)."""
        original = self.original_probability if kind == "probability" else self.original_correct
        return original - self.area(order, kind)

    def random_area_sd(self) -> Tensor:
        """``(B,)`` standard deviation over the random permutations of their areas: the noise
        one permutation would leave in every gap (NaN with fewer than two)."""
        if self.random_probability is None or self.random_probability.shape[1] < 2:
            return torch.full_like(self.original_probability, float("nan"))
        return trapezoid(self.random_probability, self.grid).std(dim=1)

    def insertion(self) -> PerturbationCurves:
        """The insertion curves these deletion curves hold (Petsiuk et al. 2018: start from the
        removed input, restore the most relevant units first).

        Keeping the first ``n - round((1 - f) · n)`` units of an order removes exactly the first
        ``round((1 - f) · n)`` of its reverse, so insertion most-relevant-first is deletion
        least-relevant-first read backwards (and the reverse), and insertion in a random order
        is deletion in the reversed random permutation, read backwards. Amplitude has no
        reverse here and is left out. Needs a grid symmetric about 50 %.
        """
        if self.mode != "deletion":
            raise AudioXaiError("insertion curves come from deletion curves")
        problem = asymmetry_problem(self.grid.tolist())
        if problem:
            raise AudioXaiError(problem)
        mirror = {"most-relevant": "least-relevant", "least-relevant": "most-relevant",
                  "random": "random"}
        orders = tuple(o for o in self.orders if o in mirror and mirror[o] in self.orders)
        at = [self.orders.index(mirror[o]) for o in orders]

        def flip(curves: Tensor) -> Tensor:
            return curves[:, at].flip(-1)

        randoms = self.random_probability
        return dataclasses.replace(
            self, orders=orders, mode="insertion", probability=flip(self.probability),
            correct=flip(self.correct),
            random_probability=None if randoms is None or "random" not in orders
            else randoms.flip(-1))


def combine_curves(parts: Sequence[PerturbationCurves], orders: Sequence[str]
                   ) -> PerturbationCurves:
    """One :class:`PerturbationCurves` with ``orders`` taken from ``parts``, curves computed on
    the same inputs, grid and seed for different orders (e.g. one explainer's relevance orders
    and the reference orders shared by all explainers)."""
    where = {o: (p, p.orders.index(o)) for p in parts for o in p.orders}
    first = parts[0]

    def pick(field: str) -> Tensor:
        return torch.stack([getattr(where[o][0], field)[:, where[o][1]] for o in orders], dim=1)

    randoms = next((p.random_probability for p in parts if p.random_probability is not None),
                   None)
    tied = next((p.tied_share for p in parts if p.tied_share is not None), None)
    return dataclasses.replace(first, orders=tuple(orders), probability=pick("probability"),
                               correct=pick("correct"), random_probability=randoms,
                               tied_share=tied)


# --- what a removed element becomes ---------------------------------------------------------------


def baseline_values(x: Tensor, baseline: str, seed: int, rows: Tensor) -> Tensor:
    """What replaces removed features of ``x`` (``(S, N)``, flattened samples).

    ``"silence"``: :func:`~audioxai_bench.api.explainer.silence_of`, zero for waveforms and the
    -80 dB floor for spectrograms (0 dB is the loudest bin, so zero would be a loud baseline);
    ``"zero"``; ``"mean"``: each sample's mean;
    ``"noise"``: Gaussian noise with each sample's mean and standard deviation, seeded;
    ``"noisy-linear"``: NaN, the marker :func:`noisy_linear_fill` fills from the kept elements.
    Returns ``(S, 1)`` for constants, ``(S, N)`` for noise.
    """
    if baseline == "zero":
        return x.new_zeros(x.shape[0], 1)
    if baseline == "silence":
        return silence_of(x).flatten(1)
    if baseline == "noisy-linear":
        return x.new_full((x.shape[0], 1), float("nan"))
    flat = x.flatten(1)
    if baseline == "mean":
        return flat.mean(dim=1, keepdim=True)
    if baseline == "noise":
        mean, std = flat.mean(1, keepdim=True), flat.std(1, keepdim=True)
        return (mean + std * _normal(seed, rows, flat.shape[1], 11).to(flat.dtype)).contiguous()
    raise AudioXaiError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)}")


def _normal(seed: int, rows: Tensor, n: int, stream: int) -> Tensor:
    """``(len(rows), n)`` standard normal values per (seed, row, element) (Box–Muller)."""
    u1 = hashed_uniform(seed, rows, n, stream=stream)
    u2 = hashed_uniform(seed, rows, n, stream=stream + 1)
    return torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * math.pi * u2)


def noisy_linear_fill(inputs: Tensor, noise: Tensor | None = None) -> Tensor:
    """``inputs`` with every NaN (a removed element) replaced by the linear interpolation, along
    the last axis (time), between the nearest kept elements of its row, plus ``noise``.

    This is ROAD's noisy linear imputation (Rong et al. 2022, ICML: each removed element the
    weighted mean of its neighbours, solved as one sparse system, plus Gaussian noise) along
    time only. For a waveform it is ROAD exactly: in one dimension that system's solution is the
    straight line between the kept samples either side of a gap, constant before the first and
    after the last. For a spectrogram each frequency row is filled the same way, from its own
    level before and after the gap; ROAD's isotropic fill would also draw on the rows above and
    below, but needs one sparse solve per perturbed input (10–20× the cost of the forward
    passes here), where this is closed-form and batched. A row with nothing kept becomes
    silence. ``noise`` broadcasts to ``inputs`` and is added to the filled elements only.
    """
    removed = torch.isnan(inputs)
    if not bool(removed.any()):
        return inputs
    t = inputs.shape[-1]
    rows = inputs.reshape(-1, t)
    gone = removed.reshape(-1, t)
    # int32 positions: half the memory traffic of int64 on these full-size temporaries
    pos = torch.arange(t, device=inputs.device, dtype=torch.int32 if t < 2**31 else torch.int64)
    before = torch.where(gone, -1, pos).cummax(dim=1).values  # last kept at or before
    after = torch.where(gone, t, pos).flip(1).cummin(dim=1).values.flip(1)  # next kept
    v_before = rows.gather(1, before.clamp(min=0).long())
    v_after = rows.gather(1, after.clamp(max=t - 1).long())
    share = (pos - before).to(rows.dtype) / (after - before).clamp(min=1).to(rows.dtype)
    fill = torch.where(before < 0, v_after,
                       torch.where(after >= t, v_before, torch.lerp(v_before, v_after, share)))
    silence = silence_of(inputs).expand_as(inputs).reshape(-1, t)
    fill = torch.where((before < 0) & (after >= t), silence, fill).view_as(inputs)
    if noise is not None:
        fill = fill + noise
    return torch.where(removed, fill, inputs)


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


# --- units and orders -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)  # holds a tensor: compared by identity
class _Units:
    """How input features group into perturbation units.

    Single features, or ``patch`` tiles of the last ``len(patch)`` dimensions (the leading ones,
    e.g. channels, go with the tile). Unit u is the raveled index of its tile, the last tiled
    dimension running fastest. The engine removes units from inputs in their own contiguous
    layout through :attr:`elements`: on a CPU the AlexNet-style net took 15-20 % longer on
    inputs cropped out of a padded layout (strided) than on contiguous ones (92 inputs, one
    thread), and the copy it made faulted pages in every pass. :meth:`sums` pads to whole
    tiles (``padded``: the leading size, then each tiled dimension rounded up).
    """

    shape: tuple[int, ...]
    patch: tuple[int, ...] | None
    padded: tuple[int, ...]
    #: ``(U, P)`` each unit's flat element indices; a tile cut by the input's edge repeats its
    #: last element up to P (writing one element twice with the same value is harmless)
    elements: Tensor

    @classmethod
    def make(cls, shape: tuple[int, ...], patch: Sequence[int] | None,
             device: torch.device | str = "cpu") -> _Units:
        n = math.prod(shape)
        if patch is None:
            return cls(shape, None, (n,), torch.arange(n, device=device)[:, None])
        patch = tuple(int(p) for p in patch)
        k = len(patch)
        if not 0 < k < len(shape) or min(patch) < 1:
            raise AudioXaiError(f"patch {list(patch)} does not tile inputs of shape "
                                f"{list(shape)} (one size per trailing dimension, >= 1)")
        grid = [-(-d // p) for d, p in zip(shape[-k:], patch)]
        unit_of = torch.zeros(shape[-k:], dtype=torch.long)
        for i, (d, p) in enumerate(zip(shape[-k:], patch)):
            step = math.prod(grid[i + 1:])
            unit_of += (torch.arange(d) // p * step).view(d, *[1] * (k - 1 - i))
        unit_of = unit_of.expand(shape).reshape(-1)
        by_unit = unit_of.argsort(stable=True)
        counts = torch.bincount(unit_of, minlength=math.prod(grid))
        first = counts.cumsum(0) - counts
        within = torch.minimum(torch.arange(int(counts.max()))[None], counts[:, None] - 1)
        padded = (math.prod(shape[:-k]), *[g * p for g, p in zip(grid, patch)])
        return cls(shape, patch, padded, by_unit[first[:, None] + within].to(device))

    @property
    def grid(self) -> list[int]:
        """Units along each tiled dimension (the feature count for single features)."""
        if self.patch is None:
            return [self.padded[0]]
        return [d // p for d, p in zip(self.padded[1:], self.patch)]

    @property
    def count(self) -> int:
        """Units per input."""
        return math.prod(self.grid)

    @property
    def size(self) -> int:
        """Elements per input."""
        return math.prod(self.shape)

    def pad(self, values: Tensor) -> Tensor:
        """``(S, *shape)`` → ``(S, *padded)``, zero-padded (a copy)."""
        if self.patch is None:
            return values.reshape(values.shape[0], -1).clone()
        k = len(self.patch)
        grid = values.reshape(values.shape[0], self.padded[0], *self.shape[-k:])
        pads = [v for d, p in zip(reversed(self.shape[-k:]), reversed(self.padded[1:]))
                for v in (0, p - d)]
        return F.pad(grid, pads)

    def tiled(self, padded: Tensor) -> Tensor:
        """``(S, *padded)`` viewed as ``(S, lead, u1, p1, u2, p2, ...)`` (``(S, N)`` for
        single features)."""
        if self.patch is None:
            return padded
        split = [v for u, p in zip(self.grid, self.patch) for v in (u, p)]
        return padded.view(padded.shape[0], self.padded[0], *split)

    def sums(self, values: Tensor) -> Tensor:
        """``(S, U)`` per-unit sums of ``(S, *shape)``."""
        if self.patch is None:
            return values.reshape(values.shape[0], -1)
        summed = tuple([1] + [3 + 2 * i for i in range(len(self.patch))])
        return self.tiled(self.pad(values)).sum(dim=summed).reshape(values.shape[0], -1)


def _holds_sound(x: Tensor) -> Tensor:
    """``x.shape`` bool: the elements that are not silence (waveform ≠ 0, spectrogram above the
    floor)."""
    return x != 0 if x.dim() == 3 else x > silence_of(x)


def _order_by(values: Tensor, silent: Tensor, tie_rank: Tensor) -> Tensor:
    """``(S, U)`` units in scope (not ``silent``) first, each part by ``values`` descending,
    ties by ``tie_rank`` (a permutation: the key is unique, so any sort gives the same order)."""
    bits = max(1, (values.shape[1] - 1).bit_length())
    key = (silent.to(torch.int64) << (32 + bits)) | (_descending_key(values) << bits) | tie_rank
    return _argsort(key)


def _tied_share(values: Tensor, by_value: Tensor, n: Tensor) -> Tensor:
    """``(S,)`` share of the first ``n`` units of ``by_value`` (sorted by ``values``) whose
    value equals another one's; NaN where ``n`` is 0."""
    v = (values.float() + 0.0).gather(1, by_value)
    both = torch.arange(1, v.shape[1], device=v.device)[None] < n[:, None]
    same = (v[:, 1:] == v[:, :-1]) & both
    tied = F.pad(same, (1, 0)) | F.pad(same, (0, 1))
    share = tied.sum(dim=1).double() / n.double()
    return torch.where(n > 0, share, torch.full_like(share, float("nan")))


def _orderings(orders: Sequence[str], relevance: Tensor, amplitude: Tensor, silent: Tensor,
               seed: int, rows: Tensor, n_random: int
               ) -> tuple[list[tuple[str, Tensor]], Tensor | None]:
    """The internal orders ``(name, (S, U) units)``, the units in scope (not ``silent``: with
    sound, or all) first in each, and the tied share of the relevance (None without a relevance
    order). ``"random"`` becomes ``n_random`` orders, one per seeded permutation;
    ``"least-relevant"`` is the exact reverse of ``"most-relevant"`` over the units in scope."""
    n_units = silent.shape[1]
    n = (~silent).sum(dim=1)
    tie_rank = None
    if set(orders) - {"random"}:
        tie_rank = random_perms(stream_seed(seed, -1), rows, n_units).to(silent.device)
    out: list[tuple[str, Tensor]] = []
    by_relevance = tied = None
    for order in orders:
        if order == "random":
            for r in range(n_random):
                perm = random_perms(stream_seed(seed, r), rows, n_units).to(silent.device)
                first = silent.gather(1, perm).to(torch.int8).argsort(dim=1, stable=True)
                out.append((order, perm.gather(1, first)))
        elif order == "amplitude":
            out.append((order, _order_by(amplitude, silent, tie_rank)))
        else:
            if by_relevance is None:
                by_relevance = _order_by(relevance, silent, tie_rank)
                tied = _tied_share(relevance, by_relevance, n)
            if order == "most-relevant":
                out.append((order, by_relevance))
            else:
                j = torch.arange(n_units, device=silent.device)[None]
                out.append((order, by_relevance.gather(
                    1, torch.where(j < n[:, None], n[:, None] - 1 - j, j))))
    return out, tied


# --- the engine -----------------------------------------------------------------------------------


def settings_problem(grid: Sequence[float], n_random: int) -> str | None:
    """What is wrong with a removal ``grid`` (fractions rising strictly within [0, 1]) and
    ``n_random`` (1 to 62 permutations), or None; checked where a metric is made, before any
    work, and again by :func:`perturbation_curves`."""
    if not isinstance(n_random, int) or not 1 <= n_random <= 62:
        return f"n_random must be 1 to 62 permutations, got {n_random}"
    fractions = [float(g) for g in grid]
    if not fractions or any(not 0 <= f <= 1 for f in fractions) or any(
            b <= a for a, b in zip(fractions, fractions[1:])):
        return f"grid fractions must rise strictly within [0, 1], got {list(grid)}"
    return None


def asymmetry_problem(grid: Sequence[float]) -> str | None:
    """Why insertion curves cannot be read off deletion curves on ``grid`` (it must be
    symmetric about 0.5, see :meth:`PerturbationCurves.insertion`), or None."""
    fractions = [float(g) for g in grid]
    if any(abs(a + b - 1) > 1e-9 for a, b in zip(fractions, reversed(fractions))):
        return f"insertion needs a grid symmetric about 0.5, got {fractions}"
    return None


def perturbation_curves(
    model: nn.Module,
    x: Tensor,
    relevance: Tensor,
    target: Tensor,
    *,
    grid: Sequence[float] = DEFAULT_GRID,
    orders: Sequence[str] = ORDERS,
    baseline: str = "silence",
    patch: Sequence[int] | None = None,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    removal: str = "replace",
    n_random: int = N_RANDOM,
    scope: str = "sounding",
) -> PerturbationCurves:
    """Deletion curves of ``model`` on ``x`` for removal ``orders`` over fractions ``grid``.

    Units are single input features, or ``patch``-sized tiles of the last ``len(patch)``
    dimensions (``(80,)``: 10 ms blocks of an 8 kHz waveform; ``(8, 8)``: spectrogram tiles);
    ``scope="sounding"`` ranks and removes only those that hold sound, ``"all"`` every unit
    (silent ones ranked among them; see the module docstring for every definition).
    ``removal="replace"`` (the paper's) gives the model the input with the removed elements
    written in; ``"re-preprocess"`` levels every perturbed input again as the preprocessing
    would (:func:`re_preprocess`). The unperturbed and the all-removed inputs do not depend on
    the order and are passed once. Samples go in blocks of ``chunk_size // 4``; within a block
    each order's inputs are built step by step (each step removes only the units it adds) and
    every forward pass holds at most ``chunk_size`` inputs, so memory follows the chunk, not the
    batch. Insertion curves: :meth:`PerturbationCurves.insertion`.
    """
    orders = tuple(orders)
    bad = sorted(set(orders) - set(ORDERS))
    if bad or not orders or len(set(orders)) != len(orders):
        raise AudioXaiError(f"orders must be distinct names out of {', '.join(ORDERS)}; "
                            f"got {list(orders)}")
    if baseline not in BASELINES:
        raise AudioXaiError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)}")
    if removal not in REMOVALS:
        raise AudioXaiError(f"unknown removal {removal!r}; valid: {', '.join(REMOVALS)}")
    if scope not in SCOPES:
        raise AudioXaiError(f"unknown scope {scope!r}; valid: {', '.join(SCOPES)}")
    problem = settings_problem(grid, n_random)
    if problem:
        raise AudioXaiError(problem)
    fractions = torch.tensor([float(g) for g in grid], dtype=torch.float64)
    if relevance.shape != x.shape:
        raise AudioXaiError(f"relevance {tuple(relevance.shape)} does not match x "
                            f"{tuple(x.shape)}")
    if not bool(torch.isfinite(relevance).all()) or not bool(torch.isfinite(x).all()):
        raise AudioXaiError("the input or the relevance holds NaN or infinite values")

    b, device = x.shape[0], x.device
    units = _Units.make(tuple(x.shape[1:]), patch, device)
    n_units = units.count
    if n_units >= 2**30:
        raise AudioXaiError(f"{n_units} units are too many to order (at most 2**30)")
    names = [o for o in orders for _ in range(n_random if o == "random" else 1)]
    fracs = fractions.tolist()
    interior = [k for k, f in enumerate(fracs) if 0 < f < 1]
    # Jobs per sample: the intact input, all units with sound removed (if the grid reaches
    # 100 %), then each internal order's steps. The first two do not depend on the order.
    first_step = 2 if fracs[-1] == 1 else 1
    n_jobs = first_step + len(names) * len(interior)
    job_of = torch.tensor([[0 if f == 0 else 1 if f == 1
                            else first_step + o * len(interior) + interior.index(k)
                            for k, f in enumerate(fracs)] for o in range(len(names))])

    prob = torch.empty(b, n_jobs, dtype=torch.float64)
    correct = torch.empty(b, n_jobs, dtype=torch.float64)
    active = torch.empty(b, dtype=torch.long)
    tied_share: Tensor | None = None
    per_block = min(b, max(1, chunk_size // 4))
    storage = x.new_empty(min(chunk_size, n_jobs * per_block) * units.size)
    with explaining(model), torch.no_grad():
        for start in range(0, b, per_block):
            stop = min(b, start + per_block)
            rows = torch.arange(start, stop, device=device)
            xb = x[start:stop]
            sounding = units.sums(_holds_sound(xb).to(x.dtype)) != 0
            # the units out of scope (never ranked among, never removed): none with "all"
            silent = ~sounding if scope == "sounding" else torch.zeros_like(sounding)
            ordered, tied = _orderings(orders, units.sums(relevance[start:stop]),
                                       units.sums(amplitude_of(xb)), silent, seed,
                                       rows, n_random)
            n = (~silent).sum(dim=1)
            counts = torch.round(fractions.to(device)[None] * n[:, None]).long()  # (S, K)
            active[start:stop] = sounding.sum(dim=1).cpu()
            if tied is not None:
                if tied_share is None:
                    tied_share = torch.empty(b, dtype=torch.float64)
                tied_share[start:stop] = tied.cpu()

            flat = xb.reshape(len(rows), -1).clone()
            base = baseline_values(xb, baseline, seed, rows).to(x.dtype)
            base = base.expand_as(flat).contiguous()
            noise = None
            if baseline == "noisy-linear":
                scale = IMPUTATION_NOISE * xb.flatten(1).std(dim=1)
                noise = (scale[:, None] * _normal(seed, rows, xb[0].numel(), 13).to(x.dtype)
                         ).view_as(xb)
            pass_ = _Pass(model, units, target[start:stop], storage, noise=noise,
                          original=xb if removal == "re-preprocess" else None)
            remove = _Remover(units, flat, base)
            pass_.add(0, flat)
            if first_step == 2:
                pass_.add(1, remove.all_of(ordered[0][1], n))
            for o, (_, order) in enumerate(ordered):
                state, done = flat.clone(), torch.zeros_like(n)
                for i, k in enumerate(interior):
                    remove.step(state, order, done, counts[:, k])
                    done = counts[:, k]
                    pass_.add(first_step + o * len(interior) + i, state)
            pass_.flush()
            prob[start:stop], correct[start:stop] = pass_.results(n_jobs)

    by_order = prob[:, job_of], correct[:, job_of]  # (B, internal orders, K)
    first = {name: names.index(name) for name in orders}
    randoms = [i for i, name in enumerate(names) if name == "random"]

    def per_order(values: Tensor) -> Tensor:
        return torch.stack([values[:, randoms].mean(dim=1) if o == "random"
                            else values[:, first[o]] for o in orders], dim=1)

    return PerturbationCurves(
        grid=fractions,
        orders=orders,
        mode="deletion",
        n_units=n_units,
        probability=per_order(by_order[0]),
        correct=per_order(by_order[1]),
        original_probability=prob[:, 0],
        original_correct=correct[:, 0],
        active=active,
        random_probability=by_order[0][:, randoms] if randoms else None,
        tied_share=tied_share,
    )


class _Remover:
    """Writes the removal of units into a state ``(S, elements)``: the ``base`` values (or the
    NaN marker of the noisy-linear fill) over every element of each unit removed."""

    def __init__(self, units: _Units, flat: Tensor, base: Tensor):
        self.units, self.flat, self.base = units, flat, base
        self.rows = torch.arange(flat.shape[0], device=flat.device)[:, None]

    def step(self, state: Tensor, order: Tensor, lo: Tensor, hi: Tensor) -> None:
        """Remove units ``order[i, lo[i]:hi[i]]`` of every row i (rows differ in length)."""
        width = int((hi - lo).max()) if len(lo) else 0
        if width <= 0:
            return
        pos = lo[:, None] + torch.arange(width, device=order.device)[None]
        valid = pos < hi[:, None]
        chosen = order.gather(1, pos.clamp(max=order.shape[1] - 1))
        # flat indices into the (S, elements) state: one index per element, not a pair
        rows = self.rows.expand_as(chosen)[valid][:, None] * self.flat.shape[1]
        where = (rows + self.units.elements[chosen[valid]]).view(-1)
        # index_put (deterministic on every device, unlike put_ and scatter_ on CUDA)
        state.view(-1)[where] = self.base.view(-1).index_select(0, where)

    def all_of(self, order: Tensor, n: Tensor) -> Tensor:
        """The state with every unit that holds sound removed (the same for any order)."""
        state = self.flat.clone()
        self.step(state, order, torch.zeros_like(n), n)
        return state


class _Pass:
    """Collects the inputs of one block of samples in ``storage`` and runs them through the model
    in forward passes as large as ``storage`` holds (whole jobs: every sample of the block).
    Removed elements marked NaN are filled there (:func:`noisy_linear_fill` plus ``noise``,
    ``(S, *shape)``), then ``original`` (the block's inputs) re-levels them if given."""

    def __init__(self, model: nn.Module, units: _Units, target: Tensor, storage: Tensor,
                 noise: Tensor | None = None, original: Tensor | None = None):
        self.model, self.units, self.target = model, units, target
        self.noise, self.original = noise, original
        self.per_pass = max(1, len(storage) // (len(target) * units.size))
        self.buffer = storage[: self.per_pass * len(target) * units.size].view(
            self.per_pass, len(target), units.size)
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
        inputs = self.buffer[:n].view(n * s, *self.units.shape)
        if self.noise is not None:
            inputs = noisy_linear_fill(inputs, self.noise.repeat(n, *[1] * (inputs.dim() - 1)))
        if self.original is not None:
            inputs = re_preprocess(inputs, self.original.repeat(n, *[1] * (inputs.dim() - 1)))
        logits = self.model(inputs)
        p, hit = true_class_scores(logits, self.target.repeat(n))
        p, hit = p.view(n, s), hit.view(n, s)  # kept on the device until the block is done
        for i, job in enumerate(self.jobs):
            self.prob[job], self.correct[job] = p[i], hit[i]
        self.jobs = []

    def results(self, n_jobs: int) -> tuple[Tensor, Tensor]:
        """``(S, n_jobs)`` probabilities and correctness, on the host (one transfer)."""
        return (torch.stack([self.prob[j] for j in range(n_jobs)], dim=1).cpu(),
                torch.stack([self.correct[j] for j in range(n_jobs)], dim=1).cpu())
