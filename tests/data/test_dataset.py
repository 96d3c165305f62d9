"""Decoding, caching, skipping bad files and serving the paper's folds."""

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch
import torchaudio.functional as AF

import audioxai_bench.data.dataset as dataset_module
from audioxai_bench.atomic import WriteError, temp_name
from audioxai_bench.data import cache, digests
from audioxai_bench.data.check import check_dataset
from audioxai_bench.data.clipfile import read_clip
from audioxai_bench.data.dataset import ClipDataset, load_audiomnist
from audioxai_bench.data.layout import scan_dataset
from audioxai_bench.data.preprocess import clip_offset, pad_to_window
from audioxai_bench.data.splits import speaker_split
from audioxai_bench.errors import AudioXaiError
from tests.helpers import make_unreadable, write_tree


def test_signals_are_resampled_and_padded(small_tree):
    data = load_audiomnist(small_tree)
    assert data.signals.shape == (80, 8000)
    row = data.relpaths.index("12/3_12_1.wav")
    nonzero = np.flatnonzero(data.signals[row])
    expected_len = int((0.3 + 0.05 * 4) * 8000)  # tone_clip length at 8 kHz
    assert abs((nonzero[-1] - nonzero[0] + 1) - expected_len) <= 2
    assert data.sex[row] == 1 and data.digit[row] == 3 and data.speaker[row] == 12


def test_second_load_reads_cache_and_decodes_nothing(small_tree, monkeypatch):
    first = load_audiomnist(small_tree)

    def fail(*args, **kwargs):
        raise AssertionError("decoded a clip although the cache holds it")

    monkeypatch.setattr(dataset_module, "read_clip", fail)
    second = load_audiomnist(small_tree)
    np.testing.assert_array_equal(first.signals, second.signals)
    assert first.relpaths == second.relpaths and first.fingerprint == second.fingerprint


def test_seed_and_changed_data_change_the_cache_entry(small_tree):
    a = load_audiomnist(small_tree, seed=0)
    b = load_audiomnist(small_tree, seed=1)
    assert not np.array_equal(a.signals, b.signals)
    write_tree(small_tree, [14], digits=range(1), reps=range(1))
    c = load_audiomnist(small_tree, seed=0)
    assert len(c.relpaths) == 81 and c.fingerprint != a.fingerprint


def test_the_resampler_makes_its_own_cache_entry_and_stays_with_the_data(
        tiny_tree, private_cache, monkeypatch):
    """The default entry's key states no resampler, as the keys made before the choice;
    ``fft`` gets its own, and each row is the clip resampled by that resampler."""
    default = load_audiomnist(tiny_tree)
    fft = load_audiomnist(tiny_tree, resampler="fft")
    assert (default.resampler, fft.resampler) == ("sinc", "fft")
    assert default.preprocessing == {} and fft.preprocessing == {"resampler": "fft"}
    before = {"version": cache.CACHE_VERSION, "rate": 8000, "window": 8000, "seed": 0,
              "data": default.fingerprint,  # what the key hashed before the choice, restated
              "code": cache.decoding_digest()}  # and the decoding code, since
    before_key = hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]
    entries = {e.name: json.loads((e / "index.json").read_text())["made_from"]
               for e in (private_cache / "signals").iterdir()}
    assert entries == {before_key: before,
                       cache.preprocessing_key(default.fingerprint, 0, "fft"):
                           before | {"resampler": "fft"}}
    assert cache.preprocessing_key(default.fingerprint, 0, "sinc") == before_key

    row = default.relpaths.index("12/2_12_0.wav")
    clip, rate = read_clip(str(tiny_tree / "12" / "2_12_0.wav"))
    by_fft = scipy.signal.resample(clip, int(np.ceil(len(clip) * (8000 / rate))))
    np.testing.assert_array_equal(
        fft.signals[row], pad_to_window(by_fft, clip_offset("12/2_12_0.wav", len(by_fft), 0)))
    by_sinc = AF.resample(torch.from_numpy(clip)[None], rate, 8000)[0].numpy()
    np.testing.assert_allclose(
        default.signals[row],
        pad_to_window(by_sinc, clip_offset("12/2_12_0.wav", len(by_sinc), 0)), atol=1e-2)
    assert np.abs(default.signals[row] - fft.signals[row]).max() > 1.0

    monkeypatch.setattr(dataset_module, "read_clip", lambda *a: pytest.fail("decoded again"))
    again = load_audiomnist(tiny_tree, resampler="fft")
    np.testing.assert_array_equal(again.signals, fft.signals)
    assert again.resampler == "fft"
    with pytest.raises(AudioXaiError, match="^unknown resampler 'polyphase'; valid: sinc, fft$"):
        load_audiomnist(tiny_tree, resampler="polyphase")


