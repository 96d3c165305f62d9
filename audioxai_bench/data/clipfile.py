"""Reading one clip file: what makes it readable, and its samples on the int16 scale.

Shared by ``data check`` (:mod:`.check`), the dataset loader (:mod:`.dataset`) and the cue
planter (:mod:`.cue`), so that every reader of a clip accepts and scales the same files. It
needs only NumPy and soundfile: ``data check`` does not import torch.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import AudioXaiError, ClipError

TARGET_RATE = 8_000
WINDOW = 8_000  # samples at TARGET_RATE: every clip is placed inside one second
#: Shortest clip taken: half the shortest spoken digits of AudioMNIST (about 0.2 s) and longer
#: than the spectrogram's STFT window (455 samples at 8 kHz, 57 ms); shorter holds no word.
MIN_SECONDS = 0.1
FLAT_BLOCK = 1_024  # samples read at a time when looking for the clip's signal
#: Least half peak-to-peak range of a clip with signal, a share of full scale (-60 dBFS, 33
#: int16 steps). Spoken digits peak tens of dB above it; under it a clip holds dither or hum.
MIN_LEVEL = 1e-3
MIN_RATE, MAX_RATE = 4_000, 384_000  # sample rates a recording can plausibly have
#: How a clip reaches 8 kHz (:mod:`.preprocess`): ``fft`` is the reference code's, ``sinc``
#: torchaudio's windowed sinc. Defined here, torch-free, because only ``sinc`` limits the
#: rates a tree may have (:func:`rate_problem`), which ``data check`` must know.
RESAMPLERS = ("sinc", "fft")
#: The resampler of a definition that names none: the one of everything made before the choice.
DEFAULT_RESAMPLER = "sinc"
# torchaudio's sinc kernel has new × (orig + 2 × width) values for the rates divided by their
# gcd: 44.1 kHz needs 4e4, while 192 007 Hz (no common factor with 8 kHz) needs 1.5e9 (6 GB)
MAX_RESAMPLE_KERNEL = 1 << 22
#: libsndfile's names of a RIFF WAVE file: WAVEX is WAVE_FORMAT_EXTENSIBLE, which ffmpeg and
#: others write for more than 16 bits or 48 kHz (a 24-bit or float export of a clip).
WAV_FORMATS = ("WAV", "WAVEX")
INT16_SCALE = 32_768.0  # libsndfile reads every encoding as float in [-1, 1) at this scale


def file_problem(path: Path | str) -> str | None:
    """Why ``path`` is not a regular file (a FIFO would block the reader forever), or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        return f"cannot be read ({err.strerror or first_line(err)})"
    if not stat.S_ISREG(mode):
        kind = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
                stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket",
                stat.S_IFDIR: "a folder"}.get(stat.S_IFMT(mode), "not a file")
        return f"not a regular file ({kind})"
    return None


def resample_kernel_size(rate: int, target: int = TARGET_RATE) -> int:
    """Values in torchaudio's resampling kernel (default filter width 6, rolloff 0.99)."""
    gcd = math.gcd(rate, target)
    orig, new = rate // gcd, target // gcd
    width = math.ceil(6 * orig / (min(orig, new) * 0.99))
    return new * (orig + 2 * width)


def check_resampler(resampler: str) -> str:
    """``resampler`` if it is one of :data:`RESAMPLERS`, else an error listing them."""
    if resampler not in RESAMPLERS:
        raise AudioXaiError(f"unknown resampler {resampler!r}; valid: {', '.join(RESAMPLERS)}")
    return resampler


def resampler_key(resampler: str) -> dict[str, str]:
    """``resampler`` as it enters the keys of what is made from the clips (cached signals and
    cue trees, trained models, records' config hashes): left out for ``sinc``, so that every
    key made before the choice existed, all of them sinc's, stays valid."""
    check_resampler(resampler)
    return {} if resampler == DEFAULT_RESAMPLER else {"resampler": resampler}


def rate_problem(rate: int, resampler: str = DEFAULT_RESAMPLER) -> str | None:
    """Why a clip at ``rate`` Hz cannot be resampled to 8 kHz by ``resampler``, or None. Only
    ``sinc`` builds a kernel that grows with the rates' ratio; ``fft`` (scipy.signal.resample)
    takes any rate in range."""
    if not MIN_RATE <= rate <= MAX_RATE:
        return f"sample rate {rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz"
    if (resampler == "sinc" and rate != TARGET_RATE
            and resample_kernel_size(rate) > MAX_RESAMPLE_KERNEL):
        gcd = math.gcd(rate, TARGET_RATE)
        return (f"sample rate {rate} Hz shares too small a factor with {TARGET_RATE} Hz to "
                f"resample by sinc (ratio {rate // gcd}/{TARGET_RATE // gcd}); convert it to "
                "a common rate such as 48000 Hz, or resample by fft (data.resampler: fft, "
                "--resampler fft)")
    return None


