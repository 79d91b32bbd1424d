"""Erasure benchmark: side by side, in one process, on one FLAN-rnn IMDB model and the
same test reviews:

  (a) one plain inference pass over the reviews,
  (b) the whole erasure suite (single-weight + multi-weight for attention, reverse
      attention, 5 random orders, gradient, gradient x attention), vectorised,
  (c) the reference loop on the same suite (on a subset, scaled per review).

Prints the ratios c/b (target >= 100x) and b/a (target <= 1.5x) and the peak memory of
each phase. Run with `make bench` (BENCH_ARGS="--device cuda" on a GPU machine).

A GPU machine without the data mirror (or spaCy and gensim) can run it from a bundle:
`--export-bundle DIR` writes the model and exactly the benchmark's test reviews, already
indexed; `--bundle DIR` benchmarks them there, so both machines time the same reviews.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from attnlib import __version__
from attnlib.atomic import read_json
from attnlib.config import make_run_config
from attnlib.data import get_dataset
from attnlib.data.batching import collate, make_batches
from attnlib.data.corpus import EncodedCorpus, PreparedData, select_subset
from attnlib.data.text import Vocabulary
from attnlib.layer.suite import SuiteConfig, run_erasure_tests
from attnlib.provenance import device_description, git_commit
from attnlib.training.pipeline import ensure_trained, is_trained, run_dir_for
from attnlib.training.runs import TrainedRun, load_run

RUN_FILES = ("config.json", "metrics.json", "history.json", "model.pt", "vocab.json")


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


def export_bundle(run: TrainedRun, tested: EncodedCorpus, bundle: Path) -> None:
    """The model's files and the benchmark's indexed test reviews, for another machine."""
    (bundle / "run").mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        shutil.copy2(run.directory / name, bundle / "run" / name)
    tested.save(bundle, "test")
    print(f"bundle of {run.config.label} with {len(tested)} reviews written to {bundle}")


def load_bundle(bundle: Path, device: torch.device) -> TrainedRun:
    """A run whose test split is the bundle's reviews (no train/dev data are needed)."""
    run = load_run(bundle / "run", device=device)
    test = EncodedCorpus.load(bundle, "test")
    empty = test.subset(np.zeros(0, dtype=np.int64))
    run.__dict__["data"] = PreparedData(  # fills the cached property TrainedRun.data
        config=run.config.data, spec=get_dataset(run.config.data.dataset),
        vocab=Vocabulary(tuple(read_json(bundle / "run" / "vocab.json"))),
        embeddings=np.zeros((0, run.config.model.embedding_dim), np.float32),
        train=empty, dev=empty, test=test, stats={}, cache_key="bundle")
    return run


def phase_breakdown(run: TrainedRun, suite: SuiteConfig, device: torch.device
                    ) -> dict[str, float]:
    """Seconds of one more vectorised suite spent in each phase (synchronised on CUDA):
    collating batches, the model + rankings (prepare_batch), the prefix erasures
    (vectorized_outcome), the batch's rows, and the rest (subset, table, sorting)."""
    import attnlib.layer.suite as suite_module

    spent = {"collate": 0.0, "model_and_rankings": 0.0, "prefix_erasures": 0.0,
             "rows": 0.0}
    originals = {name: getattr(suite_module, name) for name in
                 ("collate", "prepare_batch", "vectorized_outcome", "_batch_rows")}
    keys = dict(zip(originals, spent))

    def timed(name):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            out = originals[name](*args, **kwargs)
            if device.type == "cuda":
                torch.cuda.synchronize()
            spent[keys[name]] += time.perf_counter() - started
            return out
        return wrapper

    try:
        for name in originals:
            setattr(suite_module, name, timed(name))
        started = time.perf_counter()
        run_erasure_tests(run, suite, progress=False)
        total = time.perf_counter() - started
    finally:
        for name, fn in originals.items():
            setattr(suite_module, name, fn)
    spent["rest"] = total - sum(spent.values())
    return {k: round(v, 3) for k, v in spent.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="run directory (FLAN-rnn)")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--reference-docs", type=int, default=100,
                        help="reviews for the slow reference loop (scaled per review)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument("--results-out", type=Path, default=None,
                        help="also save the vectorised suite's results (Parquet)")
    parser.add_argument("--export-bundle", type=Path, default=None, metavar="DIR")
    parser.add_argument("--bundle", type=Path, default=None, metavar="DIR")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.bundle:
        run = load_bundle(args.bundle, device)
    else:
        run = load_run(args.run or find_model(args.device), device=device)
    suite = SuiteConfig(max_test_docs=args.docs)
    reference_suite = SuiteConfig(max_test_docs=args.reference_docs)

    corpus = run.data.test
    chosen = select_subset(len(corpus), args.docs, suite.seed + 11)
    tested = corpus.subset(chosen[corpus.n_tokens[chosen] > 1])
    if args.export_bundle:
        export_bundle(run, corpus.subset(chosen), args.export_bundle)
        return 0

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
    if args.results_out:
        pd.DataFrame(fast).to_parquet(args.results_out)
    breakdown = phase_breakdown(run, suite, device)
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
        "reference_agrees_on_subset": same, "b_phases_s": breakdown,
    }
    print(f"model {report['model']} on {report['device']} (torch {report['torch']}), "
          f"{n_b} reviews, {report['mean_tokens']:.0f} tokens on average, "
          f"{report['orders_per_review']} orders per review")
    print(f"(a) plain inference pass      {t_a:8.2f} s   peak {m_a:7.0f} MB")
    print(f"(b) vectorised erasure suite  {t_b:8.2f} s   peak {m_b:7.0f} MB")
    print(f"(c) reference loop (scaled)   {t_c:8.1f} s   peak {m_c:7.0f} MB "
          f"({t_c_sub:.1f} s measured on {n_c} reviews)")
    print("(b) by phase: " + ", ".join(f"{k} {v:.3f} s" for k, v in breakdown.items()))
    print(f"c/b = {t_c / t_b:.0f}x (target >= 100x)   b/a = {t_b / t_a:.2f}x (target <= 1.5x)")
    print(f"reference and vectorised first-flip k identical on the subset: {same}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
