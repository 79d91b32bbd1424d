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


# --- definitions of the follow-up statistics ------------------------------------------

def test_median_of_an_even_sample_is_the_mean_of_the_two_middle_values():
    import torch

    from attnlib.layer.followup import median

    x = torch.tensor([[4.0, 1.0, 3.0, 2.0], [0.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    assert median(x, 1).tolist() == [2.5, 0.5]
    assert torch.median(x, 1).values.tolist() == [2.0, 0.0]  # the lower middle value
    assert median(torch.tensor([[5.0, 1.0, 3.0]]), 1).tolist() == [3.0]


def test_a_two_item_documents_permutations_are_the_identity_or_the_swap():
    import torch

    from attnlib.layer.followup import median, permutation_alphas, permutation_outputs

    alpha = torch.tensor([[0.9, 0.1, 0.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False]])
    perms = permutation_alphas(alpha, mask, np.array([7]), 100, seed=0)[0]
    identity = (perms[:, 0] == 0.9) & (perms[:, 1] == 0.1)
    swap = (perms[:, 0] == 0.1) & (perms[:, 1] == 0.9)
    assert bool((identity | swap).all()) and bool((perms[:, 2] == 0).all())
    z = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]], dtype=torch.float64)
    tvd, _ = permutation_outputs(z, alpha, mask, torch.zeros(2, dtype=torch.float64),
                                 np.array([7]), 100, seed=0)
    swapped = float(tvd[0][swap].max())
    assert swapped > 0.5 and float(tvd[0][identity].max()) == 0.0
    k = int(identity.sum())
    expected = 0.0 if k > 50 else swapped if k < 50 else swapped / 2
    assert float(median(tvd, 1)[0]) == pytest.approx(expected)


def test_magnitude_and_signed_tau_differ_as_jain_and_wallace_define_them():
    from attnlib.layer.followup import kendall_tau

    attention = np.array([0.5, 0.3, 0.15, 0.05])
    drop = np.array([-0.4, 0.2, 0.1, 0.01])  # leave-one-out: erasing item 0 raises p
    assert kendall_tau(attention, np.abs(drop)) == pytest.approx(1.0)
    assert kendall_tau(attention, drop) == pytest.approx(0.0)


def test_random_keys_do_not_depend_on_padding():
    import torch

    from attnlib.inputs.erasure import token_scores

    # one HAN document of sentences with 3 and 2 tokens, padded two ways
    narrow = torch.tensor([[[5, 6, 7], [8, 9, 0]]])
    wide = torch.zeros((1, 4, 6), dtype=torch.long)
    wide[0, 0, :3], wide[0, 1, :2] = torch.tensor([5, 6, 7]), torch.tensor([8, 9])
    ids, pred = np.array([11]), torch.tensor([0])
    a = token_scores(None, narrow, pred, "random", ids, seed=3)  # type: ignore[arg-type]
    b = token_scores(None, wide, pred, "random", ids, seed=3)  # type: ignore[arg-type]
    real = narrow != 0
    assert torch.equal(a[real], b[:, :2, :3][real])
    # the same document in a FLAN batch padded two ways
    flat_a = token_scores(None, torch.tensor([[5, 6, 7]]), pred, "random", ids, 3)  # type: ignore[arg-type]
    flat_b = token_scores(None, torch.tensor([[5, 6, 7, 0, 0]]), pred, "random", ids, 3)  # type: ignore[arg-type]
    assert torch.equal(flat_a, flat_b[:, :3])


# --- minimum samples, borderline bounds, lengths ---------------------------------------

def _share_table(values: np.ndarray, seeds: int = 1) -> pd.DataFrame:
    rows = [{"run": f"r{s}", "dataset": "d", "model": "FLANrnn", "model_seed": s,
             "instance_id": i, "n_items": 5, "x": float(v)}
            for s in range(seeds) for i, v in enumerate(values)]
    return pd.DataFrame(rows)


