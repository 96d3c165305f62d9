"""The score cache: a second run of the same code and settings reads every cell instead of
scoring it again, with the same values; ``rescore``, a change of code or settings, and a damaged
entry score again."""

from __future__ import annotations

import json
import logging

from audioxai_bench.run import score_cache
from audioxai_bench.run import setup as run_setup
from audioxai_bench.run.records import environment as real_environment
from audioxai_bench.run.records import read_records
from tests.run.helpers import EXPLAINERS, METRICS, N_CELLS, outcome, run

SCORED = len(EXPLAINERS) * len(METRICS)  # every cell but the model's test accuracy


def test_a_second_run_reads_its_scores_from_the_cache(tree, cache, tmp_path):
    first = run(tree, tmp_path / "a")
    second = run(tree, tmp_path / "b")
    assert first.cached["scores"] == 0 and second.cached["scores"] == SCORED
    assert second.cached["relevance"] == 0  # nothing to score, no examples: not even loaded
    assert second.records == N_CELLS and outcome(tmp_path / "b") == outcome(tmp_path / "a")
    records = [r for r in read_records([tmp_path / "b"]) if r["explainer"]]
    assert all(r["cached"] is True for r in records)
    assert not any("cached" in r for r in read_records([tmp_path / "a"]))
    # the model came from the model cache: its accuracy record's wall time is the first run's
    [accuracy] = [r for r in read_records([tmp_path / "b"]) if r["metric"] == "test-accuracy"]
    assert accuracy["cached"] is True
    runtime = {r["explainer"]: r["value"] for r in read_records([tmp_path / "a"])
               if r["metric"] == "runtime"}
    # the runtime of the run that measured it, as for cached relevance
    assert {r["explainer"]: r["value"] for r in records if r["metric"] == "runtime"} == runtime


def test_rescore_and_a_change_of_code_or_settings_score_again(tree, cache, tmp_path,
                                                              monkeypatch):
    run(tree, tmp_path / "a")
    again = run(tree, tmp_path / "b", rescore=True)  # explains again too (probe F2)
    assert again.cached["scores"] == again.cached["relevance"] == 0
    assert outcome(tmp_path / "b") == outcome(tmp_path / "a")
    other = run(tree, tmp_path / "c", changes={"explainers": ["gradient"], "metrics": ["gini"],
                                               "batch_size": 4})
    assert other.cached["scores"] == 0  # another batch size: another config hash
    monkeypatch.setattr(score_cache, "package_digest", lambda: "an edited package")
    edited = run(tree, tmp_path / "d")
    assert edited.cached["scores"] == edited.cached["relevance"] == 0  # an edited explainer
    assert edited.cached["models"] == 0  # trained again by the edited code, to the same numbers
    assert outcome(tmp_path / "d", hashes=False) == outcome(tmp_path / "a", hashes=False)
    # another torch (or captum, zennit, numpy) version: scored again
    monkeypatch.setattr(run_setup, "environment",
                        lambda: real_environment() | {"versions": {"torch": "9.9"}})
    again = run(tree, tmp_path / "e")
    assert again.cached["scores"] == again.cached["relevance"] == 0  # relevance: explained anew


def test_a_variant_of_another_base_with_the_same_parameters_scores_again(tree, cache,
                                                                         tmp_path):
    """``{name: x, base: amplitude}``, then ``{name: x, base: gradient}``: both take no
    parameters, so only the base tells them apart; the second is explained and scored."""
    def variant(base: str) -> dict:
        return {"explainers": [{"name": "x", "base": base}], "metrics": ["gini"]}

    run(tree, tmp_path / "a", changes=variant("amplitude"))
    other = run(tree, tmp_path / "b", changes=variant("gradient"))
    assert other.cached["scores"] == other.cached["relevance"] == 0
    gini = {name: [r["value"] for r in read_records([tmp_path / name]) if r["explainer"]]
            for name in ("a", "b")}
    assert gini["a"] != gini["b"]
    [record] = [r for r in read_records([tmp_path / "b"]) if r["explainer"]]
    assert record["plugins"]["explainer"]["base"] == "gradient"


def test_a_damaged_entry_is_named_set_aside_and_scored_again(tree, cache, tmp_path, caplog):
    run(tree, tmp_path / "a")
    [victim, *_] = sorted((cache / "scores").glob("*.json"))
    entry = json.loads(victim.read_text())
    entry["fields"]["value"] = 123.0  # a changed number: the checksum no longer matches
    victim.write_text(json.dumps(entry))
    with caplog.at_level(logging.WARNING):
        second = run(tree, tmp_path / "b")
    assert second.cached["scores"] == SCORED - 1
    assert [m.split(" (")[0] for m in caplog.messages] == [f"{victim}: damaged cache entry"]
    assert "checksum mismatch" in caplog.messages[0]
    assert len(list(victim.parent.glob(f"{victim.name}.bad-*"))) == 1
    assert outcome(tmp_path / "b") == outcome(tmp_path / "a")


def test_an_entry_that_verifies_but_makes_no_valid_record_is_set_aside(tree, cache, tmp_path,
                                                                      caplog):
    """Probe 5 #10: an entry edited with its checksum recomputed stopped every run with
    "record: field 'n': ..." naming neither the file nor the cell, and stayed in place."""
    run(tree, tmp_path / "a")
    [victim, *_] = sorted((cache / "scores").glob("*.json"))
    entry = json.loads(victim.read_text())
    entry["fields"]["n"] = "x"
    entry["sha256"] = score_cache._checksum(entry["fields"])
    victim.write_text(json.dumps(entry))
    with caplog.at_level(logging.WARNING):
        second = run(tree, tmp_path / "b")
    assert second.cached["scores"] == SCORED - 1 and second.failed == 0
    [message] = caplog.messages
    assert message.startswith(f"{victim}: damaged cache entry (its result cannot be recorded: "
                              "AudioXaiError: record: field 'n': ")
    assert message.endswith("; recomputing")
    assert len(list(victim.parent.glob(f"{victim.name}.bad-*"))) == 1
    assert outcome(tmp_path / "b") == outcome(tmp_path / "a")


def test_the_code_digest_covers_a_plugins_own_file(tmp_path, monkeypatch):
    for name, body in (("first", "x = 1"), ("second", "x = 2")):
        (tmp_path / f"plug_{name}.py").write_text(f"{body}\nclass Metric:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import plug_first
    import plug_second

    digests = {score_cache.code_digest(m.Metric()) for m in (plug_first, plug_second)}
    assert len(digests) == 2
    # a built-in metric's source is the package's, already in the digest
    from audioxai_bench.plugins import PluginManager

    gini = PluginManager(entrypoints=False).metrics.get("gini")
    assert score_cache.code_digest(gini) == score_cache.code_digest()


def test_the_code_digest_covers_every_module_of_a_plugins_package(tmp_path, monkeypatch):
    """Probe F2: the class in one module, the relevance in a helper module of its package."""
    package = tmp_path / "helped_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("from .method import Metric\n")
    (package / "method.py").write_text("from .helper import sign\nclass Metric:\n    pass\n")
    (package / "helper.py").write_text("def sign(x):\n    return x.abs()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import helped_plugin

    before = score_cache.code_digest(helped_plugin.Metric())
    (package / "helper.py").write_text("def sign(x):\n    return -x.abs()\n")
    score_cache._file_digest.cache_clear()  # a new process reads the edited file
    assert score_cache.code_digest(helped_plugin.Metric()) != before
