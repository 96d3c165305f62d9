"""Minimal ctypes wrapper around the eSpeak NG shared library shipped by ``espeakng-loader``.

Synchronous synthesis only: :func:`synth` returns the int16 samples of one utterance at the
library's sample rate (22 050 Hz). The library keeps global state and is not thread-safe; use
it from one thread per process (the dataset generator uses a process pool). It is initialised
lazily, once per process.

The library is pointed at a private *overlay* of its data directory (symbolic links to the
shipped files plus a writable ``voices/!v`` folder), so that callers can add their own voice
variants with :func:`add_variant` and select them as ``"en+<name>"``.

Determinism: eSpeak NG carries some state from one utterance to the next (the pitch-flutter
phase, the echo buffer, the breath-noise generator). :func:`synth` reseeds the noise
generators; variants written by :func:`add_variant` should set ``flutter 0`` and
``roughness 8`` (the generator's variants do), and :func:`set_voice` must be called before
each utterance (it clears the echo buffer). Under those conditions the samples of an
utterance depend only on the voice, the parameters, the text and the seed.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AudioXaiError

__all__ = [
    "PARAMS",
    "EspeakError",
    "EspeakVoice",
    "add_variant",
    "init",
    "library_path",
    "list_variants",
    "read_variant",
    "sample_rate",
    "set_params",
    "set_voice",
    "synth",
]

class EspeakError(AudioXaiError, RuntimeError):
    """eSpeak NG cannot be loaded, initialised or used; the message is one line."""


# espeak_AUDIO_OUTPUT
_AUDIO_OUTPUT_SYNCHRONOUS = 2
# espeak_Initialize options
_INITIALIZE_DONT_EXIT = 0x8000
# espeak_POSITION_TYPE
_POS_CHARACTER = 1
# espeak_Synth flags
_CHARS_UTF8 = 1

# espeak_PARAMETER
PARAMS = {
    "rate": 1,  # words per minute, 80..450 (default 175)
    "volume": 2,  # 0..200 (default 100)
    "pitch": 3,  # base pitch, 0..100 (default 50)
    "range": 4,  # pitch range, 0..100 (default 50; 0 = monotone)
    "wordgap": 7,  # pause between words, units of 10 ms
    "intonation": 9,
}

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_lock = threading.RLock()
_lib: ctypes.CDLL | None = None
_libc = None
_rate: int = 0
_chunks: list[np.ndarray] = []
_callback_ref = None  # keeps the ctypes callback alive
_init_pid: int | None = None
_overlay: Path | None = None  # private copy of espeak-ng-data (links + writable voices/!v)
_overlay_parent: str | None = None


def _paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise EspeakError(
            "eSpeak NG is unavailable: the Python package 'espeakng-loader' is not installed"
        ) from exc
    lib_path = espeakng_loader.get_library_path()
    try:
        data_path = espeakng_loader.get_data_path()
    except RuntimeError as exc:
        raise EspeakError(f"eSpeak NG data for the library {lib_path} is missing: {exc}") from exc
    return lib_path, data_path


def library_path() -> str:
    """Path of the eSpeak NG shared library that this wrapper loads."""
    return _paths()[0]


def _on_audio(wav, numsamples, events):  # noqa: ARG001 - C callback signature
    if wav and numsamples > 0:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
    return 0


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.symlink(src, dst, target_is_directory=src.is_dir())
    except OSError:  # no symlink permission (e.g. Windows without developer mode)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)


def _make_overlay(data_path: str, parent: str | None) -> Path:
    """Build ``<tmp>/espeak-ng-data`` mirroring ``data_path`` with a writable ``voices/!v``."""
    real = Path(data_path)
    tmp = Path(tempfile.mkdtemp(prefix="espeak-", dir=parent))
    if parent is None:
        atexit.register(shutil.rmtree, tmp, True)
    root = tmp / "espeak-ng-data"
    root.mkdir()
    for item in real.iterdir():
        if item.name != "voices":
            _link_or_copy(item, root / item.name)
    (root / "voices").mkdir()
    for item in (real / "voices").iterdir():
        if item.name != "!v":
            _link_or_copy(item, root / "voices" / item.name)
    vdir = root / "voices" / "!v"
    vdir.mkdir()
    for item in (real / "voices" / "!v").iterdir():
        _link_or_copy(item, vdir / item.name)
    return root


def init(overlay_parent: str | None = None) -> None:
    """Initialise the library in this process (idempotent).

    ``overlay_parent`` is the folder in which the private data overlay is created (a fresh
    temporary folder, removed at exit, by default). Call it before any other function when
    the overlay must live somewhere specific, e.g. in a worker process whose temporary
    files the parent removes.
    """
    global _overlay_parent
    if overlay_parent is not None and _init_pid != os.getpid():
        _overlay_parent = overlay_parent
    _library()


def _library() -> ctypes.CDLL:
    """Load and initialise the library once per process; return the handle."""
    global _lib, _libc, _rate, _callback_ref, _init_pid, _overlay
    if _lib is not None and _init_pid == os.getpid():
        return _lib
    with _lock:
        if _lib is not None and _init_pid == os.getpid():
            return _lib
        lib_path, data_path = _paths()
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            msg = str(exc).replace("\n", " ")
            raise EspeakError(f"cannot load the eSpeak NG library {lib_path}: {msg}") from exc
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synchronize.restype = ctypes.c_int
        has_seed = hasattr(lib, "espeak_ng_SetRandSeed")
        if has_seed:
            lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        overlay = _make_overlay(data_path, _overlay_parent)
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(overlay).encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise EspeakError(
                f"cannot initialise the eSpeak NG library {lib_path} (data {data_path})"
            )
        _callback_ref = _SYNTH_CALLBACK(_on_audio)
        lib.espeak_SetSynthCallback(_callback_ref)
        # Older eSpeak builds draw breath noise from libc's rand(): seed that one as well.
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c"))
            _libc.srand.argtypes = [ctypes.c_uint]
        except (OSError, TypeError, AttributeError):
            _libc = None
        _lib, _rate, _init_pid, _overlay = lib, rate, os.getpid(), overlay
        return lib


def sample_rate() -> int:
    """The library's output sample rate in Hz (22 050 for the bundled build)."""
    _library()
    return _rate