def _share_claim(threshold: float, min_effect: float):
    from attnlib.analysis.claims import Claim

    return Claim("share", "x is often 1", "test", "share of x", lambda d: d.set_index(
        "instance_id")[["x"]], "above", threshold, min_effect, "test")


def test_a_cell_below_the_minimum_sample_is_not_testable_with_its_counts():
    from attnlib.analysis.claims import SampleRule, evaluate_claim_set

    table = _share_table(np.ones(12), seeds=2)
    claim = _share_claim(0.5, 0.1)
    clear = evaluate_claim_set(table, [claim], n_boot=200).iloc[0]
    assert clear["verdict"] == "holds" and clear["documents_per_seed"] == 12
    few_docs = evaluate_claim_set(table, [claim], n_boot=200,
                                  rule=SampleRule(min_seeds=1, min_documents=30)).iloc[0]
    assert few_docs["verdict"] == "not testable"
    assert few_docs["note"] == "12 documents in a seed (minimum 30)"
    few_seeds = evaluate_claim_set(table, [claim], n_boot=200,
                                   rule=SampleRule(min_seeds=3, min_documents=10)).iloc[0]
    assert few_seeds["verdict"] == "not testable" and few_seeds["note"] == "2 seeds (minimum 3)"
    assert few_seeds["estimate"] == 1.0  # the estimate is still shown


