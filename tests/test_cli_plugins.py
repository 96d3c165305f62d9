"""``audioxai-bench plugins``: what users and bug reports rely on."""

from audioxai_bench.cli import main


def test_plugins_lists_builtins_with_their_origin(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[1]: line.split() for line in out.splitlines()[1:]}
    assert lines["lrp-epsilon-plus-flat"][:5] == ["explainer", "lrp-epsilon-plus-flat",
                                                  "builtin", "0.1.0", "builtin"]
    assert lines["audionet"][0] == "model" and lines["audionet"][-1] == "waveform"


def test_plugins_kind_filter_and_blocking(capsys, monkeypatch):
    monkeypatch.setenv("AUDIOXAI_BENCH_BLOCK_PLUGINS", "builtin.explainers_lrp")
    assert main(["plugins", "--kind", "explainer"]) == 0
    out = capsys.readouterr().out
    assert "gradient" in out and "lrp-epsilon" not in out and "audionet" not in out


TYPO_PLUGIN = '''\
import torch

import audioxai_bench


class Zero:
    name = "typo-good"
    representations = {"waveform"}

    def explain(self, model, x, target):
        return torch.zeros_like(x)


@audioxai_bench.hookimpl
def audioxai_bench_explainers():
    return [Zero()]


@audioxai_bench.hookimpl
def audioxai_bench_explainer():  # misspelt
    return []
'''


def test_a_failed_plugin_is_reported_on_stderr_lists_nothing_and_exits_1(tmp_path, capsys):
    path = tmp_path / "typo.py"
    path.write_text(TYPO_PLUGIN)
    assert main(["plugins", "--kind", "explainer", "--plugin", str(path)]) == 1
    captured = capsys.readouterr()
    assert "gradient" in captured.out  # the table of what loaded is still printed
    assert "typo" not in captured.out and "FAILED" not in captured.out
    [line] = captured.err.splitlines()
    assert line.startswith("FAILED: plugin typo sha256.")
    assert line.endswith(": audioxai_bench_explainer: implements an unknown hook (did you "
                         "mean 'audioxai_bench_explainers'?)")


def test_a_misspelt_block_name_stops_the_command_naming_it(capsys, monkeypatch):
    monkeypatch.setenv("AUDIOXAI_BENCH_BLOCK_PLUGINS", "builtin.explainers_lrpp")
    assert main(["plugins"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("error: AUDIOXAI_BENCH_BLOCK_PLUGINS: 'builtin.explainers_lrpp' "
                           "(did you mean 'builtin.explainers_lrp'?) matches no plugin; known "
                           "plugins: ")
    assert "builtin.explainers_lrp," in line
