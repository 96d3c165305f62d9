"""audioxai_bench.testing: the contract checks pass on built-ins and fail, naming the object and
the reason, on broken ones."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor

import audioxai_bench
from audioxai_bench.data.preprocess import to_model_input
from audioxai_bench.plugins import PluginManager
from audioxai_bench.testing import (
    check_explainer,
    check_metric,
    check_sonifier,
    tiny_models,
    toy_batch,
)


@pytest.fixture(scope="module")
def pm() -> PluginManager:
    return PluginManager(entrypoints=False)


@pytest.fixture(scope="module")
def models():
    return tiny_models()


def test_tiny_models_are_the_two_representations_in_eval_mode(models):
    assert set(models) == {"waveform", "spectrogram"}
    for rep, model in models.items():
        assert model.representation == rep and not model.training
        toy = toy_batch(rep)
        assert toy.x.shape == (2, *model.input_shape) and toy.signals.shape == (2, 8000)
        torch.testing.assert_close(toy.x, to_model_input(toy.signals, rep))
        assert model(toy.x).shape == (2, 10)
    # seeded: the same weights on every call
    again = tiny_models()
    for rep in models:
        for a, b in zip(models[rep].parameters(), again[rep].parameters()):
            assert torch.equal(a, b)


# --- built-ins pass ---------------------------------------------------------------------------


def test_builtin_gradient_passes_and_models_come_back_in_their_mode(pm, models):
    models["waveform"].train()
    try:
        check_explainer(pm.explainers.get("gradient"), models=models)
        assert models["waveform"].training and not models["spectrogram"].training
    finally:
        models["waveform"].eval()


@pytest.mark.parametrize("name", ["gini", "faithfulness-gap"])
def test_builtin_metrics_pass(pm, models, name):
    check_metric(pm.metrics.get(name), models=models)


def test_builtin_sonifier_passes(pm, models):
    check_sonifier(pm.sonifiers.get("keep-positive"), models=models)


# --- broken explainers fail with the reason ---------------------------------------------------


class Grad(audioxai_bench.BaseExplainer):
    def attribute(self, model, x, target):
        x = x.requires_grad_()
        return torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)[0]


class WrongShape(Grad):
    def attribute(self, model, x, target):
        return super().attribute(model, x, target)[..., :100]


class ChangesWeights(Grad):
    def attribute(self, model, x, target):
        with torch.no_grad():
            next(model.parameters()).add_(1.0)
        return super().attribute(model, x, target)


class NonFinite(Grad):
    def attribute(self, model, x, target):
        return super().attribute(model, x, target) / 0.0


class Unseeded(Grad):
    def attribute(self, model, x, target):
        return torch.rand_like(x)


class Raises(Grad):
    def attribute(self, model, x, target):
        raise RuntimeError("boom inside my explainer")


class SeededButInTrainMode:
    """Duck-typed, forgets eval mode: dropout is on in a train-mode model."""

    name = "forgets-eval"
    representations = frozenset({"waveform"})

    def explain(self, model, x, target):
        torch.manual_seed(0)
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            out = model(x).gather(1, target[:, None]).sum()
            return torch.autograd.grad(out, x)[0]


class ForgetsEval:
    """Duck-typed, no eval mode and no seed: dropout makes train-mode calls differ."""

    name = "no-eval"
    representations = frozenset({"waveform"})

    def explain(self, model, x, target):
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            return torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)[0]


class IgnoresName(Grad):
    def with_params(self, **params):
        return self


@pytest.mark.parametrize("explainer, message", [
    (WrongShape(name="wrong-shape"),
     r"explainer 'wrong-shape' on the spectrogram toy model in eval mode: returned shape "
     r"\(2, 1, 227, 100\), expected \(2, 1, 227, 227\)"),
    (ChangesWeights(name="changes-weights"),
     r"'changes-weights'.*modified weight of \S+ \(\w*Conv"),
    (NonFinite(name="non-finite"), r"'non-finite'.*NaN/Inf value"),
    (Unseeded(name="unseeded"), r"'unseeded'.*repeated call gave different relevance"),
    (Raises(name="raises"),
     r"'raises'.*raised RuntimeError: boom inside my explainer(.|\n)*its traceback(.|\n)*"
     r"in attribute"),
    (SeededButInTrainMode(), r"'forgets-eval' on the waveform toy model: the relevance differs "
                             r"when the model is in train mode"),
    (ForgetsEval(), r"'no-eval' on the waveform toy model in train mode: a repeated call gave "
                    r"different relevance \(dropout is on in train mode: explain the model in "
                    r"eval mode"),
    (IgnoresName(name="ignores-name"), r"with_params\(name='ignores-name-copy'\) returned an "
                                       r"object named 'ignores-name'"),
    (Grad(name="Bad Name"), r"check_explainer: explainer name 'Bad Name' must be lower-case"),
    (Grad(name="no-reps", representations=frozenset({"image"})),
     r"check_explainer: explainer 'no-reps': representations \['image'\]"),
])
def test_broken_explainers_fail_with_the_reason(models, explainer, message):
    with pytest.raises(AssertionError, match=message):
        check_explainer(explainer, models=models)


# --- broken metrics ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Mass(audioxai_bench.BaseMetric):
    """Share of |R| in the first half of the input (a valid metric to break)."""

    higher_is_better: bool = True

    def score(self, batch):
        r = batch.relevance.abs().flatten(1)
        return audioxai_bench.MetricOutput(scores=r[:, : r.shape[1] // 2].sum(1) / r.sum(1))


class OneScore(Mass):
    def score(self, batch):
        return audioxai_bench.MetricOutput(scores=super().score(batch).scores[:1])


class LeavesTrainMode(Mass):
    def score(self, batch):
        batch.model.train()
        return super().score(batch)


class RandomScores(Mass):
    def score(self, batch):
        return audioxai_bench.MetricOutput(scores=torch.rand(batch.size))


class InfiniteScores(Mass):
    def score(self, batch):
        return audioxai_bench.MetricOutput(scores=super().score(batch).scores / 0.0)


class AllNaN(Mass):
    def score(self, batch):
        return audioxai_bench.MetricOutput(scores=torch.full((batch.size,), float("nan")))


class LeaksRelevance(Mass):
    """Caches a relevance-dependent score under a key that ignores the relevance."""

    def score(self, batch):
        return audioxai_bench.MetricOutput(
            scores=batch.reuse(("mass", batch.seed), lambda: super(LeaksRelevance, self).score(
                batch).scores))


class ReturnsDict(Mass):
    def score(self, batch):
        return {"scores": super().score(batch).scores}


class DependsOnMode(Mass):
    def score(self, batch):
        out = super().score(batch).scores
        return audioxai_bench.MetricOutput(scores=out + float(batch.model.training))


@pytest.mark.parametrize("metric, message", [
    (OneScore(name="one-score"),
     r"metric 'one-score' on the \w+ toy model in eval mode: returned scores of shape \(1,\) "
     r"for a batch of 2"),
    (LeavesTrainMode(name="leaves-train"), r"'leaves-train'.*changed the train/eval mode"),
    (RandomScores(name="random-scores"), r"'random-scores'.*gave different scores"),
    (InfiniteScores(name="infinite"), r"'infinite'.*infinite score\(s\)"),
    (AllNaN(name="all-nan"), r"'all-nan': every score on every toy batch is NaN"),
    (LeaksRelevance(name="leaks"), r"'leaks'.*another explainer's relevance through "
                                   r"batch.shared"),
    (ReturnsDict(name="returns-dict"), r"'returns-dict'.*returned dict, not a MetricOutput"),
    (DependsOnMode(name="mode"), r"'mode' on the \w+ toy model: the scores differ when the "
                                 r"model is in train mode"),
    (Mass(name="bad", higher_is_better="yes"), r"must declare higher_is_better as True or False"),
    (Mass(name="needs-x", needs=frozenset({"labels"})), r"needs unknown EvalBatch fields"),
])
def test_broken_metrics_fail_with_the_reason(models, metric, message):
    with pytest.raises(AssertionError, match=message):
        check_metric(metric, models=models)


def test_valid_metric_passes(models):
    check_metric(Mass(name="mass"), models=models)


# --- broken sonifiers -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Gate(audioxai_bench.BaseSonifier):
    """The signal where relevance is positive (waveform relevance only)."""

    representations: frozenset = frozenset({"waveform"})

    def render(self, waveform: Tensor, relevance: Tensor, representation: str) -> Tensor:
        return waveform * (relevance[:, 0] > 0)


class HalfLength(Gate):
    def render(self, waveform, relevance, representation):
        return super().render(waveform, relevance, representation)[:, :4000]


class DividesByPeak(Gate):
    def render(self, waveform, relevance, representation):
        r = relevance[:, 0]
        return waveform * r / r.abs().amax(dim=1, keepdim=True)


class InPlace:
    name = "in-place"
    representations = frozenset({"waveform"})

    def sonify(self, waveform, relevance, representation):
        return waveform.mul_(0.5)


class Noisy(Gate):
    def render(self, waveform, relevance, representation):
        return super().render(waveform, relevance, representation) + torch.randn_like(waveform)


@pytest.mark.parametrize("sonifier, message", [
    (HalfLength(name="half"), r"sonifier 'half' on waveform gradient x input relevance: sonify "
                              r"returned shape \(2, 4000\), expected \(2, 8000\)"),
    (DividesByPeak(name="peak"), r"'peak' on waveform all-zero relevance: sonify returned "
                                 r"16000 NaN/Inf"),
    (InPlace(), r"'in-place'.*sonify modified its input"),
    (Noisy(name="noisy"), r"'noisy'.*repeated call gave a different sound"),
])
def test_broken_sonifiers_fail_with_the_reason(models, sonifier, message):
    with pytest.raises(AssertionError, match=message):
        check_sonifier(sonifier, models=models)


def test_valid_sonifier_passes(models):
    check_sonifier(Gate(name="gate"), models=models)


# --- the torch mode of a run ------------------------------------------------------------------


def _unpooled(t: Tensor) -> Tensor:
    """``t`` through max_unpool1d, which torch has no deterministic kernel for (on a CPU too),
    as captum's DeepLift runs it through a max pooling layer."""
    pooled, where = torch.nn.functional.max_pool1d(t.flatten(1)[:, None], 1, return_indices=True)
    return torch.nn.functional.max_unpool1d(pooled, where, 1).reshape(t.shape)


class Unpooling(Grad):
    def attribute(self, model, x, target):
        return _unpooled(super().attribute(model, x, target))


class UnpoolingMass(Mass):
    def score(self, batch):
        return audioxai_bench.MetricOutput(scores=_unpooled(super().score(batch).scores[:, None])
                                           [:, 0])


def test_checks_run_under_the_deterministic_algorithms_of_a_run(models):
    """A method that passed the check failed every cell of a run: the runner works under
    torch.use_deterministic_algorithms(True), the check did not."""
    waveform = frozenset({"waveform"})
    with pytest.raises(AssertionError, match=r"'unpooling'.*does not have a deterministic "
                                             r"implementation.*deterministic=False.*"
                                             r"--nondeterministic"):
        check_explainer(Unpooling(name="unpooling", representations=waveform), models=models)
    with pytest.raises(AssertionError, match=r"'unpooling-mass'.*does not have a deterministic"):
        check_metric(UnpoolingMass(name="unpooling-mass", representations=waveform),
                     models=models)
    check_explainer(Unpooling(name="unpooling", representations=waveform), models=models,
                    deterministic=False)
    check_metric(UnpoolingMass(name="unpooling-mass", representations=waveform), models=models,
                 deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()  # the mode is given back
