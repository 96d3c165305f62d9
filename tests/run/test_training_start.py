"""A recipe trains from the weights its ``init`` names: the paper preset from the Caffe nets'
fillers (science audit 7, H1), the cpu preset from the layers' own; and only with a batch its
training set can fill."""

from __future__ import annotations

import pytest
import torch

import audioxai_bench.run.artifacts as artifacts
from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.models.train import initialise
from audioxai_bench.plugins import load_plugins
from tests.run.helpers import run


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


def test_a_run_refuses_a_batch_larger_than_a_training_set_before_any_model_trains(
        tree, cache, tmp_path, monkeypatch):
    """The tree's sex fold 0 has 36 training clips (12 speakers, digits 0-2): a batch of 50
    took all of them at every step, silently. The digit panel, whose 108 clips fill the batch
    and which trains first, does not train either."""
    monkeypatch.setattr(artifacts, "train", lambda *a, **k: pytest.fail("a model trained"))
    out = tmp_path / "out"
    training = {"preset": "cpu", "iterations": 3, "eval_every": 3, "batch_size": 50}
    with pytest.raises(AudioXaiError) as err:
        run(tree, out, changes={"tasks": ["digit", "sex"], "training": training})
    assert str(err.value) == ("training.batch_size 50 (preset cpu) is larger than the 36 "
                              "training clips of sex fold 0; lower it or use more data")
    assert not out.exists() and not list(cache.glob("models/*.pt"))
