"""What each chapter found, in two to four sentences computed from the tables the chapter
draws, so that a page can open with its findings and they stay true when the book is
re-executed on other data. The book's build moves each chapter's findings cell (tagged
``findings``) under the chapter's title (tools/build_book.py); in a running notebook it
stays where its tables are computed.

Every function takes tables that other parts of :mod:`attnlib.analysis` return and only
picks words ("most", "every") that the numbers support. Explained at the top of every
chapter, e.g. book/single_weight.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .report import _join, _pct, _where, data_caveat

RANKING_WORDS = {"attention": "attention", "gradient": "gradient",
                 "grad_x_attention": "gradient × attention", "random": "random",
                 "reverse_attention": "reverse attention", "leave_one_out": "leave-one-out",
                 "input_gradient": "gradient × input",
                 "integrated_gradients": "integrated gradients",
                 "gradient_l2": "gradient L2 norm"}


def _range(table: pd.DataFrame, column: str, fmt=_pct) -> str:
    """``lo (where) to hi (where)`` of ``column``, or the one value of a one-row table."""
    lo, hi = table.loc[table[column].idxmin()], table.loc[table[column].idxmax()]
    if len(table) == 1:
        return f"{fmt(float(lo[column]))} ({_where(lo)})"
    return (f"{fmt(float(lo[column]))} ({_where(lo)}) to {fmt(float(hi[column]))} "
            f"({_where(hi)})")


def _hold(n: int) -> str:
    return "holds" if n == 1 else "hold"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def as_markdown(sentences: Sequence[str]) -> str:
    """The findings as the page shows them: a titled block of sentences."""
    return "**What this chapter found.** " + " ".join(_sentence(s) for s in sentences)


def data_findings(overview: pd.DataFrame) -> list[str]:
    """From :func:`attnlib.analysis.data_summary.overview_table`: how much data, how many
    items each architecture's tested attention weighs, which sets are substitutes."""
    names = [str(d) for d in overview["dataset"]]
    n = len(names)
    first = (f"this build reads {n} dataset{'s' if n != 1 else ''} ({_join(names)}): "
             f"{int(overview['train'].sum()):,} training and {int(overview['test'].sum()):,} "
             "test documents")
    sent, tok = overview["avg sentences"].astype(float), overview["avg tokens"].astype(float)
    span = (lambda s, f: f"{f.format(s.min())}" if s.min() == s.max()
            else f"{f.format(s.min())} to {f.format(s.max())}")
    items = (f"HAN's tested attention weighs sentences, {span(sent, '{:.1f}')} per document "
             f"on average; FLAN's weighs tokens, {span(tok, '{:.0f}')}: erasing one item is a "
             "much larger intervention for HAN than for FLAN")
    return [first, items, data_caveat(names)]


def models_findings(checks: pd.DataFrame, gaps: pd.DataFrame) -> list[str]:
    """From :func:`attnlib.training.baseline.model_checks` and
    :func:`attnlib.analysis.report.tfidf_gaps`: accuracy range, the learned-its-task
    check and where the models stand against tf-idf + logistic regression."""
    acc = checks.groupby(["dataset", "model"], as_index=False)["test_accuracy"].mean()
    out = [f"mean test accuracy over seeds ranges from {_range(acc, 'test_accuracy')}"]
    weak = checks[~checks["learned"].astype(bool)]
    out.append(f"all {len(checks)} runs clear the bar for having learned their task"
               if weak.empty else
               f"{len(weak)} of {len(checks)} runs do not clear the bar for having learned "
               "their task and are left out of the verdicts")
    if not gaps.empty:
        below = int((gaps["gap_points"] < 0).sum())
        clear = int((gaps["reading"] == "below tf-idf").sum())
        above = int((gaps["reading"] == "above tf-idf").sum())
        out.append(f"{below} of {len(gaps)} dataset × model cells are below tf-idf + "
                   f"logistic regression ({clear} by more than their 95% interval) and "
                   f"{above} clearly above it: the bar asks for learning, not for beating a "
                   "linear bag of words")
    return out


