"""The result schema, Parquet round trip with provenance, and the aggregations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from attnlib.analysis import claims, summaries
from attnlib.analysis.stats import bootstrap_ci, hierarchical_bootstrap_ci
from attnlib.errors import ResultSchemaError
from attnlib.layer.results import (
    IDENTIFIERS,
    SCHEMA,
    concat_results,
    load_results,
    read_provenance,
    save_results,
    to_schema,
)


def _frame() -> pd.DataFrame:
    """Three documents of a toy model with hand-checked outcomes."""
    rows = []
    for doc, (n, k_att, k_grad, k_rand, top, rnd, djs) in enumerate([
        (4, 1, 1, 3, True, False, 0.2),      # attention and gradient flip at once
        (5, None, 2, None, False, False, -0.01),  # only the gradient ever flips
        (10, 5, 3, 9, False, True, -0.05),   # gradient faster; only the random item flips
    ]):
        base = {"run": "h", "dataset": "imdb", "model": "HANrnn", "arch": "han",
                "encoder": "rnn", "model_seed": 0, "instance_id": doc, "doc_id": f"d{doc}",
                "n_items": n, "label": 1, "pred": 1}
        for ranking, k, seed in (("attention", k_att, None), ("gradient", k_grad, None),
                                 ("random", k_rand, 0)):
            rows.append({**base, "test": "multi", "ranking": ranking, "seed": seed,
                         "first_flip_k": k, "first_flip_fraction": None if k is None else k / n,
                         "removed_attention_mass": None if k is None else 0.5})
        rows.append({**base, "test": "single", "ranking": "attention", "seed": 0,
                     "top_item": 0, "random_item": 1, "js_top": 0.3, "js_random": 0.3 - djs,
                     "delta_js": djs, "attention_gap": 0.6 if djs > 0 else 0.1,
                     "flip_top": top, "flip_random": rnd})
    return to_schema({c: [r.get(c) for r in rows] for c in SCHEMA})


def test_round_trip_keeps_schema_and_provenance(tmp_path):
    df = _frame()
    path = save_results(df, tmp_path / "r.parquet", {"run_config_hash": "h", "seed": 0})
    back = load_results(path)
    pd.testing.assert_frame_equal(back, df)
    assert back.attrs["provenance"]["run_config_hash"] == "h"
    assert read_provenance(path)["schema_version"] == "1"


def test_omitted_columns_load_as_missing_and_nothing_else_changes(tmp_path):
    df = _frame()
    path = save_results(df, tmp_path / "r.parquet", {"seed": 0},
                        omit=("js_random", "js_top", "random_item"))
    assert read_provenance(path)["omitted_columns"] == ["js_top", "js_random", "random_item"]
    back = load_results(path)
    assert back[["js_top", "js_random", "random_item"]].isna().all().all()
    kept = [c for c in SCHEMA if c not in ("js_top", "js_random", "random_item")]
    pd.testing.assert_frame_equal(back[kept], df[kept])
    pd.testing.assert_frame_equal(summaries.negative_delta_js_share(back),
                                  summaries.negative_delta_js_share(df))
    with pytest.raises(ValueError, match=r"cannot omit \['delta_js'\]"):
        save_results(df, tmp_path / "x.parquet", {}, omit=("delta_js",))
    # a file whose metadata claims to omit a column the book reads was altered
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"attnlib"])
    meta["omitted_columns"] = ["delta_js"]
    pq.write_table(table.replace_schema_metadata({b"attnlib": json.dumps(meta).encode()}),
                   tmp_path / "altered.parquet")
    with pytest.raises(ResultSchemaError, match="says it omits.*altered"):
        load_results(tmp_path / "altered.parquet")


def test_a_study_table_keeps_identifiers_as_sorted_categoricals(tmp_path):
    first = _frame()
    second = _frame().assign(model="FLANrnn", arch="flan", run="g").astype(
        {"model": "string", "arch": "string", "run": "string"})
    table = concat_results(f for f in (first, second))  # a generator, as the study passes
    assert isinstance(table["model"].dtype, pd.CategoricalDtype)
    assert list(table["model"].cat.categories) == ["FLANrnn", "HANrnn"]
    as_text = pd.concat([first, second], ignore_index=True)
    pd.testing.assert_frame_equal(table.astype({c: "string" for c in IDENTIFIERS}), as_text)
    # grouping orders and counts rows exactly as on the text columns
    sizes = table.groupby(["model", "ranking"]).size()
    assert sizes.to_dict() == as_text.groupby(["model", "ranking"]).size().to_dict()
    assert list(sizes.index) == list(as_text.groupby(["model", "ranking"]).size().index)
    pd.testing.assert_frame_equal(summaries.fraction_to_flip_summary(table).astype(
        {"model": "string", "ranking": "string", "dataset": "string"}),
        summaries.fraction_to_flip_summary(as_text), check_dtype=False)
    save_results(table, tmp_path / "t.parquet", {})  # and it saves as text
    pd.testing.assert_frame_equal(load_results(tmp_path / "t.parquet"), as_text)


def test_wrong_or_missing_columns_are_rejected(tmp_path):
    with pytest.raises(ResultSchemaError, match="lacks the columns"):
        save_results(_frame().drop(columns=["delta_js"]), tmp_path / "x.parquet", {})
    bad = _frame().astype({"first_flip_k": "float64"})
    with pytest.raises(ResultSchemaError, match="first_flip_k is float64"):
        save_results(bad, tmp_path / "x.parquet", {})
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "foreign.parquet")
    with pytest.raises(ResultSchemaError, match="not an attnlib results file"):
        load_results(tmp_path / "foreign.parquet")
    with pytest.raises(ResultSchemaError, match="run `attnlib test` first"):
        load_results(tmp_path / "missing.parquet")


def test_aggregations_on_a_hand_checked_table():
    df = _frame()
    neg = summaries.negative_delta_js_share(df)
    assert neg["negative_share"].iloc[0] == pytest.approx(2 / 3)
    flips = summaries.flip_table(df).iloc[0]
    assert flips[["both", "only_top", "only_random", "neither"]].tolist() == pytest.approx(
        [0, 100 / 3, 100 / 3, 100 / 3])
    assert flips["only_random_share_of_off_diagonal"] == pytest.approx(0.5)
    frac = summaries.fraction_to_flip_summary(df).set_index("ranking")
    assert frac.loc["attention", "never_flip_share"] == pytest.approx(1 / 3)
    assert frac.loc["attention", "median"] == pytest.approx((0.25 + 0.5) / 2)
    duel = summaries.head_to_head(df, "attention", "gradient").iloc[0]
    # doc 0: tie; doc 1: only gradient flips (loss); doc 2: gradient needs fewer (loss)
    assert (duel["n"], duel["win"], duel["tie"], duel["loss"]) == (3, 0, pytest.approx(1 / 3),
                                                                    pytest.approx(2 / 3))
    table = summaries.flip_table_2x2(df, "imdb", "HANrnn")
    assert table.shape == (2, 2) and table.to_numpy().sum() == pytest.approx(100)
    stats = summaries.box_stats(df).set_index("ranking")
    assert stats.loc["gradient", "median"] == pytest.approx(0.3)  # of 0.25, 0.4, 0.3


def test_claims_are_evaluated_with_intervals_and_verdicts():
    evaluated = claims.evaluate_claims(_frame(), n_boot=200)
    assert set(evaluated["claim"]) == set(claims.list_claims())
    row = evaluated.set_index("claim").loc["gradient_beats_attention"]
    assert row["estimate"] == pytest.approx(2 / 3)
    assert row["ci_low"] <= row["estimate"] <= row["ci_high"]
    verdicts = claims.claim_verdicts(evaluated)
    assert set(verdicts["verdict"]) <= {"holds", "partly", "does not hold", "not testable"}


def test_bootstrap_intervals_cover_the_estimate_and_shrink_with_data():
    rng = np.random.default_rng(0)
    small = bootstrap_ci(rng.normal(size=50), seed=1)
    large = bootstrap_ci(rng.normal(size=5000), seed=1)
    assert small[1] <= small[0] <= small[2]
    assert (large[2] - large[1]) < (small[2] - small[1])
    groups = [rng.normal(loc=m, size=200) for m in (0.0, 0.1, 0.2)]
    est, low, high = hierarchical_bootstrap_ci(groups, seed=2)
    assert low <= est <= high and est == pytest.approx(np.concatenate(groups).mean())
    assert np.isnan(bootstrap_ci([])[0])
