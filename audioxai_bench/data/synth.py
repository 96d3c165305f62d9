"""Offline synthetic stand-in for AudioMNIST, spoken by eSpeak NG.

:func:`synthesize_dataset` writes the AudioMNIST layout (``out/NN/<digit>_<NN>_<rep>.wav``,
48 kHz mono 16-bit PCM, plus ``out/audioMNIST_meta.txt``) and ``out/synth.json``, the settings
it was made with.

Voice design. Every speaker is an eSpeak NG voice variant (female ids get one of the female
variants, male ids one of the male variants) rewritten into a private variant file with its
own

* base pitch (median F0 about N(202, 24) Hz for women, N(120, 17) Hz for men, clipped to
  150..270 and 85..175 Hz) and intonation range,
* vocal-tract scale (all formant frequencies of the variant multiplied by one factor, plus a
  small per-formant jitter) and harmonic tone balance,
* speaking rate (125..200 words per minute),
* "microphone and room": a fixed spectral tilt and one peaking resonance (a small IIR
  filter), a recording gain and the colour of the background noise.

Repetitions vary: pitch (about 3 % s.d.), pitch range, rate (8 % s.d.), sentence
intonation, gain, low background noise (SNR 30..40 dB) and the leading/trailing silence.
Every random draw comes from a NumPy generator seeded by ``(seed, speaker)`` (voice) or
``(seed, speaker, digit, rep)`` (repetition), and the eSpeak noise generators are reseeded
per clip, so the bytes of a file do not depend on the order of generation or the number of
worker processes.
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import atomic_dir
from ..errors import AudioXaiError
from .digests import source_digest
from .layout import existing_tree

__all__ = [
    "DIGIT_WORDS",
    "MAX_SECONDS",
    "MIN_SECONDS",
    "SAMPLE_RATE",
    "SETTINGS_FILE",
    "SynthError",
    "SynthSummary",
    "VoiceSpec",
    "estimate_f0",
    "make_voice",
    "register_voice",
    "render_clip",
    "synth_settings",
    "synthesize_dataset",
]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

SAMPLE_RATE = 48_000
ESPEAK_RATE = 22_050
_UP, _DOWN = 320, 147  # 22 050 Hz * 320 / 147 = 48 000 Hz
MIN_SECONDS = 0.3
MAX_SECONDS = 1.0
# Clips are kept a little inside [MIN_SECONDS, MAX_SECONDS] (at 22 050 Hz, before resampling).
_MIN_SRC = int(math.ceil(0.31 * ESPEAK_RATE))
_MAX_SRC = int(0.985 * ESPEAK_RATE)
_MAX_SPEECH_SRC = int(0.93 * ESPEAK_RATE)

# Voice variants shipped with eSpeak NG that sound like plain adult voices.
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5", "linda", "belinda")
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8")
# Lines of a shipped variant that the speaker's own values replace. flutter and roughness are
# disabled because eSpeak keeps their phase between utterances (it would break determinism).
_REPLACED_KEYS = {
    "name", "gender", "language", "pitch", "flutter", "roughness", "echo", "tone", "formant",
}
_SPEAKER_SALT = 0x5E1CE  # separates the voice stream from the repetition streams
_META_NAME = "audioMNIST_meta.txt"
SETTINGS_FILE = "synth.json"  # how the tree was made (:func:`synth_settings`)
#: The modules whose code decides a tree's bytes: the synthesizer and its eSpeak NG binding
GENERATOR_MODULES = ("espeak.py", "synth.py")
_CODE_DIR = Path(__file__).resolve().parent


class SynthError(AudioXaiError, ValueError):
    """Bad arguments to :func:`synthesize_dataset`."""


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`synthesize_dataset` wrote.

    ``seconds`` is the wall-clock time the generation took; ``audio_seconds`` the total
    duration of the written clips.
    """

    n_clips: int
    n_speakers: int
    seconds: float
    out: Path
    audio_seconds: float = 0.0
    written: bool = True  # False: ``out`` already held this tree and nothing was written


