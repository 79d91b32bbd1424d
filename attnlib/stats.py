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
