"""Did a run stop at its epoch cap while it was still learning?

A run that reaches ``max_epochs`` was not stopped early, but that alone does not say it
had not converged: on a dev set of a thousand documents a "new best" one epoch before
the cap can be a single document. A run counts as still rising at its cap when the best
dev accuracy of its last ``window`` epochs beats the best before them by more than one
standard error of dev accuracy, sqrt(p (1 - p) / n_dev) at that best p.

Explained in the chapter "Models" (book/models.ipynb).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def late_dev_gain(history: Sequence[Mapping[str, Any]], window: int) -> float | None:
    """Best dev accuracy of the last ``window`` epochs minus the best of the epochs before
    them (positive: the run still improved late), or None when the run has no more than
    ``window`` epochs."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    dev = [float(h["dev_accuracy"]) for h in history]
    if len(dev) <= window:
        return None
    return max(dev[-window:]) - max(dev[:-window])


def dev_standard_error(accuracy: float, n_dev: int) -> float:
    """One binomial standard error of an accuracy measured on ``n_dev`` documents."""
    if n_dev < 1:
        raise ValueError(f"n_dev must be positive, got {n_dev}")
    return math.sqrt(accuracy * (1.0 - accuracy) / n_dev)


def still_rising_at_cap(history: Sequence[Mapping[str, Any]], max_epochs: int, window: int,
                        n_dev: int) -> bool:
    """True when the run used all ``max_epochs`` epochs and its dev accuracy rose by more
    than one standard error over its last ``window`` epochs (:func:`late_dev_gain`)."""
    if len(history) < max_epochs:
        return False
    gain = late_dev_gain(history, window)
    if gain is None:
        return True  # the whole run fits in the window: nothing says it levelled off
    best = max(float(h["dev_accuracy"]) for h in history)
    return gain > dev_standard_error(best, n_dev)
