"""`--resume` after a plugin's code changed without a new version: the finished cells of the old
code are computed again, never mixed with the new code's (probe F10); `--resume --rescore`
computes every finished cell again."""

from __future__ import annotations

import json

import yaml

from audioxai_bench.run.records import latest, read_records
from tests.run.helpers import definition, run_cli

PLUGIN = '''\
import audioxai_bench


class Probe(audioxai_bench.BaseExplainer):
    def attribute(self, model, x, target):
        return x.detach().abs(){power}


@audioxai_bench.hookimpl
def audioxai_bench_explainers():
    return [Probe(name="probe")]
'''


def installed(root, version: str = "0.1"):
    """An installed distribution (``.dist-info`` with the entry point) of the module
    ``resume_probe_plugin``; return the module's file. Its version is the package's, whatever
    its code (a plugin file's would be a digest of the file)."""
    info = root / f"resume_probe-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: resume_probe\n"
                                   f"Version: {version}\n")
    (info / "entry_points.txt").write_text("[audioxai_bench]\nresume_probe = "
                                           "resume_probe_plugin\n")
    return root / "resume_probe_plugin.py"


def test_resume_computes_again_the_cells_whose_code_changed(tree, cache, tmp_path,
                                                           monkeypatch):
    plugin, spec, out = installed(tmp_path / "site"), tmp_path / "bench.yaml", tmp_path / "out"
    monkeypatch.syspath_prepend(str(tmp_path / "site"))  # the forked runs find it
    spec.write_text(yaml.safe_dump(definition(tree, explainers=["probe", "random"],
                                              metrics=["gini"])))
    args = ["run", spec, "--out", out]
    plugin.write_text(PLUGIN.format(power=""))
    assert run_cli(args, cache, tmp_path / "first.log") == 0
    first = list(read_records([out]))
    assert all(r["code_digest"] for r in first)
    assert {r["plugins"]["explainer"]["version"] for r in first if r["explainer"] == "probe"} == {
        "0.1"}

    plugin.write_text(PLUGIN.format(power=" ** 4"))  # the method fixed, its version unchanged
    log = tmp_path / "resumed.log"
    assert run_cli([*args, "--resume"], cache, log) == 0, log.read_text()
    added = list(read_records([out]))[len(first):]
    assert [(r["explainer"], r["metric"]) for r in added] == [("probe", "gini")]
    old = next(r for r in first if r["explainer"] == "probe")
    assert added[0]["value"] != old["value"] and added[0]["code_digest"] != old["code_digest"]
    assert "computed 1 finished cell of " in log.read_text()
    assert "1 because their code (this package's or a plugin's source) changed" in log.read_text()
    assert "1 records (0 failed, 2 already done)" in log.read_text()

    log = tmp_path / "again.log"
    assert run_cli([*args, "--resume"], cache, log) == 0
    assert len(list(read_records([out]))) == len(first) + 1  # the same code: nothing again
    assert "0 records (0 failed, 3 already done)" in log.read_text()

    log = tmp_path / "rescored.log"
    assert run_cli([*args, "--resume", "--rescore"], cache, log) == 0, log.read_text()
    records = list(read_records([out]))
    assert len(records) == len(first) + 1 + len(first)  # every cell once more
    assert "computed 3 finished cells" in log.read_text() and "--rescore" in log.read_text()
    assert len(latest(records)) == len(first)

    # records from before code digests: computed again, and said why
    older = [json.dumps({k: v for k, v in r.items() if k != "code_digest"}) for r in first]
    out.joinpath("results.jsonl").write_text("\n".join(older) + "\n")
    log = tmp_path / "upgraded.log"
    assert run_cli([*args, "--resume"], cache, log) == 0, log.read_text()
    assert ("3 because they were recorded before records kept their code's digest"
            in log.read_text())