@dataclass(frozen=True)
class VoiceSpec:
    """One synthetic speaker; everything is drawn from ``(seed, speaker)``."""

    speaker: int
    gender: str  # "female" / "male"
    variant: str  # shipped eSpeak variant the voice is built on
    f0: float  # target median F0 in Hz
    pitch_lo: int  # eSpeak "pitch" line, Hz
    pitch_hi: int
    range: int  # eSpeak range parameter (0..100)
    formant_scale: float
    formants: tuple[tuple[int, int, int, int], ...]  # (index, freq %, height %, width %)
    tone: tuple[int, ...]  # eSpeak "tone" line: freq/amp pairs
    rate: int  # words per minute
    tilt: float  # first-order tilt coefficient (> 0: brighter, < 0: darker)
    eq_freq: float  # peaking-filter centre (Hz), gain (dB) and Q
    eq_gain_db: float
    eq_q: float
    gain_db: float  # peak level of the speech (dBFS)
    noise_pole: float  # one-pole low-pass applied to the background noise (0 = white)
    age: int
    date: str  # fake recording date, in the original "yy-mm-dd-hh-mm-ss" format

    @property
    def variant_name(self) -> str:
        """Name of the generated eSpeak variant file (selected as ``en+<name>``)."""
        return f"axb{self.speaker:02d}_{self.variant}"

    def variant_text(self) -> str:
        base = _shipped_variant_body(self.variant)
        lines = ["language variant", f"name {self.variant_name}", f"gender {self.gender}"]
        lines += base
        lines += [f"pitch {self.pitch_lo} {self.pitch_hi}", "flutter 0", "roughness 8"]
        lines += [f"formant {i} {f} {h} {w}" for i, f, h, w in self.formants]
        lines.append("tone " + " ".join(str(v) for v in self.tone))
        return "\n".join(lines) + "\n"

    def describe(self) -> str:
        return (
            f"synthetic: eSpeak NG en+{self.variant}, median F0 {self.f0:.0f} Hz, formants "
            f"x{self.formant_scale:.3f}, {self.rate} wpm"
        )


_variant_cache: dict[str, list[str]] = {}


