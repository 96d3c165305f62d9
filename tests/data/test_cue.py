"""The planted-cue task: reproducible planting, balanced classes, ground truth that lines up
with the cue in both model inputs, and data check of the ground-truth files."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audioxai_bench.cli import main
from audioxai_bench.data.check import check_dataset
from audioxai_bench.data.cue import (
    CUE_FREQS_HZ,
    MARKER_FILE,
    N_CUE_CLASSES,
    plant_cues,
    read_cue,
    sidecar_path,
)
from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.data.ground_truth import MASK_RULES, burst_signals, ground_truth_mask
from audioxai_bench.data.preprocess import (
    REPRESENTATIONS,
    SPEC_BINS,
    SPEC_FIRST_FRAME,
    SPEC_FRAMES,
    spectrogram_input,
    spectrogram_level,
    stft,
)
from audioxai_bench.errors import AudioXaiError
from tests.helpers import tone_clip, write_tree

SPEAKERS = [1, 2, 3, 28]
RUN_SEED = 7


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    return write_tree(tmp_path_factory.mktemp("plain") / "data", SPEAKERS, digits=range(4),
                      reps=range(4))


@pytest.fixture(scope="module")
def planted(plain: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("planted") / "cue"
    plant_cues(plain, out, seed=3)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MARKER_FILE}


def test_planting_is_reproducible_and_seeded(plain, planted, tmp_path):
    again = plant_cues(plain, tmp_path / "again", seed=3)
    plant_cues(plain, tmp_path / "other", seed=4)
    assert again.n_clips == len(list(plain.rglob("*.wav")))
    assert _files(tmp_path / "again") == _files(planted)
    differ = [k for k, v in _files(tmp_path / "other").items() if _files(planted)[k] != v]
    assert any(k.endswith(".wav") for k in differ) and any(k.endswith(".json") for k in differ)


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE", "PCM_24"])
def test_every_encoding_is_planted_on_the_int16_scale(plain, planted, tmp_path, subtype):
    """A float clip read as int16 came out as silence, its burst with it (probe F2)."""
    source = Path(shutil.copytree(plain, tmp_path / "plain"))
    clip = source / "02" / "3_02_1.wav"
    samples, rate = sf.read(clip, dtype="float64")
    sf.write(clip, samples, rate, subtype=subtype)
    plant_cues(source, tmp_path / "cue", seed=3)
    got = sf.read(tmp_path / "cue" / "02" / "3_02_1.wav", dtype="int16")[0]
    assert np.count_nonzero(got) > len(got) // 2
    np.testing.assert_array_equal(got, sf.read(planted / "02" / "3_02_1.wav", dtype="int16")[0])
    assert read_cue(tmp_path / "cue" / "02" / "3_02_1.wav") == read_cue(
        planted / "02" / "3_02_1.wav")


def test_classes_are_balanced_over_digit_speaker_and_sex(planted):
    labels = {wav.name: read_cue(wav).label for wav in planted.rglob("*.wav")}
    by_class_digit = Counter((label, name.split("_")[0]) for name, label in labels.items())
    by_class_speaker = Counter((label, name.split("_")[1]) for name, label in labels.items())
    assert set(by_class_digit.values()) == {len(SPEAKERS)}  # every (class, digit) equally
    assert set(by_class_speaker.values()) == {4}  # every (class, speaker): 4 digits x 1
    assert set(labels.values()) == set(range(N_CUE_CLASSES))


def test_the_cue_is_the_only_difference_and_sits_where_the_sidecar_says(plain, planted):
    a = load_audiomnist(planted, seed=RUN_SEED, use_cache=False)
    b = load_audiomnist(plain, seed=RUN_SEED, use_cache=False)
    assert a.relpaths == b.relpaths and a.cues is not None and b.cues is None
    diff = torch.from_numpy(a.signals - b.signals)
    burst = burst_signals(a.cues)
    # the burst rebuilt at 8 kHz from the sidecar matches what resampling made of the file
    residual = ((diff - burst) ** 2).sum(1) / (burst**2).sum(1)
    assert float(residual.max()) < 1e-6
    mask = ground_truth_mask(a.cues, "waveform", torch.from_numpy(a.signals))
    assert mask.shape == (len(a.relpaths), 1, 8000) and mask.dtype == torch.bool
    inside = ((diff**2) * mask[:, 0]).sum(1) / (diff**2).sum(1)
    assert float(inside.min()) > 0.999
    assert (mask.sum(dim=(1, 2)) == 800).all()  # 0.1 s at 8 kHz


def test_the_bursts_are_resampled_as_their_clips(plain, planted):
    """With the reference code's FFT resampler the burst rebuilt from the sidecar is the cue
    in the signals; rebuilt by the sinc it leaves a residual 500 times larger (3e-6 of the
    burst's energy against 6e-9)."""
    a = load_audiomnist(planted, seed=RUN_SEED, use_cache=False, resampler="fft")
    b = load_audiomnist(plain, seed=RUN_SEED, use_cache=False, resampler="fft")
    diff = a.signals - b.signals

    def residual(burst: np.ndarray) -> float:
        return float((((diff - burst) ** 2).sum(1) / (burst**2).sum(1)).max())

    assert residual(a.bursts(np.arange(len(a.relpaths)))) < 1e-7
    assert residual(burst_signals(a.cues, "sinc").numpy()) > 1e-6


def test_the_spectrogram_mask_holds_the_cue_energy(plain, planted):
    a = load_audiomnist(planted, seed=RUN_SEED, use_cache=False)
    b = load_audiomnist(plain, seed=RUN_SEED, use_cache=False)
    mask = ground_truth_mask(a.cues, "spectrogram", torch.from_numpy(a.signals))[:, 0]
    assert mask.shape == (len(a.relpaths), SPEC_BINS, SPEC_FRAMES)
    power = stft(burst_signals(a.cues)).abs() ** 2
    power = power[:, :SPEC_BINS, SPEC_FIRST_FRAME:SPEC_FIRST_FRAME + SPEC_FRAMES]
    assert float(((power * mask).sum((1, 2)) / power.sum((1, 2))).min()) > 0.95
    # in the model input itself: the cue raises the masked bins, and nothing outside them
    rise = (spectrogram_input(torch.from_numpy(a.signals))
            - spectrogram_input(torch.from_numpy(b.signals)))[:, 0]
    inside = (rise * mask).sum((1, 2)) / mask.sum((1, 2))
    outside = (rise * ~mask).sum((1, 2)) / (~mask).sum((1, 2))
    assert float(inside.min()) > 10.0 and float(outside.abs().max()) < 1.0
    # at the clip's own level, outside the mask the cue raises no bin by more than a burst no
    # louder than the rest can (6 dB, in phase); the main lobe alone left bins it raised by
    # tens of dB (science audit 6, M2: the model reads dB, not energy)
    level = spectrogram_level(torch.from_numpy(a.signals))
    rise = (spectrogram_input(torch.from_numpy(a.signals), level=level)
            - spectrogram_input(torch.from_numpy(b.signals), level=level))[:, 0]
    assert float(rise[~mask].max()) <= 6.03
    lobe = mask & (rise > 6.03)
    assert lobe.sum() < mask.sum()  # not just the loud core: the footprint is in it
    peak = mask.float() * rise
    for clip, label in zip(peak, a.cues.label):
        row = int(clip.amax(dim=1).argmax())  # the row the cue raises most: its main lobe
        assert abs(row - CUE_FREQS_HZ[label] * 455 / 8000) <= 2


def test_the_ground_truth_follows_the_run_seed(planted):
    a = load_audiomnist(planted, seed=1, use_cache=False)
    b = load_audiomnist(planted, seed=2, use_cache=False)
    assert not np.array_equal(a.cues.onset, b.cues.onset)
    assert np.array_equal(a.cues.label, b.cues.label)


def test_every_model_input_names_its_mask_rule():
    """The runner states the rule of each scored mask (info.ground_truth) by its input."""
    assert set(MASK_RULES) == set(REPRESENTATIONS)
    assert all(rule.startswith(f"{rep} v") for rep, rule in MASK_RULES.items())


class _Unread:
    """Signals that fail when read."""

    def __getitem__(self, rows):
        raise AssertionError("the signals were read")


def test_only_the_spectrogram_mask_reads_the_signals(planted):
    """The waveform mask is the burst's samples: it was given a tensor of the clips' signals
    (32 kB a clip) that it ignored."""
    data = load_audiomnist(planted, seed=RUN_SEED, use_cache=False)
    rows = np.array([5, 0, 3])
    masks = {rep: data.ground_truth("cue", rows, rep) for rep in ("waveform", "spectrogram")}
    unread = dataclasses.replace(data, signals=_Unread())
    assert torch.equal(unread.ground_truth("cue", rows, "waveform"), masks["waveform"])
    with pytest.raises(AssertionError, match="the signals were read"):
        unread.ground_truth("cue", rows, "spectrogram")
    assert masks["spectrogram"].any()
    with pytest.raises(ValueError, match="the spectrogram mask needs the clips' signals"):
        ground_truth_mask(data.cues.take(rows), "spectrogram")


def _copy(planted: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(planted, tmp_path / "cue"))


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.unlink(), "ground-truth file missing"),
    (lambda p: p.write_text("{not json"), "not a readable JSON ground-truth file"),
    (lambda p: p.write_text(json.dumps(json.loads(p.read_text()) | {"label": 9})),
     "label: must be 0..3, got 9"),
    (lambda p: p.write_text(json.dumps(json.loads(p.read_text()) | {"start": "0"})),
     "start: must be an integer, got '0'"),
    (lambda p: p.write_text(json.dumps(json.loads(p.read_text()) | {"stop": 10**7})),
     "start/stop: need 0 <= start < stop <= frames"),
    (lambda p: p.write_text(json.dumps(json.loads(p.read_text()) | {"frames": 123,
                                                                    "start": 0, "stop": 100})),
     "does not match its clip: 123 samples at 48000 Hz"),
])
def test_data_check_names_the_broken_ground_truth(planted, tmp_path, capsys, damage, message):
    root = _copy(planted, tmp_path)
    wav = root / "02" / "1_02_3.wav"
    damage(sidecar_path(wav))
    report = check_dataset(root)
    bad = [p for p in report.problems if p.fatal]
    assert len(bad) == 1 and bad[0].where == str(sidecar_path(wav)) and message in bad[0].message
    assert wav not in {c.path for c in report.usable}
    assert main(["data", "check", str(root)]) == 1
    assert f"ERROR: {sidecar_path(wav)}: " in capsys.readouterr().out
    data = load_audiomnist(root, use_cache=False)  # the clip is left out, the rest load
    assert "02/1_02_3.wav" not in data.relpaths and len(data.cues) == len(data.relpaths)


