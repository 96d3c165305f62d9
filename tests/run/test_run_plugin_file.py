"""`run --plugin FILE --debug`: a one-file plugin is scored, and when it raises, its traceback is
kept in the cell's record and shown once on stderr."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from audioxai_bench.cli import main
from audioxai_bench.guard import ExplainerError, run_explainer
from audioxai_bench.run.records import read_records
from tests.helpers import write_tree

BROKEN = '''\
import dataclasses

import audioxai_bench


def helper(x):
    raise RuntimeError("boom inside my explainer")


class Boom(audioxai_bench.BaseExplainer):
    def attribute(self, model, x, target):
        return helper(x)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Fails(audioxai_bench.BaseMetric):
    def score(self, batch):
        raise ValueError("cannot score this")


@audioxai_bench.hookimpl
def audioxai_bench_explainers():
    return [Boom(name="boom")]


@audioxai_bench.hookimpl
def audioxai_bench_metrics():
    return [Fails(name="fails", higher_is_better=True)]
'''


def test_the_guard_keeps_the_plugins_traceback():
    import torch

    class Raises:
        name, representations = "raises", frozenset({"waveform"})

        def explain(self, model, x, target):
            raise KeyError("deep inside")

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
    try:
        run_explainer(Raises(), model, torch.zeros(2, 1, 8), torch.tensor([0, 1]))
    except ExplainerError as exc:
        assert exc.kind == "exception" and "\n" not in str(exc)
        assert exc.traceback.startswith("Traceback (most recent call last)")
        assert 'raise KeyError("deep inside")' in exc.traceback
    else:
        raise AssertionError("no ExplainerError")


def tiny_spec(tmp_path, **choices) -> Path:
    """A definition of two training steps on the fewest speakers split 0 of the digit task
    can train, validate and test on, two samples; ``choices``: explainers, metrics, ..."""
    tree = write_tree(tmp_path / "data", [1, 2, 4, 5, 13], reps=range(1))
    spec = tmp_path / "bench.yaml"
    spec.write_text(yaml.safe_dump({
        "version": 1, "name": "plugin-file", "data": {"path": str(tree)}, "tasks": ["digit"],
        "models": [{"name": "audionet", "width": 0.0625}], "folds": [0],
        "training": {"preset": "cpu", "iterations": 2, "eval_every": 2, "batch_size": 8},
        "samples": 2, "batch_size": 2, "device": "cpu"} | choices))
    return spec


def test_run_with_a_plugin_file_records_and_shows_its_traceback(tmp_path, capsys):
    plugin = tmp_path / "boom_method.py"
    plugin.write_text(BROKEN)
    spec = tiny_spec(tmp_path, explainers=["gradient", "boom"], metrics=["gini", "fails"],
                     sonifiers=["keep-top"], examples=0)
    out = tmp_path / "out"
    assert main(["--quiet", "run", str(spec), "--out", str(out), "--plugin", str(plugin),
                 "--debug"]) == 1
    records = {(r["explainer"], r["metric"]): r for r in read_records([out])}
    ok = records[("gradient", "gini")]
    assert ok["status"] == "ok" and "traceback" not in ok
    for metric in ("gini", "fails"):  # the explainer raised: both of its cells failed
        boom = records[("boom", metric)]
        assert boom["status"] == "error" and boom["error"].endswith(
            "raised RuntimeError: boom inside my explainer")
        assert f'File "{plugin.resolve()}", line 7, in helper' in boom["traceback"]
        assert boom["plugins"]["explainer"]["plugin"] == "boom_method"
        assert boom["plugins"]["explainer"]["version"].startswith("sha256.")
    fails = records[("gradient", "fails")]
    # named as an explainer's failure is: the metric, its plugin, what it raised
    assert re.fullmatch(r"metric 'fails' \(plugin boom_method sha256\.\w+\): raised "
                        r"ValueError: cannot score this", fails["error"])
    assert "line 18, in score" in fails["traceback"]
    err = capsys.readouterr().err
    # each distinct traceback once, although the explainer's failure fills two cells
    # (FAILED status lines go to stderr too: count a frame of the traceback itself)
    assert err.count("line 7, in helper") == 1
    assert err.count("line 18, in score") == 1


MISBEHAVING = '''\
import dataclasses

import torch

import audioxai_bench


@dataclasses.dataclass(frozen=True, kw_only=True)
class Bad(audioxai_bench.BaseMetric):
    how: str
    bounds = (0.0, 1.0)

    def score(self, batch):
        scores = torch.ones(batch.size) * (2.0 if self.how == "outside" else 1.0)
        if self.how == "short":
            scores = scores[:1]
        if self.how == "infinite":
            scores[0] = float("inf")
        info = {"kept": object()} if self.how == "unwritable" else {}
        more = {}
        if self.how == "inf-extra":  # probe 5 #3: its mean left the Inf out, status ok
            more["extras"] = {"e": scores.clone().index_fill(0, torch.tensor([0]), float("inf"))}
        if self.how == "inf-curve":
            more = {"curves": {"c": torch.tensor([[1.0, -float("inf")]] * batch.size)},
                    "grid": torch.tensor([0.0, 1.0])}
        if self.how == "missing-extra":  # probe 5 #14: the misspelt name was ignored
            more["extras"] = {"e": scores.clone()}
        return audioxai_bench.MetricOutput(scores=scores, info=info, **more)

    @property
    def clip_extras(self):
        return {"e", "nonexistent"} if self.how == "missing-extra" else set()

    def interval(self, output):
        return {"reversed": [5.0, -5.0], "far": [5.0, 6.0],
                "nan-bounds": [float("nan")] * 2}.get(self.how)


class Silent(audioxai_bench.BaseSonifier):
    def render(self, waveform, relevance, representation):
        return waveform * float("nan")


@audioxai_bench.hookimpl
def audioxai_bench_metrics():
    return [Bad(name=how, how=how, higher_is_better=True)
            for how in ("short", "infinite", "unwritable", "reversed", "outside", "far",
                        "nan-bounds", "inf-extra", "inf-curve", "missing-extra")]


@audioxai_bench.hookimpl
def audioxai_bench_sonifiers():
    return [Silent(name="nan-sound")]
'''


def test_a_metric_or_sonifier_that_breaks_its_contract_fails_its_cell_not_the_run(tmp_path):
    """Reliability probe F1, F4, F6, F8, F12: each bad output fails its own cell with a reason
    naming the plugin; the other cells are kept and the run goes on (exit status 1)."""
    plugin = tmp_path / "misbehaving.py"
    plugin.write_text(MISBEHAVING)
    spec = tiny_spec(tmp_path, explainers=["gradient"],
                     metrics=["gini", "short", "infinite", "unwritable", "reversed", "outside",
                              "far", "nan-bounds", "inf-extra", "inf-curve", "missing-extra",
                              {"name": "sonified-sufficiency-gain", "params": {"controls": 1}}],
                     sonifiers=["nan-sound"], examples=1)
    out = tmp_path / "out"
    assert main(["--quiet", "run", str(spec), "--out", str(out), "--plugin", str(plugin)]) == 1
    records = {r["metric"]: r for r in read_records([out]) if r["explainer"] == "gradient"}
    assert records["gini"]["status"] == "ok"
    expected = {"short": "returned scores of shape (1,) for a batch of 2 samples",
                "infinite": "returned 1 infinite score(s) of 2",
                "inf-extra": "returned 1 infinite value(s) in its extra 'e' (NaN marks an "
                             "undefined one)",
                "inf-curve": "returned 2 infinite value(s) in its curve 'c'",
                "missing-extra": "declares clip_extras 'nonexistent' but returned no extra of "
                                 "that name (its extras: 'e')",
                "unwritable": "its result cannot be recorded: ",
                "reversed": "its interval() returned [5, -5], the lower bound above",
                "outside": "returned 2 score(s) outside its declared bounds [0, 1], e.g. 2",
                # F5: an interval that excludes the value, or NaN bounds, was recorded as ok
                "far": "(plugin misbehaving sha256.", "nan-bounds": "(plugin misbehaving sha256.",
                "sonified-sufficiency-gain": "returned 128000 NaN/Inf sample(s) of 128000"}
    for metric, reason in {"far": "): its interval() returned [5, 6], which does not hold its "
                                  "value 1",
                           "nan-bounds": "): its interval() returned [nan, nan], bounds that "
                                         "are not finite (return None where there is no "
                                         "interval)"}.items():
        assert records[metric]["error"].endswith(reason), records[metric]["error"]
    for metric, reason in expected.items():
        assert records[metric]["status"] == "error", metric
        assert reason in records[metric]["error"], records[metric]["error"]
        if metric != "sonified-sufficiency-gain":
            assert f"metric {metric!r}" in records[metric]["error"]
    # the sonifier's fault, named with its plugin (probe 6 #4)
    assert records["sonified-sufficiency-gain"]["error"].startswith(
        "sonifier 'nan-sound' (plugin misbehaving sha256.")
    run = json.loads((out / "run.json").read_text())
    assert any("could not write nan-sound examples of gradient" in f and "NaN/Inf" in f
               for f in run["example_failures"])


SIGNED = '''\
import audioxai_bench


class Signed:
    """with_params() and no params dict: both optional"""

    representations = {"waveform", "spectrogram"}

    def __init__(self, name="signed", sign=1.0):
        self.name, self.sign = name, float(sign)

    def with_params(self, name, **params):
        return Signed(name=name, **params)

    def explain(self, model, x, target):
        return self.sign * x.abs()


@audioxai_bench.hookimpl
def audioxai_bench_explainers():
    return [Signed()]
'''


def test_an_edited_parameter_of_a_plain_object_variant_is_computed_again(tmp_path):
    """Probe 6 #1: with sign 1 changed to -1, --resume counted the cell done and a fresh folder
    took the sign 1 value from the score cache, both with exit status 0."""
    plugin = tmp_path / "signed.py"
    plugin.write_text(SIGNED)
    values = {}
    for sign, out, more in ((1, "first", []), (-1, "first", ["--resume"]), (-1, "fresh", [])):
        spec = tiny_spec(tmp_path, examples=0, metrics=["faithfulness-gap"],
                         explainers=[{"name": "sv", "base": "signed", "params": {"sign": sign}}])
        assert main(["--quiet", "run", str(spec), "--out", str(tmp_path / out), "--plugin",
                     str(plugin), *more]) == 0
        (record,) = [r for r in read_records([tmp_path / out]) if r["explainer"] == "sv"
                     and r["params"]["explainer"] == {"sign": sign}]
        assert record.get("cached", False) is (out == "fresh")  # the resumed run's scores
        values[sign, out] = record["value"], record["config_hash"]
    assert values[1, "first"][1] != values[-1, "first"][1] == values[-1, "fresh"][1]
    assert values[1, "first"][0] != values[-1, "first"][0] == values[-1, "fresh"][0]


SONIFIERS = '''\
import torch

import audioxai_bench


class Raises:
    name, representations = "raises", {"waveform", "spectrogram"}

    def sonify(self, waveform, relevance, representation):
        raise RuntimeError("sonifier bug")


class NoGrad:
    name, representations = "nograd", {"waveform", "spectrogram"}

    def sonify(self, waveform, relevance, representation):
        torch.set_grad_enabled(False)
        return waveform.clone()


class InPlace:
    name, representations = "in-place", {"waveform", "spectrogram"}

    def sonify(self, waveform, relevance, representation):
        waveform *= 0.5  # the caller's signals
        return waveform.clone()


@audioxai_bench.hookimpl
def audioxai_bench_sonifiers():
    return [Raises(), NoGrad(), InPlace()]
'''


def test_a_sonifier_that_breaks_its_contract_is_named_not_the_metric(tmp_path):
    """Probe 6 #4: a sonifier that raised, switched autograd off or scaled its input in place
    failed the cell as "metric 'sonified-accuracy' (plugin builtin 0.1.0)"; and under the
    matched-size metrics, which hand it a copy of the signals, the in-place write went unseen
    (status ok)."""
    plugin = tmp_path / "sounds.py"
    plugin.write_text(SONIFIERS)
    spec = tiny_spec(tmp_path, explainers=["gradient"], examples=0,
                     metrics=["sonified-accuracy",
                              {"name": "sonified-sufficiency-gain", "params": {"controls": 1}}],
                     sonifiers=["raises", "nograd", "in-place"])
    out = tmp_path / "out"
    assert main(["--quiet", "run", str(spec), "--out", str(out), "--plugin", str(plugin)]) == 1
    errors = {(r["metric"], r["sonifier"]): r["error"] for r in read_records([out])
              if r["explainer"] == "gradient"}
    plugin_name = r"\(plugin sounds sha256\.\w+\)"
    for metric in ("sonified-accuracy", "sonified-sufficiency-gain"):
        assert re.fullmatch(rf"sonifier 'raises' {plugin_name}: raised RuntimeError: sonifier "
                            r"bug", errors[metric, "raises"])
        assert re.fullmatch(rf"sonifier 'in-place' {plugin_name}: modified its input "
                            r"\(restored\)", errors[metric, "in-place"])
    assert re.fullmatch(rf"sonifier 'nograd' {plugin_name}: switched autograd globally "
                        r"\(restored\)", errors["sonified-accuracy", "nograd"])
    # the matched-size metrics play sound with autograd off: switching it off changes nothing
    assert errors["sonified-sufficiency-gain", "nograd"] is None
