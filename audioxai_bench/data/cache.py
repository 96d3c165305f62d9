"""On-disk cache of decoded, resampled and padded signals, keyed by the data and parameters.

Both model inputs derive cheaply from the padded 8 kHz signal, so that signal is what is
cached (30 000 clips × 8 000 float32 = 960 MB): a second run decodes nothing. The key covers
every clip's path and content, the meta file, the preprocessing parameters (seed and
resampler) and the source of the code that decodes, resamples and pads the clips
(:func:`decoding_digest`), so a changed dataset, seed, resampler or decoding never reads a
stale entry, and a copy of the same data under the same code reuses it.

An entry is trusted only after it is verified: its ``index.json`` records what it was made
from and the SHA-256 of ``signals.npy`` (and of itself), and every signal must be finite
(reading the 960 MB of the full dataset for this takes about 3 s, decoding it minutes). An
entry that fails (cut short, edited, rows reordered) is reported in one line, renamed to
``<key>.bad-<time>`` and recomputed; temporaries of killed writers are removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from ..atomic import atomic_dir, clean_stale_temps
from .check import TARGET_RATE, WINDOW
from .clipfile import DEFAULT_RESAMPLER, file_problem, resampler_key
from .cue import is_cue_tree, sidecar_path
from .digests import file_digests, file_sha256, source_digest
from .layout import META_FILE, Clip

CACHE_VERSION = 2
FINGERPRINT_VERSION = 2  # 1 hashed modification times; 2 hashes content
LISTING_VERSION = 1
_VERIFY_ROWS = 4096  # rows per step of the finiteness check (128 MB)
#: The modules whose code makes a signals entry's rows: reading a clip (clipfile), resampling
#: and padding it (preprocess), and the decoding loop that joins them (dataset's
#: decode_clips); an edit of any of them decodes again (an edit elsewhere in them too: the
#: cost of one decode, never a stale entry)
DECODING_MODULES = ("clipfile.py", "dataset.py", "preprocess.py")
_CODE_DIR = Path(__file__).resolve().parent
_log = logging.getLogger(__name__)


class DamagedEntry(Exception):
    """A cache entry failed verification; the message says how."""


CACHE_ENV = "AUDIOXAI_BENCH_CACHE"


def cache_root() -> Path:
    """``$AUDIOXAI_BENCH_CACHE`` or ``~/.cache/audioxai-bench``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "audioxai-bench"


def data_fingerprint(root: Path, clips: list[Clip]) -> str:
    """Identity of a dataset's content: every clip's relative path, size and SHA-256, and the
    meta file. Modification times only decide whether a file is hashed again. A clip that is
    not a regular file (a FIFO, a folder: unusable, :func:`~.clipfile.file_problem`) holds no
    content and is left out; reading a FIFO would block forever."""
    clips = [c for c in clips if file_problem(c.path) is None]
    store = cache_root() / "digests" / f"{_path_key(root)}.json"
    digests = file_digests([c.path for c in clips], store)
    h = hashlib.sha256(f"fingerprint {FINGERPRINT_VERSION}\n".encode())
    for clip in sorted(clips, key=lambda c: c.relpath):
        h.update(f"{clip.relpath}\0{clip.path.stat().st_size}\0{digests[clip.path]}\n".encode())
    meta = root / META_FILE
    if meta.is_file():
        h.update(meta.read_bytes())
    if is_cue_tree(root):  # the cue labels and ground truth live beside the clips
        for clip in sorted(clips, key=lambda c: c.relpath):
            h.update(sidecar_path(clip.path).read_bytes())
    return h.hexdigest()[:16]


def tree_listing(root: Path, skip: str) -> dict:
    """Every file under ``root`` but ``root/skip``, with its size, summed up: what a cached
    tree's marker records. A deleted, added, renamed or truncated file changes it, for one
    stat per file (hashing 30 000 clips on every run would cost seconds); a folder that cannot
    be listed raises :class:`OSError`."""
    h = hashlib.sha256(f"listing {LISTING_VERSION}\n".encode())
    files = size = 0

    def fail(err: OSError) -> None:
        raise err

    for folder, subfolders, names in os.walk(root, onerror=fail):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder, name)
            relpath = path.relative_to(root).as_posix()
            if relpath == skip:
                continue
            length = path.stat().st_size
            h.update(f"{relpath}\0{length}\n".encode())
            files, size = files + 1, size + length
    return {"files": files, "bytes": size, "sha256": h.hexdigest()}


def decoding_digest() -> str:
    """A digest of the source of :data:`DECODING_MODULES`: the code a signals entry was decoded
    by, which the records' ``code_digest`` names too."""
    return source_digest(str(_CODE_DIR), DECODING_MODULES)


def preprocessing_params(fingerprint: str, seed: int, resampler: str = DEFAULT_RESAMPLER
                         ) -> dict:
    """Everything a signals entry is made from: the data, the preprocessing parameters (the
    resampler only when it is not ``sinc``: :func:`~audioxai_bench.data.preprocess.
    resampler_key`) and the code (:func:`decoding_digest`)."""
    return {"version": CACHE_VERSION, "rate": TARGET_RATE, "window": WINDOW, "seed": seed,
            "data": fingerprint, "code": decoding_digest(), **resampler_key(resampler)}


