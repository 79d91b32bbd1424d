"""Each chapter's findings (attnlib.analysis.findings) on small hand-made tables whose
answers are known, and the build step that moves them under the chapter's title."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pandas as pd

from attnlib.analysis import findings

ROOT = Path(__file__).resolve().parents[1]


def _build_book():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_single_weight_findings_name_the_extremes_and_the_majority():
    shares = pd.DataFrame({"dataset": ["a", "a", "b"], "model": ["HANrnn", "FLANrnn", "HANrnn"],
                           "ranking": ["attention"] * 3, "n": [10, 10, 10],
                           "negative_share": [0.1, 0.3, 0.2]})
    flips = pd.DataFrame({"dataset": ["a", "a", "b"], "model": ["HANrnn", "FLANrnn", "HANrnn"],
                          "both": [1.0, 0.0, 2.0], "only_top": [4.0, 1.0, 8.0],
                          "only_random": [1.0, 0.0, 2.0]})
    text = " ".join(findings.single_weight_findings(shares, flips))
    assert "10.0% (HANrnn on a) to 30.0% (FLANrnn on a)" in text
    assert "for most documents in every model" in text
    assert "1.0% (FLANrnn on a) to 10.0% (HANrnn on b)" in text  # both + only_top
    assert "flipped 1.0% on average" in text
    shares.loc[1, "negative_share"] = 0.6  # one model where the top item mostly matters less
    assert "in some models" in " ".join(findings.single_weight_findings(shares, flips))


def test_models_findings_count_cells_below_tfidf_and_weak_runs():
    checks = pd.DataFrame({"dataset": ["a"] * 3, "model": ["HANrnn", "HANrnn", "FLANrnn"],
                           "test_accuracy": [0.8, 0.9, 0.7], "learned": [True, True, False]})
    gaps = pd.DataFrame({"dataset": ["a", "a"], "model": ["HANrnn", "FLANrnn"],
                         "gap_points": [2.0, -3.0], "reading": ["above tf-idf", "below tf-idf"]})
    text = " ".join(findings.models_findings(checks, gaps))
    assert "70.0% (FLANrnn on a) to 85.0% (HANrnn on a)" in text  # seed means
    assert "1 of 3 runs do not clear the bar" in text
    assert "1 of 2 dataset × model cells are below" in text and "(1 by more" in text


def test_multi_weight_findings_weight_the_duel_by_documents():
    summary = pd.DataFrame({"dataset": ["a", "a"], "model": ["HANrnn"] * 2,
                            "ranking": ["attention", "gradient"], "before_full_share": [0.4, 0.6],
                            "median": [0.5, 0.25]})
    duels = pd.DataFrame({"dataset": ["a", "b"], "model": ["HANrnn"] * 2,
                          "comparison": ["attention vs gradient"] * 2, "n": [100, 300],
                          "win": [0.4, 0.0], "loss": [0.2, 0.6]})
    text = " ".join(findings.multi_weight_findings(summary, duels))
    assert "40.0% (HANrnn on a) of documents flip before" in text
    assert "attention 0.50, gradient 0.25" in text
    assert "fewer items than attention for 50.0%" in text  # (100*.2 + 300*.6) / 400
    assert "more for 10.0%" in text


def test_explore_findings_count_flips_short_of_full_erasure():
    flips = pd.DataFrame({"dataset": ["a"] * 3, "model": ["FLANrnn"] * 3, "n_items": [1, 5, 9],
                          "top_flips": [False, True, False], "k_to_flip": [None, 1, 3]})
    text = " ".join(findings.explore_findings(flips))
    assert "3 test documents of FLANrnn on a" in text  # one dataset: named
    assert "flips the decision of 1 of them" in text
    assert "2 of the 3 flip before" in text and "median of 2 items" in text


def test_claim_findings_count_verdicts_and_name_fragile_claims():
    verdicts = pd.DataFrame({"claim": ["x", "y", "z"], "verdict": ["holds", "partly", "not testable"]})
    robust = pd.DataFrame({"claim": ["x", "y", "z"],
                           "robust verdict": ["holds (robust)", "fragile", "not testable"]})
    text = " ".join(findings.claims_findings(verdicts, robust))
    assert "of the paper's 3 claims, 1 holds in every testable" in text
    assert "(1 cannot be judged" in text
    assert "1 holds robustly" in text and "fragile: `y`" in text


def test_known_answer_findings_without_published_runs_say_so():
    text = " ".join(findings.known_answer_findings(None, None, missing=36))
    assert "not published yet (36 runs)" in text


def test_the_build_puts_the_findings_under_the_title():
    build_book = _build_book()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nThe introduction."),
                nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import pandas"),
                nbformat.v4.new_markdown_cell("## A section"),
                nbformat.v4.new_code_cell("show(findings)", metadata={"tags": ["findings"]})]
    build_book.present_parameters(nb, {}, "Built from the test profile.")
    sources = [c.source for c in nb.cells]
    assert sources[:4] == ["# Title", "*Built from the test profile.*", "show(findings)",
                           "The introduction."]
    assert "remove-input" in nb.cells[2].metadata["tags"]
    assert sources.count("show(findings)") == 1


def test_free_memory_follows_a_cgroup_limit(tmp_path):
    build_book = _build_book()
    v1 = tmp_path / "memory" / "job"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("4294967296\n")
    (v1 / "memory.usage_in_bytes").write_text("1073741824\n")
    assert build_book._cgroup_headroom("4:memory:/job\n0::/", tmp_path) == 3 * 1024 ** 3
    v2 = tmp_path / "slice"
    v2.mkdir()
    (v2 / "memory.max").write_text("max\n")
    (v2 / "memory.current").write_text("5\n")
    assert build_book._cgroup_headroom("0::/slice\n", tmp_path) is None  # no limit
    (v2 / "memory.max").write_text("1000\n")
    assert build_book._cgroup_headroom("0::/slice\n", tmp_path) == 995
