"""Key findings of a study as numbers and sentences, for the conclusions page to glue.
Every value is computed from the results; the sentences only pick words ("most",
"fewer than half") that the numbers support. Explained in book/conclusions.ipynb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ..config import SMALL_DEV
from ..data import get_dataset
from ..plan import describe_runs, planned_runs
from . import summaries
from .cells import DocumentCount, ResultCells, per_cell
from .claims import ClaimTable, EncoderEffect, claim_verdicts, encoder_effect, evaluate_claims

if TYPE_CHECKING:  # a type only: report stays free of the training pipeline
    from ..study import Study


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _where(row: pd.Series) -> str:
    return f"{row['model']} on {row['dataset']}"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def data_caveat(datasets: list[str]) -> str:
    """Which datasets stand in for the paper's data (substitutes) or are parts of it."""
    status = {d: get_dataset(d).status for d in datasets}
    parts = []
    for kind, words in (("substitute", "a substitute for the paper's data"),
                        ("partial", "a part of the paper's data"),
                        ("user", "your own data, not the paper's")):
        names = [d for d in datasets if status[d] == kind]
        if names:
            verb = "is" if len(names) == 1 else "are each"
            parts.append(f"{_join(names)} {verb} {words}")
    if not parts:
        return "every dataset of this build is the paper's own"
    return "; ".join(parts)


def coverage_note(study: Study) -> str:
    """How much of its profile's planned grid (:mod:`attnlib.plan`) a study reports; the
    claims and conclusions chapters glue it next to their verdicts."""
    n_runs, missing = len(study.run_configs()), study.missing_planned_runs()
    outdated = study.outdated_runs()
    older = "" if not outdated else (
        f"; {len(outdated)} of the reported runs were trained with an earlier "
        f"configuration of the profile ({_join([c.label for c in outdated][:6])}"
        f"{' and others' if len(outdated) > 6 else ''}) and are reported as trained "
        "(`make grid` retrains them)")
    if not missing and study.follows_plan:
        return (f"this build reports all {len(planned_runs(study.profile))} runs planned for "
                f"the `{study.profile}` profile{older}")
    if not missing:
        return ("this build reports the one run it was asked for" if n_runs == 1
                else f"this build reports all {n_runs} runs it was asked for")
    planned = len(planned_runs(study.profile))
    return (f"this build reports {n_runs} of the {planned} runs planned for the "
            f"`{study.profile}` profile; not yet trained: {describe_runs(missing)}{older}. The "
            "verdicts rest on the trained runs only")


def weak_model_note(checks: pd.DataFrame) -> str:
    """One paragraph for every chapter that reports models: which runs did not clearly
    learn their task (:func:`attnlib.training.baseline.model_checks`), or that all did."""
    weak = checks[~checks["learned"]]
    if weak.empty:
        return (f"**Model check:** all {len(checks)} models of this build clearly beat their "
                "baselines (the majority class and tf-idf + logistic regression; the rule is "
                "in the models chapter).")
    names = [f"{r.model} on {r.dataset} (seed {r.seed}: {_pct(r.test_accuracy)} against a "
             f"bar of {_pct(r.bar)})" for r in weak.itertuples()]
    return (f"**Model check: {len(weak)} of {len(checks)} models did not clearly learn their "
            f"task:** {_join(names)}. Their results are shown, but a model that has not "
            "learned its task flips for reasons that have little to do with attention; the "
            "claims chapter leaves them out of its verdicts.")


