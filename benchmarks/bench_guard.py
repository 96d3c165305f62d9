"""Cost of the plugin guard (audioxai_bench/guard.py) at the quickstart's sizes.

Per model (quickstart widths, a batch of 24, the quickstart's ``samples`` and ``batch_size``):
the one-off :class:`ModelKeeper` copy per panel; the guard's cost per metric call (a no-op
metric through :func:`score_metric` minus a bare call), next to a few real metric calls; and
per explainer the repeatability check (two calls on 2 samples, once per panel) next to the
explainer's call on the whole batch, both with the quickstart's parameters. The guard's cost
per metric call is also given with a full shared memo (what the quickstart's metrics keep for
every explainer, :mod:`audioxai_bench.shared_memo`): its entries are compared on each call.

    python benchmarks/bench_guard.py                      # both models, 30 no-op repeats
    python benchmarks/bench_guard.py --models audionet --threads 1
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from audioxai_bench.api.metric import EvalBatch, MetricOutput
from audioxai_bench.data.preprocess import to_model_input
from audioxai_bench.guard import ModelKeeper, check_repeatable, run_explainer, score_metric
from audioxai_bench.models import build_model
from audioxai_bench.plugins import PluginManager
from audioxai_bench.shared_memo import MemoKeeper, arrays_in

#: The quickstart's models and the parameters it gives the costly explainers.
QUICKSTART = {"audionet": (0.125, "waveform"), "alexnet": (0.0625, "spectrogram")}
#: The quickstart's metrics that keep entries in the shared memo (with the sonifier they need).
MEMO_METRICS = ("faithfulness-gap", "gap-vs-amplitude", "insertion-gap",
                "frequency-bands-beyond-amplitude", "sonified-sufficiency-vs-input")
PARAMS = {"integrated-gradients": {"n_steps": 16}, "smoothgrad": {"n_samples": 8},
          "occlusion": {"waveform_window": 400, "waveform_stride": 400,
                        "spectrogram_window": (32, 32), "spectrogram_stride": (32, 32)}}


class NoOp:
    """A metric that does nothing: what its guarded call costs is the guard's."""

    name = "no-op"
    higher_is_better = True

    def score(self, batch: EvalBatch) -> MetricOutput:
        return MetricOutput(scores=torch.zeros(batch.size, dtype=torch.float64))


def fastest(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(fastest, median) seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[0], times[len(times) // 2]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(QUICKSTART), choices=list(QUICKSTART))
    p.add_argument("--batch-size", type=int, default=24)
    p.add_argument("--repeats", type=int, default=30, help="no-op calls; the fastest counts")
    p.add_argument("--metrics", nargs="+", default=["gini", "faithfulness-gap"])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-explainers", action="store_true",
                   help="leave out the repeatability check of every explainer")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    pm = PluginManager(entrypoints=False, strict=True)
    print(f"# torch {torch.__version__}, cpu, {torch.get_num_threads()} threads, "
          f"batch {args.batch_size}")
    for name in args.models:
        measure(pm, name, args)


def measure(pm: PluginManager, name: str, args: argparse.Namespace) -> None:
    """Print the guard's costs on one quickstart model."""
    width, rep = QUICKSTART[name]
    torch.manual_seed(0)
    model = build_model(name, 10, width=width).eval()
    gen = torch.Generator().manual_seed(0)
    signals = 0.1 * torch.randn(args.batch_size, 8000, generator=gen)
    x = to_model_input(signals, rep)
    target = torch.randint(0, 10, (args.batch_size,), generator=gen)
    keep, _ = fastest(lambda: ModelKeeper(model), 10)
    keeper = ModelKeeper(model)
    relevance = run_explainer(pm.explainers.get("gradient"), model, x, target)

    def batch(shared: dict | None = None) -> EvalBatch:
        return EvalBatch(model=model, x=x, target=target, relevance=relevance,
                         representation=rep, signals=signals, seed=0,
                         shared={} if shared is None else shared,
                         sonifier=pm.sonifiers.get("spectrogram-mask"))

    noop, b = NoOp(), batch()
    bare = fastest(lambda: noop.score(b), args.repeats)
    guarded = fastest(lambda: score_metric(noop, b, name="no-op", plugin="-", keeper=keeper),
                      args.repeats)
    per_call = guarded[0] - bare[0]
    print(f"{name} width {width:g}, x {tuple(x.shape)}: ModelKeeper {keep * 1e3:.2f} ms "
          f"once per panel; guard per metric call {per_call * 1e3:.2f} ms (fastest; "
          f"median {(guarded[1] - bare[1]) * 1e3:.2f} ms)", flush=True)
    shared: dict = {}
    for metric_name in MEMO_METRICS:
        metric = pm.metrics.get(metric_name)
        if rep in getattr(metric, "representations", (rep,)):
            metric.score(batch(shared))
    size = sum(t.nbytes for v in shared.values() for t in arrays_in(v))
    memo, full = MemoKeeper(shared), batch(shared)
    with_memo = fastest(lambda: score_metric(noop, full, name="no-op", plugin="-",
                                             keeper=keeper, memo=memo), args.repeats)
    print(f"  with the shared memo ({len(shared)} entries, {size / 1e6:.2f} MB): guard per "
          f"metric call {(with_memo[0] - bare[0]) * 1e3:.2f} ms (fastest; median "
          f"{(with_memo[1] - bare[1]) * 1e3:.2f} ms)", flush=True)
    for metric_name in args.metrics:
        metric = pm.metrics.get(metric_name)
        seconds, _ = fastest(lambda metric=metric: metric.score(batch()), 2)
        print(f"  {metric_name:28} {seconds * 1e3:9.1f} ms per call; guard "
              f"{100 * per_call / seconds:6.2f} %", flush=True)
    for explainer_name in [] if args.no_explainers else pm.explainers.names():
        explainer = pm.explainers.get(explainer_name)
        if explainer_name in PARAMS:
            skip = "spectrogram" if rep == "waveform" else "waveform"
            explainer = pm.configured("explainer", explainer_name, explainer_name, {
                k: v for k, v in PARAMS[explainer_name].items() if not k.startswith(skip)})
        run_explainer(explainer, model, x[:2], target[:2], keeper=keeper)  # warm-up
        full, _ = fastest(lambda e=explainer: run_explainer(e, model, x, target, keeper=keeper),
                          1)
        check, _ = fastest(lambda e=explainer: check_repeatable(e, model, x, target,
                                                                keeper=keeper), 1)
        print(f"  repeatability {explainer_name:25} {check * 1e3:8.0f} ms; the batch "
              f"{full * 1e3:8.0f} ms (+{100 * check / full:.0f} %)", flush=True)

if __name__ == "__main__":
    main()
