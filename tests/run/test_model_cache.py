"""The model cache: an entry is used only when it verifies; a bad one is reported, set aside and
retrained (U3); a model that cannot be stored is used from memory (R10)."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path

import pytest
import torch

from audioxai_bench.atomic import WriteError
from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.hashing import config_hash
from audioxai_bench.models.checkpoint import (
    CheckpointError,
    read_checkpoint,
    save_atomic,
    state_sha256,
)
from audioxai_bench.plugins import load_plugins
from audioxai_bench.run.artifacts import make_recipe, model_path, trained_model
from tests.run.helpers import N_CELLS, leftovers, run

CPU = torch.device("cpu")
ONE_THREAD = {"device": "cpu", "threads": 1}


def recipe(width: float = 0.0625):
    spec = load_plugins(entrypoints=False).models.get("audionet")
    return make_recipe(spec, "builtin", "digit", 0, "cpu", width=width, iterations=3,
                       eval_every=3, batch_size=8, seed=0, device="cpu")


@pytest.fixture(scope="module")
def data(tree, signals_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIOXAI_BENCH_CACHE", str(signals_cache))
        return load_audiomnist(tree)


@pytest.fixture(scope="module")
def good_entry(data, tmp_path_factory) -> tuple[Path, dict]:
    """A cache entry trained once for the module, and its weights."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIOXAI_BENCH_CACHE", str(tmp_path_factory.mktemp("model-cache")))
        model, _, cached = trained_model(recipe(), data, CPU, numerics=ONE_THREAD)
        assert not cached
        return model_path(recipe(), data.fingerprint, ONE_THREAD), model.state_dict()


def rewrite(path: Path, change) -> None:
    payload = torch.load(path, weights_only=True)
    change(payload["state_dict"], payload["meta"])
    torch.save(payload, path)


def resign(state, meta):
    meta["state_sha256"] = state_sha256(state)


def cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def changed_weight(path: Path) -> None:
    rewrite(path, lambda state, meta: next(iter(state.values())).add_(1e-3))


def nan_weight(path: Path) -> None:  # with a valid checksum: only the finiteness check sees it
    rewrite(path, lambda state, meta: (next(iter(state.values())).fill_(float("nan")),
                                       resign(state, meta)))


def other_recipe(path: Path) -> None:
    rewrite(path, lambda state, meta: meta.update(recipe="0" * 16))


def other_threads(path: Path) -> None:
    rewrite(path, lambda state, meta: meta.update(numerics={"device": "cpu", "threads": 2}))


def no_checksum(path: Path) -> None:
    rewrite(path, lambda state, meta: meta.pop("state_sha256"))


def other_width(path: Path) -> None:
    wider = recipe(0.125).build().state_dict()

    def swap(state, meta):
        state.clear()
        state.update(wider)
        resign(state, meta)
    rewrite(path, swap)


@pytest.mark.parametrize("damage, reason", [
    (cut, "not a readable checkpoint"),
    (changed_weight, "do not match their checksum"),
    (nan_weight, "NaN or Inf"),
    (other_recipe, "made from another recipe or data"),
    (other_threads, "made from another recipe or data, or elsewhere"),
    (no_checksum, "no checksum"),
    (other_width, "do not fit the model"),
])
def test_a_bad_model_entry_is_reported_set_aside_and_retrained(data, good_entry, damage, reason,
                                                               private_cache, caplog):
    """U3: one line naming the file, the entry renamed aside, the model trained again (the
    same weights: training is seeded), and the next run uses the new entry."""
    source, weights = good_entry
    path = model_path(recipe(), data.fingerprint, ONE_THREAD)
    path.parent.mkdir(parents=True)
    shutil.copy(source, path)
    damage(path)
    with caplog.at_level(logging.WARNING):
        model, meta, cached = trained_model(recipe(), data, CPU, numerics=ONE_THREAD)
    assert not cached
    [line] = [m for m in caplog.messages if "damaged cache entry" in m]
    assert line.startswith(f"{path}: damaged cache entry (") and reason in line
    assert "set aside as " in line and "\n" not in line
    [aside] = path.parent.glob(f"{path.name}.bad-*")
    assert aside.read_bytes() != path.read_bytes()
    assert all(torch.equal(model.state_dict()[k], weights[k]) for k in weights)
    assert trained_model(recipe(), data, CPU, numerics=ONE_THREAD)[2]  # the new entry verifies


def test_a_verified_entry_is_used(data, good_entry, private_cache):
    source, weights = good_entry
    path = model_path(recipe(), data.fingerprint, ONE_THREAD)
    path.parent.mkdir(parents=True)
    shutil.copy(source, path)
    model, meta, cached = trained_model(recipe(), data, CPU, numerics=ONE_THREAD)
    assert cached and meta["state_sha256"] == state_sha256(weights)
    assert all(torch.equal(model.state_dict()[k], weights[k]) for k in weights)


