"""The ``audioxai-bench`` command line; every error is one line unless ``--debug``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .errors import AudioXaiError
from .progress import FORCE_ENV, Progress


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "progress", False):
        os.environ[FORCE_ENV] = "1"
    if not getattr(args, "func", None):
        parser.print_help()
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audioxai-bench",
                                     description="Score explanation methods on AudioMNIST.")
    _add_global_flags(parser, False)
    # the flags are accepted after a subcommand too; SUPPRESS keeps the top-level value
    common = argparse.ArgumentParser(add_help=False)
    _add_global_flags(common, argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    data = sub.add_parser("data", help="create, check or download AudioMNIST data")
    data_sub = data.add_subparsers(metavar="ACTION")
    synth = data_sub.add_parser("synth", parents=[common],
                                help="synthesize an AudioMNIST-shaped dataset offline")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--speakers", type=int, default=60, help="1..60 (default 60)")
    synth.add_argument("--reps", type=int, default=50, help="repetitions per digit (default 50)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    synth.set_defaults(func=cmd_data_synth)

    check = data_sub.add_parser("check", parents=[common], help="validate a dataset tree",
                                description="Exit status: 0 clean, 1 some clips rejected, "
                                            "2 unusable.")
    check.add_argument("root", type=Path)
    check.add_argument("--speakers", action="store_true", help="print counts per speaker")
    check.set_defaults(func=cmd_data_check)

    download = data_sub.add_parser("download", parents=[common],
                                   help="fetch the original recordings (needs a network)")
    download.add_argument("--out", type=Path, required=True)
    download.add_argument("--url", default=None, help="archive URL (default: the paper's repo)")
    download.add_argument("--sha256", default=None, metavar="HEX",
                          help="expected SHA-256 of the archive; nothing is extracted when it "
                               "differs (the default URL's archive is built on demand by "
                               "GitHub, so its digest is not pinned)")
    download.set_defaults(func=cmd_data_download)

    train = sub.add_parser("train", parents=[common], help="train a reference model")
    train.add_argument("--data", type=Path, required=True, help="AudioMNIST tree")
    train.add_argument("--model", required=True, help="audionet or alexnet")
    train.add_argument("--task", required=True, help="digit or sex")
    train.add_argument("--fold", type=int, default=0, help="the paper's split (default 0)")
    train.add_argument("--out", type=Path, required=True, help="checkpoint path")
    train.add_argument("--preset", default="auto",
                       help="cpu (narrow, minutes), paper (full width, paper's budget) or auto "
                            "(paper on cuda, cpu otherwise)")
    train.add_argument("--width", type=float, default=None, help="override the width multiplier")
    train.add_argument("--iterations", type=int, default=None, help="override the budget")
    train.add_argument("--select", choices=("best", "final"), default=None,
                       help="validation-best or final iterate (default: the preset's)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="cpu", help="cpu or cuda")
    train.set_defaults(func=cmd_train)

    run = sub.add_parser("run", parents=[common],
                         help="run a benchmark: train (cached), explain, score, write results",
                         description="With no BENCHMARK runs the quickstart on synthetic data "
                                     "(generated and cached on first use).")
    run.add_argument("benchmark", nargs="?", default="quickstart",
                     help="a benchmark YAML file or a shipped name: quickstart (default), "
                          "paper-digit, paper-sex")
    run.add_argument("--out", type=Path, default=None,
                     help="results folder (default results/<benchmark name>); one run writes "
                          "a folder at a time, and a folder that holds results is continued "
                          "only with --resume or started over with --overwrite")
    run.add_argument("--device", choices=("cpu", "cuda"), default=None,
                     help="overrides the benchmark's device")
    run.add_argument("--data", type=Path, default=None,
                     help="real AudioMNIST tree (its data/ folder) instead of the benchmark's data")
    again = run.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out (after Ctrl-C, a kill or a changed "
                            "definition): finished cells are not computed again")
    again.add_argument("--overwrite", action="store_true",
                       help="start over in --out; the earlier results.jsonl and run.json are "
                            "kept as results.previous-<UTC time>.jsonl and "
                            "run.previous-<UTC time>.json, never deleted")
    run.set_defaults(func=cmd_run)

    board = sub.add_parser("leaderboard", parents=[common],
                           help="regenerate the leaderboard tables and page from results")
    board.add_argument("results", nargs="*", type=Path,
                       help="run folders or results.jsonl files (default results/quickstart)")
    board.add_argument("--out", type=Path, default=Path("leaderboard"),
                       help="output folder (default leaderboard/); a leaderboard of other "
                            "benchmarks already there is not replaced without --force")
    board.add_argument("--force", action="store_true",
                       help="replace the leaderboard in --out even if it was built from other "
                            "benchmarks or datasets")
    board.set_defaults(func=cmd_leaderboard)

    plugins = sub.add_parser("plugins", parents=[common],
                             help="list every explainer, sonifier, metric and model with the "
                                  "plugin that registered it")
    plugins.add_argument("--kind", choices=("explainer", "sonifier", "metric", "model"),
                         help="only this kind")
    plugins.set_defaults(func=cmd_plugins)
    return parser


def _add_global_flags(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--quiet", action="store_true", default=default,
                        help="no progress bars")
    parser.add_argument("--progress", action="store_true", default=default,
                        help="progress bars even when stderr is not a terminal (logs, CI)")
    parser.add_argument("--debug", action="store_true", default=default, help="show tracebacks")


def cmd_data_synth(args: argparse.Namespace) -> int:
    from .data.splits import female_speakers, select_speakers
    from .data.synth import synthesize_dataset

    if args.reps < 1:
        raise AudioXaiError(f"--reps must be at least 1, got {args.reps}")
    speakers = select_speakers(args.speakers)
    summary = synthesize_dataset(args.out, speakers, female_speakers(), reps=args.reps,
                                 seed=args.seed, workers=args.workers,
                                 progress=Progress("synth", args.quiet, " clips"))
    print(f"wrote {summary.n_clips} clips of {summary.n_speakers} speakers to {args.out} "
          f"in {summary.seconds:.1f} s")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from .data.check import check_dataset

    report = check_dataset(args.root)
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
                       device=args.device)
    result, _ = train_reference(req, quiet=args.quiet)
    print(f"{args.model} {args.task} fold {args.fold}: validation accuracy "
          f"{result.val_accuracy:.1%}, test accuracy {result.test_accuracy:.1%} "
          f"(held-out speakers; iteration {result.selected_iteration}, "
          f"{result.seconds:.0f} s); saved {args.out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .benchmark import load_benchmark
    from .leaderboard import top_table
    from .run.records import RESULTS_FILE, load_results
    from .run.runner import run_benchmark

    bench = load_benchmark(args.benchmark)
    if args.data is not None:
        bench = bench.with_data(args.data)
    out = args.out or Path("results") / bench.name
    try:
        report = run_benchmark(bench, out, device=args.device, resume=args.resume,
                               overwrite=args.overwrite, quiet=args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted: finished cells are in {out / RESULTS_FILE}; continue with "
              f"'audioxai-bench run {args.benchmark} --out {out} --resume'", file=sys.stderr)
        return 130
    print(top_table(load_results(out)))
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in report.stages.items())
    print(f"{report.records} records ({report.failed} failed, {report.skipped} already done) in "
          f"{out / RESULTS_FILE}; wall time {report.wall_seconds:.0f} s ({stages}); peak memory "
          f"{report.peak_memory_mb:.0f} MB")
    print(f"tables and page: audioxai-bench leaderboard {out}")
    return 1 if report.failed else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .leaderboard import build_leaderboard

    results = args.results or [Path("results") / "quickstart"]
    written = build_leaderboard(results, args.out, quiet=args.quiet, force=args.force)
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    import pandas as pd

    from .plugins import load_plugins

    pm = load_plugins()
    rows = pd.DataFrame(pm.describe())
    if args.kind:
        rows = rows[rows.kind == args.kind]
    print(rows.to_string(index=False) if len(rows) else "nothing registered")
    for failure in pm.failures:
        print(f"FAILED: {failure}")
    return 1 if pm.failures else 0


if __name__ == "__main__":
    sys.exit(main())
