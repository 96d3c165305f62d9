"""R13: a synthesis killed by SIGKILL leaves a temporary that the next run removes, and the
tree appears under its name only when complete."""

from __future__ import annotations

import os
import signal
import time

import audioxai_bench.run.artifacts as artifacts
from audioxai_bench.run.artifacts import synthetic_data


def fake_synthesis(out, speakers, females, reps, seed, workers, progress):
    """Writes clips as the synthesizer would, reporting progress after each."""
    for i in range(3):
        (out / f"{i}.wav").write_bytes(b"RIFF")
        progress(i + 1, 3)


def test_a_killed_synthesis_leaves_nothing_that_lasts(private_cache, monkeypatch):
    monkeypatch.setattr(artifacts, "synthesize_dataset", fake_synthesis)
    synth = private_cache / "synth"
    synth.mkdir(parents=True)
    legacy = synth / ".1x1-seed0-0123456789abcdef.j8did39q"  # tempfile.mkdtemp's, a day old
    legacy.mkdir()
    os.utime(legacy, (time.time() - 2 * 86400,) * 2)

    def killed(done, total):
        if done == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    pid = os.fork()
    if pid == 0:
        try:
            synthetic_data(1, 1, 0, progress=killed, workers=1)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    [temp] = [p for p in synth.iterdir() if p != legacy]
    assert temp.name.startswith(".1x1-seed0-") and f"-{pid}-" in temp.name
    assert sorted(p.name for p in temp.iterdir()) == ["0.wav", "1.wav"]

    root, cached = synthetic_data(1, 1, 0, progress=lambda *a: None, workers=1)
    assert not cached and sorted(p.name for p in synth.iterdir()) == [root.name]
    assert sorted(p.name for p in root.iterdir()) == [".complete", "0.wav", "1.wav", "2.wav"]
    assert synthetic_data(1, 1, 0, workers=1) == (root, True)