def test_a_checkpoint_whose_weights_changed_fails_to_load(good_entry, tmp_path):
    path = tmp_path / "model.pt"
    shutil.copy(good_entry[0], path)
    read_checkpoint(path)
    changed_weight(path)
    with pytest.raises(CheckpointError, match=r"model\.pt: the weights do not match their "
                                              "checksum"):
        read_checkpoint(path)


def disk_full(payload, fh, *args, **kwargs):
    """torch.save on a full disk: part of the file, then torch's own error."""
    fh.write(b"\0" * 7088)
    raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 7168 vs 7088")


def test_save_atomic_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(WriteError, match=r"model\.pt: could not write \(torch\.save failed: "
                                         r"\[enforce fail"):
        save_atomic({"x": torch.zeros(3)}, tmp_path / "model.pt")
    assert os.listdir(tmp_path) == []


def test_a_full_disk_in_the_cache_does_not_fail_the_run(tree, cache, tmp_path, monkeypatch,
                                                        caplog):
    """R10: the model (and relevance) that cannot be cached are used from memory; each failed
    write is one warning naming its file."""
    monkeypatch.setattr(torch, "save", disk_full)
    with caplog.at_level(logging.WARNING):
        report = run(tree, tmp_path / "out")
    assert report.failed == 0 and report.records == N_CELLS
    warnings = [m for m in caplog.messages if "could not write" in m]
    assert len(warnings) == 3  # the model, then the relevance of each explainer
    assert warnings[0].startswith(str(cache / "models")) and \
        "the run goes on with the model in memory" in warnings[0]
    assert not list((cache / "models").iterdir()) and leftovers(cache) == []


def test_a_model_trained_with_other_numerics_is_not_taken_from_the_cache(data, good_entry,
                                                                          private_cache):
    """On a CPU the torch threads change the trained weights (the cue task's AudioNet: 98.3 %
    test accuracy on 2 threads, 96.9 % on 1), so a run on 2 threads must not report a 1-thread
    model as its own; the checkpoint says where it was trained."""
    source, _ = good_entry
    path = model_path(recipe(), data.fingerprint, ONE_THREAD)
    path.parent.mkdir(parents=True)
    shutil.copy(source, path)
    two = {"device": "cpu", "threads": 2}
    assert model_path(recipe(), data.fingerprint, two) != path
    _, meta, cached = trained_model(recipe(), data, CPU, numerics=two)
    assert not cached and meta["numerics"] == two
    assert read_checkpoint(model_path(recipe(), data.fingerprint, two))[1]["numerics"] == two
    assert trained_model(recipe(), data, CPU, numerics=ONE_THREAD)[2]  # still there for 1


def test_a_model_trained_by_other_code_is_not_taken_from_the_cache(data, good_entry,
                                                                    private_cache, monkeypatch):
    """The built-ins' version stays 0.1.0 while their code changes: a model trained before an
    edit of the training code was taken as this code's (its numbers then matched no cold run).
    The package's source digest is in the key, as in the score cache's."""
    from audioxai_bench.run import score_cache

    source, _ = good_entry
    path = model_path(recipe(), data.fingerprint, ONE_THREAD)
    path.parent.mkdir(parents=True)
    shutil.copy(source, path)
    assert trained_model(recipe(), data, CPU, numerics=ONE_THREAD)[2]
    monkeypatch.setattr(score_cache, "package_digest", lambda: "edited")
    assert model_path(recipe(), data.fingerprint, ONE_THREAD) != path
    _, _, cached = trained_model(recipe(), data, CPU, numerics=ONE_THREAD)
    assert not cached


def test_a_model_of_otherwise_resampled_data_is_not_taken_from_the_cache(data, good_entry,
                                                                         private_cache, caplog):
    """The resampler enters the model's key and checkpoint: a sinc model is not the fft data's.
    A sinc model keeps the key it had before the choice, and its checkpoint from then (no
    resampler in its meta) still verifies."""
    source, _ = good_entry
    path = model_path(recipe(), data.fingerprint, ONE_THREAD)
    before = config_hash({"recipe": recipe().key, "data": data.fingerprint,
                          "numerics": ONE_THREAD})  # the key before the choice, restated
    assert path.name == f"audionet-digit-0-{before}.pt"
    path.parent.mkdir(parents=True)
    shutil.copy(source, path)
    rewrite(path, lambda state, meta: meta.pop("resampler"))
    assert trained_model(recipe(), data, CPU, numerics=ONE_THREAD)[2]

    fft = dataclasses.replace(data, resampler="fft")
    fft_path = model_path(recipe(), data.fingerprint, ONE_THREAD, "fft")
    assert fft_path != path
    shutil.copy(source, fft_path)  # the sinc model under the fft data's key
    with caplog.at_level(logging.WARNING):
        _, meta, cached = trained_model(recipe(), fft, CPU, numerics=ONE_THREAD)
    assert not cached and meta["resampler"] == "fft"
    assert "made from another recipe or data" in caplog.text and "'resampler': 'sinc'" in \
        caplog.text
    assert read_checkpoint(fft_path)[1]["resampler"] == "fft"
