"""Deterministic torch mode: switched on inside the block, put back after it."""

import os

import pytest
import torch

from audioxai_bench.reproducibility import CUBLAS_WORKSPACE, torch_mode


def switches() -> tuple:
    return (torch.are_deterministic_algorithms_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)


@pytest.mark.parametrize("deterministic", [True, False])
def test_the_mode_holds_inside_and_is_put_back(deterministic, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = switches()
    with torch_mode(deterministic):
        assert switches() == (deterministic, deterministic, not deterministic)
    assert switches() == before
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