def length_problem(frames: int, rate: int) -> str | None:
    """Why ``frames`` samples at ``rate`` Hz cannot be a clip: longer than the model's
    one-second input, or shorter than :data:`MIN_SECONDS` (no spoken digit fits), or None."""
    if frames * TARGET_RATE > WINDOW * rate:
        return (f"clip lasts {frames / rate:.6g} s ({frames} samples at {rate} Hz); at most "
                f"1 s ({rate} samples) fits the model input")
    if frames < MIN_SECONDS * rate:
        return (f"{frames} sample{'s' if frames != 1 else ''} long ({frames / rate:.3f} s); a "
                f"spoken digit lasts at least {MIN_SECONDS} s")
    return None


def flat_problem(blocks: Iterable[np.ndarray]) -> str | None:
    """Why a non-empty clip's samples carry no signal, or None: all 0 (silence), all one
    value (DC only), or a range of a few int16 steps (dither, a constant with a little noise),
    on which relevance and energy-normalised metrics explain noise. Reading stops at the first
    block that brings the samples' range past :data:`MIN_LEVEL`, so a clip with sound costs
    one or two."""
    low, high = math.inf, -math.inf
    for block in blocks:
        low, high = min(low, float(block.min())), max(high, float(block.max()))
        if (high - low) / 2 > MIN_LEVEL:
            return None
    if high == low:
        return "silent (every sample 0)" if high == 0 else "constant (DC only, no signal)"
    level = 20 * math.log10((high - low) / 2)
    return (f"near-silent (half its peak-to-peak range is {level:.0f} dBFS, under "
            f"{20 * math.log10(MIN_LEVEL):.0f} dBFS: no signal)")


def nonfinite_problem(samples: np.ndarray) -> str | None:
    """Why decoded samples are unusable (NaN or Inf), or None."""
    bad = samples.size - int(np.isfinite(samples).sum())
    return f"{bad} NaN/Inf samples of {samples.size}" if bad else None


def header_problem(f: sf.SoundFile, resampler: str) -> str | None:
    """Why an open clip's header rules it out (format, channels, rate, length), or None."""
    if f.format not in WAV_FORMATS:
        return f"format {f.format}, expected WAV"
    if f.frames == 0:
        return "empty file (no samples)"
    if f.channels != 1:
        return f"{f.channels} channels; AudioMNIST clips are mono"
    return (cut_short_problem(f.name) or rate_problem(f.samplerate, resampler)
            or length_problem(f.frames, f.samplerate))


def cut_short_problem(path: str) -> str | None:
    """Why a RIFF WAVE file is cut short (its ``data`` chunk declares more bytes than follow
    it: an interrupted download or copy), or None. libsndfile reads such a file without a
    word, as the shorter clip that is left, so a clip cut in the middle of its digit would be
    taken as whole. Sizes 0 and 0xFFFFFFFF are the placeholders of streaming writers."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if fh.read(4) != b"RIFF":
            return None
        fh.seek(12)
        for _ in range(64):  # chunks before 'data': fmt, fact, LIST, ...
            head = fh.read(8)
            if len(head) < 8:
                return None
            chunk, length = head[:4], int.from_bytes(head[4:], "little")
            if chunk == b"data":
                left = size - fh.tell()
                if length > left and length not in (0, 0xFFFFFFFF):
                    return (f"cut short: its data chunk declares {length} bytes, the file "
                            f"holds {left} (an interrupted download or copy?)")
                return None
            fh.seek(length + (length & 1), os.SEEK_CUR)
    return None


def read_clip(path: str, resampler: str = DEFAULT_RESAMPLER) -> tuple[np.ndarray, int]:
    """Mono samples as float32 on the int16 scale, and the sample rate (one ``resampler`` can
    take: :func:`rate_problem`).

    Reading as float and scaling by 32 768 gives a 16-bit clip's exact int16 values and every
    other encoding the same scale; reading float data as int16 would truncate it to zeros.
    """
    problem = file_problem(path)  # a FIFO would block the read forever
    if problem:
        raise ClipError(path, problem)
    try:
        with sf.SoundFile(path) as f:
            problem = header_problem(f, resampler)  # the checks data check makes
            if problem:
                raise ClipError(path, problem)
            rate = f.samplerate
            data = f.read(dtype="float64", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise ClipError(path, f"not a readable WAV file ({err})") from err
    problem = nonfinite_problem(data) or flat_problem([data])
    if problem:
        raise ClipError(path, problem)
    return (data[:, 0] * INT16_SCALE).astype(np.float32), rate


def first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
