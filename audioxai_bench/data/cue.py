"""The planted-cue task: a tone burst whose frequency is the label, at a known place.

:func:`plant_cues` copies an AudioMNIST tree and mixes into every clip one short narrow-band
tone burst (:data:`CUE_SECONDS` long, raised-cosine ramps of :data:`RAMP_SECONDS`) whose
frequency is one of :data:`CUE_FREQS_HZ`; the index of that frequency is the clip's ``cue``
label. The burst starts at a uniformly random sample of the clip (so it mostly overlaps the
speech), with its peak :data:`LEVEL_DB` below the clip's peak and a random phase. The level
is what the CPU-sized waveform model needs to learn the cue in 800 steps (AudioNet at width
0.125, split 0: chance at 18-24 dB below the peak in 400 steps, 96.9 % test accuracy at 4-10
dB); on the synthetic speakers the burst's energy is then a median 2.3 dB below the speech's
(5-95 %: from 6.8 dB below to 1.5 dB above), in a tenth of a second and one frequency.

The label is ``(digit + speaker + rep) % 4``: with a multiple of 4 repetitions every (speaker,
digit) carries each class equally often, so digit, speaker and sex are exactly balanced per
class and only the burst tells the classes apart.

Four classes: chance is 25 %, so "accuracy falls to chance without the cue" is visible on a
few hundred test clips, and exact balance needs only 4 repetitions per digit (10 classes would
need 10, more than a CPU run affords). The frequencies, 400-500 Hz (23+ spectrogram bins)
apart, stay below 2 kHz: AudioNet's first max-pool halves the rate to 4 kHz, and with 2.1 and
3.1 kHz among them it confused exactly those (88.5 % test accuracy, against 94.6 % with these
frequencies, both 6-12 dB below the peak).

Every clip ``NN/<digit>_<NN>_<rep>.wav`` gets a sidecar ``NN/<digit>_<NN>_<rep>.cue.json``
holding the burst in the clip file's own samples (start, stop, rate, frames, amplitude on the
int16 scale, phase); :mod:`audioxai_bench.data.ground_truth` maps it through the suite's
preprocessing to the mask in the model input. A root file ``cues.json`` marks a cue tree.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..atomic import atomic_dir, atomic_write
from ..errors import AudioXaiError, ClipError
from ..progress import ProgressFn
from .clipfile import DEFAULT_RESAMPLER, TARGET_RATE, read_clip, resampler_key
from .digests import source_digest
from .layout import META_FILE, Clip, Problem, existing_tree, scan_dataset

CUE_FREQS_HZ = (500.0, 900.0, 1400.0, 1900.0)
N_CUE_CLASSES = len(CUE_FREQS_HZ)
CUE_SECONDS = 0.1
RAMP_SECONDS = 0.01
LEVEL_DB = (-10.0, -4.0)  # burst peak re the clip's peak, drawn uniformly
#: How far above chance (1/4) a (speaker, digit)'s most frequent class may be: the cue control's
#: ``CHANCE_MARGIN`` (run/control.py; a test keeps them equal). A multiple of 4 repetitions
#: balances the classes exactly; from 14 up any number stays within it (AudioMNIST's 50: 26 %).
SPEECH_MARGIN = 0.05
MARKER_FILE = "cues.json"
SIDECAR_SUFFIX = ".cue.json"
FORMAT = 1
#: The modules whose code decides a cue tree's bytes: the planter and the clip reader it reads
#: the source's samples (and, by the resampler, its usable clips) with
PLANTER_MODULES = ("clipfile.py", "cue.py")
_CODE_DIR = Path(__file__).resolve().parent
_HEADROOM = 0.98 * 32_767  # as the synthesizer: the mix is scaled down to stay below this
_SALT = 0xC0E


def cue_settings() -> dict[str, object]:
    """What decides the planted bursts besides the seed (the key of a cached cue tree, and its
    marker): the settings and the planter's code (:data:`PLANTER_MODULES`: the package
    version stays put while the code under it changes)."""
    return {"format": FORMAT, "classes": list(CUE_FREQS_HZ), "seconds": CUE_SECONDS,
            "ramp": RAMP_SECONDS, "level_db": list(LEVEL_DB),
            "code": source_digest(str(_CODE_DIR), PLANTER_MODULES)}


@dataclass(frozen=True)
class Cue:
    """One planted burst, in the samples of its clip file."""

    label: int
    freq_hz: float
    start: int  # first sample of the burst
    stop: int  # one past its last sample
    rate: int  # the clip file's sample rate
    frames: int  # samples in the clip file
    amplitude: float  # peak, on the int16 scale
    phase: float  # radians, at ``start``

    def as_json(self) -> dict:
        return {"format": FORMAT, **asdict(self)}


def cue_label(speaker: int, digit: int, rep: int) -> int:
    """The class of a clip: cycles through the classes over repetitions, shifted per speaker
    and digit, so every (speaker, digit) sees each class once per 4 repetitions."""
    return (digit + speaker + rep) % N_CUE_CLASSES


def burst_wave(times: np.ndarray, seconds: np.ndarray | float, amplitude: np.ndarray | float,
               freq_hz: np.ndarray | float, phase: np.ndarray | float) -> np.ndarray:
    """Bursts at ``times`` (seconds after their start; zero outside them), int16 scale; the
    arguments broadcast, so one call makes a batch."""
    ramp = np.minimum(RAMP_SECONDS, np.asarray(seconds) / 2)
    edge = np.minimum(times, seconds - times)
    envelope = np.where(edge < ramp, 0.5 - 0.5 * np.cos(np.pi * np.clip(edge, 0, ramp) / ramp),
                        1.0)
    wave = amplitude * envelope * np.sin(2 * np.pi * freq_hz * times + phase)
    return np.where((times >= 0) & (times < seconds), wave, 0.0)


def draw_cue(clip: Clip, frames: int, rate: int, peak: float, seed: int) -> Cue:
    """The burst for ``clip`` (``frames`` samples at ``rate``, peak ``peak``), seeded by
    ``(seed, speaker, digit, rep)`` so it does not depend on the order of planting."""
    rng = np.random.default_rng([seed, clip.speaker, clip.digit, clip.rep, _SALT])
    label = cue_label(clip.speaker, clip.digit, clip.rep)
    length = min(int(round(CUE_SECONDS * rate)), frames)
    # on the 8 kHz grid where the rate allows, so the burst covers whole model-input samples
    step = rate // TARGET_RATE if rate % TARGET_RATE == 0 else 1
    start = step * int(rng.integers(0, (frames - length) // step + 1))
    level = float(rng.uniform(*LEVEL_DB))
    return Cue(label=label, freq_hz=CUE_FREQS_HZ[label], start=start, stop=start + length,
               rate=rate, frames=frames, amplitude=peak * 10.0 ** (level / 20.0),
               phase=float(rng.uniform(0.0, 2.0 * np.pi)))


def plant(samples: np.ndarray, cue: Cue) -> tuple[np.ndarray, Cue]:
    """``samples`` (int16 scale) with the burst added, rounded to int16; the mix is scaled down
    when it would clip, and the returned cue carries the amplitude actually written."""
    times = (np.arange(cue.start, cue.stop) - cue.start) / cue.rate
    mixed = samples.astype(np.float64)
    mixed[cue.start:cue.stop] += burst_wave(times, (cue.stop - cue.start) / cue.rate,
                                            cue.amplitude, cue.freq_hz, cue.phase)
    peak = float(np.abs(mixed).max())
    if peak > _HEADROOM:
        scale = _HEADROOM / peak
        mixed *= scale
        cue = Cue(**{**asdict(cue), "amplitude": cue.amplitude * scale})
    return np.round(mixed).astype(np.int16), cue


@dataclass(frozen=True)
class CueSummary:
    """What :func:`plant_cues` wrote."""

    n_clips: int
    out: Path
    written: bool = True  # False: ``out`` already held this tree and nothing was written


def plant_cues(source: Path | str, out: Path | str, seed: int = 0,
               progress: ProgressFn | None = None,
               resampler: str = DEFAULT_RESAMPLER) -> CueSummary:
    """Write a cue tree into ``out`` (missing or empty): every clip of ``source`` with its burst
    and sidecar, and ``source``'s meta file. Clips that cannot be used are left out (``data
    check`` lists them), among them those at a rate that ``resampler``, the one of the runs
    that will read the tree, cannot take: the planter writes each clip at its own rate, so the
    resampler decides only which clips the tree holds, and the tree's marker names it unless it
    is the default (:func:`~.clipfile.resampler_key`). The folder appears complete or not at
    all. When ``out`` already holds the tree of this source, seed and resampler nothing is
    written; any other non-empty ``out`` is refused. So is a ``source`` that already carries
    cues (its ``cues.json`` or a clip's sidecar): its clips would hold two bursts and their
    sidecars describe only the second."""
    source, out = Path(source), Path(out)
    marker = {**cue_settings(), "seed": seed, "source": str(source), **resampler_key(resampler)}
    _refuse_cues(source / MARKER_FILE, source)
    index = scan_dataset(source)
    clips = sorted(index.clips, key=lambda c: c.relpath)
    if not clips:
        raise AudioXaiError(f"{source}: no clips to plant cues into")
    for clip in clips:
        _refuse_cues(sidecar_path(clip.path), source)
    refuse_label_leak(source, clips)
    if existing_tree(out, MARKER_FILE, marker):
        return CueSummary(0, out, written=False)
    written = 0
    with atomic_dir(out) as tmp:
        if (source / META_FILE).is_file():
            shutil.copyfile(source / META_FILE, tmp / META_FILE)
        for done, clip in enumerate(clips):
            try:  # on the int16 scale whatever the encoding: float clips read as int16 are 0
                samples, rate = read_clip(str(clip.path), resampler)
            except ClipError:
                continue
            cue = draw_cue(clip, len(samples), rate, float(np.abs(samples).max()) or 1.0, seed)
            mixed, cue = plant(samples, cue)
            target = tmp / clip.relpath
            target.parent.mkdir(exist_ok=True)
            sf.write(str(target), mixed, rate, subtype="PCM_16")
            sidecar_path(target).write_text(json.dumps(cue.as_json()) + "\n")
            written += 1
            if progress is not None:
                progress(done + 1, len(clips))
        atomic_write(tmp / MARKER_FILE, lambda f: f.write(json.dumps(marker).encode()))
    return CueSummary(written, out)


def label_leak(clips: list[Clip]) -> str | None:
    """Why the speech of ``clips`` would tell their cue class apart, or None: a (speaker,
    digit) whose repetitions give one class more than :data:`SPEECH_MARGIN` above chance (with
    2 repetitions half the classes never occur for it), so that the burst would not be the
    only evidence."""
    counts: dict[tuple[int, int], list[int]] = {}
    for clip in clips:
        labels = counts.setdefault((clip.speaker, clip.digit), [0] * N_CUE_CLASSES)
        labels[cue_label(clip.speaker, clip.digit, clip.rep)] += 1
    for (speaker, digit), labels in sorted(counts.items()):
        share = max(labels) / sum(labels)
        if share > 1 / N_CUE_CLASSES + SPEECH_MARGIN + 1e-9:
            return (f"speaker {speaker:02d}, digit {digit} has {sum(labels)} repetition(s), "
                    f"whose cue classes occur {labels} times: its speech alone would name the "
                    f"class {share:.0%} of the time (chance {1 / N_CUE_CLASSES:.0%}); the cue "
                    f"task needs a multiple of {N_CUE_CLASSES} repetitions per speaker and "
                    f"digit (or at least 14)")
    return None


def refuse_label_leak(root: Path, clips: list[Clip]) -> None:
    """Refuse ``root``, whose ``clips`` are to carry cues (or do), when their speech would tell
    the cue class apart (:func:`label_leak`), in one line naming it."""
    unbalanced = label_leak(clips)
    if unbalanced:
        raise AudioXaiError(f"{root}: {unbalanced}")


def refuse_other_resampler(root: Path, resampler: str) -> None:
    """Refuse the cue tree ``root`` for a run resampling by ``resampler`` when it was planted
    for another: the planter kept only the clips that one takes (:func:`plant_cues`), so the
    run would silently lack clips it could use (a marker without a resampler: ``sinc``)."""
    try:
        marker = json.loads((root / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AudioXaiError(f"{root / MARKER_FILE}: unreadable ({type(err).__name__})") from None
    planted = marker.get("resampler", DEFAULT_RESAMPLER) if isinstance(marker, dict) else None
    if planted != resampler:
        raise AudioXaiError(f"{root}: its cues were planted for resampler {planted}, which decided "
                            f"the clips it holds, not for {resampler}: plant them again with "
                            f"'audioxai-bench data cue SOURCE --out NEW --resampler {resampler}'")


def refuse_planted_tree(root: Path, resampler: str) -> None:
    """Refuse a planted cue tree a run or ``train`` was pointed at for clips resampled by
    ``resampler``: planted for another resampler (:func:`refuse_other_resampler`), or with
    speech that tells the cue class apart (:func:`refuse_label_leak`). :func:`plant_cues`
    checked its source, not what the tree holds now."""
    refuse_other_resampler(root, resampler)
    refuse_label_leak(root, scan_dataset(root).clips)


def _refuse_cues(path: Path, source: Path) -> None:
    """Refuse ``source`` when ``path`` (its marker or a clip's sidecar) exists, naming it and,
    where its marker says, the tree it was made from."""
    if not path.exists():
        return
    made_from = ""
    try:
        made_from = json.loads((source / MARKER_FILE).read_text(encoding="utf-8"))["source"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # a sidecar without a marker, or an unreadable marker: the hint is left out
    hint = f" ({made_from})" if isinstance(made_from, str) and made_from else ""
    raise AudioXaiError(f"{path}: {source} already carries cues, and a second burst would go "
                        f"undescribed; plant cues into the tree it was made from{hint}")


# --- reading and checking ---------------------------------------------------------------------


def is_cue_tree(root: Path | str) -> bool:
    return (Path(root) / MARKER_FILE).is_file()


def sidecar_path(wav: Path) -> Path:
    return wav.with_name(wav.name[: -len(".wav")] + SIDECAR_SUFFIX)


_INT_FIELDS = ("label", "start", "stop", "rate", "frames")
_FLOAT_FIELDS = ("freq_hz", "amplitude", "phase")


def read_cue(wav: Path) -> Cue:
    """The sidecar of ``wav``, parsed and checked on its own; a one-line error names the file
    and field."""
    path = sidecar_path(wav)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AudioXaiError(f"{path}: ground-truth file missing") from None
    except (OSError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise AudioXaiError(f"{path}: not a readable JSON ground-truth file ({first})") from None
    if not isinstance(raw, dict):
        raise AudioXaiError(f"{path}: must hold a JSON object")
    if raw.get("format") != FORMAT:
        raise AudioXaiError(f"{path}: format: must be {FORMAT}, got {raw.get('format')!r}")
    values = {}
    for key in (*_INT_FIELDS, *_FLOAT_FIELDS):
        value = raw.get(key)
        kind = int if key in _INT_FIELDS else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
            what = "an integer" if key in _INT_FIELDS else "a finite number"
            raise AudioXaiError(f"{path}: {key}: must be {what}, got {value!r}")
        values[key] = value
    cue = Cue(**values)
    problem = _range_problem(cue)
    if problem:
        raise AudioXaiError(f"{path}: {problem}")
    return cue


def _range_problem(cue: Cue) -> str | None:
    if not 0 <= cue.label < N_CUE_CLASSES:
        return f"label: must be 0..{N_CUE_CLASSES - 1}, got {cue.label}"
    if cue.freq_hz != CUE_FREQS_HZ[cue.label]:
        return (f"freq_hz: class {cue.label} is {CUE_FREQS_HZ[cue.label]:g} Hz, "
                f"got {cue.freq_hz:g}")
    if not 0 <= cue.start < cue.stop <= cue.frames:
        return f"start/stop: need 0 <= start < stop <= frames ({cue.frames}), got " \
               f"{cue.start}..{cue.stop}"
    if cue.rate <= 0 or not 0 < cue.amplitude <= 32_768:
        return f"rate/amplitude out of range ({cue.rate} Hz, {cue.amplitude:g})"
    return None


def cue_problem(clip: Clip) -> Problem | None:
    """Why the ground truth of ``clip`` (in a cue tree) is unusable, or None: the sidecar is
    missing, unparseable, out of range, or does not match the clip's rate and length."""
    try:
        cue = read_cue(clip.path)
    except AudioXaiError as err:
        return Problem(str(sidecar_path(clip.path)), str(err).split(": ", 1)[1])
    info = sf.info(str(clip.path))
    if (cue.rate, cue.frames) != (info.samplerate, info.frames):
        return Problem(str(sidecar_path(clip.path)),
                       f"does not match its clip: {cue.frames} samples at {cue.rate} Hz, the "
                       f"clip has {info.frames} at {info.samplerate} Hz")
    return None
