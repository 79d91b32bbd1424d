"""Charts: faceted layers share the facet's data (a layer with its own data would show
the same points in every panel), and every chart serialises."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnlib.analysis import bias_class, claims, summaries
from attnlib.presentation import viz

from .test_results import _frame


def _layers_with_own_data(spec: dict) -> list[dict]:
    inner = spec.get("spec", {})
    return [layer for layer in inner.get("layer", []) if "data" in layer]


def _two_dataset_frame() -> pd.DataFrame:
    a = _frame()
    b = _frame().assign(dataset="yelp-20k")
    b["delta_js"] = b["delta_js"] * 3
    return pd.concat([a, b], ignore_index=True)


def test_faceted_layered_charts_split_every_layer_by_panel():
    df = _two_dataset_frame()
    charts = {
        "scatter": viz.delta_js_scatter(summaries.scatter_sample(df), "HANrnn"),
        "box": viz.box_chart(summaries.box_stats(df), "fraction", "t"),
        "claims": viz.claims_chart(claims.evaluate_claims(df, n_boot=50), "deltajs_nonnegative",
                                   "s", [0.5, 0.6]),
    }
    for name, chart in charts.items():
        spec = chart.to_dict()
        assert "facet" in spec, name
        assert _layers_with_own_data(spec) == [], name


def test_every_chart_serialises():
    df = _two_dataset_frame()
    hist = pd.DataFrame({"dataset": ["a"] * 2, "split": ["train", "test"], "bin_start": [0, 0],
                         "bin_end": [1, 1], "documents": [3, 4]})
    history = pd.DataFrame({"dataset": ["a"] * 2, "model": ["HANrnn"] * 2, "seed": [0, 0],
                            "epoch": [1, 2], "dev_accuracy": [0.5, 0.6],
                            "train_loss": [1.0, 0.5], "lr": [1e-3, 1e-3]})
    for chart in (viz.length_histogram(hist, "tokens", "t"), viz.training_curves(history),
                  viz.negative_share_chart(summaries.negative_delta_js_share(df)),
                  viz.never_flip_chart(summaries.fraction_to_flip_summary(df)),
                  viz.head_to_head_chart(summaries.head_to_head(df)),
                  viz.outcome_chart(bias_class.outcome_shares(df))):
        assert chart.to_json()
    assert np.isfinite(len(viz.style_verdicts(claims.claim_verdicts(
        claims.evaluate_claims(df, n_boot=20))).to_html()))


def test_facet_grids_with_a_missing_model_are_completed():
    df = _two_dataset_frame()  # HANrnn on imdb and yelp-20k
    other = _frame().assign(model="FLANrnn", arch="flan")
    df = pd.concat([df, other], ignore_index=True)  # FLANrnn on imdb only
    spec = viz.box_chart(summaries.box_stats(df), "fraction", "t").to_dict()
    rows = spec["datasets"][next(iter(spec["datasets"]))]
    cells = {(r["dataset"], r["model"]) for r in rows}
    assert cells == {("imdb", "HANrnn"), ("imdb", "FLANrnn"), ("yelp-20k", "HANrnn"),
                     ("yelp-20k", "FLANrnn")}


def test_with_interval_folds_the_interval_into_one_column():
    import math

    table = pd.DataFrame({"model": ["a", "b", "c"], "difference": [0.5, -0.25, math.nan],
                          "ci_low": [0.4, -0.3, math.nan], "ci_high": [0.6, -0.2, math.nan]})
    out = viz.with_interval(table, "difference", "{:+.2f}")
    assert list(out.columns) == ["model", "difference [95% interval]"]
    assert list(out["difference [95% interval]"]) == ["+0.50 [+0.40, +0.60]",
                                                       "-0.25 [-0.30, -0.20]", "–"]
    html = viz.style_verdicts(out).to_html()
    assert "difference [95% interval]" in html


def test_data_caveat_names_substitute_datasets():
    from attnlib.analysis.report import data_caveat

    text = data_caveat(["imdb", "yahoo-answers-2topic", "yelp-20k"])
    assert text == ("imdb, yahoo-answers-2topic and yelp-20k are each a substitute for the "
                    "paper's data")
    assert data_caveat(["yelp-20k"]) == "yelp-20k is a substitute for the paper's data"
    assert data_caveat(["yelp-full"]) == "every dataset of this build is the paper's own"
