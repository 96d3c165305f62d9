"""The deletion engine computes exactly what its docstring defines: checked against a plain
per-sample loop that builds every perturbed input from the definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import amplitude_of
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.evaluation.perturbation import (
    DEFAULT_GRID,
    SCOPES,
    _orderings,
    _Units,
    noisy_linear_fill,
    perturbation_curves,
    stream_seed,
)
from audioxai_bench.evaluation.randomness import random_perms


class Linear(nn.Module):
    """A fixed random linear map of the whole input to three classes, squashed (dB inputs
    rescaled to [0, 1] first)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(5)
        self.register_buffer("weight", torch.randn(3, math.prod(shape), generator=gen) / 30)
        self.inputs: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        self.inputs.append(x.detach().clone())
        flat = x.flatten(1) if x.dim() == 3 else (x.flatten(1) + 80) / 80
        # a product and sum per row (not a matmul): a row's logits do not depend on the batch
        return torch.tanh((flat[:, None] * self.weight).sum(-1)) * 3


def waveforms(n: int = 3, t: int = 400) -> Tensor:
    """Sound in the first 300 samples of each row (row i: the first 300 - 80 i), then zeros."""
    x = torch.randn(n, 1, t, generator=torch.Generator().manual_seed(0))
    for i in range(n):
        x[i, :, 300 - 80 * i:] = 0
    return x


def spectrograms(n: int = 3) -> Tensor:
    """dB inputs on a 20 × 30 grid, at the -80 dB floor outside a sounding region."""
    x = torch.full((n, 1, 20, 30), -80.0)
    x[:, :, 3:15, 5:25] = -60 * torch.rand(n, 1, 12, 20, generator=torch.Generator()
                                           .manual_seed(1))
    x[1, :, :, 17:] = -80.0  # less sound in the second sample
    return x


