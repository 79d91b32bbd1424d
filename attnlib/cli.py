"""Command line: ``attnlib data list|fetch``, ``train``, ``test``, ``grid``, ``publish``.

User mistakes print one clear line (no traceback) and exit with status 2; Ctrl-C anywhere
prints one line and exits with status 130 (every file is written atomically, so nothing
is left half-written, and the same command continues where it stopped).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import ARCHS, ATTENTIONS, ENCODERS, list_profiles, make_run_config
from .errors import MAX_SEED, AttnlibError
from .plan import list_plans, list_side_plans, plan_runs
from .training.train import TrainingInterrupted


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _threads(text: str) -> int:
    value = _positive_int(text)
    cores = available_cores()
    if value > cores:
        raise argparse.ArgumentTypeError(f"this machine has {cores} cores; use 1 to {cores}, "
                                         f"got {value}")
    return value


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds (a finite number), got "
                                         f"{text!r}")
    return value


def _resources(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty one (a run or results "
                                         "file needs a name, for example runs/imdb-flan)")
    return Path(text)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed must be between 0 and 2**63 - 1, got {value}")
    return value


MAX_GRID_THREADS = 1024  # a grid's runs may run on other machines: no local bound


def _grid_threads(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_GRID_THREADS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_GRID_THREADS} threads per "
                                         f"run, got {value}")
    return value


def _add_run_options(p: argparse.ArgumentParser, threads: Any = None) -> None:
    p.add_argument("--profile", default="smoke", choices=list_profiles(),
                   help="smoke: minutes on a CPU; paper: full data, paper hyperparameters")
    p.add_argument("--max-train-docs", type=_positive_int, default=None)
    p.add_argument("--max-test-docs", type=_positive_int, default=None)
    p.add_argument("--epochs", type=_positive_int, default=None, help="maximum epochs")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=threads or _threads, default=None,
                   help="CPU threads for torch, 1 to the cores there are (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnlib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    data_sub.add_parser("list", help="every dataset id, its classes, sizes and origin")
    fetch = data_sub.add_parser("fetch", help="download (or verify the mirror copy of) a dataset")
    fetch.add_argument("dataset")
    add = data_sub.add_parser("add", help="register your own data (CSV or JSON Lines) as NAME")
    add.add_argument("name")
    add.add_argument("--train", required=True, type=Path, help="training file (.csv/.jsonl)")
    add.add_argument("--test", required=True, type=Path, help="test file (.csv/.jsonl)")
    add.add_argument("--text-column", default="text")
    add.add_argument("--label-column", default="label")
    add.add_argument("--preset", default="imdb", choices=["imdb", "yelp", "amazon", "yahoo"],
                     help="the paper's hyperparameter set for the paper profile")
    add.add_argument("--title", default=None)
    add.add_argument("--replace", action="store_true",
                     help="replace the documents of a NAME added before with other files")

    train = sub.add_parser("train", help="train one model")
    train.add_argument("--dataset", required=True)
    train.add_argument("--arch", required=True, choices=ARCHS)
    train.add_argument("--encoder", required=True, choices=ENCODERS)
    train.add_argument("--seed", type=_seed, default=0)
    train.add_argument("--out", type=_path, default=None,
                       help="run directory (default: the run cache that the book reads, "
                            "so that the book reuses this run)")
    train.add_argument("--checkpoint-every", type=_seconds, default=120.0,
                       help="seconds between mid-epoch checkpoints (default 120; 0: after "
                            "every batch)")
    _add_run_options(train)

    test = sub.add_parser("test", help="run the erasure tests of a trained run")
    test.add_argument("run_dir", type=_path)
    test.add_argument("--out", required=True, type=_path, help="results file (.parquet)")
    test.add_argument("--max-test-docs", type=_positive_int, default=None)
    test.add_argument("--rankings", nargs="+", default=None,
                      help="multi-weight rankings (default: all registered)")
    test.add_argument("--random-seeds", type=_positive_int, default=5)
    test.add_argument("--seed", type=_seed, default=0)
    test.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    test.add_argument("--threads", type=_threads, default=None)
    test.add_argument("--quiet", action="store_true")

    grid = sub.add_parser("grid", help="train every missing run of a grid into the run cache")
    which = grid.add_mutually_exclusive_group(required=True)
    which.add_argument("--datasets", nargs="+")
    which.add_argument("--plan", choices=list_plans() + list_side_plans(),
                       help="every run of a profile's planned grid (attnlib/plan.py), or of "
                            "a side plan (paper-shortcut: the known-answer runs); it sets the "
                            "profile; --archs/--encoders/--seeds are then ignored")
    grid.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    grid.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=ENCODERS)
    grid.add_argument("--seeds", nargs="+", type=_seed, default=[0])
    grid.add_argument("--engine", default="ray", choices=["ray", "local"],
                      help="ray (default): a local Ray instance on every core, or the cluster "
                           "at --address; local: one run after the other in this process")
    grid.add_argument("--address", default=None,
                      help="a Ray cluster to join ('auto', or host:port; default: "
                           "$RAY_ADDRESS, else a local instance)")
    grid.add_argument("--cpus-per-run", type=_resources, default=1.0,
                      help="CPUs Ray reserves per run (default 1)")
    grid.add_argument("--gpus-per-run", type=_resources, default=0.0,
                      help="GPUs Ray reserves per run, fractions allowed (e.g. 0.25)")
    grid.add_argument("--attention", default="learned", choices=ATTENTIONS,
                      help="uniform: the same runs with attention fixed to equal weights "
                           "(Wiegreffe & Pinter's baseline)")
    grid.add_argument("--no-tests", action="store_true",
                      help="train only (default: also run the erasure, layer and input tests "
                           "and build the explorer payload)")
    _add_run_options(grid, _grid_threads)

    publish = sub.add_parser("publish", help="copy finished runs (no checkpoints) from the "
                             "run cache to results/<profile>/")
    publish.add_argument("--profile", default="paper", choices=list_profiles())
    publish.add_argument("--dest", type=_path, default=None)
    publish.add_argument("--followup-tests", action="store_true",
                         help="also compute and publish the layer and input-erasure tests of "
                              "every published run whose checkpoint is in the run cache")
    return parser


def _cmd_data_list() -> None:
    from .data import get_dataset, list_datasets, where_from

    print(f"{'id':22} {'status':11} {'classes':>7} {'train':>9} {'test':>8}  origin      title")
    for name in list_datasets():
        spec = get_dataset(name)
        train, test = spec.sizes or ("?", "?")
        print(f"{name:22} {spec.status:11} {spec.n_classes:>7} {train:>9,} {test:>8,}  "
              f"{where_from(spec):11} {spec.title}")
    print("\norigin: mirror = $ATTNLIB_DATA_MIRROR, damaged-mirror = a file fails its "
          "checksum (copy or add it again), added = your data (`attnlib data add`), "
          "download-cache = downloaded earlier, download = fetched on first use, "
          "unavailable = set the mirror")


def _cmd_data_add(args: argparse.Namespace) -> None:
    from .data.user import add_dataset

    spec = add_dataset(args.name, args.train, args.test, args.text_column, args.label_column,
                       args.preset, args.title, replace=args.replace)
    train, test = spec.sizes or (0, 0)
    print(f"added {spec.id}: {train:,} training and {test:,} test documents, classes "
          f"{', '.join(spec.classes)}; files in {spec.files_dir}. Use it as --dataset "
          f"{spec.id} or -p datasets '[\"{spec.id}\"]'")


def _cmd_data_fetch(dataset: str) -> None:
    from .data import locate_split

    for split in ("train", "test"):
        print(f"{split}: {locate_split(dataset, split)}")


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _cmd_train(args: argparse.Namespace) -> None:
    from .training.train import train_run

    _set_threads(args.threads)
    config = make_run_config(args.profile, args.dataset, args.arch, args.encoder, args.seed,
                             max_train_docs=args.max_train_docs,
                             max_test_docs=args.max_test_docs, epochs=args.epochs)
    out = args.out
    if out is None:  # the book's run cache, addressed by the config: the book reuses it
        from .training.pipeline import run_dir_for

        out = run_dir_for(config)
        print(f"run folder: {out}", flush=True)
    metrics = train_run(config, out, device=args.device, progress=not args.quiet,
                        checkpoint_every_s=args.checkpoint_every)
    keys = ("run", "dev_accuracy", "test_accuracy", "majority_baseline", "epochs",
            "train_seconds", "n_train", "n_test")
    print(json.dumps({k: metrics[k] for k in keys}, indent=2))


def _cmd_test(args: argparse.Namespace) -> None:
    from .analysis.summaries import fraction_to_flip_summary
    from .layer.suite import DEFAULT_RANKINGS, SuiteConfig, ensure_erasure_results
    from .training.runs import load_run

    _set_threads(args.threads)
    suite = SuiteConfig(rankings=tuple(args.rankings or DEFAULT_RANKINGS),
                        random_seeds=args.random_seeds, seed=args.seed,
                        max_test_docs=args.max_test_docs)
    run = load_run(args.run_dir, device=args.device)
    frame = ensure_erasure_results(run, args.out, suite, progress=not args.quiet)
    summary = fraction_to_flip_summary(frame)[["ranking", "n", "before_full_share",
                                               "full_only_share", "never_flip_share", "median"]]
    print(f"{len(frame):,} rows -> {args.out}")
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


def _cmd_grid(args: argparse.Namespace) -> None:
    from .grid import GridOptions, run_grid

    if args.plan is not None:
        profile, runs = plan_runs(args.plan)
    else:
        runs = [(d, a, e, s) for d in args.datasets for s in args.seeds for a in args.archs
                for e in args.encoders]
        profile = args.profile
    configs = [make_run_config(profile, dataset, arch, encoder, seed,
                               max_train_docs=args.max_train_docs,
                               max_test_docs=args.max_test_docs, epochs=args.epochs,
                               attention=args.attention)
               for dataset, arch, encoder, seed in runs]
    options = GridOptions(with_tests=not args.no_tests, device=args.device,
                          threads=args.threads or max(1, int(args.cpus_per_run)),
                          cpus_per_run=args.cpus_per_run,
                          gpus_per_run=args.gpus_per_run, progress=not args.quiet)
    done = run_grid(configs, options, engine=args.engine, address=args.address)
    for metrics in done:
        print(f"{metrics['run']}: test accuracy {metrics['test_accuracy']:.4f}", flush=True)


def _cmd_publish(args: argparse.Namespace) -> None:
    from .publish import (
        publish_adversarial_tests,
        publish_baselines,
        publish_data_summaries,
        publish_followup_tests,
        publish_inpage_models,
        publish_runs,
    )
    from .study import published_root

    dest = args.dest or published_root(args.profile)
    if dest is None:
        raise AttnlibError("not in a source checkout: pass --dest")
    runs = publish_runs(args.profile, dest)
    if args.followup_tests:
        n = publish_followup_tests(args.profile, dest)
        print(f"{n} of {len(runs)} published runs have the follow-up tests")
        adversarial = publish_adversarial_tests(args.profile, dest)
        print(f"{len(adversarial)} of {len(runs)} published runs have the multi-start "
              "adversarial search")
    inpage = publish_inpage_models(args.profile, dest)
    if inpage:
        print(f"in-page models (type your own text): {', '.join(inpage)}")
    publish_baselines(args.profile, dest)
    publish_data_summaries(args.profile, dest)
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file()) / 2**20
    print(f"{len(runs)} runs published in {dest} ({size:.1f} MB)")


INTERRUPTED = ("attnlib: interrupted (Ctrl-C); files are written whole or not at all: run "
               "the same command again to continue")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # anywhere: while importing, tokenising, testing, publishing
        print(INTERRUPTED, file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "data" and args.data_command == "list":
            _cmd_data_list()
        elif args.command == "data" and args.data_command == "add":
            _cmd_data_add(args)
        elif args.command == "data":
            _cmd_data_fetch(args.dataset)
        elif args.command == "train":
            _cmd_train(args)
        elif args.command == "test":
            _cmd_test(args)
        elif args.command == "grid":
            _cmd_grid(args)
        elif args.command == "publish":
            _cmd_publish(args)
    except TrainingInterrupted as exc:
        print(f"attnlib: {exc}", file=sys.stderr)
        return 130
    except AttnlibError as exc:
        print(f"attnlib: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `attnlib ... | head`: the reader left; end quietly
        _silence_stdout()
        return 0
    except ConnectionError as exc:  # a Ray cluster or a download server that cannot be reached
        print(f"attnlib: error: cannot connect ({exc}); check the address (for a grid, "
              "--address or $RAY_ADDRESS) and that the other side is running", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only folder, a path that is a file...
        print(f"attnlib: error: {_os_error(exc)}", file=sys.stderr)
        return 2
    return 0


def _os_error(exc: OSError) -> str:
    """One line for a file-system error whose fix matches its cause (for a copy, Python
    names the source first and the file being written second)."""
    written = exc.filename2 or exc.filename
    what = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{what} while writing {written}; free space on its disk, or write elsewhere"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{what}: {exc.filename}; choose a folder you may write, or fix its permissions"
    if exc.errno == errno.ENOENT:
        return f"{what}: {exc.filename}; check the path"
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{what}{where}; check the path"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's exit flush cannot fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
