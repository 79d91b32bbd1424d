"""Erasure benchmark: side by side, in one process, on one FLAN-rnn IMDB model and the
same test reviews:

  (a) one plain inference pass over the reviews,
  (b) the whole erasure suite (single-weight + multi-weight for attention, reverse
      attention, 5 random orders, gradient, gradient x attention), vectorised,
  (c) the reference loop on the same suite (on a subset, scaled per review).

Prints the ratios c/b (target >= 100x) and b/a (target <= 1.5x) and the peak memory of
each phase. Run with `make bench` (BENCH_ARGS="--device cuda" on a GPU machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from attnlib import __version__
from attnlib.batching import collate, make_batches
from attnlib.config import make_run_config
from attnlib.corpus import select_subset
from attnlib.pipeline import ensure_trained, is_trained, run_dir_for
from attnlib.provenance import device_description, git_commit
from attnlib.runs import load_run
from attnlib.suite import SuiteConfig, run_erasure_tests


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM)


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed(device: torch.device, fn):
    _reset_peak(device)
    started = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - started, _peak_mb(device)


def find_model(device: str) -> Path:
    """The paper-profile FLAN-rnn IMDB run if it is in the run cache, else a smoke one
    trained now (with 2,000 test reviews)."""
    paper = make_run_config("paper", "imdb", "flan", "rnn")
    if is_trained(paper):
        return run_dir_for(paper)
    smoke = make_run_config("smoke", "imdb", "flan", "rnn", max_test_docs=2000)
    ensure_trained(smoke, device=device, progress=False)
    return run_dir_for(smoke)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="run directory (FLAN-rnn)")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--reference-docs", type=int, default=100,
                        help="reviews for the slow reference loop (scaled per review)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    device = torch.device(args.device)
    run = load_run(args.run or find_model(args.device), device=device)
    suite = SuiteConfig(max_test_docs=args.docs)
    reference_suite = SuiteConfig(max_test_docs=args.reference_docs)

    corpus = run.data.test
    chosen = select_subset(len(corpus), args.docs, suite.seed + 11)
    tested = corpus.subset(chosen[corpus.n_tokens[chosen] > 1])

    @torch.no_grad()
    def inference() -> int:
        n = 0
        for idx in make_batches(tested, "flan", suite.token_cap, batch_size=128):
            batch = collate(tested, idx, "flan").to(device)
            n += int(run.model(batch.tokens).logits.argmax(-1).sum())
        return n

    inference()  # warm-up (allocator, kernels)
    _, t_a, m_a = _timed(device, inference)
    fast, t_b, m_b = _timed(device, lambda: run_erasure_tests(run, suite, progress=False))
    slow, t_c_sub, m_c = _timed(device, lambda: run_erasure_tests(
        run, reference_suite, engine="reference", progress=False))
    n_b, n_c = fast.attrs["n_instances"], slow.attrs["n_instances"]
    t_c = t_c_sub / n_c * n_b

    check = run_erasure_tests(run, reference_suite, progress=False)
    same = bool(check["first_flip_k"].equals(slow["first_flip_k"]))
    report = {
        "model": run.config.label, "profile": run.config.profile,
        "device": device_description(device), "torch": torch.__version__,
        "attnlib": __version__, "git_commit": git_commit(), "python": platform.python_version(),
        "reviews": n_b, "mean_tokens": float(tested.n_tokens.mean()),
        "orders_per_review": len(suite.expanded()),
        "a_inference_s": round(t_a, 3), "b_suite_s": round(t_b, 3),
        "c_reference_s_scaled": round(t_c, 1), "c_reference_reviews": n_c,
        "c_over_b": round(t_c / t_b, 1), "b_over_a": round(t_b / t_a, 3),
        "peak_mb": {"a": round(m_a), "b": round(m_b), "c": round(m_c)},
        "reference_agrees_on_subset": same,
    }
    print(f"model {report['model']} on {report['device']} (torch {report['torch']}), "
          f"{n_b} reviews, {report['mean_tokens']:.0f} tokens on average, "
          f"{report['orders_per_review']} orders per review")
    print(f"(a) plain inference pass      {t_a:8.2f} s   peak {m_a:7.0f} MB")
    print(f"(b) vectorised erasure suite  {t_b:8.2f} s   peak {m_b:7.0f} MB")
    print(f"(c) reference loop (scaled)   {t_c:8.1f} s   peak {m_c:7.0f} MB "
          f"({t_c_sub:.1f} s measured on {n_c} reviews)")
    print(f"c/b = {t_c / t_b:.0f}x (target >= 100x)   b/a = {t_b / t_a:.2f}x (target <= 1.5x)")
    print(f"reference and vectorised first-flip k identical on the subset: {same}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
