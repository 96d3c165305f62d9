"""The ray executor on a local Ray instance of this machine's 2 CPUs (``tox -e ray``): the
same records as the local executor, a worker killed mid-task retried with every cell recorded
once, and a killed driver continued with ``--resume``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from audioxai_bench import faults
from audioxai_bench.plugins import load_plugins
from audioxai_bench.run.definition import parse_benchmark
from audioxai_bench.run.records import read_records
from audioxai_bench.run.runner import run_benchmark
from tests.run.helpers import (
    EXPLAINERS,
    METRICS,
    N_CELLS,
    assert_same,
    comparable,
    definition,
    fresh_cache,
    run,
)

ray = pytest.importorskip("ray", reason="the ray extra: pip install 'audioxai-bench[ray]'")
pytestmark = pytest.mark.ray

@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance: 2 CPUs, a small object store, no dashboard; stopped at the end."""
    context = ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 << 20,
                       log_to_driver=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()


def test_records_equal_the_local_executors(cluster, tree, signals_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(fresh_cache(signals_cache, tmp_path / "a")))
    run(tree, tmp_path / "local")
    monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(fresh_cache(signals_cache, tmp_path / "b")))
    run(tree, tmp_path / "ray", executor="ray")

    local, distributed = comparable(tmp_path / "local"), comparable(tmp_path / "ray")
    assert len(local) == N_CELLS
    assert all(r["status"] == "ok" for r in local.values())
    assert_same(distributed, local)
    executors = {r["executor"] for r in read_records([tmp_path / "ray"])}
    assert executors == {"ray"}
    # nothing came from a cache: the ray run trained and explained on its own
    units = json.loads((tmp_path / "ray" / "run.json").read_text())["units"]
    assert sorted(u["unit"] for u in units) == ["explain"] * len(EXPLAINERS) + ["train"]
    report = json.loads((tmp_path / "ray" / "run.json").read_text())["report"]
    assert report["cached"] == {"data": 0, "models": 0, "relevance": 0, "scores": 0}


DIE_ONCE = '''
import os
import signal
from pathlib import Path

import audioxai_bench

MARKER = Path({marker!r})


class DieOnce(audioxai_bench.BaseExplainer):
    """|x|, but the first call anywhere kills its process, as a crashed node would."""

    def attribute(self, model, x, target):
        if not MARKER.exists():
            MARKER.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return x.abs()


@audioxai_bench.hookimpl
def audioxai_bench_explainers():
    return [DieOnce(name="die-once")]
'''


def test_a_killed_worker_is_retried_and_every_cell_recorded_once(
        cluster, tree, signals_cache, tmp_path, monkeypatch):
    marker = tmp_path / "killed"
    plugin = tmp_path / "die_once.py"
    plugin.write_text(DIE_ONCE.format(marker=str(marker)))
    monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(fresh_cache(signals_cache, tmp_path / "c")))
    bench = parse_benchmark(definition(tree, explainers=[*EXPLAINERS, "die-once"]))
    report = run_benchmark(bench, tmp_path / "out", quiet=True, log=lambda _: None,
                           plugins=load_plugins(entrypoints=False, extra=[plugin]),
                           executor="ray")

    assert marker.exists(), "the plugin never ran"
    assert int(marker.read_text()) != os.getpid(), "the unit ran in the driver, not a worker"
    got = comparable(tmp_path / "out")  # fails on a cell recorded twice
    assert len(got) == 1 + (len(EXPLAINERS) + 1) * len(METRICS)
    assert report.failed == 0, [r["error"] for r in got.values() if r["status"] != "ok"]
    assert {k[5] for k in got} == {None, *EXPLAINERS, "die-once"}


def driver(args: list, cache: Path, log: Path, **env: str) -> subprocess.Popen:
    """``audioxai-bench --quiet ARGS`` in a process of its own (Ray does not survive fork)."""
    environ = {k: v for k, v in os.environ.items() if k != faults.FAULT_AT_ENV}
    environ |= {"AUDIOXAI_BENCH_CACHE": str(cache), **env}
    code = "import sys; from audioxai_bench.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, "--quiet", *map(str, args)],
                            env=environ, stdout=log.open("w"), stderr=subprocess.STDOUT)


def test_resume_after_the_driver_is_killed(cluster, tree, signals_cache, tmp_path, monkeypatch):
    spec = tmp_path / "store.yaml"
    spec.write_text(yaml.safe_dump(definition(tree)))
    cache, out, log = fresh_cache(signals_cache, tmp_path / "c"), tmp_path / "out", tmp_path / "log"
    args = ["run", spec, "--out", out, "--executor", "ray", "--address", cluster]

    killed = driver(args, cache, log, **{faults.FAULT_AT_ENV: "record:3"}).wait(timeout=600)
    assert killed == -signal.SIGKILL, log.read_text()
    assert len(list(read_records([out]))) == 3

    assert driver([*args, "--resume"], cache, log).wait(timeout=600) == 0, log.read_text()
    resumed = comparable(out)  # fails on a cell recorded twice
    assert len(resumed) == N_CELLS
    assert all(r["status"] == "ok" for r in resumed.values())

    monkeypatch.setenv("AUDIOXAI_BENCH_CACHE", str(fresh_cache(signals_cache, tmp_path / "l")))
    run(tree, tmp_path / "local")
    assert_same(resumed, comparable(tmp_path / "local"))