def single_weight_findings(shares: pd.DataFrame, flips: pd.DataFrame) -> list[str]:
    """From :func:`attnlib.analysis.summaries.negative_delta_js_share` and
    :func:`attnlib.analysis.summaries.flip_table`."""
    att = shares[shares["ranking"] == "attention"]
    out = []
    if len(att):
        every = bool((att["negative_share"].astype(float) < 0.5).all())
        out.append(f"erasing the highest-attention item moved the output less than erasing a "
                   f"random item (ΔJS < 0) for {_range(att, 'negative_share')} of documents, "
                   + ("so the top item mattered at least as much for most documents in every "
                      "model" if every else "so in some models the top item mattered less "
                      "than a random one for most documents"))
    if len(flips):
        top = (flips["both"] + flips["only_top"]).astype(float) / 100
        table = flips.assign(top_flip=top)
        random = float(flips["only_random"].astype(float).mean()) / 100
        out.append(f"yet erasing that one item flipped the decision for only "
                   f"{_range(table, 'top_flip')} of documents, and a random item alone "
                   f"flipped {_pct(random)} on average over the cells")
    return out or ["no single-weight results were computed in this build"]


def multi_weight_findings(summary: pd.DataFrame, duels: pd.DataFrame) -> list[str]:
    """From :func:`attnlib.analysis.summaries.fraction_to_flip_summary` and the
    attention-vs-gradient rows of :func:`attnlib.analysis.summaries.head_to_head`."""
    att = summary[summary["ranking"] == "attention"]
    if att.empty:
        return ["no multi-weight results were computed in this build"]
    out = [f"under the attention ranking, {_range(att, 'before_full_share')} of documents "
           "flip before their last item is erased; the others flip only at full erasure or "
           "never, which the output bias decides, not the ranking"]
    medians = summary.groupby("ranking")["median"].median()
    named = [f"{RANKING_WORDS[r]} {medians[r]:.2f}" for r in
             ("attention", "gradient", "grad_x_attention", "random") if r in medians.index
             and pd.notna(medians[r])]
    if named:
        out.append("among those early flips, the median fraction of items erased at the first "
                   "flip (median over cells; each ranking over the documents it flips early, "
                   "which differ between rankings) is " + ", ".join(named))
    duel = duels[duels["comparison"] == "attention vs gradient"]
    if len(duel) and duel["n"].sum() > 0:
        w = duel["n"] / duel["n"].sum()
        out.append(f"document by document, the gradient ranking needed fewer items than "
                   f"attention for {_pct(float((duel['loss'] * w).sum()))} of the compared "
                   f"documents and more for {_pct(float((duel['win'] * w).sum()))}")
    return out


def explore_findings(flips: pd.DataFrame) -> list[str]:
    """From one row per explorer document (columns ``model``, ``dataset``, ``n_items``,
    ``top_flips``: erasing its top-attention item alone flips the decision,
    ``k_to_flip``: items of the attention order erased at the first flip, ``None`` when
    none before full erasure)."""
    if flips.empty:
        return ["this build has no explorer documents"]
    models = [str(m) for m in dict.fromkeys(flips["model"])]
    datasets = [str(d) for d in dict.fromkeys(flips["dataset"])]
    where = datasets[0] if len(datasets) == 1 else f"{len(datasets)} datasets"
    n = len(flips)
    top = int(flips["top_flips"].sum())
    early = flips.dropna(subset=["k_to_flip"])
    out = [f"the explorers below show {n} test documents of {_join(models)} on {where}",
           f"erasing the single highest-attention item, when it is not the only one, flips the "
           f"decision of {top} of them"]
    if len(early):
        out.append(f"{len(early)} of the {n} flip before their last item is erased under the "
                   f"attention order, after a median of {early['k_to_flip'].median():g} "
                   "items; try it with the slider, then with the gradient order")
    else:
        out.append("none flips before its last item is erased under the attention order")
    return out


def claims_findings(verdicts: pd.DataFrame, robust: pd.DataFrame) -> list[str]:
    """From :func:`attnlib.analysis.claims.claim_verdicts` and
    :func:`attnlib.analysis.specification.robust_verdicts`."""
    counts = verdicts["verdict"].value_counts()
    holds = int(counts.get('holds', 0))
    first = (f"of the paper's {len(verdicts)} claims, {holds} {_hold(holds)} in "
             f"every testable dataset × model cell, {int(counts.get('partly', 0))} in some "
             f"and {int(counts.get('does not hold', 0))} in none")
    untestable = int(counts.get("not testable", 0))
    if untestable:
        first += f" ({untestable} cannot be judged: no cell meets the minimum sample)"
    return [first, *robust_findings(robust)]


