"""Key findings of a study as numbers and sentences, for the conclusions page to glue.
Every value is computed from the results; the sentences only pick words ("most",
"fewer than half") that the numbers support. Explained in book/conclusions.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..config import SMALL_DEV
from ..data import get_dataset
from ..plan import describe_runs, planned_runs
from . import summaries
from .cells import DocumentCount, ResultCells, per_cell
from .claims import (NO_MINIMUM, Claim, ClaimTable, EncoderEffect, SampleRule,
                     claim_verdicts, encoder_effect, evaluate_claims)

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


def tfidf_gaps(checks: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per dataset x model: the mean test accuracy over seeds minus the tf-idf + logistic
    regression baseline's, in percentage points, with a normal 95% interval.

    The interval's variance is the seeds' variance of accuracy over their number, plus
    the binomial variance of the model's mean accuracy on the n test documents (counted
    once, as the seeds share the documents) and of the baseline's. The baseline's
    per-document predictions are not stored, so the two classifiers' test-set noise is
    treated as independent; they err on many of the same documents, so the interval is
    wider than a paired one (conservative). ``reading``: "below tf-idf" where the whole
    interval is below 0, "above tf-idf" where it is above, "level with tf-idf" otherwise.
    ``checks`` is :func:`attnlib.training.baseline.model_checks`. Explained in the models
    chapter (book/models.ipynb).
    """
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    rows = []
    for (dataset, model), g in checks.groupby(["dataset", "model"], sort=False):
        acc = g["test_accuracy"].astype(float).to_numpy()
        tfidf, n = float(g["tfidf_accuracy"].iloc[0]), int(g["n_test"].iloc[0])
        mean = float(acc.mean())
        seed_var = float(acc.var(ddof=1)) / len(acc) if len(acc) > 1 else 0.0
        var = seed_var + mean * (1 - mean) / n + tfidf * (1 - tfidf) / n
        gap, half = 100 * (mean - tfidf), 100 * z * var ** 0.5
        low, high = gap - half, gap + half
        rows.append({"dataset": dataset, "model": model, "seeds": len(acc),
                     "test_accuracy": mean, "tfidf_accuracy": tfidf, "gap_points": gap,
                     "gap_low": low, "gap_high": high,
                     "runs_below": int((acc < tfidf).sum()),
                     "reading": ("below tf-idf" if high < 0 else "above tf-idf" if low > 0
                                 else "level with tf-idf")})
    return pd.DataFrame(rows, columns=["dataset", "model", "seeds", "test_accuracy",
                                       "tfidf_accuracy", "gap_points", "gap_low", "gap_high",
                                       "runs_below", "reading"])


def tfidf_sentence(checks: pd.DataFrame) -> str:
    """Where the models stand against tf-idf + logistic regression, in numbers that
    :func:`tfidf_gaps` gives: how many runs and cells are below it, which cells are
    below by more than their interval, and the range of the gaps."""
    gaps = tfidf_gaps(checks)
    if gaps.empty:
        return "No model of this build has a tf-idf baseline to compare with."
    runs_below = int((checks["test_accuracy"] < checks["tfidf_accuracy"]).sum())
    cells_below = int((gaps["gap_points"] < 0).sum())
    clear = gaps[gaps["reading"] == "below tf-idf"]
    level = int((gaps["reading"] == "level with tf-idf").sum())
    above = int((gaps["reading"] == "above tf-idf").sum())
    low, high = gaps.loc[gaps["gap_points"].idxmin()], gaps.loc[gaps["gap_points"].idxmax()]
    text = (f"Against tf-idf + logistic regression itself, {runs_below} of {len(checks)} runs "
            f"and {cells_below} of {len(gaps)} dataset × model cells (seed means) are below "
            f"it; the cells' gaps range from {low['gap_points']:+.1f} points ({_where(low)}) "
            f"to {high['gap_points']:+.1f} points ({_where(high)}). ")
    if clear.empty:
        text += "No cell is below it by more than its 95% interval"
    else:
        by_dataset = [f"{d} ({_join(sorted(g['model'].astype(str)))})"
                      for d, g in clear.groupby("dataset", sort=True)]
        text += (f"{len(clear)} cell{'s are' if len(clear) > 1 else ' is'} below it by more "
                 f"than {'their' if len(clear) > 1 else 'its'} 95% interval: "
                 f"{_join(by_dataset)}")
    return text + (f"; {level} are level with it and {above} above it.")


def tfidf_discussion(checks: pd.DataFrame) -> str:
    """For the conclusions: :func:`tfidf_sentence`, then what a model below a linear bag of
    words means for the claims, naming the datasets where every cell is below it."""
    gaps = tfidf_gaps(checks)
    text = tfidf_sentence(checks)
    if gaps.empty or not (gaps["gap_points"] < 0).any():
        return text + (" The claims are therefore judged on models at least as accurate as "
                       "a linear bag of words.")
    all_below = [d for d, g in gaps.groupby("dataset", sort=True)
                 if (g["reading"] == "below tf-idf").all()]
    where = (f" On {_join(all_below)} every model is below it by more than its interval."
             if all_below else "")
    return (text + where + " A model below a linear bag of words can still be the right "
            "object for the paper's question, which asks what the attention of a trained "
            "attention model says about the decisions *that model* makes, not which model "
            "classifies these data best. But the verdicts are about these models: a stronger "
            "model of the same data could rely on its attention differently, and where the "
            "models trail tf-idf the claims are not evidence about well-tuned attention "
            "models of those datasets.")