def add_variant(name: str, text: str) -> None:
    """Write a voice-variant file ``name`` (selectable as ``"en+<name>"``) into the overlay."""
    if not name or len(name) > 30 or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"bad variant name {name!r}: use up to 30 letters, digits, '_' or '-'")
    _library()
    assert _overlay is not None
    path = _overlay / "voices" / "!v" / name
    if path.is_symlink():
        path.unlink()
    path.write_text(text)


def read_variant(name: str) -> str:
    """Text of a shipped voice-variant file (e.g. ``"f3"``)."""
    _, data_path = _paths()
    return (Path(data_path) / "voices" / "!v" / name).read_text(errors="replace")


def set_voice(name: str) -> None:
    """Select a voice by name, e.g. ``"en"`` or ``"en+f3"`` (language + variant)."""
    lib = _library()
    with _lock:
        err = lib.espeak_SetVoiceByName(name.encode())
    if err != 0:
        raise ValueError(f"eSpeak NG rejected voice {name!r} (error {err})")


def set_params(**values: int) -> None:
    """Set synthesis parameters by name: rate, volume, pitch, range, wordgap, intonation."""
    lib = _library()
    for key, value in values.items():
        if key not in PARAMS:
            raise KeyError(f"unknown eSpeak parameter {key!r}; known: {sorted(PARAMS)}")
        with _lock:
            err = lib.espeak_SetParameter(PARAMS[key], int(value), 0)
        if err != 0:
            raise ValueError(f"eSpeak NG rejected {key}={value} (error {err})")


def synth(text: str, seed: int | None = 0) -> np.ndarray:
    """Synthesise ``text`` with the current voice and parameters; return int16 samples.

    ``seed`` seeds eSpeak's noise generators (breath / frication noise) so the result does
    not depend on what was synthesised before in this process; ``None`` leaves them alone.
    """
    lib = _library()
    with _lock:
        if seed is not None:
            s = int(seed) & 0x7FFFFFFF
            if hasattr(lib, "espeak_ng_SetRandSeed"):
                lib.espeak_ng_SetRandSeed(s)
            if _libc is not None:
                _libc.srand(s)
        _chunks.clear()
        data = text.encode("utf-8") + b"\0"
        err = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != 0:
            raise EspeakError(f"eSpeak NG synthesis failed for {text!r} (error {err})")
        lib.espeak_Synchronize()
        out = np.concatenate(_chunks) if _chunks else np.zeros(0, dtype=np.int16)
        _chunks.clear()
    return out.astype(np.int16, copy=False)


@dataclass(frozen=True)
class EspeakVoice:
    """A voice-variant file from ``<data>/voices/!v`` and its declared gender."""

    name: str
    gender: str | None  # "male", "female" or None when the file does not say


def list_variants() -> list[EspeakVoice]:
    """Voice variants shipped with the library (``en+<name>`` selects one), sorted by name."""
    _, data_path = _paths()
    vdir = Path(data_path) / "voices" / "!v"
    out = []
    for f in sorted(vdir.iterdir()):
        if not f.is_file():
            continue
        gender = None
        for line in f.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].lower() == "gender":
                gender = parts[1].lower()
                break
        if gender is None and f.name[:1] in "fm" and f.name[1:].isdigit():
            gender = "female" if f.name[0] == "f" else "male"
        out.append(EspeakVoice(f.name, gender))
    return out
