"""The plugin guard: every explainer, metric and sonifier call runs under the plugin contract
(:mod:`audioxai_bench.api`).

A plugin runs inside the benchmark's process and receives the live model, so anything it leaves
behind would change what the model computes for every later cell. :func:`guarded_call` runs one
plugin call and afterwards compares, against a reference, everything that decides what the model
computes:

- the model (:class:`ModelKeeper`): parameter and buffer values, dtypes, devices, ``requires_grad``
  and ``.grad``; which parameters, buffers and submodules it holds (by identity, so a replaced
  submodule is seen), each module's class, train/eval mode, hooks and other attributes;
- torch's global state (:class:`GlobalState`): the autograd switch, the default dtype, the global
  module hooks (``torch.nn.modules.module._global_*``), deterministic-algorithm mode, the thread
  count, and the cuDNN/TF32 switches;
- the call's input tensors, and for a metric the entries of the batch's shared memo
  (:class:`~audioxai_bench.shared_memo.MemoKeeper`): other explainers' cells read them.

Whatever changed is put back and the call fails with a :class:`PluginCallError` that names the
plugin and says what it changed, so the cell is recorded as failed and later cells are
unaffected. An exception of the plugin fails the call too; ``SystemExit``, ``GeneratorExit`` and
other ``BaseException`` of a plugin become a failure ("raised SystemExit(0)") instead of ending
the run. ``KeyboardInterrupt`` is the exception: it is Ctrl-C from the user (it cannot be told
apart from a plugin raising it), so the state is restored and it propagates; the command line
then says how to resume.

A time limit is enforced, the plugin's declared ``time_limit_s`` or else the run's
``plugin_time_limit_s`` (:data:`DEFAULT_PLUGIN_TIME_LIMIT_S`): on the main thread of a platform
with ``SIGALRM`` a timer raises :class:`PluginTimeout` inside the call, which stops Python-level
work (a sleep, a loop, between two torch operations; a single long native operation finishes
first). Elsewhere the call cannot be stopped and the limit is checked once it returns.

:func:`run_explainer` adds the explainer's result checks; :func:`check_repeatable` the promise
that repeated calls give the same relevance; :func:`score_metric` guards ``metric.score(batch)``.
:mod:`audioxai_bench.guarded` wraps the sonifier (and the API's explainer) a metric calls.
"""

from __future__ import annotations

import math
import operator
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
import torch.nn.modules.module as torch_module
from torch import Tensor, nn

from audioxai_bench.api.metric import MetricOutput
from audioxai_bench.errors import AudioXaiError, one_line, traceback_text
from audioxai_bench.shared_memo import MemoKeeper
from audioxai_bench.tensor_equality import all_same, same_values

_T = TypeVar("_T")


class PluginCallError(AudioXaiError):
    """A plugin call broke the contract; ``kind`` is one of ``exception``, ``timeout``,
    ``model-changed``, ``input-changed``, ``memo-changed``, ``nondeterministic``, ``type``,
    ``shape``, ``device``, ``non-finite``, ``range``.

    ``role`` is ``explainer``, ``metric`` or ``sonifier``. The message names the role, the
    object, its plugin and the reason, in one line; ``traceback`` is the plugin's formatted
    traceback when it raised (for ``--debug`` and the result record).
    """

    def __init__(self, role: str, name: str, plugin: str, kind: str, reason: str,
                 seconds: float, traceback: str | None = None):
        super().__init__(f"{role} {name!r} (plugin {plugin}): {reason}")
        self.role, self.name, self.plugin, self.kind = role, name, plugin, kind
        self.reason, self.seconds, self.traceback = reason, seconds, traceback


class ExplainerError(PluginCallError):
    """An explainer broke its contract (see :class:`PluginCallError`); ``explainer`` is its name."""

    def __init__(self, explainer: str, plugin: str, kind: str, reason: str, seconds: float,
                 traceback: str | None = None):
        super().__init__("explainer", explainer, plugin, kind, reason, seconds, traceback)
        self.explainer = explainer


