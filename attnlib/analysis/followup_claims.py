"""The follow-up papers' claims about attention, judged on the layer-test table
(:mod:`attnlib.layer.followup_results`) by the same rule as the paper's claims
(:data:`attnlib.analysis.claims.CELL_RULE`): a statistic per document, pooled over training seeds
by the crossed bootstrap, a threshold and a minimum meaningful effect.

Explained in the chapter "Other tests of attention" (book/other_tests.ipynb).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from ..layer.divergence import LN2
from .claims import NO_MINIMUM, Claim, SampleRule, evaluate_claim_set
from .summaries import tukey_stats

JAIN_WALLACE = "Jain & Wallace 2019"
# an output within this total variation distance of the original counts as unchanged
# (Jain & Wallace's epsilon for the adversarial search)
SAME_OUTPUT_TVD = 0.01
FAR_ATTENTION_JS = LN2 / 2  # half the largest possible JS between two distributions


def _tau(measure: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def values(df: pd.DataFrame) -> pd.DataFrame:
        tau = df.set_index("instance_id")[f"tau_{measure}"].astype(float)
        return pd.DataFrame({"tau": tau}, index=tau.index)  # NaN: a constant score, left out

    return values


def _barely_moves(df: pd.DataFrame) -> pd.DataFrame:
    d = df.set_index("instance_id")
    return pd.DataFrame({"barely": (d["perm_median_tvd"].astype(float)
                                    < SAME_OUTPUT_TVD).astype(float)}, index=d.index)


def _far_adversary(df: pd.DataFrame) -> pd.DataFrame:
    d = df.set_index("instance_id")
    return pd.DataFrame({"far": (d["adv_js"].astype(float) >= FAR_ATTENTION_JS).astype(float)},
                        index=d.index)


def _beyond_seed_variance(df: pd.DataFrame) -> pd.DataFrame:
    d = df.set_index("instance_id")
    if "seed_js" not in d:
        return pd.DataFrame({"beyond": np.nan}, index=d.index)
    seed_js = d["seed_js"].astype(float)
    beyond = (d["adv_js"].astype(float) > seed_js).astype(float).where(seed_js.notna())
    return pd.DataFrame({"beyond": beyond}, index=d.index)


WIEGREFFE_PINTER = "Wiegreffe & Pinter 2019"

FOLLOWUP_CLAIMS: tuple[Claim, ...] = (
    Claim("attention_vs_leave_one_out_weak", "Attention weights agree only weakly with "
          "leave-one-out importance of the same items (signed variant: the signed drop of "
          "the decision's probability at the tested layer).", JAIN_WALLACE,
          "mean Kendall τ(attention, signed leave-one-out drop at the tested layer)",
          _tau("leave_one_out"), "below", 0.5, 0.1,
          "τ below 0.4 is at most moderate agreement of two rankings"),
    Claim("attention_vs_input_gradient_weak", "Attention weights agree only weakly with "
          "gradient-based importance of the inputs (signed variant: signed gradient × "
          "input summed per item).", JAIN_WALLACE,
          "mean Kendall τ(attention, signed gradient × input summed per item)",
          _tau("input_gradient"), "below", 0.5, 0.1,
          "τ below 0.4 is at most moderate agreement of two rankings"),
    Claim("permutation_barely_moves", "Randomly permuting the attention weights often "
          "leaves the output nearly unchanged.", JAIN_WALLACE,
          f"share of documents of 3 or more items whose median output TVD over 100 "
          f"permutations is < {SAME_OUTPUT_TVD:g}", _barely_moves, "above", 0.5, 0.05,
          "'often' read as a majority; 5 points keeps a bare majority from counting",
          min_items=3),
    Claim("adversarial_attention_exists", "For most documents, a very different attention "
          "distribution gives the same output.", JAIN_WALLACE,
          f"share of documents whose adversarial attention (output TVD ≤ {SAME_OUTPUT_TVD:g}) "
          f"reaches JS ≥ {FAR_ATTENTION_JS:.3f} (half the maximum) from the trained one",
          _far_adversary, "above", 0.5, 0.05,
          "'most' read as a majority; 5 points keeps a bare majority from counting"),
    Claim("adversarial_beyond_seed_variance", "The adversarial attention lies farther from "
          "the trained attention than the attention of the same model trained from another "
          "seed (the yardstick Wiegreffe & Pinter set for the adversarial test).",
          WIEGREFFE_PINTER, "share of documents whose adversarial JS exceeds the mean JS "
          "between seeds' attention", _beyond_seed_variance, "above", 0.5, 0.05,
          "a majority of documents, by 5 points"),
)


# Jain & Wallace's own definitions: magnitudes (|gradient . embedding| with attention held
# fixed; |p(x) - p(x without the token)|), over every token (inputs/jain_wallace.py)
JW_CLAIMS: tuple[Claim, ...] = (
    Claim("jw_attention_vs_leave_one_out_weak", "Attention weights agree only weakly with "
          "leave-one-out importance (Jain & Wallace's definition: the size of the output "
          "change when a token is deleted from the input).", JAIN_WALLACE,
          "mean Kendall τ(attention, |p(x) − p(x without token t)|) over every token",
          _tau("leave_one_out"), "below", 0.5, 0.1,
          "τ below 0.4 is at most moderate agreement of two rankings"),
    Claim("jw_attention_vs_gradient_weak", "Attention weights agree only weakly with "
          "gradient importance (Jain & Wallace's definition: |∂p/∂eₜ · eₜ| with attention "
          "held fixed).", JAIN_WALLACE,
          "mean Kendall τ(attention, |∂p/∂eₜ · eₜ|) over every token", _tau("gradient"),
          "below", 0.5, 0.1, "τ below 0.4 is at most moderate agreement of two rankings"),
)


def evaluate_jw_claims(jw: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                       rule: SampleRule = NO_MINIMUM) -> pd.DataFrame:
    """:data:`JW_CLAIMS` per dataset x model on Jain & Wallace's agreement table
    (:func:`attnlib.inputs.jain_wallace.jw_agreement`: FLAN runs, magnitudes)."""
    if jw.empty:
        return pd.DataFrame(columns=["claim", "dataset", "model", "verdict"])
    return evaluate_claim_set(jw, JW_CLAIMS, n_boot, seed, (), rule)


def accuracy_pairs(learned: pd.DataFrame, uniform: pd.DataFrame) -> pd.DataFrame:
    """Per test document in both erasure-result tables (a run and its uniform-attention
    twin): whether each predicted its gold label. Rows carry the learned run's keys."""
    def correct(df: pd.DataFrame) -> pd.DataFrame:
        s = df[(df["test"] == "single") & (df["ranking"] == "attention")]
        return s.set_index("instance_id")[["pred", "label"]].astype(int).pipe(
            lambda d: (d["pred"] == d["label"]).astype(float))

    first = learned.iloc[0]
    both = pd.DataFrame({"learned_correct": correct(learned),
                         "uniform_correct": correct(uniform)}).dropna()
    return both.reset_index().assign(
        run=first["run"], dataset=first["dataset"], model=first["model"],
        model_seed=int(first["model_seed"]))[
        ["run", "dataset", "model", "model_seed", "instance_id", "learned_correct",
         "uniform_correct"]]


