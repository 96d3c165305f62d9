"""Seeded randomness that depends on (seed, sample) only: the same for any chunking or device.

Every random choice of the engines (removal orders, noise baselines, random masks) comes from
here, so a sample's score does not depend on its batch-mates, the chunk size or the device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from audioxai_bench.api.metric import torch_seed

_MASK32 = 0xFFFFFFFF


def _mix(v: Tensor, bits: int) -> Tensor:
    """A ``bits``-bit integer hash (two xor-shift-multiply rounds) in int64 without overflow
    (``bits`` <= 36). Each step is a bijection modulo ``2**bits``: distinct in, distinct out.
    """
    mask = (1 << bits) - 1
    v = ((v ^ (v >> 16)) * 0x45D9F3B) & mask
    v = ((v ^ (v >> 16)) * 0x45D9F3B) & mask
    return v ^ (v >> 16)


def hashed_keys(seed: int, rows: Tensor, n: int, stream: int = 0) -> Tensor:
    """``(len(rows), n)`` pseudo-random 32-bit keys (int64) for global sample ``rows``.

    Counter-based: key (row, j) depends only on (seed, stream, row, j), so results do not
    depend on chunk size or device, and the keys of one row never repeat.
    """
    base = _mix(torch.tensor((seed * 7919 + stream * 104729) & _MASK32, device=rows.device), 32)
    row_key = _mix((rows.to(torch.int64) ^ base) & _MASK32, 32)
    cols = torch.arange(n, device=rows.device, dtype=torch.int64)
    # An odd multiplier below 2**27 keeps the product inside int64; col -> key is one-to-one.
    return _mix((row_key[:, None] * 0x45D9F3B + cols[None, :]) & _MASK32, 32)


def hashed_uniform(seed: int, rows: Tensor, n: int, stream: int = 0) -> Tensor:
    """Uniform floats in (0, 1) from :func:`hashed_keys` (float64)."""
    return (hashed_keys(seed, rows, n, stream).double() + 0.5) / 2.0**32


def random_perms(seed: int, rows: Tensor, n: int) -> Tensor:
    """``(len(rows), n)`` a random permutation of ``range(n)`` per global sample row.

    Each row draws from a CPU generator seeded by (seed, row): the order of a sample does not
    depend on the chunk size, the batch composition or the device. (One O(n) ``randperm`` per
    row; ranking random keys instead would cost a sort.)
    """
    generator = torch.Generator()
    perms = [torch.randperm(n, generator=generator.manual_seed(
                 torch_seed(seed * 1_000_003 + int(r)))) for r in rows.tolist()]
    return torch.stack(perms).to(rows.device)
