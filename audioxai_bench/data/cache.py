"""On-disk cache of decoded, resampled and padded signals, keyed by the data and parameters.

Both model inputs derive cheaply from the padded 8 kHz signal, so that signal is what is
cached (30 000 clips × 8 000 float32 = 960 MB): a second run decodes nothing. The key covers
every clip's path, size and modification time, the meta file, and the preprocessing
parameters, so a changed dataset or seed never reads a stale entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .check import TARGET_RATE, WINDOW
from .layout import META_FILE, Clip

CACHE_VERSION = 1


def cache_root() -> Path:
    """``$AUDIOXAI_BENCH_CACHE`` or ``~/.cache/audioxai-bench``."""
    env = os.environ.get("AUDIOXAI_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "audioxai-bench"


def data_fingerprint(root: Path, clips: list[Clip]) -> str:
    """Identity of a dataset's content as far as cheap file metadata can tell."""
    h = hashlib.sha256()
    for clip in sorted(clips, key=lambda c: c.relpath):
        st = clip.path.stat()
        h.update(f"{clip.relpath}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    meta = root / META_FILE
    if meta.exists():
        h.update(meta.read_bytes())
    return h.hexdigest()[:16]


def preprocessing_key(fingerprint: str, seed: int) -> str:
    params = {"version": CACHE_VERSION, "rate": TARGET_RATE, "window": WINDOW, "seed": seed,
              "data": fingerprint}
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def load_signals(key: str) -> tuple[np.ndarray, dict] | None:
    """Memory-mapped signals and their index, or None when the entry does not exist."""
    folder = cache_root() / "signals" / key
    if not (folder / "index.json").exists():
        return None
    index = json.loads((folder / "index.json").read_text())
    return np.load(folder / "signals.npy", mmap_mode="r"), index


def store_signals(key: str, signals: np.ndarray, index: dict) -> None:
    """Write an entry atomically: a half-written entry is never visible under its key."""
    parent = cache_root() / "signals"
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{key}."))
    try:
        np.save(tmp / "signals.npy", signals)
        (tmp / "index.json").write_text(json.dumps(index))
        os.replace(tmp, parent / key)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (parent / key / "index.json").exists():  # lost a race: the other copy is fine
            raise
