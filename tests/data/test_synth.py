"""The offline eSpeak NG stand-in for AudioMNIST: layout, format, determinism, voices."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from audioxai_bench.cli import main
from audioxai_bench.data import espeak
from audioxai_bench.data import synth as synth_module
from audioxai_bench.data.synth import (
    SynthError,
    estimate_f0,
    make_voice,
    render_clip,
    synthesize_dataset,
)
from audioxai_bench.errors import AudioXaiError
from tests.helpers import write_tree

SPEAKERS = [3, 12, 26, 40]  # 12 and 26 are female in AudioMNIST
FEMALE = {12, 26, 28, 36, 43, 47, 52, 56, 57, 58, 59, 60}
REPS = 2
META_KEYS = {"accent", "age", "gender", "native speaker", "origin", "recordingdate",
             "recordingroom"}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, list[tuple[int, int]], object]:
    """Four speakers x 10 digits x 2 reps, in this process (workers=1)."""
    out = tmp_path_factory.mktemp("synth") / "data"
    calls: list[tuple[int, int]] = []
    summary = synthesize_dataset(out, SPEAKERS, FEMALE, reps=REPS, seed=0, workers=1,
                                 progress=lambda done, total: calls.append((done, total)))
    return out, calls, summary


def test_layout_file_names_and_summary(generated):
    out, calls, summary = generated
    expected = {f"{s:02d}/{d}_{s:02d}_{r}.wav" for s in SPEAKERS for d in range(10)
                for r in range(REPS)} | {"audioMNIST_meta.txt", "synth.json"}
    assert set(tree_bytes(out)) == expected  # nothing else (no temporary files left)
    n = len(SPEAKERS) * 10 * REPS
    assert (summary.n_clips, summary.n_speakers, summary.out) == (n, len(SPEAKERS), out)
    assert summary.seconds > 0 and 0.3 * n <= summary.audio_seconds <= 1.0 * n
    assert calls[-1] == (n, n)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_clips_are_48k_mono_int16_within_duration_and_unclipped(generated):
    out, _, _ = generated
    durations = []
    for path in sorted(out.glob("*/*.wav")):
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.format, info.subtype) == (
            48_000, 1, "WAV", "PCM_16"), path
        x, _ = sf.read(path, dtype="int16")
        durations.append(len(x) / 48_000)
        assert len(x) <= 48_000, path  # the preprocessing rejects clips over 1 s
        assert np.abs(x.astype(np.int32)).max() < 32_000, path  # no clipping
        assert np.abs(x.astype(np.int32)).max() > 1_000, path  # not silent
        assert np.abs(x[:50].astype(np.int32)).max() > 0  # background noise, no digital silence
    durations = np.array(durations)
    assert durations.min() >= 0.3 and durations.max() <= 1.0
    assert 0.45 <= durations.mean() <= 0.75


def test_meta_has_the_original_keys_and_the_right_sex(generated):
    out, _, _ = generated
    meta = json.loads((out / "audioMNIST_meta.txt").read_text())
    assert set(meta) == {f"{s:02d}" for s in SPEAKERS}
    for key, entry in meta.items():
        assert set(entry) == META_KEYS
        assert entry["gender"] == ("female" if int(key) in FEMALE else "male")
        assert entry["native speaker"] in ("yes", "no")
        assert entry["recordingroom"] == "synthetic"
        assert isinstance(entry["age"], int) and 18 <= entry["age"] <= 80
        assert "en+" in entry["origin"]  # names the eSpeak voice


def test_workers_do_not_change_the_bytes(generated, tmp_path):
    out, _, _ = generated
    other = tmp_path / "two-workers"
    summary = synthesize_dataset(other, SPEAKERS, FEMALE, reps=REPS, seed=0, workers=2)
    assert summary.n_clips == len(SPEAKERS) * 10 * REPS
    assert tree_bytes(other) == tree_bytes(out)


def test_the_same_settings_again_write_nothing(generated, tmp_path, monkeypatch, capsys):
    out, _, _ = generated
    copy = Path(shutil.copytree(out, tmp_path / "copy"))
    monkeypatch.setattr(synth_module, "_render_chunk", lambda *a: pytest.fail("rendered"))
    summary = synthesize_dataset(copy, SPEAKERS, FEMALE, reps=REPS, seed=0, workers=1)
    assert not summary.written and summary.n_clips == 0
    assert tree_bytes(copy) == tree_bytes(out)


@pytest.mark.parametrize("change, message", [
    ({"seed": 1}, r"holds a tree made with other settings \(seed\)"),
    ({"reps": 1}, r"holds a tree made with other settings \(reps\)"),
    ({"speaker_ids": [3, 12]}, r"holds a tree made with other settings \(speakers, female\)"),
])
def test_a_tree_of_other_settings_is_refused_untouched(generated, tmp_path, change, message):
    """Writing into it mixed two seeds and dropped speakers from the meta file (probe F3)."""
    out, _, _ = generated
    copy = Path(shutil.copytree(out, tmp_path / "copy"))
    args = {"speaker_ids": SPEAKERS, "reps": REPS, "seed": 0} | change
    with pytest.raises(AudioXaiError, match=f"^{copy}: {message}; choose a new folder"):
        synthesize_dataset(copy, female_ids=FEMALE, workers=1, **args)
    assert tree_bytes(copy) == tree_bytes(out)


def test_a_folder_that_is_no_synthetic_tree_is_refused(tmp_path, capsys):
    """``data synth`` over a cue tree rewrote the clips without their bursts and kept the
    sidecars that claim them (probe F3)."""
    cue = write_tree(tmp_path / "cue", [3], digits=range(1), reps=range(1))
    (cue / "cues.json").write_text("{}")
    before = tree_bytes(cue)
    assert main(["data", "synth", "--out", str(cue), "--speakers", "1", "--reps", "1"]) == 2
    assert f"{cue}: is not empty; choose a new folder" in capsys.readouterr().err
    assert tree_bytes(cue) == before


def test_the_cli_writes_into_an_empty_folder_and_then_says_it_is_there(tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    synth = ["data", "synth", "--out", str(out), "--speakers", "1", "--reps", "1",
             "--workers", "1", "--quiet"]
    assert main(synth) == 0
    assert capsys.readouterr().out.startswith(f"wrote 10 clips of 1 speakers to {out}")
    before = tree_bytes(out)
    assert json.loads(before["synth.json"])["reps"] == 1
    assert main(synth) == 0
    assert capsys.readouterr().out == (f"{out}: already holds the synthetic tree of these "
                                       "settings; nothing written\n")
    assert tree_bytes(out) == before


def test_seed_changes_the_audio(generated, tmp_path):
    out, _, _ = generated
    again = tmp_path / "seed0"
    synthesize_dataset(again, [12], FEMALE, reps=1, seed=0, workers=1)
    other = tmp_path / "seed1"
    synthesize_dataset(other, [12], FEMALE, reps=1, seed=1, workers=1)
    for d in range(10):
        name = f"12/{d}_12_0.wav"
        assert (again / name).read_bytes() == (out / name).read_bytes()
        assert (other / name).read_bytes() != (out / name).read_bytes()


def test_repetitions_differ(generated):
    out, _, _ = generated
    for s in SPEAKERS:
        for d in range(10):
            a = (out / f"{s:02d}" / f"{d}_{s:02d}_0.wav").read_bytes()
            b = (out / f"{s:02d}" / f"{d}_{s:02d}_1.wav").read_bytes()
            assert a != b


def test_f0_estimator_on_known_tones():
    sr = 16_000
    t = np.arange(int(0.5 * sr)) / sr
    for f0 in (95.0, 130.0, 210.0, 260.0):
        saw = signal.sawtooth(2 * np.pi * f0 * t)  # rich harmonics, like a glottal source
        assert estimate_f0(saw, sr) == pytest.approx(f0, rel=0.03)


def test_female_voices_are_clearly_higher_than_male(generated):
    out, _, _ = generated
    per_speaker = {}
    for s in SPEAKERS:
        f0 = []
        for path in sorted((out / f"{s:02d}").glob("*.wav")):
            x, _ = sf.read(path, dtype="int16")
            f0.append(estimate_f0(signal.resample_poly(x.astype(float), 1, 3), 16_000))
        assert not np.isnan(f0).any()
        per_speaker[s] = float(np.median(f0))
    female = [v for s, v in per_speaker.items() if s in FEMALE]
    male = [v for s, v in per_speaker.items() if s not in FEMALE]
    assert min(female) > 1.2 * max(male), per_speaker
    assert np.median(female) > 1.4 * np.median(male), per_speaker
    assert all(150 <= v <= 300 for v in female) and all(80 <= v <= 180 for v in male)


def _digit_features(path: Path) -> np.ndarray:
    """Time-normalised 20-band log spectrogram of the active part (8 kHz)."""
    x, _ = sf.read(path, dtype="int16")
    x = signal.resample_poly(x.astype(float), 1, 6)
    f, _, spec = signal.stft(x, 8000, nperseg=256, noverlap=192)
    logp = np.log(np.abs(spec) ** 2 + 1e-10)
    loud = logp.max(axis=0)
    active = np.flatnonzero(loud > loud.max() - 8)
    logp = logp[:, active[0]:active[-1] + 1]
    edges = np.linspace(60, 4000, 21)
    bands = np.stack([logp[(f >= lo) & (f < hi)].mean(axis=0)
                      for lo, hi in zip(edges[:-1], edges[1:])])
    grid = np.linspace(0, bands.shape[1] - 1, 12)
    feats = np.stack([np.interp(grid, np.arange(bands.shape[1]), row) for row in bands])
    return (feats - feats.mean()).ravel()


def test_digits_sound_different(generated):
    """Nearest neighbour of rep 1 among the speaker's rep-0 clips is the same digit."""
    out, _, _ = generated
    hits = 0
    for s in SPEAKERS:
        ref = [_digit_features(out / f"{s:02d}" / f"{d}_{s:02d}_0.wav") for d in range(10)]
        for d in range(10):
            query = _digit_features(out / f"{s:02d}" / f"{d}_{s:02d}_1.wav")
            hits += int(np.argmin([np.linalg.norm(query - r) for r in ref]) == d)
    assert hits >= 0.8 * len(SPEAKERS) * 10
    # and the same digit from different speakers is not byte- or length-identical
    lengths = {len(sf.read(out / f"{s:02d}" / f"7_{s:02d}_0.wav")[0]) for s in SPEAKERS}
    assert len(lengths) > 1


