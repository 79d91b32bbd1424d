"""Follow-up tests benchmark: each new test's time as a ratio to one plain inference pass
over the same test reviews, side by side in one process, for a FLAN-rnn and a HAN-rnn
IMDB model (smoke profile, trained here if missing).

Attention-layer tests (h fixed, the head affine) should cost a few inference passes;
input-level tests rerun the model, one pass per (ranking, k, side) for ERASER and one per
token for Jain & Wallace's leave-one-out. Run with `make bench`; prints a Markdown table
for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from attnlib import __version__
from attnlib.config import make_run_config
from attnlib.data.batching import collate, make_batches
from attnlib.data.corpus import select_subset
from attnlib.inputs.erasure import ERASER_PERCENTS, INPUT_RANKINGS, input_erasure
from attnlib.inputs.jain_wallace import jw_gradient, jw_leave_one_out
from attnlib.layer.erasure import LinearHead, leave_one_out_drop, predicted_class_gradient
from attnlib.layer.followup import adversarial_attention, agreement, permutation_outputs
from attnlib.models.attribution import gradient_x_input, integrated_gradients
from attnlib.provenance import device_description, git_commit
from attnlib.training.pipeline import ensure_trained


def _batches(run, n_docs: int):
    corpus = run.data.test
    arch = run.config.model.arch
    ids = select_subset(len(corpus), n_docs, 5)
    n_items = corpus.n_sentences if arch == "han" else corpus.n_tokens
    ids = ids[n_items[ids] > 1]
    tested = corpus.subset(ids)
    return [(collate(tested, idx, arch).tokens, ids[idx])
            for idx in make_batches(tested, arch, 20_000, batch_size=64)]


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(run, n_docs: int) -> dict[str, float]:
    model = run.model.eval()
    batches = _batches(run, n_docs)
    flat = run.config.model.arch == "flan"

    def each(fn):
        return lambda: [fn(tokens, ids) for tokens, ids in batches]

    def layer(tokens):
        with torch.no_grad():
            out = model(tokens)
        head = LinearHead.from_model(model)
        h, alpha = out.h.double(), out.alpha.double()
        z = head.item_logits(h)
        return out, head, h, alpha, z, head(h, alpha).argmax(-1)

    def inference(tokens, ids):
        with torch.no_grad():
            model(tokens)

    def tested_layer_agreement(tokens, ids):
        out, head, h, alpha, z, pred = layer(tokens)
        with torch.enable_grad():
            g = predicted_class_gradient(head, h, alpha, pred)
        agreement(alpha, g, out.mask)
        agreement(alpha, leave_one_out_drop(z, alpha, head.bias, pred), out.mask)

    def input_agreement(tokens, ids):
        out, head, h, alpha, z, pred = layer(tokens)
        agreement(alpha, gradient_x_input(model, tokens, pred), out.mask)
        agreement(alpha, integrated_gradients(model, tokens, pred, 16), out.mask)

    def permutation(tokens, ids):
        out, head, h, alpha, z, pred = layer(tokens)
        permutation_outputs(z, alpha, out.mask, head.bias, ids, 100, 0)

    def adversarial(tokens, ids):
        out, head, h, alpha, z, pred = layer(tokens)
        adversarial_attention(z, alpha, out.mask, head.bias, ids, 0.01, 200)

    def eraser(tokens, ids):
        input_erasure(model, tokens, ids, ig_steps=16)

    def jw(tokens, ids):
        pred = layer(tokens)[-1]
        jw_gradient(model, tokens, pred)
        jw_leave_one_out(model, tokens, pred)

    each(inference)()  # warm-up
    phases = {"inference pass": inference,
              "agreement at the layer (gradient, leave-one-out)": tested_layer_agreement,
              "agreement with input gradient + integrated gradients (16 steps)": input_agreement,
              "permutation (100 per document)": permutation,
              "adversarial attention (200 steps)": adversarial,
              f"ERASER ({len(INPUT_RANKINGS)} rankings x {len(ERASER_PERCENTS)} k, "
              "comprehensiveness + sufficiency)": eraser}
    if flat:
        phases["Jain & Wallace their way (held gradient + delete-and-rerun LOO)"] = jw
    times = {name: _timed(each(fn)) for name, fn in phases.items()}
    times["documents"] = sum(len(ids) for _, ids in batches)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = {}
    for arch in ("flan", "han"):
        config = make_run_config("smoke", "imdb", arch, "rnn")
        rows[config.model.name] = measure(ensure_trained(config, device="cpu", progress=False),
                                          args.docs)
    names = [k for k in rows["FLANrnn"] if k != "documents"]
    print(f"| test | FLANrnn | HANrnn |\n|---|---|---|")
    for name in names:
        cells = []
        for model in ("FLANrnn", "HANrnn"):
            t = rows[model].get(name)
            base = rows[model]["inference pass"]
            cells.append("n/a (FLAN only)" if t is None else f"{t:.2f} s ({t / base:.1f}×)")
        print(f"| {name} | {' | '.join(cells)} |")
    print(f"\n{rows['FLANrnn']['documents']} / {rows['HANrnn']['documents']} IMDB test reviews; "
          f"measured on {device_description(torch.device('cpu'))}, torch {torch.__version__}, "
          f"attnlib {__version__}, commit `{git_commit()}`, Python {platform.python_version()}.")


if __name__ == "__main__":
    main()
