"""Example plugin: squared-gradient sensitivity (Simonyan et al. 2014, arXiv 1312.6034).

``BaseExplainer`` puts the model in eval mode, enables gradients and detaches input and result,
so a method only writes ``attribute``. Duck typing works too: any object with ``name``,
``representations`` and ``explain(model, x, target)`` is an explainer (see CONTRIBUTING.md).
"""

import torch

import audioxai_bench

__version__ = "0.1.0"


class GradientSquared(audioxai_bench.BaseExplainer):
    """Relevance = (d logit_target / d x)²: how sensitive the decision is to each input."""

    def attribute(self, model, x, target):
        x = x.requires_grad_()
        logit = model(x).gather(1, target[:, None]).sum()
        (grad,) = torch.autograd.grad(logit, x)  # leaves the parameters' .grad alone
        return grad**2


@audioxai_bench.hookimpl
def audioxai_bench_explainers():
    return [GradientSquared(name="gradient-squared", display_name="Gradient²")]