class PluginTimeout(TimeoutError):
    """Raised inside a plugin call by the timer of an enforced time limit (``alarm``: whose)."""

    def __init__(self, alarm: _Alarm):
        super().__init__(f"stopped after {alarm.limit:g} s")
        self.alarm = alarm


# --- the model ---------------------------------------------------------------------------------

#: Module attributes compared by value rather than identity (a re-assigned equal number is fine).
_PLAIN = (bool, int, float, str, bytes, tuple, frozenset, type(None), torch.dtype, torch.device)


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, Tensor) and isinstance(b, Tensor):  # e.g. weight_norm's recomputed weight
        return a.device == b.device and same_values(a, b)
    if type(a) is type(b) and isinstance(a, _PLAIN):
        try:
            return bool(a == b)
        except Exception:  # a tuple holding something odd
            return False
    return False


class _ModuleState:
    """One module's structure: class, mode, attributes, and its parameter/buffer/submodule/hook
    dictionaries (shallow copies: the objects themselves are compared by identity)."""

    __slots__ = ("module", "path", "cls", "attrs", "dicts", "_fast")

    def __init__(self, module: nn.Module, path: str):
        self.module, self.path, self.cls = module, path, type(module)
        self.attrs = dict(vars(module))
        # _parameters, _buffers, _modules and every hook dictionary: their contents matter
        self.dicts = {k: dict(v) for k, v in self.attrs.items() if isinstance(v, dict)}
        self._fast = (tuple(self.attrs), tuple(self.attrs.values()),
                      [(k, tuple(d), tuple(d.values())) for k, d in self.dicts.items()])

    def unchanged(self) -> bool:
        """The common case, checked fast: the same objects under the same names everywhere."""
        now = vars(self.module)
        keys, values, dicts = self._fast
        if (type(self.module) is not self.cls or len(now) != len(keys)
                or not all(map(operator.is_, now.values(), values)) or tuple(now) != keys):
            return False
        for key, names, objects in dicts:
            d = now[key]
            if len(d) != len(names) or not all(map(operator.is_, d.values(), objects)) or (
                    names and tuple(d) != names):
                return False
        return True

    @property
    def label(self) -> str:
        """``features.0 (Conv1d)``; the class alone for the model itself."""
        return f"{self.path} ({self.cls.__name__})" if self.path else self.cls.__name__

    def restore(self, changed: list[str], added: dict[str, list[str]]) -> None:
        """Put the module back; what changed goes to ``changed``, the label of the module under
        each attribute it gained to ``added`` (summed up over modules by the keeper)."""
        if self.unchanged():
            return
        m, label = self.module, self.label
        if type(m) is not self.cls:
            changed.append(f"changed the class of {label} to {type(m).__name__}")
            m.__class__ = self.cls
        now = vars(m)
        if now.get("training") != self.attrs.get("training"):
            changed.append("changed the train/eval mode")
        for key in now.keys() - self.attrs.keys():
            added.setdefault(f"added attribute {key!r} to", []).append(label)
            del now[key]
        for key, value in self.attrs.items():
            if key not in now or not _same(now[key], value):
                if key != "training":
                    changed.append(f"replaced attribute {key!r} of {label}")
                now[key] = value
        for key, saved in self.dicts.items():
            current = now[key]
            if current.keys() == saved.keys() and all(current[k] is v for k, v in saved.items()):
                continue
            changed.append(self._describe(key, current, saved, label))
            current.clear()
            current.update(saved)

    def _describe(self, key: str, current: dict, saved: dict, label: str) -> str:
        if "hooks" in key:
            return "left hooks on the model" if current.keys() - saved.keys() else (
                f"changed the hooks of {label}")
        what = {"_parameters": "parameter", "_buffers": "buffer",
                "_modules": "submodule"}.get(key, f"entry of {key}")
        prefix = f"{self.path}." if self.path else ""
        for name in saved:
            if name not in current:
                return f"removed {what} {prefix}{name}"
            if current[name] is not saved[name]:
                if what == "submodule":
                    old, new = type(saved[name]).__name__, type(current[name]).__name__
                    return f"replaced submodule {prefix}{name} ({old} by {new})"
                return f"replaced {name} of {label}"
        added = next(iter(current.keys() - saved.keys()))
        return f"added {what} {prefix}{added}"


