"""The kernel-free erasure explorer: an Altair (Vega-Lite) view that recomputes the class
probabilities in the browser as the reader clicks items or moves the "erase the top k"
slider. Rendering only: it draws a payload of :func:`attnlib.presentation.explorer.build_explorer_payload`
and evaluates, in Vega expressions, the same formula as :func:`attnlib.layer.erasure.erased_logits`.
Explained in the book chapter "Explore a model" (book/explore.ipynb).
"""

from __future__ import annotations

import html
import json
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from .explorer import EXPLORER_RANKINGS, INPUT_RANKINGS, view_from_payload

CHAR_PX, GAP_PX, WIDTH_PX, LINE_PX = 6.6, 8.0, 560.0, 20.0
HAN_CHARS = 80
RANK_FIELDS = {r: f"rank_{r}" for r in EXPLORER_RANKINGS + INPUT_RANKINGS}
SCORE_FIELDS = {r: f"score_{r}" for r in EXPLORER_RANKINGS + INPUT_RANKINGS}
LABELS = {"attention": "attention", "gradient": "gradient",
          "grad_x_attention": "gradient × attention", "leave_one_out": "leave-one-out",
          "input_gradient": "input gradient", "integrated_gradients": "integrated gradients"}


def payload_rankings(payload: dict[str, Any]) -> tuple[str, ...]:
    """The rankings every document of ``payload`` has scores for."""
    views = [view_from_payload(payload, d) for d in range(len(payload["documents"]))]
    return tuple(r for r in EXPLORER_RANKINGS + INPUT_RANKINGS
                 if all(r in v.rankings for v in views))


def _sig(value: float) -> float:
    """10 significant digits: far below the 1e-4 the page shows, and a smaller page."""
    return float(f"{float(value):.10g}")


def _layout(items: list[str], arch: str) -> list[tuple[float, float, float, str]]:
    """(x, y, width, shown text) per item: HAN sentences one per line, FLAN tokens wrapped."""
    out = []
    if arch == "han":
        for i, item in enumerate(items):
            text = item if len(item) <= HAN_CHARS else item[: HAN_CHARS - 1] + "…"
            out.append((0.0, i * LINE_PX, len(text) * CHAR_PX + GAP_PX, text))
        return out
    x = y = 0.0
    for item in items:
        width = len(item) * CHAR_PX + GAP_PX
        if x > 0 and x + width > WIDTH_PX:
            x, y = 0.0, y + LINE_PX
        out.append((x, y, width, item))
        x += width
    return out