def robust_findings(robust: pd.DataFrame) -> list[str]:
    """From :func:`attnlib.analysis.specification.robust_verdicts`: how many verdicts
    survive every defensible definition, and which claims are fragile."""
    out: list[str] = []
    if len(robust):
        rc = robust["robust verdict"].value_counts()
        out.append(f"judged again under every defensible definition, "
                   f"{int(rc.get('holds (robust)', 0))} {_hold(int(rc.get('holds (robust)', 0)))} "
                   "robustly, "
                   f"{int(rc.get('does not hold (robust)', 0))} fail robustly, "
                   f"{int(rc.get('partly (robust)', 0))} split robustly between cells and "
                   f"{int(rc.get('fragile', 0))} depend on the definition (fragile)")
        fragile = robust.loc[robust["robust verdict"] == "fragile", "claim"].tolist()
        if fragile:
            out.append("fragile: " + ", ".join(f"`{c}`" for c in fragile))
    return out


def conclusions_findings(key: dict[str, str], robust: pd.DataFrame) -> list[str]:
    """The conclusions' lead: :func:`attnlib.analysis.report.key_findings`'
    ``claims_summary`` and ``fastest_ranking``, then :func:`robust_findings`."""
    return [f"on {key['n_runs']} models and {key['n_documents']} test documents, "
            + key["claims_summary"],
            f"the ranking that flips decisions with the smallest fraction of items, counted "
            f"on the same documents, is {key['fastest_ranking']}", *robust_findings(robust)]


def followup_findings_lead(verdict_sets: Sequence[pd.DataFrame]) -> list[str]:
    """From the follow-up claim verdicts (:func:`attnlib.analysis.claims.claim_verdicts`
    on each set of :mod:`attnlib.analysis.followup_claims`): how many hold, and which."""
    table = pd.concat([v for v in verdict_sets if len(v)], ignore_index=True) if any(
        len(v) for v in verdict_sets) else pd.DataFrame()
    if table.empty or (table["cells"] == 0).all():
        return ["no follow-up test could be judged on this build's runs"]
    table = table[table["cells"] > 0]
    counts = table["verdict"].value_counts()
    holds = int(counts.get('holds', 0))
    out = [f"of {len(table)} follow-up claims with a testable cell, "
           f"{holds} {_hold(holds)} in every cell, "
           f"{int(counts.get('partly', 0))} in some and {int(counts.get('does not hold', 0))} "
           "in none"]
    for verdict in ("holds", "does not hold"):
        names = [str(t).rstrip(".") for t in table.loc[table["verdict"] == verdict,
                                                       "paper's claim"]]
        if names:
            out.append(("holding everywhere: " if verdict == "holds" else "holding nowhere: ")
                       + "; ".join(f"*{n}*" for n in names))
    return out


def known_answer_findings(reliance: pd.DataFrame | None, summary: pd.DataFrame | None,
                          missing: int = 0) -> list[str]:
    """From :func:`attnlib.analysis.known_answer.reliance_table` (per run, ``relies``) and
    :func:`attnlib.analysis.known_answer.verdict_summary`; ``missing``: runs of the plan
    not published."""
    if reliance is None or reliance.empty:
        return [f"the known-answer runs of this profile are not published yet ({missing} "
                "runs): the chapter shows the method and renders its results once they are"]
    runs, relies = len(reliance), int(reliance["relies"].astype(bool).sum())
    out = [f"{relies} of {runs} runs rely on the planted shortcut (the protocol's check); "
           "only those are scored"]
    if summary is not None and len(summary):
        cells = summary["finds the planted token"] + summary["partly"] + \
            summary["no better than random"]
        finds = summary.assign(cells=cells)
        finds = finds[finds["cells"] > 0]
        if len(finds):
            best = finds.loc[finds["finds the planted token"].idxmax()]
            att = finds[finds["ranking"] == "attention"]
            out.append(f"{RANKING_WORDS.get(best['ranking'], best['ranking'])} finds the "
                       f"planted token in {int(best['finds the planted token'])} of "
                       f"{int(best['cells'])} relying cells, the most of any ranking")
            if len(att):
                a = att.iloc[0]
                out.append(f"attention finds it in {int(a['finds the planted token'])} of "
                           f"{int(a['cells'])} and does no better than random in "
                           f"{int(a['no better than random'])}")
    return out
