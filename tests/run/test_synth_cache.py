"""R13: a synthesis killed by SIGKILL leaves a temporary that the next run removes, and the
tree appears under its name only when complete. F8: a cached tree whose files changed is set
aside and made again."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest
import soundfile as sf

import audioxai_bench.data.cue as cue_module
import audioxai_bench.data.synth as synth_module
import audioxai_bench.run.artifacts as artifacts
from audioxai_bench.data.cue import plant_cues
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.run.artifacts import cue_data, synthetic_data
from tests.helpers import write_tree
from tests.run.helpers import run_apart


def fake_synthesis(out, speakers, females, reps, seed, workers, progress):
    """Writes clips as the synthesizer would, reporting progress after each."""
    for i in range(3):
        (out / f"{i}.wav").write_bytes(b"RIFF")
        progress(i + 1, 3)


def _synthesis_killed_at_clip_2() -> None:
    """In a process of its own: the synthesis killed by SIGKILL after its second clip."""
    artifacts.synthesize_dataset = fake_synthesis

    def killed(done, total):
        if done == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    synthetic_data(1, 1, 0, progress=killed, workers=1)


def test_a_killed_synthesis_leaves_nothing_that_lasts(private_cache, monkeypatch):
    monkeypatch.setattr(artifacts, "synthesize_dataset", fake_synthesis)
    synth = private_cache / "synth"
    synth.mkdir(parents=True)
    legacy = synth / ".1x1-seed0-0123456789abcdef.j8did39q"  # tempfile.mkdtemp's, a day old
    legacy.mkdir()
    os.utime(legacy, (time.time() - 2 * 86400,) * 2)

    killed = run_apart(_synthesis_killed_at_clip_2)  # not a fork of pytest's threads
    assert killed.exitcode == -signal.SIGKILL
    pid = killed.pid
    [temp] = [p for p in synth.iterdir() if p != legacy]
    assert temp.name.startswith(".1x1-seed0-") and f"-{pid}-" in temp.name
    assert sorted(p.name for p in temp.iterdir()) == ["0.wav", "1.wav"]

    root, cached = synthetic_data(1, 1, 0, progress=lambda *a: None, workers=1)
    assert not cached and sorted(p.name for p in synth.iterdir()) == [root.name]
    assert sorted(p.name for p in root.iterdir()) == [".complete", "0.wav", "1.wav", "2.wav"]
    assert synthetic_data(1, 1, 0, workers=1) == (root, True)


def fake_tree(out, speakers, females, reps, seed, workers, progress):
    """A real little tree, as the synthesizer would write it."""
    write_tree(out, [1, 2], digits=range(2), reps=range(1))


@pytest.mark.parametrize("damage, reason", [
    (lambda root: (root / "02" / "1_02_0.wav").unlink(),
     "holds 4 files of [0-9]+ bytes, its .complete lists 5 of"),
    (lambda root: os.truncate(root / "01" / "0_01_0.wav", 200),
     "holds 5 files of [0-9]+ bytes, its .complete lists 5 of"),
])
def test_a_damaged_synthetic_tree_is_set_aside_and_made_again(monkeypatch, caplog, damage,
                                                             reason):
    """It was used as it was: a run trained a new model on 599 clips under the 600-clip
    set's name, without a word (probe F8)."""
    monkeypatch.setattr(artifacts, "synthesize_dataset", fake_tree)
    root, cached = synthetic_data(2, 1, 0)
    assert not cached and synthetic_data(2, 1, 0) == (root, True)
    intact = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    damage(root)
    assert synthetic_data(2, 1, 0) == (root, False)
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert re.fullmatch(f"{root}: damaged cache entry \\({reason}.*\\); set aside as "
                        f"{root.name}\\.bad-[0-9T]+; recomputing", warning), warning
    assert {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()} == intact
    [aside] = root.parent.glob(f"{root.name}.bad-*")
    assert synthetic_data(2, 1, 0) == (root, True)


def test_a_tree_cached_before_trees_were_verified_is_made_again_not_called_damaged(
        monkeypatch, caplog):
    """An older version wrote an empty marker: nothing says the tree is damaged, so it is
    replaced in place without a warning or a kept copy (a full set is 1 GB)."""
    monkeypatch.setattr(artifacts, "synthesize_dataset", fake_tree)
    root, _ = synthetic_data(2, 1, 0)
    (root / ".complete").write_text("")
    with caplog.at_level(logging.INFO):
        assert synthetic_data(2, 1, 0) == (root, False)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert any("written before cached trees were verified" in r.getMessage()
               for r in caplog.records)
    assert not list(root.parent.glob(f"{root.name}.bad-*"))
    assert synthetic_data(2, 1, 0) == (root, True)


def test_a_damaged_cue_tree_is_set_aside_and_planted_again(tmp_path, caplog):
    source = write_tree(tmp_path / "data", [1, 2], digits=range(2), reps=range(4))
    root, cached = cue_data(source, 0)
    assert not cached and cue_data(source, 0) == (root, True)
    clip = root / "01" / "1_01_0.wav"
    samples, rate = sf.read(clip, dtype="int16")
    sf.write(clip, samples[: len(samples) // 2], rate)
    assert cue_data(source, 0) == (root, False)
    assert [r.getMessage().split(" (")[0] for r in caplog.records
            if r.levelname == "WARNING"] == [f"{root}: damaged cache entry"]
    assert len(sf.read(clip)[0]) == len(samples)


def _edit(monkeypatch, tmp_path, module, name: str) -> None:
    """``module`` reads its code from a copy of the package's data modules with ``name``
    edited (a comment added)."""
    edited = tmp_path / f"edited-{name}"
    shutil.copytree(Path(module.__file__).resolve().parent, edited)
    with open(edited / name, "a") as f:
        f.write("\n# an edit\n")
    monkeypatch.setattr(module, "_CODE_DIR", edited, raising=False)


@pytest.mark.parametrize("name", ["synth.py", "espeak.py"])
def test_an_edit_of_the_generator_makes_the_synthetic_tree_again(monkeypatch, tmp_path, name):
    """The cached tree was keyed by the package version, which the built-in code keeps while
    it changes: after an edit of the synthesizer a run trained on the old generator's tree
    while its records carried the new code's digest."""
    monkeypatch.setattr(artifacts, "synthesize_dataset", fake_tree)
    root, cached = synthetic_data(2, 1, 0)
    assert not cached and synthetic_data(2, 1, 0) == (root, True)  # unchanged code: reused
    _edit(monkeypatch, tmp_path, synth_module, name)
    other, cached = synthetic_data(2, 1, 0)
    assert not cached and other != root
    assert synthetic_data(2, 1, 0) == (other, True)


@pytest.mark.parametrize("name", ["cue.py", "clipfile.py"])
def test_an_edit_of_the_planter_plants_the_cue_tree_again(monkeypatch, tmp_path, name):
    """As the synthetic tree: a cue tree of the old planter was served after an edit of
    cue.py (or of the clip reader it plants with); and ``data cue --out`` into a tree of
    the old code said it was already there."""
    source = write_tree(tmp_path / "data", [1, 2], digits=range(2), reps=range(4))
    root, cached = cue_data(source, 0)
    assert not cached and cue_data(source, 0) == (root, True)
    out = tmp_path / "out"
    assert plant_cues(source, out, seed=0).written
    _edit(monkeypatch, tmp_path, cue_module, name)
    other, cached = cue_data(source, 0)
    assert not cached and other != root
    assert cue_data(source, 0) == (other, True)
    with pytest.raises(AudioXaiError, match=r"holds a tree made with other settings \(code\)"):
        plant_cues(source, out, seed=0)
