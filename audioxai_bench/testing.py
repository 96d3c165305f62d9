"""One-call contract checks for plugin authors, in the spirit of pytest's ``pytester``.

::

    from audioxai_bench.testing import check_explainer

    def test_my_method_keeps_the_contract():
        check_explainer(MyMethod(name="my-method"))

:func:`check_explainer`, :func:`check_metric` and :func:`check_sonifier` validate the object's
registration (as the plugin manager does), run it on both :func:`tiny_models` (a waveform and
a spectrogram net of the reference architectures, random weights, in eval *and* train mode) the
way a benchmark run does, under deterministic algorithms as a run is by default
(:func:`audioxai_bench.reproducibility.torch_mode`), and check the contract: shapes, finite
values, device, the model and the inputs left alone, the same result on a repeated call. A
broken contract raises ``AssertionError`` with a message that names the object, the toy model
and what went wrong (with the object's own traceback where it raised), so a plugin's test fails
with the reason.
"""

from __future__ import annotations

import dataclasses
import traceback
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from audioxai_bench.api.explainer import REPRESENTATIONS, BaseExplainer
from audioxai_bench.api.metric import OPTIONAL_FIELDS, EvalBatch, MetricOutput
from audioxai_bench.data.check import TARGET_RATE, WINDOW
from audioxai_bench.data.preprocess import to_model_input
from audioxai_bench.errors import one_line
from audioxai_bench.guard import (
    ExplainerError,
    ModelKeeper,
    PluginCallError,
    run_explainer,
    score_metric,
)
from audioxai_bench.plugins import validate
from audioxai_bench.reproducibility import torch_mode, with_nondeterministic_hint

__all__ = ["ToyBatch", "check_explainer", "check_metric", "check_sonifier", "host_syncs",
           "tiny_models", "toy_batch", "toy_ground_truth"]

#: Width multiplier of the toy models: the reference topology with a sixteenth of the channels.
TOY_WIDTH = 0.0625
#: Classes of the toy models (the digit task).
TOY_CLASSES = 10
#: Samples per toy batch; a batch of one is tried as well.
TOY_BATCH = 2
#: Largest difference between two results that count as "the same", relative to their scale.
RELATIVE_TOLERANCE = 1e-5


def tiny_models(*, seed: int = 0, device: str | torch.device = "cpu") -> dict[str, nn.Module]:
    """The toy models by representation: ``{"waveform": AudioNet, "spectrogram": AlexNet}``.

    Both are the suite's reference architectures at width 1/16 with seeded random weights, in
    eval mode: the input shapes (``(B, 1, 8000)`` and ``(B, 1, 227, 227)``), layer types and
    dropout of a real run, at a fraction of the cost. Each call builds new models.
    """
    from audioxai_bench.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        models = {"waveform": build_model("audionet", TOY_CLASSES, width=TOY_WIDTH),
                  "spectrogram": build_model("alexnet", TOY_CLASSES, width=TOY_WIDTH)}
    return {rep: model.to(device).eval() for rep, model in models.items()}


@dataclasses.dataclass(frozen=True)
class ToyBatch:
    """Model input ``x``, class indices ``target`` and the ``(B, 8000)`` 8 kHz ``signals`` that
    ``x`` was computed from (``to_model_input(signals, representation)``)."""

    x: Tensor
    target: Tensor
    signals: Tensor
    representation: str


