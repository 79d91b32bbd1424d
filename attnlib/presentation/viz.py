"""Altair charts drawn from result tables. Rendering only: every number comes from
``attnlib.analysis.summaries`` / ``attnlib.layer.results``; nothing here computes an erasure.

Used by the book chapters; each chart says what it shows in its title and axis titles.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

RANKING_LABELS = {
    "attention": "Attention",
    "reverse_attention": "Reverse attention",
    "random": "Random",
    "gradient": "Gradient",
    "grad_x_attention": "Gradient × attention",
    "leave_one_out": "Leave-one-out",
    "input_gradient": "Input gradient",
    "integrated_gradients": "Integrated gradients",
    "gradient_l2": "Gradient L2 norm",
}
RANKING_ORDER = list(RANKING_LABELS.values())
RANKING_COLORS = ["#4c78a8", "#9ecae9", "#bab0ac", "#f58518", "#e45756", "#54a24b",
                  "#b279a2", "#72b7b2", "#ff9da6"]
MODEL_ORDER = ["HANrnn", "HANconv", "HANnoenc", "FLANrnn", "FLANconv", "FLANnoenc"]


def _reference_rule(channel: str, value: float) -> alt.Chart:
    """A dashed rule at a constant, drawn once per facet panel: a layer without data of
    its own, so that faceting the layered chart splits every layer's data alike."""
    encoding = {channel: alt.datum(value)}
    return alt.Chart().transform_aggregate(rows="count()").mark_rule(
        color="gray", strokeDash=[4, 3]).encode(**encoding)


