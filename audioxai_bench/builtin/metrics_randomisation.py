"""Model randomisation sanity check (Adebayo et al. 2018, "Sanity checks for saliency maps",
NeurIPS, arXiv 1810.03292).

An explanation of a model should depend on the model. The check re-initialises the layers from
the output down (cascading) and explains each randomised model again; the Spearman rank
correlation with the trained model's relevance should fall. A method whose relevance hardly
changes (edge detectors, signal amplitude) explains the input, not the model, and is flagged.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch
from torch import Tensor, nn

from audioxai_bench.api.hookspecs import hookimpl
from audioxai_bench.api.metric import BaseMetric, EvalBatch, MetricOutput
from audioxai_bench.stats import correlate_ranks, rank_data


def randomisable_layers(model: nn.Module) -> list[str]:
    """Names of the modules with their own parameters and ``reset_parameters``, output first.

    Registration order is taken as forward order (true of ``nn.Sequential`` stacks and of the
    AudioMNIST models), so its reverse is the top-down cascade.
    """
    names = []
    for name, module in model.named_modules():
        own = next(module.parameters(recurse=False), None) is not None
        if own and callable(getattr(module, "reset_parameters", None)):
            names.append(name)
    return names[::-1]


def _reinitialise(module: nn.Module, seed: int, device: torch.device) -> None:
    """``reset_parameters`` under a fixed seed, without touching the global random state."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        module.reset_parameters()


def cascade_depths(n_layers: int, steps: int | None) -> list[int]:
    """Depths (layers randomised, 1..n) to explain at: all, or ``steps`` evenly spaced ones
    that start at 1 and end at ``n_layers``."""
    if steps is None or steps >= n_layers:
        return list(range(1, n_layers + 1))
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if steps == 1:
        return [n_layers]
    return sorted({round(1 + k * (n_layers - 1) / (steps - 1)) for k in range(steps)})


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelRandomisation(BaseMetric):
    """Per-sample mean rank correlation between trained and cascadingly randomised relevance.

    Parameters
    ----------
    absolute : bool
        Correlate ``|R|`` (Adebayo et al.'s main setting: a flipped sign is not a new
        explanation).
    max_layers : int, optional
        Randomise at most this many layers from the top.
    steps : int, optional
        Explain at this many cascade depths, evenly spaced from the top layer to the deepest
        (always included); ``None`` explains after every layer. Each depth costs one
        explanation, so ``steps`` bounds the cost on deep models while the cascade still
        reaches every layer.
    flag_threshold : float
        :meth:`summarize` flags the method as insensitive when the mean correlation with the
        fully randomised model is at least this (a convention, not a number from the paper).
    seed : int
        Seeds the re-initialisation, so every explainer and batch sees the same random models.
    """

    absolute: bool = True
    max_layers: int | None = None
    steps: int | None = None
    flag_threshold: float = 0.5
    seed: int = 0

    def score(self, batch: EvalBatch) -> MetricOutput:
        self.check(batch)
        names = randomisable_layers(batch.model)[: self.max_layers]
        if not names:
            raise ValueError(f"metric {self.name!r}: the model has no layer to re-initialise")
        depths = cascade_depths(len(names), self.steps)
        randomised = copy.deepcopy(batch.model)
        modules = dict(randomised.named_modules())
        reference = batch.relevance.abs() if self.absolute else batch.relevance
        reference_ranks = rank_data(reference.flatten(1))
        correlations = []
        for i, name in enumerate(names):
            _reinitialise(modules[name], self.seed * 1000 + i, batch.device)
            if i + 1 not in depths:
                continue
            relevance = batch.explainer.explain(randomised, batch.x, batch.target).detach()
            if self.absolute:
                relevance = relevance.abs()
            correlations.append(
                correlate_ranks(reference_ranks, rank_data(relevance.flatten(1))).cpu())
        curve: Tensor = torch.stack(correlations, dim=1)
        return MetricOutput(
            scores=curve.mean(dim=1),
            curves={"spearman": curve},
            grid=torch.tensor(depths, dtype=torch.float64),
            extras={"spearman/all-randomised": curve[:, -1]},
            info={"layers": names, "absolute": self.absolute},
        )

    def summarize(self, output: MetricOutput) -> dict[str, Any]:
        """The flag: ``insensitive`` when relevance survives randomising every layer."""
        final = float(output.extras["spearman/all-randomised"].nanmean())
        return {"spearman_all_randomised": final, "insensitive": final >= self.flag_threshold,
                "flag_threshold": self.flag_threshold}


@hookimpl
def audioxai_bench_metrics() -> list[ModelRandomisation]:
    """Cascading top-down model randomisation."""
    return [ModelRandomisation(
        name="model-randomisation", display_name="Model randomisation (Spearman, cascading)",
        higher_is_better=False, needs=frozenset({"explainer"}))]