def test_voices_follow_sex_and_are_deterministic():
    for s in range(1, 61):
        v = make_voice(s, s in FEMALE, seed=0)
        assert v == make_voice(s, s in FEMALE, seed=0)
        pool = synth_module.FEMALE_VARIANTS if s in FEMALE else synth_module.MALE_VARIANTS
        assert v.variant in pool and v.gender == ("female" if s in FEMALE else "male")
        assert (150 <= v.f0 <= 270) if s in FEMALE else (85 <= v.f0 <= 175)
    assert make_voice(5, False, seed=0) != make_voice(5, False, seed=1)


def test_slow_speaker_is_sped_up_to_fit_one_second():
    voice = dataclasses.replace(make_voice(7, False, seed=0), rate=80)
    synth_module.register_voice(voice)
    for digit in (0, 7, 9):  # the longest words
        clip = render_clip(voice, digit, rep=0, seed=0)
        assert 0.3 * 48_000 <= len(clip) <= 48_000


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(SynthError, match="duplicate"):
        synthesize_dataset(tmp_path, [3, 3], FEMALE, reps=1)
    with pytest.raises(SynthError, match="1..99"):
        synthesize_dataset(tmp_path, [100], FEMALE, reps=1)
    with pytest.raises(SynthError, match="reps"):
        synthesize_dataset(tmp_path, [3], FEMALE, reps=0)


def test_espeak_wrapper_synthesises_int16_at_22050():
    assert espeak.sample_rate() == 22_050
    genders = {v.name: v.gender for v in espeak.list_variants()}
    assert genders["f3"] == "female" and genders["m3"] == "male"
    espeak.set_voice("en+f3")
    espeak.set_params(rate=175, pitch=50, range=50, volume=100)
    x = espeak.synth("seven", seed=1)
    assert x.dtype == np.int16 and 0.2 * 22_050 < len(x) < 1.5 * 22_050
    with pytest.raises(KeyError):
        espeak.set_params(loudness=3)


def test_missing_library_gives_a_one_line_error(monkeypatch):
    bogus = "/nonexistent/libespeak-ng.so"
    monkeypatch.setattr(espeak, "_lib", None)
    monkeypatch.setattr(espeak, "_init_pid", None)
    monkeypatch.setattr(espeak, "_paths", lambda: (bogus, "/nonexistent/espeak-ng-data"))
    with pytest.raises(RuntimeError) as info:
        espeak.sample_rate()
    message = str(info.value)
    assert bogus in message and "\n" not in message
