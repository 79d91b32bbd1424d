"""The analysis read cell by cell (attnlib.analysis.cells) gives exactly the tables that
the same functions compute on the whole results table, on real published runs: two
datasets (every run of one, two seeds of two encoders per architecture of the other:
26 runs, about half a million rows), so that cells with several seeds, the encoder comparisons, the shuffle
of the scatter sample across cells and left-out runs are all exercised."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from attnlib.analysis import bias_class, claims, summaries
from attnlib.analysis.cells import ResultCells, per_cell
from attnlib.analysis.report import key_findings
from attnlib.paths import published_root
from attnlib.study import StudyRecords, load_study, make_study

DATASETS = ("amazon-marc-en", "yahoo-answers-2topic")

pytestmark = pytest.mark.skipif(published_root("paper") is None,
                                reason="needs the published paper results")


@pytest.fixture(scope="module")
def records() -> StudyRecords:
    full = load_study(make_study("paper"), progress=False)
    runs = [r for r in full.runs if r.config.data.dataset == DATASETS[1]
            or (r.config.data.dataset == DATASETS[0] and r.config.model.encoder != "conv"
                and r.config.train.seed < 2)]
    assert {r.config.data.dataset for r in runs} == set(DATASETS)
    return StudyRecords(full.study, runs)


@pytest.fixture(scope="module")
def whole(records: StudyRecords) -> pd.DataFrame:
    return records.results()


@pytest.fixture(scope="module")
def cells(records: StudyRecords) -> ResultCells:
    return records.result_cells()


@pytest.fixture(scope="module")
def left_out(records: StudyRecords) -> list[str]:
    """Two runs to leave out: one seed of a cell, and the only seed of another dataset's
    cell, whose cell then disappears."""
    first = next(r for r in records.runs if r.config.data.dataset == DATASETS[0]
                 and r.config.model.name == "HANrnn" and r.config.train.seed == 1)
    return [first.config.hash, *(r.config.hash for r in records.runs
                                 if r.config.data.dataset == DATASETS[1]
                                 and r.config.model.name == "FLANconv")]


TABLES = {
    "negative_delta_js_share": summaries.negative_delta_js_share,
    "flip_table": summaries.flip_table,
    "fraction_to_flip_summary": summaries.fraction_to_flip_summary,
    "box_stats fraction": lambda df: summaries.box_stats(df, "first_flip_fraction"),
    "box_stats mass": lambda df: summaries.box_stats(df, "removed_attention_mass"),
    "outcome_shares": bias_class.outcome_shares,
    "survival attention": lambda df: bias_class.survival_by_cause(df, "attention"),
    "survival random": lambda df: bias_class.survival_by_cause(df, "random"),
    "head_to_head gradient": lambda df: summaries.head_to_head(df, "attention", "gradient"),
    "head_to_head random": lambda df: summaries.head_to_head(df, "attention", "random"),
    "scatter_sample": summaries.scatter_sample,
}


@pytest.mark.parametrize("name", list(TABLES))
def test_every_summary_table_is_identical_read_cell_by_cell(name, whole, cells):
    function = TABLES[name]
    assert_frame_equal(function(cells), function(whole))


def test_claims_and_encoder_effect_are_identical_read_one_run_at_a_time(whole, cells, left_out):
    for exclude in ((), left_out):
        expected = claims.evaluate_claims(whole, n_boot=100, exclude_runs=exclude)
        assert len(expected) > 0
        streamed = claims.evaluate_claims(cells, n_boot=100, exclude_runs=exclude)
        assert_frame_equal(streamed, expected)
        assert_frame_equal(claims.claim_verdicts(streamed), claims.claim_verdicts(expected))
        effect = claims.encoder_effect(whole, n_boot=50, exclude_runs=exclude)
        assert len(effect) > 0
        assert_frame_equal(claims.encoder_effect(cells, n_boot=50, exclude_runs=exclude),
                           effect)


def test_one_pass_gives_every_table_and_the_key_findings(records, whole, cells, left_out):
    out = cells.reduce({
        "flips": summaries.flip_table,
        "duel": per_cell(summaries.head_to_head, "attention", "grad_x_attention",
                         cells.scan()["first_seeds"]),
        "sample": summaries.ScatterSample(),
        "claims": claims.ClaimTable(n_boot=100, exclude_runs=left_out)})
    assert_frame_equal(out["flips"], summaries.flip_table(whole))
    assert_frame_equal(out["duel"], summaries.head_to_head(whole, "attention",
                                                           "grad_x_attention"))
    assert_frame_equal(out["sample"], summaries.scatter_sample(whole))
    assert_frame_equal(out["claims"], claims.evaluate_claims(whole, n_boot=100,
                                                             exclude_runs=left_out))
    metrics = records.metrics_table()
    assert key_findings(cells, metrics, left_out) == key_findings(whole, metrics, left_out)


def test_flip_2x2_reads_the_flip_table(whole):
    flips = summaries.flip_table(whole)
    for dataset, model in list(zip(flips["dataset"], flips["model"]))[:3]:
        assert_frame_equal(summaries.flip_2x2(flips, dataset, model),
                           summaries.flip_table_2x2(whole, dataset, model))


@pytest.mark.parametrize("n_seeds, n_docs, n_boot", [(3, 2500, 1000), (1, 5000, 300),
                                                     (2, 3, 50), (3, 0, 10), (1, 1, 7)])
def test_the_bootstrap_draws_in_blocks_what_one_draw_gives(n_seeds, n_docs, n_boot):
    """CrossedBootstrap draws its document picks a block of replicates at a time (memory);
    the weights are those of one (B, D) draw from the same stream, as before."""
    import numpy as np

    from attnlib.analysis.stats import CrossedBootstrap

    rng = np.random.default_rng(0)
    picks = rng.integers(0, n_docs, size=(n_boot, n_docs)) if n_docs else \
        np.zeros((n_boot, 0), int)
    offsets = picks + (np.arange(n_boot) * n_docs)[:, None]
    weights = np.bincount(offsets.ravel(), minlength=n_boot * n_docs).reshape(
        n_boot, n_docs).astype(np.float32)
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    boot = CrossedBootstrap(n_seeds, n_docs, n_boot, 0)
    assert np.array_equal(boot.doc_weights, weights)
    assert np.array_equal(boot.seed_weights, np.stack(
        [np.bincount(row, minlength=n_seeds) for row in seeds]).astype(np.float32))