def weak_model_note(checks: pd.DataFrame) -> str:
    """One paragraph for every chapter that reports models: which runs did not clearly
    learn their task (:func:`attnlib.training.baseline.model_checks`), or that all did,
    and how many runs are below tf-idf + logistic regression (:func:`tfidf_gaps`)."""
    weak = checks[~checks["learned"]]
    below = int((checks["test_accuracy"] < checks["tfidf_accuracy"]).sum())
    tfidf = (f" The bar asks for half of tf-idf + logistic regression's gain over the majority "
             f"class, not for tf-idf itself: {below} of {len(checks)} runs are below tf-idf "
             "(the models chapter shows each cell's distance to it).") if below else (
        f" All {len(checks)} are also above tf-idf + logistic regression.")
    if weak.empty:
        return (f"**Model check:** all {len(checks)} models of this build clear the bar for "
                "having learned their task (above the majority class by at least half of "
                "tf-idf + logistic regression's gain over it; the rule is in the models "
                "chapter)." + tfidf)
    names = [f"{r.model} on {r.dataset} (seed {r.seed}: {_pct(r.test_accuracy)} against a "
             f"bar of {_pct(r.bar)})" for r in weak.itertuples()]
    return (f"**Model check: {len(weak)} of {len(checks)} models did not clearly learn their "
            f"task:** {_join(names)}. Their results are shown, but a model that has not "
            "learned its task flips for reasons that have little to do with attention; the "
            "claims chapter leaves them out of its verdicts." + tfidf)


def finding_tables(results: pd.DataFrame | ResultCells,
                   exclude_runs: list[str] | tuple[str, ...] = (),
                   rule: SampleRule = NO_MINIMUM) -> dict[str, Any]:
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
            "claims": ClaimTable(n_boot=300, exclude_runs=exclude_runs, rule=rule),
            "same_documents": _SameDocuments(results.scan()["first_seeds"])})
    return {
        "n_documents": results.groupby("dataset")["instance_id"].nunique().sum(),
        "shares": summaries.negative_delta_js_share(results),
        "flips": summaries.flip_table(results),
        "summary": summaries.fraction_to_flip_summary(results),
        "duel": summaries.head_to_head(results, "attention", "gradient"),
        "effect": encoder_effect(results, n_boot=200, exclude_runs=exclude_runs),
        "claims": evaluate_claims(results, n_boot=300, exclude_runs=exclude_runs, rule=rule),
        "same_documents": _same_document_medians(results)}


class _SameDocuments:
    """:func:`_same_document_medians` as a reducer: per-cell Series, concatenated."""

    def __init__(self, first_seeds: dict[str, int]) -> None:
        self.first_seeds = first_seeds
        self.parts: list[pd.Series] = []

    def add(self, cell: object, frame: pd.DataFrame) -> None:
        self.parts.append(_same_document_medians(frame, self.first_seeds))

    def result(self) -> pd.Series:
        return pd.concat(self.parts) if self.parts else pd.Series(dtype=float)


def key_findings(results: pd.DataFrame | ResultCells, metrics: pd.DataFrame,
                 exclude_runs: list[str] | tuple[str, ...] = (),
                 rule: SampleRule = NO_MINIMUM) -> dict[str, str]:
    """Named findings (all strings, ready for ``myst_nb.glue``); the claim verdicts
    leave out the runs in ``exclude_runs`` (models that did not learn their task) and
    follow the minimum-sample ``rule``.
    ``results``: the whole table, or :class:`attnlib.analysis.cells.ResultCells` (one
    pass over the cells, same findings)."""
    tables = finding_tables(results, exclude_runs, rule)
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
    same = tables["same_documents"].groupby(level="ranking", observed=True).median()
    order = sorted((r for r in names if r in same.index), key=lambda r: same[r])
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
    out["gradient_duel"] = (f"of the documents that either ranking flips before full erasure "
                            f"(the model of every training seed counted on every document), "
                            f"the gradient ranking needed fewer items than attention for "
                            f"{_pct(loss)} and more for {_pct(win)}")
    out["encoder_effect"] = _encoder_sentence(tables["effect"])

    verdicts = claim_verdicts(tables["claims"])
    out["interpretation"] = _interpretation(verdicts)
    counts = verdicts["verdict"].value_counts()
    untestable = int(counts.get("not testable", 0))
    out["claims_summary"] = (f"{int(counts.get('holds', 0))} of {len(verdicts)} claims hold in "
                             f"every testable cell, {int(counts.get('partly', 0))} in some, and "
                             f"{int(counts.get('does not hold', 0))} in none"
                             + (f"; {untestable} could not be judged (no cell meets the "
                                "minimum sample)" if untestable else ""))
    out["claims_holding"] = _claim_list(verdicts, "holds")
    out["claims_failing"] = _claim_list(verdicts, "does not hold")
    return out