def explorer_tables(payload: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(items, contributions): one row per item with its layout, ranks and normalised
    scores; one row per item x class with alpha_i, z_ic, b_c and the original output."""
    item_rows, z_rows = [], []
    rankings = payload_rankings(payload)
    for d, doc in enumerate(payload["documents"]):
        view = view_from_payload(payload, d)
        ranks = {r: np.argsort(view.order(r)) for r in rankings}
        scores = {}
        for r in rankings:
            s = view.scores(r)
            scale = float(np.max(np.abs(s))) or 1.0
            scores[r] = s / scale
        base = view.probabilities()
        for i, (x, y, width, text) in enumerate(_layout(view.items, payload["arch"])):
            common = {"doc": d, "item": i, **{RANK_FIELDS[r]: int(ranks[r][i])
                                              for r in rankings}}
            item_rows.append({**common, "x": round(x, 1), "x2": round(x + width - 3, 1), "y": y,
                              "text": text, "full_text": view.items[i],
                              "alpha": _sig(view.alpha[i]),
                              **{SCORE_FIELDS[r]: round(float(scores[r][i]), 4)
                                 for r in rankings}})
            for c, name in enumerate(payload["classes"]):
                z_rows.append({**common, "class_index": c, "class": name,
                               "alpha": _sig(view.alpha[i]),
                               "z": _sig(view.item_logits[i, c]),
                               "bias": _sig(view.bias[c]), "base_prob": _sig(base[c]),
                               "pred": int(base.argmax())})
    return pd.DataFrame(item_rows), pd.DataFrame(z_rows)


def _pick_expr(fields: dict[str, str], rankings: tuple[str, ...]) -> str:
    parts = [f"ranking == '{r}' ? datum.{fields[r]}" for r in rankings[:-1]]
    return " : ".join(parts + [f"datum.{fields[rankings[-1]]}"])


def explorer_chart(payload: dict[str, Any], key: str) -> alt.VConcatChart:
    """The interactive explorer for one run's payload; ``key`` makes its parameter names
    unique on a page that shows several explorers."""
    items, contributions = explorer_tables(payload)
    docs = payload["documents"]
    classes = payload["classes"]
    doc = alt.param(name=f"doc_{key}", value=0, bind=alt.binding_select(
        options=list(range(len(docs))), name="Document ",
        labels=[f"{i + 1}. {d['doc_id']} (gold: {classes[d['label']]}, "
                f"{len(d['items'])} items)" for i, d in enumerate(docs)]))
    rankings = payload_rankings(payload)
    ranking = alt.param(name="ranking_" + key, value="attention", bind=alt.binding_radio(
        options=list(rankings), labels=[LABELS[r] for r in rankings], name="Ranking "))
    k = alt.param(name=f"k_{key}", value=0, bind=alt.binding_range(
        min=0, max=max(len(d["items"]) for d in docs), step=1, name="Erase the top k "))
    pick = alt.selection_point(name=f"pick_{key}", fields=["doc", "item"], toggle="true",
                               on="click", clear="dblclick", empty=False)
    sub = {"ranking": f"ranking_{key}", "k": f"k_{key}"}
    rank = _pick_expr(RANK_FIELDS, rankings).replace("ranking ==", f"{sub['ranking']} ==")
    score = _pick_expr(SCORE_FIELDS, rankings).replace("ranking ==", f"{sub['ranking']} ==")
    erased = f"(({rank}) < {sub['k']}) != vlSelectionTest('pick_{key}_store', datum)"

    base = alt.Chart(items).transform_filter(f"datum.doc == doc_{key}").transform_calculate(
        score=score, erased=erased)
    n_lines = int(items.groupby("doc")["y"].max().max() / LINE_PX) + 1 if len(items) else 1
    y_scale = alt.Scale(domain=[-LINE_PX / 2, n_lines * LINE_PX], reverse=True, nice=False)
    x_scale = alt.Scale(domain=[0, WIDTH_PX + 40], nice=False)
    tip = [alt.Tooltip("full_text:N", title="item"), alt.Tooltip("alpha:Q", format=".4f"),
           alt.Tooltip("score:Q", title="score (scaled)", format=".3f")]
    boxes = base.mark_rect(cornerRadius=3, height=LINE_PX - 4).encode(
        x=alt.X("x:Q", scale=x_scale, axis=None), x2="x2:Q",
        y=alt.Y("y:Q", scale=y_scale, axis=None),
        color=alt.Color("score:Q", scale=alt.Scale(scheme="redblue", domain=[-1.4, 1.4]),
                        legend=alt.Legend(title="ranking score (scaled to ±1)", orient="bottom",
                                          direction="horizontal", format=".1f",
                                          values=[-1, -0.5, 0, 0.5, 1], gradientLength=160)),
        opacity=alt.condition("datum.erased", alt.value(0.12), alt.value(0.75)),
        stroke=alt.condition(pick, alt.value("black"), alt.value(None)), tooltip=tip,
    ).add_params(pick)
    words = base.mark_text(align="left", baseline="middle", dx=3, fontSize=12).encode(
        x=alt.X("x:Q", scale=x_scale, axis=None), y=alt.Y("y:Q", scale=y_scale, axis=None),
        text="text:N", opacity=alt.condition("datum.erased", alt.value(0.35), alt.value(1.0)),
        tooltip=tip)
    strike = base.transform_filter("datum.erased").mark_rule(color="#333").encode(
        x=alt.X("x:Q", scale=x_scale, axis=None), x2="x2:Q",
        y=alt.Y("y:Q", scale=y_scale, axis=None))
    text_view = alt.layer(boxes, words, strike).properties(
        width=WIDTH_PX + 40, height=max(60, n_lines * LINE_PX + 10),
        title=alt.Title(f"{payload['label']}: click items to erase or restore them "
                        "(double-click clears)", anchor="start", fontSize=13))

    out = alt.Chart(contributions).transform_filter(f"datum.doc == doc_{key}").transform_calculate(
        erased=erased).transform_calculate(
        w="datum.erased ? 0 : datum.alpha").transform_calculate(wz="datum.w * datum.z"
    ).transform_aggregate(
        num="sum(wz)", den="sum(w)", erased_items="sum(erased)", n_rows="count()",
        groupby=["class_index", "class", "bias", "base_prob", "pred"],
    ).transform_calculate(
        logit="datum.den > 0 ? datum.num / datum.den + datum.bias : datum.bias"
    ).transform_joinaggregate(top="max(logit)").transform_calculate(
        e="exp(datum.logit - datum.top)").transform_joinaggregate(total="sum(e)"
    ).transform_calculate(prob="datum.e / datum.total").transform_joinaggregate(
        best="max(prob)").transform_calculate(
        m="(datum.prob + datum.base_prob) / 2",
        term="(datum.base_prob > 0 ? datum.base_prob * log(datum.base_prob / datum.m) : 0)"
             " + (datum.prob > 0 ? datum.prob * log(datum.prob / datum.m) : 0)",
        label="datum.class + ': ' + format(datum.prob, '.6f')")
    bars = out.mark_bar(color="#4c78a8").encode(
        y=alt.Y("class:N", sort=alt.SortField("class_index"), title=None),
        x=alt.X("prob:Q", scale=alt.Scale(domain=[0, 1]), title="probability after erasure"),
        tooltip=["class:N", alt.Tooltip("prob:Q", format=".6f"),
                 alt.Tooltip("base_prob:Q", title="original", format=".6f")])
    original = out.mark_tick(color="black", thickness=2, size=14).encode(
        y=alt.Y("class:N", sort=alt.SortField("class_index")), x="base_prob:Q")
    labels = out.mark_text(align="left", dx=4, fontSize=11).encode(
        y=alt.Y("class:N", sort=alt.SortField("class_index")),
        x=alt.value(WIDTH_PX * 0.55 + 6), text="label:N")
    probs_view = alt.layer(bars, original, labels).properties(
        width=WIDTH_PX * 0.55, height=max(40, 18 * len(classes)),
        title=alt.Title("Class probabilities (tick: original)", anchor="start", fontSize=13))
    verdict = out.transform_joinaggregate(js="sum(term)").transform_filter(
        "datum.prob == datum.best").transform_calculate(
        text="(datum.class_index != datum.pred ? 'DECISION FLIPPED' : 'decision unchanged')"
             " + ' | erased ' + datum.erased_items + ' of ' + datum.n_rows + ' items'"
             " + ' | JS divergence ' + format(datum.js / 2, '.4f') + ' nats'"
    ).mark_text(align="left", fontSize=13, fontWeight="bold").encode(
        text="text:N", x=alt.value(0), y=alt.value(10),
        color=alt.condition("datum.class_index != datum.pred", alt.value("#c0392b"),
                            alt.value("#2d6a2d"))).properties(width=WIDTH_PX, height=20)
    return alt.vconcat(text_view, probs_view, verdict, spacing=8).add_params(
        doc, ranking, k).properties(
        usermeta={"attnlib_explorer": key}).configure_view(stroke=None)


def explorer_data_html(payload: dict[str, Any], key: str) -> str:
    """A hidden JSON copy of the payload next to the chart, so that tests (and curious
    readers) can check the chart's numbers against attnlib's."""
    data = json.dumps({"key": key, "payload": payload}).replace("</", "<\\/")
    return (f'<script type="application/json" class="attnlib-explorer-data" '
            f'data-key="{html.escape(key)}">{data}</script>')