def _learned_minus_uniform(df: pd.DataFrame) -> pd.DataFrame:
    d = df.set_index("instance_id")
    diff = d["learned_correct"].astype(float) - d["uniform_correct"].astype(float)
    return pd.DataFrame({"difference": diff, "tie": (diff == 0).astype(float)}, index=d.index)


UNIFORM_CLAIMS: tuple[Claim, ...] = (
    Claim("trained_attention_beats_uniform", "Attention trained with the model classifies "
          "better than attention fixed to uniform weights (where it does not, the task does "
          "not need attention, and its weights cannot be read as what the model needed).",
          WIEGREFFE_PINTER, "test accuracy with trained attention − with uniform attention "
          "(same documents, data, seed and hyperparameters)", _learned_minus_uniform,
          "above", 0.0, 0.01, "one accuracy point"),
)


def evaluate_uniform_claims(pairs: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                            exclude_runs: Iterable[str] = (),
                    rule: SampleRule = NO_MINIMUM) -> pd.DataFrame:
    """:data:`UNIFORM_CLAIMS` per dataset x model on :func:`accuracy_pairs` tables."""
    if pairs.empty:
        return pd.DataFrame(columns=["claim", "dataset", "model", "verdict"])
    return evaluate_claim_set(pairs, UNIFORM_CLAIMS, n_boot, seed, exclude_runs, rule)


