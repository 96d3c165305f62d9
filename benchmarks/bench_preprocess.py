"""Preprocessing throughput: clips per second, cold (decode + resample + pad) and cached,
for both model inputs.

    python benchmarks/bench_preprocess.py --data DIR [--batch 256] [--resampler fft]

Uses a private cache folder, so "cold" really decodes every clip.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audioxai_bench.data.dataset import load_audiomnist
from audioxai_bench.data.preprocess import DEFAULT_RESAMPLER, RESAMPLERS, to_model_input


def representations_rate(signals, batch: int) -> dict[str, float]:
    rates = {}
    for name in ("waveform", "spectrogram"):
        start = time.perf_counter()
        for i in range(0, len(signals), batch):
            to_model_input(torch.from_numpy(signals[i:i + batch]), name)
        rates[name] = len(signals) / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--resampler", choices=RESAMPLERS, default=DEFAULT_RESAMPLER)
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}; resampler {args.resampler}")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["AUDIOXAI_BENCH_CACHE"] = cache
        start = time.perf_counter()
        data = load_audiomnist(args.data, workers=args.workers, resampler=args.resampler)
        cold = time.perf_counter() - start
        n = len(data.relpaths)
        start = time.perf_counter()
        cached = load_audiomnist(args.data, resampler=args.resampler)
        signals = np.array(cached.signals)  # read the whole memory map
        warm = time.perf_counter() - start
        reps = representations_rate(signals, args.batch)
    print(f"clips: {n}")
    print(f"decode (read + resample + pad), cold: {n / cold:8.0f} clips/s  ({cold:.1f} s)")
    print(f"load from cache:                      {n / warm:8.0f} clips/s  ({warm:.2f} s)")
    for name, rate in reps.items():
        print(f"{name:12s} input from signals:      {rate:8.0f} clips/s")
        total_cold = 1 / (1 / (n / cold) + 1 / rate)
        total_warm = 1 / (1 / (n / warm) + 1 / rate)
        print(f"  {name} end to end: cold {total_cold:.0f} clips/s "
              f"(30 000 clips: {30_000 / total_cold:.0f} s), cached {total_warm:.0f} clips/s")


if __name__ == "__main__":
    main()
