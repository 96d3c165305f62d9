"""The explainer guard: every explainer call runs under the contract of DESIGN.md.

:func:`run_explainer` checks that the relevance has the input's shape and device and is finite,
and that the model's parameters, gradients, hooks and train/eval mode are as before. A
violation, an exception or an overrun time limit becomes an :class:`ExplainerError` naming the
plugin; the model is restored, so the caller's other work goes on.
"""

from __future__ import annotations

import time
from traceback import format_exception
from typing import Any

import torch
from torch import Tensor, nn

from audioxai_bench.errors import AudioXaiError, one_line


class ExplainerError(AudioXaiError):
    """An explainer broke its contract; ``kind`` is one of ``exception``, ``timeout``,
    ``model-changed``, ``input-changed``, ``type``, ``shape``, ``device``, ``non-finite``.

    The message names the explainer, its plugin and the reason, in one line; ``traceback`` is
    the plugin's formatted traceback when it raised (for ``--debug`` and the result record).
    """

    def __init__(self, explainer: str, plugin: str, kind: str, reason: str, seconds: float,
                 traceback: str | None = None):
        super().__init__(f"explainer {explainer!r} (plugin {plugin}): {reason}")
        self.explainer, self.plugin, self.kind = explainer, plugin, kind
        self.reason, self.seconds, self.traceback = reason, seconds, traceback


_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


class _ModelGuard:
    """A snapshot of everything an explainer must leave alone, able to put it back.

    Parameters and buffers are cloned (the only way to see an in-place change through
    ``.data``); a plugin's leftover module hooks are found through torch's per-module hook
    dictionaries, which have no public listing.
    """

    def __init__(self, model: nn.Module, x: Tensor, target: Tensor):
        self.model, self.x, self.target = model, x, target
        self.x_copy, self.target_copy = x.detach().clone(), target.detach().clone()
        self.grad_enabled = torch.is_grad_enabled()
        self.modules = [(m, m.training) for m in model.modules()]
        self.tensors = []
        self.hooks = []
        for module, _ in self.modules:
            own = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
            for key, p in own:
                grad = p.grad.detach().clone() if p.grad is not None else None
                self.tensors.append((module, key, p, p.detach().clone(), grad))
            for attr in _HOOK_DICTS:
                hooks = getattr(module, attr, None)
                if isinstance(hooks, dict):
                    self.hooks.append((hooks, set(hooks)))

    def restore(self) -> list[str]:
        """Put everything back; return what had changed (empty when nothing did)."""
        changed: list[str] = []
        if torch.is_grad_enabled() != self.grad_enabled:
            changed.append("switched autograd globally")
            torch.set_grad_enabled(self.grad_enabled)
        with torch.no_grad():
            self._restore_tensors(changed)
        return list(dict.fromkeys(changed))

    def _restore_tensors(self, changed: list[str]) -> None:
        if any(m.training != training for m, training in self.modules):
            changed.append("changed the train/eval mode")
            for module, training in self.modules:
                module.training = training
        for module, key, original, copy, grad in self.tensors:
            current = getattr(module, key, None)
            if current is not original:
                changed.append(f"replaced {key} of {type(module).__name__}")
                setattr(module, key, original)
            if not torch.equal(original, copy):
                changed.append(f"modified {key} of {type(module).__name__}")
                original.copy_(copy)
            now = original.grad
            if (grad is None) != (now is None) or (grad is not None and not torch.equal(grad, now)):
                changed.append(f"touched the .grad of {key} of {type(module).__name__}")
                original.grad = grad
        for hooks, keys in self.hooks:
            extra = set(hooks) - keys
            if extra:
                changed.append("left hooks on the model")
                for k in extra:
                    hooks.pop(k)
        if not torch.equal(self.x, self.x_copy) or not torch.equal(self.target, self.target_copy):
            changed.append("modified its input")
            self.x.copy_(self.x_copy)
            self.target.copy_(self.target_copy)


def check_batch(x: Tensor, target: Tensor) -> None:
    """Fail (the caller's error, not a plugin's) unless ``target`` is ``(B,)`` class indices."""
    if not isinstance(x, Tensor) or not isinstance(target, Tensor):
        raise AudioXaiError("explain: x and target must be tensors")
    if x.dim() < 2 or target.shape != (x.shape[0],):
        raise AudioXaiError(
            f"explain: target must have shape ({x.shape[0] if x.dim() else '?'},), "
            f"got {tuple(target.shape)} for x of shape {tuple(x.shape)}"
        )
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise AudioXaiError(f"explain: target must hold class indices, got {target.dtype}")


def run_explainer(
    explainer: Any,
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    *,
    time_limit_s: float | None = None,
    plugin: str = "unregistered",
) -> Tensor:
    """Call ``explainer.explain(model, x, target)`` and enforce the explainer contract.

    The result must be a floating tensor of exactly ``x.shape`` on ``x.device`` with finite
    values; the model's parameters, buffers, ``.grad``, hooks and train/eval mode, the global
    autograd switch and the input must be unchanged. Anything changed is put back before
    returning or raising, so a misbehaving plugin cannot spoil the methods that run after it.
    A running call cannot be interrupted, so ``time_limit_s`` is checked once it returns.

    Returns the relevance (detached). Raises :class:`ExplainerError` naming the explainer,
    ``plugin`` and the reason.
    """
    check_batch(x, target)
    name = str(getattr(explainer, "name", type(explainer).__name__))
    guard = _ModelGuard(model, x, target)
    error: tuple[str, str] | None = None
    trace = None
    start = time.perf_counter()
    try:
        result = explainer.explain(model, x, target)
    except Exception as exc:
        error = ("exception", f"raised {one_line(exc)}")
        trace = "".join(format_exception(exc))
        result = None
    seconds = time.perf_counter() - start
    changed = guard.restore()

    if error is None and changed:
        error = ("input-changed" if changed == ["modified its input"] else "model-changed",
                 "; ".join(changed) + " (restored)")
    if error is None and time_limit_s is not None and seconds > time_limit_s:
        error = ("timeout", f"took {seconds:.2f} s, over the limit of {time_limit_s:g} s")
    if error is None:
        error = _check_result(result, x)
    if error is not None:
        kind, reason = error
        if kind == "exception" and changed:
            reason += "; it also " + "; ".join(changed) + " (restored)"
        raise ExplainerError(name, plugin, kind, reason, seconds, trace)
    return result.detach()


def _check_result(result: Any, x: Tensor) -> tuple[str, str] | None:
    if not isinstance(result, Tensor):
        return "type", f"returned {type(result).__name__}, not a Tensor"
    if not result.dtype.is_floating_point:
        return "type", f"returned dtype {result.dtype}, not a floating type"
    if result.shape != x.shape:
        return "shape", f"returned shape {tuple(result.shape)}, expected {tuple(x.shape)}"
    if result.device != x.device:
        return "device", f"returned a tensor on {result.device}, expected {x.device}"
    # A sum is finite iff no value is NaN/Inf, unless it overflows: a cheap first test (an
    # elementwise isfinite costs more than the rest of the checks together on a CPU).
    if not bool(torch.isfinite(result.sum())):
        bad = int((~torch.isfinite(result)).sum())
        if bad:
            return "non-finite", f"returned {bad} NaN/Inf value(s) of {result.numel()}"
    return None
