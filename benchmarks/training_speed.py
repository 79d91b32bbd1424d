"""Training speed of the six architectures on the same documents, side by side.

One epoch of the `paper` profile's hyperparameters on a seeded subset of IMDB training
reviews, one torch thread, for HAN under both batch-cap rules (`padded_tokens`, the rule
of the runs published before it was fixed, and `longest_sentence`, the paper's) and FLAN;
prints epoch seconds, tokens per second, optimisation steps, and HAN / FLAN ratios.

    python benchmarks/training_speed.py [--docs 1500] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attnlib.config import make_run_config  # noqa: E402
from attnlib.data.batching import make_batches  # noqa: E402
from attnlib.data.corpus import prepare_data  # noqa: E402
from attnlib.training.train import train_run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for encoder in ("noenc", "rnn", "conv"):
            for arch, rule in (("flan", "padded_tokens"), ("han", "padded_tokens"),
                               ("han", "longest_sentence")):
                config = make_run_config("paper", "imdb", arch, encoder, 0,
                                         max_train_docs=args.docs, max_test_docs=50, epochs=1)
                config = replace(config, train=replace(config.train, han_batch_cap=rule))
                data = prepare_data(config.data, progress=False)
                steps = len(make_batches(data.train, arch, config.train.token_cap,
                                         config.train.batch_size, han_cap=rule))
                metrics = train_run(config, Path(tmp) / f"{arch}-{encoder}-{rule}",
                                    device="cpu", progress=False, data=data)
                tokens = int(data.train.n_tokens.sum())
                seconds = metrics["train_seconds"]
                rows.append((encoder, arch, rule, steps, seconds, tokens / seconds))
                print(f"{arch.upper()}{encoder:6} {rule:17} {steps:5} steps {seconds:7.1f} s "
                      f"{tokens / seconds:9.0f} tokens/s", flush=True)
    print(f"\nHAN / FLAN epoch time on the same {args.docs} reviews ({args.threads} thread):")
    for encoder in ("noenc", "rnn", "conv"):
        flan = next(r[4] for r in rows if r[0] == encoder and r[1] == "flan")
        old = next(r[4] for r in rows if r[0] == encoder and r[2] == "padded_tokens"
                   and r[1] == "han")
        new = next(r[4] for r in rows if r[0] == encoder and r[2] == "longest_sentence")
        print(f"  {encoder:6} padded_tokens {old / flan:4.2f}x   longest_sentence (paper) "
              f"{new / flan:4.2f}x   speed-up {old / new:4.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
