"""The paper's preprocessing (Becker et al., arXiv 1807.03418): 8 kHz, one-second window, two
model inputs.

A clip is read on the int16 scale (:func:`~audioxai_bench.data.clipfile.read_clip`: a 16-bit
clip gives exactly its int16 values; 8-, 24-, 32-bit and float clips the same scale: float
samples × 32 768), resampled to 8 kHz by one of :data:`RESAMPLERS` and placed at a seeded
random offset inside 8 000 zeros. From that padded signal come the waveform input (divided by
its 95th percentile + 0.001) and the spectrogram input (SciPy-style STFT, Hann 455, hop 35,
227 × 227 magnitude in dB relative to the maximum, floor at -80 dB).

The reference code (soerenab/AudioMNIST, ``preprocess_data.py``) resamples with
``librosa.core.resample(y=data.astype(np.float32), orig_sr=fs, target_sr=8000,
res_type="scipy")``: ``scipy.signal.resample`` of the float32 clip to
``ceil(n · 8000 / fs)`` samples, an FFT resampler that cuts at 4 kHz and aliases nothing.
That is ``fft`` here. ``sinc`` is torchaudio's windowed sinc, this package's only resampler
before the choice: it rolls off early (-1.8 dB at 3.5 kHz, -4.2 dB at 3.8 kHz) and lets 4.1-4.5
kHz alias into 3.5-3.9 kHz at -8 to -17 dB. On 600 synthetic clips the two spectrogram inputs
differ by 2.5 dB on average in rows 200-226 (3.5-4 kHz) and by 0.13 dB below; ``fft`` takes
about twice as long to decode (2.4 against 1.4 ms a clip on two threads). A definition picks
one (``data: resampler:``); one that names none gets ``sinc``, the resampler of every cache
entry and record made before, whose keys leave the setting out
(:func:`~.clipfile.resampler_key`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F
import torchaudio.functional as AF

from ..errors import AudioXaiError, ClipError
from .clipfile import (  # noqa: F401  (RESAMPLERS: re-exported, imported from here)
    DEFAULT_RESAMPLER,
    RESAMPLERS,
    TARGET_RATE,
    WINDOW,
    check_resampler,
)

N_FFT = 455
HOP = 35
SPEC_BINS = 227  # rows 0..226: 0-3974 Hz in 17.6 Hz steps
SPEC_FIRST_FRAME = 2  # frames 2..228 of SciPy's 230 (boundary zeros, padded=True)
SPEC_FRAMES = 227
DB_AMIN = 1e-5
DB_TOP = 80.0


def resample_batch(clips: list[np.ndarray], rate: int, resampler: str = DEFAULT_RESAMPLER
                   ) -> list[np.ndarray]:
    """Resample clips of one rate to 8 kHz, each to ``ceil(n · 8000 / rate)`` samples.

    ``fft``: ``scipy.signal.resample`` of each float32 clip, as the reference code's
    ``librosa.resample(res_type="scipy")``. ``sinc``: torchaudio, all clips in one call; zero
    padding does not change the result (torchaudio pads with zeros itself), so each clip is cut
    back to its own length."""
    check_resampler(resampler)
    if rate == TARGET_RATE:
        return clips
    if resampler == "fft":
        return [scipy.signal.resample(c.astype(np.float32, copy=False),
                                      math.ceil(len(c) * TARGET_RATE / rate)
                                      ).astype(np.float32, copy=False) for c in clips]
    longest = max(len(c) for c in clips)
    batch = torch.zeros(len(clips), longest)
    for row, clip in zip(batch, clips):
        row[: len(clip)] = torch.from_numpy(clip)
    out = AF.resample(batch, rate, TARGET_RATE).numpy()
    return [out[i, : math.ceil(len(c) * TARGET_RATE / rate)] for i, c in enumerate(clips)]


def clip_offset(key: str, length: int, seed: int) -> int:
    """Seeded offset of a clip inside the window; depends only on (seed, clip), not on order."""
    free = WINDOW - length
    if free < 0:
        seconds = length / TARGET_RATE
        raise ClipError(key, f"clip is {length} samples after resampling ({seconds:.6g} s); "
                             f"at most {WINDOW} (1 s) fit the model input")
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % (free + 1)


def pad_to_window(clip: np.ndarray, offset: int) -> np.ndarray:
    padded = np.zeros(WINDOW, dtype=np.float32)
    padded[offset: offset + len(clip)] = clip
    return padded


def waveform_level(signals: torch.Tensor) -> torch.Tensor:
    """(B, 8000) padded signals → (B, 1): the signed 95th percentile the input divides by."""
    return torch.quantile(signals, 0.95, dim=-1, keepdim=True)


def waveform_input(signals: torch.Tensor, level: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 8000) padded signals → (B, 1, 8000): divided by the signed 95th percentile + 0.001,
    the signals' own or ``level``'s (:func:`to_model_input`)."""
    scale = (waveform_level(signals) if level is None else level) + 0.001
    return (signals / scale).unsqueeze(1)


#: Largest difference, in dB, of the spectrogram input from SciPy's float64 recipe when the FFT
#: runs in float32 (quiet bins near the -80 dB floor; 1.4e-3 measured). In float64 it is 1e-4.
FLOAT32_DB_TOLERANCE = 2e-3


