"""Whether two tensors hold the same values, NaN equal to NaN, fast where it can be: the guard
compares a model's weights and a batch's tensors with their copies around every plugin call,
and the memo guard its entries (a bitwise comparison of CPU memory first, ``torch.equal`` else;
on a GPU all of a call's tensors at once, :func:`all_same`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

#: Integer dtypes by element size: CPU tensors are compared bit for bit through numpy, about 3×
#: faster than torch.equal on one thread.
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _bits(t: Tensor) -> np.ndarray | None:
    """A CPU tensor's values as one flat integer array in memory order (no copy), or None."""
    if t.device.type != "cpu" or t.element_size() not in _BITS or t.is_complex():
        return None
    if not t.is_contiguous():  # e.g. a transposed spectrogram batch: permute to memory order
        t = t.permute(sorted(range(t.dim()), key=lambda d: (-t.stride(d), -t.shape[d])))
        if not t.is_contiguous():
            return None
    return t.detach().reshape(-1).view(_BITS[t.element_size()]).numpy()


def same_values(a: Tensor, b: Tensor) -> bool:
    """Equal values, NaN equal to NaN (a buffer may legitimately hold NaN)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    fast = _bits(a), _bits(b)
    if a.stride() == b.stride() and fast[0] is not None and fast[1] is not None:
        if np.array_equal(*fast):
            return True
    elif torch.equal(a, b):
        return True
    if not (a.dtype.is_floating_point or a.dtype.is_complex):
        return False
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


def all_same(pairs: list[tuple[Tensor, Tensor]]) -> bool:
    """Whether every ``(a, b)`` pair holds the same values, with one host sync per device.

    ``same_values`` waits for the device once per pair (``torch.equal`` returns a Python bool),
    and the guard compares every weight and input around each plugin call: on a GPU those waits
    cost more than a gradient call (issue #12). Here the pairs on a device are compared bit for
    bit in one reduction (:func:`bits_differ`); CPU pairs as ``same_values`` does. False can
    also mean a NaN of another payload or a signed zero: callers then look pair by pair.
    """
    by_device: dict[torch.device, list[tuple[Tensor, Tensor]]] = {}
    for a, b in pairs:
        if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
            return False
        if a.device.type == "cpu" or a.element_size() not in _BITS:
            if not same_values(a, b):
                return False
        else:
            by_device.setdefault(a.device, []).append((a, b))
    return not any(bool(bits_differ(on_device)) for on_device in by_device.values())


def bits_differ(pairs: list[tuple[Tensor, Tensor]]) -> Tensor:
    """A boolean scalar on the pairs' device: whether any pair (same shape, dtype and device;
    elements of 1, 2, 4 or 8 bytes) differs in a bit. One concatenation per element size."""
    groups: dict[int, tuple[list[Tensor], list[Tensor]]] = {}
    for a, b in pairs:
        size = a.element_size()
        left, right = groups.setdefault(size, ([], []))
        left.append(a.detach().reshape(-1).view(_BITS[size]))
        right.append(b.detach().reshape(-1).view(_BITS[size]))
    return torch.stack([torch.ne(torch.cat(left), torch.cat(right)).any()
                        for left, right in groups.values()]).any()