def _same_document_medians(results: pd.DataFrame,
                           first_seeds: dict[str, int] | None = None) -> pd.Series:
    """Per dataset x model cell and ranking: the median fraction of items erased at the
    first flip before full erasure, counting every document of the cell (1 where no
    strict prefix flips it), so that every ranking is measured on the same documents
    (random orders: their first seed, the lowest in ``results`` or ``first_seeds``).
    The fastest ranking is the one with the lowest median of these over the cells."""
    from .bias_class import flips_before_full

    multi = results[results["test"] == "multi"]
    if first_seeds is None:
        first = multi.groupby("ranking", observed=True)["seed"].transform("min")
    else:
        first = multi["ranking"].astype("string").map(dict(first_seeds)).astype("Int64")
    multi = multi[multi["seed"].isna() | (multi["seed"] == first)]
    frac = multi["first_flip_fraction"].astype(float).where(flips_before_full(multi), 1.0)
    return frac.groupby([multi["dataset"].astype(str), multi["model"].astype(str),
                         multi["ranking"].astype(str)]).median().rename_axis(
        ["dataset", "model", "ranking"])


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


def _cell_counts(row: pd.Series) -> str:
    """``12 of 36 cells hold, 3 partly, 1 borderline; 2 not testable``."""
    text = f"{row['holds']} of {row['cells']} cells hold, {row['partly']} partly"
    if row.get("borderline", 0):
        text += f", {row['borderline']} borderline"
    if row.get("not testable", 0):
        text += f"; {row['not testable']} not testable"
    return text


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
    if v.get("deltajs_nonnegative", ("not testable",))[0] == "not testable":
        parts.append("Whether the highest-weighted item matters more than a random one could "
                     "not be judged on this build (no cell meets the minimum sample).")
    elif supported("deltajs_nonnegative"):
        parts.append("Attention weights carry some information about what the model uses: "
                     "erasing the highest-weighted item moved the output more than a random "
                     "item for most of the documents where the two erasures differed (the "
                     f"claim holds in {cells('deltajs_nonnegative')} cells).")
    else:
        parts.append("On these data the highest-weighted item was not reliably more "
                     "important than a random one.")
    untestable = ("not testable", 0, 0)
    if all(v.get(c, untestable)[0] == "not testable"
           for c in ("gradient_beats_attention", "gxa_beats_attention")):
        parts.append("Whether gradient-based rankings find decisive sets faster than "
                     "attention could not be judged on this build.")
    elif supported("gradient_beats_attention") or supported("gxa_beats_attention"):
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
                      weak: list[str], runs_without: list[str],
                      jw: pd.DataFrame | None = None, rule: SampleRule = NO_MINIMUM
                      ) -> dict[str, str]:
    """The follow-up chapter's verdicts in sentences for the conclusions page:
    ``followup_verdicts`` (a sentence per claim with its overall verdict and cell counts,
    by :data:`attnlib.analysis.claims.OVERALL_RULE`) and ``followup_coverage``."""
    from .claims import claim_verdicts
    from .followup_claims import (
        ERASER_CLAIMS,
        FOLLOWUP_CLAIMS,
        JW_CLAIMS,
        UNIFORM_CLAIMS,
        evaluate_eraser_claims,
        evaluate_followup_claims,
        evaluate_jw_claims,
        evaluate_uniform_claims,
    )

    def jw_claims(table: pd.DataFrame, exclude_runs: list[str], rule: SampleRule
                  ) -> pd.DataFrame:
        return evaluate_jw_claims(table, rule=rule)

    Evaluate = Callable[..., pd.DataFrame]
    sets: list[tuple[pd.DataFrame, tuple[Claim, ...], Evaluate]] = [
            (jw if jw is not None else pd.DataFrame(), JW_CLAIMS, jw_claims),
            (layer, FOLLOWUP_CLAIMS, evaluate_followup_claims),
            (inputs, ERASER_CLAIMS, evaluate_eraser_claims),
            (pairs, UNIFORM_CLAIMS, evaluate_uniform_claims)]
    lines = []
    for table, claims, evaluate in sets:
        if table.empty:
            continue
        verdicts = claim_verdicts(evaluate(table, exclude_runs=weak, rule=rule), claims)
        for _, row in verdicts.iterrows():
            if row["cells"] == 0:
                continue
            text = str(row["paper's claim"]).rstrip(".")
            lines.append(f"*{text}* ({row['source']}; {row['lengths']}): "
                         f"**{row['verdict']}** ({_cell_counts(row)}).")
    verdict_text = " ".join(lines) if lines else (
        "No follow-up test could be judged on this build's runs.")
    coverage = ("every run of this build has them" if not runs_without else
                f"{len(runs_without)} runs of this build have none (published without their "
                "checkpoints): " + ", ".join(runs_without))
    return {"followup_verdicts": verdict_text, "followup_coverage": coverage}
