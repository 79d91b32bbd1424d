"""Explorer payloads, the static heatmap, and the live widget driven through its API."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnlib.layer.divergence import js_divergence
from attnlib.layer.erasure import LinearHead, erase_and_renormalize
from attnlib.presentation.explorer import (
    build_explorer_payload,
    document_view,
    document_view_from_text,
    view_from_payload,
)
from attnlib.presentation.explorer_chart import explorer_chart, explorer_tables
from attnlib.presentation.heatmap import render_heatmap


def test_document_view_probabilities_match_the_model_and_the_erasure(small_imdb_run):
    run = small_imdb_run
    view = document_view(run, 3)
    head = LinearHead.from_model(run.model)
    from attnlib.data.batching import collate

    batch = collate(run.data.test, np.array([3]), "flan")
    with torch.no_grad():
        out = run.model(batch.tokens)
    torch.testing.assert_close(torch.as_tensor(view.probabilities()),
                               torch.softmax(out.logits[0].double(), -1), atol=1e-5, rtol=0)
    erase = torch.zeros(1, view.n_items, dtype=torch.bool)
    erase[0, [0, 2]] = True
    expected = torch.softmax(head(out.h.double(), erase_and_renormalize(out.alpha.double(),
                                                                        erase)), -1)[0]
    np.testing.assert_allclose(view.probabilities([0, 2]), expected.numpy(), atol=1e-12)
    np.testing.assert_allclose(view.probabilities(range(view.n_items)),
                               torch.softmax(head.bias, -1).numpy(), atol=1e-12)


def test_payload_round_trips_and_its_prefix_probabilities_are_consistent(small_imdb_run):
    payload = build_explorer_payload(small_imdb_run, n_docs=4)
    assert 1 <= len(payload["documents"]) <= 4
    for i, doc in enumerate(payload["documents"]):
        view = view_from_payload(payload, i)
        assert view.n_items == len(doc["items"]) == len(doc["alpha"])
        for ranking, probs in doc["prefix_probabilities"].items():
            order = view.order(ranking)
            assert len(probs) == view.n_items + 1
            # the payload keeps 8 significant digits
            np.testing.assert_allclose(probs[2], view.probabilities(order[:2]), atol=1e-6)


def test_explorer_tables_and_chart_are_built_from_the_payload(small_imdb_run):
    payload = build_explorer_payload(small_imdb_run, n_docs=2)
    items, contributions = explorer_tables(payload)
    n_items = sum(len(d["items"]) for d in payload["documents"])
    assert len(items) == n_items
    assert len(contributions) == n_items * len(payload["classes"])
    assert set(items["rank_attention"]) <= set(range(max(len(d["items"])
                                                         for d in payload["documents"])))
    spec = explorer_chart(payload, "t").to_dict()
    names = {p["name"] for p in spec["params"]}
    assert {"doc_t", "ranking_t", "k_t"} <= names


def test_typed_text_is_tokenised_like_the_data(small_imdb_run):
    view = document_view_from_text(small_imdb_run, "A wonderful film. I loved every minute!")
    assert view.items[:3] == ["A", "wonderful", "film"]
    assert abs(view.probabilities().sum() - 1) < 1e-12
    with pytest.raises(Exception, match="no tokens"):
        document_view_from_text(small_imdb_run, "   ")


def test_heatmap_is_self_contained_and_escapes_text():
    out = render_heatmap(["<b>bold</b>", "plain", "neg"], [0.5, 1.0, -1.0], "flan",
                         title="t", erased=[1])
    assert "<script" not in out and "http" not in out and "<link" not in out
    assert "&lt;b&gt;bold&lt;/b&gt;" in out
    assert "line-through" in out and "rgba(228,87,86" in out


def test_live_widget_shows_what_attnlib_computes(small_imdb_run, tmp_path):
    import json

    from attnlib.presentation.widgets import ErasureExplorer
    from attnlib.study import RunRecord

    payload = build_explorer_payload(small_imdb_run, n_docs=3)
    (tmp_path / "explorer.json").write_text(json.dumps(payload))
    record = RunRecord(small_imdb_run.config, tmp_path, "test")
    explorer = ErasureExplorer([record])
    explorer.set_document(1)
    view = view_from_payload(payload, 1)
    explorer.set_ranking("gradient")
    explorer.set_k(2)
    top2 = view.order("gradient")[:2]
    assert explorer.erased == set(top2)
    np.testing.assert_allclose(explorer.probabilities, view.probabilities(top2), atol=1e-12)
    explorer.toggle_item(top2[0])
    assert explorer.erased == {top2[1]}
    explorer.toggle_item(view.n_items - 1)
    expected = view.probabilities(sorted({top2[1], view.n_items - 1}))
    np.testing.assert_allclose(explorer.probabilities, expected, atol=1e-12)
    base = torch.log(torch.as_tensor(view.probabilities()))
    assert explorer.js == pytest.approx(float(js_divergence(base, torch.log(
        torch.as_tensor(expected)))), abs=1e-12)
    assert explorer.flipped == (int(expected.argmax()) != view.prediction)
    shown = explorer.output.value
    for p in expected:
        assert f"{p:.4f}" in shown
    # the widget's controls drive the same API
    explorer.k_slider.value = 1
    assert explorer.erased == {view.order("gradient")[0]}
    explorer._buttons[0].value = not explorer._buttons[0].value
    assert (0 in explorer.erased) == explorer._buttons[0].value


def test_explorers_offer_the_follow_up_rankings(small_imdb_run):
    """Leave-one-out comes from alpha, z and b (any payload); the input-level rankings
    from the model, stored in payloads built since (older payloads offer the rest)."""
    from attnlib.layer.erasure import leave_one_out_drop
    from attnlib.models.attribution import gradient_x_input
    from attnlib.presentation.explorer import EXPLORER_RANKINGS, INPUT_RANKINGS
    from attnlib.presentation.explorer_chart import payload_rankings

    run = small_imdb_run
    payload = build_explorer_payload(run, n_docs=2)
    doc = payload["documents"][0]
    view = view_from_payload(payload, 0)
    assert view.rankings == EXPLORER_RANKINGS + INPUT_RANKINGS
    from attnlib.data.batching import collate

    tokens = collate(run.data.test, np.array([doc["instance_id"]]), "flan").tokens
    with torch.no_grad():
        out = run.model(tokens)
    head = LinearHead.from_model(run.model)
    h, alpha = out.h.double(), out.alpha.double()
    pred = head(h, alpha).argmax(-1)
    np.testing.assert_allclose(view.scores("leave_one_out"), leave_one_out_drop(
        head.item_logits(h), alpha, head.bias, pred)[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(view.scores("input_gradient"),
                               gradient_x_input(run.model, tokens, pred)[0].numpy(), atol=1e-6)
    assert payload_rankings(payload) == EXPLORER_RANKINGS + INPUT_RANKINGS
    old = {**payload, "documents": [{k: v for k, v in d.items() if k != "input_scores"}
                                    for d in payload["documents"]]}
    assert payload_rankings(old) == EXPLORER_RANKINGS
    spec = explorer_chart(old, "o").to_dict()
    radio = [p for p in spec["params"] if p["name"] == "ranking_o"][0]
    assert radio["bind"]["options"] == list(EXPLORER_RANKINGS)
    with pytest.raises(Exception, match="unknown ranking"):
        view_from_payload(old, 0).scores("integrated_gradients")


def test_rounded_payload_weights_are_renormalised_so_erasures_stay_exact():
    # weights rounded to 8 digits sum to 1 only within 1e-8; with item logits in the
    # hundreds the leave-one-out formula (which assumes a distribution) then disagreed with
    # erasing the item by about 1e-6 before view_from_payload renormalised
    rng = np.random.default_rng(0)
    alpha = rng.dirichlet(np.ones(7))
    payload = {"classes": ["a", "b", "c"], "bias": [0.3, -0.2, 0.1], "documents": [{
        "doc_id": "d", "items": list("abcdefg"), "label": 0,
        "alpha": [float(f"{a:.8g}") for a in alpha],
        "item_logits": (rng.normal(size=(7, 3)) * 300).tolist(),
        "gradient": [0.0] * 7}]}
    assert abs(sum(payload["documents"][0]["alpha"]) - 1) > 1e-12
    view = view_from_payload(payload, 0)
    assert view.alpha.sum() == pytest.approx(1.0, abs=1e-15)
    p = view.probabilities()[view.prediction]
    by_erasing = [p - view.probabilities([i])[view.prediction] for i in range(7)]
    np.testing.assert_allclose(view.scores("leave_one_out"), by_erasing, atol=1e-12)
