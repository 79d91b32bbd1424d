"""The follow-up statistics' and verdicts' definitions, pinned on small hand-made inputs
with known answers (issue 25), and the sentences the book renders read back against the
tables they come from."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attnlib.analysis.report import tfidf_discussion, tfidf_gaps, tfidf_sentence, weak_model_note
from attnlib.training.baseline import model_checks

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "results" / "paper"


def _checks(rows: list[tuple[str, str, int, float]], tfidf: dict[str, float],
            n_test: int = 1000) -> pd.DataFrame:
    metrics = pd.DataFrame([{"dataset": d, "model": m, "seed": s, "test_accuracy": a,
                             "n_test": n_test, "run": f"{d}-{m}-{s}"} for d, m, s, a in rows])
    baselines = pd.DataFrame([{"dataset": d, "majority_accuracy": 0.5, "tfidf_accuracy": t}
                              for d, t in tfidf.items()])
    return model_checks(metrics, baselines)


def _published_checks() -> pd.DataFrame:
    rows = []
    for path in sorted(PAPER.glob("*/*/seed*/metrics.json")):
        m = json.loads(path.read_text())
        rows.append({"dataset": m["dataset"], "model": m["model"],
                     "seed": int(path.parent.name[4:].split("-")[0]),
                     "test_accuracy": m["test_accuracy"], "n_test": m["n_test"],
                     "run": m["config_hash"]})
    base = json.loads((PAPER / "baselines.json").read_text())["baselines"]
    return model_checks(pd.DataFrame(rows), pd.DataFrame(base))


def _read_back(sentence: str, checks: pd.DataFrame) -> None:
    """Every count and gap the tf-idf sentence states, recomputed from the table."""
    gaps = tfidf_gaps(checks)
    runs, n_runs, cells, n_cells = map(int, re.search(
        r"(\d+) of (\d+) runs and (\d+) of (\d+) dataset × model cells", sentence).groups())
    assert runs == int((checks["test_accuracy"] < checks["tfidf_accuracy"]).sum())
    assert (n_runs, n_cells) == (len(checks), len(gaps))
    assert cells == int((gaps["gap_points"] < 0).sum())
    lo, hi = map(float, re.search(r"range from ([+-][\d.]+) points .* to ([+-][\d.]+) points",
                                  sentence).groups())
    assert lo == round(gaps["gap_points"].min(), 1)
    assert hi == round(gaps["gap_points"].max(), 1)
    level, above = map(int, re.search(r"(\d+) are level with it and (\d+) above it",
                                      sentence).groups())
    assert level == int((gaps["reading"] == "level with tf-idf").sum())
    assert above == int((gaps["reading"] == "above tf-idf").sum())
    clear = gaps[gaps["reading"] == "below tf-idf"]
    if clear.empty:
        assert "No cell is below it by more than" in sentence
    else:
        assert int(re.search(r"(\d+) cells? (?:are|is) below it by more", sentence).group(1)) \
            == len(clear)
        for row in clear.itertuples():
            assert str(row.model) in sentence and str(row.dataset) in sentence


def test_tfidf_gap_is_in_points_with_an_interval_that_widens_with_seed_spread():
    checks = _checks([("a", "M", 0, 0.80), ("a", "M", 1, 0.80), ("a", "N", 0, 0.70),
                      ("a", "N", 1, 0.90), ("b", "M", 0, 0.95)], {"a": 0.85, "b": 0.90},
                     n_test=10_000)
    gaps = tfidf_gaps(checks).set_index(["dataset", "model"])
    assert gaps.loc[("a", "M"), "gap_points"] == pytest.approx(-5.0)
    # no spread between seeds: only the two binomial variances
    half = 1.959964 * np.sqrt(0.8 * 0.2 / 10_000 + 0.85 * 0.15 / 10_000) * 100
    assert gaps.loc[("a", "M"), "gap_high"] == pytest.approx(-5.0 + half, rel=1e-4)
    assert gaps.loc[("a", "M"), "reading"] == "below tf-idf"
    # the same mean with a spread of 20 points between two seeds is level with tf-idf
    assert gaps.loc[("a", "N"), "gap_points"] == pytest.approx(-5.0)
    assert gaps.loc[("a", "N"), "reading"] == "level with tf-idf"
    assert gaps.loc[("b", "M"), "reading"] == "above tf-idf"
    assert gaps.loc[("a", "M"), "runs_below"] == 2


def test_tfidf_sentence_reads_back_on_hand_made_checks():
    checks = _checks([("a", "M", 0, 0.80), ("a", "M", 1, 0.80), ("a", "N", 0, 0.70),
                      ("a", "N", 1, 0.90), ("b", "M", 0, 0.95)], {"a": 0.85, "b": 0.90},
                     n_test=10_000)
    sentence = tfidf_sentence(checks)
    _read_back(sentence, checks)
    assert "3 of 5 runs" in sentence and "2 of 3 dataset × model cells" in sentence
    assert "1 cell is below it by more than its 95% interval: a (M)" in sentence


def test_model_note_no_longer_says_every_model_beats_tfidf():
    checks = _checks([("a", "M", 0, 0.80), ("b", "M", 0, 0.95)], {"a": 0.85, "b": 0.90})
    note = weak_model_note(checks)
    assert "clearly beat their baselines" not in note
    assert "1 of 2 runs are below tf-idf" in note


@pytest.mark.skipif(not (PAPER / "baselines.json").exists(), reason="no published results")
def test_published_baseline_sentences_agree_with_the_published_tables():
    checks = _published_checks()
    sentence = tfidf_sentence(checks)
    _read_back(sentence, checks)
    discussion = tfidf_discussion(checks)
    assert discussion.startswith(sentence)
    note = weak_model_note(checks)
    below = int((checks["test_accuracy"] < checks["tfidf_accuracy"]).sum())
    if below:
        assert f"{below} of {len(checks)} runs are below tf-idf" in note
        assert "clearly beat" not in note
