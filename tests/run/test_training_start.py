"""A recipe trains from the weights its ``init`` names: the paper preset from the Caffe nets'
fillers (science audit 7, H1), the cpu preset from the layers' own."""

from __future__ import annotations

import torch

import audioxai_bench.run.artifacts as artifacts
from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.models.train import initialise
from audioxai_bench.plugins import load_plugins


def test_training_starts_from_the_weights_the_recipe_names(tree, monkeypatch):
    starts = []
    real = artifacts.train

    def spy(model, *args, **kw):
        starts.append({k: v.clone() for k, v in model.state_dict().items()})
        return real(model, *args, **kw)

    monkeypatch.setattr(artifacts, "train", spy)
    spec = load_plugins(entrypoints=False).models.get("audionet")
    data = load_audiomnist(tree)
    expected = []
    for init in ("caffe", "default"):
        recipe = artifacts.make_recipe(spec, "builtin", "digit", 0, "paper", width=0.0625,
                                       iterations=1, eval_every=1, batch_size=4, init=init)
        artifacts._train(recipe, data)
        torch.manual_seed(recipe.config.seed)
        model = recipe.build()
        initialise(model, init)
        expected.append(model.state_dict())
    for start, drawn in zip(starts, expected, strict=True):
        assert all(torch.equal(start[k], drawn[k]) for k in drawn)
    caffe, default = starts
    assert not torch.equal(caffe["features.0.weight"], default["features.0.weight"])
