"""Gradient and perturbation explainers through captum (Kokhlikyan et al. 2020, arXiv 2009.07896).

Each class only picks a captum attribution method and its parameters. ``internal_batch_size``
bounds memory the same way everywhere: at most that many rows (samples × steps, noise draws or
occlusion windows) go through the model at once. captum is imported on first use.

Every method with a reference input takes it from :func:`~audioxai_bench.api.explainer.silence_of`
by default: integrated gradients and occlusion as captum's ``baselines`` (parameter ``baseline``),
gradient × input through the exact reparameterisation of :mod:`audioxai_bench.api.reference`
(parameter ``reference``). ``"zero"`` keeps the raw input's zero, which on the paper's dB
spectrogram input is 0 dB, the loudest bin: the ``-0db`` variants register that 0 dB reference
(the paper's input scale, not a configuration its public code states).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import BaseExplainer, require_positive, spatial_dims
from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.reference import REFERENCES, reference_of, relative_to

#: Reference inputs for integrated gradients and occlusion (the ``baseline`` parameter).
BASELINES: tuple[str, ...] = REFERENCES


def reference_input(x: Tensor, baseline: str) -> Tensor:
    """The reference input in ``x``'s shape: ``"silence"`` (zero for waveforms, the -80 dB floor
    for spectrograms, :func:`~audioxai_bench.api.explainer.silence_of`) or ``"zero"``."""
    _check_baseline(baseline)
    return reference_of(x, baseline).expand_as(x).contiguous()


def _check_baseline(baseline: str, key: str = "baseline") -> None:
    if baseline not in BASELINES:
        raise ValueError(f"unknown {key} {baseline!r}; valid: {', '.join(BASELINES)}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaptumGradient(BaseExplainer):
    """The signed gradient of the target logit (Simonyan et al. 2014, arXiv 1312.6034).

    captum's ``Saliency`` with ``abs=False``: the sign tells which way a feature pushes.
    """

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        from captum.attr import Saliency

        return Saliency(model).attribute(x.requires_grad_(), target=target, abs=False)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaptumGradientXInput(BaseExplainer):
    """Gradient × (input − reference) (Shrikumar et al. 2016, arXiv 1605.01713): captum's
    ``InputXGradient`` on the model reparameterised so that the reference is its zero input.

    Parameters
    ----------
    reference : str
        ``"silence"`` (default): ∇f(x)·(x − silence). ``"zero"``: ∇f(x)·x, relative to 0 dB
        on spectrograms, the top of the paper's input scale (registered as
        ``gradient-x-input-0db``).
        On waveforms the two are the same.
    """

    reference: str = "silence"

    def __post_init__(self) -> None:
        _check_baseline(self.reference, "reference")

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        from captum.attr import InputXGradient

        shifted = relative_to(model, x, reference_of(x, self.reference))
        relevance = InputXGradient(shifted.model).attribute(shifted.x.requires_grad_(),
                                                             target=target)
        return shifted.relevance(relevance)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaptumIntegratedGradients(BaseExplainer):
    """Integrated gradients (Sundararajan et al. 2017, ICML, arXiv 1703.01365).

    Parameters
    ----------
    n_steps : int
        Points of the path integral (Gauss–Legendre, captum's default rule).
    baseline : str
        Reference input, see :data:`BASELINES`: ``"silence"`` (default) or ``"zero"`` (0 dB on
        spectrograms, the loudest bin).
    internal_batch_size : int
        Rows per model call (at least the batch size).
    """

    n_steps: int = 50
    baseline: str = "silence"
    internal_batch_size: int = 256

    def __post_init__(self) -> None:
        require_positive(self, "n_steps", "internal_batch_size")
        _check_baseline(self.baseline)

    def passes(self, input_shape: tuple[int, ...]) -> int:
        return self.n_steps

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        from captum.attr import IntegratedGradients

        return IntegratedGradients(model).attribute(
            x,
            baselines=reference_input(x, self.baseline),
            target=target,
            n_steps=self.n_steps,
            internal_batch_size=max(self.internal_batch_size, len(x)),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaptumSmoothGrad(BaseExplainer):
    """SmoothGrad: the signed gradient averaged over noisy copies (Smilkov et al. 2017,
    arXiv 1706.03825); captum's ``Saliency`` on each copy.

    The noise of a sample is scaled to that sample's own value range, and every sample gets the
    same seeded draws, so a sample's map does not depend on the batch it is explained in.
    (captum's ``NoiseTunnel`` scales by one number per batch and draws the batch's noise
    together, so a clip's map would depend on its batch-mates; hence the loop here.)

    Parameters
    ----------
    n_samples : int
        Noisy copies per sample.
    noise_level : float
        Noise standard deviation relative to the sample's value range, max − min (the paper:
        10–20 %).
    seed : int
        Seeds the noise on every call, so repeated calls agree.
    internal_batch_size : int
        Rows (samples × copies) per model call.
    """

    n_samples: int = 16
    noise_level: float = 0.15
    seed: int = 0
    internal_batch_size: int = 256

    def __post_init__(self) -> None:
        require_positive(self, "n_samples", "internal_batch_size")
        if not self.noise_level >= 0:
            raise ValueError(f"noise_level must be non-negative, got {self.noise_level!r}")

    def passes(self, input_shape: tuple[int, ...]) -> int:
        return self.n_samples

    def noise(self, x: Tensor) -> Tensor:
        """``(n_samples, B, ...)`` noise: the same seeded standard draws for every sample (drawn
        on the CPU, so every device adds the same), times ``noise_level`` × the sample's value
        range (max − min): SmoothGrad's noise level σ / (x_max − x_min), Smilkov et al. 2017."""
        dims = spatial_dims(x)
        stdev = self.noise_level * (x.amax(dim=dims, keepdim=True) - x.amin(dim=dims, keepdim=True))
        generator = torch.Generator().manual_seed(self.seed)
        draws = torch.randn((self.n_samples, 1, *x.shape[1:]), generator=generator)
        return draws.to(x.device, x.dtype) * stdev

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        from captum.attr import Saliency

        saliency, noise = Saliency(model), self.noise(x)
        per_call = max(1, self.internal_batch_size // len(x))
        total = torch.zeros_like(x)
        for start in range(0, self.n_samples, per_call):
            copies = (x + noise[start:start + per_call]).flatten(0, 1)  # copy-major rows
            k = len(copies) // len(x)
            grads = saliency.attribute(copies.requires_grad_(), target=target.repeat(k),
                                       abs=False)
            total += grads.view(k, *x.shape).sum(dim=0)
        return total / self.n_samples


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaptumOcclusion(BaseExplainer):
    """Occlusion: the drop of the target logit when a window is replaced by the baseline
    (Zeiler & Fergus 2014, ECCV, arXiv 1311.2901); captum's ``Occlusion``.

    Parameters
    ----------
    waveform_window, waveform_stride : int
        Window and stride in samples (80 = 10 ms at 8 kHz).
    spectrogram_window, spectrogram_stride : tuple of int
        Patch and stride in (frequency bins, frames). The default, 32 × 32 patches at half
        overlap, is wider than the 19 bins one of AlexNet's first max-pooled units reads: a patch
        smaller than that leaves the pool's other maxima in place. On the quickstart's seed-0
        AlexNets (faithfulness gap, splits 0 / 1) 8 × 8 patches score 0.352 / 0.328 on digit and
        0.018 / −0.279 on sex, 32 × 32 scores 0.413 / 0.381 and 0.122 / 0.141 (the README's
        window table); AudioNet depends less on the window (10–40 ms alike, 160 ms lower).
        Records carry the window: state it wherever occlusion is compared.
    baseline : str
        What replaces the window, see :data:`BASELINES`: ``"silence"`` (default) or ``"zero"``.
    internal_batch_size : int
        Rows per model call (windows × samples).
    """

    waveform_window: int = 80
    waveform_stride: int = 40
    spectrogram_window: tuple[int, int] = (32, 32)
    spectrogram_stride: tuple[int, int] = (16, 16)
    baseline: str = "silence"
    internal_batch_size: int = 256

    def __post_init__(self) -> None:
        require_positive(self, "waveform_window", "waveform_stride", "spectrogram_window")
        require_positive(self, "spectrogram_stride", "internal_batch_size")
        if len(self.spectrogram_window) != 2 or len(self.spectrogram_stride) != 2:
            raise ValueError("spectrogram_window and spectrogram_stride take two numbers")
        _check_baseline(self.baseline)

    def window(self, input_shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Sliding window and strides (channel first) for one input of ``input_shape``."""
        if len(input_shape) == 2:
            return (1, self.waveform_window), (1, self.waveform_stride)
        return (1, *self.spectrogram_window), (1, *self.spectrogram_stride)

    def passes(self, input_shape: tuple[int, ...]) -> int:
        window, stride = self.window(input_shape)
        return 1 + math.prod(
            math.ceil(max(n - w, 0) / s) + 1 for n, w, s in zip(input_shape, window, stride)
        )

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        from captum.attr import Occlusion

        window, stride = self.window(tuple(x.shape[1:]))
        return Occlusion(model).attribute(
            x,
            sliding_window_shapes=window,
            strides=stride,
            baselines=reference_input(x, self.baseline),
            target=target,
            perturbations_per_eval=max(1, self.internal_batch_size // len(x)),
        )


@hookimpl
def audioxai_bench_explainers() -> list[BaseExplainer]:
    """Gradient, gradient × input, integrated gradients, SmoothGrad and occlusion.

    ``gradient-x-input-0db`` is gradient × input relative to the raw zero (0 dB on the paper's
    input scale); it is registered for spectrograms only, since on waveforms zero is silence
    and it would equal ``gradient-x-input``.
    """
    return [
        CaptumGradient(name="gradient", display_name="Gradient"),
        CaptumGradientXInput(name="gradient-x-input", display_name="Gradient × Input"),
        CaptumGradientXInput(name="gradient-x-input-0db",
                             display_name="Gradient × Input (0 dB reference)", reference="zero",
                             representations=frozenset({"spectrogram"})),
        CaptumIntegratedGradients(name="integrated-gradients", display_name="Integrated Gradients"),
        CaptumSmoothGrad(name="smoothgrad", display_name="SmoothGrad"),
        CaptumOcclusion(name="occlusion", display_name="Occlusion"),
    ]
