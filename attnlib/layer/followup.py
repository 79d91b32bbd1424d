"""Follow-up tests of attention at the tested layer (Jain & Wallace 2019, §4.1-4.2), exact
and vectorised like the erasure engine: the layers above the attention are one affine
map, so any reweighting of the items is a weighted sum of z_i = W h_i plus the bias.

* :func:`permutation_outputs` / :func:`permutation_summary`: shuffle a document's
  attention weights over its items many times and measure how far the output moves
  (total variation distance and Jensen-Shannon divergence from the original output).
* :func:`kendall_tau` / :func:`agreement`: how well attention's ranking of the items
  agrees with another importance measure's (Kendall's tau-b per document).
* :func:`adversarial_attention`: the attention distribution farthest (JS) from the
  trained one whose output stays within a total variation distance epsilon of the
  original output (Jain & Wallace §4.3), by projected gradient on the weights' logits.
* :func:`attention_js_across_seeds`: how far apart the attention of models trained from
  different seeds lies on the same document (Wiegreffe & Pinter §3.2), the yardstick for
  the adversarial distance.

Each has a plain per-document reference in the tests. :mod:`attnlib.layer.followup_results` runs
them on a trained model's test set. Explained in the chapter "Other tests of attention"
(book/other_tests.ipynb).
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.attention import masked_softmax
from .divergence import LN2, js_divergence
from .rankings import uniform_hash


def permutation_alphas(alpha: torch.Tensor, mask: torch.Tensor, instance_ids: np.ndarray,
                       n_permutations: int = 100, seed: int = 0) -> torch.Tensor:
    """(B, K, n): K seeded random permutations of each document's weights over its real
    items (padding stays zero). The draws depend only on (seed, instance id, k), so a
    document gets the same permutations in any batch."""
    b, n = alpha.shape
    keys = uniform_hash(seed, 7, np.repeat(np.asarray(instance_ids, np.int64), n_permutations)
                        * 1_000_003 + np.tile(np.arange(n_permutations), b), n)
    keys_t = torch.as_tensor(keys, device=alpha.device).view(b, n_permutations, n)
    keys_t = torch.where(mask.unsqueeze(1), keys_t, float("inf"))  # padding sorts last
    order = torch.argsort(keys_t, dim=-1, stable=True)  # (B, K, n): a random order of items
    real_order = torch.argsort(torch.where(mask, 0, 1), dim=-1, stable=True)  # real first
    # the j-th real item receives the weight of the order's j-th real item
    source = alpha.double().unsqueeze(1).expand(-1, n_permutations, -1).gather(2, order)
    out = torch.zeros((b, n_permutations, n), dtype=torch.float64, device=alpha.device)
    out.scatter_(2, real_order.unsqueeze(1).expand(-1, n_permutations, -1), source)
    return out


def permutation_outputs(item_logits: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor,
                        bias: torch.Tensor, instance_ids: np.ndarray,
                        n_permutations: int = 100, seed: int = 0
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K) total variation distance and JS divergence (nats) between each permuted
    output distribution and the original one."""
    permuted = permutation_alphas(alpha, mask, instance_ids, n_permutations, seed)
    logits = torch.einsum("bkn,bnc->bkc", permuted, item_logits) + bias
    original = torch.einsum("bn,bnc->bc", alpha.double(), item_logits) + bias
    p = torch.softmax(original, -1).unsqueeze(1)
    q = torch.softmax(logits, -1)
    tvd = 0.5 * (p - q).abs().sum(-1)
    js = js_divergence(original.unsqueeze(1).expand_as(logits), logits)
    return tvd, js


