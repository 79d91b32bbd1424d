"""Adversarial attention (Jain & Wallace 2019, §4.3): per document, the attention
distribution farthest (Jensen-Shannon) from the trained one among those whose output
stays within total variation distance epsilon of the original output.

The layers above the attention are one affine map, so an attention alpha' gives the
logits sum_i alpha'_i z_i + b. JS(., alpha) is convex, so the maximum lies on the
boundary of the feasible set, usually on a low-dimensional face of the simplex (few
items carry the weight) where the output constraint is tight. Gradient ascent on the
weights' logits (the single-start search this book used first) cannot reach such faces
(a weight of zero is a logit of minus infinity) and stops in the first local optimum; a
stronger independent search beat it by more than 0.01 JS on a quarter of small HAN
documents. This search has three stages, each keeping only feasible points:

1. **Candidates**, vectorised over the batch: every one-hot attention, the best
   feasible point of every edge of the simplex between two of the ``edge_items`` items
   with the smallest weights (a 64-point scan, then bisection to the constraint), and
   the farthest feasible point along ``random_rays`` seeded rays from alpha.
2. **Projected Adam** on the weights themselves (projected onto the simplex after each
   step, so faces are reachable), maximising JS - penalty * max(0, TVD - eps) / eps,
   from the best candidates, from the vertex mixtures 0.7 e_j + 0.3 alpha of the
   smallest-weight items and from seeded random mixtures; cosine-decayed step size.
3. **SLSQP polish** (SciPy, float64, the TVD constraint in smooth form with one slack
   per class) from the ``polish_starts`` best distinct points, over the
   ``polish_items`` items where they differ most from alpha (the other weights fixed),
   so long documents stay cheap.

The first search's own result (:func:`attnlib.layer.followup.adversarial_attention`,
Adam on the weights' logits from log alpha, ``logit_steps`` steps) joins the pool of
candidates, so on the same weights this search never finds less than that one did.

Every stage depends only on (seed, document id, its items), never on the batch, and the
polish converges to a local optimum, so the result is the same one document at a time
and moves by no more than a local optimum does when the inputs move by float noise.
``benchmarks/adversarial_search.py`` checks it against an exhaustive grid (documents of
2 or 3 items) and a 32-start SLSQP search. Explained in the chapter "Other tests of
attention" (book/other_tests.ipynb).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .divergence import LN2
from .followup import adversarial_attention as first_search
from .rankings import uniform_hash

ADVERSARIAL_SEARCH_VERSION = "2"


@dataclass(frozen=True)
class AdversarialSearch:
    """Settings of :func:`adversarial_attention` (the defaults are the book's).

    Attributes:
        epsilon: the output TVD the adversarial attention must stay within.
        steps, lr, penalty: projected Adam's steps, initial step size and penalty.
        edge_items: edges are scanned among this many smallest-weight items.
        random_rays: seeded rays from alpha in the candidate stage.
        adam_starts: best candidates refined by projected Adam (plus up to 8 vertex
            mixtures and 4 random mixtures).
        polish_starts, polish_items: SLSQP starts and free items per document
            (``polish_starts=0``: no polish, a pure-torch search, e.g. on a GPU).
        logit_steps, logit_lr: steps and step size of the first search (Adam on the
            logits), whose result joins the candidates (``logit_steps=0``: left out).
        seed: the rays', random mixtures' and first search's seed.
    """

    epsilon: float = 0.01
    steps: int = 400
    lr: float = 0.02
    penalty: float = 10.0
    edge_items: int = 24
    random_rays: int = 64
    adam_starts: int = 8
    polish_starts: int = 4
    polish_items: int = 48
    logit_steps: int = 2_000
    logit_lr: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.epsilon < 1:
            raise ValueError(f"epsilon must be in (0, 1), got {self.epsilon}")
        for name in ("steps", "edge_items", "random_rays", "adam_starts", "polish_items"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("polish_starts", "logit_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if not self.lr > 0 or not self.logit_lr > 0:
            raise ValueError("lr and logit_lr must be positive")


def simplex_projection(v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(..., n) the Euclidean projection of each row's real entries onto the probability
    simplex (padding stays zero); the sort-based algorithm of Duchi et al. (2008)."""
    n = v.shape[-1]
    s = torch.where(mask, v, -torch.inf).sort(-1, descending=True).values
    real = torch.isfinite(s)
    cs = torch.where(real, s, 0.0).cumsum(-1)
    k = torch.arange(1, n + 1, dtype=v.dtype, device=v.device)
    positive = real & (s - (cs - 1) / k > 0)
    rho = (positive * k).amax(-1).clamp_min(1)
    theta = (cs.gather(-1, (rho.long() - 1).unsqueeze(-1)).squeeze(-1) - 1) / rho
    return torch.where(mask, (v - theta.unsqueeze(-1)).clamp_min(0), 0.0)


def _js(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """JS (nats) between probability vectors over the last dim; zeros allowed."""
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor) -> torch.Tensor:
        ratio = torch.where(a > 0, a / torch.where(m > 0, m, 1.0), 1.0)
        return torch.where(a > 0, a * torch.log(ratio), 0.0).sum(-1)

    return (0.5 * kl(p) + 0.5 * kl(q)).clamp(0.0, LN2)


def _tvd(weights: torch.Tensor, z: torch.Tensor, bias: torch.Tensor, p: torch.Tensor
         ) -> torch.Tensor:
    """Output TVD from ``p`` of attention ``weights`` (..., n) over items z (..., n, C)."""
    q = torch.softmax(torch.einsum("...n,...nc->...c", weights, z) + bias, -1)
    return 0.5 * (q - p).abs().sum(-1)


def _two_item_js(s: torch.Tensor, a_i: torch.Tensor, a_j: torch.Tensor) -> torch.Tensor:
    """JS (nats) between alpha and the attention s e_i + (1 - s) e_j, from the two
    weights alone: every other item has weight 0, and contributes alpha_k ln 2 / 2."""
    def half_kl(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # x ln(2x / (x + y))
        return torch.where(x > 0, x * torch.log(torch.where(x > 0, 2 * x, 1.0)
                                                / torch.where(x > 0, x + y, 1.0)), 0.0)

    t = 1 - s
    value = 0.5 * (half_kl(s, a_i) + half_kl(t, a_j) + half_kl(a_i, s) + half_kl(a_j, t)
                   + (1 - a_i - a_j).clamp_min(0) * LN2)
    return value.clamp(0.0, LN2)


def _vertex_candidates(z: torch.Tensor, a: torch.Tensor, mask: torch.Tensor,
                       bias: torch.Tensor, p: torch.Tensor, eps: float
                       ) -> torch.Tensor:
    """(B, n) the JS of each one-hot attention e_j, -1 where it is not feasible."""
    tvd = 0.5 * (torch.softmax(z + bias, -1) - p.unsqueeze(1)).abs().sum(-1)
    js = _two_item_js(torch.ones_like(a), a, torch.zeros_like(a))
    return torch.where((tvd <= eps) & mask, js, -1.0)


def _edge_candidates(z: torch.Tensor, a: torch.Tensor, mask: torch.Tensor, bias: torch.Tensor,
                     p: torch.Tensor, eps: float, edge_items: int, grid: int = 64,
                     bisect: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """Per edge e_i--e_j of the simplex (i, j among the smallest weights): its feasible
    point farthest from alpha, as (B, E, n) weights and JS (B, E), -1 where none is
    feasible. Computed from the two items' logits alone."""
    b, n = a.shape
    k = min(n, edge_items)
    items = torch.argsort(torch.where(mask, a, torch.inf), dim=1, stable=True)[:, :k]
    real = mask.gather(1, items)
    ii, jj = torch.triu_indices(k, k, 1, device=a.device)
    if len(ii) == 0:
        return a.new_zeros((b, 0, n)), a.new_zeros((b, 0))
    i_idx, j_idx = items[:, ii], items[:, jj]  # (B, E)
    valid = real[:, ii] & real[:, jj]
    a_i, a_j = a.gather(1, i_idx), a.gather(1, j_idx)
    z_i = z.gather(1, i_idx.unsqueeze(-1).expand(-1, -1, z.shape[-1]))  # (B, E, C)
    z_j = z.gather(1, j_idx.unsqueeze(-1).expand(-1, -1, z.shape[-1]))
    pp = p.unsqueeze(1)

    def tvd(s: torch.Tensor) -> torch.Tensor:  # s: (B, E) or (B, E, G)
        if s.dim() == 3:
            logits = s.unsqueeze(-1) * z_i.unsqueeze(2) + (1 - s).unsqueeze(-1) * z_j.unsqueeze(2)
            return 0.5 * (torch.softmax(logits + bias, -1) - pp.unsqueeze(2)).abs().sum(-1)
        logits = s.unsqueeze(-1) * z_i + (1 - s).unsqueeze(-1) * z_j
        return 0.5 * (torch.softmax(logits + bias, -1) - pp).abs().sum(-1)

    s = torch.linspace(0, 1, grid + 1, dtype=a.dtype, device=a.device).expand(b, len(ii), -1)
    feasible = (tvd(s) <= eps) & valid.unsqueeze(-1)
    js = torch.where(feasible, _two_item_js(s, a_i.unsqueeze(-1), a_j.unsqueeze(-1)), -1.0)
    best_g = js.argmax(-1)
    best_js = js.amax(-1)
    s0 = s[..., 0].new_tensor(0.0) + best_g.to(a.dtype) / grid
    found_s, found_js = [s0], [best_js]
    for side in (-1, 1):  # JS is convex along the edge: push to the constraint both ways
        lo, hi = s0.clone(), ((best_g + side).clamp(0, grid)).to(a.dtype) / grid
        for _ in range(bisect):
            mid = 0.5 * (lo + hi)
            ok = tvd(mid) <= eps
            lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
        found_s.append(lo)
        found_js.append(torch.where(best_js >= 0, _two_item_js(lo, a_i, a_j), -1.0))
    all_s, all_js = torch.stack(found_s, -1), torch.stack(found_js, -1)
    pick = all_s.gather(-1, all_js.argmax(-1, keepdim=True)).squeeze(-1)
    e_i = torch.nn.functional.one_hot(i_idx, n).to(a.dtype)
    e_j = torch.nn.functional.one_hot(j_idx, n).to(a.dtype)
    return pick.unsqueeze(-1) * e_i + (1 - pick).unsqueeze(-1) * e_j, all_js.amax(-1)


def _ray_candidates(z: torch.Tensor, a: torch.Tensor, bias: torch.Tensor, p: torch.Tensor,
                    eps: float, targets: torch.Tensor, grid: int = 32, bisect: int = 20
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The farthest point of each ray alpha -> target (B, R, n) before the output first
    leaves epsilon: (B, R, n) points and their JS. The logits are linear along a ray."""
    l0 = torch.einsum("bn,bnc->bc", a, z).unsqueeze(1)  # (B, 1, C)
    dl = torch.einsum("brn,bnc->brc", targets, z) - l0
    pp = p.unsqueeze(1)

    def tvd(t: torch.Tensor) -> torch.Tensor:
        return 0.5 * (torch.softmax(l0 + t.unsqueeze(-1) * dl + bias, -1) - pp).abs().sum(-1)

    ts = torch.linspace(0, 1, grid + 1, dtype=a.dtype, device=a.device)[1:]
    ok = torch.stack([tvd(torch.full(dl.shape[:2], float(t), dtype=a.dtype, device=a.device))
                      <= eps for t in ts], -1)  # (B, R, G)
    steps = torch.arange(grid, device=a.device).expand_as(ok)
    first_bad = torch.where(~ok, steps, grid).amin(-1)
    lo = torch.where(first_bad > 0, ts[(first_bad - 1).clamp_min(0)], 0.0)
    hi = ts[first_bad.clamp_max(grid - 1)]
    lo = torch.where(first_bad == grid, 1.0, lo)
    open_ = first_bad < grid
    for _ in range(bisect):
        mid = 0.5 * (lo + hi)
        good = open_ & (tvd(mid) <= eps)
        lo = torch.where(good, mid, lo)
        hi = torch.where(open_ & ~good, mid, hi)
    aa = a.unsqueeze(1)
    points = aa + lo.unsqueeze(-1) * (targets - aa)
    return points, _js(points, aa.expand_as(points))


def _seeded_mixtures(a: torch.Tensor, mask: torch.Tensor, instance_ids: np.ndarray,
                     seed: int, stream: int, count: int, sparsity: tuple[float, ...]
                     ) -> torch.Tensor:
    """(B, count, n) seeded random distributions over each document's real items
    (exponential draws raised to 1/c: the smaller c, the sparser)."""
    b, n = a.shape
    ids = np.asarray(instance_ids, np.int64)
    out = []
    for k in range(count):
        u = torch.as_tensor(uniform_hash(seed, stream + k, ids, n), device=a.device)
        w = (-torch.log(u.clamp(1e-12, 1.0))) ** (1.0 / sparsity[k % len(sparsity)])
        w = torch.where(mask, w, 0.0)
        out.append(w / w.sum(1, keepdim=True))
    return torch.stack(out, 1) if out else a.new_zeros((b, 0, n))


def _projected_adam(z: torch.Tensor, a: torch.Tensor, mask: torch.Tensor, bias: torch.Tensor,
                    original: torch.Tensor, starts: torch.Tensor, search: AdversarialSearch
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on the weights from each start (B, K, n), projected onto the simplex; the
    best feasible iterate per start: (B, K, n) and its JS (0 where none was feasible)."""
    b, k, n = starts.shape
    zz, aa = z.repeat_interleave(k, 0), a.repeat_interleave(k, 0)
    mm, oo = mask.repeat_interleave(k, 0), original.repeat_interleave(k, 0)
    p = torch.softmax(oo, -1)
    x = starts.reshape(b * k, n).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=search.lr)
    best, best_js = aa.clone(), torch.zeros(b * k, dtype=a.dtype, device=a.device)
    with torch.enable_grad():
        for step in range(search.steps + 1):
            js, tvd = _js(x, aa), _tvd(x, zz, bias, p)
            with torch.no_grad():
                better = (tvd <= search.epsilon) & (js > best_js)
                best = torch.where(better.unsqueeze(-1), x, best)
                best_js = torch.where(better, js, best_js)
            if step == search.steps:
                break
            for group in optimizer.param_groups:  # cosine decay to 1% of the step size
                group["lr"] = search.lr * (0.01 + 0.495 * (1 + math.cos(math.pi * step
                                                                         / search.steps)))
            loss = (-js + search.penalty * torch.relu(tvd - search.epsilon)
                    / search.epsilon).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                x.copy_(simplex_projection(x, mm))
    return best.detach().view(b, k, n), best_js.detach().view(b, k)


def _slsqp_polish(z: np.ndarray, a: np.ndarray, bias: np.ndarray, start: np.ndarray,
                  eps: float, free_items: int) -> np.ndarray | None:
    """One SLSQP run from ``start`` over the ``free_items`` items where it differs most
    from ``a`` (the other weights fixed); the result, or None when it is not feasible."""
    from scipy.optimize import minimize

    n, c = z.shape
    free = np.sort(np.argsort(-np.abs(start - a), kind="stable")[:free_items])
    fixed = np.setdiff1d(np.arange(n), free)
    mass = 1.0 - start[fixed].sum()
    base = start[fixed] @ z[fixed] + bias
    zf, af = z[free], a[free]
    p = _softmax(a @ z + bias)
    nf = len(free)

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        w = np.clip(x[:nf], 1e-300, None)
        m = 0.5 * (w + af)
        gain = 0.5 * np.sum(w * np.log(w / m))
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = np.where(af > 0, af * np.log(af / m), 0.0)
        # the fixed items' own JS terms are constants, left out of the objective
        value = gain + 0.5 * rest.sum()
        return -value, np.concatenate([-0.5 * np.log(w / m), np.zeros(c)])

    def constraint(x: np.ndarray) -> np.ndarray:
        q = _softmax(x[:nf] @ zf + base)
        s = x[nf:]
        return np.concatenate([s - (q - p), s + (q - p), [eps - 0.5 * s.sum()]])

    def constraint_jac(x: np.ndarray) -> np.ndarray:
        q = _softmax(x[:nf] @ zf + base)
        dq = (np.diag(q) - np.outer(q, q)) @ zf.T  # (C, nf)
        eye = np.eye(c)
        last = np.concatenate([np.zeros(nf), -0.5 * np.ones(c)])[None]
        return np.vstack([np.hstack([-dq, eye]), np.hstack([dq, eye]), last])

    x0 = np.concatenate([start[free], np.abs(_softmax(start @ z + bias) - p)])
    result = minimize(objective, x0, jac=True, method="SLSQP",
                      bounds=[(0.0, 1.0)] * (nf + c),
                      constraints=[{"type": "eq", "fun": lambda x: np.array([x[:nf].sum() - mass]),
                                    "jac": lambda x: np.concatenate([np.ones(nf),
                                                                     np.zeros(c)])[None]},
                                   {"type": "ineq", "fun": constraint, "jac": constraint_jac}],
                      options={"maxiter": 200, "ftol": 1e-12})
    out = start.copy()
    out[free] = np.clip(result.x[:nf], 0.0, None)
    out /= out.sum()
    if 0.5 * np.abs(_softmax(out @ z + bias) - p).sum() > eps:
        return None
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@dataclass(frozen=True)
class AdversarialResult:
    """What :func:`search_adversarial` found per document: weights (B, n), their JS from
    alpha (B,) in nats, their output TVD (B,) and the first search's JS alone (B,)."""

    weights: torch.Tensor
    js: torch.Tensor
    tvd: torch.Tensor
    first_search_js: torch.Tensor


def adversarial_attention(item_logits: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor,
                          bias: torch.Tensor, instance_ids: np.ndarray,
                          search: AdversarialSearch | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per document, the attention over its items farthest from ``alpha`` (JS) among
    those found whose output stays within TVD ``search.epsilon`` of the original output
    (alpha itself, JS 0, when nothing else is found). Stages in the module docstring.

    item_logits: (B, n, C) z_i; alpha, mask: (B, n); bias: (C,) -> adversarial alpha
    (B, n), its JS from alpha (B,) in nats and its output TVD (B,).
    """
    found = search_adversarial(item_logits, alpha, mask, bias, instance_ids, search)
    return found.weights, found.js, found.tvd


def search_adversarial(item_logits: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor,
                       bias: torch.Tensor, instance_ids: np.ndarray,
                       search: AdversarialSearch | None = None) -> AdversarialResult:
    """:func:`adversarial_attention`, with the first search's own result beside it."""
    search = search or AdversarialSearch()
    eps = search.epsilon
    a, z = alpha.double() * mask, item_logits.double()
    bias = bias.double()
    b, n = a.shape
    original = torch.einsum("bn,bnc->bc", a, z) + bias
    p = torch.softmax(original, -1)
    ids = np.asarray(instance_ids, np.int64)
    with torch.no_grad():
        vertex_js = _vertex_candidates(z, a, mask, bias, p, eps)
        edge_points, edge_js = _edge_candidates(z, a, mask, bias, p, eps, search.edge_items)
        rays = _seeded_mixtures(a, mask, ids, search.seed, 100, search.random_rays,
                                (0.1, 0.3, 1.0))
        ray_points, ray_js = _ray_candidates(z, a, bias, p, eps, rays)
        # the vertices are few and rarely feasible: only the best one joins the pool
        vertex = torch.nn.functional.one_hot(vertex_js.argmax(1), n).to(a.dtype).unsqueeze(1)
        points = torch.cat([vertex, edge_points, ray_points], 1)
        js = torch.cat([vertex_js.amax(1, keepdim=True), edge_js, ray_js], 1)
        top = js.topk(min(search.adam_starts, js.shape[1]), 1).indices
        starts = [points.gather(1, top.unsqueeze(-1).expand(-1, -1, n))]
        smallest = torch.argsort(torch.where(mask, a, torch.inf), dim=1,
                                 stable=True)[:, :min(n, 8)]
        mixtures = 0.7 * torch.nn.functional.one_hot(smallest, n).to(a.dtype) \
            + 0.3 * a.unsqueeze(1)
        starts.append(torch.where(mask.gather(1, smallest).unsqueeze(-1), mixtures,
                                  a.unsqueeze(1)))
        starts.append(0.5 * a.unsqueeze(1) + 0.5 * _seeded_mixtures(
            a, mask, ids, search.seed, 300, 4, (1.0,)))
    refined, refined_js = _projected_adam(z, a, mask, bias, original, torch.cat(starts, 1),
                                          search)
    pool = torch.cat([points, refined], 1)
    pool_js = torch.cat([js, refined_js], 1)
    first_js = a.new_full((b,), torch.nan)
    if search.logit_steps:
        first, first_js, _ = first_search(z, a, mask, bias, ids, eps, search.logit_steps,
                                          search.logit_lr, search.penalty, seed=search.seed)
        pool = torch.cat([pool, first.unsqueeze(1)], 1)
        pool_js = torch.cat([pool_js, torch.where(first_js > 0, first_js, -1.0).unsqueeze(1)], 1)
    best = pool[torch.arange(b, device=a.device), pool_js.argmax(1)]
    best = torch.where((pool_js.amax(1) > 0).unsqueeze(-1), best, a)
    if search.polish_starts:
        best = _polish(z, a, mask, bias, pool, pool_js, best, search)
    return AdversarialResult(best, _js(best, a), _tvd(best, z, bias, p), first_js)


def _polish(z: torch.Tensor, a: torch.Tensor, mask: torch.Tensor, bias: torch.Tensor,
            pool: torch.Tensor, pool_js: torch.Tensor, best: torch.Tensor,
            search: AdversarialSearch) -> torch.Tensor:
    """SLSQP from each document's ``polish_starts`` best distinct feasible points; keeps
    a polished point only where it is feasible and farther."""
    order = torch.argsort(pool_js, dim=1, descending=True, stable=True).cpu().numpy()
    pool_np, js_np = pool.cpu().numpy(), pool_js.cpu().numpy()
    z_np, a_np, bias_np = z.cpu().numpy(), a.cpu().numpy(), bias.cpu().numpy()
    m_np = mask.cpu().numpy()
    out = best.cpu().numpy().copy()
    for i in range(len(out)):
        real = m_np[i]
        if real.sum() < 2:
            continue
        zi, ai = z_np[i][real], a_np[i][real]
        p = _softmax(ai @ zi + bias_np)
        best_value = float(_js(torch.as_tensor(out[i][real]), torch.as_tensor(ai)))
        chosen: list[np.ndarray] = []
        for j in order[i]:
            if js_np[i, j] < 0 or len(chosen) == search.polish_starts:
                break
            start = pool_np[i, j][real]
            if any(np.abs(start - c).max() < 1e-6 for c in chosen):
                continue
            chosen.append(start)
            polished = _slsqp_polish(zi, ai, bias_np, start, search.epsilon,
                                     search.polish_items)
            if polished is None:
                continue
            value = float(_js(torch.as_tensor(polished), torch.as_tensor(ai)))
            if value > best_value and 0.5 * np.abs(
                    _softmax(polished @ zi + bias_np) - p).sum() <= search.epsilon:
                best_value = value
                out[i] = 0.0
                out[i][real] = polished
    return torch.as_tensor(out, device=best.device)
