"""The reader and ``data check`` on trees in the original layout, clean and broken."""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from audioxai_bench.cli import main
from audioxai_bench.data.check import check_dataset
from audioxai_bench.data.layout import load_meta, scan_dataset
from audioxai_bench.errors import AudioXaiError
from tests.helpers import make_unreadable, tone_clip, write_tree


def test_scan_reads_layout_and_labels(small_tree):
    index = scan_dataset(small_tree)
    assert len(index.clips) == 4 * 10 * 2
    clip = next(c for c in index.clips if c.speaker == 26 and c.digit == 7 and c.rep == 1)
    assert clip.relpath == "26/7_26_1.wav"
    assert index.sex_of(clip) == "female"
    assert index.speakers[13].sex == "male"
    assert not index.problems


def test_meta_quirks_of_the_real_file(tmp_path):
    meta = {
        "01": {"age": 30, "gender": "male", "accent": "German"},
        "02": {"age": "25", "gender": "Female", "accent": "german"},
        "03": {"age": "1234", "gender": "male"},
        "04": {"age": 40, "gender": "robot"},
        "05": "not an object",
    }
    path = tmp_path / "audioMNIST_meta.txt"
    path.write_text(json.dumps(meta))
    speakers, problems = load_meta(path)
    assert speakers[1].age == 30 and speakers[2].age == 25
    assert speakers[2].sex == "female"
    assert speakers[3].age is None and speakers[3].sex == "male"
    assert speakers[4].sex is None
    assert 5 not in speakers
    wheres = {p.where for p in problems}
    assert "audioMNIST_meta.txt['03'].age" in wheres
    assert "audioMNIST_meta.txt['04'].gender" in wheres
    assert "audioMNIST_meta.txt['05']" in wheres
    assert not next(p for p in problems if p.where.endswith(".age")).fatal


def test_a_speaker_given_twice_in_the_meta_file_is_not_read_as_the_last(tmp_path):
    """json keeps the last of two equal keys, and '02' and '2' are one speaker: the old reader
    took the last entry's gender without a word."""
    path = tmp_path / "audioMNIST_meta.txt"
    path.write_text('{"02": {"gender": "male"}, "2": {"gender": "female"}, '
                    '"03": {"gender": "male"}, "3": {"gender": "male"}}')
    speakers, problems = load_meta(path)
    assert speakers[2].sex is None and speakers[3].sex == "male"
    fatal = [p for p in problems if p.fatal]
    assert [p.where for p in fatal] == ["audioMNIST_meta.txt['2']", "audioMNIST_meta.txt['3']"]
    assert "genders differ" in fatal[0].message
    path.write_text('{"02": {"gender": "male"}, "02": {"gender": "female"}}')
    with pytest.raises(AudioXaiError, match="key '02' appears twice in one object"):
        load_meta(path)
    path.write_text('{"02": {"gender": "male", "gender": "female"}}')
    with pytest.raises(AudioXaiError, match="key 'gender' appears twice"):
        load_meta(path)


def test_meta_not_json_is_one_clear_error(small_tree):
    (small_tree / "audioMNIST_meta.txt").write_text("{not json")
    with pytest.raises(AudioXaiError, match="audioMNIST_meta.txt: meta file is not valid JSON"):
        scan_dataset(small_tree)


def test_not_a_dataset(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(AudioXaiError, match="not an AudioMNIST dataset"):
        scan_dataset(tmp_path)


def test_missing_meta_speaker_is_noted_not_fatal(small_tree):
    meta = json.loads((small_tree / "audioMNIST_meta.txt").read_text())
    del meta["27"]
    (small_tree / "audioMNIST_meta.txt").write_text(json.dumps(meta))
    report = check_dataset(small_tree)
    assert len(report.usable) == 80
    missing = [p for p in report.problems if "'27'" in p.where]
    assert missing and not missing[0].fatal
    assert (report.counts().query("speaker == 27").sex == "unknown").all()


@pytest.fixture
def broken_tree(small_tree):
    folder = small_tree / "12"
    (folder / "0_12_0.wav").write_bytes(b"RIFF\x00\x00garbage")  # corrupt
    (folder / "1_12_0.wav").write_bytes(b"")  # empty
    (folder / "2_12_0.wav").write_text("this is text, not audio")  # non-WAV
    stereo = np.stack([tone_clip(3, 12, 0)] * 2, axis=1)
    sf.write(folder / "3_12_0.wav", stereo, 48_000, subtype="PCM_16")
    sf.write(folder / "4_12_0.wav", np.zeros(int(1.2 * 48_000), np.int16), 48_000)  # too long
    sf.write(folder / "5_12_0.wav", tone_clip(5, 12, 0, 16_000), 16_000)  # other rate: usable
    sf.write(folder / "6_12_0.flac", tone_clip(6, 12, 0), 48_000, format="FLAC")  # ignored
    (folder / "badname.wav").write_bytes(b"")
    # a second spelling of repetition 0 (review D11): the corpus has no leading zeros
    sf.write(folder / "8_12_00.wav", tone_clip(8, 12, 0), 48_000)
    sf.write(folder / "7_13_0.wav", tone_clip(7, 13, 0), 48_000)  # wrong speaker in the name
    return small_tree


def fatal_by_file(report) -> dict[str, str]:
    """A check report's refusals: file name -> reason."""
    return {p.where.split("/")[-1]: p.message for p in report.fatal}


def refused_lines(root, capsys) -> list[str]:
    """The ERROR lines of ``data check root``, which must exit 1."""
    assert main(["data", "check", str(root)]) == 1
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("ERROR")]


