"""The reviewer-grade statistics on small hand-made result tables where the right answer
is known: the output-bias artefact, ties, effect floors, the crossed seed x document
bootstrap, the paired encoder comparison and the baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from attnlib.analysis import bias_class, claims, summaries
from attnlib.analysis.stats import CrossedBootstrap, hierarchical_bootstrap_ci
from attnlib.errors import ResultSchemaError
from attnlib.layer.results import SCHEMA, to_schema
from attnlib.training.baseline import model_checks, tfidf_baseline, wilson_low

from .conftest import requires_imdb


def _rows(docs, model="HANrnn", run="h", seed=0, rankings=("attention", "gradient")):
    """docs: list of (n, pred, {ranking: first_flip_k or None}, delta_js, gap, top, rnd)."""
    rows = []
    for doc, (n, pred, ks, djs, gap, top, rnd) in enumerate(docs):
        base = {"run": run, "dataset": "imdb", "model": model,
                "arch": "han" if model.startswith("HAN") else "flan", "encoder": "rnn", "model_seed": seed, "instance_id": doc, "doc_id": f"d{doc}",
                "n_items": n, "label": pred, "pred": pred}
        for ranking in rankings:
            k = ks.get(ranking)
            rows.append({**base, "test": "multi", "ranking": ranking, "seed": None,
                         "first_flip_k": k, "first_flip_fraction": None if k is None else k / n,
                         "removed_attention_mass": None if k is None else 0.5})
        rows.append({**base, "test": "single", "ranking": "attention", "seed": 0,
                     "top_item": 0, "random_item": 1, "js_top": 0.3, "js_random": 0.3 - djs,
                     "delta_js": djs, "attention_gap": gap, "flip_top": top,
                     "flip_random": rnd})
    return rows


def _frame(rows) -> pd.DataFrame:
    return to_schema({c: [r.get(c) for r in rows] for c in SCHEMA})


# bias class 0: doc 0 never flips; doc 1 (class 1) flips only at full erasure under
# attention, at k = 2 under the gradient; doc 2 (class 0) flips before full erasure
ARTEFACT = [
    (4, 0, {"attention": None, "gradient": None}, 0.2, 0.6, True, False),
    (5, 1, {"attention": 5, "gradient": 2}, 0.0004, 0.1, False, False),
    (10, 0, {"attention": 3, "gradient": 3}, -0.05, 0.1, False, True),
]


def test_the_bias_class_and_each_documents_outcome_are_recovered():
    df = _frame(_rows(ARTEFACT))
    out = bias_class.multi_outcomes(df).set_index(["instance_id", "ranking"])
    assert set(out["bias_class"]) == {0}
    assert out.loc[(0, "attention"), "outcome"] == bias_class.NEVER
    assert out.loc[(1, "attention"), "outcome"] == bias_class.FULL_ONLY
    assert out.loc[(1, "gradient"), "outcome"] == bias_class.BEFORE_FULL
    assert out.loc[(2, "attention"), "outcome"] == bias_class.BEFORE_FULL
    assert out["predicted_as_bias_class"].groupby("instance_id").first().tolist() == \
        [True, False, True]
    cause = bias_class.survival_by_cause(df).iloc[0]
    assert (cause["bias_class_survives"], cause["other_class_flips_at_full"]) == \
        (pytest.approx(1 / 3), pytest.approx(1 / 3))


def test_two_never_flipping_classes_are_reported_as_damage():
    docs = [(4, 0, {"attention": None, "gradient": None}, 0.1, 0.5, False, False),
            (4, 1, {"attention": None, "gradient": None}, 0.1, 0.5, False, False)]
    with pytest.raises(ResultSchemaError, match="argmax of the output bias"):
        bias_class.multi_outcomes(_frame(_rows(docs)))


def test_binary_bias_class_follows_from_a_flip_at_full_erasure():
    docs = [(4, 1, {"attention": 4, "gradient": 4}, 0.1, 0.5, False, False),
            (4, 0, {"attention": 1, "gradient": 2}, 0.1, 0.5, False, False)]
    assert bias_class.bias_class_of_run(_frame(_rows(docs)).query("test == 'multi'")) == 0


def test_the_bias_class_is_argmax_of_the_trained_models_output_bias(small_imdb_run):
    from attnlib.layer.suite import SuiteConfig, run_erasure_tests

    results = run_erasure_tests(small_imdb_run, SuiteConfig(max_test_docs=60, random_seeds=1),
                                progress=False)
    expected = int(torch.argmax(small_imdb_run.model.output_layer.bias).item())
    outcomes = bias_class.multi_outcomes(results)
    known = outcomes["bias_class"].dropna().unique()
    assert list(known) in ([expected], [])  # recovered exactly, or not at all
    never = outcomes[outcomes["outcome"] == bias_class.NEVER]
    assert (never["pred"] == expected).all()
    full = outcomes[outcomes["outcome"] == bias_class.FULL_ONLY]
    assert (full["pred"] != expected).all()


def test_flip_summaries_leave_out_the_full_erasure_step():
    df = _frame(_rows(ARTEFACT))
    frac = summaries.fraction_to_flip_summary(df).set_index("ranking")
    att = frac.loc["attention"]
    assert (att["before_full_share"], att["full_only_share"], att["never_flip_share"]) == \
        (pytest.approx(1 / 3), pytest.approx(1 / 3), pytest.approx(1 / 3))
    assert att["median"] == pytest.approx(0.3)  # doc 2 only; doc 1's 5/5 is left out
    assert att["median_with_full"] == pytest.approx((1.0 + 0.3) / 2)
    duel = summaries.head_to_head(df, "attention", "gradient").iloc[0]
    # doc 0: neither flips (dropped); doc 1: gradient at 2, attention only at n (loss);
    # doc 2: tie at 3
    assert (duel["documents"], duel["n"], duel["win"], duel["tie"], duel["loss"]) == \
        (3, 2, 0, 0.5, 0.5)
    assert duel["excluded"] == pytest.approx(1 / 3)
    box = summaries.box_stats(df).set_index("ranking")
    assert box.loc["attention", "n"] == 1


def _claim(claim_id: str, df: pd.DataFrame) -> pd.Series:
    evaluated = claims.evaluate_claims(df, n_boot=200)
    return evaluated.set_index("claim").loc[claim_id]


def test_near_zero_delta_js_is_a_tie_not_support():
    row = _claim("deltajs_nonnegative", _frame(_rows(ARTEFACT)))
    # doc 1's ΔJS of 0.0004 nats is inside the tie band: one positive, one negative left
    assert row["estimate"] == pytest.approx(0.5)
    assert row["ties"] == pytest.approx(1 / 3) and row["documents"] == 2


def test_duels_ignore_flips_at_full_erasure():
    row = _claim("gradient_beats_attention", _frame(_rows(ARTEFACT)))
    assert row["estimate"] == pytest.approx(0.5)  # doc 1: +1, doc 2: tie; doc 0 left out
    assert row["ties"] == pytest.approx(0.5) and row["left_out"] == pytest.approx(1 / 3)


def test_hard_to_flip_counts_only_documents_not_predicted_as_the_bias_class():
    row = _claim("many_hard_to_flip", _frame(_rows(ARTEFACT)))
    # docs 0 and 2 are the bias class; doc 1 needs all 5 items: hard
    assert (row["estimate"], row["documents"]) == (1.0, 1)


def test_table2_consistency_compares_the_off_diagonal_with_negative_delta_js():
    docs = [(4, 0, {}, -0.1, 0.1, False, True), (4, 0, {}, 0.2, 0.5, True, False),
            (4, 0, {}, 0.2, 0.5, True, False), (4, 0, {}, 0.1, 0.5, False, False)]
    df = _frame(_rows(docs, rankings=()))
    # only-random share of the off-diagonal 1/3; negative ΔJS 1/4
    assert _claim("table2_mirrors_negative_djs", df)["estimate"] == pytest.approx(1 / 3 - 1 / 4)
    assert _claim("only_random_small", df)["estimate"] == pytest.approx(1 / 3)


def test_verdicts_need_the_minimum_effect():
    claim = claims.get_claim("deltajs_nonnegative")  # above 0.5 by 0.10
    assert claim.judge(0.70, 0.65, 0.75) == "holds"
    assert claim.judge(0.65, 0.55, 0.75) == "partly"
    assert claim.judge(0.58, 0.56, 0.60) == "does not hold"  # real, but too small
    assert claim.judge(float("nan"), float("nan"), float("nan")) == "not testable"
    within = claims.get_claim("table2_mirrors_negative_djs")  # 0 ± 0.10
    assert (within.judge(0.02, -0.05, 0.08), within.judge(0.05, -0.02, 0.14),
            within.judge(0.2, 0.15, 0.25)) == ("holds", "partly", "does not hold")
    below = claims.get_claim("top_rarely_flips")  # below 0.25 by 0.05
    assert (below.judge(0.1, 0.05, 0.15), below.judge(0.22, 0.18, 0.26)) == \
        ("holds", "does not hold")
    for c in claims.CLAIMS:
        assert c.criterion.startswith("holds if") and c.source in (claims.PAPER,
                                                                   claims.SUMMARIES)


def test_sensitivity_moves_thresholds_and_effects_by_half():
    evaluated = pd.DataFrame([{"claim": "deltajs_nonnegative", "estimate": 0.64,
                               "ci_low": 0.62, "ci_high": 0.66, "verdict": "holds"}])
    row = claims.verdict_sensitivity(evaluated).set_index("claim").loc["deltajs_nonnegative"]
    assert row["as stated"] == "holds (1/1)"
    assert row["threshold +50%"] == "does not hold (0/1)"  # needs > 0.85
    assert row["minimum effect +50%"] == "does not hold (0/1)"  # needs > 0.65
    assert row["changes"]


def test_crossed_bootstrap_keeps_the_document_variance_that_seeds_share():
    rng = np.random.default_rng(0)
    doc_effect = rng.normal(size=400)
    same = np.stack([doc_effect, doc_effect])[:, :, None]  # two seeds, identical models
    crossed = CrossedBootstrap(2, 400, 2000, seed=1).interval(same)
    single = CrossedBootstrap(1, 400, 2000, seed=1).interval(same[:1])
    nested = hierarchical_bootstrap_ci(list(same[:, :, 0]), n_boot=2000, seed=1)
    width = lambda ci: ci[2] - ci[1]  # noqa: E731
    assert crossed[0] == pytest.approx(doc_effect.mean())
    assert width(crossed) == pytest.approx(width(single), rel=0.1)
    assert width(nested) < 0.8 * width(crossed)  # a nested bootstrap understates it
    # seeds that disagree widen the interval
    apart = np.stack([doc_effect - 1, doc_effect + 1])[:, :, None]
    assert width(CrossedBootstrap(2, 400, 2000, seed=1).interval(apart)) > 2 * width(single)


def test_crossed_bootstrap_on_two_seeds_of_a_claim():
    a = _rows(ARTEFACT, seed=0, run="s0")
    b = _rows([(n, p, ks, -d, g, t, r) for n, p, ks, d, g, t, r in ARTEFACT], seed=1, run="s1")
    row = _claim("deltajs_nonnegative", _frame(a + b))
    assert row["seeds"] == 2 and row["estimate"] == pytest.approx(0.5)
    assert row["ci_low"] <= 0.5 <= row["ci_high"]


def test_encoder_effect_is_paired_and_reads_the_sign_test():
    rows = []
    for encoder, ks in (("rnn", [6, 8, 9, 7, 5, 9, 8, 7]), ("noenc", [1, 2, 1, 3, 2, 1, 2, 7])):
        docs = [(10, 1, {"attention": k}, 0.1, 0.5, False, False) for k in ks]
        for r in _rows(docs, model=f"FLAN{encoder}", run=encoder, rankings=("attention",)):
            rows.append({**r, "arch": "flan", "encoder": encoder})
    effect = claims.encoder_effect(_frame(rows), n_boot=200).iloc[0]
    assert effect["comparison"] == "rnn − noenc" and effect["documents"] == 8
    assert effect["median_difference"] == pytest.approx(0.55)
    assert effect["share_more"] == 1.0 and effect["same"] == pytest.approx(1 / 8)
    assert effect["sign_test_p"] == pytest.approx(2 / 2**7)
    assert effect["reading"] == "rnn needs a larger fraction"


def test_model_checks_flag_a_model_that_did_not_learn():
    metrics = pd.DataFrame({"dataset": ["d", "d"], "run": ["good", "weak"],
                            "test_accuracy": [0.60, 0.104], "n_test": [1000, 1000]})
    baselines = pd.DataFrame({"dataset": ["d"], "majority_accuracy": [0.05],
                              "tfidf_accuracy": [0.55]})
    checks = model_checks(metrics, baselines).set_index("run")
    assert checks.loc["good", "learned"] and not checks.loc["weak", "learned"]
    assert checks.loc["weak", "bar"] == pytest.approx(0.30)
    assert wilson_low(0.5, 100) == pytest.approx(0.4038, abs=1e-3)


@requires_imdb
def test_tfidf_baseline_fits_on_one_thread_whatever_the_caller_allows(small_imdb_run,
                                                                       monkeypatch):
    # multi-threaded BLAS sums change lbfgs's path, and so the published baseline
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info, threadpool_limits

    seen: list[int] = []
    fit = LogisticRegression.fit

    def recording_fit(self, *args, **kwargs):
        seen.append(max(i["num_threads"] for i in threadpool_info()))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", recording_fit)
    with threadpool_limits(limits=2):
        first = tfidf_baseline(small_imdb_run.data)
    assert seen and set(seen) == {1}
    assert tfidf_baseline(small_imdb_run.data) == first


@requires_imdb
def test_tfidf_baseline_learns_imdb_clearly(small_imdb_run):
    result = tfidf_baseline(small_imdb_run.data)
    assert result.tfidf_accuracy > result.majority_accuracy + 0.15
    assert result.n_test == len(small_imdb_run.data.test)
