"""The epoch-cap check on hand-made training histories where the answer is known."""

from __future__ import annotations

import pytest

from attnlib.training.convergence import (
    dev_standard_error,
    late_dev_gain,
    still_rising_at_cap,
)


def _history(dev: list[float]) -> list[dict[str, float]]:
    return [{"epoch": i + 1, "dev_accuracy": a} for i, a in enumerate(dev)]


def test_a_plateau_with_a_one_document_best_at_the_cap_is_not_still_rising():
    # 1,000 dev documents: one document is 0.001, one standard error about 0.014
    dev = [0.60, 0.66, 0.69, 0.70, 0.715, 0.71, 0.712, 0.713, 0.714, 0.716]
    history = _history(dev)
    assert late_dev_gain(history, window=5) == pytest.approx(0.001)
    assert not still_rising_at_cap(history, max_epochs=10, window=5, n_dev=1_000)


def test_a_run_that_climbs_steadily_into_the_cap_is_still_rising():
    dev = [0.50 + 0.02 * i for i in range(10)]  # +2 points an epoch, 10 points in 5
    history = _history(dev)
    assert late_dev_gain(history, window=5) == pytest.approx(0.10)
    assert still_rising_at_cap(history, max_epochs=10, window=5, n_dev=1_000)
    # the same curve on a tiny dev set is within noise: 10 points < one SE at n = 20
    assert dev_standard_error(0.68, 20) > 0.10
    assert not still_rising_at_cap(history, max_epochs=10, window=5, n_dev=20)


def test_a_run_stopped_before_its_cap_is_never_flagged():
    history = _history([0.5 + 0.05 * i for i in range(8)])
    assert not still_rising_at_cap(history, max_epochs=10, window=5, n_dev=1_000)


def test_a_run_shorter_than_the_window_has_no_late_gain():
    history = _history([0.5, 0.6, 0.7])
    assert late_dev_gain(history, window=5) is None
    assert still_rising_at_cap(history, max_epochs=3, window=5, n_dev=1_000)


def test_bad_windows_and_dev_sizes_are_refused():
    with pytest.raises(ValueError, match="window"):
        late_dev_gain(_history([0.5, 0.6]), window=0)
    with pytest.raises(ValueError, match="n_dev"):
        dev_standard_error(0.5, 0)