def _complete_facets(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Add empty rows for missing combinations of ``keys``: a facet grid with holes (a
    model not trained on one dataset) would otherwise draw panels under the wrong
    headers. The added rows have no values, so they draw nothing."""
    if df.empty:
        return df
    full = pd.MultiIndex.from_product([df[k].unique() for k in keys], names=keys)
    missing = full.difference(pd.MultiIndex.from_frame(df[keys]))
    if len(missing) == 0:
        return df
    return pd.concat([df, missing.to_frame(index=False)], ignore_index=True)


def _ranking_labels(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(Ranking=df["ranking"].map(RANKING_LABELS).fillna(df["ranking"]))


def _ranking_color(data: pd.DataFrame) -> alt.Color:
    """A ranking keeps its colour in every chart; the legend lists those in ``data``."""
    present = set(data["Ranking"])
    pairs = [(r, c) for r, c in zip(RANKING_ORDER, RANKING_COLORS) if r in present]
    return alt.Color("Ranking:N", sort=RANKING_ORDER,
                     scale=alt.Scale(domain=[r for r, _ in pairs], range=[c for _, c in pairs]),
                     legend=alt.Legend(title="Ranking", orient="bottom"))


PANELS_PER_ROW = 2  # per-dataset panels wrap after two: the book's text column is ~730 px


def length_histogram(histogram: pd.DataFrame, item: str, title: str) -> alt.FacetChart:
    """Documents per length bin (from :func:`attnlib.data.corpus.length_histogram`), one panel
    per dataset, splits stacked."""
    return alt.Chart(histogram).mark_bar(opacity=0.85).encode(
        x=alt.X("bin_start:Q", bin="binned", title=f"{item} per document"),
        x2="bin_end:Q",
        y=alt.Y("documents:Q", stack=True, title="documents"),
        color=alt.Color("split:N", title="split", sort=["train", "dev", "test"]),
        tooltip=["dataset:N", "split:N", alt.Tooltip("bin_start:Q", format=".0f", title="from"),
                 alt.Tooltip("bin_end:Q", format=".0f", title="to"), "documents:Q"],
    ).properties(width=220, height=150).facet(
        facet=alt.Facet("dataset:N", title=None), columns=PANELS_PER_ROW).resolve_scale(
        x="independent", y="independent").properties(title=title)


def training_curves(history: pd.DataFrame) -> alt.FacetChart:
    """Dev accuracy per epoch, one line per model (and seed), one panel per dataset."""
    data = history.assign(series=history["model"] + " seed " + history["seed"].astype(str))
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("dev_accuracy:Q", title="dev accuracy", scale=alt.Scale(zero=False)),
        color=alt.Color("model:N", sort=MODEL_ORDER, title="model",
                        legend=alt.Legend(orient="bottom", columns=6)),
        detail="series:N",
        tooltip=["dataset:N", "model:N", "seed:Q", "epoch:Q",
                 alt.Tooltip("dev_accuracy:Q", format=".3f"),
                 alt.Tooltip("train_loss:Q", format=".3f"), alt.Tooltip("lr:Q", format=".1e")],
    ).properties(width=260, height=180).facet(
        facet=alt.Facet("dataset:N", title=None), columns=PANELS_PER_ROW).resolve_scale(
        y="independent").properties(
        title="Dev accuracy during training (the best epoch's checkpoint is kept)")


def delta_js_scatter(sample: pd.DataFrame, model: str) -> alt.FacetChart:
    """The paper's scatter: Delta JS against the attention gap alpha_top - alpha_random."""
    data = sample[sample["model"] == model]
    base = alt.Chart().encode(
        x=alt.X("attention_gap:Q", title="attention gap α(i*) − α(r)",
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("delta_js:Q", title="ΔJS = JS(erase i*) − JS(erase r)  [nats]"),
    )
    points = base.mark_circle(size=14, opacity=0.5).encode(
        color=alt.condition("datum.delta_js < 0", alt.value("#e45756"), alt.value("#4c78a8")),
        tooltip=["dataset:N", "instance_id:Q", alt.Tooltip("attention_gap:Q", format=".3f"),
                 alt.Tooltip("delta_js:Q", format=".4f")])
    zero = _reference_rule("y", 0.0)
    return alt.layer(points, zero, data=data).properties(width=230, height=200).facet(
        facet=alt.Facet("dataset:N", title=None), columns=PANELS_PER_ROW).resolve_scale(
        y="independent").properties(
        title=f"{model}: erasing the top item vs a random item (red: ΔJS < 0)")


def negative_share_chart(shares: pd.DataFrame) -> alt.FacetChart:
    """Share of instances with Delta JS < 0, per model and dataset (attention ranking)."""
    data = shares[shares["ranking"] == "attention"]
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("model:N", sort=MODEL_ORDER, title=None),
        y=alt.Y("negative_share:Q", title="instances with ΔJS < 0", axis=alt.Axis(format="%")),
        color=alt.Color("model:N", sort=MODEL_ORDER, legend=None),
        tooltip=["dataset:N", "model:N", alt.Tooltip("negative_share:Q", format=".1%"), "n:Q"],
    ).properties(width=200, height=160).facet(facet=alt.Facet("dataset:N", title=None),
                                              columns=3).properties(
        title="How often erasing the highest-attention item matters less than a random one")


def _panel_width(data: pd.DataFrame) -> int:
    """Panel width for one column per dataset within the book's text column; five boxes
    or bars of 16 px still fit in the narrowest."""
    return max(88, min(140, 450 // max(1, data["dataset"].nunique())))


def box_chart(stats: pd.DataFrame, value_title: str, title: str,
              models: list[str] | None = None, domain: tuple[float, float] = (0.0, 1.0)
              ) -> alt.FacetChart:
    """Box plots from precomputed quartiles (:func:`attnlib.analysis.summaries.box_stats`): one row
    of panels per model, one column per dataset, one box per ranking; ``domain`` is the
    value axis."""
    data = _ranking_labels(_complete_facets(
        stats if models is None else stats[stats["model"].isin(models)],
        ["dataset", "model", "ranking"]))
    x = alt.X("Ranking:N", sort=RANKING_ORDER, title=None, axis=alt.Axis(labels=False, ticks=False))
    base = alt.Chart().encode(x=x, color=_ranking_color(data), tooltip=[
        "dataset:N", "model:N", "Ranking:N", "n:Q", alt.Tooltip("q1:Q", format=".3f"),
        alt.Tooltip("median:Q", format=".3f"), alt.Tooltip("q3:Q", format=".3f")])
    ticks = [domain[0] + (domain[1] - domain[0]) * i / 4 for i in range(5)]
    y = alt.Y("whisker_low:Q", title=value_title, scale=alt.Scale(domain=list(domain)),
              axis=alt.Axis(values=ticks, format=".2f"))
    whiskers = base.mark_rule().encode(y=y, y2="whisker_high:Q")
    boxes = base.mark_bar(size=16).encode(y="q1:Q", y2="q3:Q")
    medians = base.mark_tick(color="black", size=16, thickness=2).encode(y="median:Q")
    return alt.layer(whiskers, boxes, medians, data=data).properties(
        width=_panel_width(data), height=130).facet(
        row=alt.Row("model:N", sort=MODEL_ORDER, title=None,
                    header=alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold")),
        column=alt.Column("dataset:N", title=None)).properties(title=title)


def never_flip_chart(summary: pd.DataFrame) -> alt.FacetChart:
    """Share of instances whose decision never flips, per ranking, model and dataset."""
    data = _ranking_labels(_complete_facets(summary, ["dataset", "model", "ranking"]))
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("Ranking:N", sort=RANKING_ORDER, title=None, axis=alt.Axis(labels=False,
                                                                            ticks=False)),
        y=alt.Y("never_flip_share:Q", title="never flips", axis=alt.Axis(format="%")),
        color=_ranking_color(data),
        tooltip=["dataset:N", "model:N", "Ranking:N",
                 alt.Tooltip("never_flip_share:Q", format=".1%"), "n:Q"],
    ).properties(width=_panel_width(data), height=110).facet(
        row=alt.Row("model:N", sort=MODEL_ORDER, title=None,
                    header=alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold")),
        column=alt.Column("dataset:N", title=None)).properties(
        title="Instances whose decision survives erasing items one by one until none is left")


def head_to_head_chart(table: pd.DataFrame) -> alt.FacetChart:
    """Stacked win / tie / loss shares of one ranking against another, per model."""
    long = table.melt(id_vars=["dataset", "model", "comparison", "n"],
                      value_vars=["win", "tie", "loss"], var_name="outcome", value_name="share")
    long["comparison"] = long["comparison"].map(
        lambda c: " vs ".join(RANKING_LABELS.get(r, r) for r in c.split(" vs ")))
    long["outcome"] = long["outcome"].map({"win": "attention needs fewer",
                                           "tie": "same number",
                                           "loss": "attention needs more"})
    order = ["attention needs fewer", "same number", "attention needs more"]
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("model:N", sort=MODEL_ORDER, title=None),
        x=alt.X("share:Q", stack="normalize", title="share of instances",
                axis=alt.Axis(format="%")),
        color=alt.Color("outcome:N", sort=order, title=None,
                        scale=alt.Scale(domain=order, range=["#4c78a8", "#bab0ac", "#f58518"]),
                        legend=alt.Legend(orient="bottom")),
        order=alt.Order("outcome_order:Q"),
        tooltip=["dataset:N", "model:N", "outcome:N", alt.Tooltip("share:Q", format=".1%"),
                 "n:Q"],
    ).transform_calculate(
        outcome_order="indexof(['attention needs fewer','same number','attention needs more'],"
                      " datum.outcome)").properties(width=230, height=140).facet(
        row=alt.Row("dataset:N", title=None), column=alt.Column("comparison:N", title=None)
    ).properties(title="Items to erase before the first flip: attention against the gradient rankings")


def setup_notebook() -> None:
    """Render Altair charts as SVG (readable by browsers and tests) without the export
    menu, and let charts embed more than 5,000 rows when they need to."""
    alt.renderers.set_embed_options(renderer="svg", actions=False)
    alt.data_transformers.disable_max_rows()


def show_source(obj: Any) -> Any:
    """The library's real source of ``obj``, highlighted, for the book to show."""
    import inspect

    from IPython.display import Code

    return Code(inspect.getsource(obj), language="python")


VERDICT_COLORS = {"holds": "#2d6a2d", "partly": "#d9a400", "borderline": "#7b68b5",
                  "does not hold": "#c0392b", "not testable": "#999999",
                  "finds the planted token": "#2d6a2d", "no better than random": "#c0392b",
                  "model does not rely on it": "#999999"}


def claims_chart(evaluated: pd.DataFrame, claim: str, statistic: str,
                 references: list[float] | float) -> alt.FacetChart:
    """Estimates with 95% intervals of one claim's statistic per dataset and model; the
    dashed rules mark the criterion's threshold and the minimum meaningful effect
    around it."""
    data = evaluated[evaluated["claim"] == claim]
    color = alt.Color("verdict:N", title="verdict",
                      scale=alt.Scale(domain=list(VERDICT_COLORS),
                                      range=list(VERDICT_COLORS.values())),
                      legend=alt.Legend(orient="bottom", direction="horizontal"))
    base = alt.Chart().encode(y=alt.Y("model:N", sort=MODEL_ORDER, title=None))
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci_low:Q", title="estimate and 95% interval"), x2="ci_high:Q", color=color)
    points = base.mark_point(filled=True, size=60).encode(
        x="estimate:Q", color=color,
        tooltip=["dataset:N", "model:N", alt.Tooltip("estimate:Q", format=".3f"),
                 alt.Tooltip("ci_low:Q", format=".3f"), alt.Tooltip("ci_high:Q", format=".3f"),
                 alt.Tooltip("ties:Q", format=".1%"), "seeds:Q", "documents:Q", "verdict:N"])
    values = references if isinstance(references, list) else [references]
    rules = [_reference_rule("x", v) for v in values]
    return alt.layer(bars, points, *rules, data=data).properties(width=260, height=130).facet(
        facet=alt.Facet("dataset:N", title=None), columns=PANELS_PER_ROW).properties(
        title=statistic)


def specification_chart(robust: pd.DataFrame, claim: str, title: str = "") -> alt.Chart:
    """One claim's specification curve, compactly: per dataset (rows) and model
    (columns), the share of the defensible specifications under which the cell holds
    (:func:`attnlib.analysis.specification.robustness`), coloured from red (holds under
    none) to green (under all), with the share printed; grey cells are not testable.
    Hover a cell for its label, the number of specifications and the stated verdict."""
    data = robust[robust["claim"] == claim].assign(
        share_text=lambda d: [("–" if pd.isna(v) else f"{v:.0%}") for v in d["holds_share"]])
    tooltip = ["dataset:N", "model:N", alt.Tooltip("holds_share:Q", format=".0%",
                                                   title="share holding"),
               "specifications:Q", "label:N"]
    if "stated" in data:
        tooltip.append(alt.Tooltip("stated:N", title="stated verdict"))
    base = alt.Chart(data).encode(
        x=alt.X("model:N", sort=MODEL_ORDER, title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("dataset:N", title=None))
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color("holds_share:Q", title="share of specifications holding",
                        scale=alt.Scale(domain=[0, 0.5, 1], range=["#c0392b", "#f2e6a7",
                                                                   "#2d6a2d"]),
                        legend=alt.Legend(orient="bottom", format=".0%", gradientLength=200)),
        tooltip=tooltip)
    text = base.mark_text(fontSize=10).encode(
        text="share_text:N",
        color=alt.condition("datum.holds_share > 0.25 && datum.holds_share < 0.75",
                            alt.value("black"), alt.value("white")))
    return (cells + text).properties(width=alt.Step(62), height=alt.Step(20),
                                     title=title or claim)


OUTCOME_COLORS = {"flips before full erasure": "#4c78a8",
                  "flips only at full erasure": "#f58518",
                  "never flips (bias class)": "#bab0ac"}


def outcome_chart(shares: pd.DataFrame, ranking: str = "attention") -> alt.FacetChart:
    """How each document's multi-weight test ends under one ranking, per model and
    dataset (:func:`attnlib.analysis.bias_class.outcome_shares`): a flip before full erasure (the
    ranking mattered), a flip only at full erasure, or no flip at all. The last two are
    set by the output bias, not by the ranking."""
    data = shares[shares["ranking"] == ranking].rename(
        columns={"never flips": "never flips (bias class)"})
    order = list(OUTCOME_COLORS)
    long = data.melt(id_vars=["dataset", "model", "n"], value_vars=order, var_name="outcome",
                     value_name="share")
    long["outcome_order"] = long["outcome"].map(order.index)
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("model:N", sort=MODEL_ORDER, title=None),
        x=alt.X("share:Q", stack="normalize", title="share of documents",
                axis=alt.Axis(format="%")),
        color=alt.Color("outcome:N", sort=order, title=None,
                        scale=alt.Scale(domain=order, range=list(OUTCOME_COLORS.values())),
                        legend=alt.Legend(orient="bottom", columns=1)),
        order=alt.Order("outcome_order:Q"),
        tooltip=["dataset:N", "model:N", "outcome:N", alt.Tooltip("share:Q", format=".1%"),
                 "n:Q"],
    ).properties(width=230, height=120).facet(
        facet=alt.Facet("dataset:N", title=None), columns=PANELS_PER_ROW).properties(
        title=f"How the erasure ends under the {RANKING_LABELS.get(ranking, ranking).lower()} "
              "ranking")


def with_interval(table: pd.DataFrame, column: str, fmt: str = "{:.3f}",
                  low: str = "ci_low", high: str = "ci_high") -> pd.DataFrame:
    """``column`` shown as ``estimate [low, high]`` text, the interval columns dropped:
    one narrow column instead of three for tables in the book's text column."""
    def cell(est: float, lo: float, hi: float) -> str:
        if pd.isna(est):
            return "–"
        interval = "" if pd.isna(lo) else f" [{fmt.format(lo)}, {fmt.format(hi)}]"
        return fmt.format(est) + interval

    out = table.drop(columns=[low, high])
    out[column] = [cell(*v) for v in zip(table[column], table[low], table[high])]
    return out.rename(columns={column: f"{column} [95% interval]"})


def style_verdicts(table: pd.DataFrame, formats: dict[str, str] | None = None) -> Any:
    """A left-aligned table with readable headers (``_`` shown as spaces) and its verdict
    column coloured (pandas Styler)."""
    def colour(value: object) -> str:
        c = VERDICT_COLORS.get(str(value))
        return f"color: white; background-color: {c}; font-weight: 600" if c else ""

    styler = table.style.hide(axis="index").set_properties(
        **{"text-align": "left", "vertical-align": "top"})
    if "verdict" in table.columns:
        styler = styler.map(colour, subset=["verdict"])
    return styler.format(formats or {}, na_rep="–").format_index(
        lambda name: str(name).replace("_", " "), axis=1)


def eraser_curve_chart(curves: pd.DataFrame, measure: str) -> alt.FacetChart:
    """Mean comprehensiveness or sufficiency (``measure``) against the share of tokens in
    the rationale, one line per token ranking, one panel per model and dataset
    (:func:`attnlib.inputs.results.eraser_curves`)."""
    data = _ranking_labels(curves[curves["measure"] == measure])
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("percent:Q", title="top k% of tokens", scale=alt.Scale(type="log"),
                axis=alt.Axis(values=[1, 5, 10, 20, 50])),
        y=alt.Y("value:Q", title=f"mean {measure}"),
        color=_ranking_color(data),
        tooltip=["dataset:N", "model:N", "Ranking:N", "percent:Q",
                 alt.Tooltip("value:Q", format=".4f")],
    ).properties(width=_panel_width(data), height=110).facet(
        row=alt.Row("model:N", sort=MODEL_ORDER, title=None,
                    header=alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold")),
        column=alt.Column("dataset:N", title=None)).properties(
        title=f"{measure.capitalize()} of each ranking's top tokens, deleted from the input")


def known_answer_chart(scores: pd.DataFrame, model: str) -> alt.FacetChart:
    """Where each ranking puts the planted item, for one architecture (``model``): the
    mean rank of the first planted item with its 95% interval, one panel per dataset
    (:func:`attnlib.analysis.known_answer.ranking_scores`); rank 1 (dashed) is the known
    answer. Cells whose model does not rely on the shortcut are greyed."""
    data = _ranking_labels(scores[scores["model"] == model]).assign(
        Relies=lambda d: d["relies"].map({True: "relies on the shortcut",
                                           False: "does not rely (left out)"}))
    y = alt.Y("Ranking:N", sort=RANKING_ORDER, title=None)
    x_title, x_scale = "rank of the planted item (1 = first)", alt.Scale(type="log", domainMin=1)
    x = alt.X("rank:Q", title=x_title, scale=x_scale)
    base = alt.Chart().encode(y=y, tooltip=[
        "dataset:N", "Ranking:N", "seeds:Q", "documents:Q", "Relies:N", "verdict:N",
        alt.Tooltip("rank:Q", format=".2f"), alt.Tooltip("rank_low:Q", format=".2f"),
        alt.Tooltip("rank_high:Q", format=".2f"), alt.Tooltip("precision:Q", format=".3f"),
        alt.Tooltip("mrr:Q", format=".3f")])
    rules = base.mark_rule(color="#666").encode(
        x=alt.X("rank_low:Q", title=x_title, scale=x_scale), x2="rank_high:Q")
    points = base.mark_point(filled=True, size=60).encode(
        x=x, color=_ranking_color(data), opacity=alt.condition(
            "datum.relies", alt.value(1.0), alt.value(0.3)))
    return alt.layer(rules, points, _reference_rule("x", 1.0), data=data).properties(
        width=_panel_width(data) + 60, height=170).facet(
        column=alt.Column("dataset:N", title=None)).properties(
        title=f"{model}: rank of the planted item per ranking (mean, 95% interval)")


def cell_dot_chart(table: pd.DataFrame, value: str, axis_title: str, title: str,
                   fmt: str = ".1%", low: str | None = None, high: str | None = None,
                   reference: float | None = None) -> alt.LayerChart | alt.FacetChart:
    """One compact panel for a chapter's findings: ``value`` per model (rows) and dataset
    (colour), with its interval from ``low`` to ``high`` when given and a dashed rule at
    ``reference``. ``table`` has one row per dataset x model."""
    data = table.assign(dataset=table["dataset"].astype(str), model=table["model"].astype(str))
    base = alt.Chart().encode(
        y=alt.Y("model:N", sort=MODEL_ORDER, title=None),
        yOffset=alt.YOffset("dataset:N"),
        color=alt.Color("dataset:N", title="dataset",
                        legend=alt.Legend(orient="bottom", columns=3)))
    axis = alt.Axis(format=fmt) if fmt.endswith("%") else alt.Axis()
    tooltip = ["dataset:N", "model:N", alt.Tooltip(f"{value}:Q", format=fmt)]
    layers: list[Any] = []
    if low and high:
        layers.append(base.mark_rule(strokeWidth=1.5).encode(
            x=alt.X(f"{low}:Q", title=axis_title, axis=axis), x2=f"{high}:Q"))
        tooltip += [alt.Tooltip(f"{low}:Q", format=fmt), alt.Tooltip(f"{high}:Q", format=fmt)]
    layers.append(base.mark_point(filled=True, size=40).encode(
        x=alt.X(f"{value}:Q", title=axis_title, axis=axis), tooltip=tooltip))
    if reference is not None:
        layers.append(_reference_rule("x", reference))
    return alt.layer(*layers, data=data).properties(
        width=520, height=alt.Step(4 if data["dataset"].nunique() > 3 else 8), title=title)


def verdict_overview_chart(verdicts: pd.DataFrame, columns: dict[str, str], title: str
                           ) -> alt.Chart:
    """One bar per claim (rows), split into its cells' verdicts: ``columns`` maps a count
    column of ``verdicts`` (e.g. :func:`attnlib.analysis.claims.claim_verdicts`'s
    ``holds``) to its label and colour key in :data:`VERDICT_COLORS`."""
    long = verdicts[["claim", *columns]].melt(id_vars=["claim"], value_vars=list(columns), var_name="column",
                         value_name="cells")
    long["verdict"] = long["column"].map(columns)
    order = list(dict.fromkeys(columns.values()))
    long["order"] = long["verdict"].map(order.index)
    colors = {**VERDICT_COLORS, "holds (robust)": VERDICT_COLORS["holds"],
              "fragile": VERDICT_COLORS["partly"],
              "fails (robust)": VERDICT_COLORS["does not hold"]}
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("claim:N", sort=list(verdicts["claim"]), title=None),
        x=alt.X("cells:Q", stack=True, title="dataset × model cells"),
        color=alt.Color("verdict:N", sort=order, title=None,
                        scale=alt.Scale(domain=order, range=[colors[v] for v in order]),
                        legend=alt.Legend(orient="bottom")),
        order=alt.Order("order:Q"),
        tooltip=["claim:N", "verdict:N", "cells:Q"],
    ).properties(width=420, height=alt.Step(16), title=title)
