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
