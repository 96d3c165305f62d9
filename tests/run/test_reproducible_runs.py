"""The same definition and seed give the same records on the same device, cold: every
explainer, metric and sonifier under deterministic algorithms. The GPU twin is marked ``gpu``
(``pytest -m gpu``), the check issue #12 asks of CUDA, where cuDNN and cuBLAS would otherwise
pick varying kernels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audioxai_bench.run.records import read_records
from tests.run.helpers import fresh_cache, outcome, run

#: Every registered method at cheap settings, both models: each engine runs under the mode.
EVERYTHING = {
    "models": [{"name": "audionet", "width": 0.0625}, {"name": "alexnet", "width": 0.0625}],
    "explainers": ["all", {"name": "integrated-gradients", "params": {"n_steps": 4}},
                   {"name": "smoothgrad", "params": {"n_samples": 2}},
                   {"name": "occlusion", "params": {
                       "waveform_window": 800, "waveform_stride": 800,
                       "spectrogram_window": [32, 32], "spectrogram_stride": [32, 32]}}],
    "metrics": ["all", {"name": "model-randomisation", "params": {"steps": 2}}],
    "sonifiers": "all",
    "samples": 2,
}


def cold_runs(tree: Path, signals_cache: Path, where: Path, monkeypatch, device: str
              ) -> list[Path]:
    """Two runs of EVERYTHING, each from a cache holding only the decoded signals."""
    outs = []
    for i in range(2):
        monkeypatch.setenv("AUDIOXAI_BENCH_CACHE",
                           str(fresh_cache(signals_cache, where / f"cache{i}")))
        run(tree, where / f"out{i}", changes=EVERYTHING | {"device": device})
        outs.append(where / f"out{i}")
    return outs


def assert_same_records(outs: list[Path]) -> None:
    first, second = (outcome(out) for out in outs)
    assert len(first) > 100 and first.keys() == second.keys()
    differ = [cell for cell in first if first[cell] != second[cell]]
    assert not differ, f"{len(differ)} of {len(first)} cells differ, e.g. {differ[:3]}"
    assert all(r["torch_deterministic"] is True for r in read_records([outs[0]]))


@pytest.mark.slow
def test_two_cold_cpu_runs_give_the_same_records(tree, signals_cache, tmp_path, monkeypatch):
    assert_same_records(cold_runs(tree, signals_cache, tmp_path, monkeypatch, "cpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_two_cold_cuda_runs_give_the_same_records(tree, signals_cache, tmp_path, monkeypatch):
    assert_same_records(cold_runs(tree, signals_cache, tmp_path, monkeypatch, "cuda"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cumsum_runs_in_deterministic_mode_on_cuda():
    from audioxai_bench.reproducibility import cumsum, torch_mode

    values = torch.randn(4, 300, dtype=torch.float64)
    with torch_mode(True):
        assert torch.equal(cumsum(values.cuda(), dim=1).cpu(), values.cumsum(dim=1))


def test_the_fast_mode_is_recorded_and_hashed_apart(tree, cache, tmp_path):
    run(tree, tmp_path / "exact")
    run(tree, tmp_path / "fast", changes={"deterministic": False})
    exact, fast = (list(read_records([tmp_path / name])) for name in ("exact", "fast"))
    assert {r["torch_deterministic"] for r in exact} == {True}
    assert {r["torch_deterministic"] for r in fast} == {False}
    assert not {r["config_hash"] for r in exact} & {r["config_hash"] for r in fast}
    assert not torch.are_deterministic_algorithms_enabled()  # the run put the mode back


def test_the_resampler_is_recorded_and_hashed_apart(tree, cache, tmp_path):
    """fft data train another model: every record says which resampler made its data and
    shares no config hash or model with the sinc run's; naming the default changes nothing."""
    for name, changes in (("default", {}), ("sinc", {"resampler": "sinc"}),
                          ("fft", {"resampler": "fft"})):
        run(tree, tmp_path / name, changes={"data": {"path": str(tree), **changes}})
    default, sinc, fft = (list(read_records([tmp_path / name]))
                          for name in ("default", "sinc", "fft"))
    assert {r["resampler"] for r in default} == {"sinc"}
    assert {r["resampler"] for r in fft} == {"fft"}
    assert outcome(tmp_path / "sinc") == outcome(tmp_path / "default")  # values and hashes
    assert not {r["config_hash"] for r in sinc} & {r["config_hash"] for r in fft}
    assert not {r["model_key"] for r in sinc} & {r["model_key"] for r in fft}
    assert {r["data_fingerprint"] for r in sinc} == {r["data_fingerprint"] for r in fft}
