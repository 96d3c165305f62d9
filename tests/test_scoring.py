"""score_attributions: the suite's metrics on any model's attributions, in one call; README's
examples run as printed."""

from __future__ import annotations

import dataclasses
import io
import re
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import audioxai_bench
from audioxai_bench.api.metric import EvalBatch
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.models import build_model, save_checkpoint
from audioxai_bench.plugins import PluginManager
from audioxai_bench.scoring import COLUMNS, DEFAULT_METRICS, score_attributions
from audioxai_bench.testing import tiny_models, toy_batch
from tests.doc_examples import fenced_blocks, run_blocks

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def pm() -> PluginManager:
    return PluginManager(entrypoints=False)


def spectrogram_model() -> nn.Module:
    """A classifier of (B, 1, 40, 50) spectrograms: not the AudioMNIST grid."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(16, 3)).eval()


def test_the_readme_example_runs_and_gives_the_known_answer():
    ((start, code),) = [(line, c) for section, line, c in fenced_blocks(README, "python")
                        if section == "Score the attributions of your own model"]
    printed = io.StringIO()
    with redirect_stdout(printed):
        module = run_blocks(README, [(start, code)], "readme_scoring_example")
    del sys.modules["readme_scoring_example"]
    exact, random = (module.results[k] for k in ("gradient-x-input", "random"))
    assert list(exact.index) == list(DEFAULT_METRICS) and list(exact.columns) == list(COLUMNS)
    assert (exact.status == "ok").all() and (exact.n == 16).all()
    # the exact attribution of a linear model removes the evidence first; random does not
    gap, chance = exact.loc["faithfulness-gap"], random.loc["faithfulness-gap"]
    assert gap.value > 0.2 and gap.ci_low > chance.ci_high and abs(chance.value) < 0.05
    assert exact.loc["insertion-gap", "value"] > 0.2
    assert exact.loc["faithfulness-gap", "scores"].shape == (16,)
    assert printed.getvalue().startswith("gradient-x-input [")


def test_the_readme_plugin_example_runs_on_a_checkpoint(tmp_path, monkeypatch):
    ((start, code),) = [(line, c) for section, line, c in fenced_blocks(README, "python")
                        if section == "Explanation methods are plugins"]
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "audionet-digit-0.pt", build_model("audionet", 10, width=0.0625),
                    {"task": "digit", "fold": 0})
    monkeypatch.chdir(tmp_path)
    module = run_blocks(README, [(start, code)], "readme_plugin_example")
    del sys.modules["readme_plugin_example"]
    assert module.relevance.shape == (4, 1, 8000)
    assert bool(torch.isfinite(module.relevance).all()) and module.relevance.abs().sum() > 0


def test_any_spectrogram_grid_and_a_metric_object(pm):
    model = spectrogram_model()
    x = torch.randn(6, 1, 40, 50)
    target = torch.tensor([0, 1, 2, 0, 1, 2])

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Mass(audioxai_bench.BaseMetric):
        def score(self, batch):
            r = batch.relevance.abs().flatten(1)
            return audioxai_bench.MetricOutput(scores=r[:, :10].sum(1) / r.sum(1))

    relevance = torch.zeros_like(x)
    relevance.view(6, -1)[:, :10] = 1.0
    scores = score_attributions(model, x.numpy(), target.numpy(), relevance,
                                metrics=["faithfulness-gap", Mass(name="mass",
                                                                        higher_is_better=True)],
                                plugins=pm, batch_size=4)
    assert list(scores.index) == ["faithfulness-gap", "mass"]
    assert (scores.status == "ok").all() and (scores.n == 6).all()
    assert scores.loc["mass", "value"] == pytest.approx(1.0)
    assert np.isfinite(scores.loc["faithfulness-gap", "value"])


def test_a_spectrogram_below_the_floor_is_refused_not_scored_against_it(pm):
    """Silence is the -80 dB floor, not each sample's minimum: a dB spectrogram floored at
    -100 would have its bins below -80 count as silent, yet be raised to -80 when removed."""
    model = spectrogram_model()
    x = torch.rand(2, 1, 40, 50) * 100 - 100  # 0 dB down to a -100 dB floor
    with pytest.raises(AudioXaiError, match="values down to -.*, below the -80 dB floor"):
        score_attributions(model, x, torch.tensor([0, 1]), torch.randn_like(x), plugins=pm)
    scores = score_attributions(model, x.clamp_min(-80), torch.tensor([0, 1]),
                                torch.randn_like(x), metrics=["faithfulness-gap"], plugins=pm)
    assert (scores.status == "ok").all()


def test_model_randomisation_explains_again_with_the_explainer(pm):
    model, x = spectrogram_model(), torch.randn(2, 1, 40, 50)
    target = torch.tensor([0, 2])
    relevance = pm.explain("gradient", model, x, target)
    scores = score_attributions(model, x, target, relevance, metrics=["model-randomisation"],
                                explainer=pm.explainers.get("gradient"), plugins=pm)
    output = scores.loc["model-randomisation", "output"]
    assert output.info["layers"] == ["4", "0"] and output.curves["spearman"].shape == (2, 2)
    assert scores.loc["model-randomisation", "status"] == "ok"


def test_the_same_numbers_as_the_metric_on_an_eval_batch(pm):
    model = tiny_models()["waveform"]
    toy = toy_batch("waveform", size=4)
    relevance = toy.x.abs()
    scores = score_attributions(model, toy.x, toy.target, relevance, metrics=["aopc"],
                                plugins=pm, seed=3)
    direct = pm.metrics.get("aopc").score(EvalBatch(
        model=model, x=toy.x, target=toy.target, relevance=relevance,
        representation="waveform", seed=3 * 100_003, shared={}))
    np.testing.assert_allclose(scores.loc["aopc", "scores"], direct.scores.numpy())
    assert scores.loc["aopc", "value"] == pytest.approx(float(direct.scores.mean()))


def test_all_metrics_skip_what_cannot_apply_with_the_reason(pm):
    model, x = spectrogram_model(), torch.randn(3, 1, 40, 50)
    scores = score_attributions(model, x, torch.tensor([0, 1, 2]), x - x.amin(), metrics="all",
                                plugins=pm)
    assert list(scores.index) == pm.metrics.names()
    skipped = scores[scores.status == "skipped"]
    assert skipped.value.isna().all() and skipped.reason.notna().all()
    assert "no signals= were given" in skipped.loc["frequency-bands", "reason"]
    assert "explainer=" in skipped.loc["model-randomisation", "reason"]
    assert "explainer=" in skipped.loc["runtime", "reason"]  # it times the explainer itself
    ok = scores[scores.status == "ok"]
    assert set(DEFAULT_METRICS) <= set(ok.index) and np.isfinite(ok.value.astype(float)).all()


def test_a_named_metric_that_cannot_apply_fails_with_one_line(pm):
    model, x = spectrogram_model(), torch.randn(2, 1, 40, 50)
    target = torch.tensor([0, 1])
    with pytest.raises(AudioXaiError, match=r"^metric 'frequency-bands' cannot score these "
                                            r"attributions: .*no signals= were given$"):
        score_attributions(model, x, target, x, metrics=["frequency-bands"], plugins=pm)
    # signals given, but x is not the suite's preprocessing of them
    with pytest.raises(AudioXaiError, match=r"x \(2, 1, 40, 50\) is not "
                                            r"to_model_input\(signals, 'spectrogram'\)"):
        score_attributions(model, x, target, x, metrics="frequency-bands",
                           signals=torch.randn(2, 8000), plugins=pm)
    wave = torch.randn(2, 1, 100)
    with pytest.raises(AudioXaiError, match="applies to spectrogram models only, these are "
                                            "waveform inputs"):
        score_attributions(nn.Sequential(nn.Flatten(), nn.Linear(100, 2)), wave, target, wave,
                           metrics=["frequency-bands"], plugins=pm)
    toy = toy_batch("spectrogram")
    with pytest.raises(AudioXaiError, match=r"pass sonifiers= \(ones that take spectrogram"):
        score_attributions(tiny_models()["spectrogram"], toy.x, toy.target, toy.x,
                           signals=toy.signals, metrics=["sonified-accuracy"], plugins=pm,
                           sonifiers=["keep-top"])


def test_audiomnist_inputs_with_signals_explainer_and_sonifiers(pm):
    model = tiny_models()["spectrogram"].train()  # its mode is left as it is
    toy = toy_batch("spectrogram", size=2)
    relevance = pm.explain("gradient", model, toy.x, toy.target)
    scores = score_attributions(
        model, toy.x, toy.target, relevance, signals=toy.signals,
        explainer=pm.explainers.get("gradient"),
        sonifiers=["spectrogram-mask", "keep-top"], plugins=pm,
        metrics=["frequency-bands", "runtime", "kept-energy"])
    # keep-top takes waveform relevance only: one sonifier row
    assert list(scores.index) == ["frequency-bands", "runtime", "kept-energy/spectrogram-mask"]
    assert (scores.status == "ok").all() and model.training
    assert 0 < scores.loc["runtime", "value"] < 10  # seconds per sample, timed warm
    assert scores.loc["kept-energy/spectrogram-mask", "sonifier"] == "spectrogram-mask"


@pytest.mark.parametrize("change, message", [
    ({"relevance": torch.zeros(2, 1, 99)}, r"relevance has shape \(2, 1, 99\), x has"),
    ({"target": torch.tensor([0.0, 1.0])}, r"target must be \(2,\) class indices"),
    ({"x": torch.zeros(2, 100)}, r"x must be a floating \(B, C, T\) waveform"),
    ({"relevance": torch.full((2, 1, 100), float("nan"))}, "relevance holds NaN"),
    ({"representation": "spectrogram"}, "a spectrogram batch has 4 dimensions, x has 3"),
    ({"metrics": ["no-such-metric"]}, "unknown metric 'no-such-metric'; valid names:"),
    ({"metrics": [object()]}, r"score_attributions: metric object has no string attribute"),
])
def test_bad_input_is_one_clear_error(pm, change, message):
    model = nn.Sequential(nn.Flatten(), nn.Linear(100, 2))
    arguments = {"x": torch.randn(2, 1, 100), "target": torch.tensor([0, 1]),
                 "relevance": torch.ones(2, 1, 100)} | change
    options = {k: arguments.pop(k) for k in ("representation", "metrics") if k in arguments}
    with pytest.raises(AudioXaiError, match=message):
        score_attributions(model, **arguments, plugins=pm, **options)


def test_a_failing_metric_object_is_an_error_row_under_all_and_raises_when_named(pm):
    class Fails:
        name, higher_is_better = "fails", True

        def score(self, batch):
            raise ValueError("cannot score this")

    model, x = nn.Sequential(nn.Flatten(), nn.Linear(100, 2)), torch.randn(2, 1, 100)
    with pytest.raises(AudioXaiError, match="metric 'fails' failed: ValueError: cannot score"):
        score_attributions(model, x, torch.tensor([0, 1]), x, metrics=[Fails()], plugins=pm)
    class Plugin:
        @audioxai_bench.hookimpl
        def audioxai_bench_metrics(self):
            return [Fails(), pm.metrics.get("gini")]

    only = PluginManager(builtins=False, entrypoints=False)
    only.register(Plugin(), "fails-plugin")
    scores = score_attributions(model, x, torch.tensor([0, 1]), x, metrics="all", plugins=only)
    assert scores.loc["gini", "status"] == "ok" and scores.loc["fails", "status"] == "error"
    assert scores.loc["fails", "reason"] == "ValueError: cannot score this"


class _Scores:
    """A metric object that returns ``fn(batch)`` as its scores."""

    higher_is_better = True

    def __init__(self, name, fn, **attrs):
        self.name, self.fn = name, fn
        self.__dict__.update(attrs)

    def score(self, batch):
        return audioxai_bench.MetricOutput(scores=self.fn(batch))


def _linear() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(100, 3)).eval()
    x = torch.randn(16, 1, 100)
    return model, x, model(x).argmax(1)


def _flip_weights(batch):
    with torch.no_grad():
        for p in batch.model.parameters():
            p.mul_(-1.0)
    return torch.zeros(batch.size)


def _with_inf(batch):
    scores = torch.zeros(batch.size, dtype=torch.float64)
    scores[0] = float("inf")
    return scores


BROKEN_METRICS = {  # probe 6 #3: each was accepted with status ok
    "short": (lambda b: torch.ones(b.size - 1), {},
              r"returned scores of shape \(7,\) for a batch of 8 samples"),
    "infinite": (_with_inf, {}, r"returned 1 infinite score\(s\) of 8"),
    "bounded": (lambda b: torch.full((b.size,), 7.0), {"bounds": (0.0, 1.0)},
                r"returned 8 score\(s\) outside its declared bounds \[0, 1\], e.g. 7"),
    "spoiler": (_flip_weights, {}, r"modified weight of 1 \(Linear\), bias of 1 \(Linear\) "
                                   r"\(restored\)"),
}


def test_metrics_run_under_the_guard_of_a_run(pm):
    """Probe 6 #3: score_attributions called metric.score bare: too few scores, an Inf score
    and scores outside the bounds came back with status ok, and a metric that flipped the
    weights spoilt the metrics after it and left the caller's model changed."""
    model, x, target = _linear()
    relevance = x * model[1].weight[target][:, None]
    weights = [p.detach().clone() for p in model.parameters()]
    reference = score_attributions(model, x, target, relevance, metrics=["faithfulness-gap"],
                                   plugins=pm, batch_size=8).loc["faithfulness-gap", "value"]
    metrics = {name: _Scores(name, fn, **attrs) for name, (fn, attrs, _) in
               BROKEN_METRICS.items()}
    for name, (_, _, reason) in BROKEN_METRICS.items():
        with pytest.raises(AudioXaiError, match=rf"^metric '{name}' failed: {reason}"):
            score_attributions(model, x, target, relevance, metrics=[metrics[name]], plugins=pm,
                               batch_size=8)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), weights))

    class Plugin:
        @audioxai_bench.hookimpl
        def audioxai_bench_metrics(self):
            return [*metrics.values(), pm.metrics.get("faithfulness-gap")]

    only = PluginManager(builtins=False, entrypoints=False)
    only.register(Plugin(), "broken-plugin")
    scores = score_attributions(model, x, target, relevance, metrics="all", plugins=only,
                                batch_size=8)
    for name, (_, _, reason) in BROKEN_METRICS.items():
        assert scores.loc[name, "status"] == "error" and scores.value.isna()[name]
        assert re.match(reason, scores.loc[name, "reason"]), scores.loc[name, "reason"]
    # the spoiler ran first: what it did was put back before the next metric
    assert scores.loc["faithfulness-gap", "status"] == "ok"
    assert scores.loc["faithfulness-gap", "value"] == reference
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), weights))


