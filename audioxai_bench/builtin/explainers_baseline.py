"""Reference "explainers" that ignore the model: the comparisons of the AudioMNIST paper.

Becker et al. (arXiv 1807.03418) judge an explanation by how much faster removing its most
relevant inputs hurts the model than removing random inputs or the loudest ones. A method that
does no better than these two explains nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib

import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import BaseExplainer, amplitude_of, null_relevance
from audioxai_bench.api.hookspecs import hookimpl


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomRelevance(BaseExplainer):
    """Uniform random relevance in [-1, 1) (:func:`~audioxai_bench.api.explainer.null_relevance`),
    drawn per sample from a generator seeded by the seed and the sample's own values.

    Signed: drawn from [0, 1), the smaller tiles at a spectrogram's edges summed lowest, so the
    most-relevant order removed them last and the least-relevant order first, and the null
    scored above 0 on SRG on AlexNet (three seeds pooled: digit 0.024, sex 0.021, both marked).

    A sample's map therefore does not depend on its batch: seeding one generator per call gave
    the clips at one batch position the same map in every batch (not independent draws).

    Parameters
    ----------
    seed : int
        The same seed and sample give the same relevance, in any batch, on any device.
    """

    seed: int = 0

    def passes(self, input_shape: tuple[int, ...]) -> int:
        return 0

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        generator = torch.Generator()
        maps = [null_relevance(sample.shape, generator.manual_seed(self._seed_of(sample)),
                               dtype=x.dtype) for sample in x.detach().cpu()]
        return torch.stack(maps).to(x.device)

    def _seed_of(self, sample: Tensor) -> int:
        digest = hashlib.blake2b(sample.contiguous().numpy().tobytes(), digest_size=8,
                                 key=self.seed.to_bytes(8, "little", signed=True))
        return int.from_bytes(digest.digest(), "little") >> 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class Amplitude(BaseExplainer):
    """Signal amplitude: the loudest inputs are the "most relevant".

    Waveforms: ``|x|`` (the paper's comparison). Spectrograms hold dB relative to the maximum
    (at most 0, floor -80), so ``|x|`` would rank the quietest bins first; there relevance is the
    level above silence, ``x + 80`` (:func:`~audioxai_bench.api.explainer.amplitude_of`), which
    ranks bins by loudness.
    """

    def passes(self, input_shape: tuple[int, ...]) -> int:
        return 0

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        return amplitude_of(x)


@hookimpl
def audioxai_bench_explainers() -> list[BaseExplainer]:
    """Random relevance and signal amplitude."""
    return [
        RandomRelevance(name="random", display_name="Random"),
        Amplitude(name="amplitude", display_name="Amplitude"),
    ]