def naive_units(shape: tuple[int, ...], patch: tuple[int, ...] | None) -> list[list[int]]:
    """Each unit's flat element indices, units numbered row-major over the tile grid."""
    if patch is None:
        return [[i] for i in range(math.prod(shape))]
    if len(patch) == 1:
        (c, t), (p,) = shape, patch
        return [[ch * t + j for ch in range(c) for j in range(u * p, min(t, u * p + p))]
                for u in range(-(-t // p))]
    (c, h, w), (ph, pw) = shape, patch
    return [[ch * h * w + i * w + j for ch in range(c)
             for i in range(a * ph, min(h, a * ph + ph))
             for j in range(b * pw, min(w, b * pw + pw))]
            for a in range(-(-h // ph)) for b in range(-(-w // pw))]


def naive_orders(x: Tensor, relevance: Tensor, patch, seed: int, n_random: int,
                 scope: str = "sounding") -> tuple[dict[str, list[list[int]]], list[int]]:
    """Per order, per sample: the units in scope (those that hold sound, or all) in removal
    order (the definition), and each sample's count of units that hold sound."""
    units = naive_units(tuple(x.shape[1:]), patch)
    rows = torch.arange(len(x))
    ties = random_perms(stream_seed(seed, -1), rows, len(units))
    perms = [random_perms(stream_seed(seed, r), rows, len(units)) for r in range(n_random)]
    silence = 0.0 if x.dim() == 3 else -80.0
    amplitude = x.abs() if x.dim() == 3 else x + 80
    out: dict[str, list[list[int]]] = {"most-relevant": [], "least-relevant": [],
                                       "amplitude": []}
    out |= {f"random{r}": [] for r in range(n_random)}
    sound_counts = []
    for i in range(len(x)):
        flat, rel, amp = x[i].flatten(), relevance[i].flatten(), amplitude[i].flatten()
        sound = [u for u, el in enumerate(units)
                 if any((flat[e] > silence) if x.dim() == 4 else (flat[e] != 0) for e in el)]
        sound_counts.append(len(sound))
        ranked = list(range(len(units))) if scope == "all" else sound
        total = {u: float(rel[units[u]].sum()) for u in ranked}
        loud = {u: float(amp[units[u]].sum()) for u in ranked}
        morf = sorted(ranked, key=lambda u: (-total[u], int(ties[i, u])))
        out["most-relevant"].append(morf)
        out["least-relevant"].append(morf[::-1])
        out["amplitude"].append(sorted(ranked, key=lambda u: (-loud[u], int(ties[i, u]))))
        for r in range(n_random):
            out[f"random{r}"].append([int(u) for u in perms[r][i] if int(u) in set(ranked)])
    return out, sound_counts


def naive_probability(model: nn.Module, x: Tensor, target: Tensor, units, order, k: int,
                      base: Tensor) -> float:
    """True-class probability of sample ``x`` with the first ``k`` units of ``order`` set to
    ``base`` (flat)."""
    flat = x.flatten().clone()
    for u in order[:k]:
        flat[units[u]] = base[units[u]]
    logits = model(flat.view(1, *x.shape))
    return float(torch.softmax(logits.float(), dim=1)[0, target])


@pytest.mark.parametrize(("kind", "patch", "scope"), [
    ("waveform", None, "sounding"), ("waveform", (80,), "sounding"),
    ("spectrogram", (8, 8), "sounding"), ("spectrogram", None, "sounding"),
    ("waveform", None, "all"), ("waveform", (80,), "all"), ("spectrogram", None, "all")])
def test_curves_equal_the_definition_built_input_by_input(kind, patch, scope):
    x = waveforms() if kind == "waveform" else spectrograms()
    model = Linear(tuple(x.shape[1:]))
    target = torch.tensor([0, 1, 2])
    relevance = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    grid = (0.0, 0.1, 0.35, 0.5, 0.9, 1.0)
    curves = perturbation_curves(model, x, relevance, target, grid=grid, patch=patch, seed=4,
                                 n_random=3, baseline="mean", chunk_size=7, scope=scope)
    orders, counts = naive_orders(x, relevance, patch, seed=4, n_random=3, scope=scope)
    units = naive_units(tuple(x.shape[1:]), patch)
    assert curves.active.tolist() == counts and curves.n_units == len(units)
    n = [len(units)] * len(x) if scope == "all" else counts  # what the grid is a share of
    model.inputs.clear()
    for i in range(len(x)):
        base = x[i].flatten().mean().expand(x[i].numel())
        for name, per_sample in orders.items():
            expected = [naive_probability(model, x[i], target[i], units, per_sample[i],
                                          round(f * n[i]), base) for f in grid]
            got = (curves.random_probability[i, int(name[6:])] if name.startswith("random")
                   else curves.curve(name)[i])
            torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64),
                                       rtol=0, atol=1e-5, msg=f"{name}, sample {i}")
    torch.testing.assert_close(curves.curve("random"), curves.random_probability.mean(dim=1))
    # the same numbers for any chunk size
    again = perturbation_curves(model, x, relevance, target, grid=grid, patch=patch, seed=4,
                                n_random=3, baseline="mean", chunk_size=256, scope=scope)
    assert torch.equal(again.probability, curves.probability)


def test_the_amplitude_order_is_the_amplitude_explainers_order_on_edge_tiles_too():
    """20 × 30 bins in 8 × 8 tiles: the edge tiles are smaller. The amplitude order ranks units
    as a relevance map of the amplitude ranks them (summed), so that explainer scores exactly
    its own control (its gap vs amplitude is 0, not a test of tile sizes)."""
    x = spectrograms()
    x[:, :, 16:, 24:] = -1.0  # a loud corner tile of 4 × 6 bins: loudest by its mean only
    model = Linear(tuple(x.shape[1:]))
    target = torch.tensor([0, 1, 2])
    curves = perturbation_curves(model, x, amplitude_of(x), target, patch=(8, 8), seed=4,
                                 n_random=1, chunk_size=64)
    assert torch.equal(curves.curve("amplitude"), curves.curve("most-relevant"))
    # not a tautology here: by its mean the small corner tile is the loudest, by its sum not
    units = naive_units(tuple(x.shape[1:]), (8, 8))
    level = amplitude_of(x[0]).flatten()
    means = [float(level[u].mean()) for u in units]
    sums = [float(level[u].sum()) for u in units]
    assert max(range(len(units)), key=means.__getitem__) != max(range(len(units)),
                                                               key=sums.__getitem__)


def test_silent_units_are_never_touched_and_each_step_removes_round_f_n_units():
    x = waveforms()
    model = Linear(tuple(x.shape[1:]))
    target = torch.tensor([0, 1, 2])
    relevance = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    grid = (0.0, 0.25, 0.5, 0.75, 1.0)
    c = perturbation_curves(model, x, relevance, target, grid=grid, patch=(80,),
                            baseline="mean", orders=("most-relevant",), chunk_size=12)
    inputs = torch.cat(model.inputs)  # (jobs × 3, 1, 400): one block of 3 samples
    assert c.active.tolist() == [4, 3, 2]  # 300, 220 and 140 samples of sound: 80-sample blocks
    silent_blocks = (x == 0).view(3, 5, 80).all(-1, keepdim=True).expand(-1, -1, 80)
    silent = silent_blocks.reshape(x.shape).repeat(len(inputs) // 3, 1, 1)
    assert torch.equal(inputs[silent], torch.zeros(int(silent.sum())))  # "mean" never written
    changed = (inputs != x.repeat(len(inputs) // 3, 1, 1)).view(-1, 3, 5, 80).any(-1).sum(-1)
    # jobs: intact, all removed, then most-relevant at 25, 50, 75 %
    expected = [[0, 0, 0], [4, 3, 2]] + [[round(f * n) for n in (4, 3, 2)] for f in grid[1:-1]]
    assert changed.tolist() == expected


def test_scope_all_removes_a_share_of_the_whole_input_silent_units_among_them():
    """The paper's k: round(f · 5) of the five 80-sample blocks, sounding or not; the default
    scope is the units that hold sound, and on an input without silence both scopes agree."""
    x = waveforms()
    model = Linear(tuple(x.shape[1:]))
    target = torch.tensor([0, 1, 2])
    relevance = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    grid = (0.0, 0.25, 0.5, 0.75, 1.0)

    def blocks_changed(**kwargs) -> list[list[int]]:
        model.inputs.clear()
        perturbation_curves(model, x, relevance, target, grid=grid, patch=(80,),
                            baseline="mean", orders=("most-relevant",), chunk_size=12, **kwargs)
        inputs = torch.cat(model.inputs)
        return (inputs != x.repeat(len(inputs) // 3, 1, 1)).view(-1, 3, 5, 80).any(-1).sum(
            -1).tolist()

    # jobs: intact, all removed, then most-relevant at 25, 50, 75 %
    everything = blocks_changed(scope="all")
    assert everything == [[0, 0, 0], [5, 5, 5]] + [[round(f * 5)] * 3 for f in grid[1:-1]]
    sounding = [[0, 0, 0], [4, 3, 2]] + [[round(f * n) for n in (4, 3, 2)] for f in grid[1:-1]]
    assert blocks_changed() == blocks_changed(scope="sounding") == sounding
    full = torch.randn(x.shape, generator=torch.Generator().manual_seed(4))  # no silence
    a, b = (perturbation_curves(model, full, relevance, target, grid=grid, patch=(80,),
                                n_random=2, seed=1, scope=scope) for scope in SCOPES)
    assert torch.equal(a.probability, b.probability)
    assert torch.equal(a.random_probability, b.random_probability)
    with pytest.raises(AudioXaiError, match="unknown scope 'silent'"):
        perturbation_curves(model, x, x, target, scope="silent")


def test_ties_are_removed_in_a_seeded_random_order_not_by_position():
    silent = torch.zeros(2, 50, dtype=torch.bool)
    flat = torch.zeros(2, 50)
    flat[0, 10] = -0.0  # equal to 0.0: the same tie
    rows = torch.arange(2)
    (order, tied) = _orderings(("most-relevant",), flat, flat, silent, 0, rows, 1)
    ties = random_perms(stream_seed(0, -1), rows, 50)
    assert torch.equal(order[0][1], ties.argsort(dim=1))  # the tie permutation's order
    assert not torch.equal(order[0][1][0], torch.arange(50))
    other, _ = _orderings(("most-relevant",), flat, flat, silent, 1, rows, 1)
    assert not torch.equal(other[0][1], order[0][1])  # another seed, another tie order
    assert tied.tolist() == [1.0, 1.0]
    # two distinct values among 50: 48 of them tie at 0; silent units are not counted
    flat[:, 3], flat[:, 7] = 2.0, -1.0
    silent[1, 20:] = True
    _, tied = _orderings(("most-relevant",), flat, flat, silent, 0, rows, 1)
    torch.testing.assert_close(tied, torch.tensor([48 / 50, 18 / 20], dtype=torch.float64))
    # a map without sound has no tied share
    _, tied = _orderings(("least-relevant",), flat, flat, torch.ones_like(silent), 0, rows, 1)
    assert tied.isnan().all()


def test_units_tile_the_trailing_dimensions():
    blocks = _Units.make((1, 8000), (80,))
    laid_out = blocks.tiled(blocks.pad(torch.arange(8000.0).view(1, 1, 8000)))
    assert blocks.count == 100 and laid_out[0, 0, 3].tolist() == list(range(240, 320))
    assert blocks.elements[3].tolist() == list(range(240, 320))
    tiles = _Units.make((1, 227, 227), (8, 8))
    assert tiles.count == 29 * 29 and tiles.padded == (1, 232, 232)
    x = torch.randn(2, 1, 227, 227)
    unit_30 = x[1].flatten()[tiles.elements[30]]
    assert torch.equal(unit_30, x[1, 0, 8:16, 8:16].flatten())  # tile row 1, column 1
    # a tile cut by the edge (row 0, column 28: 8 x 3 bins) repeats its last element
    edge = tiles.elements[28]
    assert len(edge.unique()) == 24 and torch.equal(x[0].flatten()[edge.unique()],
                                                    x[0, 0, :8, 224:].flatten())
    assert torch.equal(tiles.elements.unique(), torch.arange(227 * 227))  # each bin in a unit
    sums = tiles.sums(x)
    assert sums[1, 30].item() == pytest.approx(float(x[1, 0, 8:16, 8:16].sum()), abs=1e-4)
    # the last tile of a row sums its 8 × 3 real bins (the padding adds nothing)
    assert sums[0, 28].item() == pytest.approx(float(x[0, 0, :8, 224:].sum()), abs=1e-4)
    with pytest.raises(AudioXaiError, match="does not tile"):
        _Units.make((1, 8000), (8, 8, 8))
    spec = spectrograms()  # 1 × 1 tiles are single features
    model, target = Linear(tuple(spec.shape[1:])), torch.tensor([0, 1, 2])
    relevance = torch.rand(spec.shape, generator=torch.Generator().manual_seed(0))
    per_bin = perturbation_curves(model, spec, relevance, target, n_random=2)
    per_tile = perturbation_curves(model, spec, relevance, target, n_random=2, patch=(1, 1))
    assert torch.equal(per_bin.probability, per_tile.probability)


def test_insertion_is_deletion_of_the_reverse_read_backwards():
    """Insertion from the definition: start with every unit that holds sound removed and
    restore the first n - round((1 - f) n) of the order (for the random curve: of the reversed
    permutation, itself a uniformly random order)."""
    x = waveforms()
    model = Linear(tuple(x.shape[1:]))
    target = torch.tensor([2, 0, 1])
    relevance = torch.randn(x.shape, generator=torch.Generator().manual_seed(6))
    c = perturbation_curves(model, x, relevance, target, patch=(40,), n_random=2)
    ins = c.insertion()
    assert ins.mode == "insertion" and ins.orders == ("most-relevant", "least-relevant",
                                                      "random")
    orders, counts = naive_orders(x, relevance, (40,), seed=0, n_random=2)
    units = naive_units(tuple(x.shape[1:]), (40,))
    for i in range(len(x)):
        silence = torch.zeros(x[i].numel())
        for name, own in (("most-relevant", "most-relevant"), ("random", "random0")):
            order, n = orders[own][i], counts[i]
            order = order[::-1] if name == "random" else order
            expected = []
            for f in DEFAULT_GRID:
                kept = n - round((1 - f) * n)
                expected.append(naive_probability(model, x[i], target[i], units,
                                                  order[kept:], n - kept, silence))
            got = ins.curve(name)[i] if name != "random" else ins.random_probability[i, 0]
            torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64),
                                       rtol=0, atol=1e-5, msg=f"{name}, sample {i}")
    torch.testing.assert_close(ins.area("most-relevant"), c.area("least-relevant"))
    asymmetric = perturbation_curves(model, x, relevance, target, grid=(0.0, 0.2, 0.5))
    with pytest.raises(AudioXaiError, match="symmetric"):
        asymmetric.insertion()


def test_noisy_linear_fill_is_roads_system_in_one_dimension():
    """ROAD (Rong et al. 2022) solves, for the removed elements, "each is the weighted mean of
    its neighbours" as one sparse system; with the two time neighbours (weights 1/2, the weight
    of a neighbour outside the signal dropped) its solution is our fill without noise."""
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(4, 1, 60, generator=gen, dtype=torch.float64)
    removed = torch.rand(4, 1, 60, generator=gen) < 0.5
    removed[0, 0, :5] = True  # a gap at the start
    removed[1, 0, -7:] = True  # and at the end
    removed[3] = True  # nothing kept: silence
    got = noisy_linear_fill(x.masked_fill(removed, float("nan")))
    for i in range(3):
        row, gone = x[i, 0].numpy(), removed[i, 0].numpy()
        idx = np.flatnonzero(gone)
        at = {j: k for k, j in enumerate(idx)}
        a = scipy.sparse.lil_matrix((len(idx), len(idx)))
        b = np.zeros(len(idx))
        for k, j in enumerate(idx):
            weight = 0.0
            for nb in (j - 1, j + 1):
                if 0 <= nb < 60:
                    weight += 0.5
                    if gone[nb]:
                        a[k, at[nb]] = 0.5
                    else:
                        b[k] -= 0.5 * row[nb]
            a[k, k] = -weight
        solution = scipy.sparse.linalg.spsolve(a.tocsc(), b)
        np.testing.assert_allclose(got[i, 0].numpy()[idx], solution, rtol=0, atol=1e-10)
        assert torch.equal(got[i][~removed[i]], x[i][~removed[i]])
    assert torch.equal(got[3], torch.zeros(1, 60, dtype=torch.float64))
    noise = torch.full_like(x, 0.5)
    noisy = noisy_linear_fill(x.masked_fill(removed, float("nan")), noise)
    assert torch.equal(noisy[removed], got[removed] + 0.5)
    assert torch.equal(noisy[~removed], x[~removed])
    # spectrograms: each frequency row on its own; the floor where a row has nothing kept
    spec = torch.full((1, 1, 2, 4), -80.0)
    spec[0, 0, 0] = torch.tensor([-10.0, float("nan"), float("nan"), -40.0])
    spec[0, 0, 1] = float("nan")
    filled = noisy_linear_fill(spec)
    assert filled[0, 0].tolist() == [[-10.0, -20.0, -30.0, -40.0], [-80.0] * 4]


def test_noisy_linear_removal_runs_through_the_engine():
    x = waveforms()
    model = Linear(tuple(x.shape[1:]))
    target = torch.tensor([0, 1, 2])
    relevance = torch.randn(x.shape, generator=torch.Generator().manual_seed(8))
    c = perturbation_curves(model, x, relevance, target, patch=(80,), baseline="noisy-linear",
                            orders=("most-relevant",), grid=(0.0, 0.5, 1.0))
    assert bool(torch.isfinite(c.probability).all())
    halfway = model.inputs[0][3:6]  # the first pass: intact, all removed, then 50 %
    assert bool(torch.isfinite(halfway).all()) and not torch.equal(halfway, x)
    silent = (x == 0).view(3, 5, 80).all(-1, keepdim=True).expand(-1, -1, 80).reshape(x.shape)
    assert torch.equal(halfway[silent], x[silent])  # silent blocks are never written


def test_same_numbers_twice_and_only_the_random_curves_follow_the_seed():
    x = waveforms()
    model = Linear(tuple(x.shape[1:]))
    target = torch.tensor([0, 1, 2])
    relevance = torch.rand(x.shape, generator=torch.Generator().manual_seed(2))

    def run(chunk_size: int, baseline: str = "silence", seed: int = 7):
        return perturbation_curves(model, x, relevance, target, seed=seed, patch=(80,),
                                   chunk_size=chunk_size, baseline=baseline)

    first = run(256)
    assert torch.equal(first.probability, run(256).probability)
    assert torch.equal(first.probability, run(5).probability)
    assert torch.equal(run(256, "noise").probability, run(5, "noise").probability)
    other_seed = run(256, seed=8)
    assert not torch.equal(other_seed.curve("random"), first.curve("random"))
    assert torch.equal(other_seed.curve("most-relevant"), first.curve("most-relevant"))
    assert first.random_probability.shape == (3, 8, 11)
    assert bool((first.random_area_sd() > 0).all())


def test_bad_arguments_fail_with_the_valid_choices():
    x = waveforms(2)
    model, target = Linear(tuple(x.shape[1:])), torch.tensor([0, 1])
    with pytest.raises(AudioXaiError, match="valid: silence, zero, mean, noise, noisy-linear"):
        perturbation_curves(model, x, x, target, baseline="white")
    with pytest.raises(AudioXaiError, match="rise strictly"):
        perturbation_curves(model, x, x, target, grid=(0.0, 1.5))
    with pytest.raises(AudioXaiError, match="rise strictly"):
        perturbation_curves(model, x, x, target, grid=(0.5, 0.1))
    with pytest.raises(AudioXaiError, match="distinct names"):
        perturbation_curves(model, x, x, target, orders=("loudest",))
    with pytest.raises(AudioXaiError, match="n_random"):
        perturbation_curves(model, x, x, target, n_random=0)
    with pytest.raises(AudioXaiError, match="NaN"):
        perturbation_curves(model, x, x.masked_fill(x > 1, float("nan")), target)