def toy_batch(representation: str, size: int = TOY_BATCH, *, seed: int = 0,
              device: str | torch.device = "cpu") -> ToyBatch:
    """A batch of ``size`` synthetic "spoken digits" (harmonic tones with a seeded pitch,
    length and offset inside the one-second window, plus a little noise) for ``representation``.
    """
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {sorted(REPRESENTATIONS)}, "
                         f"got {representation!r}")
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(WINDOW, dtype=torch.float64) / TARGET_RATE
    signals = torch.zeros(size, WINDOW, dtype=torch.float64)
    for i in range(size):
        pitch = 120 + 200 * float(torch.rand((), generator=gen, dtype=torch.float64))
        start = int(torch.randint(0, WINDOW // 4, (), generator=gen))
        length = int(torch.randint(WINDOW // 4, WINDOW // 2, (), generator=gen))
        window = (t[:length] / t[length - 1] * torch.pi).sin()
        tone = sum(torch.sin(2 * torch.pi * k * pitch * t[:length]) / k for k in (1, 2, 3))
        signals[i, start:start + length] = 3000 * window * tone
    signals += 30 * torch.randn(size, WINDOW, generator=gen, dtype=torch.float64)
    signals = signals.float()
    target = (torch.arange(size) * 3) % TOY_CLASSES
    x = to_model_input(signals, representation)
    return ToyBatch(x.to(device), target.to(device), signals.to(device), representation)


def toy_ground_truth(x: Tensor) -> Tensor:
    """A stand-in :attr:`EvalBatch.ground_truth` for ``x``: True on the second quarter of the
    time axis (the last dimension), every channel and frequency; the mask's shape and type, not
    a real cue."""
    mask = torch.zeros(x.shape, dtype=torch.bool, device=x.device)
    t = x.shape[-1]
    mask[..., t // 4: t // 2] = True
    return mask


# --- helpers ----------------------------------------------------------------------------------


def _fail(what: str, message: str, exc: BaseException | None = None) -> AssertionError:
    text = f"{what}: {message}"
    if exc is not None:
        text += "\n\nits traceback:\n" + "".join(traceback.format_exception(exc)).rstrip()
    return AssertionError(text)


def _validated(kind: str, obj: Any) -> tuple[str, str]:
    """``(name, label)`` of a valid object, else AssertionError with the registration error."""
    try:
        name = validate(kind, obj)
    except ValueError as exc:
        raise AssertionError(f"check_{kind}: {exc} (the plugin manager would refuse it)") from None
    return name, f"{kind} {name!r}"


def _declared(obj: Any, label: str) -> list[str]:
    reps = set(getattr(obj, "representations", REPRESENTATIONS))
    if not reps or not reps <= REPRESENTATIONS:
        raise AssertionError(f"{label}: representations {sorted(reps)} must be a non-empty "
                             f"subset of {sorted(REPRESENTATIONS)}")
    return sorted(reps)


def _model(models: Mapping[str, nn.Module], rep: str, label: str) -> nn.Module:
    if rep not in models:
        raise ValueError(f"{label} declares {rep} models, but models= has only "
                         f"{', '.join(sorted(models))}")
    return models[rep]


def _same(a: Tensor, b: Tensor) -> bool:
    """Equal up to float noise (NaN equal to NaN): relative to the larger magnitude."""
    if a.shape != b.shape:
        return False
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    if not torch.equal(a.isnan(), b.isnan()):
        return False
    a, b = a.nan_to_num(0.0), b.nan_to_num(0.0)
    scale = max(float(a.abs().max()) if a.numel() else 0.0, float(b.abs().max()) if b.numel()
                else 0.0)
    return float((a - b).abs().max()) <= RELATIVE_TOLERANCE * scale + 1e-12 if a.numel() else True


@dataclasses.dataclass(frozen=True, kw_only=True)
class _ToyGradient(BaseExplainer):
    """Gradient × input: the relevance the metric and sonifier checks score."""

    def attribute(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        x = x.requires_grad_()
        (grad,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
        return grad * x


# --- explainers -------------------------------------------------------------------------------


def check_explainer(explainer: Any, *, models: Mapping[str, nn.Module] | None = None,
                    device: str | torch.device = "cpu", deterministic: bool = True) -> None:
    """Check that ``explainer`` keeps the explainer contract; raise ``AssertionError`` if not.

    On the toy model of every representation it declares, in eval and in train mode, through
    the guard of a benchmark run (:func:`audioxai_bench.run_explainer`): the relevance has the
    input's shape, device and a floating dtype, holds no NaN or Inf; parameters, buffers,
    ``.grad``, hooks, train/eval mode and the input are left alone; a repeated call gives the
    same relevance, and so does the model in train mode (explanations describe the deployed
    model). A batch of one must work too. ``with_params``, when present, must keep the new name.
    ``models`` replaces :func:`tiny_models` (by representation). It runs under deterministic
    algorithms, as a run does, so an operation torch has no deterministic kernel for fails here
    and not in every cell of a run; ``deterministic=False`` checks it as ``audioxai-bench run
    --nondeterministic`` runs it.
    """
    name, label = _validated("explainer", explainer)
    if callable(getattr(explainer, "with_params", None)):
        try:
            copy = explainer.with_params(name=f"{name}-copy")
        except Exception as exc:
            raise _fail(label, f"with_params(name=...) raised {one_line(exc)}", exc) from None
        if getattr(copy, "name", None) != f"{name}-copy":
            raise AssertionError(f"{label}: with_params(name={name + '-copy'!r}) returned an "
                                 f"object named {getattr(copy, 'name', None)!r}")
    _on_each_model(explainer, label, models, device, deterministic, _check_explainer_on)


def _on_each_model(obj: Any, label: str, models: Mapping[str, nn.Module] | None,
                   device: str | torch.device, deterministic: bool, check: Any) -> list[Any]:
    """``check(obj, label, model, representation, device)`` on the toy model of every
    representation ``obj`` declares, each model's train/eval mode given back afterwards, in
    the torch mode of a run (:func:`~audioxai_bench.reproducibility.torch_mode`)."""
    models = models or tiny_models(device=device)
    results = []
    with torch_mode(deterministic):
        for rep in _declared(obj, label):
            model = _model(models, rep, label)
            before = model.training
            try:
                results.append(check(obj, label, model, rep, device))
            finally:
                model.train(before)
    return results


def _check_explainer_on(explainer: Any, label: str, model: nn.Module, rep: str,
                        device: str | torch.device) -> None:
    batch = toy_batch(rep, device=device)
    results = {}
    for mode in ("eval", "train"):
        model.train(mode == "train")
        where = f"{label} on the {rep} toy model in {mode} mode"
        first = _explain(explainer, model, batch.x, batch.target, where)
        again = _explain(explainer, model, batch.x, batch.target, where)
        if not _same(first, again):
            hint = ("seed any randomness on every call" if mode == "eval" else "dropout is on "
                    "in train mode: explain the model in eval mode "
                    "(audioxai_bench.explaining(model), or subclass BaseExplainer)")
            raise AssertionError(f"{where}: a repeated call gave different relevance ({hint})")
        results[mode] = first
    if not _same(results["eval"], results["train"]):
        raise AssertionError(f"{label} on the {rep} toy model: the relevance differs when the "
                             "model is in train mode; explain the model in eval mode "
                             "(audioxai_bench.explaining(model), or subclass BaseExplainer)")
    model.eval()
    _explain(explainer, model, batch.x[:1], batch.target[:1],
             f"{label} on the {rep} toy model with a batch of one")


#: How a contract check goes on where torch has no deterministic kernel.
CHECK_ANYWAY = ("a benchmark run fails the same way; check with deterministic=False what "
                "`audioxai-bench run --nondeterministic` runs, or avoid the operation")


def _explain(explainer: Any, model: nn.Module, x: Tensor, target: Tensor, where: str) -> Tensor:
    try:
        return run_explainer(explainer, model, x.clone(), target.clone(), plugin="under test")
    except ExplainerError as exc:
        text = with_nondeterministic_hint(f"{where}: {exc.reason}", CHECK_ANYWAY)
        cause = getattr(exc, "traceback", None)
        if cause:
            text += "\n\nits traceback:\n" + cause.rstrip()
        raise AssertionError(text) from None


# --- metrics ----------------------------------------------------------------------------------


def check_metric(metric: Any, *, models: Mapping[str, nn.Module] | None = None,
                 explainer: Any = None, sonifier: Any = None,
                 device: str | torch.device = "cpu", deterministic: bool = True) -> None:
    """Check that ``metric`` keeps the metric contract; raise ``AssertionError`` if not.

    On the toy model of every representation it declares, with gradient × input relevance (or
    ``explainer``'s) and every :class:`EvalBatch` field it ``needs`` filled in (``sonifier``
    defaults to the built-in ``spectrogram-mask``, ``ground_truth`` to
    :func:`toy_ground_truth`): ``score`` returns a :class:`MetricOutput`
    with one score per sample and no Inf; the model, input, relevance and signals are left
    alone; the same batch gives the same scores again, and with the model in train mode;
    a result it keeps in ``batch.shared`` does not leak one explainer's relevance into
    another's scores; the runner can summarize the output (and ``metric.summarize`` runs).
    ``deterministic`` as in :func:`check_explainer`.
    """
    name, label = _validated("metric", metric)
    needs = set(getattr(metric, "needs", ()))
    if needs - OPTIONAL_FIELDS:
        raise AssertionError(f"{label}: needs unknown EvalBatch fields "
                             f"{sorted(needs - OPTIONAL_FIELDS)}; valid: {sorted(OPTIONAL_FIELDS)}")
    models = models or tiny_models(device=device)
    explainer = explainer or _ToyGradient(name="toy-gradient")
    if "sonifier" in needs and sonifier is None:
        from audioxai_bench.plugins import PluginManager

        sonifier = PluginManager(entrypoints=False).sonifiers.get("spectrogram-mask")
    finite = sum(_on_each_model(
        metric, label, models, device, deterministic,
        lambda obj, lab, model, rep, dev: _check_metric_on(obj, lab, model, rep, explainer,
                                                           sonifier, dev)))
    if not finite:
        raise AssertionError(f"{label}: every score on every toy batch is NaN; NaN is for "
                             "samples where the metric is undefined")


def _check_metric_on(metric: Any, label: str, model: nn.Module, rep: str, explainer: Any,
                     sonifier: Any, device: str | torch.device) -> int:
    toy = toy_batch(rep, device=device)
    model.eval()
    relevance = run_explainer(explainer, model, toy.x, toy.target, plugin="check_metric")
    needs = set(getattr(metric, "needs", ()))

    def batch(rel: Tensor, shared: dict | None = None) -> EvalBatch:
        return EvalBatch(model=model, x=toy.x.clone(), target=toy.target.clone(),
                         relevance=rel.clone(), representation=rep,
                         signals=toy.signals.clone(), explainer=explainer,
                         sonifier=sonifier if "sonifier" in needs else None,
                         explain_seconds=0.01, seed=7, chunk_size=64,
                         ground_truth=toy_ground_truth(toy.x) if "ground_truth" in needs
                         else None,
                         shared={} if shared is None else shared)

    outputs = {}
    for mode in ("eval", "train"):
        model.train(mode == "train")
        where = f"{label} on the {rep} toy model in {mode} mode"
        first = _score(metric, batch(relevance), where)
        again = _score(metric, batch(relevance), where)
        if not _same(first.scores, again.scores):
            raise AssertionError(f"{where}: the same batch scored again gave different scores "
                                 "(seed randomness from batch.seed, e.g. batch.generator())")
        outputs[mode] = first
    if not _same(outputs["eval"].scores, outputs["train"].scores):
        raise AssertionError(f"{label} on the {rep} toy model: the scores differ when the model "
                             "is in train mode; evaluate it in eval mode "
                             "(with audioxai_bench.explaining(model): ...)")
    model.eval()
    where = f"{label} on the {rep} toy model"
    other = relevance.flip(-1)  # another explainer's relevance on the same samples
    shared: dict = {}
    _score(metric, batch(relevance, shared), where)
    reused = _score(metric, batch(other, shared), where)
    fresh = _score(metric, batch(other), where)
    if not _same(reused.scores, fresh.scores):
        raise AssertionError(f"{where}: scores depend on another explainer's relevance through "
                             "batch.shared; keep only what does not read the relevance there")
    from audioxai_bench.evaluation.summary import merge_outputs, summarize

    try:
        summarize(metric, merge_outputs([outputs["eval"], fresh]))
    except Exception as exc:
        raise _fail(where, f"its output cannot be summarized: {one_line(exc)}", exc) from None
    return int(outputs["eval"].scores.isfinite().sum())


def _score(metric: Any, batch: EvalBatch, where: str) -> MetricOutput:
    """``metric.score`` under the runner's own guard (model, batch tensors, global state)."""
    try:
        out = score_metric(metric, batch, name=str(getattr(metric, "name", "?")),
                           plugin="under test", keeper=ModelKeeper(batch.model))
    except PluginCallError as exc:
        raise AssertionError(with_nondeterministic_hint(f"{where}: {exc.reason}",
                                                        CHECK_ANYWAY)) from None
    except Exception as exc:
        raise _fail(where, f"score raised {one_line(exc)}", exc) from None
    return out  # score_metric checked its type, one score per sample and no Inf


# --- sonifiers --------------------------------------------------------------------------------


def check_sonifier(sonifier: Any, *, models: Mapping[str, nn.Module] | None = None,
                   device: str | torch.device = "cpu", deterministic: bool = True) -> None:
    """Check that ``sonifier`` keeps the sonifier contract; raise ``AssertionError`` if not.

    For every representation it declares, on ``(B, 8000)`` toy signals with gradient × input
    relevance of the toy model, and with all-zero relevance: ``sonify`` returns a finite
    floating ``(B, 8000)`` tensor on the signals' device, leaves its inputs alone and gives the
    same sound again; the suite can score it (the sound, its complement ``signal - sound`` and
    the random control of its ``domain`` all classify to finite numbers). ``deterministic`` as in
    :func:`check_explainer`.
    """
    name, label = _validated("sonifier", sonifier)
    domain = getattr(sonifier, "domain", "time")
    if domain not in ("time", "stft"):
        raise AssertionError(f"{label}: domain must be 'time' or 'stft', got {domain!r}")
    _on_each_model(sonifier, label, models, device, deterministic, _check_sonifier_on)


def _check_sonifier_on(sonifier: Any, label: str, model: nn.Module, rep: str,
                       device: str | torch.device) -> None:
    from audioxai_bench.evaluation.sonification import evaluate_sonifier

    toy = toy_batch(rep, device=device)
    model.eval()
    relevance = run_explainer(_ToyGradient(name="toy-gradient"), model, toy.x, toy.target,
                              plugin="check_sonifier")
    for what, rel in (("gradient x input relevance", relevance),
                      ("all-zero relevance", torch.zeros_like(relevance))):
        where = f"{label} on {rep} {what}"
        sound = _sonify(sonifier, toy.signals, rel, rep, where)
        if not _same(sound, _sonify(sonifier, toy.signals, rel, rep, where)):
            raise AssertionError(f"{where}: a repeated call gave a different sound (seed any "
                                 "randomness on every call)")
    where = f"{label} on {rep} relevance"
    try:
        scores = evaluate_sonifier(sonifier, model, toy.signals, relevance, toy.target, rep,
                                   seed=7, chunk_size=64)
    except Exception as exc:
        raise _fail(where, f"scoring the sound failed: {one_line(exc)}", exc) from None
    bad = [k for k, v in scores.as_dict().items() if not bool(v.isfinite().all())]
    if bad:
        raise AssertionError(f"{where}: the sound, its complement or the random control scored "
                             f"non-finite {', '.join(bad)}")


def _sonify(sonifier: Any, signals: Tensor, relevance: Tensor, rep: str, where: str) -> Tensor:
    inputs = signals.clone(), relevance.clone()
    try:
        sound = sonifier.sonify(inputs[0], inputs[1], rep)
    except Exception as exc:
        raise _fail(where, f"sonify raised {one_line(exc)}", exc) from None
    if not torch.equal(inputs[0], signals) or not torch.equal(inputs[1], relevance):
        raise AssertionError(f"{where}: sonify modified its input")
    if not isinstance(sound, Tensor) or not sound.dtype.is_floating_point:
        kind = type(sound).__name__ if not isinstance(sound, Tensor) else str(sound.dtype)
        raise AssertionError(f"{where}: sonify returned {kind}, not a floating Tensor")
    if sound.shape != signals.shape:
        raise AssertionError(f"{where}: sonify returned shape {tuple(sound.shape)}, expected "
                             f"{tuple(signals.shape)} (B, samples)")
    if sound.device != signals.device:
        raise AssertionError(f"{where}: sonify returned a tensor on {sound.device}, expected "
                             f"{signals.device}")
    if not bool(sound.isfinite().all()):
        bad = int((~sound.isfinite()).sum())
        raise AssertionError(f"{where}: sonify returned {bad} NaN/Inf value(s) of {sound.numel()}")
    return sound


def host_syncs(call: Callable[[], Any]) -> int:
    """How often ``call()`` made the CPU wait for the CUDA device (``.item()``, ``bool(t)``,
    ``torch.equal``, a copy to the CPU...): each wait stalls the queue of launched work, which
    on a GPU can cost more than the work (issue #12). Counted through torch's sync debug mode,
    which warns at each; needs a CUDA device."""
    if not torch.cuda.is_available():
        raise RuntimeError("host_syncs counts waits for a CUDA device; none is available")
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            call()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)
