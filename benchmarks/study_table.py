"""Memory of a study's result table, side by side in one run: the published paper runs
of one dataset (IMDB by default: 18 runs, 5.4 million rows) stacked

  (a) as before: every run's frame kept and then concatenated, identifiers as text;
  (b) as `StudyRecords.results()` does now: `concat_results` over a generator, each run
      made compact (identifiers as sorted categoricals) before the next is read;

then one claim evaluation (`evaluate_claims`, 300 bootstrap draws) on each table. Each
variant runs in its own process, so that peak RSS is its own. Prints the peaks and the
ratios a/b. Run with `make bench` or `python benchmarks/study_table.py --dataset yelp-20k`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_gb() -> float:
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1e6


def measure(variant: str, dataset: str) -> dict[str, float]:
    """Run one variant here; return its peak RSS (GB) after loading and after a claim
    evaluation, and its times."""
    import pandas as pd

    from attnlib.analysis.claims import evaluate_claims
    from attnlib.layer.results import concat_results, load_results, validate
    from attnlib.publish import learned_entries, read_manifest

    peak = [0.0]

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], _rss_gb())
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    root = ROOT / "results" / "paper"
    paths = [root / e["path"] / "erasure.parquet" for e in learned_entries(read_manifest(root))
             if e["dataset"] == dataset]
    start = time.perf_counter()
    if variant == "text":
        frames = [load_results(p) for p in paths]
        table = validate(pd.concat([validate(f) for f in frames], ignore_index=True))
    else:
        frames = []
        table = concat_results(load_results(p) for p in paths)
    loaded = time.perf_counter() - start
    load_peak = peak[0]
    evaluate_claims(table, n_boot=300)
    return {"runs": len(paths), "rows": len(table), "load_peak_gb": load_peak,
            "held_gb": _rss_gb(), "claims_peak_gb": peak[0], "load_s": loaded,
            "claims_s": time.perf_counter() - start - loaded, "frames_kept": len(frames)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="imdb")
    parser.add_argument("--variant", choices=["text", "compact"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:  # a child process: one variant
        print(json.dumps(measure(args.variant, args.dataset)))
        return
    out = {}
    for variant in ("text", "compact"):
        done = subprocess.run([sys.executable, __file__, "--dataset", args.dataset,
                               "--variant", variant], capture_output=True, text=True,
                              check=True, env={"OMP_NUM_THREADS": "1", **_env()})
        out[variant] = json.loads(done.stdout.strip().splitlines()[-1])
    a, b = out["text"], out["compact"]
    print(f"study table of {args.dataset}: {b['runs']} published runs, {b['rows']:,} rows")
    print(f"{'':28s}{'(a) text, frames kept':>24s}{'(b) compact':>14s}{'a/b':>8s}")
    for key, label in (("load_peak_gb", "peak RSS while loading, GB"),
                       ("held_gb", "RSS holding the table, GB"),
                       ("claims_peak_gb", "peak RSS in the claims, GB"),
                       ("load_s", "loading time, s"), ("claims_s", "claims time, s")):
        print(f"{label:28s}{a[key]:24.2f}{b[key]:14.2f}{a[key] / b[key]:8.2f}")


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}


if __name__ == "__main__":
    main()
