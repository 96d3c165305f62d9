"""The ``audioxai-bench`` command line; every error is one line unless ``--debug``."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .data.clipfile import DEFAULT_RESAMPLER, RESAMPLERS
from .data.splits import MIN_SPEAKERS, TASKS, n_folds
from .errors import AudioXaiError, did_you_mean
from .progress import FORCE_ENV, Progress


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "progress", False):
        os.environ[FORCE_ENV] = "1"
    if not getattr(args, "func", None):  # no command (or `data` without an action): its help
        getattr(args, "help_of", parser).print_help(sys.stderr)
        return 2
    try:
        return args.func(args) or 0
    except BrokenPipeError:  # output piped into e.g. `head`: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (AudioXaiError, OSError) as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or ``kill``'s stop) ends a run as Ctrl-C does: finished cells
    kept, and a line that says how to continue."""


def _terminate(signum: int, frame: Any) -> None:
    raise _Terminated


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors: ``error: PROG: MESSAGE (see PROG --help)``,
    exit status 2, for a bad option as for a bad file."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="audioxai-bench",
                     description="Score explanation methods on AudioMNIST.")
    _add_global_flags(parser, False)
    # the flags are accepted after a subcommand too; SUPPRESS keeps the top-level value
    common = _Parser(add_help=False)
    _add_global_flags(common, argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND", help="what to do")

    data = sub.add_parser("data", help="create, check or download AudioMNIST data")
    data.set_defaults(help_of=data)
    data_sub = data.add_subparsers(metavar="ACTION", help="what to do with data")
    synth = data_sub.add_parser("synth", parents=[common],
                                help="synthesize an AudioMNIST-shaped dataset offline")
    synth.add_argument("--out", type=Path, required=True,
                       help="new (or empty) folder for the tree")
    synth.add_argument("--speakers", type=integer(1, 60), default=60,
                       help=f"1..60 (default 60); {MIN_SPEAKERS} or more serve every split of "
                            "both tasks, fewer leave some split without test (or training, or "
                            "validation) speakers or without one sex")
    synth.add_argument("--reps", type=integer(1), default=50,
                       help="repetitions per digit (default 50)")
    synth.add_argument("--seed", type=integer(0, MAX_SEED), default=0,
                       help="voice and rendering seed (default 0)")
    synth.add_argument("--workers", type=integer(1), default=None,
                       help="processes (default: cores)")
    synth.set_defaults(func=cmd_data_synth)

    cue = data_sub.add_parser("cue", parents=[common],
                              help="plant the cue task's tone bursts (with ground truth) into a "
                                   "copy of a dataset tree")
    cue.add_argument("source", type=Path, help="an AudioMNIST tree (real or synthetic)")
    cue.add_argument("--out", type=Path, required=True,
                     help="new (or empty) folder for the cue tree")
    cue.add_argument("--seed", type=integer(0, MAX_SEED), default=0,
                     help="burst placement seed (default 0)")
    _add_resampler_option(cue, "planting leaves out clips")
    cue.set_defaults(func=cmd_data_cue)

    check = data_sub.add_parser("check", parents=[common], help="validate a dataset tree",
                                description="Exit status: 0 clean, 1 some clips rejected, "
                                            "2 unusable.")
    check.add_argument("root", type=Path, help="the folder of speaker folders 01..60 and "
                       "audioMNIST_meta.txt: data/ of the AudioMNIST repository, a synthetic "
                       "tree's --out")
    check.add_argument("--speakers", action="store_true", help="print counts per speaker")
    _add_resampler_option(check, "the check refuses clips")
    check.set_defaults(func=cmd_data_check)

    download = data_sub.add_parser("download", parents=[common],
                                   help="fetch the original recordings (needs a network)")
    download.add_argument("--out", type=Path, required=True,
                          help="folder to extract the recordings into")
    download.add_argument("--url", default=None, help="archive URL (default: the paper's repo)")
    download.add_argument("--sha256", default=None, metavar="HEX",
                          help="expected SHA-256 of the archive; nothing is extracted when it "
                               "differs (the default URL's archive is built on demand by "
                               "GitHub, so its digest is not pinned)")
    download.set_defaults(func=cmd_data_download)

    train = sub.add_parser("train", parents=[common], help="train a reference model")
    train.add_argument("--data", type=Path, required=True, help="AudioMNIST tree")
    train.add_argument("--model", required=True, metavar="{audionet,alexnet}",
                       help="the architecture")
    train.add_argument("--task", required=True, metavar="{" + ",".join(TASKS) + "}",
                       help="what to classify (cue: a tree made by 'data cue')")
    train.add_argument("--fold", type=integer(0, MAX_FOLD), default=0,
                       help=f"the paper's split, 0..{MAX_FOLD} (digit has 5, sex 4; default 0)")
    train.add_argument("--out", type=Path, required=True,
                       help="checkpoint file; checked before any work: an existing file is "
                            "replaced only with --overwrite")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the checkpoint at --out; the earlier one is kept as "
                            "<name>.previous-<UTC time>.pt, never deleted")
    train.add_argument("--preset", default="auto",
                       help="cpu (narrow, minutes), paper (full width, paper's budget) or auto "
                            "(paper on cuda, cpu otherwise)")
    train.add_argument("--width", type=width, default=None,
                       help=f"override the width multiplier (0 < width <= {MAX_WIDTH:g})")
    train.add_argument("--iterations", type=integer(1, MAX_ITERATIONS), default=None,
                       help="override the preset's number of iterations")
    train.add_argument("--select", choices=("best", "final"), default=None,
                       help="validation-best or final iterate (default: the preset's)")
    train.add_argument("--seed", type=integer(0, MAX_SEED), default=0,
                       help="data split and initialisation seed (default 0)")
    train.add_argument("--resampler", choices=RESAMPLERS, default=DEFAULT_RESAMPLER,
                       help="how clips reach 8 kHz: fft (scipy.signal.resample, the paper's "
                            f"code) or sinc (torchaudio; default {DEFAULT_RESAMPLER})")
    train.add_argument("--device", default="cpu", help="cpu or cuda")
    train.add_argument("--nondeterministic", action="store_true",
                       help="faster, not repeatable on a GPU: let cuDNN autotune instead of "
                            "deterministic algorithms (recorded with the results)")
    train.set_defaults(func=cmd_train)

    run = sub.add_parser("run", parents=[common],
                         help="run a benchmark: train (cached), explain, score, write results",
                         description="With no BENCHMARK runs the quickstart on synthetic data "
                                     "(generated and cached on first use).",
                         epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("benchmark", nargs="?", default="quickstart",
                     help="a benchmark YAML file or a shipped name: quickstart (default), "
                          "paper-digit, paper-sex, ground-truth")
    run.add_argument("--out", type=Path, default=None,
                     help="results folder (default results/<benchmark name>); one run writes "
                          "a folder at a time, and a folder that holds results is continued "
                          "only with --resume or started over with --overwrite")
    run.add_argument("--device", choices=("cpu", "cuda"), default=None,
                     help="overrides the benchmark's device")
    run.add_argument("--seed", type=integer(0, MAX_SEED), default=None,
                     help="overrides the benchmark's seed (model initialisation, clip "
                          "offsets, test samples, random orders): a replicate run; default "
                          "--out results/<benchmark name>-seed<N>. The leaderboard pools the "
                          "runs of several seeds, each split's models together")
    run.add_argument("--data", type=Path, default=None,
                     help="real AudioMNIST tree instead of the benchmark's data: the folder "
                          "of speaker folders 01..60 (data/ of the AudioMNIST repository)")
    run.add_argument("--executor", choices=("local", "processes", "ray"), default=None,
                     help="where the work runs: local (this process; the default unless the "
                          "benchmark names another), processes (a pool of processes on this "
                          "machine) or ray (tasks on a Ray cluster)")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="processes of the processes executor (default: the benchmark's, "
                          "else one per core); implies --executor processes")
    run.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                     help="the Ray cluster to join (default: start a local Ray instance)")
    run.add_argument("--cache", type=Path, default=None,
                     help="cache folder for data, models, relevance and scores (default "
                          "$AUDIOXAI_BENCH_CACHE or ~/.cache/audioxai-bench); with Ray, a path "
                          "every node can read and write")
    run.add_argument("--time-limit", type=integer(1), default=None, metavar="SECONDS",
                     help="seconds one plugin call (an explainer or a metric on a batch, a "
                          "metric's summary, a sonifier) may take unless the plugin declares "
                          "its own limit; a call over it fails its cells and the run goes on "
                          "(default: the benchmark's plugin_time_limit_s, 1800)")
    run.add_argument("--nondeterministic", action="store_true",
                     help="faster, not repeatable on a GPU: let cuDNN autotune instead of "
                          "deterministic algorithms, and allow operations torch has no "
                          "deterministic kernel for (recorded with the results)")
    run.add_argument("--rescore", action="store_true",
                     help="explain and score every cell again, even those whose relevance "
                          "and scores the cache keeps from an earlier run of the same code and "
                          "settings (e.g. to time the explainers again, or after editing code "
                          "a plugin imports from outside its own package); with --resume, "
                          "the finished cells are computed again too")
    again = run.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out (after Ctrl-C, a kill or a changed "
                            "definition): finished cells are not computed again, unless "
                            "their code (this package's or a plugin's source) changed since")
    again.add_argument("--overwrite", action="store_true",
                       help="start over in --out; the earlier results.jsonl, run.json, "
                            "examples/ and audio/ are kept as results.previous-<UTC time>.jsonl, "
                            "run.previous-<UTC time>.json, examples.previous-<UTC time>, …, "
                            "never deleted")
    _add_plugin_option(run)
    run.set_defaults(func=cmd_run)

    board = sub.add_parser("leaderboard", parents=[common],
                           help="regenerate the leaderboard tables and page from results",
                           description="Write Markdown and CSV tables and one self-contained "
                                       "index.html from one or more runs.")
    board.add_argument("results", nargs="*", type=Path,
                       help="run folders or results.jsonl files (default results/quickstart "
                            "and, where they exist, results/ground-truth and the seed "
                            "replicates of both, results/<name>-seed<N>)")
    board.add_argument("--out", type=Path, default=Path("leaderboard"),
                       help="output folder (default leaderboard/); a leaderboard of other "
                            "benchmarks already there is not replaced without --force")
    board.add_argument("--force", action="store_true",
                       help="replace the leaderboard in --out even if it was built from other "
                            "benchmarks or datasets")
    board.add_argument("--partial", action="store_true",
                       help="accept runs that have not finished (interrupted, or still "
                            "running); the leaderboard then says it is partial")
    board.add_argument("--mixed-versions", action="store_true",
                       help="pool seeds or splits whose records of a cell came from different "
                            "versions of a plugin (refused otherwise); the facts name each "
                            "version's runs")
    board.add_argument("--readme", type=Path, metavar="FILE",
                       help="also fill FILE's '<!-- results NAME -->' ... '<!-- /results -->' "
                            "blocks with the summary table of benchmark NAME (the project "
                            "README's results)")
    board.set_defaults(func=cmd_leaderboard)

    plugins = sub.add_parser("plugins", parents=[common],
                             help="list every explainer, sonifier, metric and model with the "
                                  "plugin that registered it",
                             description="List every registered object with its plugin, version "
                                         "and origin. Exit status 0, or 1 when a plugin failed "
                                         "to load: it registers nothing, and a FAILED line on "
                                         "stderr names it and the reason (--debug adds its "
                                         "traceback). 2 when AUDIOXAI_BENCH_BLOCK_PLUGINS names "
                                         "no plugin.")
    plugins.add_argument("--kind", choices=("explainer", "sonifier", "metric", "model"),
                         help="only this kind")
    _add_plugin_option(plugins)
    plugins.set_defaults(func=cmd_plugins)
    return parser