def spectrogram_power(signals: torch.Tensor, fft_dtype: torch.dtype = torch.float64
                      ) -> torch.Tensor:
    """(B, 8000) padded signals → (B, 227, 227) float32 power on the model's grid, row 0 = 0 Hz,
    computed on the signals' device.

    ``torch.stft`` with ``center=True`` and zero padding equals SciPy's ``boundary='zeros'``;
    SciPy scales by the window sum, which matters only against ``amin``, so it is kept. The
    FFT runs in float64 by default, the reference (within 1e-4 dB of SciPy); ``torch.float32``
    halves its bytes on a device and stays within :data:`FLOAT32_DB_TOLERANCE`. The power is
    formed in the FFT's precision (half the time of scaling the complex values first) and goes
    to float32 before the logarithm, which is the expensive part.
    """
    spec = stft(signals, fft_dtype)[:, :SPEC_BINS,
                                    SPEC_FIRST_FRAME: SPEC_FIRST_FRAME + SPEC_FRAMES]
    scale = _window(signals.device, fft_dtype).sum().square()
    return (spec.real.square() + spec.imag.square()).div_(scale).float()


def spectrogram_level(signals: torch.Tensor) -> torch.Tensor:
    """(B, 8000) padded signals → (B, 1, 1): the peak power the dB input is relative to."""
    return spectrogram_power(signals).amax(dim=(-2, -1), keepdim=True)


def spectrogram_input(signals: torch.Tensor, fft_dtype: torch.dtype = torch.float64,
                      level: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 8000) padded signals → (B, 1, 227, 227) dB magnitude spectrogram
    (:func:`spectrogram_power`), relative to the signals' own peak or to ``level``'s
    (:func:`to_model_input`)."""
    return power_to_db(spectrogram_power(signals, fft_dtype), level).to(
        signals.dtype).unsqueeze(1)


# --- the model's STFT (one for preprocessing, sonifiers and figures) --------------------------


def _window(device: torch.device, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.hann_window(N_FFT, periodic=True, dtype=dtype, device=device)


def stft(signals: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Complex STFT ``(B, 228, 1 + samples // 35)`` exactly as the spectrogram input computes
    it (Hann 455, hop 35, centred with zero padding), in float64 unless ``dtype`` says."""
    return torch.stft(signals.to(dtype), N_FFT, hop_length=HOP,
                      window=_window(signals.device, dtype), center=True, pad_mode="constant",
                      return_complex=True)


def istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of :func:`stft` (least-squares overlap-add); exact on an unmodified STFT."""
    return torch.istft(spec, N_FFT, hop_length=HOP, window=_window(spec.device), center=True,
                       length=length)


def model_grid_to_stft(values: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Place ``(B, 227, 227)`` values of the model's grid on the full ``(B, 228, n_frames)``
    STFT grid.

    The model sees bins 0..226 and frames 2..228; the bin above (Nyquist) and the frames outside
    take the value of their nearest neighbour on the model's grid, so a uniform map stays
    uniform and a keep-all mask gives back the signal.
    """
    bins_after = N_FFT // 2 + 1 - SPEC_BINS
    frames_after = n_frames - SPEC_FIRST_FRAME - SPEC_FRAMES
    if frames_after < 0:
        raise AudioXaiError(f"signals give {n_frames} STFT frames; the model grid needs "
                            f"{SPEC_FIRST_FRAME + SPEC_FRAMES}")
    padded = F.pad(values[:, None].double(), (SPEC_FIRST_FRAME, frames_after, 0, bins_after),
                   mode="replicate")
    return padded[:, 0]


def power_to_db(power: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
    """librosa.amplitude_to_db(S, ref=np.max) per sample, from S²: amin 1e-5, top_db 80. With
    ``ref`` (a peak power per sample) the dB are relative to it and the floor lies 80 dB below
    it; without, relative to each sample's own peak (so that peak is 0 dB)."""
    ref = (power.amax(dim=(-2, -1), keepdim=True) if ref is None else ref).clamp_min(DB_AMIN**2)
    db = power.clamp_min(DB_AMIN**2).div_(ref).log10_().mul_(10.0)
    return db.clamp_min_(-DB_TOP)


REPRESENTATIONS: dict[str, Callable[..., torch.Tensor]] = {
    "waveform": waveform_input,
    "spectrogram": spectrogram_input,
}
LEVELS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "waveform": waveform_level,
    "spectrogram": spectrogram_level,
}


def to_model_input(signals: torch.Tensor, representation: str,
                   level: torch.Tensor | None = None) -> torch.Tensor:
    """The model input for ``representation`` from a batch of padded 8 kHz signals.

    Each input is normalised to a level: the waveform divided by its 95th percentile, the dB
    spectrogram relative to its peak. ``level`` (:func:`clip_level` of the clips, per signal)
    normalises a sound made from a clip (a sonified part, the rest) to its clip's level, so
    the model hears it as loud as it is in the clip. At its own level a sound that keeps a few
    units would be blown up: once fewer than 5 % of its samples are positive its 95th
    percentile is 0 and it is divided by 0.001, not by the clip's thousands (int16 scale).
    """
    return _lookup(REPRESENTATIONS, representation)(signals, level=level)


def clip_level(signals: torch.Tensor, representation: str) -> torch.Tensor:
    """The level ``signals``' model inputs are normalised to (:func:`to_model_input`), one per
    signal, broadcastable to what that input is computed from."""
    return _lookup(LEVELS, representation)(signals)


def _lookup(table: dict[str, Callable[..., torch.Tensor]], representation: str
            ) -> Callable[..., torch.Tensor]:
    try:
        return table[representation]
    except KeyError:
        raise AudioXaiError(f"unknown representation {representation!r}; valid: "
                            f"{', '.join(table)}") from None
