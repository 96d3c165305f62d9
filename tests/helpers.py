"""What the tests share: AudioMNIST-layout trees of tone clips (the data tests, the runner's),
and fabricated run folders for the leaderboard tests (records, examples and WAVs as a run writes
them; the unit tests and the browser test)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioxai_bench.data.splits import female_speakers
from audioxai_bench.run.records import ResultStore

# --- AudioMNIST trees of tone clips -------------------------------------------------------


def tone_clip(digit: int, speaker: int, rep: int, rate: int = 48_000) -> np.ndarray:
    """A short int16 clip whose pitch depends on the digit; length varies with the rep."""
    seconds = 0.3 + 0.05 * ((digit + rep) % 8)
    t = np.arange(int(seconds * rate)) / rate
    freq = 200 + 60 * digit + (80 if speaker in female_speakers() else 0)
    envelope = np.sin(np.pi * t / seconds)
    return (8000 * envelope * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def meta_entry(speaker: int) -> dict:
    return {"accent": "german", "age": 30, "gender":
            "female" if speaker in female_speakers() else "male", "native speaker": "no",
            "origin": "Europe, Germany, Berlin", "recordingdate": "17-06-22-11-04-28",
            "recordingroom": "Kitchen"}


def write_tree(root: Path, speakers: list[int], digits=range(10), reps=range(2),
               rate: int = 48_000) -> Path:
    """An AudioMNIST-layout tree of tone clips with a meta file."""
    for speaker in speakers:
        folder = root / f"{speaker:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for digit in digits:
            for rep in reps:
                sf.write(folder / f"{digit}_{speaker:02d}_{rep}.wav",
                         tone_clip(digit, speaker, rep, rate), rate, subtype="PCM_16")
    meta = {f"{s:02d}": meta_entry(s) for s in speakers}
    (root / "audioMNIST_meta.txt").write_text(json.dumps(meta, indent=1))
    return root


def make_unreadable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Listing a folder called ``name`` fails as under chmod 000 (the tests run as root, whom
    permissions do not stop)."""
    iterdir = Path.iterdir

    def guarded(self: Path):
        if self.name == name:
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", guarded)


# --- fabricated run folders --------------------------------------------------------------

GRID = [0.0, 0.1, 0.3, 0.5]
#: (model, explainer) -> faithfulness gap; the ranking differs between the models and from the
#: alphabetical order.
GAPS = {("audionet", "lrp-epsilon"): 0.30, ("audionet", "gradient"): 0.10,
        ("alexnet", "lrp-epsilon"): 0.20, ("alexnet", "gradient"): 0.40}
SHAPES = {"audionet": (1, 8000), "alexnet": (1, 227, 227)}
REASON = "CUDA out of memory while explaining"
#: Sample rate of the fabricated WAVs; each lasts 1 s, as the runner's do.
RATE = 8000


def record(model: str, metric: str, value: float | None, *, explainer: str | None = None,
           sonifier: str | None = None, fold: int = 0, **extra) -> dict:
    """A record as the runner writes it."""
    r = {"benchmark": "quickstart", "dataset": "synthetic", "task": "digit", "model": model,
         "representation": "waveform" if model == "audionet" else "spectrogram", "fold": fold,
         "explainer": explainer, "sonifier": sonifier, "metric": metric, "status": "ok",
         "error": None, "value": value,
         "ci": None if value is None else [value - 0.05, value + 0.05], "n": 8,
         "higher_is_better": metric not in ("runtime", "model-randomisation"),
         "wall_seconds": 1.5, "device": "cpu", "seed": 0, "config_hash": "abc123",
         "git_revision": "0123456789abcdef", "versions": {"torch": "2.11.0", "numpy": "2.0"},
         "plugins": {"explainer": {"name": explainer, "plugin": "builtin", "version": "0.1.0"}},
         "params": {}, "created": "2030-01-01T00:00:00", "python": "3.11.7"}
    r.update(extra)
    return r