def test_a_bound_within_its_monte_carlo_error_of_the_bar_is_borderline():
    from attnlib.analysis.claims import BOOTSTRAP_MAX_DRAWS, evaluate_claim_set
    from attnlib.analysis.stats import CrossedBootstrap

    rng = np.random.default_rng(1)
    x = (rng.random(400) < 0.7).astype(float)
    table = _share_table(x)
    cube = x.reshape(1, -1, 1)
    # the replicates evaluate_claim_set draws: 1,000 at a time, seeds 0, 7919, 15838, ...
    stats = np.concatenate([CrossedBootstrap(1, 400, 1000, 7919 * k).replicates(cube)[1]
                            for k in range(BOOTSTRAP_MAX_DRAWS // 1000)])
    low = float(np.quantile(stats, 0.025))
    on_the_bar = evaluate_claim_set(table, [_share_claim(low, 0.0)]).iloc[0]
    assert on_the_bar["verdict"] == "borderline"
    assert on_the_bar["draws"] == BOOTSTRAP_MAX_DRAWS and on_the_bar["ci_low"] == low
    assert 0 < on_the_bar["mc_error"] < 0.01
    far = evaluate_claim_set(table, [_share_claim(0.5, 0.05)]).iloc[0]
    assert far["verdict"] == "holds" and far["draws"] == 1000  # no extra draws needed
    fails = evaluate_claim_set(table, [_share_claim(0.8, 0.0)]).iloc[0]
    assert fails["verdict"] == "does not hold" and fails["draws"] == 1000


def test_two_item_documents_are_reported_apart_from_hard_to_flip():
    from attnlib.analysis.claims import get_claim, two_item_claims

    hard = get_claim("many_hard_to_flip")
    assert hard.min_items == 3 and hard.lengths == "documents of 3 or more items"
    (short,) = two_item_claims([hard])
    assert short.lengths == "documents of exactly 2 items"
    assert short.id == "many_hard_to_flip (2-item documents)"


# --- the specification curve ------------------------------------------------------------

def _curve_cell(curve: pd.DataFrame, claim: str, **choices: object) -> pd.Series:
    rows = curve[(curve["claim"] == claim) & (curve["threshold_factor"] == 1.0)
                 & (curve["effect_factor"] == 1.0)]
    for name, value in choices.items():
        rows = rows[rows[name] == value]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_specification_curve_recomputes_each_claim_under_each_choice():
    from attnlib.analysis import claims, specification

    from .test_verdicts import ARTEFACT, _frame, _rows

    curve = specification.specification_curve(_frame(_rows(ARTEFACT)), claims.CLAIMS,
                                               n_boot=50)
    # ΔJS: doc 1 is a tie; left out -> 1 of 2 positive, counted -> 1 of 3
    assert _curve_cell(curve, "deltajs_nonnegative", min_items=2,
                       ties_counted=False)["estimate"] == pytest.approx(0.5)
    assert _curve_cell(curve, "deltajs_nonnegative", min_items=2,
                       ties_counted=True)["estimate"] == pytest.approx(1 / 3)
    # documents of 5+ items: doc 1 (a tie) and doc 2 (negative)
    assert _curve_cell(curve, "deltajs_nonnegative", min_items=5,
                       ties_counted=True)["estimate"] == 0.0
    # gradient duel: doc 1 +1 (k = 2 against a flip only at full erasure), doc 2 a tie
    duel = dict(min_items=2, ties_counted=True, full_erasure=False)
    assert _curve_cell(curve, "gradient_beats_attention", **duel)["estimate"] == 0.5
    assert _curve_cell(curve, "gradient_beats_attention",
                       **{**duel, "ties_counted": False})["estimate"] == 1.0
    # counting the flip at k = n = 5 as 5 items still gives the gradient the win
    assert _curve_cell(curve, "gradient_beats_attention",
                       **{**duel, "full_erasure": True})["estimate"] == 0.5
    # hard to flip: bias-class documents (0 never flips, 2 flips at 3 of 10) kept or not
    assert _curve_cell(curve, "many_hard_to_flip", min_items=2,
                       bias_class=False)["estimate"] == 1.0
    assert _curve_cell(curve, "many_hard_to_flip", min_items=2,
                       bias_class=True)["estimate"] == pytest.approx(2 / 3)
    # every claim: 3 lengths x its other choices x 9 threshold/effect factors
    per_claim = curve.groupby("claim").size()
    assert per_claim["deltajs_nonnegative"] == 3 * 2 * 9
    assert per_claim["gradient_beats_attention"] == 3 * 4 * 9
    assert per_claim["many_hard_to_flip"] == 3 * 2 * 9
    assert per_claim["top_rarely_flips"] == 3 * 9


def test_robust_only_when_nearly_every_specification_agrees():
    from attnlib.analysis import specification as sp

    def cell(model: str, holds: int, total: int = 20) -> list[dict[str, object]]:
        return [{"claim": "c", "dataset": "d", "model": model,
                 "verdict": "holds" if i < holds else "does not hold"} for i in range(total)]

    curve = pd.DataFrame(cell("A", 18) + cell("B", 17) + cell("C", 2) + [
        {"claim": "c", "dataset": "d", "model": "D", "verdict": "not testable"}])
    robust = sp.robustness(curve).set_index("model")
    assert robust.loc["A", "label"] == sp.ROBUST  # 90%
    assert robust.loc["B", "label"] == sp.FRAGILE  # 85%
    assert robust.loc["C", "label"] == sp.FAILS  # 10%
    assert robust.loc["D", "label"] == "not testable"
    from attnlib.analysis.claims import Claim

    claim = Claim("c", "A claim.", "", "", lambda d: d, "above", 0.0, 0.0, "")
    verdicts = sp.robust_verdicts(robust.reset_index(), [claim])
    assert verdicts.loc[0, "robust verdict"] == "fragile" and verdicts.loc[0, "cells"] == 3
    assert "(1) A claim (1 of 3 cells robustly hold, 1 is fragile)." in sp.robust_sentence(
        verdicts)
    mixed = sp.robust_verdicts(robust.drop(index="B").reset_index(), [claim])
    assert mixed.loc[0, "robust verdict"] == "partly (robust)"


def test_head_to_head_pools_every_training_seed():
    from attnlib.analysis import summaries

    from .test_verdicts import _frame, _rows

    # seed 0: attention flips first (k=1 vs 3); seed 1: the gradient does (k=4 vs 2)
    seed0 = _rows([(6, 0, {"attention": 1, "gradient": 3}, 0.1, 0.1, False, False)],
                  run="s0", seed=0)
    seed1 = _rows([(6, 0, {"attention": 4, "gradient": 2}, 0.1, 0.1, False, False)],
                  run="s1", seed=1)
    duel = summaries.head_to_head(_frame(seed0 + seed1), "attention", "gradient").iloc[0]
    assert (duel["n"], duel["seeds"]) == (2, 2)
    assert duel["win"] == 0.5 and duel["loss"] == 0.5


def test_followup_verdict_sentences_read_back_against_the_verdict_table():
    from attnlib.analysis.claims import SampleRule, claim_verdicts
    from attnlib.analysis.followup_claims import FOLLOWUP_CLAIMS, evaluate_followup_claims
    from attnlib.analysis.report import followup_findings

    from .test_layer_tests import _layer_table

    layer = _layer_table(tau=0.1, perm_tvd=0.001, adv_js=0.6, seeds=(0, 1, 2), n=40)
    rule = SampleRule(min_seeds=3, min_documents=30)
    text = followup_findings(layer, pd.DataFrame(), pd.DataFrame(), [], [],
                             rule=rule)["followup_verdicts"]
    verdicts = claim_verdicts(evaluate_followup_claims(layer, rule=rule), FOLLOWUP_CLAIMS)
    for _, row in verdicts[verdicts["cells"] > 0].iterrows():
        claim = str(row["paper's claim"]).rstrip(".")
        match = re.search(re.escape(claim) + r"\* \([^)]*\): \*\*([a-z ]+)\*\* "
                          r"\((\d+) of (\d+) cells hold, (\d+) partly", text)
        assert match, claim
        verdict, holds, cells, partly = match.groups()
        assert (verdict, int(holds), int(cells), int(partly)) == (
            row["verdict"], row["holds"], row["cells"], row["partly"])
    # the seed-variance claim has no seed_js column here: not testable, left out of the text
    assert "not testable" not in text or "1 not testable" in text


def test_the_fastest_ranking_is_measured_on_the_same_documents():
    from attnlib.analysis.report import _same_document_medians

    from .test_verdicts import ARTEFACT, _frame, _rows

    per_cell = _same_document_medians(_frame(_rows(ARTEFACT)))
    medians = per_cell.groupby(level="ranking").median()
    # attention: 1 (never), 1 (only at full erasure), 0.3; gradient: 1, 0.4, 0.3
    assert medians["attention"] == 1.0 and medians["gradient"] == pytest.approx(0.4)


def test_the_encoder_interval_carries_the_spread_between_seeds():
    from attnlib.analysis import claims

    from .test_verdicts import _frame, _rows

    def table(rnn_seeds: list[list[int]]) -> pd.DataFrame:
        rows = []
        plan = [("rnn", s, ks) for s, ks in enumerate(rnn_seeds)] + [
            ("noenc", 0, [5] * 8)]
        for encoder, seed, ks in plan:
            docs = [(10, 1, {"attention": k}, 0.1, 0.5, False, False) for k in ks]
            for r in _rows(docs, model=f"FLAN{encoder}", run=f"{encoder}{seed}", seed=seed,
                           rankings=("attention",)):
                rows.append({**r, "arch": "flan", "encoder": encoder})
        return _frame(rows)

    # two rnn seeds that agree: rnn needs more on every document, whatever seeds are drawn
    agree = claims.encoder_effect(table([[7] * 8, [8] * 8]), n_boot=300).iloc[0]
    assert agree["share_low"] == 1.0 and agree["reading"] == "rnn needs a larger fraction"
    # seeds that disagree (9 and 2 items against noenc's 5): their mean says rnn needs more,
    # but a replicate that draws the second seed twice says it needs fewer
    disagree = claims.encoder_effect(table([[9] * 8, [2] * 8]), n_boot=300).iloc[0]
    assert disagree["share_more"] == 1.0  # the seed means alone say rnn needs more
    assert disagree["share_low"] == 0.0 and disagree["reading"] == "no clear difference"
