"""Example plugin: squared-gradient sensitivity (Simonyan et al. 2014, arXiv 1312.6034).

A plain object with ``name``, ``representations`` and ``explain`` is an explainer; a function
marked ``@audioxai_bench.hookimpl`` named after the hook returns it.
"""

import torch
from torch import Tensor

import audioxai_bench

__version__ = "0.1.0"


class GradientSquared:
    """Relevance = (d logit_target / d x)^2: how sensitive the decision is to each input."""

    name = "gradient-squared"
    display_name = "Gradient²"
    representations = frozenset({"waveform", "spectrogram"})

    def explain(self, model: torch.nn.Module, x: Tensor, target: Tensor) -> Tensor:
        modes = [(m, m.training) for m in model.modules()]
        model.eval()  # explain the deployed model: no dropout
        try:
            with torch.enable_grad():
                x = x.detach().requires_grad_()
                logit = model(x).gather(1, target[:, None]).sum()
                (grad,) = torch.autograd.grad(logit, x)  # leaves the parameters' .grad alone
        finally:
            for module, training in modes:  # give the model back as we found it
                module.training = training
        return grad.detach() ** 2


@audioxai_bench.hookimpl
def audioxai_bench_explainers() -> list:
    return [GradientSquared()]