def test_an_explainer_or_sonifier_that_breaks_the_contract_is_named(pm):
    """The explainer= a metric explains again goes through run_explainer, and a sonifier's
    calls are guarded as its own: the failure names them, not only the metric."""
    model = tiny_models()["waveform"]
    toy = toy_batch("waveform", size=4)
    gradient = pm.explainers.get("gradient")
    relevance = pm.explain("gradient", model, toy.x, toy.target)

    class NaNOnOthers:
        """Gradient, but NaN on any model but the trained one (on the randomised copies)."""

        name, representations = "nan-on-others", frozenset({"waveform"})

        def explain(self, explained, x, target):
            out = gradient.explain(explained, x, target)
            return out if explained is model else out * float("nan")

    with pytest.raises(AudioXaiError, match=r"^metric 'model-randomisation' failed: explainer "
                                            r"'nan-on-others' \(plugin unregistered\): returned "
                                            r"\d+ NaN"):
        score_attributions(model, toy.x, toy.target, relevance, plugins=pm,
                           metrics=["model-randomisation"], explainer=NaNOnOthers())

    class Raises:
        name, representations = "raises", frozenset({"waveform"})

        def sonify(self, waveform, relevance, representation):
            raise RuntimeError("sonifier bug")

    scores = score_attributions(model, toy.x, toy.target, relevance, signals=toy.signals,
                                plugins=pm, metrics="all", sonifiers=[Raises(), "keep-top"],
                                explainer=gradient)
    assert scores.loc["sonified-accuracy/raises", "reason"] == (
        "sonifier 'raises' (plugin unregistered): raised RuntimeError: sonifier bug")
    assert scores.loc["sonified-accuracy/keep-top", "status"] == "ok"
    assert scores.loc["model-randomisation", "status"] == "ok"


def test_the_runtime_metric_times_the_explainer_without_the_guard(pm):
    """Each call a metric makes is guarded, but the runtime metric's timed repeats run inside
    its own guarded call: guarding each again would add the guard to the time."""
    from audioxai_bench.guard import explaining_depth

    model = tiny_models()["waveform"]
    toy = toy_batch("waveform", size=4)
    gradient = pm.explainers.get("gradient")
    depths = []

    class Counted:
        name, representations = "counted", frozenset({"waveform"})

        def explain(self, model, x, target):
            depths.append(explaining_depth())
            return gradient.explain(model, x, target)

    relevance = pm.explain("gradient", model, toy.x, toy.target)
    scores = score_attributions(model, toy.x, toy.target, relevance, plugins=pm,
                                metrics=["runtime", "model-randomisation"], explainer=Counted())
    assert (scores.status == "ok").all()
    assert depths and set(depths) == {1}  # inside one guarded call each, never two