def preprocessing_key(fingerprint: str, seed: int, resampler: str = DEFAULT_RESAMPLER) -> str:
    return _hash_json(preprocessing_params(fingerprint, seed, resampler))[:16]


def signals_folder(key: str) -> Path:
    return cache_root() / "signals" / key


def load_signals(fingerprint: str, seed: int, resampler: str = DEFAULT_RESAMPLER
                 ) -> tuple[np.ndarray, dict] | None:
    """Verified memory-mapped signals and their index, or None when there is no usable entry.

    A damaged entry is reported, set aside and treated as missing, so the caller recomputes it.
    """
    clean_temps()
    params = preprocessing_params(fingerprint, seed, resampler)
    folder = signals_folder(_hash_json(params)[:16])
    if not folder.exists():
        return None
    try:
        return verify_entry(folder, params)
    except DamagedEntry as err:
        set_aside(folder, str(err))
        return None


def verify_entry(folder: Path, params: dict) -> tuple[np.ndarray, dict]:
    """The entry in ``folder`` if it is complete, unchanged and made from ``params``."""
    try:
        index = json.loads((folder / "index.json").read_bytes())
    except FileNotFoundError as err:
        raise DamagedEntry("index.json is missing") from err
    except (OSError, ValueError, RecursionError) as err:
        raise DamagedEntry(f"index.json is unreadable ({type(err).__name__})") from err
    if not isinstance(index, dict) or "index_sha256" not in index:
        raise DamagedEntry("index.json has no checksum")
    body = {k: v for k, v in index.items() if k != "index_sha256"}
    if _hash_json(body) != index["index_sha256"]:
        raise DamagedEntry("index.json does not match its checksum")
    if body.get("made_from") != params:
        raise DamagedEntry("made from other data or parameters than its name says")
    try:
        digest = file_sha256(folder / "signals.npy")
    except OSError as err:
        raise DamagedEntry(f"signals.npy is unreadable ({err.strerror or err})") from err
    if digest != body.get("signals_sha256"):
        raise DamagedEntry("signals.npy does not match its checksum")
    try:
        signals = np.load(folder / "signals.npy", mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DamagedEntry(f"signals.npy is unreadable ({err})") from err
    relpaths = body.get("relpaths")
    if signals.dtype != np.float32 or signals.shape != (len(relpaths or ()), WINDOW):
        raise DamagedEntry(f"signals.npy holds {signals.dtype} {signals.shape}, expected "
                           f"float32 ({len(relpaths or ())}, {WINDOW})")
    for start in range(0, len(signals), _VERIFY_ROWS):
        if not np.isfinite(signals[start:start + _VERIFY_ROWS]).all():
            raise DamagedEntry("signals.npy holds NaN or Inf values")
    return signals, body


def store_signals(fingerprint: str, seed: int, signals: np.ndarray, index: dict,
                  resampler: str = DEFAULT_RESAMPLER) -> Path:
    """Write an entry atomically, with its provenance and checksums; a half-written entry is
    never visible under its key. A failed write raises :class:`~audioxai_bench.atomic.
    WriteError` naming the file."""
    if not np.isfinite(signals).all():
        raise ValueError("refusing to cache signals with NaN or Inf values")
    clean_temps()
    params = preprocessing_params(fingerprint, seed, resampler)
    folder = signals_folder(_hash_json(params)[:16])
    with atomic_dir(folder) as tmp:
        _save_npy(tmp / "signals.npy", np.ascontiguousarray(signals, dtype=np.float32))
        body = {**index, "made_from": params, "signals_sha256": file_sha256(tmp / "signals.npy")}
        (tmp / "index.json").write_text(json.dumps({**body, "index_sha256": _hash_json(body)}))
    return folder


def set_aside(folder: Path, reason: str) -> None:
    """Rename a damaged entry to ``<key>.bad-<time>`` (kept for inspection) and say so."""
    aside = folder.with_name(f"{folder.name}.bad-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        os.rename(folder, aside)
        where = f"set aside as {aside.name}"
    except FileNotFoundError:
        where = "already gone"  # another run set it aside first
    except OSError as err:
        where = f"could not set it aside ({err.strerror or err})"
    _log.warning("%s: damaged cache entry (%s); %s; recomputing", folder, reason, where)


def clean_temps() -> None:
    """Remove temporaries that killed writers left in the signals, synthetic-data and cue-tree
    caches; hidden entries there can only be temporaries, so unowned ones go once a day old."""
    for sub in ("signals", "synth", "cue"):
        for path in clean_stale_temps(cache_root() / sub, unowned=True):
            _log.info("%s: removed a temporary left by an interrupted run", path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    """``np.save``, whose errors ("1600000 requested and 262112 written") get the file name."""
    try:
        np.save(path, array)
    except OSError as err:
        if err.filename:
            raise
        raise OSError(err.errno, str(err), str(path)) from err


def _hash_json(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _path_key(root: Path) -> str:
    return hashlib.sha256(str(Path(root).absolute()).encode()).hexdigest()[:16]