def test_check_lists_every_problem_at_once(broken_tree):
    report = check_dataset(broken_tree)
    fatal = fatal_by_file(report)
    assert set(fatal) == {"0_12_0.wav", "1_12_0.wav", "2_12_0.wav", "3_12_0.wav",
                          "4_12_0.wav", "badname.wav", "7_13_0.wav", "8_12_00.wav"}
    assert "without leading zeros" in fatal["8_12_00.wav"]
    assert "not a readable WAV" in fatal["0_12_0.wav"]
    assert "2 channels" in fatal["3_12_0.wav"]
    assert "1.2 s (57600 samples at 48000 Hz); at most 1 s (48000 samples)" in fatal["4_12_0.wav"]
    assert len(report.usable) == 80 - 5
    assert any("not at 48000 Hz" in p.message and not p.fatal for p in report.problems)


def test_check_cli_exit_codes_and_counts(broken_tree, small_tree, capsys, tmp_path):
    assert main(["data", "check", str(broken_tree)]) == 1
    out = capsys.readouterr().out
    assert "75 usable clips of 80" in out
    assert "ERROR:" in out and "3_12_0.wav: 2 channels" in out

    clean = write_tree(tmp_path / "clean", [1, 12], digits=range(3), reps=range(1))
    assert main(["data", "check", str(clean), "--speakers"]) == 0
    out = capsys.readouterr().out
    assert "female" in out and "male" in out and "per speaker" in out

    empty = tmp_path / "empty"
    (empty / "01").mkdir(parents=True)
    (empty / "01" / "0_01_0.wav").write_bytes(b"")
    assert main(["data", "check", str(empty)]) == 2
    assert main(["data", "check", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such directory" in capsys.readouterr().err


@pytest.fixture
def odd_clips_tree(small_tree):
    """Clips that pass a header-only check but cannot be used, next to usable odd ones."""
    folder = small_tree / "12"
    clip = tone_clip(0, 12, 0).astype(np.float32) / 32768
    sf.write(folder / "0_12_0.wav", clip, 48_000, subtype="FLOAT")  # usable
    sf.write(folder / "0_12_1.wav", clip.astype(np.float64), 48_000, subtype="DOUBLE")  # usable
    nan = clip.copy()
    nan[5] = np.nan
    sf.write(folder / "1_12_0.wav", nan, 48_000, subtype="FLOAT")
    sf.write(folder / "2_12_0.wav", np.full(19_200, 100, np.int16), 192_007)
    sf.write(folder / "3_12_0.wav", np.full(50, 100, np.int16), 1_000)
    (folder / "4_12_0.wav").unlink()
    os.mkfifo(folder / "4_12_0.wav")
    held = os.open(folder / "4_12_0.wav", os.O_RDWR | os.O_NONBLOCK)  # a wrong reader fails
    os.write(held, b"not a wav header" * 4)  # on these bytes instead of hanging
    (folder / "5_12_0.wav").unlink()
    (folder / "5_12_0.wav").symlink_to("/dev/zero")
    yield small_tree
    os.close(held)


def test_check_reads_float_clips_and_rejects_nan_rates_and_special_files(odd_clips_tree):
    report = check_dataset(odd_clips_tree)
    assert fatal_by_file(report) == {
        "1_12_0.wav": "1 NaN/Inf samples of 14400",
        "2_12_0.wav": "sample rate 192007 Hz shares too small a factor with 8000 Hz to resample "
                      "by sinc (ratio 192007/8000); convert it to a common rate such as 48000 "
                      "Hz, or resample by fft (data.resampler: fft, --resampler fft)",
        "3_12_0.wav": "sample rate 1000 Hz is outside 4000..384000 Hz",
        "4_12_0.wav": "not a regular file (a FIFO)",
        "5_12_0.wav": "not a regular file (a character device)",
    }
    assert len(report.usable) == 80 - 5


def test_check_cli_lists_each_odd_clip_on_one_line(odd_clips_tree, capsys):
    errors = refused_lines(odd_clips_tree, capsys)
    assert len(errors) == 5 and any("4_12_0.wav: not a regular file (a FIFO)" in e for e in errors)


def test_check_cli_checks_for_the_resampler_asked(small_tree, capsys):
    """``data check`` checked every tree as sinc does: a clip only sinc refuses (192 007 Hz
    shares no factor with 8 kHz) was an error for a definition that resamples by fft."""
    sf.write(small_tree / "12" / "2_12_0.wav", tone_clip(2, 12, 0, 192_007), 192_007)
    assert main(["data", "check", str(small_tree)]) == 1  # sinc, the runs' default
    out = capsys.readouterr().out
    assert "79 usable clips of 80" in out
    assert (f"ERROR: {small_tree / '12' / '2_12_0.wav'}: sample rate 192007 Hz shares too small "
            "a factor") in out and "--resampler fft)" in out
    assert main(["data", "check", str(small_tree), "--resampler", "fft"]) == 0
    out = capsys.readouterr().out
    assert "80 usable clips of 80" in out and "ERROR" not in out
    assert f"note: {small_tree}: 1 clip not at 48000 Hz, AudioMNIST's rate; resampled by fft" in out
    with pytest.raises(AudioXaiError, match="^unknown resampler 'polyphase'; valid: sinc, fft$"):
        check_dataset(small_tree, "polyphase")


def test_deeply_nested_meta_is_one_line_error(small_tree, capsys):
    (small_tree / "audioMNIST_meta.txt").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["data", "check", str(small_tree)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {small_tree}/audioMNIST_meta.txt: meta file is not valid JSON " \
                  "(nested too deeply)\n"


def test_meta_that_is_a_fifo_is_refused_without_reading(small_tree):
    meta = small_tree / "audioMNIST_meta.txt"
    meta.unlink()
    os.mkfifo(meta)
    with pytest.raises(AudioXaiError, match="meta file is not a regular file"):
        scan_dataset(small_tree)


def test_unreadable_speaker_folder_is_one_problem_and_the_rest_is_checked(
        small_tree, monkeypatch, capsys):
    make_unreadable(monkeypatch, "13")
    report = check_dataset(small_tree)
    assert {c.speaker for c in report.usable} == {12, 26, 27} and len(report.usable) == 60
    assert [str(p) for p in report.fatal] == [
        f"{small_tree / '13'}: cannot list this speaker folder (Permission denied); its clips "
        "are left out"]
    assert report.index.unlisted == [small_tree / "13"]
    assert main(["data", "check", str(small_tree)]) == 1
    out = capsys.readouterr().out
    assert "60 usable clips of 60, 3 speakers" in out and "13: cannot list" in out


@pytest.fixture
def flat_tree(small_tree):
    """Clips a header check passes that hold no signal, beside short and late real ones."""
    folder = small_tree / "12"
    sf.write(folder / "0_12_0.wav", np.zeros(24_000, np.int16), 48_000)
    sf.write(folder / "1_12_0.wav", np.array([1000], np.int16), 48_000)
    sf.write(folder / "2_12_0.wav", np.full(24_000, 300, np.int16), 48_000)
    sf.write(folder / "3_12_0.wav", np.full(24_000, 0.01, np.float32), 48_000, subtype="FLOAT")
    sf.write(folder / "4_12_0.wav", tone_clip(4, 12, 0)[:int(0.15 * 48_000)], 48_000)  # usable
    late = np.concatenate([np.zeros(10_000, np.int16), tone_clip(5, 12, 0)])  # past one block
    sf.write(folder / "5_12_0.wav", late, 48_000)  # usable
    dither = np.random.default_rng(0).integers(-1, 2, 24_000).astype(np.int16)  # +-1 step
    sf.write(folder / "6_12_0.wav", dither, 48_000)
    sf.write(folder / "7_12_0.wav", 300 + 10 * dither, 48_000)  # a constant with a little noise
    quiet = np.concatenate([dither, tone_clip(8, 12, 0) // 64])  # a word at -48 dBFS, late
    sf.write(folder / "8_12_0.wav", quiet, 48_000)  # usable
    return small_tree


def test_check_rejects_silent_constant_and_one_sample_clips(flat_tree):
    """Silence, DC and a 1-sample clip passed: relevance and energy norms on them are noise."""
    report = check_dataset(flat_tree)
    assert fatal_by_file(report) == {
        "0_12_0.wav": "silent (every sample 0)",
        "1_12_0.wav": "1 sample long (0.000 s); a spoken digit lasts at least 0.1 s",
        "2_12_0.wav": "constant (DC only, no signal)",
        "3_12_0.wav": "constant (DC only, no signal)",
        "6_12_0.wav": "near-silent (half its peak-to-peak range is -90 dBFS, under -60 dBFS: "
                      "no signal)",
        "7_12_0.wav": "near-silent (half its peak-to-peak range is -70 dBFS, under -60 dBFS: "
                      "no signal)",
    }
    assert len(report.usable) == 80 - 6


def test_check_cli_names_each_flat_clip_on_one_line(flat_tree, capsys):
    errors = refused_lines(flat_tree, capsys)
    assert len(errors) == 6
    assert any(e.endswith("12/0_12_0.wav: silent (every sample 0)") for e in errors)
    assert any(e.endswith("12/1_12_0.wav: 1 sample long (0.000 s); a spoken digit lasts at "
                          "least 0.1 s") for e in errors)
