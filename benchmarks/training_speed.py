"""Training speed of the six architectures on the same documents, side by side.

One epoch of the `paper` profile's hyperparameters on a seeded subset of IMDB training
reviews, one torch thread. HAN is timed three ways: as every run published before the
packed word level (`padded` word level, `padded_tokens` batch rule), packed under that
batch rule, and as the `paper` profile trains it now (`packed`, the paper's
`longest_sentence` rule). Prints epoch seconds, tokens per second, optimisation steps and
HAN / FLAN ratios.

    python benchmarks/training_speed.py [--docs 1500] [--threads 1] [--encoders rnn conv noenc]
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

from attnlib.config import RunConfig, make_run_config  # noqa: E402
from attnlib.data.batching import make_batches  # noqa: E402
from attnlib.data.corpus import prepare_data  # noqa: E402
from attnlib.training.train import train_run  # noqa: E402

# (label, word layout, batch rule); None: FLAN
VARIANTS = (("FLAN", None, None),
            ("HAN published (padded, padded_tokens)", "padded", "padded_tokens"),
            ("HAN packed, padded_tokens", "packed", "padded_tokens"),
            ("HAN paper profile (packed, longest_sentence)", "packed", "longest_sentence"))


def variant_config(encoder: str, layout: str | None, rule: str | None, docs: int
                   ) -> RunConfig:
    arch = "flan" if layout is None else "han"
    config = make_run_config("paper", "imdb", arch, encoder, 0, max_train_docs=docs,
                             max_test_docs=50, epochs=1)
    if layout is None:
        return config
    return replace(config, model=replace(config.model, word_layout=layout),
                   train=replace(config.train, han_batch_cap=rule))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--encoders", nargs="+", default=["noenc", "rnn", "conv"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seconds: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for encoder in args.encoders:
            for label, layout, rule in VARIANTS:
                config = variant_config(encoder, layout, rule, args.docs)
                arch = config.model.arch
                data = prepare_data(config.data, progress=False)
                steps = len(make_batches(data.train, arch, config.train.token_cap,
                                         config.train.batch_size,
                                         han_cap=config.train.han_batch_cap))
                metrics = train_run(config, Path(tmp) / f"{encoder}-{layout}-{rule}",
                                    device="cpu", progress=False, data=data)
                tokens = int(data.train.n_tokens.sum())
                seconds[encoder, label] = metrics["train_seconds"]
                print(f"{encoder:6} {label:46} {steps:5} steps "
                      f"{metrics['train_seconds']:7.1f} s "
                      f"{tokens / metrics['train_seconds']:9.0f} tokens/s", flush=True)
    print(f"\nHAN / FLAN epoch time on the same {args.docs} reviews ({args.threads} thread):")
    for encoder in args.encoders:
        flan = seconds[encoder, "FLAN"]
        ratios = "   ".join(f"{label.removeprefix('HAN ')} {seconds[encoder, label] / flan:4.2f}x"
                           for label, layout, _ in VARIANTS if layout is not None)
        print(f"  {encoder:6} {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
