"""Work through a queue of paper-profile runs with one or more worker processes.

Each line of the queue file is ``dataset arch encoder seed``; workers claim lines under a
file lock, so several can share one queue (each with one torch thread on a small CPU
machine). Every run is trained (resuming if interrupted), tested and given its explorer
payload through the cached pipeline; `python -m attnlib publish` then copies finished runs
to results/paper/.

    python tools/run_grid.py data/grid-queue.txt --write-plan paper   # the planned grid
    python tools/run_grid.py data/grid-queue.txt --worker A           # one per core
"""

from __future__ import annotations

import argparse
import fcntl
import sys
import time
import traceback
from pathlib import Path

import torch

from attnlib.config import make_run_config
from attnlib.plan import list_plans, planned_runs
from attnlib.study import ensure_run
from attnlib.training.train import TrainingInterrupted


def claim(queue: Path, worker: str) -> str | None:
    """The first unclaimed job, marked as claimed by ``worker``."""
    with open(queue.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        claims = queue.with_suffix(".claims")
        taken = set(claims.read_text().splitlines()) if claims.exists() else set()
        for line in queue.read_text().splitlines():
            job = line.split("#")[0].strip()
            if job and not any(t.startswith(job + " @") for t in taken):
                with open(claims, "a") as out:
                    out.write(f"{job} @{worker}\n")
                return job
    return None


def release(queue: Path, job: str, worker: str) -> None:
    """Give a job back to the queue (its training state is kept, so it resumes)."""
    with open(queue.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        claims = queue.with_suffix(".claims")
        lines = [line for line in claims.read_text().splitlines() if line != f"{job} @{worker}"]
        claims.write_text("".join(f"{line}\n" for line in lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queue", type=Path)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--worker", help="work through the queue under this name")
    which.add_argument("--write-plan", choices=list_plans(),
                       help="write the queue: every run of this profile's plan, in order")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", default="paper")
    args = parser.parse_args()
    if args.write_plan is not None:
        runs = planned_runs(args.write_plan)
        args.queue.write_text("".join(f"{d} {a} {e} {s}\n" for d, a, e, s in runs))
        print(f"{len(runs)} runs -> {args.queue}")
        return 0
    torch.set_num_threads(args.threads)
    while (job := claim(args.queue, args.worker)) is not None:
        dataset, arch, encoder, seed = job.split()
        config = make_run_config(args.profile, dataset, arch, encoder, int(seed))
        started = time.monotonic()
        print(f"[{args.worker}] {config.label} started", flush=True)
        try:
            record = ensure_run(config, progress=False)
        except TrainingInterrupted as exc:  # a kill: hand the job back and stop
            release(args.queue, job, args.worker)
            print(f"[{args.worker}] {config.label}: {exc}", flush=True)
            return 130
        except Exception:  # a broken job: keep the worker alive for the others
            traceback.print_exc()
            continue
        print(f"[{args.worker}] {config.label} done: test accuracy "
              f"{record.metrics['test_accuracy']:.4f} ({time.monotonic() - started:.0f} s)",
              flush=True)
    print(f"[{args.worker}] queue empty", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