#: Bounds shared with benchmark definitions (``audioxai_bench.run.definition``; a test keeps them
#: equal): seeds whose derived metric seeds fit int64, sane widths and budgets.
MAX_SEED = 2**31 - 1
MAX_WIDTH = 64.0
MAX_ITERATIONS = 1_000_000
MAX_FOLD = max(n_folds(task) for task in ("digit", "sex")) - 1


def integer(low: int, high: int | None = None):
    """An argparse ``type``: an integer in ``low..high``, else a one-line usage error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            limits = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {limits}, got {value}")
        return value
    return parse


def width(text: str) -> float:
    """An argparse ``type``: a finite width multiplier in (0, MAX_WIDTH]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value <= MAX_WIDTH:  # False for nan as well
        raise argparse.ArgumentTypeError(f"must be in (0, {MAX_WIDTH:g}], got {text}")
    return value


RUN_EPILOG = """\
exit status:
  0    every cell was scored
  1    some cells failed: each is recorded with its reason in results.jsonl and
       printed as a FAILED line (with --debug, the plugin's traceback on stderr)
  2    bad input or a plugin named by --plugin that cannot be loaded (one line)
  130  interrupted (143: stopped by SIGTERM): finished cells are kept; continue
       with --resume

results: OUT/results.jsonl holds one JSON record per cell. A folder that holds
results is not written into without --resume (continue) or --overwrite (start
over; the earlier files are kept under a timestamped name, never deleted). One
run writes a folder at a time (a lock, OUT/.lock).

environment:
  AUDIOXAI_BENCH_CACHE          cache of data, trained models and relevance maps
                                (default ~/.cache/audioxai-bench)
  AUDIOXAI_BENCH_PLUGINS        .py files or module names to load as plugins, as
                                --plugin; separated by commas or os.pathsep (:)
  AUDIOXAI_BENCH_BLOCK_PLUGINS  plugin names to skip, comma-separated: an entry-point
                                or distribution name, a plugin file's stem, or
                                builtin.<module>; a name that matches no plugin is
                                an error (exit status 2)
"""


