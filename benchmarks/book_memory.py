"""Memory and time of the paper book, measured from outside (process tree RSS sampled
five times a second with psutil), for a before/after comparison in one report.

    # each chapter alone (its kernel's peak RSS and its time), in a checkout ROOT
    python benchmarks/book_memory.py chapters --root . --out after-chapters.json
    # the whole `make book` (tools/build_book.py, paper profile): peak RSS of the whole
    # process tree (builder + kernels + jupyter-book) and wall time
    python benchmarks/book_memory.py build --root . --out after-build.json
    # the claims on the published study and on a synthetic study of 10x the rows
    # (every published run copied 9 more times under new run ids and training seeds)
    python benchmarks/book_memory.py claims --scales 1 10 --out claims.json
    # side by side, against the budgets of docs/benchmarks.md
    python benchmarks/book_memory.py report before-*.json after-*.json claims.json

ROOT may be another checkout (e.g. ``git archive main | tar -x -C /tmp/before``) to
measure the code before a change with the same script; its attnlib is imported from
ROOT (PYTHONPATH). Memory-heavy: run under ``flock /tmp/attnlib-heavy.lock``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parents[1]
CHAPTERS = ("data", "models", "single_weight", "multi_weight", "other_tests",
            "paper_claims", "explore", "conclusions")
BUDGETS = {"chapter_gb": 1.5, "build_gb": 3.5, "build_s": 120.0, "claims10x_gb": 2.0}


class TreeSampler:
    """Peak RSS of a process and all its descendants (sum), and per kernel."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.root = psutil.Process(pid)
        self.tree_peak = 0
        self.kernel_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    total += rss
                    if any("ipykernel" in part for part in p.cmdline()):
                        self.kernel_peak = max(self.kernel_peak, rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    pass
            self.tree_peak = max(self.tree_peak, total)
            time.sleep(interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    mirror = root.parent / "shared" / "data"
    env.setdefault("ATTNLIB_DATA_MIRROR", str(mirror if mirror.exists() else
                                              Path("/work/shared/data")))
    return env


def _run(command: list[str], root: Path, log: Path) -> dict[str, Any]:
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=root, env=_env(root), stdout=out,
                                stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        code = proc.wait()
        sampler.stop()
    return {"seconds": round(time.monotonic() - started, 1), "returncode": code,
            "tree_peak_gb": round(sampler.tree_peak / 1e9, 2),
            "kernel_peak_gb": round(sampler.kernel_peak / 1e9, 2), "log": str(log)}


_ONE_CHAPTER = """
import sys, pathlib, importlib.util
root = pathlib.Path(sys.argv[1]); name = sys.argv[2]; stage = pathlib.Path(sys.argv[3])
spec = importlib.util.spec_from_file_location("build_book", root / "tools" / "build_book.py")
build = importlib.util.module_from_spec(spec); spec.loader.exec_module(build)
(stage / "book").mkdir(parents=True, exist_ok=True)
build.execute_one(root / "book" / f"{name}.ipynb", stage, "paper", {}, 3600)
"""


def chapters(root: Path, names: list[str], out: Path, keep: Path | None) -> dict[str, Any]:
    """Each chapter executed alone (paper profile), one after the other; the executed
    notebooks are kept in ``keep`` (to compare what two versions render)."""
    stage = keep or Path(tempfile.mkdtemp(prefix="book-memory-"))
    result: dict[str, Any] = {"root": str(root), "chapters": {}}
    try:
        for name in names:
            log = out.with_suffix(f".{name}.log")
            # build_book.execute_one resolves notebooks relative to its ROOT
            stats = _run([sys.executable, "-c", _ONE_CHAPTER, str(root), name, str(stage)],
                         root, log)
            result["chapters"][name] = stats
            print(f"{name}: kernel peak {stats['kernel_peak_gb']} GB, "
                  f"{stats['seconds']} s (exit {stats['returncode']})", flush=True)
            out.write_text(json.dumps(result, indent=1))
    finally:
        if keep is None:
            shutil.rmtree(stage, ignore_errors=True)
    return result


def build(root: Path, out: Path, jobs: int | None) -> dict[str, Any]:
    """The whole paper build, as `make book` runs it."""
    command = [sys.executable, "tools/build_book.py", "--profile", "paper"]
    if jobs:
        command += ["--jobs", str(jobs)]
    stats = _run(command, root, out.with_suffix(".log"))
    result = {"root": str(root), "build": stats}
    print(f"build: tree peak {stats['tree_peak_gb']} GB, largest kernel "
          f"{stats['kernel_peak_gb']} GB, {stats['seconds']} s (exit {stats['returncode']})",
          flush=True)
    out.write_text(json.dumps(result, indent=1))
    return result


def synthetic_study(scale: int, datasets: list[str] | None = None) -> list[Any]:
    """RunFiles of the published study with every run present ``scale`` times: copy k
    (k = 1..scale-1) of a run is read from the same file under run id ``<hash>x<k>`` and
    training seed ``seed + 1000 k``, so each cell holds ``scale`` times the seeds and the
    claims read ``scale`` times the rows (no copies are written: the claims group a
    cell's rows by the seeds of its run list, one run read at a time)."""
    from attnlib.analysis.cells import RunFile
    from attnlib.study import load_study, make_study

    records = load_study(make_study("paper"), progress=False)
    runs = [r for r in records.result_cells().runs if not datasets or r.dataset in datasets]
    return runs + [RunFile(f"{r.run}x{k}", r.dataset, r.model, r.arch, r.encoder,
                           r.seed + 1000 * k, r.path)
                   for k in range(1, scale) for r in runs]


_CLAIMS = """
import json, resource, sys, time, pickle
from attnlib.analysis.cells import ResultCells
from attnlib.analysis.claims import evaluate_claims
runs = pickle.load(open(sys.argv[1], "rb")); n_boot = int(sys.argv[2])
start = time.perf_counter()
table = evaluate_claims(ResultCells(tuple(runs)), n_boot=n_boot)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": round(seconds, 1), "cells": int(len(table)),
                  "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}))
"""

_CLAIMS_BEFORE = """
import json, resource, sys, time
from attnlib.analysis.claims import evaluate_claims
from attnlib.study import load_study, make_study
n_boot = int(sys.argv[1])
records = load_study(make_study("paper"), progress=False)
start = time.perf_counter()
table = evaluate_claims(records.results(), n_boot=n_boot)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": round(seconds, 1), "cells": int(len(table)),
                  "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}))
"""


def claims(scales: list[int], n_boot: int, out: Path, whole_table: bool,
           datasets: list[str] | None = None) -> dict[str, Any]:
    """evaluate_claims read cell by cell (one run at a time) at each scale, each in its
    own process; optionally the whole-table way at 1x (the code before streaming)."""
    import pickle

    result: dict[str, Any] = {"n_boot": n_boot, "datasets": datasets or "all",
                              "claims": {}}
    with tempfile.TemporaryDirectory(prefix="claims-10x-") as tmp:
        for scale in scales:
            runs = synthetic_study(scale, datasets)
            listing = Path(tmp) / f"runs-{scale}.pkl"
            listing.write_bytes(pickle.dumps(runs))
            rows = sum(_rows(r.path) for r in runs)
            proc = subprocess.run([sys.executable, "-c", _CLAIMS, str(listing), str(n_boot)],
                                  capture_output=True, text=True, env=_env(HERE), cwd=HERE)
            if proc.returncode:
                raise SystemExit(proc.stderr[-2000:])
            stats = json.loads(proc.stdout.strip().splitlines()[-1])
            stats.update(runs=len(runs), rows=rows)
            result["claims"][f"{scale}x"] = stats
            print(f"claims {scale}x ({len(runs)} runs, {rows:,} rows): {stats}", flush=True)
            out.write_text(json.dumps(result, indent=1))
    if whole_table:
        proc = subprocess.run([sys.executable, "-c", _CLAIMS_BEFORE, str(n_boot)],
                              capture_output=True, text=True, env=_env(HERE), cwd=HERE)
        if proc.returncode:
            raise SystemExit(proc.stderr[-2000:])
        result["claims"]["1x whole table"] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"claims 1x, whole table: {result['claims']['1x whole table']}", flush=True)
        out.write_text(json.dumps(result, indent=1))
    return result


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


def report(paths: list[Path]) -> None:
    """Before/after side by side against the budgets (files named before-* / after-*)."""
    data = {p.name: json.loads(p.read_text()) for p in paths}
    sides: dict[str, dict[str, Any]] = {"before": {}, "after": {}}
    claims_data: dict[str, Any] = {}
    for name, d in data.items():
        side = "before" if name.startswith("before") else "after"
        sides[side].update(d.get("chapters", {}))
        if "build" in d:
            sides[side]["__build__"] = d["build"]
        claims_data.update(d.get("claims", {}))
    print(f"{'chapter kernel peak (GB)':28} {'before':>8} {'after':>8}  budget "
          f"{BUDGETS['chapter_gb']}")
    for name in CHAPTERS:
        b, a = sides["before"].get(name), sides["after"].get(name)
        if b or a:
            fmt = lambda s: f"{s['kernel_peak_gb']:.2f}" if s else "-"  # noqa: E731
            fmt_t = lambda s: f"{s['seconds']:.0f} s" if s else "-"  # noqa: E731
            print(f"  {name:26} {fmt(b):>8} {fmt(a):>8}   time {fmt_t(b):>7} -> {fmt_t(a):>7}")
    for side in ("before", "after"):
        b = sides[side].get("__build__")
        if b:
            print(f"build ({side}): tree peak {b['tree_peak_gb']} GB (budget "
                  f"{BUDGETS['build_gb']}), {b['seconds']} s (budget {BUDGETS['build_s']:.0f})")
    base = claims_data.get("1x")
    for key, c in claims_data.items():
        ratio = f", time x{c['seconds'] / base['seconds']:.1f} of 1x" if base else ""
        print(f"claims {key}: peak {c['peak_gb']} GB, {c['seconds']} s{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("chapters")
    p.add_argument("--root", type=Path, default=HERE)
    p.add_argument("--names", nargs="+", default=list(CHAPTERS))
    p.add_argument("--keep", type=Path, default=None, help="keep the executed notebooks here")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("build")
    p.add_argument("--root", type=Path, default=HERE)
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("claims")
    p.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--datasets", nargs="+", default=None,
                   help="only these datasets' runs (default: every published run)")
    p.add_argument("--whole-table", action="store_true",
                   help="also the whole-table evaluation at 1x (about 9 GB)")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("report")
    p.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args()
    if args.what == "chapters":
        chapters(args.root.resolve(), args.names, args.out.resolve(),
                 args.keep.resolve() if args.keep else None)
    elif args.what == "build":
        build(args.root.resolve(), args.out.resolve(), args.jobs)
    elif args.what == "claims":
        claims(args.scales, args.n_boot, args.out.resolve(), args.whole_table, args.datasets)
    else:
        report(args.files)


if __name__ == "__main__":
    main()