def _shipped_variant_body(name: str) -> list[str]:
    """The lines of a shipped variant that are kept (voicing, breath, stress, ...)."""
    if name not in _variant_cache:
        from . import espeak

        kept = []
        for raw in espeak.read_variant(name).splitlines():
            line = raw.split("//", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.split()[0].lower() in _REPLACED_KEYS:
                continue
            kept.append(" ".join(line.split()))
        _variant_cache[name] = kept
    return _variant_cache[name]


def _shipped_formants(name: str) -> dict[int, tuple[int, int, int]]:
    from . import espeak

    out = {}
    for raw in espeak.read_variant(name).splitlines():
        parts = raw.split("//", 1)[0].split()
        if len(parts) >= 3 and parts[0].lower() == "formant":
            vals = [int(p) for p in parts[1:5]] + [100, 100]
            out[vals[0]] = (vals[1], vals[2], vals[3])
    return out


def make_voice(speaker: int, female: bool, seed: int = 0) -> VoiceSpec:
    """Draw the voice of ``speaker`` from ``(seed, speaker)``."""
    rng = np.random.default_rng([seed, speaker, _SPEAKER_SALT])
    pool = FEMALE_VARIANTS if female else MALE_VARIANTS
    variant = pool[int(rng.integers(len(pool)))]
    if female:
        f0 = float(np.clip(rng.normal(202.0, 24.0), 150.0, 270.0))
        fscale = float(rng.uniform(0.96, 1.06))
    else:
        f0 = float(np.clip(rng.normal(120.0, 17.0), 85.0, 175.0))
        fscale = float(rng.uniform(0.93, 1.05))
    spread = float(rng.uniform(1.25, 1.6))  # top / bottom of the intonation range
    # the median F0 of a digit lies about 28 % of the way up the variant's pitch range
    lo = f0 / (1.0 + 0.28 * (spread - 1.0))
    pitch_lo, pitch_hi = int(round(lo)), int(round(lo * spread))
    shipped = _shipped_formants(variant)
    formants = []
    for k in range(9):
        f, h, w = shipped.get(k, (100, 100, 100))
        jitter = float(rng.normal(1.0, 0.02)) if k <= 5 else 1.0
        formants.append((k, int(round(f * fscale * jitter)), h, w))
    # harmonic balance: eSpeak's default tone line (600 170 1200 135 2000 110 3000 110), tilted
    slope = float(rng.uniform(-0.35, 0.25))
    tone = []
    for freq, amp in ((600, 170), (1200, 135), (2000, 110), (3000, 110)):
        tone += [freq, int(np.clip(round(amp * (1 + slope * math.log2(freq / 1000))), 20, 255))]
    return VoiceSpec(
        speaker=speaker,
        gender="female" if female else "male",
        variant=variant,
        f0=f0,
        pitch_lo=pitch_lo,
        pitch_hi=pitch_hi,
        range=int(rng.integers(35, 71)),
        formant_scale=fscale,
        formants=tuple(formants),
        tone=tuple(tone),
        rate=int(rng.integers(125, 201)),
        tilt=float(rng.uniform(-0.5, 0.4)),
        eq_freq=float(np.exp(rng.uniform(np.log(500.0), np.log(4000.0)))),
        eq_gain_db=float(rng.uniform(-6.0, 6.0)),
        eq_q=float(rng.uniform(0.7, 2.0)),
        gain_db=float(rng.uniform(-14.0, -3.0)),
        noise_pole=float(rng.uniform(0.0, 0.9)),
        age=int(rng.integers(20, 46)),
        date=(
            f"17-{int(rng.integers(6, 10)):02d}-{int(rng.integers(1, 29)):02d}-"
            f"{int(rng.integers(9, 19)):02d}-{int(rng.integers(0, 60)):02d}-"
            f"{int(rng.integers(0, 60)):02d}"
        ),
    )


# ---------------------------------------------------------------------------- signal helpers


def _timbre_filter(voice: VoiceSpec) -> tuple[np.ndarray, np.ndarray]:
    """The speaker's fixed "microphone": a first-order tilt cascaded with a peaking biquad."""
    # tilt: t > 0 boosts highs (x + t * (x - x[n-1])), t < 0 is a one-pole low-pass; DC gain 1
    t = voice.tilt
    b1, a1 = np.array([1.0 + max(t, 0.0), -max(t, 0.0)]), np.array([1.0, -max(-t, 0.0)])
    b1 = b1 * (1.0 - max(-t, 0.0))
    # RBJ peaking EQ
    a_lin = 10.0 ** (voice.eq_gain_db / 40.0)
    w0 = 2.0 * math.pi * voice.eq_freq / ESPEAK_RATE
    alpha = math.sin(w0) / (2.0 * voice.eq_q)
    b2 = np.array([1 + alpha * a_lin, -2 * math.cos(w0), 1 - alpha * a_lin])
    a2 = np.array([1 + alpha / a_lin, -2 * math.cos(w0), 1 - alpha / a_lin])
    b = np.convolve(b1, b2 / a2[0])
    a = np.convolve(a1, a2 / a2[0])
    return b, a


_resample_filter: np.ndarray | None = None


def _resample(x: np.ndarray) -> np.ndarray:
    """22 050 Hz -> 48 000 Hz (polyphase, Kaiser-windowed sinc designed once per process)."""
    global _resample_filter
    from scipy import signal

    if _resample_filter is None:
        n = 2 * 10 * _UP + 1
        _resample_filter = signal.firwin(n, 1.0 / _UP, window=("kaiser", 5.0))
    return signal.resample_poly(x, _UP, _DOWN, window=_resample_filter)


def _speech_bounds(x: np.ndarray, floor_db: float = -45.0) -> tuple[int, int]:
    """First and one-past-last sample of the part louder than ``floor_db`` re the peak."""
    hop = 110  # 5 ms
    n = len(x) // hop
    if n == 0:
        return 0, len(x)
    env = np.abs(x[: n * hop]).reshape(n, hop).max(axis=1)
    active = np.flatnonzero(env > env.max() * 10.0 ** (floor_db / 20.0))
    if len(active) == 0:
        return 0, len(x)
    start = max(int(active[0]) * hop - 2 * hop, 0)
    stop = min((int(active[-1]) + 1) * hop + 2 * hop, len(x))
    return start, stop


def render_clip(voice: VoiceSpec, digit: int, rep: int, seed: int = 0) -> np.ndarray:
    """One repetition of ``digit`` by ``voice``: int16 samples at 48 kHz (0.3..1.0 s).

    The variant file of ``voice`` must have been registered in this process with
    :func:`register_voice` (done by the generator).
    """
    from scipy import signal

    from . import espeak

    rng = np.random.default_rng([seed, voice.speaker, digit, rep])
    pitch = int(np.clip(round(50 + rng.normal(0.0, 2.5)), 38, 62))
    prange = int(np.clip(round(voice.range + rng.normal(0.0, 6.0)), 15, 95))
    rate = float(voice.rate * math.exp(rng.normal(0.0, 0.08)))
    text = DIGIT_WORDS[digit] + ("," if rng.random() < 0.15 else ".")
    espeak_seed = int(rng.integers(1, 2**31 - 1))
    lead_s = float(rng.uniform(0.01, 0.12))
    trail_s = float(rng.uniform(0.01, 0.14))
    gain_db = min(voice.gain_db + float(rng.normal(0.0, 1.5)), -1.0)
    snr_db = float(rng.uniform(30.0, 40.0))
    noise = rng.standard_normal(_MAX_SRC + 64)

    for _ in range(4):
        espeak.set_voice("en+" + voice.variant_name)  # also clears eSpeak's echo buffer
        espeak.set_params(rate=int(round(min(rate, 400.0))), pitch=pitch, range=prange, volume=75)
        raw = espeak.synth(text, seed=espeak_seed).astype(np.float64) / 32768.0
        start, stop = _speech_bounds(raw)
        if stop - start <= _MAX_SPEECH_SRC:
            break
        rate *= (stop - start) / (0.97 * _MAX_SPEECH_SRC)  # too long: speak faster
    speech = raw[start:stop][:_MAX_SPEECH_SRC]
    b, a = _timbre_filter(voice)
    speech = signal.lfilter(b, a, speech)
    fade = min(64, len(speech) // 4)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        speech[:fade] *= ramp
        speech[-fade:] *= ramp[::-1]
    peak = float(np.abs(speech).max()) or 1.0
    speech *= 10.0 ** (gain_db / 20.0) / peak

    lead = int(lead_s * ESPEAK_RATE)
    trail = int(trail_s * ESPEAK_RATE)
    n_speech = len(speech)
    excess = lead + n_speech + trail - _MAX_SRC
    if excess > 0:  # shorten the silences, trailing first
        cut = min(excess, max(trail - 110, 0))
        trail -= cut
        lead = max(lead - (excess - cut), 0)
    short = _MIN_SRC - (lead + n_speech + trail)
    if short > 0:
        trail += short
    total = lead + n_speech + trail
    x = np.zeros(total)
    x[lead : lead + n_speech] = speech

    # background noise, coloured by the speaker's "room", at the drawn SNR re the speech
    nz = noise[: total + 64]
    if voice.noise_pole > 0:
        nz = signal.lfilter([1.0 - voice.noise_pole], [1.0, -voice.noise_pole], nz)
    nz = nz[64:]
    speech_rms = float(np.sqrt(np.mean(speech**2)))
    nz *= speech_rms * 10.0 ** (-snr_db / 20.0) / (float(np.sqrt(np.mean(nz**2))) or 1.0)
    x += nz

    y = _resample(x)
    peak = float(np.abs(y).max())
    if peak > 0.98:
        y *= 0.98 / peak
    return np.round(y * 32767.0).astype(np.int16)


# ---------------------------------------------------------------------------- pitch estimate


def estimate_f0(x: np.ndarray, sr: int, fmin: float = 60.0, fmax: float = 450.0) -> float:
    """Median F0 (Hz) of the voiced frames of ``x`` by normalised autocorrelation.

    40 ms Hann frames every 10 ms; frames within 25 dB of the loudest whose autocorrelation
    peak exceeds 0.5 count as voiced; octave errors are reduced by preferring a lag of
    1/2 or 1/3 of the best one when it is nearly as strong. NaN when nothing is voiced.
    """
    x = np.asarray(x, dtype=np.float64)
    n, hop = int(0.04 * sr), int(0.01 * sr)
    if len(x) < n:
        return float("nan")
    starts = np.arange(0, len(x) - n + 1, hop)
    frames = x[starts[:, None] + np.arange(n)]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = (frames**2).sum(axis=1)
    frames = frames[energy > energy.max() * 10.0 ** (-2.5)] * np.hanning(n)
    nfft = 1 << (2 * n - 1).bit_length()
    ac = np.fft.irfft(np.abs(np.fft.rfft(frames, nfft)) ** 2, nfft)[:, :n]
    wac = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(n), nfft)) ** 2, nfft)[:n]
    lo, hi = int(sr / fmax), min(int(sr / fmin), n // 2)
    ac = ac[:, : hi + 1] / np.maximum(ac[:, :1], 1e-12) / (wac[: hi + 1] / wac[0])
    f0s = []
    for row in ac:
        k = lo + int(np.argmax(row[lo : hi + 1]))
        best = row[k]
        if best < 0.5:
            continue
        for d in (3, 2):
            a, b = int(k / d * 0.95), int(math.ceil(k / d * 1.05)) + 1
            if a >= lo:
                k2 = a + int(np.argmax(row[a:b]))
                if row[k2] > 0.85 * best:
                    k = k2
                    break
        f0s.append(sr / k)
    return float(np.median(f0s)) if f0s else float("nan")


# ---------------------------------------------------------------------------- the generator


def register_voice(voice: VoiceSpec) -> None:
    """Write the eSpeak variant file of ``voice`` in this process (needed by render_clip)."""
    from . import espeak

    espeak.add_variant(voice.variant_name, voice.variant_text())


def _wav_bytes(samples: np.ndarray) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _clip_path(out: Path, speaker: int, digit: int, rep: int) -> Path:
    return out / f"{speaker:02d}" / f"{digit}_{speaker:02d}_{rep}.wav"


def _render_chunk(out: str, voice: VoiceSpec, digit: int, reps: int, seed: int) -> tuple[int, int]:
    """Render and write every repetition of one (speaker, digit); return (clips, samples)."""
    register_voice(voice)
    n_samples = 0
    for rep in range(reps):
        clip = render_clip(voice, digit, rep, seed)
        _write_atomic(_clip_path(Path(out), voice.speaker, digit, rep), _wav_bytes(clip))
        n_samples += len(clip)
    return reps, n_samples


def _worker_init(tmpdir: str) -> None:
    from . import espeak

    espeak.init(overlay_parent=tmpdir)


def _meta_entry(voice: VoiceSpec) -> dict:
    return {
        "accent": "synthetic (eSpeak NG English)",
        "age": voice.age,
        "gender": voice.gender,
        "native speaker": "no",
        "origin": voice.describe(),
        "recordingdate": voice.date,
        "recordingroom": "synthetic",
    }


def synthesize_dataset(
    out: Path,
    speaker_ids: Sequence[int],
    female_ids: Collection[int],
    reps: int = 50,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SynthSummary:
    """Write a synthetic AudioMNIST tree into ``out``; see the module docstring.

    ``speaker_ids`` are 1..99 (written as two digits); those in ``female_ids`` get female
    voices. ``workers=None`` uses ``os.cpu_count()`` processes; ``workers=1`` runs in this
    process. The files are identical for any number of workers. The tree is written aside and
    renamed into place when complete, with :data:`SETTINGS_FILE` saying how it was made:
    ``out`` must be missing or empty, or hold the tree of these very settings (then nothing is
    written); anything else there is refused. ``progress(done, total)`` is called in this
    process as clips complete (per speaker and digit).

    Worker processes are started with the ``spawn`` method (safe after torch or other
    threaded libraries were imported), so a script that calls this with ``workers > 1`` needs
    the usual ``if __name__ == "__main__":`` guard.
    """
    t0 = time.perf_counter()
    out = Path(out)
    ids = [int(s) for s in speaker_ids]
    if not ids:
        raise SynthError("no speakers requested")
    if len(set(ids)) != len(ids):
        raise SynthError(f"duplicate speaker ids in {ids}")
    bad = [s for s in ids if not 1 <= s <= 99]
    if bad:
        raise SynthError(f"speaker ids must be 1..99 (two digits), got {bad}")
    if int(reps) < 1:
        raise SynthError(f"reps must be >= 1, got {reps}")
    if int(seed) < 0:
        raise SynthError(f"seed must be >= 0, got {seed}")
    reps, seed = int(reps), int(seed)
    females = {int(s) for s in female_ids}
    made_from = synth_settings(ids, females, reps, seed)
    if existing_tree(out, SETTINGS_FILE, made_from):
        return SynthSummary(0, len(ids), time.perf_counter() - t0, out, written=False)
    with atomic_dir(out) as tmp:
        n_clips, n_samples = _synthesize(tmp, ids, females, reps, seed, workers, progress)
        (tmp / SETTINGS_FILE).write_text(json.dumps(made_from) + "\n")
    return SynthSummary(
        n_clips=n_clips,
        n_speakers=len(ids),
        seconds=time.perf_counter() - t0,
        out=out,
        audio_seconds=n_samples / SAMPLE_RATE,
    )


def synth_settings(speaker_ids: Sequence[int], female_ids: Collection[int], reps: int,
                   seed: int) -> dict:
    """What decides a synthetic tree's bytes, as :data:`SETTINGS_FILE` records it: the
    settings, and the generator's code (:func:`generator_digest`: the package version stays
    put while the code under it changes)."""
    ids = sorted(int(s) for s in speaker_ids)
    return {"format": 1, "version": __version__, "code": generator_digest(), "speakers": ids,
            "female": sorted(set(ids) & {int(s) for s in female_ids}), "reps": int(reps),
            "seed": int(seed)}


def generator_digest() -> str:
    """A digest of the source of :data:`GENERATOR_MODULES` (the eSpeak NG library itself is
    not covered)."""
    return source_digest(str(_CODE_DIR), GENERATOR_MODULES)


def _synthesize(out: Path, ids: list[int], females: set[int], reps: int, seed: int,
                workers: int | None, progress: Callable[[int, int], None] | None
                ) -> tuple[int, int]:
    """Write the tree into the empty folder ``out``; (clips, samples written)."""
    voices = [make_voice(s, s in females, seed) for s in ids]
    for v in voices:
        (out / f"{v.speaker:02d}").mkdir()
    meta = {f"{v.speaker:02d}": _meta_entry(v) for v in sorted(voices, key=lambda v: v.speaker)}
    _write_atomic(out / _META_NAME, (json.dumps(meta, indent=4) + "\n").encode())

    tasks = [(v, d) for v in voices for d in range(10)]
    total = len(tasks) * reps
    done = 0
    n_samples = 0
    if progress is not None:
        progress(0, total)
    n_workers = (os.cpu_count() or 1) if workers is None else int(workers)
    n_workers = max(1, min(n_workers, len(tasks)))

    with tempfile.TemporaryDirectory(prefix="audioxai-synth-") as tmpdir:
        if n_workers == 1:
            # in this process: keep eSpeak's default overlay, which outlives ``tmpdir``
            from . import espeak

            espeak.init()
            for v, d in tasks:
                n, s = _render_chunk(str(out), v, d, reps, seed)
                done, n_samples = done + n, n_samples + s
                if progress is not None:
                    progress(done, total)
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                n_workers, mp_context=ctx, initializer=_worker_init, initargs=(tmpdir,)
            ) as pool:
                pending = {pool.submit(_render_chunk, str(out), v, d, reps, seed) for v, d in tasks}
                try:
                    while pending:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in finished:
                            n, s = fut.result()
                            done, n_samples = done + n, n_samples + s
                            if progress is not None:
                                progress(done, total)
                except BaseException:
                    for fut in pending:  # fail fast: do not render the rest
                        fut.cancel()
                    raise
    return done, n_samples