def _add_plugin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin", action="append", default=[], metavar="PATH",
                        help="also load this plugin: a .py file (a one-file plugin, no "
                             "packaging needed) or an importable module name; repeatable")


def _add_resampler_option(parser: argparse.ArgumentParser, refused: str) -> None:
    """``--resampler`` of a data action: which clips a tree's runs can use depends on it."""
    parser.add_argument("--resampler", choices=RESAMPLERS, default=DEFAULT_RESAMPLER,
                        help="the resampler of the runs that will use the tree (a definition's "
                             f"data.resampler, train --resampler); {refused} at a rate it "
                             "cannot take: sinc refuses sample rates that share too small a "
                             f"factor with 8 kHz, fft does not (default {DEFAULT_RESAMPLER})")


def _add_global_flags(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--quiet", action="store_true", default=default,
                        help="no progress bars")
    parser.add_argument("--progress", action="store_true", default=default,
                        help="progress bars even when stderr is not a terminal (logs, CI)")
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show tracebacks: of an error, and of each plugin that raised")


def _load_plugins(args: argparse.Namespace, *, fatal: bool, extra: tuple[str, ...] = ()):
    """The plugins with ``extra`` (a definition's ``plugins:``), ``--plugin`` and
    ``AUDIOXAI_BENCH_PLUGINS``. With ``fatal``, a failure of one of those stops the command (a
    run without a plugin the user asked for would mislead); with ``--debug`` every failure's
    traceback goes to stderr."""
    from .plugins import load_plugins

    pm = load_plugins(extra=[*extra, *args.plugin])
    for failure in pm.failures:
        if args.debug and failure.traceback:
            print(failure.traceback.rstrip(), file=sys.stderr)
        if fatal and failure.origin.startswith(("file ", "module ")):  # named by the user
            raise AudioXaiError(str(failure))
    return pm


