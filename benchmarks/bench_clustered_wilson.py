"""Coverage and width of :func:`audioxai_bench.stats.clustered_wilson` for speaker-clustered
accuracies, by the effective size taken where every clip is a hit (``clip_weight`` g: k^(1-g)
n^g for k speakers and n clips), beside the rule it replaced (k there, no cap elsewhere).

Each speaker's accuracy is drawn from a Beta distribution with mean p and concentration c
(c = 0.5: most speakers near 100 %, a few failing outright; c = 20: all near p), then each of
their clips is a hit with that chance; the interval covers where it holds p. Printed per
(speakers, clips per speaker, p, c): coverage of the old rule and of each g, the mean width,
and the share of samples where every clip is a hit. The rows near 100 % are where the old rule
was non-monotone (480 of 480 read [75.8 %, 100 %], 479 of 480 [98.6 %, 100 %]).

    OMP_NUM_THREADS=1 python benchmarks/bench_clustered_wilson.py            # about 2 minutes
    OMP_NUM_THREADS=1 python benchmarks/bench_clustered_wilson.py --reps 200 --weights 0.2
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy import stats as sps

from audioxai_bench.stats import clustered_wilson, wilson_interval


def before(hits: np.ndarray, clusters: np.ndarray, confidence: float = 0.95
           ) -> tuple[float, float]:
    """The rule before: the number of speakers where every clip is a hit, the design effect
    elsewhere (no Student's shrink where the speakers' proportions are all equal)."""
    n, p = len(hits), float(hits.mean())
    ids, which = np.unique(clusters, return_inverse=True)
    k = len(ids)
    sizes, sums = np.bincount(which, minlength=k), np.bincount(which, hits, minlength=k)
    v = k / (k - 1) * np.square(sums - p * sizes).sum() / n**2
    if p in (0.0, 1.0) or v <= 0:
        return wilson_interval(p, k if p in (0.0, 1.0) else n, confidence)
    q = 0.5 + confidence / 2
    shrink = (sps.norm.ppf(q) / sps.t.ppf(q, k - 1)) ** 2
    return wilson_interval(p, float(np.clip(p * (1 - p) / v, k, n)) * shrink, confidence)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=600)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.2, 0.25, 0.5])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    names = ["before", *(f"g={w:g}" for w in args.weights)]
    print(f"{'layout':>10} {'p':>5} {'c':>4} {'all hit':>7}  "
          + "  ".join(f"{n:>15}" for n in names) + "   (coverage / mean width)")
    worst = dict.fromkeys(names, math.inf)
    drop = dict.fromkeys(names[1:], 0.0)
    for k, size in ((6, 50), (12, 40)):
        speakers = np.repeat(np.arange(k), size)
        for p in (0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99, 0.995):
            for c in (0.5, 1.0, 2.0, 5.0, 20.0):
                rng = np.random.default_rng(args.seed)
                covered, width, perfect = dict.fromkeys(names, 0), dict.fromkeys(names, 0.0), 0
                for _ in range(args.reps):
                    accuracy = rng.beta(p * c, (1 - p) * c, size=k)
                    hits = (rng.random(k * size) < accuracy[speakers]).astype(float)
                    perfect += hits.min() == 1
                    intervals = [before(hits, speakers)] + [
                        clustered_wilson(hits, speakers, clip_weight=w)[:2] for w in args.weights]
                    for name, (low, high) in zip(names, intervals):
                        covered[name] += low <= p <= high
                        width[name] += high - low
                cover = {name: covered[name] / args.reps for name in names}
                for name in names:
                    worst[name] = min(worst[name], cover[name])
                for name in names[1:]:
                    drop[name] = max(drop[name], cover["before"] - cover[name])
                print(f"{k:>3} × {size:<4} {p:>5} {c:>4g} {perfect / args.reps:>7.2f}  "
                      + "  ".join(f"{cover[n]:>7.3f} {width[n] / args.reps:>6.3f} "
                                  for n in names), flush=True)
    print("lowest coverage: " + ", ".join(f"{n} {worst[n]:.3f}" for n in names))
    print("largest drop below the rule before: "
          + ", ".join(f"{n} {drop[n]:+.3f}" for n in names[1:]))


if __name__ == "__main__":
    main()