def test_bad_files_are_skipped_and_counted(small_tree):
    (small_tree / "12" / "0_12_0.wav").write_bytes(b"garbage")
    data = load_audiomnist(small_tree)
    assert data.skipped == 1 and len(data.relpaths) == 79
    assert "12/0_12_0.wav" not in data.relpaths


def test_folds_follow_the_paper_splits(tmp_path, caplog):
    split = speaker_split("sex", 0)
    speakers = [split.train[0], split.train[-1], split.validate[0], split.test[0]]
    tree = write_tree(tmp_path / "d", speakers, digits=range(2), reps=range(1))
    data = load_audiomnist(tree)
    train, val, test = data.fold("sex", 0, "spectrogram")
    assert (len(train), len(val), len(test)) == (4, 2, 2)
    # a fold on fewer speakers than the paper's split runs, and says so per part
    missing = ", ".join(f"{s:02d}" for s in sorted(split.test[1:]))
    assert f"sex fold 0: no usable clips of test speaker(s) {missing}; it runs on 1 of its 6" \
        in caplog.text
    x, y = train[0]
    assert x.shape == (1, 227, 227) and y in (0, 1)
    batch = val.__getitems__([0, 1])
    assert [b[0].shape for b in batch] == [(1, 227, 227)] * 2
    train_w, _, _ = data.fold("sex", 0, "waveform")
    assert train_w[0][0].shape == (1, 8000)


def test_a_sex_split_speaker_without_a_sex_is_an_error_not_left_out(tmp_path):
    """The old loader dropped the clips of a sex-task speaker missing from the meta file, so
    fold 0 tested on 2 female and 3 male speakers instead of the paper's 3 and 3, unseen."""
    split = speaker_split("sex", 0)
    tree = write_tree(tmp_path / "d", list(split.speakers), digits=range(1), reps=range(1))
    meta = json.loads((tree / "audioMNIST_meta.txt").read_text())
    del meta[f"{split.test[0]:02d}"]
    meta[f"{split.train[0]:02d}"]["gender"] = "unknown"
    (tree / "audioMNIST_meta.txt").write_text(json.dumps(meta))
    data = load_audiomnist(tree)
    unknown = ", ".join(f"{s:02d}" for s in sorted([split.test[0], split.train[0]]))
    with pytest.raises(AudioXaiError, match=f"audioMNIST_meta.txt: no 'gender' .* speaker\\(s\\) "
                                            f"{unknown} of sex fold 0"):
        data.fold("sex", 0, "waveform")
    assert len(data.split_rows("digit", 0)["test"]) > 0  # the digit task needs no sex


def test_fold_without_speakers_of_a_part_is_an_error(tmp_path):
    split = speaker_split("digit", 2)
    tree = write_tree(tmp_path / "d", [split.train[0], split.test[0]], digits=range(1),
                      reps=range(1))
    with pytest.raises(AudioXaiError, match="no usable clips for the validate speakers"):
        load_audiomnist(tree).fold("digit", 2, "waveform")


def test_precomputed_and_on_the_fly_inputs_agree(small_tree):
    data = load_audiomnist(small_tree)
    rows = np.arange(10)
    eager = ClipDataset(data.signals, data.digit, rows, "spectrogram")
    lazy = ClipDataset(data.signals, data.digit, rows, "spectrogram", precompute_bytes=0)
    assert eager.inputs is not None and lazy.inputs is None
    for (xe, ye), (xl, yl) in zip(eager.__getitems__([3, 7]), lazy.__getitems__([3, 7])):
        assert torch.equal(xe, xl) and ye == yl