def cmd_data_synth(args: argparse.Namespace) -> int:
    from .data.splits import female_speakers, select_speakers
    from .data.synth import synthesize_dataset

    speakers = select_speakers(args.speakers)
    summary = synthesize_dataset(args.out, speakers, female_speakers(), reps=args.reps,
                                 seed=args.seed, workers=args.workers,
                                 progress=Progress("synth", args.quiet, " clips"))
    if not summary.written:
        print(f"{args.out}: already holds the synthetic tree of these settings; nothing written")
        return 0
    print(f"wrote {summary.n_clips} clips of {summary.n_speakers} speakers to {args.out} "
          f"in {summary.seconds:.1f} s")
    return 0


def cmd_data_cue(args: argparse.Namespace) -> int:
    from .data.cue import plant_cues

    summary = plant_cues(args.source, args.out, seed=args.seed,
                         progress=Progress("plant cues", args.quiet, " clips"),
                         resampler=args.resampler)
    if not summary.written:
        print(f"{args.out}: already holds the cue tree of {args.source} with seed {args.seed}; "
              "nothing written")
        return 0
    flag = "" if args.resampler == DEFAULT_RESAMPLER else f" --resampler {args.resampler}"
    print(f"planted cues into {summary.n_clips} clips in {args.out}; check them with "
          f"'audioxai-bench data check {args.out}{flag}'")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from .data.check import check_dataset

    report = check_dataset(args.root, args.resampler)
    counts = report.counts()
    print(f"{args.root}: {len(report.usable)} usable clips of {len(report.index.clips)}, "
          f"{counts.speaker.nunique()} speakers")
    if len(counts):
        per_sex = counts.groupby("sex").agg(speakers=("speaker", "nunique"),
                                            clips=("digit", "size"))
        print("per sex:\n" + per_sex.to_string())
        per_digit = counts.groupby("digit").size().rename("clips")
        print("per digit:\n" + per_digit.to_frame().T.to_string(index=False))
        if args.speakers:
            per_speaker = counts.groupby(["speaker", "sex"]).size().rename("clips")
            print("per speaker:\n" + per_speaker.to_string())
    for problem in report.problems:
        print(f"{'ERROR' if problem.fatal else 'note'}: {problem}")
    if not report.usable:
        print(f"error: {args.root}: no usable clips", file=sys.stderr)
        return 2
    return 1 if report.fatal else 0


