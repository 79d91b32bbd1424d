"""Adversarial-search check: the book's multi-start search (attnlib.layer.adversarial)
beside the first, single-start search and two independent searches written here from
scratch, on the same documents in one run: an exhaustive simplex grid for documents of 2
or 3 items, and SLSQP from many random starts over every item. Also how far the result
moves when the inputs move by float noise (1e-7 relative), the stability the first
search lacked. Smoke-profile Amazon models (trained here if missing).

Each row counts the documents where another search beats the one named by more than
0.01 JS (a lower bound is only as good as what it misses). Run with
`python benchmarks/adversarial_search.py`; prints a Markdown table for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from scipy.optimize import minimize

from attnlib import __version__
from attnlib.analysis.followup_claims import FAR_ATTENTION_JS
from attnlib.config import make_run_config
from attnlib.data.batching import collate, make_batches
from attnlib.layer.adversarial import AdversarialSearch, search_adversarial
from attnlib.layer.erasure import LinearHead
from attnlib.layer.followup_results import layer_test_config, layer_test_documents
from attnlib.provenance import device_description, git_commit
from attnlib.training.pipeline import ensure_trained

EPS = 0.01
FAR = FAR_ATTENTION_JS


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _js(a: np.ndarray, q: np.ndarray) -> np.ndarray:
    m = 0.5 * (a + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        ka = np.where(a > 0, a * np.log(np.where(a > 0, a, 1) / np.where(m > 0, m, 1)), 0)
        kq = np.where(q > 0, q * np.log(np.where(q > 0, q, 1) / np.where(m > 0, m, 1)), 0)
    return 0.5 * ka.sum(-1) + 0.5 * kq.sum(-1)


def _tvd(w: np.ndarray, z: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    return 0.5 * np.abs(_softmax(w @ z + b) - p).sum(-1)


def grid_search(z: np.ndarray, alpha: np.ndarray, b: np.ndarray, points: int = 1000
                ) -> float | None:
    """The best feasible JS on a simplex grid (documents of 2 or 3 items; else None)."""
    n = len(alpha)
    t = np.linspace(0, 1, points + 1)
    if n == 2:
        w = np.stack([t, 1 - t], 1)
    elif n == 3:
        i, j = np.meshgrid(t, t, indexing="ij")
        keep = i + j <= 1 + 1e-12
        w = np.stack([i[keep], j[keep], np.clip(1 - i[keep] - j[keep], 0, None)], 1)
    else:
        return None
    ok = _tvd(w, z, b, _softmax(alpha @ z + b)) <= EPS
    return float(_js(w[ok], alpha[None]).max()) if ok.any() else 0.0


def slsqp_search(z: np.ndarray, alpha: np.ndarray, b: np.ndarray, starts: int, seed: int
                 ) -> float:
    """SLSQP over every item from alpha, Dirichlet mixtures and vertex mixtures; the TVD
    constraint in smooth form with one slack per class; the best feasible JS."""
    n, c = z.shape
    p = _softmax(alpha @ z + b)
    rng = np.random.default_rng(seed)

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        a = np.clip(x[:n], 1e-12, None)
        m = 0.5 * (a + alpha)
        return -float(_js(a, alpha)), np.concatenate([-0.5 * np.log(a / m), np.zeros(c)])

    def cons(x: np.ndarray) -> np.ndarray:
        d = _softmax(x[:n] @ z + b) - p
        return np.concatenate([x[n:] - d, x[n:] + d, [EPS - 0.5 * x[n:].sum()]])

    def cons_jac(x: np.ndarray) -> np.ndarray:
        q = _softmax(x[:n] @ z + b)
        dq = (np.diag(q) - np.outer(q, q)) @ z.T
        last = np.concatenate([np.zeros(n), -0.5 * np.ones(c)])[None]
        return np.vstack([np.hstack([-dq, np.eye(c)]), np.hstack([dq, np.eye(c)]), last])

    constraints = [{"type": "eq", "fun": lambda x: np.array([x[:n].sum() - 1]),
                    "jac": lambda x: np.concatenate([np.ones(n), np.zeros(c)])[None]},
                   {"type": "ineq", "fun": cons, "jac": cons_jac}]
    best = 0.0
    for k in range(starts):
        a0 = (alpha if k == 0 else 0.5 * alpha + 0.5 * rng.dirichlet(np.ones(n)) if k % 2
              else 0.7 * np.eye(n)[rng.integers(n)] + 0.3 * alpha)
        x0 = np.concatenate([a0, np.abs(_softmax(a0 @ z + b) - p)])
        r = minimize(f, x0, jac=True, method="SLSQP", bounds=[(0, 1)] * (n + c),
                     constraints=constraints, options={"maxiter": 500, "ftol": 1e-12})
        a = np.clip(r.x[:n], 0, None)
        a = a / a.sum()
        if _tvd(a, z, b, p) <= EPS:
            best = max(best, float(_js(a, alpha)))
    return best


def measure(run, n_docs: int, starts: int, max_slsqp_items: int) -> dict[str, object]:
    model = run.model.eval()
    head = LinearHead.from_model(model)
    ids = layer_test_documents(run, layer_test_config("paper"))[:n_docs]
    tested = run.data.test.subset(ids)
    arch = run.config.model.arch
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("first", "multi", "noisy",
                                                          "noisy_first")}
    docs: list[tuple[np.ndarray, np.ndarray]] = []
    seconds = 0.0
    for idx in make_batches(tested, arch, 20_000, batch_size=64):
        with torch.no_grad():
            out = model(collate(tested, idx, arch).tokens)
            h, alpha, mask = out.h.double(), out.alpha.double(), out.mask
            z = head.item_logits(h)
        start = time.perf_counter()
        found = search_adversarial(z, alpha, mask, head.bias, ids[idx], AdversarialSearch())
        seconds += time.perf_counter() - start
        g = torch.Generator().manual_seed(0)
        noise = 1 + 1e-7 * torch.randn(z.shape, generator=g, dtype=torch.float64)
        noisy = search_adversarial(z * noise, alpha, mask, head.bias, ids[idx],
                                   AdversarialSearch())
        rows["first"].append(found.first_search_js.numpy())
        rows["multi"].append(found.js.numpy())
        rows["noisy"].append(noisy.js.numpy())
        rows["noisy_first"].append(noisy.first_search_js.numpy())
        for i in range(len(idx)):
            real = mask[i].numpy()
            docs.append((z[i].numpy()[real], alpha[i].numpy()[real]))
    first, multi, noisy, noisy_first = (np.concatenate(rows[k]) for k in
                                        ("first", "multi", "noisy", "noisy_first"))
    bias = head.bias.double().numpy()
    grid = np.array([np.nan if (g := grid_search(zz, aa, bias)) is None else g
                     for zz, aa in docs])
    slsqp = np.array([slsqp_search(zz, aa, bias, starts, seed=i)
                      if len(aa) <= max_slsqp_items else np.nan
                      for i, (zz, aa) in enumerate(docs)])
    small, checked = ~np.isnan(grid), ~np.isnan(slsqp)

    def beaten(other: np.ndarray, ours: np.ndarray, where: np.ndarray) -> str:
        if not where.any():
            return "–"
        return f"{int((other[where] > ours[where] + 0.01).sum())}/{int(where.sum())}"

    return {"documents": len(docs), "seconds": seconds,
            "median first": float(np.median(first)), "median multi": float(np.median(multi)),
            "slsqp beats first": beaten(slsqp, first, checked),
            "slsqp beats multi": beaten(slsqp, multi, checked),
            "grid beats first": beaten(grid, first, small),
            "grid beats multi": beaten(grid, multi, small),
            "multi beats slsqp": beaten(multi, slsqp, checked),
            # the adversarial claim's statistic: the share of documents at JS >= ln 2 / 2
            "far share: first": float((first >= FAR).mean()),
            "far share: multi": float((multi >= FAR).mean()),
            "far share: SLSQP (checked docs)": float((slsqp[checked] >= FAR).mean()),
            "far share: multi (same docs)": float((multi[checked] >= FAR).mean()),
            "far share: best of all (same docs)": float((np.fmax(slsqp, np.fmax(
                multi, grid))[checked] >= FAR).mean()),
            "noise moves first > 0.01": f"{int((np.abs(noisy_first - first) > 0.01).sum())}"
                                        f"/{len(docs)}",
            "noise moves multi > 0.01": f"{int((np.abs(noisy - multi) > 0.01).sum())}"
                                        f"/{len(docs)}",
            "noise: largest move, multi": float(np.abs(noisy - multi).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=60, help="layer-test documents per model")
    parser.add_argument("--starts", type=int, default=32, help="SLSQP starts (independent)")
    parser.add_argument("--max-slsqp-items", type=int, default=200,
                        help="documents with more items are left out of the SLSQP check")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for arch, encoder in (("han", "rnn"), ("han", "noenc"), ("flan", "rnn")):
        config = make_run_config("smoke", "amazon-marc-en", arch, encoder)
        run = ensure_trained(config, device="cpu", progress=False)
        results[config.model.name] = measure(run, args.docs, args.starts, args.max_slsqp_items)
    names = list(results)
    print("| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for key in next(iter(results.values())):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v)
                 for v in (results[n][key] for n in names)]
        print(f"| {key} | {' | '.join(cells)} |")
    print(f"\nSmoke Amazon models, layer-test documents; SLSQP with {args.starts} starts over "
          f"every item (documents of ≤ {args.max_slsqp_items} items), grid of 1,000 points "
          f"per side (2- and 3-item documents). attnlib {__version__}, {git_commit()}, "
          f"{device_description(torch.device('cpu'))}, {platform.python_version()}, 1 thread.")


if __name__ == "__main__":
    main()