def median(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The median along ``dim`` as statistics defines it: the middle value of an odd
    number of values, the mean of the two middle values of an even number.
    (``torch.median`` returns the lower of the two, up to 0.06 TVD below the median of
    100 permutation draws on the published runs.)"""
    ordered = x.sort(dim=dim).values
    n = x.shape[dim]
    if n == 0:
        raise ValueError("the median of no values is undefined")
    upper = ordered.narrow(dim, n // 2, 1)
    if n % 2:
        return upper.squeeze(dim)
    return (0.5 * (ordered.narrow(dim, n // 2 - 1, 1) + upper)).squeeze(dim)


def permutation_summary(tvd: torch.Tensor, js: torch.Tensor, barely: float = 0.01
                        ) -> dict[str, np.ndarray]:
    """Per document: median (:func:`median`) TVD and JS over the permutations, and whether
    the output barely moves (median TVD below ``barely``)."""
    med_tvd = median(tvd, 1).cpu().numpy()
    return {"median_tvd": med_tvd, "median_js": median(js, 1).cpu().numpy(),
            "barely_moves": med_tvd < barely}


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b of two score vectors over the same items (ties counted as in
    scipy); NaN when either is constant or there are fewer than two items."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2:
        return float("nan")
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    upper = np.triu_indices(len(a), 1)
    da, db = da[upper], db[upper]
    concordant_minus_discordant = float((da * db).sum())
    pairs_a, pairs_b = float((da != 0).sum()), float((db != 0).sum())
    if pairs_a == 0 or pairs_b == 0:
        return float("nan")
    return concordant_minus_discordant / np.sqrt(pairs_a * pairs_b)


def agreement(attention: torch.Tensor, other: torch.Tensor, mask: torch.Tensor
              ) -> np.ndarray:
    """(B,) Kendall's tau-b between attention and another measure's scores of each
    document's real items."""
    a, o, m = (x.detach().cpu().numpy() for x in (attention, other, mask))
    return np.array([kendall_tau(a[i][m[i]], o[i][m[i]]) for i in range(len(a))])


def distribution_js(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence (nats, in [0, ln 2]) between probability vectors over
    the last dim (zeros allowed: 0 log 0 = 0)."""
    p, q = p.double(), q.double()
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor) -> torch.Tensor:
        safe = torch.where(a > 0, a / torch.where(m > 0, m, 1.0), 1.0)
        return torch.where(a > 0, a * torch.log(safe), 0.0).sum(-1)

    return (0.5 * kl(p) + 0.5 * kl(q)).clamp(0.0, LN2)


def output_tvd(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """Total variation distance between the softmax distributions of two logit tensors."""
    return 0.5 * (torch.softmax(logits_p, -1) - torch.softmax(logits_q, -1)).abs().sum(-1)


def adversarial_attention(item_logits: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor,
                          bias: torch.Tensor, instance_ids: np.ndarray, epsilon: float = 0.01,
                          steps: int = 2_000, lr: float = 0.5, penalty: float = 10.0,
                          seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per document, the attention over its items farthest from ``alpha`` (JS) among those
    found whose output stays within TVD ``epsilon`` of the original output.

    Adam on the logits u of alpha' = softmax(u) over the real items, maximising
    JS(alpha', alpha) - penalty * max(0, TVD(y', y) - epsilon) / epsilon, started from
    log alpha plus a seeded per-document perturbation; the best feasible iterate is kept
    (alpha itself, JS 0, when none is). The loss is a sum of per-document terms and Adam
    acts elementwise, so a batch gives exactly what one document at a time gives.

    item_logits: (B, n, C) z_i; alpha, mask: (B, n); bias: (C,) -> adversarial alpha
    (B, n), its JS from alpha (B,) and its output TVD (B,).
    """
    a = alpha.double()
    z = item_logits.double()
    original = torch.einsum("bn,bnc->bc", a, z) + bias
    b, n = a.shape
    noise = torch.as_tensor(uniform_hash(seed, 9, np.asarray(instance_ids, np.int64), n),
                            device=a.device)
    start = torch.log(a.clamp_min(1e-12)) + (noise - 0.5)
    u = torch.where(mask, start, 0.0).requires_grad_(True)
    optimizer = torch.optim.Adam([u], lr=lr)
    best = a.clone()
    best_js = torch.zeros(b, dtype=torch.float64, device=a.device)
    best_tvd = torch.zeros(b, dtype=torch.float64, device=a.device)
    with torch.enable_grad():
        for step in range(steps + 1):
            candidate = masked_softmax(u, mask)
            logits = torch.einsum("bn,bnc->bc", candidate, z) + bias
            js = distribution_js(candidate, a)
            tvd = output_tvd(logits, original)
            with torch.no_grad():
                better = (tvd <= epsilon) & (js > best_js)
                best = torch.where(better.unsqueeze(-1), candidate, best)
                best_js = torch.where(better, js, best_js)
                best_tvd = torch.where(better, tvd, best_tvd)
            if step == steps:
                break
            loss = (-js + penalty * torch.relu(tvd - epsilon) / epsilon).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return best.detach(), best_js.detach(), best_tvd.detach()


def attention_js_across_seeds(alphas: torch.Tensor) -> torch.Tensor:
    """(B,) mean JS over every pair of seeds between the attention distributions that
    models trained from different seeds put on the same documents. alphas: (S, B, n), S
    >= 2, zero on padding."""
    s = alphas.shape[0]
    if s < 2:
        raise ValueError("seed variance needs the attention of at least two seeds")
    pairs = [(i, j) for i in range(s) for j in range(i + 1, s)]
    return torch.stack([distribution_js(alphas[i], alphas[j]) for i, j in pairs]).mean(0)
