"""Gradient and perturbation explainers through captum (Kokhlikyan et al. 2020, arXiv 2009.07896).

Each class only picks a captum attribution method and its parameters. ``internal_batch_size``
bounds memory the same way everywhere: at most that many rows (samples × steps, noise draws or
occlusion windows) go through the model at once. captum is imported on first use.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import BaseExplainer, silence_of
from audioxai_bench.api.hookspecs import hookimpl

#: Reference inputs for integrated gradients and occlusion (the ``baseline`` parameter).
BASELINES: tuple[str, ...] = ("silence", "zero")


def reference_input(x: Tensor, baseline: str) -> Tensor:
    """The "absent" input: ``"zero"``, or ``"silence"`` = zero for waveforms (``x.dim() == 3``)
    and each sample's minimum for spectrograms (the -80 dB floor: zero dB is the loudest bin).
    """
    if baseline == "zero":
        return torch.zeros_like(x)
    if baseline == "silence":
        return silence_of(x).expand_as(x).contiguous()
    raise ValueError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)}")


def _check_baseline(baseline: str) -> None:
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)}")


def _positive(owner: BaseExplainer, *names: str) -> None:
    for key in names:
        values = getattr(owner, key)
        for v in values if isinstance(values, tuple) else (values,):
            if not v > 0:
                raise ValueError(f"{key} must be positive, got {values!r}")


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
    """Gradient × input (Shrikumar et al. 2016, arXiv 1605.01713); captum's ``InputXGradient``."""

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        from captum.attr import InputXGradient

        return InputXGradient(model).attribute(x.requires_grad_(), target=target)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaptumIntegratedGradients(BaseExplainer):
    """Integrated gradients (Sundararajan et al. 2017, ICML, arXiv 1703.01365).

    Parameters
    ----------
    n_steps : int
        Points of the path integral (Gauss–Legendre, captum's default rule).
    baseline : str
        Reference input, see :data:`BASELINES`.
    internal_batch_size : int
        Rows per model call (at least the batch size).
    """

    n_steps: int = 50
    baseline: str = "silence"
    internal_batch_size: int = 256

    def __post_init__(self) -> None:
        _positive(self, "n_steps", "internal_batch_size")
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
    arXiv 1706.03825); captum's ``NoiseTunnel`` over ``Saliency``.

    Parameters
    ----------
    n_samples : int
        Noisy copies per sample.
    noise_level : float
        Noise standard deviation relative to the batch's value range (the paper: 10–20 %).
    seed : int
        Seeds the noise on every call, so repeated calls agree.
    internal_batch_size : int
        Rows per model call.
    """

    n_samples: int = 16
    noise_level: float = 0.15
    seed: int = 0
    internal_batch_size: int = 256

    def __post_init__(self) -> None:
        _positive(self, "n_samples", "internal_batch_size")
        if not self.noise_level >= 0:
            raise ValueError(f"noise_level must be non-negative, got {self.noise_level!r}")

    def passes(self, input_shape: tuple[int, ...]) -> int:
        return self.n_samples

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        from captum.attr import NoiseTunnel, Saliency

        stdev = self.noise_level * float(x.max() - x.min())
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            return NoiseTunnel(Saliency(model)).attribute(
                x.requires_grad_(),
                nt_type="smoothgrad",
                nt_samples=self.n_samples,
                nt_samples_batch_size=max(1, self.internal_batch_size // len(x)),
                stdevs=stdev,
                target=target,
                abs=False,
            )


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaptumOcclusion(BaseExplainer):
    """Occlusion: the drop of the target logit when a window is replaced by the baseline
    (Zeiler & Fergus 2014, ECCV, arXiv 1311.2901); captum's ``Occlusion``.

    Parameters
    ----------
    waveform_window, waveform_stride : int
        Window and stride in samples (80 = 10 ms at 8 kHz).
    spectrogram_window, spectrogram_stride : tuple of int
        Patch and stride in (frequency bins, frames).
    baseline : str
        What replaces the window, see :data:`BASELINES`.
    internal_batch_size : int
        Rows per model call (windows × samples).
    """

    waveform_window: int = 80
    waveform_stride: int = 40
    spectrogram_window: tuple[int, int] = (16, 16)
    spectrogram_stride: tuple[int, int] = (8, 8)
    baseline: str = "silence"
    internal_batch_size: int = 256

    def __post_init__(self) -> None:
        _positive(self, "waveform_window", "waveform_stride", "spectrogram_window")
        _positive(self, "spectrogram_stride", "internal_batch_size")
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
    """Gradient, gradient × input, integrated gradients, SmoothGrad and occlusion."""
    return [
        CaptumGradient(name="gradient", display_name="Gradient"),
        CaptumGradientXInput(name="gradient-x-input", display_name="Gradient × Input"),
        CaptumIntegratedGradients(name="integrated-gradients", display_name="Integrated Gradients"),
        CaptumSmoothGrad(name="smoothgrad", display_name="SmoothGrad"),
        CaptumOcclusion(name="occlusion", display_name="Occlusion"),
    ]