def with_seed_variance(layer_tests: pd.DataFrame, seed_variance: pd.DataFrame
                       ) -> pd.DataFrame:
    """The layer-test table with each document's seed-to-seed attention JS (NaN where the
    cell has a single seed)."""
    keys = ["dataset", "model", "instance_id"]
    sv = seed_variance[[*keys, "seed_js"]].astype({"dataset": str, "model": str})
    out = layer_tests.astype({"dataset": str, "model": str}).merge(sv, on=keys, how="left")
    return out


DEYOUNG = "DeYoung et al. 2020 (metric); the paper's question at the input"
TIE_AOPC = 0.001  # AOPC differences below a tenth of a probability point are ties


def _aopc_difference(better: str, worse: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def values(df: pd.DataFrame) -> pd.DataFrame:
        from ..inputs.erasure import ERASER_PERCENTS

        d = df.set_index("instance_id")

        def aopc(r: str) -> pd.Series:
            return d[[f"comp_{r}_{k}" for k in ERASER_PERCENTS]].astype(float).mean(axis=1)

        diff = aopc(better) - aopc(worse)
        return pd.DataFrame({"difference": diff, "tie": (diff.abs() < TIE_AOPC).astype(float)},
                            index=d.index)

    return values


ERASER_CLAIMS: tuple[Claim, ...] = (
    Claim("input_attention_beats_random", "Deleting the tokens attention ranks highest from "
          "the input lowers the decision's probability more than deleting random tokens.",
          DEYOUNG, "mean AOPC comprehensiveness, attention − random",
          _aopc_difference("attention", "random"), "above", 0.0, 0.01,
          "one probability point averaged over the rationale sizes"),
    Claim("input_gradient_beats_attention", "Deleting the tokens the input gradient ranks "
          "highest lowers the decision's probability more than deleting attention's.",
          DEYOUNG, "mean AOPC comprehensiveness, input gradient − attention",
          _aopc_difference("input_gradient", "attention"), "above", 0.0, 0.01,
          "one probability point averaged over the rationale sizes"),
)


def evaluate_eraser_claims(input_tests: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                           exclude_runs: Iterable[str] = (),
                    rule: SampleRule = NO_MINIMUM) -> pd.DataFrame:
    """The input-erasure claims per dataset x model (:data:`ERASER_CLAIMS`)."""
    if input_tests.empty:
        return pd.DataFrame(columns=["claim", "dataset", "model", "verdict"])
    return evaluate_claim_set(input_tests, ERASER_CLAIMS, n_boot, seed, exclude_runs, rule)


def evaluate_followup_claims(layer_tests: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                             exclude_runs: Iterable[str] = (),
                    rule: SampleRule = NO_MINIMUM) -> pd.DataFrame:
    """One row per follow-up claim x dataset x model, as
    :func:`attnlib.analysis.claims.evaluate_claims` gives for the paper's claims."""
    if layer_tests.empty:
        return pd.DataFrame(columns=["claim", "dataset", "model", "verdict"])
    evaluated = evaluate_claim_set(layer_tests, FOLLOWUP_CLAIMS, n_boot, seed, exclude_runs,
                                   rule)
    return lower_bound_verdicts(evaluated, layer_tests)


# claims whose statistic only grows with a stronger adversarial search
LOWER_BOUND_CLAIMS = ("adversarial_attention_exists", "adversarial_beyond_seed_variance")
SINGLE_START_NOTE = ("only the single-start adversarial search ran here: its JS is a lower "
                     "bound that the multi-start search raises (benchmarks/"
                     "adversarial_search.py), so 'does not hold' is not evidence")


def lower_bound_verdicts(evaluated: pd.DataFrame, layer_tests: pd.DataFrame) -> pd.DataFrame:
    """The adversarial claims' "does not hold" becomes "not testable" in cells where any
    document's ``adv_js`` comes from the single-start search (column ``adv_search``, see
    :func:`attnlib.layer.adversarial_results.with_adversarial`): its JS is a lower bound
    that a stronger search raises, so it can show that a claim holds but not that it
    fails. A cell the multi-start search covers keeps its verdict. ``evaluated`` is a
    claim table or a specification curve (:mod:`attnlib.analysis.specification`)."""
    from ..layer.adversarial_results import SINGLE_START

    if "adv_search" not in layer_tests or evaluated.empty:
        return evaluated
    weak = layer_tests[layer_tests["adv_search"].astype(str) == SINGLE_START]
    weak_cells = set(zip(weak["dataset"].astype(str), weak["model"].astype(str)))
    out = evaluated.copy()
    in_weak_cell = np.array([(str(d), str(m)) in weak_cells
                             for d, m in zip(out["dataset"], out["model"])], dtype=bool)
    hit = (out["claim"].isin(LOWER_BOUND_CLAIMS).to_numpy()
           & (out["verdict"] == "does not hold").to_numpy() & in_weak_cell)
    out.loc[hit, "verdict"] = "not testable"
    if "note" in out:  # the claim tables have notes; a specification curve has none
        out.loc[hit, "note"] = SINGLE_START_NOTE
    return out


def agreement_table(layer_tests: pd.DataFrame) -> pd.DataFrame:
    """Long table for the agreement chart: one row per document x measure, with tau."""
    from ..layer.followup_results import AGREEMENT_MEASURES

    keep = ["dataset", "model", "arch", "encoder", "model_seed", "instance_id"]
    long = layer_tests.melt(id_vars=keep, value_vars=[f"tau_{m}" for m in AGREEMENT_MEASURES],
                            var_name="measure", value_name="tau")
    long["measure"] = long["measure"].str.removeprefix("tau_")
    long["tau"] = long["tau"].astype(float)
    return long.dropna(subset=["tau"]).reset_index(drop=True)


def agreement_box_stats(layer_tests: pd.DataFrame) -> pd.DataFrame:
    """Tukey box statistics of Kendall τ per dataset x model x measure (column
    ``ranking``, so that :func:`attnlib.presentation.viz.box_chart` draws them)."""
    long = agreement_table(layer_tests)
    grouped = long.groupby(["dataset", "model", "measure"], observed=True)["tau"]
    return grouped.apply(tukey_stats).unstack().reset_index().rename(
        columns={"measure": "ranking"})


def followup_summary(layer_tests: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x model: seeds, documents, mean τ with each measure, the share of
    documents whose output barely moves under permutation, the median adversarial JS and,
    where the table has it (:func:`with_seed_variance`), the median JS between seeds."""
    from ..layer.followup_results import AGREEMENT_MEASURES

    rows = []
    for (dataset, model), g in layer_tests.groupby(["dataset", "model"], observed=True):
        row: dict[str, object] = {"dataset": dataset, "model": model,
                                  "seeds": g["model_seed"].nunique(), "documents": len(g)}
        for m in AGREEMENT_MEASURES:
            row[f"mean τ {m}"] = float(np.nanmean(g[f"tau_{m}"].astype(float)))
        row["barely moves (perm.)"] = float((g["perm_median_tvd"].astype(float)
                                             < SAME_OUTPUT_TVD).mean())
        row["median adversarial JS"] = float(g["adv_js"].astype(float).median())
        if "adv_search" in g:
            row["adversarial search"] = ", ".join(sorted(set(g["adv_search"].astype(str))))
        if "seed_js" in g and g["seed_js"].notna().any():
            row["median JS between seeds"] = float(g["seed_js"].astype(float).median())
        rows.append(row)
    return pd.DataFrame(rows)


def search_comparison(adversarial: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x model of the multi-start search's table
    (:mod:`attnlib.layer.adversarial_results`): documents, the median JS of the first
    (single-start) search and of the multi-start search on the same weights, the share of
    documents the latter raises by more than 0.01, and the share each puts at JS >=
    :data:`FAR_ATTENTION_JS` (the adversarial claim's statistic)."""
    rows = []
    for (dataset, model), g in adversarial.groupby(["dataset", "model"], observed=True):
        first, multi = g["first_search_js"].astype(float), g["adv_js"].astype(float)
        rows.append({"dataset": dataset, "model": model, "seeds": g["model_seed"].nunique(),
                     "documents": len(g), "median JS, single-start": float(first.median()),
                     "median JS, multi-start": float(multi.median()),
                     "raised by > 0.01": float((multi > first + 0.01).mean()),
                     "far, single-start": float((first >= FAR_ATTENTION_JS).mean()),
                     "far, multi-start": float((multi >= FAR_ATTENTION_JS).mean())})
    return pd.DataFrame(rows)
