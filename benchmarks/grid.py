"""Grid benchmark: throughput of the Ray grid with 2 workers against 1 on this machine,
side by side in one process, on the same 4 tiny runs (smoke FLAN-rnn on 1,200 IMDB reviews,
2 epochs, seeds 0-3, training only; one torch thread per run). With 2 cores the ideal is
2x. Run with `make bench`; prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time

import torch

from attnlib import __version__, paths
from attnlib.config import make_run_config
from attnlib.data.corpus import prepare_data
from attnlib.grid import GridOptions, run_grid
from attnlib.provenance import git_commit


def main() -> None:
    configs = [make_run_config("smoke", "imdb", "flan", "rnn", seed, max_train_docs=1200,
                               max_test_docs=50, epochs=2) for seed in range(4)]
    prepare_data(configs[0].data, progress=False)  # not timed: both settings share it
    cores = os.cpu_count() or 1
    rows = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as runs:
            os.environ[paths.RUNS_ENV] = runs
            options = GridOptions(with_tests=False, device="cpu", threads=1,
                                  cpus_per_run=cores / workers, progress=False,
                                  keep_checkpoints=False)
            start = time.perf_counter()
            run_grid(configs, options, engine="ray")
            rows.append((workers, time.perf_counter() - start))
    one, two = rows[0][1], rows[1][1]
    print("| workers (runs at once) | wall time for 4 runs | runs per minute |\n|---|---|---|")
    for workers, seconds in rows:
        print(f"| {workers} | {seconds:.1f} s | {4 * 60 / seconds:.2f} |")
    print(f"\nthroughput 2 workers / 1 worker: **{one / two:.2f}×** (ideal 2× on {cores} cores; "
          "each wall time includes starting a local Ray instance)")
    print(f"\nMeasured on {cores} CPU cores, torch {torch.__version__}, attnlib {__version__}, "
          f"commit `{git_commit()[:7]}`, Python {platform.python_version()}.")


if __name__ == "__main__":
    main()
