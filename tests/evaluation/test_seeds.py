"""Every run seed the definition and --seed accept works, and the seeds derived from the ones
in use are those the committed results were made with (probe 5 #7)."""

from __future__ import annotations

import pytest
import torch

from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.evaluation.meta import reference_maps
from audioxai_bench.evaluation.perturbation import stream_seed
from audioxai_bench.evaluation.randomness import random_perms
from audioxai_bench.plugins import PluginManager
from audioxai_bench.run.definition import MAX_SEED
from audioxai_bench.testing import tiny_models, toy_batch


def batch_seed(seed: int, index: int) -> int:
    """The runner's seed of batch ``index`` (run/units.py)."""
    return seed * 100_003 + index


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 1000, 1_000_000])
def test_the_seeds_in_use_derive_what_the_old_formulas_did(seed):
    rows = torch.tensor([0, 5, 17])
    for index in (0, 3):
        for stream in (-1, 0, 62):
            derived = stream_seed(batch_seed(seed, index), stream)
            old = [torch.randperm(40, generator=torch.Generator().manual_seed(
                derived * 1_000_003 + r)) for r in rows.tolist()]
            assert torch.equal(random_perms(derived, rows, 40), torch.stack(old))
        batch = toy(batch_seed(seed, index))
        old = torch.Generator().manual_seed(batch.seed * 1_000_003 + 907)
        assert torch.equal(torch.rand(5, generator=batch.generator(salt=907)),
                           torch.rand(5, generator=old))


def toy(seed: int) -> EvalBatch:
    data = toy_batch("waveform", 2)
    model = tiny_models()["waveform"]
    return EvalBatch(model=model, x=data.x, target=data.target, relevance=data.x.clone(),
                     representation="waveform", signals=data.signals, seed=seed,
                     chunk_size=64)


@pytest.mark.parametrize("seed", [2_900_000, 3_000_000, MAX_SEED])
def test_every_accepted_seed_scores(seed):
    """Seeds from about 2.9 million on failed every faithfulness-gap cell with "Overflow when
    unpacking long long" (seed * 100_003 * 64 * 1_000_003 outgrew a generator's 64 bits)."""
    derived = stream_seed(batch_seed(seed, 3), 62)
    perms = random_perms(derived, torch.tensor([0, 1]), 30)
    assert sorted(perms[0].tolist()) == list(range(30))
    assert torch.equal(perms, random_perms(derived, torch.tensor([0, 1]), 30))
    batch = toy(batch_seed(seed, 3))
    assert torch.rand(1, generator=batch.generator(salt=907)).isfinite().all()
    assert reference_maps(torch.ones(1, 1, 8000, dtype=torch.bool), batch.seed)
    gap = PluginManager(entrypoints=False).metrics.get("faithfulness-gap")
    assert gap.score(batch).scores.isfinite().all()
