"""The guard of a batch's shared memo (:attr:`~audioxai_bench.api.metric.EvalBatch.shared`).

The memo holds what metrics compute once for every explainer on the same samples (the random
and amplitude deletion curves, the damage of removing a band): one metric's entry feeds the
scores of every later explainer, and those scores go to the score cache. A metric that wrote
into an entry would change other cells' numbers without failing anything (review F1: a plugin
halving the shared curves in place changed every later explainer's faithfulness gap, and the
score cache kept the wrong values).

:class:`MemoKeeper` keeps a copy of every entry once (entries are added, rarely replaced), and
around each metric call (:func:`~audioxai_bench.guard.score_metric`) compares the entries that
were there before with their copies, by value (a write through ``.data`` or numpy bumps no
version counter). What differs is put back in place (an earlier output that holds the same
tensor sees the clean values again); an entry whose structure changed is discarded, so the next
metric computes it again. An entry may be replaced only by the plugin that made it (the
sonification metrics keep the latest explainer's entry under one key); another plugin's
replacement is put back. Entries a failed call added are discarded: they may have been computed
while the call had the model changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .tensor_equality import all_same, same_values

#: Values compared by value rather than identity in an entry's structure.
_PLAIN = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device)


def _walk(value: Any, leaves: list[Any]) -> Any:
    """``value``'s structure, comparable with ``==`` (containers by type and identity, plain
    values by value, other objects by identity); its tensors and arrays appended to ``leaves``."""
    if isinstance(value, (Tensor, np.ndarray)):
        leaves.append(value)
        return id(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (tuple, list)):
        return (type(value), id(value), tuple(_walk(v, leaves) for v in value))
    if isinstance(value, dict):
        return (dict, id(value), tuple((k, _walk(v, leaves)) for k, v in value.items()))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value), id(value),
                tuple(_walk(getattr(value, f.name, None), leaves)
                      for f in dataclasses.fields(value)))
    return (type(value), id(value))


def arrays_in(value: Any) -> list[Any]:
    """Every tensor and numpy array in a memo entry (containers and dataclasses opened), as
    the guard compares them."""
    leaves: list[Any] = []
    _walk(value, leaves)
    return leaves


def _copy(leaf: Any) -> Any:
    return leaf.detach().clone() if isinstance(leaf, Tensor) else np.array(leaf, copy=True)


def _same(leaf: Any, copy: Any) -> bool:
    """Equal shape, type and values (NaN equal to NaN)."""
    if isinstance(leaf, np.ndarray):
        return (leaf.shape == copy.shape and leaf.dtype == copy.dtype
                and bool(np.array_equal(leaf, copy, equal_nan=leaf.dtype.kind in "fc")))
    return leaf.device == copy.device and same_values(leaf, copy)


def _put_back(leaf: Any, copy: Any) -> bool:
    """Put the kept values back in place; False where that cannot be done (a numpy array
    reshaped, retyped or made read-only)."""
    if isinstance(leaf, np.ndarray):
        if leaf.shape == copy.shape and leaf.dtype == copy.dtype and leaf.flags.writeable:
            np.copyto(leaf, copy)
            return True
        return False
    with torch.no_grad():
        if leaf.shape == copy.shape and leaf.dtype == copy.dtype and leaf.device == copy.device:
            leaf.copy_(copy)
        else:
            leaf.data = copy.clone()
    return True


@dataclasses.dataclass
class _Kept:
    """One entry as kept: the value object, its structure, its leaves and their copies."""

    value: Any
    structure: Any
    leaves: list[Any]
    copies: list[Any]
    owner: str | None  # the plugin whose call made it; None: made before the keeper saw it

    @classmethod
    def of(cls, value: Any, owner: str | None) -> _Kept:
        leaves: list[Any] = []
        structure = _walk(value, leaves)
        return cls(value, structure, leaves, [_copy(t) for t in leaves], owner)

    def changed(self, skip: frozenset[int] = frozenset()) -> tuple[bool, bool]:
        """``(differs, restored)``: whether the value differs from its copy, and whether what
        differs was put back in place (not where the structure changed, or a leaf cannot be
        written back). Leaves whose ``id`` is in ``skip`` are left out (the call's inputs,
        which the guard compares and puts back itself: the sonification metrics keep the
        batch's relevance here)."""
        leaves: list[Any] = []
        if _walk(self.value, leaves) != self.structure:
            return True, False
        compared = [(leaf, copy) for leaf, copy in zip(leaves, self.copies, strict=True)
                    if id(leaf) not in skip]
        if all_same([p for p in compared if isinstance(p[0], Tensor)]) and all(
                _same(*p) for p in compared if not isinstance(p[0], Tensor)):
            return False, True  # the common case: on a GPU one wait for the device, not one a leaf
        differ, restored = False, True
        for leaf, copy in compared:
            if not _same(leaf, copy):
                differ = True
                restored = _put_back(leaf, copy) and restored
        return differ, restored


class MemoKeeper:
    """Reference copies of one shared memo's entries; see the module docstring.

    The runner keeps one per panel and batch, so an entry is copied once and each metric call
    costs a comparison. :meth:`before` is called just before a metric call, :meth:`after` just
    after it.
    """

    def __init__(self, shared: dict[Any, Any]):
        self.shared = shared
        self.kept: dict[Any, _Kept] = {}

    def before(self) -> dict[Any, Any]:
        """The memo's entries now (key to value object); entries not kept yet are copied."""
        for key, value in self.shared.items():
            kept = self.kept.get(key)
            if kept is None or kept.value is not value:
                self.kept[key] = _Kept.of(value, None if kept is None else kept.owner)
        return dict(self.shared)

    def after(self, before: dict[Any, Any], plugin: str, *, failed: bool = False,
              inputs: Sequence[Tensor] = ()) -> list[str]:
        """Compare the memo with ``before`` after a call of ``plugin``; put back or discard
        what the call changed and return what it was (empty when nothing). With ``failed``
        (the call failed for another reason) the entries it added or replaced are discarded.
        ``inputs``: the call's input tensors, which the caller compares itself."""
        changed: list[str] = []
        skip = frozenset(map(id, inputs))
        renewed: dict[Any, bool] = {}  # key -> whether its old value is broken
        for key, value in before.items():
            kept = self.kept[key]
            # the entry as it was, whether or not the memo still holds it
            differs, restored = kept.changed(skip)
            broken = differs and not restored
            if differs:
                changed.append(f"modified {_label(key)}")
            now = self.shared.get(key, kept)
            if now is kept:  # removed: harmless, the next metric computes it again
                del self.kept[key]
                continue
            if now is not value:
                if kept.owner in (None, plugin):  # its owner's new value: kept if the call
                    renewed[key] = broken  # broke nothing (decided below)
                    continue
                if not failed:
                    changed.append(f"replaced {_label(key)}, made by {kept.owner}")
                self.shared[key] = value
            if broken:  # cannot be put back in place: computed again when next needed
                del self.shared[key], self.kept[key]
        spoilt = failed or bool(changed)  # what the call made may rest on what it broke
        for key, broken in renewed.items():
            if not spoilt:
                self.kept[key] = _Kept.of(self.shared[key], plugin)
            elif broken:
                del self.shared[key], self.kept[key]
            else:
                self.shared[key] = self.kept[key].value
        for key in self.shared.keys() - before.keys():
            if spoilt:  # made by a call that broke the contract: not kept
                del self.shared[key]
            else:
                self.kept[key] = _Kept.of(self.shared[key], plugin)
        return list(dict.fromkeys(changed))


def _label(key: Any) -> str:
    """A memo key in a message: its first part (the kind of entry), e.g. ``'band-stop'``."""
    head = key[0] if isinstance(key, tuple) and key else key
    return repr(head)
