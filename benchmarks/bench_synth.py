"""Throughput of the synthetic AudioMNIST generator.

    python benchmarks/bench_synth.py [--speakers N] [--reps R] [--workers W] [--seed S]

Generates N speakers (half of them female) x 10 digits x R repetitions into a temporary
folder, prints clips per second and the time extrapolated to the full 30 000-clip set, plus
the per-sex F0 and duration statistics of the generated clips (``--no-stats`` skips them).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from audioxai_bench.data.splits import female_speakers
from audioxai_bench.data.synth import estimate_f0, synthesize_dataset

AUDIOMNIST_FEMALE_IDS = sorted(female_speakers())

FULL_SET = 60 * 10 * 50


def _speakers(n: int) -> list[int]:
    """n speaker ids, alternating female and male AudioMNIST ids."""
    female = list(AUDIOMNIST_FEMALE_IDS)
    male = [s for s in range(1, 61) if s not in AUDIOMNIST_FEMALE_IDS]
    out: list[int] = []
    while len(out) < n and (female or male):
        for pool in (female, male):
            if pool and len(out) < n:
                out.append(pool.pop(0))
    return sorted(out)


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (0 if unknown)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _stats(root: Path, ids: list[int], max_clips: int = 400) -> None:
    import soundfile as sf
    from scipy import signal

    files = sorted(root.glob("*/*.wav"))
    rng = np.random.default_rng(0)
    if len(files) > max_clips:
        files = [files[i] for i in sorted(rng.choice(len(files), max_clips, replace=False))]
    by_sex: dict[str, dict[str, list[float]]] = {}
    for f in files:
        x, sr = sf.read(f, dtype="int16")
        sex = "female" if int(f.parent.name) in AUDIOMNIST_FEMALE_IDS else "male"
        d = by_sex.setdefault(sex, {"dur": [], "f0": []})
        d["dur"].append(len(x) / sr)
        d["f0"].append(estimate_f0(signal.resample_poly(x.astype(np.float64), 1, 3), sr // 3))
    for sex, d in sorted(by_sex.items()):
        dur, f0 = np.array(d["dur"]), np.array(d["f0"])
        print(
            f"{sex:6s}: {len(dur):4d} clips | duration mean {dur.mean():.3f} s "
            f"(min {dur.min():.3f}, max {dur.max():.3f}) | F0 median {np.nanmedian(f0):.0f} Hz "
            f"(p5 {np.nanpercentile(f0, 5):.0f}, p95 {np.nanpercentile(f0, 95):.0f})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speakers", type=int, default=12)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--workers", type=int, default=None, help="default: os.cpu_count()")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-stats", action="store_true")
    args = ap.parse_args()

    ids = _speakers(args.speakers)
    workers = args.workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        summary = synthesize_dataset(
            Path(tmp), ids, AUDIOMNIST_FEMALE_IDS, reps=args.reps, seed=args.seed,
            workers=args.workers,
        )
        wall = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
        rate = summary.n_clips / wall
        print(
            f"{summary.n_clips} clips ({len(ids)} speakers x 10 digits x {args.reps} reps, "
            f"{summary.audio_seconds:.0f} s of audio) in {wall:.1f} s with {workers} workers"
        )
        print(f"{rate:.1f} clips/s -> full set ({FULL_SET} clips) in about {FULL_SET / rate:.0f} s")
        if cpu > 0:
            per_clip = cpu / summary.n_clips
            print(
                f"CPU time {cpu:.1f} s ({1000 * per_clip:.2f} ms per clip, this process and its "
                f"workers) -> full set on {workers} otherwise idle cores in about "
                f"{FULL_SET * per_clip / workers:.0f} s"
            )
        if not args.no_stats:
            _stats(Path(tmp), ids)


if __name__ == "__main__":
    main()
