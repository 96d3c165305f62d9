"""BatchMemo: metrics sharing one memo compute each setting once per batch, never across
batches."""

from __future__ import annotations

import dataclasses

import torch

from audioxai_bench.api.metric import BatchMemo, EvalBatch


def test_one_computation_per_key_and_batch():
    x = torch.zeros(2, 1, 8)
    batch = EvalBatch(model=torch.nn.Identity(), x=x, target=torch.zeros(2, dtype=torch.long),
                      relevance=x, representation="waveform")
    memo, calls = BatchMemo(), []

    def compute(tag):
        calls.append(tag)
        return tag

    for key in ("a", "b", "a", "b"):  # two settings read alternately keep both results
        assert memo.get(batch, key, lambda key=key: compute(key)) == key
    assert calls == ["a", "b"]
    other = dataclasses.replace(batch)  # an equal but new batch: computed again
    assert memo.get(other, "a", lambda: compute("a2")) == "a2"
    assert memo.get(batch, "a", lambda: compute("a3")) == "a3"
    assert calls == ["a", "b", "a2", "a3"]
