"""Known-answer test benchmark: the cost the planted-shortcut scores and the sanity checks
(book/known_answer.ipynb) add to a run, as ratios to the run's erasure suite on the same
test documents, for trained shortcut runs given on the command line (run folders written
by `attnlib train --dataset imdb+shortcut-p50 ...`).

    python benchmarks/known_answer.py RUN_DIR [RUN_DIR ...] --docs 200 --ig-steps 16

Prints a Markdown table for docs/benchmarks.md. Timings are CPU process time on one torch
thread, so that a shared machine's load does not enter them.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from attnlib.inputs.known_answer import KnownAnswerConfig, run_known_answer, run_sanity_checks
from attnlib.layer.suite import SuiteConfig, run_erasure_tests
from attnlib.training.runs import load_run


def _cpu(fn) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--sanity-docs", type=int, default=50)
    parser.add_argument("--ig-steps", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = KnownAnswerConfig(max_test_docs=args.docs, sanity_docs=args.sanity_docs,
                               ig_steps=args.ig_steps)
    print(f"{platform.processor() or platform.machine()}, 1 torch thread, {args.docs} test "
          f"documents (sanity: {args.sanity_docs}), integrated gradients {args.ig_steps} steps\n")
    print("| run | train (wall s) | erasure suite (CPU s) | known answer (CPU s, x suite) "
          "| sanity checks (CPU s, x suite) |")
    print("|---|---|---|---|---|")
    for directory in args.runs:
        run = load_run(directory, device="cpu")
        _ = run.data  # preprocessing cache, not timed
        suite = _cpu(lambda: run_erasure_tests(run, SuiteConfig(max_test_docs=args.docs),
                                               progress=False))
        known = _cpu(lambda: run_known_answer(run, config))
        sanity = _cpu(lambda: run_sanity_checks(run, None, config))
        print(f"| {run.config.label} | {run.metrics['train_seconds']:.0f} (wall) | {suite:.1f} "
              f"| {known:.1f} ({known / suite:.1f}x) | {sanity:.1f} ({sanity / suite:.1f}x) |",
              flush=True)


if __name__ == "__main__":
    main()