def cmd_data_download(args: argparse.Namespace) -> int:
    from .data.download import DEFAULT_URL, download_audiomnist

    got = download_audiomnist(args.out, args.url or DEFAULT_URL,
                              progress=Progress("download", args.quiet, " bytes"),
                              sha256=args.sha256)
    print(f"extracted {got.files} files into {args.out} (archive SHA-256 {got.sha256}); check "
          f"them with 'audioxai-bench data check {args.out}'")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .run.training import TrainRequest, train_reference

    req = TrainRequest(data=args.data, model=args.model, task=args.task, fold=args.fold,
                       out=args.out, preset=args.preset, width=args.width,
                       iterations=args.iterations, select=args.select, seed=args.seed,
                       device=args.device, deterministic=not args.nondeterministic,
                       resampler=args.resampler, overwrite=args.overwrite)
    result, _ = train_reference(req, quiet=args.quiet)
    print(f"{args.model} {args.task} fold {args.fold}: validation accuracy "
          f"{result.val_accuracy:.1%}, test accuracy {result.test_accuracy:.1%} "
          f"(held-out speakers; iteration {result.selected_iteration} of "
          f"{result.iterations}, "
          f"{result.seconds:.0f} s); saved {args.out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .data.layout import tree_problem
    from .leaderboard import top_table
    from .run.definition import SHIPPED, load_benchmark
    from .run.records import RESULTS_FILE, load_results
    from .run.runner import run_benchmark

    try:
        bench = load_benchmark(args.benchmark)
    except AudioXaiError as exc:  # a misspelt shipped name: say which one was meant
        hint = "" if Path(args.benchmark).exists() else did_you_mean(args.benchmark, SHIPPED)
        if not hint:
            raise
        raise AudioXaiError(f"{exc}{hint}") from None
    if args.data is not None:
        problem = tree_problem(args.data)  # before the definition's data.path is blamed
        if problem:
            raise AudioXaiError(f"--data {args.data}: {problem}")
        bench = bench.with_data(args.data)
    if args.nondeterministic:
        bench = bench.model_copy(update={"deterministic": False})
    if args.seed is not None:
        bench = bench.model_copy(update={"seed": args.seed})
    if args.time_limit is not None:
        bench = bench.model_copy(update={"plugin_time_limit_s": float(args.time_limit)})
    if args.workers is not None:
        if args.workers < 1:
            raise AudioXaiError(f"--workers {args.workers}: needs a pool of at least one "
                                f"process (the processes executor)")
        if args.executor not in (None, "processes"):
            raise AudioXaiError(f"--workers {args.workers} sizes the processes executor's pool "
                                f"and conflicts with --executor {args.executor}: drop one")
        bench = bench.model_copy(update={"executor": "processes", "workers": args.workers})
    pm = _load_plugins(args, fatal=True, extra=bench.plugins)
    for failure in pm.failures:  # of installed plugins: the run goes on without them
        print(f"warning: {failure}", file=sys.stderr)
    out = args.out or results_folder(bench.name, args.seed)
    if args.cache is not None:
        from .data.cache import CACHE_ENV

        os.environ[CACHE_ENV] = str(args.cache.resolve())
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        report = run_benchmark(bench, out, device=args.device, resume=args.resume,
                               overwrite=args.overwrite, quiet=args.quiet, plugins=pm,
                               debug=args.debug, executor=args.executor, address=args.address,
                               rescore=args.rescore)
    except KeyboardInterrupt as stop:
        print(f"interrupted: finished cells are in {out / RESULTS_FILE}; continue with "
              f"'audioxai-bench run {args.benchmark} --out {out} --resume'", file=sys.stderr)
        return 143 if isinstance(stop, _Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(top_table(load_results(out)))
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in report.stages.items())
    # what came from the caches: a run that recomputed what a user expected cached says so
    cached = ", ".join(f"{k} {v}" for k, v in report.cached.items() if v) or "nothing"
    print(f"{report.records} records ({report.failed} failed, {report.skipped} already done) in "
          f"{out / RESULTS_FILE}; wall time {report.wall_seconds:.0f} s ({stages}); peak memory "
          f"{report.peak_memory_mb:.0f} MB; from caches: {cached}")
    print(f"tables and page: audioxai-bench leaderboard {out}")
    everything = _asks_for_all(bench)
    if pm.failures and everything:
        print(f"error: the benchmark asks for all {everything}, but {len(pm.failures)} plugin "
              f"failure(s) left some out of these results (also in {out / 'run.json'}):",
              file=sys.stderr)
        for failure in pm.failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 1 if report.failed else 0


def _asks_for_all(bench) -> str:
    """Which kinds the definition takes as 'all' registered ones ("" when none): a plugin that
    failed to load then changes the set of methods the user asked for."""
    kinds = [kind for kind in ("explainers", "metrics", "sonifiers")
             if (chosen := getattr(bench, kind)) is None or (chosen and chosen[0].base == "all")]
    return ", ".join(kinds)


def results_folder(name: str, seed: int | None = None) -> Path:
    """Where ``run`` writes a benchmark's results by default: results/<name>, or
    results/<name>-seed<N> for a replicate with another seed."""
    return Path("results") / (name if seed is None else f"{name}-seed{seed}")


def replicate_folders(name: str) -> list[Path]:
    """The existing default results folders of benchmark ``name``: its own, then its seed
    replicates by seed."""
    own = results_folder(name)
    replicates = sorted((int(match[1]), path) for path in own.parent.glob(f"{name}-seed*")
                        if (match := re.fullmatch(rf"{re.escape(name)}-seed(\d+)", path.name)))
    return [own] * own.exists() + [path for _, path in replicates]


def _out_folder(out: Path) -> None:
    """Refuse an ``--out`` that is a file, or lies under one, before any results are read:
    making the folder failed there with a bare "[Errno 17] File exists"."""
    for path in (out, *out.parents):
        if path.exists():
            if not path.is_dir():
                raise AudioXaiError(
                    f"--out {out}" + ("" if path == out else f": {path}")
                    + " is a file; --out must be a folder (the leaderboard writes its README.md, "
                    "CSV files and index.html into it)")
            return


def cmd_leaderboard(args: argparse.Namespace) -> int:
    _out_folder(args.out)
    from .leaderboard import build_leaderboard

    # the committed leaderboard: the quickstart, and the ground-truth run where there is one,
    # each with its seed replicates
    shipped = ("quickstart", "ground-truth")
    results = args.results or [p for name in shipped for p in replicate_folders(name)] or [
        results_folder(shipped[0])]
    written = build_leaderboard(results, args.out, quiet=args.quiet, force=args.force,
                                project_readme=args.readme, partial=args.partial,
                                mixed_versions=args.mixed_versions)
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    import pandas as pd

    pm = _load_plugins(args, fatal=False)
    rows = pd.DataFrame(pm.describe())
    if args.kind:
        rows = rows[rows.kind == args.kind]
    print(rows.to_string(index=False) if len(rows) else "nothing registered")
    sys.stdout.flush()  # the table first, then the failures, when both go to one terminal
    for failure in pm.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if pm.failures else 0


if __name__ == "__main__":
    sys.exit(main())