def finding_tables(results: pd.DataFrame | ResultCells,
                   exclude_runs: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The tables :func:`key_findings` reads, from the whole results table or, in one
    pass over the cells, from :class:`attnlib.analysis.cells.ResultCells`."""
    if isinstance(results, ResultCells):
        return results.reduce({
            "n_documents": DocumentCount(),
            "shares": summaries.negative_delta_js_share,
            "flips": summaries.flip_table,
            "summary": summaries.fraction_to_flip_summary,
            "duel": per_cell(summaries.head_to_head, "attention", "gradient",
                             results.scan()["first_seeds"]),
            "effect": EncoderEffect(n_boot=200, exclude_runs=exclude_runs),
            "claims": ClaimTable(n_boot=300, exclude_runs=exclude_runs)})
    return {
        "n_documents": results.groupby("dataset")["instance_id"].nunique().sum(),
        "shares": summaries.negative_delta_js_share(results),
        "flips": summaries.flip_table(results),
        "summary": summaries.fraction_to_flip_summary(results),
        "duel": summaries.head_to_head(results, "attention", "gradient"),
        "effect": encoder_effect(results, n_boot=200, exclude_runs=exclude_runs),
        "claims": evaluate_claims(results, n_boot=300, exclude_runs=exclude_runs)}


def key_findings(results: pd.DataFrame | ResultCells, metrics: pd.DataFrame,
                 exclude_runs: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """Named findings (all strings, ready for ``myst_nb.glue``); the claim verdicts
    leave out the runs in ``exclude_runs`` (models that did not learn their task).
    ``results``: the whole table, or :class:`attnlib.analysis.cells.ResultCells` (one
    pass over the cells, same findings)."""
    tables = finding_tables(results, exclude_runs)
    out: dict[str, str] = {}
    acc = metrics.groupby(["dataset", "model"], as_index=False)["test_accuracy"].mean()
    lo, hi = acc.loc[acc["test_accuracy"].idxmin()], acc.loc[acc["test_accuracy"].idxmax()]
    out["n_runs"] = str(len(metrics))
    out["data_caveat"] = data_caveat(sorted(metrics["dataset"].unique()))
    out["seed_coverage"] = _seed_sentence(metrics)
    out["n_documents"] = f"{tables['n_documents']:,}"
    out["accuracy_range"] = (f"{_pct(lo['test_accuracy'])} ({_where(lo)}) to "
                             f"{_pct(hi['test_accuracy'])} ({_where(hi)})")

    shares = tables["shares"]
    att = shares[shares["ranking"] == "attention"]
    lo, hi = att.loc[att["negative_share"].idxmin()], att.loc[att["negative_share"].idxmax()]
    mostly = (att["negative_share"] < 0.5).all()
    out["negative_djs"] = (
        f"ΔJS was negative for {_pct(lo['negative_share'])} ({_where(lo)}) to "
        f"{_pct(hi['negative_share'])} ({_where(hi)}) of documents, so erasing the "
        "top-attention item moved the output at least as much as a random item "
        + ("for most documents in every model" if mostly else
           "for most documents in some models but not in all"))

    flips = tables["flips"]
    han = flips[flips["model"].str.startswith("HAN")]
    pool = han if not han.empty else flips
    family = "HAN" if not han.empty else "the tested"
    mean_top = float((pool["both"] + pool["only_top"]).mean()) / 100
    out["top_flip"] = (f"erasing the single top-attention item flipped {family} decisions for "
                       f"{_pct(mean_top)} of documents on average, and a random item alone "
                       f"flipped them for {_pct(float(pool['only_random'].mean()) / 100)}")

    summary = tables["summary"]
    medians = summary.groupby("ranking")["median"].median()
    names = {"attention": "attention", "gradient": "gradient",
             "grad_x_attention": "gradient × attention", "random": "random"}
    out["median_fractions"] = ", ".join(
        f"{names[r]} {medians[r]:.2f}" for r in names if r in medians.index)
    order = sorted((r for r in names if r in medians.index), key=lambda r: medians[r])
    out["fastest_ranking"] = names[order[0]] if order else "none"
    att = summary[summary["ranking"] == "attention"]
    if len(att):
        before, full = att["before_full_share"], att["full_only_share"]
        never = att["never_flip_share"]
        out["never_flip_attention"] = (
            f"between {_pct(float(before.min()))} and {_pct(float(before.max()))} of documents "
            "flipped before their last item was erased. Of the rest, "
            f"{_pct(float(full.min()))} to {_pct(float(full.max()))} of all documents flipped "
            "only at full erasure and "
            f"{_pct(float(never.min()))} to {_pct(float(never.max()))} never flipped. Both "
            "outcomes are fixed by the output bias rather than by the ranking: with every item "
            "erased, only the bias is left")
    else:
        out["never_flip_attention"] = "no multi-weight results were computed"

    duel = tables["duel"]
    weights = duel["n"] / duel["n"].sum()
    loss = float((duel["loss"] * weights).sum())
    win = float((duel["win"] * weights).sum())
    out["gradient_duel"] = (f"of the documents that either ranking flips before full erasure, "
                            f"the gradient ranking needed fewer items than attention for "
                            f"{_pct(loss)} and more for {_pct(win)}")
    out["encoder_effect"] = _encoder_sentence(tables["effect"])

    verdicts = claim_verdicts(tables["claims"])
    out["interpretation"] = _interpretation(verdicts)
    counts = verdicts["verdict"].value_counts()
    out["claims_summary"] = (f"{int(counts.get('holds', 0))} of {len(verdicts)} claims hold in "
                             f"every cell, {int(counts.get('partly', 0))} in some, and "
                             f"{int(counts.get('does not hold', 0))} in none")
    out["claims_holding"] = _claim_list(verdicts, "holds")
    out["claims_failing"] = _claim_list(verdicts, "does not hold")
    return out


_NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def _seed_sentence(metrics: pd.DataFrame) -> str:
    """``28 of the 30 dataset × model cells have one training seed and 2 have three``,
    followed by what that means for the intervals."""
    seeds = metrics.groupby(["dataset", "model"])["seed"].nunique().value_counts()
    seeds = seeds.sort_values(ascending=False)
    total = int(seeds.sum())
    parts = []
    for i, (n, count) in enumerate(seeds.items()):
        word = _NUMBERS.get(int(n), str(n))
        noun = "training seed" if n == 1 else "training seeds"
        if i == 0:
            verb = "has" if count == 1 else "have"
            parts.append(f"{count} of the {total} dataset × model cells {verb} {word} {noun}"
                         if count < total else f"every one of the {total} dataset × model "
                         f"cells has {word} {noun}")
        else:
            parts.append(f"{count} {'has' if count == 1 else 'have'} {word}")
    if not parts:
        return "no runs"
    if 1 in seeds.index:
        return (_join(parts) + ". A claim measured on one seed can move with the next one: "
                "the intervals of cells with one seed cover only the test documents")
    return (_join(parts) + ". The intervals resample training seeds and test documents "
            "together (a crossed bootstrap), so they include the variation between seeds")


def _encoder_sentence(effect: pd.DataFrame) -> str:
    """How many paired encoder comparisons read each way."""
    if effect.empty:
        return "this build has fewer than two encoders per architecture to compare"
    parts = []
    for comparison, rows in effect.groupby("comparison", sort=False):
        a = str(comparison).split(" − ")[0]
        b = str(comparison).split(" − ")[1]
        larger = int(rows["reading"].str.contains("larger").sum())
        smaller = int(rows["reading"].str.contains("smaller").sum())
        parts.append(f"{a} needed a larger fraction than {b} in {larger} of {len(rows)} "
                     f"dataset × architecture comparisons and a smaller one in {smaller}")
    return "; ".join(parts)


def _claim_list(verdicts: pd.DataFrame, verdict: str) -> str:
    claims = [c.rstrip(".") for c in verdicts.loc[verdicts["verdict"] == verdict,
                                                  "paper's claim"]]
    return " ".join(f"({i}) {c}." for i, c in enumerate(claims, start=1)) or "none."


def _interpretation(verdicts: pd.DataFrame) -> str:
    """Two or three sentences whose direction follows the claim verdicts."""
    v = dict(zip(verdicts["claim"], zip(verdicts["verdict"], verdicts["holds"],
                                        verdicts["cells"])))

    def supported(claim: str) -> bool:
        return v.get(claim, ("not testable", 0, 0))[0] in ("holds", "partly")

    def cells(claim: str) -> str:
        _verdict, holds, total = v.get(claim, ("", 0, 0))
        return f"{holds} of {total}"

    parts = []
    if supported("deltajs_nonnegative"):
        parts.append("Attention weights carry some information about what the model uses: "
                     "erasing the highest-weighted item moved the output more than a random "
                     "item for most of the documents where the two erasures differed (the "
                     f"claim holds in {cells('deltajs_nonnegative')} cells).")
    else:
        parts.append("On these data the highest-weighted item was not reliably more "
                     "important than a random one.")
    if supported("gradient_beats_attention") or supported("gxa_beats_attention"):
        parts.append("Attention is not the best importance ranking, though: a gradient-based "
                     "ranking reached a decision flip with fewer items (gradient: "
                     f"{cells('gradient_beats_attention')} cells; gradient × attention: "
                     f"{cells('gxa_beats_attention')} cells).")
    else:
        parts.append("The gradient-based rankings did not find decisive sets faster than "
                     "attention on these runs.")
    if supported("many_hard_to_flip"):
        parts.append("And many decisions that full erasure is sure to flip survived the "
                     "erasure of the first half of the items attention ranked highest "
                     f"({cells('many_hard_to_flip')} cells).")
    return " ".join(parts)


def departures_table(described: list[dict[str, object]]) -> pd.DataFrame:
    """Every departure of this build's data and preprocessing from the paper's, with its
    reason and, where it can be measured, its size on this build's data. ``described``
    holds :func:`attnlib.data.corpus.describe_data` of each dataset."""
    rows = []
    for d in described:
        spec = get_dataset(str(d["dataset"]))
        if spec.status != "genuine":
            rows.append({"dataset": spec.id, "departure": f"data: {spec.status}",
                         "why": spec.note, "measured": f"{d['train']:,} train / "
                         f"{d['test']:,} test documents, {d['classes']} classes"})
        rows.append({
            "dataset": spec.id, "departure": "sentence splitter: spaCy's rule-based "
            "sentencizer, not the paper's dependency parse (en_core_web_sm)",
            "why": "no statistical spaCy model can be installed offline; the rules split on "
                   "punctuation, the parser also on syntax",
            "measured": f"{d['avg sentences']:.1f} sentences (HAN items) per "
                        "document on average"})
        if spec.lr_note:
            rows.append({"dataset": spec.id, "departure": f"learning rate {spec.paper_lr:g}",
                         "why": spec.lr_note, "measured": "see the training curves"})
        n_dev = int(str(d.get("dev") or 0))
        if SMALL_DEV.applies(n_dev or None):
            rows.append({
                "dataset": spec.id,
                "departure": f"learning-rate schedule: halve after {SMALL_DEV.lr_patience} "
                             f"flat epochs (paper: 0), floor lr/{SMALL_DEV.min_lr_divisor:g}, "
                             f"at least {SMALL_DEV.max_epochs} epochs",
                "why": "on a small dev set, accuracy moves between epochs by chance alone and "
                       "the paper's rule halved the learning rate on that noise",
                "measured": f"{n_dev:,} dev documents: one standard error of dev accuracy "
                            f"is up to {100 * 0.5 / n_dev ** 0.5:.1f} points"})
    return pd.DataFrame(rows, columns=["dataset", "departure", "why", "measured"])


def followup_findings(layer: pd.DataFrame, inputs: pd.DataFrame, pairs: pd.DataFrame,
                      weak: list[str], runs_without: list[str]) -> dict[str, str]:
    """The follow-up chapter's verdicts in sentences for the conclusions page:
    ``followup_verdicts`` (a sentence per claim with its overall verdict and cell counts,
    by :data:`attnlib.analysis.claims.OVERALL_RULE`) and ``followup_coverage``."""
    from .claims import claim_verdicts
    from .followup_claims import (
        ERASER_CLAIMS,
        FOLLOWUP_CLAIMS,
        UNIFORM_CLAIMS,
        evaluate_eraser_claims,
        evaluate_followup_claims,
        evaluate_uniform_claims,
    )

    sets = [(layer, FOLLOWUP_CLAIMS, evaluate_followup_claims),
            (inputs, ERASER_CLAIMS, evaluate_eraser_claims),
            (pairs, UNIFORM_CLAIMS, evaluate_uniform_claims)]
    lines = []
    for table, claims, evaluate in sets:
        if table.empty:
            continue
        verdicts = claim_verdicts(evaluate(table, exclude_runs=weak), claims)
        for _, row in verdicts.iterrows():
            if row["cells"] == 0:
                continue
            text = str(row["paper's claim"]).rstrip(".")
            lines.append(f"*{text}* ({row['source']}): **{row['verdict']}** "
                         f"({row['holds']} of {row['cells']} cells hold, {row['partly']} "
                         "partly).")
    verdict_text = " ".join(lines) if lines else (
        "No follow-up test could be judged on this build's runs.")
    coverage = ("every run of this build has them" if not runs_without else
                f"{len(runs_without)} runs of this build have none (published without their "
                "checkpoints): " + ", ".join(runs_without))
    return {"followup_verdicts": verdict_text, "followup_coverage": coverage}