@pytest.fixture
def tiny_tree(tmp_path: Path) -> Path:
    """Six clips: enough for the cache's checks, quick to decode."""
    return write_tree(tmp_path / "tiny", [12, 13], digits=range(3), reps=range(1))


def test_float_clips_give_the_same_signals_as_int16_clips(tiny_tree, tmp_path):
    """A 32-bit float copy of the tree used to decode as silence."""
    as_float = tmp_path / "float"
    shutil.copytree(tiny_tree, as_float)
    for path in as_float.rglob("*.wav"):
        samples, rate = sf.read(path, dtype="float32")
        sf.write(path, samples, rate, subtype="FLOAT")
    ref = load_audiomnist(tiny_tree, use_cache=False)
    got = load_audiomnist(as_float, use_cache=False)
    assert got.relpaths == ref.relpaths and np.abs(ref.signals).max() > 5000
    np.testing.assert_allclose(got.signals, ref.signals, atol=1e-2, rtol=0)


def test_unreadable_speaker_folder_is_skipped_with_a_note(tiny_tree, monkeypatch, caplog):
    make_unreadable(monkeypatch, "13")
    data = load_audiomnist(tiny_tree)
    assert len(data.relpaths) == 3 and 13 not in set(data.speaker)
    assert f"{tiny_tree / '13'}: cannot list this speaker folder; its clips are left out" in \
        caplog.messages


def signals_entry(cache_dir: Path) -> Path:
    [entry] = [p for p in (cache_dir / "signals").iterdir() if not p.name.startswith(".")]
    return entry


def reorder_rows(entry: Path) -> None:
    signals = np.load(entry / "signals.npy")
    np.save(entry / "signals.npy", signals[::-1].copy())


def put_nan(entry: Path) -> None:
    signals = np.load(entry / "signals.npy")
    signals[3, 100] = np.nan
    np.save(entry / "signals.npy", signals)