class ModelKeeper:
    """A reference copy of everything about a model that a plugin must leave alone.

    Taken once (values are cloned: an in-place write through ``.data`` bumps no version
    counter, so only a comparison with a copy sees every change); :meth:`restore` compares the
    model with it and puts back what differs. The runner keeps one per panel, so a plugin call
    costs a comparison, not a copy. The model must not be changed on purpose while a keeper
    holds it: the keeper would put it back.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.modules = [_ModuleState(m, path) for path, m in model.named_modules()]
        #: (name as in messages, tensor, its copy, requires_grad, copy of .grad)
        self.tensors: list[tuple[str, Tensor, Tensor, bool, Tensor | None]] = []
        for state in self.modules:
            for key in ("_parameters", "_buffers"):
                for name, t in state.dicts[key].items():
                    if t is None:
                        continue
                    grad = t.grad.detach().clone() if t.grad is not None else None
                    self.tensors.append((f"{name} of {state.label}", t, t.detach().clone(),
                                         t.requires_grad, grad))

    def unchanged(self, also: Sequence[tuple[Tensor, Tensor]] = ()) -> bool:
        """The common case, checked fast: every module as kept and every tensor (and each of
        ``also``'s pairs) with its values, in one host sync per device (``all_same``)."""
        if not all(state.unchanged() for state in self.modules):
            return False
        pairs = list(also)
        for _, t, copy, requires_grad, grad in self.tensors:
            now = t.grad
            if t.requires_grad != requires_grad or (grad is None) != (now is None):
                return False
            pairs.append((t, copy))
            if grad is not None:
                pairs.append((now, grad))
        return all_same(pairs)

    def restore(self) -> list[str]:
        """Put the model back as it was kept; return what had changed (empty when nothing)."""
        changed: list[str] = []
        found: dict[str, list[str]] = {}  # an attribute left on every layer: one clause
        for state in self.modules:
            state.restore(changed, found)
        with torch.no_grad():
            for owner, t, copy, requires_grad, grad in self.tensors:
                if t.shape != copy.shape or t.dtype != copy.dtype or t.device != copy.device:
                    found.setdefault("changed the shape, dtype or device of", []).append(owner)
                    t.data = copy.clone()
                elif not same_values(t, copy):
                    found.setdefault("modified", []).append(owner)
                    t.copy_(copy)
                if t.requires_grad != requires_grad:
                    found.setdefault("switched requires_grad of", []).append(owner)
                    t.requires_grad_(requires_grad)
                now = t.grad
                if (grad is None) != (now is None) or (
                        grad is not None and not same_values(grad, now)):
                    found.setdefault("touched the .grad of", []).append(owner)
                    t.grad = None if grad is None else grad.clone()
        for verb, owners in found.items():  # the first three by name: one line stays short
            more = f" and {len(owners) - 3} more" if len(owners) > 3 else ""
            many = f" {len(owners)} modules:" if more and verb.startswith("added") else ""
            changed.append(f"{verb}{many} {', '.join(owners[:3])}{more}")
        return changed


# --- torch's global state ----------------------------------------------------------------------

def _set_deterministic(value: tuple[bool, bool]) -> None:
    torch.use_deterministic_algorithms(value[0], warn_only=value[1])


def _cudnn(attr: str) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    return (lambda: getattr(torch.backends.cudnn, attr),
            lambda v: setattr(torch.backends.cudnn, attr, v))


#: (what a change is called, getter, setter) of every global switch that changes what or how a
#: model computes.
_SWITCHES: tuple[tuple[str, Callable[[], Any], Callable[[Any], None]], ...] = (
    ("switched autograd globally", torch.is_grad_enabled, torch.set_grad_enabled),
    ("changed the default dtype", torch.get_default_dtype, torch.set_default_dtype),
    ("changed torch.use_deterministic_algorithms",
     lambda: (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled()), _set_deterministic),
    ("changed the number of torch threads", torch.get_num_threads, torch.set_num_threads),
    ("changed the float32 matmul precision", torch.get_float32_matmul_precision,
     torch.set_float32_matmul_precision),
    ("changed torch.backends.cudnn.enabled", *_cudnn("enabled")),
    ("changed torch.backends.cudnn.benchmark", *_cudnn("benchmark")),
    ("changed torch.backends.cudnn.deterministic", *_cudnn("deterministic")),
    ("changed torch.backends.cudnn.allow_tf32", *_cudnn("allow_tf32")),
    ("changed anomaly detection", torch.is_anomaly_enabled, torch.set_anomaly_enabled),
)

#: torch's global module hooks (forward, backward, registration), as dictionaries.
_GLOBAL_HOOKS = tuple(sorted(
    name for name, value in vars(torch_module).items()
    if name.startswith("_global_") and "hook" in name and isinstance(value, dict)))


class GlobalState:
    """torch's global switches and global module hooks at one moment, able to put them back."""

    def __init__(self) -> None:
        self.switches = [getter() for _, getter, _ in _SWITCHES]
        self.hooks = {name: dict(getattr(torch_module, name)) for name in _GLOBAL_HOOKS}
        self.full_backward = getattr(torch_module, "_global_is_full_backward_hook", None)

    def restore(self) -> list[str]:
        """Put everything back; return what had changed."""
        changed = []
        for (label, getter, setter), value in zip(_SWITCHES, self.switches, strict=True):
            if getter() != value:
                changed.append(label)
                setter(value)
        for name, saved in self.hooks.items():
            current = getattr(torch_module, name)
            if current.keys() != saved.keys() or any(current[k] is not v
                                                     for k, v in saved.items()):
                changed.append(f"left global module hooks ({name.strip('_')})")
                current.clear()
                current.update(saved)
        if getattr(torch_module, "_global_is_full_backward_hook", None) is not self.full_backward:
            torch_module._global_is_full_backward_hook = self.full_backward
        return list(dict.fromkeys(changed))


# --- the time limit ----------------------------------------------------------------------------

def _can_interrupt() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


class _Alarm:
    """Raises :class:`PluginTimeout` in the main thread once ``limit`` seconds have passed, and
    again every ``limit/10`` (at least 50 ms, at most 1 s) in case the plugin swallowed it.

    An alarm that was already running (a guarded call inside another) is put back with the time
    it had left.
    """

    def __init__(self, limit: float):
        self.limit, self.active = limit, False

    def start(self) -> None:
        self.started = time.monotonic()
        previous = signal.signal(signal.SIGALRM, self._fire)
        self.previous = signal.SIG_DFL if previous is None else previous  # None: set from C
        self.active = True
        self.outer = signal.setitimer(signal.ITIMER_REAL, self.limit,
                                      min(1.0, max(self.limit / 10, 0.05)))

    def _fire(self, signum: int, frame: Any) -> None:
        # never inside the guard's own code (its restore, or stop() itself): only in the plugin's
        if self.active and (frame is None or frame.f_code.co_filename != __file__):
            raise PluginTimeout(self)

    def stop(self) -> None:
        """Idempotent; disarms first, so no alarm of ours fires after it returns."""
        if not self.active:
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        self.active = False
        delay, interval = self.outer
        if delay > 0:
            left = max(delay - (time.monotonic() - self.started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


#: Seconds a run gives one plugin call whose plugin declares no limit (a definition's
#: ``plugin_time_limit_s``): long enough for any method at paper scale on a CPU, so that only a
#: plugin that hangs meets it (review P10: a hang stalled a run for good).
DEFAULT_PLUGIN_TIME_LIMIT_S = 1800.0
#: Where a timeout's limit is set, said with it, so the user knows what to raise.
LIMIT_FROM = " (the plugin's time_limit_s, else the run's plugin_time_limit_s or --time-limit)"


def time_limit_of(obj: Any, default: float | None = None) -> float | None:
    """The ``time_limit_s`` a plugin object declares, else ``default`` (None: no limit); a bad
    declared value is an error."""
    limit = getattr(obj, "time_limit_s", None)
    if limit is None:
        return default
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not (
            math.isfinite(limit) and limit > 0):
        raise AudioXaiError(f"{getattr(obj, 'name', type(obj).__name__)!r}: time_limit_s must be "
                            f"a positive number of seconds, got {limit!r}")
    return float(limit)


# --- one guarded call --------------------------------------------------------------------------

def guarded_call(
    role: str,
    name: str,
    plugin: str,
    model: nn.Module | None,
    fn: Callable[[], _T],
    *,
    time_limit_s: float | None = None,
    keeper: ModelKeeper | None = None,
    inputs: Sequence[Tensor] = (),
    reraise: bool = False,
) -> _T:
    """Run ``fn()`` (a call into plugin ``name`` of ``plugin``, a ``role``) under the guard.

    ``model`` is compared with ``keeper`` (taken now when None, which costs a copy of its
    state), torch's global state and ``inputs`` with their values before the call; what
    changed is restored. ``time_limit_s`` is enforced (see the module docstring).

    Raises :class:`PluginCallError` (:class:`ExplainerError` for explainers) for a change, an
    overrun limit, or an exception of the plugin; with ``reraise`` an ordinary ``Exception``
    that changed nothing propagates as it is (the runner records a metric's own exception
    text). ``KeyboardInterrupt`` propagates after the state is restored.
    """
    if keeper is None and model is not None:
        keeper = ModelKeeper(model)
    before = GlobalState()
    copies = [(t, t.detach().clone()) for t in inputs]  # the same layout: a fast comparison
    alarm = _Alarm(time_limit_s) if time_limit_s is not None and _can_interrupt() else None
    error: tuple[str, str] | None = None
    caught: BaseException | None = None
    result: Any = None
    start = time.perf_counter()
    try:
        if alarm is not None:
            alarm.start()
        result = fn()
        if alarm is not None:
            alarm.stop()
    except BaseException as exc:  # noqa: BLE001 - a plugin's SystemExit must not end the run
        if alarm is not None:
            alarm.stop()
        if isinstance(exc, PluginTimeout) and exc.alarm is alarm:
            error = ("timeout", "")
        elif isinstance(exc, (KeyboardInterrupt, PluginTimeout)):  # the user's, or an outer call's
            _restore(keeper, before, copies)
            raise
        else:
            caught = exc
            error = ("exception", f"raised {_describe_exception(exc)}")
    seconds = time.perf_counter() - start
    changed = _restore(keeper, before, copies)

    if error is not None and time_limit_s is not None and seconds >= time_limit_s:
        then = "" if caught is None else f"; it then raised {_describe_exception(caught)}"
        how = "stopped after" if alarm is not None else "took"
        error = ("timeout", f"timed out: {how} {seconds:.2f} s, over the limit of "
                            f"{time_limit_s:g} s{LIMIT_FROM}{then}")
    if error is None and changed:
        only_input = all(c == "modified its input" for c in changed)
        error = ("input-changed" if only_input else "model-changed",
                 "; ".join(changed) + " (restored)")
    if error is None and time_limit_s is not None and seconds > time_limit_s:
        how = " (this call could not be interrupted)" if alarm is None else ""
        error = ("timeout", f"timed out: took {seconds:.2f} s, over the limit of "
                            f"{time_limit_s:g} s{LIMIT_FROM}{how}")
    if error is None:
        return result
    kind, reason = error
    if kind == "exception" and reraise and not changed and isinstance(caught, Exception):
        raise caught
    if kind in ("exception", "timeout") and changed:
        reason += "; it also " + "; ".join(changed) + " (restored)"
    trace = traceback_text(caught) if caught is not None else None
    if role == "explainer":
        raise ExplainerError(name, plugin, kind, reason, seconds, trace) from caught
    raise PluginCallError(role, name, plugin, kind, reason, seconds, trace) from caught


def _describe_exception(exc: BaseException) -> str:
    if isinstance(exc, Exception):
        return one_line(exc)
    return f"{type(exc).__name__}({', '.join(map(repr, exc.args))})"  # SystemExit(0)


def _restore(keeper: ModelKeeper | None, before: GlobalState,
             copies: list[tuple[Tensor, Tensor]]) -> list[str]:
    changed = before.restore()  # first: autograd back on, the default dtype back
    if keeper.unchanged(also=copies) if keeper is not None else all_same(copies):
        return changed
    if keeper is not None:
        changed = keeper.restore() + changed
    with torch.no_grad():
        for t, copy in copies:
            if t.shape != copy.shape or t.dtype != copy.dtype or not same_values(t, copy):
                changed.append("modified its input")
                if t.shape == copy.shape and t.dtype == copy.dtype:
                    t.copy_(copy)
    return list(dict.fromkeys(changed))


# --- explainers --------------------------------------------------------------------------------

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


#: This thread's guarded explainer calls in progress (:func:`explaining_depth`).
_calls = threading.local()


def explaining_depth() -> int:
    """How many :func:`run_explainer` calls this thread is inside: an explainer call made
    within one (the runtime metric's timed repeats) is covered by that call's guard."""
    return getattr(_calls, "explainer", 0)


def run_explainer(
    explainer: Any,
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    *,
    time_limit_s: float | None = None,
    plugin: str = "unregistered",
    keeper: ModelKeeper | None = None,
) -> Tensor:
    """Call ``explainer.explain(model, x, target)`` under :func:`guarded_call` and check the result.

    The result must be a plain, dense floating tensor of exactly ``x.shape`` on ``x.device``
    with finite values; the model, torch's global state and the input must be unchanged
    (what changed is put back, so a misbehaving plugin cannot spoil the methods that run after
    it).
    ``time_limit_s`` is enforced where possible (see the module docstring). ``keeper`` is the
    model's reference state when the caller keeps one (else it is taken for this call).

    Returns the relevance (detached). Raises :class:`ExplainerError` naming the explainer,
    ``plugin`` and the reason.
    """
    check_batch(x, target)
    name = str(getattr(explainer, "name", type(explainer).__name__))
    start = time.perf_counter()
    depth = explaining_depth()
    _calls.explainer = depth + 1
    try:
        result = guarded_call("explainer", name, plugin, model,
                              lambda: explainer.explain(model, x, target),
                              time_limit_s=time_limit_s, keeper=keeper, inputs=(x, target))
    finally:
        _calls.explainer = depth
    problem = _check_result(result, x)
    if problem is not None:
        raise ExplainerError(name, plugin, *problem, time.perf_counter() - start)
    return result.detach()


def _check_result(result: Any, x: Tensor) -> tuple[str, str] | None:
    if not isinstance(result, Tensor):
        return "type", f"returned {type(result).__name__}, not a Tensor"
    if type(result) is not Tensor and not isinstance(result, nn.Parameter):
        return "type", (f"returned a {type(result).__name__}, a Tensor subclass (its own "
                        "operations could change what the metrics compute); return a plain "
                        "Tensor")
    if result.layout != torch.strided:  # sparse: most metrics' operations fail on it
        return "type", (f"returned a tensor of layout {result.layout}, not a dense (strided) "
                        "one; return .to_dense()")
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


#: Samples the repeatability check explains twice.
REPEAT_SAMPLES = 2


def declares_nondeterministic(explainer: Any) -> bool:
    """Whether an explainer says ``deterministic = False`` (its relevance varies by design)."""
    return getattr(explainer, "deterministic", True) is False


def explainer_notes(explainer: Any) -> dict[str, Any]:
    """Record fields about what the guard could not check for ``explainer``: ``deterministic:
    false`` for one that declares it (its repeatability was not checked)."""
    return {"deterministic": False} if declares_nondeterministic(explainer) else {}


def check_repeatable(
    explainer: Any,
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    *,
    plugin: str = "unregistered",
    keeper: ModelKeeper | None = None,
    time_limit_s: float | None = None,
) -> None:
    """Explain the first :data:`REPEAT_SAMPLES` samples twice; fail unless the two agree.

    Agreement allows float noise (|a - b| <= 1e-4 |b| + 1e-4 max|b|, for GPU kernels that sum in
    varying order), not a redraw of random numbers. Skipped for an explainer that declares
    ``deterministic = False``. Raises :class:`ExplainerError` (kind ``nondeterministic``).
    """
    if declares_nondeterministic(explainer):
        return
    xs, ts = x[:REPEAT_SAMPLES], target[:REPEAT_SAMPLES]
    calls = [run_explainer(explainer, model, xs, ts, plugin=plugin, keeper=keeper,
                           time_limit_s=time_limit_s) for _ in range(2)]
    first, second = (c.double() for c in calls)
    scale = float(second.abs().max()) if second.numel() else 0.0
    if torch.allclose(first, second, rtol=1e-4, atol=1e-4 * scale):
        return
    worst = float((first - second).abs().max())
    name = str(getattr(explainer, "name", type(explainer).__name__))
    raise ExplainerError(
        name, plugin, "nondeterministic",
        f"not repeatable: two calls on the same {len(xs)} samples differ by up to {worst:.3g} "
        f"(largest value {scale:.3g}); seed any randomness on every call, or declare "
        f"deterministic = False", 0.0)


# --- metrics -----------------------------------------------------------------------------------

def summarize_metric(metric: Any, output: MetricOutput, *, name: str, plugin: str,
                     model: nn.Module, keeper: ModelKeeper | None = None,
                     default_limit_s: float | None = None, **options: Any) -> dict[str, Any]:
    """The record fields of ``metric``'s merged ``output``
    (:func:`~audioxai_bench.evaluation.summary.summarize`, which calls the metric's own
    ``interval()`` and ``summarize()``) under :func:`guarded_call`, as its ``score`` runs:
    limited in time, the model checked. ``options``: ``summarize``'s (seed, confidence)."""
    from audioxai_bench.evaluation.summary import summarize  # scipy: not at the guard's import
    return guarded_call("metric", name, plugin, model,
                        lambda: summarize(metric, output, **options),
                        time_limit_s=time_limit_of(metric, default_limit_s), keeper=keeper,
                        reraise=True)


def score_metric(metric: Any, batch: Any, *, name: str, plugin: str,
                 keeper: ModelKeeper | None = None, default_limit_s: float | None = None,
                 memo: MemoKeeper | None = None) -> Any:
    """``metric.score(batch)`` under :func:`guarded_call`: the batch's model, its tensors, the
    batch object's fields and the entries of its shared memo are checked (the runner hands one
    batch to many metrics, and the memo to every explainer's). A metric's own exception that
    changed nothing propagates unchanged. The time limit is the metric's ``time_limit_s``, else
    ``default_limit_s``. ``memo`` keeps ``batch.shared``'s reference copies when the caller
    keeps them (else they are taken for this call)."""
    fields = dict(vars(batch))
    tensors = [v for v in fields.values() if isinstance(v, Tensor)]
    if memo is None and batch.shared is not None:
        memo = MemoKeeper(batch.shared)
    before = memo.before() if memo is not None else {}

    def score() -> Any:
        try:
            return metric.score(batch)
        finally:
            now = vars(batch)
            if any(now.get(k) is not v for k, v in fields.items()):
                now.update(fields)
                raise _BatchChanged()

    replaced = "replaced a field of its EvalBatch (restored)"
    try:
        output = guarded_call("metric", name, plugin, batch.model, score,
                              time_limit_s=time_limit_of(metric, default_limit_s),
                              keeper=keeper, inputs=tensors,
                              reraise=True)
    except BaseException as exc:
        spoilt = memo.after(before, plugin, failed=True, inputs=tensors) if memo is not None else []
        if not isinstance(exc, Exception):  # Ctrl-C: restored, propagates
            raise
        batch_changed = _batch_change(exc, replaced)
        if not spoilt and batch_changed is None:
            raise  # the metric's own exception, nothing changed: as it was
        kind, first = batch_changed or ((exc.kind, exc.reason) if isinstance(exc, PluginCallError)
                                        else ("exception", f"raised {_describe_exception(exc)}"))
        if spoilt:
            first += f"; it also {_memo_change(spoilt)}"
        raise PluginCallError("metric", name, plugin, kind, first, getattr(exc, "seconds", 0.0),
                              getattr(exc, "traceback", None)) from (exc if spoilt else None)
    spoilt = memo.after(before, plugin, inputs=tensors) if memo is not None else []
    if spoilt:
        raise PluginCallError("metric", name, plugin, "memo-changed", _memo_change(spoilt), 0.0)
    problem = _output_problem(output, batch.size, getattr(metric, "bounds", None),
                              getattr(metric, "clip_extras", ()))
    if problem:
        raise PluginCallError("metric", name, plugin, *problem, 0.0)
    return output


def _memo_change(changed: list[str]) -> str:
    """What a metric did to the shared memo, in its cell's error."""
    return f"changed the shared memo: {', '.join(changed)} (restored)"


def _batch_change(exc: Exception, replaced: str) -> tuple[str, str] | None:
    """``(kind, reason)`` of a metric call that replaced a field of its batch (the guard raised
    :class:`_BatchChanged`, alone or wrapped with what else changed), else None."""
    if isinstance(exc, _BatchChanged):
        return "input-changed", replaced
    if isinstance(exc, PluginCallError) and isinstance(exc.__cause__, _BatchChanged):
        return "input-changed", exc.reason.replace("raised _BatchChanged", replaced)
    return None


def _output_problem(output: Any, size: int, bounds: Any = None,
                    clip_extras: Any = ()) -> tuple[str, str] | None:
    """Why a metric's output cannot be kept, as (kind, reason), or None: a ``MetricOutput``
    with one score per sample of the batch, NaN where a sample's score is undefined, never
    infinite (the mean would silently leave an Inf out), inside the metric's declared
    ``bounds``; its extras and curves never infinite either (their means are recorded too, and
    an Inf would be left out of them or written as null, which reads as undefined); every
    extra it names in ``clip_extras`` there (a misspelt name lost the per-clip values the
    leaderboard resamples without a word)."""
    if not isinstance(output, MetricOutput):
        return "type", f"returned {type(output).__name__}, not a MetricOutput"
    scores = output.scores
    if scores.dim() != 1 or len(scores) != size:
        return "shape", (f"returned scores of shape {tuple(scores.shape)} for a batch of "
                         f"{size} samples (one score per sample)")
    if scores.is_floating_point() and bool(scores.isinf().any()):
        return "non-finite", (f"returned {int(scores.isinf().sum())} infinite score(s) of "
                              f"{size} (NaN marks an undefined one)")
    missing = sorted(set(clip_extras) - set(output.extras))
    if missing:
        returned = ", ".join(map(repr, sorted(output.extras))) or "none"
        return "missing-extra", (f"declares clip_extras {', '.join(map(repr, missing))} but "
                                 f"returned no extra of that name (its extras: {returned})")
    for what, values in (("extra", output.extras), ("curve", output.curves)):
        for key, value in values.items():  # the record keeps their means: as for scores
            if bool(value.isinf().any()):
                return "non-finite", (f"returned {int(value.isinf().sum())} infinite value(s) "
                                      f"in its {what} {key!r} (NaN marks an undefined one)")
    if bounds is not None:
        low, high = bounds
        outside = (scores < low - 1e-6) | (scores > high + 1e-6)  # float rounding aside
        if bool(outside.any()):
            return "range", (f"returned {int(outside.sum())} score(s) outside its declared "
                             f"bounds [{low:g}, {high:g}], e.g. {float(scores[outside][0]):g}")
    return None


class _BatchChanged(Exception):
    """Internal: a metric replaced a field of the (frozen) batch it was given."""
