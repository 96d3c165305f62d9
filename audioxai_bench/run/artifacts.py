"""What a run keeps between runs, keyed by content hashes: data, trained models, relevance.

Each artifact lives under :func:`audioxai_bench.data.cache.cache_root` at a name derived from
everything that determines it (a synthetic set from its parameters and the package version; a
model from the data fingerprint, the resampler, architecture, width, task, split, training
settings and seed;
relevance from the model's key, the explainer and its parameters and the samples).

Every entry is written aside and renamed into place when complete
(:mod:`audioxai_bench.atomic`), so a killed run never leaves half an entry under its name, two
runs computing the same entry at once never mix theirs, and the temporaries of killed writers
are removed by the next run. Entries are verified, not trusted: a model or relevance entry
carries what it was made from and a checksum, and one that is damaged, made from something
else, of the wrong shape or not finite is reported in one line naming the file, renamed to
``<name>.bad-<time>`` and recomputed. A synthetic or cue tree's marker holds a digest of its
file names and sizes (one stat per file, not a hash of every clip on every run), and a tree
whose files no longer match is set aside and made again the same way. A cache entry that cannot be
written (a full disk) is a warning: the run goes on with what it computed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..atomic import atomic_dir, clean_stale_temps
from ..data.cache import cache_root, clean_temps, data_fingerprint, set_aside, tree_listing
from ..data.clipfile import DEFAULT_RESAMPLER, resampler_key
from ..data.cue import cue_settings, is_cue_tree, plant_cues, refuse_planted_tree
from ..data.cue_free import CueFreeClips
from ..data.dataset import AudioMNIST, ClipDataset
from ..data.layout import scan_dataset
from ..data.splits import N_CLASSES, female_speakers, select_speakers
from ..data.synth import generator_digest, synthesize_dataset
from ..errors import AudioXaiError
from ..faults import fault_point
from ..hashing import config_hash
from ..models.checkpoint import (
    CheckpointError,
    read_checkpoint,
    save_atomic,
    save_checkpoint,
    state_sha256,
)
from ..models.layers import fold_input_affine
from ..models.train import NO_CLASS, TrainConfig, TrainResult, initialise, train
from ..progress import ProgressFn
from .score_cache import code_digest

_DONE = ".complete"
#: TrainConfig settings added after models were cached, with the value those models had
_LATER_SETTINGS = {"deterministic": True, "precision": "fp32", "compile": False,
                   "input_centre": 0.0, "input_scale": 1.0, "init": "default"}
RELEVANCE_FORMAT = 2  # 1: no key, shape or checksum inside
_log = logging.getLogger(__name__)
_cleaned: set[Path] = set()


class DamagedEntry(Exception):
    """A cache entry failed verification; the message says how."""


def synthetic_data(speakers: int, reps: int, seed: int, progress: ProgressFn | None = None,
                   workers: int | None = None) -> tuple[Path, bool]:
    """The synthetic tree for these parameters, generated on first use; ``(root, was_cached)``.

    The package version and the generator's code (:func:`~audioxai_bench.data.synth.
    generator_digest`) are part of the key: a new generator never reuses an old tree. The tree
    is written aside and renamed into place; a killed synthesis leaves a temporary that the next
    call removes.
    """
    key = config_hash({"speakers": speakers, "reps": reps, "seed": seed, "version": __version__,
                       "code": generator_digest()})
    root = cache_root() / "synth" / f"{speakers}x{reps}-seed{seed}-{key}"
    return cached_tree(root, lambda tmp: synthesize_dataset(
        tmp, select_speakers(speakers), female_speakers(), reps=reps, seed=seed, workers=workers,
        progress=progress))


def cue_data(source: Path, seed: int, progress: ProgressFn | None = None,
             resampler: str = DEFAULT_RESAMPLER) -> tuple[Path, bool]:
    """``source`` with planted cues (:func:`~audioxai_bench.data.cue.plant_cues`) into the
    clips ``resampler``, the run's, can take, planted on first use; ``(root, was_cached)``.
    Keyed by the source's content, the seed, the bursts' settings and the planter's code
    (:func:`~audioxai_bench.data.cue.cue_settings`), the package version and the resampler
    (left out for sinc, as in every key made before the choice)."""
    clips = scan_dataset(source).clips
    key = config_hash({"source": data_fingerprint(source, clips), "seed": seed,
                       "version": __version__, "cue": cue_settings(),
                       **resampler_key(resampler)})
    root = cache_root() / "cue" / f"{source.name}-cue{seed}-{key}"
    return cached_tree(root, lambda tmp: plant_cues(source, tmp, seed=seed, progress=progress,
                                                    resampler=resampler))


def cached_tree(root: Path, make: Callable[[Path], object]) -> tuple[Path, bool]:
    """The cached tree at ``root``, made by ``make(empty folder)`` unless it is there and still
    holds the files its ``.complete`` marker lists (:func:`~audioxai_bench.data.cache.
    tree_listing`); ``(root, was_cached)``. A tree that no longer does (a clip deleted or cut
    short) is set aside with a warning and made again: a model trained on it would be keyed by
    other data under the same dataset name."""
    clean_temps()
    problem = _tree_problem(root)
    if problem is None:
        return root, True
    if problem == _UNLISTED:  # not damaged, only older: replaced in place, nothing kept
        _log.info("%s: %s; making it again", root, problem)
    elif (root / _DONE).exists():
        set_aside(root, problem)
    # a tree without the marker is from an interrupted rename of an older version: replace it
    with atomic_dir(root, replace=root.exists()) as tmp:
        make(tmp)
        (tmp / _DONE).write_text(json.dumps(tree_listing(tmp, _DONE)) + "\n")
    return root, False


#: A tree whose marker an older version wrote empty: unverifiable, not damaged.
_UNLISTED = f"{_DONE} lists no files (written before cached trees were verified)"


def _tree_problem(root: Path) -> str | None:
    """Why the cached tree at ``root`` is not usable as it is, or None."""
    try:
        marker = json.loads((root / _DONE).read_bytes() or b"null")
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as err:
        return f"{_DONE} is unreadable ({type(err).__name__})"
    if not isinstance(marker, dict):
        return _UNLISTED
    try:
        found = tree_listing(root, _DONE)
    except OSError as err:
        return f"cannot be listed ({err.strerror or err})"
    if found == marker:
        return None
    if [found["files"], found["bytes"]] == [marker.get("files"), marker.get("bytes")]:
        return f"a file was renamed or resized since its {_DONE} was written"
    return (f"holds {found['files']} files of {found['bytes']} bytes, its {_DONE} lists "
            f"{marker.get('files')} of {marker.get('bytes')}")


def data_tree(data: Any, progress: Callable[[str], ProgressFn | None] = lambda step: None
              ) -> tuple[Path, str, int]:
    """The AudioMNIST tree a definition's data section (:class:`~.definition.DataChoice`) names:
    its ``path``, else the synthetic set, with cues planted where ``cue`` asks and the tree has
    none (a tree that has them is refused as a source would be, where its repetitions let the
    speech tell the cue class: :func:`~audioxai_bench.data.cue.label_leak`); ``(root, name,
    steps found cached)``. ``progress(step)`` gives each step's progress
    callback ("synthesize data", "plant cues")."""
    cached = 0
    if data.path is not None:
        root, name = data.path, f"audiomnist:{data.path.name}"
    else:
        root, hit = synthetic_data(data.speakers, data.reps, data.synth_seed,
                                   progress("synthesize data"))
        cached += hit
        name = f"synthetic-{data.speakers}x{data.reps}-seed{data.synth_seed}"
    if data.cue and is_cue_tree(root):
        refuse_planted_tree(root, data.resampler)
    elif data.cue:
        root, hit = cue_data(root, data.synth_seed, progress("plant cues"), data.resampler)
        cached += hit
        name += f"-cue{data.synth_seed}"
    return root, name, cached


#: The cue models' second stage (:func:`_without_a_default`): its steps as a share of the
#: recipe's, its learning rate, and the weight of the cue-free copies' uniform target.
CUE_FREE_SHARE, CUE_FREE_LR, CUE_FREE_WEIGHT = 0.5, 5e-4, 12.0
#: How the cue task's models learn beyond their recipe's settings (part of its key).
CUE_TRAINING = (f"then {CUE_FREE_SHARE:g} times as many steps at lr {CUE_FREE_LR:g} on the "
                "training clips and each without its burst taught the uniform guess (weight "
                f"{CUE_FREE_WEIGHT:g}), in the recipe's input coordinates, the final state kept")


def _without_a_default(model: nn.Module, data: AudioMNIST, sets: tuple[ClipDataset, ...],
                       config: TrainConfig, first: TrainResult,
                       progress: ProgressFn | None = None) -> TrainResult:
    """The cue model trained on further, on its training clips and their cue-free copies
    (:func:`with_cue_free`), so that no class is its answer to "no cue".

    Trained on cued clips alone, every cue model answered one favourite class whenever it
    heard no cue (64-84 % of cue-free clips, p 0.78-0.95), so that class's clips needed no cue
    and the planted region was not their evidence (science audit 6, H1). Trained with the
    copies from the start, AudioNet learnt the cues slowly (73.5 % test accuracy after 800
    steps against 98.1 % without them; at width 0.25 it stayed at the uniform guess, 25 %);
    taught after it has learnt the cues (400 steps more), it keeps them (99.4 %) and its
    favourite class's probability without the cue falls from 0.85 to 0.41 at weight 1, 0.30 at
    4, 0.27 at 12 (98.96 %): near the uniform answer its cross-entropy is flat (0.4 / 0.2 / 0.2
    / 0.2 costs 0.05 nats more), so an unweighted favourite stays. Stage 2 starts
    from stage 1's selected state; the result counts its steps on after stage 1's. Its final
    state is kept: validation accuracy cannot see a favourite class. A standardised input (the
    cpu AlexNet's) was folded into the model at the end of the first stage: it is unfolded, so
    that this stage trains in the same coordinates (in raw dB the first layer's Adam steps
    were 80 times larger relative to its weights), and folded again at its end."""
    steps = max(1, round(CUE_FREE_SHARE * config.iterations))
    if config.standardises_input:
        fold_input_affine(model.input_layer, -config.input_centre / config.input_scale,
                          1 / config.input_scale)
    second = dataclasses.replace(config, iterations=steps, lr=CUE_FREE_LR, lr_halve_every=None,
                                 eval_every=max(1, steps // 4), select="final")
    total = first.iterations + steps  # the stages' steps counted on, stage 2 after stage 1's
    on = None if progress is None else (
        lambda it, _, info: progress(first.iterations + it, total, info))
    after = train(model, with_cue_free(data, sets[0]), sets[1], sets[2], second,
                  progress=on, no_class_weight=CUE_FREE_WEIGHT)
    return dataclasses.replace(
        after, seconds=first.seconds + after.seconds, iterations=total,
        selected_iteration=total, best_iteration=first.best_iteration,
        history=first.history + [h | {"iteration": first.iterations + h["iteration"]}
                                 for h in after.history])


def with_cue_free(data: AudioMNIST, train: ClipDataset) -> CueFreeClips:
    """The cue task's training clips, and each again with its burst subtracted, labelled
    :data:`~audioxai_bench.models.train.NO_CLASS` (trained to the uniform guess, as Outlier
    Exposure trains on outliers, Hendrycks et al. 2019); the copies are made batch by batch
    from the memory-mapped signals (:class:`~audioxai_bench.data.cue_free.CueFreeClips`)."""
    rows = train.rows
    labels = np.concatenate([train.labels[rows], np.full(len(rows), NO_CLASS)])
    return CueFreeClips(data.signals, rows, data.cues.take(rows), labels, train.representation,
                        resampler=data.resampler)


@dataclasses.dataclass(frozen=True)
class ModelRecipe:
    """Everything that determines a trained reference model."""

    spec: Any  # a model spec registered through ``audioxai_bench_models``
    plugin: str  # ``name version`` of the plugin that registered the spec
    task: str
    fold: int
    width: float
    preset: str
    config: TrainConfig

    @property
    def key(self) -> str:
        # where it trains enters the model's key (model_key), not the recipe's; the newer
        # settings count only when not at their default
        train_settings = {k: v for k, v in self.config.to_dict().items()
                          if k not in ("device", "num_workers")
                          and not (k in _LATER_SETTINGS and v == _LATER_SETTINGS[k])}
        revision = getattr(self.spec, "revision", 0)  # 0: keys from before it existed
        # the code that trains it (this package, the spec's plugin files): the built-ins'
        # version never moves, and a model trained by other code gave other numbers
        return config_hash({"model": self.spec.name, "plugin": self.plugin, "task": self.task,
                            "fold": self.fold, "width": self.width, "train": train_settings,
                            "code": code_digest(self.spec),
                            **({"revision": revision} if revision else {}),
                            **({"design": self.design} if self.design else {})})

    @property
    def design(self) -> str | None:
        """How the model learns beyond its training settings (the cue task's second stage,
        :func:`_without_a_default`), or None."""
        return CUE_TRAINING if self.task == "cue" else None

    def build(self) -> nn.Module:
        return self.spec.build(N_CLASSES[self.task], self.width)


def make_recipe(spec: Any, plugin: str, task: str, fold: int, preset: str, *,
                width: float | None = None, **overrides: Any) -> ModelRecipe:
    """The recipe for ``spec`` under ``preset``: the spec's own training settings for that
    preset with ``overrides``, at the spec's ``cpu_width`` for ``cpu`` (1.0 otherwise) unless
    ``width`` is given. A spec without the preset fails naming both."""
    presets = getattr(spec, "presets", None) or {}
    if preset not in presets:
        raise AudioXaiError(f"model {spec.name!r} ({plugin}) has no training preset {preset!r}; "
                            f"it declares {', '.join(sorted(presets)) or 'none'}")
    if width is None:
        width = getattr(spec, "cpu_width", 1.0) if preset == "cpu" else 1.0
    try:
        config = dataclasses.replace(presets[preset], **overrides)
    except (TypeError, ValueError) as exc:
        raise AudioXaiError(f"model {spec.name!r}, preset {preset!r}: {exc}") from None
    return ModelRecipe(spec, plugin, task, fold, float(width), preset, config)


def check_batch_size(recipe: ModelRecipe, data: AudioMNIST) -> None:
    """Refuse a recipe whose training batch is larger than its split's training clips, before
    any training work: :func:`~audioxai_bench.models.train.train` would refuse it too, but
    without naming the setting and the split. A split without training clips is left to
    :meth:`~audioxai_bench.data.dataset.AudioMNIST.fold`, which names its speakers."""
    clips = len(data.split_rows(recipe.task, recipe.fold)["train"])
    if 0 < clips < recipe.config.batch_size:
        raise AudioXaiError(f"training.batch_size {recipe.config.batch_size} (preset "
                            f"{recipe.preset}) is larger than the {clips} training clips of "
                            f"{recipe.task} fold {recipe.fold}; lower it or use more data")


def fit(recipe: ModelRecipe, data: AudioMNIST, path: Path,
        progress: ProgressFn | None = None,
        log: Callable[[str], None] | None = None,
        extra_meta: Mapping[str, Any] | None = None,
        before_save: Callable[[], object] | None = None
        ) -> tuple[nn.Module, dict[str, Any], TrainResult]:
    """Train ``recipe`` on its split of ``data`` and save the checkpoint at ``path`` with its
    metadata (and ``extra_meta``); return the model, the metadata and the training result. ``log``
    hears the split sizes; ``before_save`` is called once training has finished, just before the
    checkpoint is written (e.g. to keep an earlier file at ``path`` aside)."""
    model, meta, result = _train(recipe, data, progress, log, extra_meta)
    if before_save is not None:
        before_save()
    save_checkpoint(path, model, meta)
    return model, meta, result


def _train(recipe: ModelRecipe, data: AudioMNIST, progress: ProgressFn | None = None,
           log: Callable[[str], None] | None = None,
           extra_meta: Mapping[str, Any] | None = None
           ) -> tuple[nn.Module, dict[str, Any], TrainResult]:
    check_batch_size(recipe, data)
    sets = data.fold(recipe.task, recipe.fold, recipe.spec.representation)
    if log is not None:
        log(f"{recipe.task} fold {recipe.fold}: {len(sets[0])} train / {len(sets[1])} validate "
            f"/ {len(sets[2])} test clips")
    torch.manual_seed(recipe.config.seed)
    model = recipe.build()
    initialise(model, recipe.config.init)
    result = train(model, *sets, recipe.config, progress=progress)
    if recipe.task == "cue":
        result = _without_a_default(model, data, sets, recipe.config, result, progress)
    meta = {"task": recipe.task, "fold": recipe.fold, "data_fingerprint": data.fingerprint,
            "resampler": data.resampler, "preset": recipe.preset, "recipe": recipe.key,
            "seed": recipe.config.seed,
            "config": recipe.config.to_dict(), "val_accuracy": result.val_accuracy,
            "test_accuracy": result.test_accuracy,
            "test_correct": "".join("1" if c else "0" for c in result.test_correct),
            "selected_iteration": result.selected_iteration, "train_seconds": result.seconds,
            "model": recipe.spec.name, "n_classes": N_CLASSES[recipe.task],
            "width": recipe.width, **(extra_meta or {})}
    return model, meta, result


def model_key(recipe: ModelRecipe, data_fingerprint: str, numerics: Mapping[str, Any],
              resampler: str = DEFAULT_RESAMPLER) -> str:
    """The trained model's identity: its recipe, its data (their content and how they were
    resampled: :func:`~audioxai_bench.data.preprocess.resampler_key`) and where it trains as
    far as that changes its weights (``numerics``: the device, on a CPU the torch threads, which
    split reductions differently, and the machine's processor and torch build; the same recipe
    trained the cue task's AudioNet to 98.3 % test accuracy on 2 threads and 96.9 % on 1)."""
    return config_hash({"recipe": recipe.key, "data": data_fingerprint,
                        "numerics": dict(numerics), **resampler_key(resampler)})


def model_path(recipe: ModelRecipe, data_fingerprint: str, numerics: Mapping[str, Any],
               resampler: str = DEFAULT_RESAMPLER) -> Path:
    key = model_key(recipe, data_fingerprint, numerics, resampler)
    return cache_root() / "models" / f"{recipe.spec.name}-{recipe.task}-{recipe.fold}-{key}.pt"


def trained_model(recipe: ModelRecipe, data: AudioMNIST, device: torch.device,
                  progress: ProgressFn | None = None, *, numerics: Mapping[str, Any]
                  ) -> tuple[nn.Module, dict[str, Any], bool]:
    """The trained model for ``recipe`` on ``data`` in eval mode on ``device``, its checkpoint
    meta, and whether it came from the cache. ``numerics`` (see :func:`model_key`) is where it
    trains: a model trained elsewhere is not this one, so it is never taken from the cache.

    A cached checkpoint is used only when it verifies (:func:`verify_model`); otherwise it is
    set aside and the model trained again. When the new checkpoint cannot be stored, the run
    goes on with the trained model in memory (a warning names the file).
    """
    path = model_path(recipe, data.fingerprint, numerics, data.resampler)
    _clean_once(path.parent)
    if path.exists():
        try:
            model, meta = verify_model(path, recipe, data.fingerprint, numerics, data.resampler)
            return model.to(device).eval(), meta, True
        except DamagedEntry as err:
            set_aside(path, str(err))
    fault_point("train")
    model, meta, _ = _train(recipe, data, progress, extra_meta={"numerics": dict(numerics)})
    try:
        save_checkpoint(path, model, meta)
    except OSError as err:  # a WriteError naming the file: the trained model is not lost
        _log.warning("%s; the run goes on with the model in memory (it is trained again next "
                     "time)", err)
    return model.to(device).eval(), meta, False


def verify_model(path: Path, recipe: ModelRecipe, data_fingerprint: str,
                 numerics: Mapping[str, Any], resampler: str = DEFAULT_RESAMPLER
                 ) -> tuple[nn.Module, dict[str, Any]]:
    """The model cached at ``path`` if its weights match their checksum, it was made from
    ``recipe`` and the data ``data_fingerprint`` resampled by ``resampler`` (a checkpoint from
    before the choice: sinc) where ``numerics`` says, every weight is finite and it fits the
    recipe's architecture; :class:`DamagedEntry` saying why otherwise."""
    try:
        state, meta = read_checkpoint(path)
    except (CheckpointError, OSError) as err:
        raise DamagedEntry(str(err).removeprefix(f"{path}: ")) from None
    if "state_sha256" not in meta:
        raise DamagedEntry("the weights have no checksum (written by an older version)")
    made_from = {"recipe": meta.get("recipe"), "data_fingerprint": meta.get("data_fingerprint"),
                 "numerics": meta.get("numerics"),
                 "resampler": meta.get("resampler", DEFAULT_RESAMPLER)}
    if made_from != {"recipe": recipe.key, "data_fingerprint": data_fingerprint,
                     "numerics": dict(numerics), "resampler": resampler}:
        raise DamagedEntry(f"made from another recipe or data, or elsewhere ({made_from}), than "
                           "its name says")
    bad = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
    if bad:
        raise DamagedEntry(f"weights hold NaN or Inf values ({', '.join(bad[:3])})")
    model = recipe.build()
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError) as exc:
        raise DamagedEntry(f"the weights do not fit the model ({_first_line(exc)})") from None
    return model, meta


def relevance_path(key: str) -> Path:
    return cache_root() / "relevance" / f"{key}.pt"


def load_relevance(key: str, shape: tuple[int, ...] | None = None
                   ) -> dict[str, torch.Tensor] | None:
    """``{"relevance", "seconds"}`` stored under ``key``, or None when there is no usable entry.

    The entry must carry ``key``, the shape of its relevance (``shape`` when given) and the
    checksum of its tensors, and hold finite values only; one that does not is set aside.
    """
    path = relevance_path(key)
    _clean_once(path.parent)
    if not path.exists():
        return None
    try:
        return _verify_relevance(path, key, shape)
    except DamagedEntry as err:
        set_aside(path, str(err))
        return None


def _verify_relevance(path: Path, key: str, shape: tuple[int, ...] | None
                      ) -> dict[str, torch.Tensor]:
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise DamagedEntry(f"unreadable ({type(exc).__name__}: {_first_line(exc)})") from None
    if not (isinstance(entry, dict) and {"relevance", "seconds"} <= set(entry)
            and all(isinstance(entry[k], torch.Tensor) for k in ("relevance", "seconds"))):
        raise DamagedEntry("not a relevance entry")
    made_from = entry.get("made_from")
    if not isinstance(made_from, dict) or "sha256" not in entry:
        raise DamagedEntry("no key, shape or checksum inside (written by an older version)")
    relevance, seconds = entry["relevance"], entry["seconds"]
    if made_from.get("format") != RELEVANCE_FORMAT:
        raise DamagedEntry(f"format {made_from.get('format')!r}, expected {RELEVANCE_FORMAT}")
    if made_from.get("key") != key:
        raise DamagedEntry(f"made from key {made_from.get('key')!r}, not {key!r}")
    if list(relevance.shape) != made_from.get("shape") or (
            shape is not None and tuple(relevance.shape) != tuple(shape)):
        raise DamagedEntry(f"relevance has shape {tuple(relevance.shape)}, recorded "
                           f"{made_from.get('shape')}, expected {shape}")
    if state_sha256({"relevance": relevance, "seconds": seconds}) != entry["sha256"]:
        raise DamagedEntry("the values do not match their checksum")
    if not (relevance.isfinite().all() and seconds.isfinite().all()):
        raise DamagedEntry("holds NaN or Inf values")
    return {"relevance": relevance, "seconds": seconds}


def store_relevance(key: str, relevance: torch.Tensor, seconds: torch.Tensor) -> None:
    """Store an entry with its key, shape and checksum; a failed write is a warning only."""
    relevance, seconds = relevance.detach().cpu(), seconds.detach().cpu()
    entry = {"relevance": relevance, "seconds": seconds,
             "made_from": {"key": key, "shape": list(relevance.shape),
                           "format": RELEVANCE_FORMAT},
             "sha256": state_sha256({"relevance": relevance, "seconds": seconds})}
    try:
        save_atomic(entry, relevance_path(key))
    except OSError as err:  # a WriteError naming the file: the run has the values in memory
        _log.warning("%s; the relevance is computed again next time", err)
        return
    fault_point("relevance")


def _clean_once(folder: Path) -> None:
    """Remove temporaries of killed writers in a cache folder, once per process; hidden entries
    there can only be temporaries, so unowned ones go once a day old."""
    if folder in _cleaned:
        return
    _cleaned.add(folder)
    for path in clean_stale_temps(folder, unowned=True):
        _log.info("%s: removed a temporary left by an interrupted run", path)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]