def cut_short(entry: Path) -> None:
    raw = (entry / "signals.npy").read_bytes()
    (entry / "signals.npy").write_bytes(raw[: len(raw) // 2])


def edit_index(entry: Path, change) -> None:
    index = json.loads((entry / "index.json").read_text())
    change(index)
    (entry / "index.json").write_text(json.dumps(index))


DAMAGE = {
    "index not JSON": (lambda e: (e / "index.json").write_text('{"relpaths": ['),
                       "index.json is unreadable (JSONDecodeError)"),
    "index nested deep": (lambda e: (e / "index.json").write_text("[" * 100_000 + "]" * 100_000),
                          "index.json is unreadable (RecursionError)"),
    "index missing": (lambda e: (e / "index.json").unlink(), "index.json is missing"),
    "relpaths reordered": (lambda e: edit_index(e, lambda i: i["relpaths"].reverse()),
                           "index.json does not match its checksum"),
    "signals cut short": (cut_short, "signals.npy does not match its checksum"),
    "rows reordered": (reorder_rows, "signals.npy does not match its checksum"),
    "NaN written": (put_nan, "signals.npy does not match its checksum"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_signals_cache_is_reported_set_aside_and_recomputed(
        tiny_tree, private_cache, monkeypatch, caplog, damage):
    first = load_audiomnist(tiny_tree)
    entry = signals_entry(private_cache)
    corrupt, reason = DAMAGE[damage]
    corrupt(entry)
    second = load_audiomnist(tiny_tree)
    [message] = [m for m in caplog.messages if "damaged cache entry" in m]
    assert message.startswith(f"{entry}: damaged cache entry ({reason}); set aside as "
                              f"{entry.name}.bad-") and message.endswith("; recomputing")
    np.testing.assert_array_equal(second.signals, first.signals)
    assert second.relpaths == first.relpaths
    assert len(list(entry.parent.glob(f"{entry.name}.bad-*"))) == 1

    monkeypatch.setattr(dataset_module, "read_clip", lambda *a: pytest.fail("decoded again"))
    third = load_audiomnist(tiny_tree)  # the recomputed entry is stored and verifies
    np.testing.assert_array_equal(third.signals, first.signals)


def test_an_edit_of_the_decoding_code_decodes_again(small_tree, private_cache, monkeypatch,
                                                    tmp_path):
    """The key covered the data, seed and resampler but not the code that decodes, resamples
    and pads: after an edit of read_clip or of the padding, a run served the signals of the
    old code while its records carried the new code's digest. An unchanged checkout (a copy of
    the same modules) keeps reading the entry."""
    first = load_audiomnist(small_tree)
    decoded = []
    real = dataset_module.decode_clips
    monkeypatch.setattr(dataset_module, "decode_clips",
                        lambda *a, **k: decoded.append(1) or real(*a, **k))
    source = Path(dataset_module.__file__).parent
    same = tmp_path / "same"
    shutil.copytree(source, same)
    monkeypatch.setattr(cache, "_CODE_DIR", same, raising=False)
    assert load_audiomnist(small_tree).signals.shape == first.signals.shape and not decoded
    for module in ("clipfile.py", "preprocess.py", "dataset.py"):
        edited = tmp_path / f"edited-{module}"
        shutil.copytree(source, edited)
        with open(edited / module, "a") as f:
            f.write("\n# an edit\n")
        monkeypatch.setattr(cache, "_CODE_DIR", edited, raising=False)
        again = load_audiomnist(small_tree)
        assert decoded == [1], module
        np.testing.assert_array_equal(again.signals, first.signals)  # the edit changed nothing
        assert load_audiomnist(small_tree).signals.shape == first.signals.shape
        assert decoded == [1], module  # and its entry is read next time
        decoded.clear()
    assert len(list((private_cache / "signals").iterdir())) == 4


def test_a_finite_check_backs_the_checksum(tiny_tree, private_cache):
    """NaN in an entry whose checksum was (wrongly) updated to match is still caught."""
    load_audiomnist(tiny_tree)
    entry = signals_entry(private_cache)
    put_nan(entry)
    index = json.loads((entry / "index.json").read_text())
    body = {k: v for k, v in index.items() if k != "index_sha256"}
    body["signals_sha256"] = hashlib.sha256((entry / "signals.npy").read_bytes()).hexdigest()
    body_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    (entry / "index.json").write_text(json.dumps({**body, "index_sha256": body_hash}))
    with pytest.raises(cache.DamagedEntry, match="NaN or Inf"):
        cache.verify_entry(entry, body["made_from"])


def test_cache_entry_records_what_it_was_made_from(tiny_tree, private_cache):
    data = load_audiomnist(tiny_tree, seed=3)
    entry = signals_entry(private_cache)
    index = json.loads((entry / "index.json").read_text())
    assert index["made_from"] == cache.preprocessing_params(data.fingerprint, 3)
    assert entry.name == cache.preprocessing_key(data.fingerprint, 3)
    assert index["signals_sha256"] == \
        hashlib.sha256((entry / "signals.npy").read_bytes()).hexdigest()
    other = entry.with_name(cache.preprocessing_key(data.fingerprint, 4))
    shutil.copytree(entry, other)  # an entry under a key it was not made for
    with pytest.raises(cache.DamagedEntry, match="made from other data or parameters"):
        cache.verify_entry(other, cache.preprocessing_params(data.fingerprint, 4))


def test_disk_full_while_storing_names_the_file_and_leaves_nothing(
        tiny_tree, private_cache, monkeypatch):
    def short_write(path, array):
        Path(path).write_bytes(b"\x93NUMPY partial")
        raise OSError("640000 requested and 16352 written")  # what np.save says

    monkeypatch.setattr(cache.np, "save", short_write)
    with pytest.raises(WriteError, match=r"signals/[0-9a-f]{16}/signals\.npy: could not write "
                                         r"\(640000 requested and 16352 written"):
        load_audiomnist(tiny_tree)
    assert not list((private_cache / "signals").iterdir())


def test_temporaries_of_killed_runs_are_removed_from_the_cache(tiny_tree, private_cache):
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = temp_name("0123456789abcdef").replace(f"-{os.getpid()}-", f"-{dead.pid}-")
    killed = private_cache / "signals" / name
    killed.mkdir(parents=True)
    legacy_old = private_cache / "synth" / ".60x50-seed0-34aca8fb454bd27b.u4tsp122"
    legacy_new = private_cache / "synth" / ".60x50-seed0-34aca8fb454bd27b.a1b2c3d4"
    for folder in (legacy_old, legacy_new):
        folder.mkdir(parents=True)
        (folder / "01").mkdir()
    os.utime(legacy_old, (time.time() - 3 * 86400,) * 2)
    load_audiomnist(tiny_tree)
    assert not killed.exists() and not legacy_old.exists()
    assert legacy_new.exists()  # may still be written by a live run


def test_fingerprint_leaves_out_clips_that_are_not_files(tiny_tree):
    """The cue task's tree is keyed by the fingerprint of every clip name the source holds
    (run.artifacts.cue_data): a folder named as a clip raised IsADirectoryError and a FIFO
    blocked the run forever, though data check and the loader just skip them."""
    before = cache.data_fingerprint(tiny_tree, scan_dataset(tiny_tree).clips)
    (tiny_tree / "12" / "0_12_48.wav").mkdir()
    os.mkfifo(tiny_tree / "12" / "0_12_49.wav")  # after the folder: the old code failed first
    assert cache.data_fingerprint(tiny_tree, scan_dataset(tiny_tree).clips) == before


def test_fingerprint_follows_content_not_modification_times(tiny_tree, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_tree, copy, copy_function=shutil.copyfile)  # new mtimes
    edited = tmp_path / "edited"
    shutil.copytree(tiny_tree, edited)  # same mtimes
    clip = edited / "12" / "1_12_0.wav"
    before = clip.stat()
    raw = bytearray(clip.read_bytes())
    raw[-1] ^= 1
    clip.write_bytes(bytes(raw))
    os.utime(clip, ns=(before.st_atime_ns, before.st_mtime_ns))

    def fingerprint(root):
        report = check_dataset(root)
        return cache.data_fingerprint(report.index.root, report.usable)

    original = fingerprint(tiny_tree)
    assert fingerprint(copy) == original
    assert fingerprint(edited) != original
    os.utime(copy / "12" / "0_12_0.wav", (1, 1))  # touched: hashed again, same value
    assert fingerprint(copy) == original

    monkeypatch.setattr(digests, "file_sha256", lambda p: pytest.fail(f"hashed {p} again"))
    assert fingerprint(tiny_tree) == original  # unchanged files are not read again


def test_unwritable_digest_store_slows_the_next_run_but_breaks_nothing(tiny_tree, private_cache,
                                                                      caplog):
    report = check_dataset(tiny_tree)
    (private_cache / "digests").parent.mkdir(parents=True, exist_ok=True)
    (private_cache / "digests").write_text("a file where the folder should be")
    first = cache.data_fingerprint(report.index.root, report.usable)
    assert any("could not write" in m and "hashed again next time" in m for m in caplog.messages)
    (private_cache / "digests").unlink()
    assert cache.data_fingerprint(report.index.root, report.usable) == first


def test_silent_and_constant_clips_are_skipped_by_the_loader(tiny_tree):
    """The loader takes what data check takes: a silent clip became a flat 0 dB spectrogram."""
    sf.write(tiny_tree / "12" / "0_12_0.wav", np.zeros(24_000, np.int16), 48_000)
    sf.write(tiny_tree / "13" / "1_13_0.wav", np.full(24_000, 300, np.int16), 48_000)
    data = load_audiomnist(tiny_tree, use_cache=False)
    assert "12/0_12_0.wav" not in data.relpaths and "13/1_13_0.wav" not in data.relpaths
    assert len(data.relpaths) == 4 and data.skipped == 2