def explainer_records(model: str, explainer: str, fold: int = 0,
                      gaps: Mapping[tuple[str, str], float] = GAPS,
                      noisy: Sequence[str] = ()) -> list[dict]:
    gap = gaps[model, explainer] + 0.2 * fold
    top = 1.0 - 2 * gap
    curves = {f"{kind}/{order}": [1.0, start, start - 0.1, start - 0.2]
              for kind in ("probability", "accuracy")
              for order, start in (("most-relevant", top), ("least-relevant", 0.95),
                                   ("random", 0.8), ("amplitude", 0.7))}
    # per-sample scores of 8 clips from 8 speakers, the same offsets for every explainer
    offsets = [-0.04, -0.02, 0.02, 0.04, -0.03, 0.03, -0.01, 0.01]
    if explainer in noisy:  # other offsets: its paired differences change sign
        offsets = [0.09, -0.08, 0.07, -0.09, 0.08, -0.07, 0.06, -0.06]
    speakers = range(8 * fold + 1, 8 * fold + 9)
    samples = {"scores": [gap + o for o in offsets],
               "clips": [f"{s:02d}/0_{s:02d}_0.wav" for s in speakers],
               "speakers": list(speakers)}
    out = [record(model, "faithfulness-gap", gap, explainer=explainer, fold=fold, grid=GRID,
                  curves=curves, **samples)]
    if fold:
        return out
    out += [record(model, "aopc", 0.5 * gap, explainer=explainer, grid=GRID, curves=curves),
            record(model, "runtime", 0.012, explainer=explainer),
            record(model, "model-randomisation", 0.9, explainer=explainer,
                   summary={"insensitive": explainer == "gradient"})]
    for sonifier, value in (("keep-top", 0.6), ("spectrogram-mask", 0.7)):
        out.append(record(model, "sonified-accuracy", value, explainer=explainer,
                          sonifier=sonifier))
    if model == "alexnet":
        out.append(record(model, "frequency-bands", 0.25, explainer=explainer,
                          summary={"densest_band_hz": [0, 300],
                                   "most_harmful_band_hz": [300, 700],
                                   "spearman_density_vs_accuracy_drop": 0.8}))
    return out


class FinishedStore(ResultStore):
    """A result store whose every append writes ``run.json`` as the runner writes it at the
    end (with ``results_bytes``), so the folder holds a finished run (see ``unfinished_run``)."""

    def append(self, record: Mapping) -> None:
        super().append(record)
        body = {"benchmark": {}, "report": {}, "results_bytes": self.path.stat().st_size}
        (self.path.parent / "run.json").write_text(json.dumps(body) + "\n")


def run_store(root: Path) -> ResultStore:
    """The result store of a finished run in ``root`` (:class:`FinishedStore`)."""
    return FinishedStore(root / "results.jsonl")


def fake_run(root: Path, *, media: bool = True,
             gaps: Mapping[tuple[str, str], float] = GAPS,
             audio_explainers: Sequence[str] = ("lrp-epsilon",), audio_samples: int = 1,
             noisy: Sequence[str] = ()) -> Path:
    """Records for the explainers of ``gaps`` x 2 models (a second fold for AudioNet), one
    failed cell (AlexNet's gradient gini), an examples file per model and 1 s WAVs for
    ``audio_explainers`` on AudioNet (the original, two sonifiers and a complement per
    sample)."""
    explainers = sorted({e for _, e in gaps})
    store = run_store(root)
    for model in ("audionet", "alexnet"):
        store.append(record(model, "test-accuracy", 0.9, extras={"val-accuracy": {"value": 0.91}},
                            info={"preset": "cpu", "width": 0.25, "iterations": 300}, n=200))
        for explainer in explainers:
            for r in explainer_records(model, explainer, gaps=gaps, noisy=noisy):
                store.append(r)
    store.append(record("audionet", "test-accuracy", 0.8, fold=1, n=200))
    for explainer in explainers:
        store.append(explainer_records("audionet", explainer, fold=1, gaps=gaps,
                                       noisy=noisy)[0])
    store.append(record("alexnet", "gini", None, explainer="gradient", status="error",
                        error=REASON))
    if media:
        rng = np.random.default_rng(0)
        (root / "examples").mkdir()
        for model, shape in SHAPES.items():
            arrays = {"signals": rng.normal(size=(3, 8000)).astype(np.float32),
                      "inputs": rng.normal(size=(3, *shape)).astype(np.float32),
                      "target": np.array([3, 1, 4])}
            for explainer in explainers:
                arrays[f"relevance__{explainer}"] = rng.normal(size=(3, *shape)).astype(
                    np.float32)
            np.savez(root / "examples" / f"digit-{model}-fold0.npz", **arrays)
        for explainer in audio_explainers:
            folder = root / "audio" / "digit-audionet-fold0" / explainer
            folder.mkdir(parents=True)
            for sample in range(audio_samples):
                for suffix in ("original", "keep-top", "spectrogram-mask",
                               "spectrogram-mask__complement"):
                    sf.write(folder / f"sample-{sample:03d}__{suffix}.wav",
                             0.1 * rng.normal(size=RATE), RATE, subtype="PCM_16")
    return root
