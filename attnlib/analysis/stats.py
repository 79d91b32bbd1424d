"""Bootstrap confidence intervals over instances (and over seeds where there are several).

Explained in the book chapter "Does the paper hold?" (book/paper_claims.ipynb).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Statistic = Callable[[np.ndarray], float]


def bootstrap_ci(
    values: np.ndarray | Sequence[float],
    statistic: Statistic = np.mean,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(estimate, low, high): percentile bootstrap over the values (e.g. instances)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return (np.nan, np.nan, np.nan)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(x), size=(n_boot, len(x)))
    stats = np.array([statistic(x[d]) for d in draws])
    alpha = (1 - level) / 2
    return (float(statistic(x)), float(np.quantile(stats, alpha)),
            float(np.quantile(stats, 1 - alpha)))


def hierarchical_bootstrap_ci(
    groups: Sequence[np.ndarray],
    statistic: Statistic = np.mean,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(estimate, low, high) resampling groups (e.g. training seeds), then values within
    each drawn group; the estimate is the statistic of all values pooled. With one group
    this is :func:`bootstrap_ci`."""
    clean = [np.asarray(g, float)[~np.isnan(np.asarray(g, float))] for g in groups]
    clean = [g for g in clean if len(g)]
    if not clean:
        return (np.nan, np.nan, np.nan)
    if len(clean) == 1:
        return bootstrap_ci(clean[0], statistic, n_boot, level, seed)
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for i in range(n_boot):
        picked = [clean[j] for j in rng.integers(0, len(clean), size=len(clean))]
        stats[i] = statistic(np.concatenate([g[rng.integers(0, len(g), len(g))] for g in picked]))
    alpha = (1 - level) / 2
    return (float(statistic(np.concatenate(clean))), float(np.quantile(stats, alpha)),
            float(np.quantile(stats, 1 - alpha)))


Reduce = Callable[[np.ndarray, np.ndarray], float]  # (sums (C,), counts (C,)) -> statistic


def mean_of_first(sums: np.ndarray, counts: np.ndarray) -> float:
    """The mean of column 0 over the documents where it is defined."""
    return float(sums[0] / counts[0]) if counts[0] > 0 else float("nan")


class CrossedBootstrap:
    """A bootstrap over training seeds and test documents as *crossed* factors: every
    seed's model is tested on the same documents, so one replicate draws seeds with
    replacement and, independently, one set of documents with replacement that every
    drawn seed shares. (Resampling documents within each seed separately, as a nested
    bootstrap does, would treat the seeds' shared documents as independent and understate
    the document variance.)

    The draws are made once per (seeds, documents) cell and reused for every statistic
    of that cell, so statistics of one cell are resampled alike. With one seed this is the
    ordinary document bootstrap.

    Args:
        n_seeds: S, the number of training seeds.
        n_docs: D, the number of test documents (shared by all seeds).
        n_boot: B, the number of replicates.
        seed: the random seed of the draws.
    """

    def __init__(self, n_seeds: int, n_docs: int, n_boot: int = 1000, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n_seeds, self.n_docs, self.n_boot = n_seeds, n_docs, n_boot
        # (B, D) how often each document is drawn in each replicate. The draws are made a
        # block of replicates at a time (the same random stream as one (B, D) draw), so
        # that the int64 picks never need more than about 32 MB: at full scale (D = 25 k,
        # B = 1000) one draw took 600 MB beside the 100 MB of weights
        self.doc_weights = np.zeros((n_boot, n_docs), dtype=np.float32)
        block = max(1, (1 << 22) // max(n_docs, 1))
        for start in range(0, n_boot if n_docs else 0, block):
            rows = min(block, n_boot - start)
            picks = rng.integers(0, n_docs, size=(rows, n_docs))
            offsets = picks + (np.arange(rows) * n_docs)[:, None]
            self.doc_weights[start:start + rows] = np.bincount(
                offsets.ravel(), minlength=rows * n_docs).reshape(rows, n_docs)
        seed_picks = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
        self.seed_weights = np.stack([np.bincount(row, minlength=n_seeds) for row in seed_picks]
                                     ).astype(np.float32)  # (B, S)

    def interval(self, values: np.ndarray, reduce: Reduce = mean_of_first,
                 level: float = 0.95) -> tuple[float, float, float]:
        """(estimate, low, high) of ``reduce`` over ``values``.

        values: (S, D, C) per seed, document and column; NaN marks a document that a
        column leaves out. ``reduce`` receives the weighted column sums and counts of
        the defined entries, (C,) each, and returns the statistic (NaN if undefined).
        The interval is the percentile interval of the replicates that are defined.
        """
        estimate, stats = self.replicates(values, reduce)
        if np.isnan(estimate) or len(stats) == 0:
            return (float(estimate), float("nan"), float("nan"))
        alpha = (1 - level) / 2
        return (float(estimate), float(np.quantile(stats, alpha)),
                float(np.quantile(stats, 1 - alpha)))

    def replicates(self, values: np.ndarray, reduce: Reduce = mean_of_first
                   ) -> tuple[float, np.ndarray]:
        """(estimate, the defined replicates of ``reduce``), as :meth:`interval` uses
        them; values: (S, D, C)."""
        values = np.asarray(values, dtype=float)
        if values.ndim != 3 or values.shape[:2] != (self.n_seeds, self.n_docs):
            raise ValueError(f"values must be (seeds={self.n_seeds}, docs={self.n_docs}, "
                             f"columns), got {values.shape}")
        defined = ~np.isnan(values)
        x = np.where(defined, values, 0.0)
        estimate = reduce(x.sum(axis=(0, 1)), defined.sum(axis=(0, 1)).astype(float))
        if np.isnan(estimate):
            return (float("nan"), np.empty(0))
        # (B, C): sum over seeds of seed weight x (document weights @ values of that seed)
        sums = np.zeros((self.n_boot, x.shape[2]))
        counts = np.zeros((self.n_boot, x.shape[2]))
        for s in range(self.n_seeds):
            w = self.seed_weights[:, s:s + 1].astype(float)
            sums += w * (self.doc_weights @ x[s].astype(np.float32))
            counts += w * (self.doc_weights @ defined[s].astype(np.float32))
        stats = np.array([reduce(s, c) for s, c in zip(sums, counts)])
        return (float(estimate), stats[~np.isnan(stats)])


def quantile_mc_band(stats: np.ndarray, q: float, z: float = 1.96) -> tuple[float, float]:
    """The Monte-Carlo 95% band of the ``q``-quantile of bootstrap replicates ``stats``:
    the order statistics B q ± z √(B q (1 − q)) (the count of replicates below the true
    quantile is binomial). A threshold inside it cannot be told from the bound with
    these many draws."""
    x = np.sort(np.asarray(stats, float))
    b = len(x)
    if b == 0:
        return (float("nan"), float("nan"))
    spread = z * np.sqrt(b * q * (1 - q))
    lo = int(np.clip(np.floor(b * q - spread), 0, b - 1))
    hi = int(np.clip(np.ceil(b * q + spread), 0, b - 1))
    return (float(x[lo]), float(x[hi]))