def test_a_clean_cue_tree_passes_data_check(planted):
    assert main(["data", "check", str(planted)]) == 0


def test_the_cue_task_needs_a_cue_tree(plain):
    data = load_audiomnist(plain, use_cache=False)
    with pytest.raises(AudioXaiError, match="task 'cue' needs a cue tree"):
        data.labels("cue")
    assert data.ground_truth("digit", np.arange(3), "waveform") is None


def test_the_fingerprint_covers_the_ground_truth(planted, tmp_path):
    root = _copy(planted, tmp_path)
    before = load_audiomnist(root, use_cache=False).fingerprint
    sidecar = sidecar_path(root / "01" / "0_01_0.wav")
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text()) | {"phase": 0.5}))
    assert load_audiomnist(root, use_cache=False).fingerprint != before


def test_the_cli_plants_a_tree_that_data_check_accepts(plain, planted, tmp_path, capsys):
    assert main(["data", "cue", str(plain), "--out", str(tmp_path / "cli"), "--seed", "3"]) == 0
    assert "planted cues into 64 clips" in capsys.readouterr().out
    assert _files(tmp_path / "cli") == _files(planted)
    assert main(["data", "check", str(tmp_path / "cli")]) == 0


def test_planting_into_the_same_tree_writes_nothing_and_into_another_is_refused(
        plain, planted, tmp_path, capsys):
    """``data cue`` into an existing folder said it planted and wrote nothing (probe F3)."""
    out = Path(shutil.copytree(planted, tmp_path / "cue"))
    before = {**_files(out), MARKER_FILE: (out / MARKER_FILE).read_bytes()}
    same = ["data", "cue", str(plain), "--out", str(out), "--seed", "3", "--quiet"]
    assert main(same) == 0
    assert capsys.readouterr().out == (f"{out}: already holds the cue tree of {plain} with seed "
                                       "3; nothing written\n")
    assert main([*same[:-3], "--seed", "9"]) == 2
    assert capsys.readouterr().err == (f"error: {out}: holds a tree made with other settings "
                                       "(seed); choose a new folder or remove this one\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(AudioXaiError, match="other: is not empty; choose a new folder"):
        plant_cues(plain, tmp_path / "other", seed=3)
    assert {**_files(out), MARKER_FILE: (out / MARKER_FILE).read_bytes()} == before


def test_planting_takes_the_clips_the_runs_resampler_takes(plain, tmp_path, capsys):
    """The planter read every clip with sinc's rate check, so a cue tree for a definition that
    resamples by fft lacked the clips only sinc refuses (192 007 Hz shares no factor with 8
    kHz). ``--resampler`` plants into them, names the check to run, and keys the tree."""
    source = Path(shutil.copytree(plain, tmp_path / "data"))
    odd = "01/0_01_0.wav"
    sf.write(source / odd, tone_clip(0, 1, 0, 192_007), 192_007)
    sinc = plant_cues(source, tmp_path / "sinc", seed=3)
    assert sinc.n_clips == 63 and not (tmp_path / "sinc" / odd).exists()
    fft = tmp_path / "fft"
    assert main(["data", "cue", str(source), "--out", str(fft), "--seed", "3", "--quiet",
                 "--resampler", "fft"]) == 0
    assert capsys.readouterr().out == (f"planted cues into 64 clips in {fft}; check them with "
                                       f"'audioxai-bench data check {fft} --resampler fft'\n")
    assert read_cue(fft / odd).rate == sf.info(fft / odd).samplerate == 192_007
    assert main(["data", "check", str(fft), "--resampler", "fft"]) == 0
    with pytest.raises(AudioXaiError, match="holds a tree made with other settings "
                                            r"\(resampler\)"):
        plant_cues(source, fft, seed=3)
    with pytest.raises(AudioXaiError, match="^unknown resampler 'polyphase'; valid: sinc, fft$"):
        plant_cues(source, tmp_path / "never", resampler="polyphase")
    assert not (tmp_path / "never").exists()


def test_a_tree_that_already_carries_cues_is_refused(plain, planted, tmp_path, capsys):
    """Probe 5 #5: ``data cue`` of a cue tree planted a second burst into every clip, and the
    new sidecars described only the second one."""
    out = tmp_path / "twice"
    assert main(["data", "cue", str(planted), "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"error: {planted / MARKER_FILE}: {planted} already carries cues, and a second burst "
        f"would go undescribed; plant cues into the tree it was made from ({plain})\n")
    assert not out.exists()
    # a copy of its clips and sidecars without the marker: the first sidecar is named
    bare = _copy(planted, tmp_path)
    (bare / MARKER_FILE).unlink()
    with pytest.raises(AudioXaiError, match=r"^\S+/01/0_01_0\.cue\.json: \S+ already carries "
                                            r"cues, .* it was made from$"):
        plant_cues(bare, out)
    assert not out.exists()


@pytest.mark.parametrize("reps, refused", [(1, True), (2, True), (3, True), (5, True),
                                           (13, True), (8, False), (14, False), (50, False)])
def test_a_tree_whose_speech_would_tell_the_cue_class_is_refused(tmp_path, capsys, reps,
                                                                  refused):
    """Probe 5 #11: with 2 or 3 repetitions each (speaker, digit) lacks a class, so the speech
    carries label information; AudioMNIST's 50 keep every class within the cue control's
    margin of chance (13 or 12 of 50)."""
    source = write_tree(tmp_path / "src", [3], digits=[7], reps=range(reps))
    if not refused:
        assert plant_cues(source, tmp_path / "out").n_clips == reps
        return
    assert main(["data", "cue", str(source), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {source}: speaker 03, digit 7 has {reps} repetition(s), whose "
                          "cue classes occur [") and err.count("\n") == 1
    assert "the cue task needs a multiple of 4 repetitions" in err
    assert not (tmp_path / "out").exists()


def test_the_speech_margin_is_the_cue_controls_chance_margin():
    from audioxai_bench.data.cue import SPEECH_MARGIN
    from audioxai_bench.run.control import CHANCE_MARGIN

    assert SPEECH_MARGIN == CHANCE_MARGIN
