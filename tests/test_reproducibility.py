"""Deterministic torch mode: switched on inside the block, put back after it; the numerics
that name where numbers were computed."""

import os

import pandas as pd
import pytest
import torch

from audioxai_bench.leaderboard.provenance import facts
from audioxai_bench.reproducibility import CUBLAS_WORKSPACE, machine, numerics, torch_mode
from tests.helpers import record


def switches() -> tuple:
    return (torch.are_deterministic_algorithms_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)


def tf32() -> tuple:
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


@pytest.mark.parametrize("deterministic", [True, False])
def test_the_mode_holds_inside_and_is_put_back(deterministic, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # torch's default
    before, tf32_before = switches(), tf32()
    with torch_mode(deterministic):
        assert switches() == (deterministic, deterministic, not deterministic)
        assert tf32() == (False, False)  # float32 is IEEE float32 in either mode
    assert switches() == before and tf32() == tf32_before
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") == (CUBLAS_WORKSPACE if deterministic
                                                         else None)


def test_the_mode_is_put_back_after_an_exception():
    before = switches()
    with pytest.raises(RuntimeError, match="boom"), torch_mode(True):
        raise RuntimeError("boom")
    assert switches() == before


def test_a_users_cublas_setting_is_kept(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with torch_mode(True):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_numerics_name_the_machine_so_another_one_trains_its_own_models():
    cpu = numerics(torch.device("cpu"), 2)
    assert cpu["threads"] == 2 and cpu["torch_build"] == torch.__version__
    assert cpu["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and cpu["cpu"]
    assert type(cpu["torch_build"]) is str  # torch's version object does not load safely


def test_gpu_numerics_say_float32_was_ieee(monkeypatch):
    """GPU models trained while cuDNN's TF32 was on (before the mode turned it off) are keyed
    apart: their numerics lacked ``fp32_math``."""
    monkeypatch.setattr("audioxai_bench.reproducibility.machine",
                        lambda device: {"torch_build": "2.11.0+cu130", "accelerator": "H200"})
    assert numerics(torch.device("cuda"), 16) == {
        "device": "cuda", "fp32_math": "ieee", "torch_build": "2.11.0+cu130",
        "accelerator": "H200"}


def test_the_leaderboard_names_the_data_content_and_the_machine():
    here = machine("cpu")
    old = record("audionet", "faithfulness-gap", 0.2)  # written before these fields existed
    new = record("audionet", "faithfulness-gap", 0.2, data_fingerprint="1fbf1fe31350b47a",
                 machine=here)
    lines = dict(facts(pd.DataFrame([dict(r, record=r) for r in (old, new)])))
    assert lines["Datasets"] == ("synthetic (content 1fbf1fe31350b47a, resampler sinc), "
                                 "synthetic (resampler sinc)")  # records before it: sinc
    assert lines["Devices"] == (f"cpu, cpu ({here['cpu']}, {here['cpu_capability']}; "
                                f"torch {here['torch_build']})")
