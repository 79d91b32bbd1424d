"""The multi-start adversarial search (issue 25): known answers on hand-made documents
(identical items, two items solved on a fine 1-D scan, three items on a simplex grid),
feasibility, batch independence, never below the first search, and how its table
replaces the first search's JS and the verdicts a lower bound cannot give."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from attnlib.analysis.followup_claims import (
    FAR_ATTENTION_JS,
    SINGLE_START_NOTE,
    lower_bound_verdicts,
    search_comparison,
)
from attnlib.layer.adversarial import (
    AdversarialSearch,
    search_adversarial,
    simplex_projection,
)
from attnlib.layer.adversarial_results import (
    MULTI_START,
    SINGLE_START,
    same_model_check,
    with_adversarial,
)
from attnlib.layer.followup import distribution_js

FAST = AdversarialSearch(steps=150, logit_steps=150, random_rays=16)


def _js_np(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(p > 0, p * np.log(p / m), 0.0).sum(-1)
        kq = np.where(q > 0, q * np.log(q / m), 0.0).sum(-1)
    return 0.5 * (kp + kq)


def _tvd_np(w: np.ndarray, z: np.ndarray, bias: np.ndarray, p: np.ndarray) -> np.ndarray:
    logits = w @ z + bias
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return 0.5 * np.abs(e / e.sum(-1, keepdims=True) - p).sum(-1)


def _document(seed: int, n: int, c: int = 3, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(1, n, c, generator=g, dtype=torch.float64)
    alpha = torch.rand(1, n, generator=g, dtype=torch.float64) + 0.05
    return z, alpha / alpha.sum(), torch.ones(1, n, dtype=torch.bool), torch.zeros(
        c, dtype=torch.float64)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def test_identical_items_reach_the_farthest_vertex_exactly():
    """When every item has the same z_i the output ignores attention: the answer is a
    one-hot attention on the smallest weight, whose JS has a closed form."""
    alpha = torch.tensor([[0.4, 0.3, 0.2, 0.1]], dtype=torch.float64)
    z = torch.tensor([[[1.0, -1.0]] * 4], dtype=torch.float64)
    found = search_adversarial(z, alpha, torch.ones(1, 4, dtype=torch.bool),
                               torch.zeros(2, dtype=torch.float64), np.arange(1), FAST)
    expected = max(float(_js_np(np.eye(4)[j], alpha[0].numpy())) for j in range(4))
    assert found.js.item() == pytest.approx(expected, abs=1e-12)
    assert found.weights[0].argmax().item() == 3


@pytest.mark.parametrize("seed", range(6))
def test_two_items_match_a_fine_scan_of_the_edge(seed):
    """A 2-item document's attentions are s e_1 + (1 - s) e_2: the exact answer is the
    feasible s farthest from alpha, found here on a 200,001-point scan."""
    z, alpha, mask, bias = _document(seed, 2, scale=0.5)
    s = np.linspace(0, 1, 200_001)
    w = np.stack([s, 1 - s], 1)
    p = _softmax(alpha[0].numpy() @ z[0].numpy())
    ok = _tvd_np(w, z[0].numpy(), bias.numpy(), p) <= 0.01
    best = float(_js_np(w[ok], alpha[0].numpy()[None]).max())
    found = search_adversarial(z, alpha, mask, bias, np.arange(1), FAST)
    assert found.js.item() >= best - 1e-5  # the scan's own resolution
    assert found.js.item() <= best + 1e-4  # and nothing infeasible was reported


@pytest.mark.parametrize("seed", range(4))
def test_three_items_reach_a_simplex_grid_optimum(seed):
    z, alpha, mask, bias = _document(seed + 10, 3, scale=0.7)
    step = 1 / 400
    a_grid = np.arange(0, 1 + step / 2, step)
    w = np.array([(x, y, 1 - x - y) for x in a_grid for y in a_grid if x + y <= 1 + 1e-12])
    w = np.clip(w, 0, None)
    p = _softmax(alpha[0].numpy() @ z[0].numpy())
    ok = _tvd_np(w, z[0].numpy(), bias.numpy(), p) <= 0.01
    grid_best = float(_js_np(w[ok], alpha[0].numpy()[None]).max()) if ok.any() else 0.0
    found = search_adversarial(z, alpha, mask, bias, np.arange(1), AdversarialSearch())
    assert found.js.item() >= grid_best - 2e-3


def test_the_answer_is_feasible_a_distribution_and_recomputes():
    g = torch.Generator().manual_seed(3)
    b, n, c = 5, 9, 4
    z = torch.randn(b, n, c, generator=g, dtype=torch.float64)
    mask = torch.arange(n)[None, :] < torch.tensor([9, 7, 2, 5, 3])[:, None]
    alpha = torch.where(mask, torch.rand(b, n, generator=g, dtype=torch.float64) + 0.05, 0.0)
    alpha = alpha / alpha.sum(1, keepdim=True)
    bias = torch.randn(c, generator=g, dtype=torch.float64)
    found = search_adversarial(z, alpha, mask, bias, np.arange(b), FAST)
    w = found.weights
    assert torch.allclose(w.sum(1), torch.ones(b, dtype=torch.float64), atol=1e-12)
    assert (w[~mask] == 0).all() and (w >= 0).all()
    p = torch.softmax(torch.einsum("bn,bnc->bc", alpha, z) + bias, -1)
    q = torch.softmax(torch.einsum("bn,bnc->bc", w, z) + bias, -1)
    tvd = 0.5 * (q - p).abs().sum(1)
    assert (tvd <= 0.01 + 1e-12).all() and torch.allclose(tvd, found.tvd, atol=1e-12)
    assert torch.allclose(distribution_js(w, alpha), found.js, atol=1e-12)
    assert (found.js >= found.first_search_js - 1e-12).all()  # never below the first search


def test_a_document_gets_the_same_answer_alone_as_in_a_padded_batch():
    g = torch.Generator().manual_seed(7)
    b, n, c = 4, 8, 3
    lengths = [8, 3, 5, 2]
    z = torch.randn(b, n, c, generator=g, dtype=torch.float64)
    mask = torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]
    alpha = torch.where(mask, torch.rand(b, n, generator=g, dtype=torch.float64) + 0.05, 0.0)
    alpha = alpha / alpha.sum(1, keepdim=True)
    bias = torch.zeros(c, dtype=torch.float64)
    ids = np.arange(b) + 100
    batch = search_adversarial(z, alpha, mask, bias, ids, FAST)
    for i, k in enumerate(lengths):
        alone = search_adversarial(z[i:i + 1, :k], alpha[i:i + 1, :k], mask[i:i + 1, :k],
                                   bias, ids[i:i + 1], FAST)
        assert alone.js.item() == pytest.approx(batch.js[i].item(), abs=1e-6)


def test_simplex_projection_is_the_nearest_distribution():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(20, 6, generator=g, dtype=torch.float64)
    mask = torch.arange(6)[None, :] < torch.randint(1, 7, (20, 1), generator=g)
    w = simplex_projection(v, mask)
    assert torch.allclose(w.sum(1), torch.ones(20, dtype=torch.float64))
    assert (w[~mask] == 0).all() and (w >= 0).all()
    # no random distribution on the same support is nearer to v
    for _ in range(200):
        r = torch.where(mask, torch.rand(20, 6, generator=g, dtype=torch.float64), 0.0)
        r = r / r.sum(1, keepdim=True)
        near = ((w - v) * mask).pow(2).sum(1)
        assert (near <= ((r - v) * mask).pow(2).sum(1) + 1e-12).all()


@pytest.mark.parametrize("bad", [{"epsilon": 0.0}, {"steps": 0}, {"polish_starts": -1},
                                 {"logit_steps": 1.5}, {"lr": 0.0}])
def test_bad_settings_are_refused_with_their_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
        AdversarialSearch(**bad)


def _layer_rows(adv_js: float, n: int = 4, dataset: str = "d", model: str = "HANrnn"):
    return pd.DataFrame({"run": "r", "dataset": dataset, "model": model, "model_seed": 0,
                         "instance_id": np.arange(n), "n_items": 3, "pred": 1,
                         "perm_median_tvd": pd.array([0.1] * n, dtype="Float64"),
                         "adv_js": pd.array([adv_js] * n, dtype="Float64"),
                         "adv_tvd": pd.array([0.01] * n, dtype="Float64")})


def _adversarial_rows(adv_js: float, first: float, n: int = 4):
    return pd.DataFrame({"dataset": "d", "model": "HANrnn", "model_seed": 0,
                         "instance_id": np.arange(n), "pred": 1,
                         "perm_lower_median_tvd": 0.1, "adv_js": adv_js, "adv_tvd": 0.009,
                         "first_search_js": first})


def test_the_multi_start_table_replaces_the_first_search_and_says_so():
    merged = with_adversarial(_layer_rows(0.05), _adversarial_rows(0.6, 0.05).iloc[:3])
    assert merged["adv_js"].tolist()[:3] == [0.6] * 3 and merged["adv_js"].iloc[3] == 0.05
    assert merged["adv_search"].tolist() == [MULTI_START] * 3 + [SINGLE_START]
    assert with_adversarial(_layer_rows(0.05), None)["adv_search"].eq(SINGLE_START).all()


def test_a_retrained_checkpoint_must_make_the_same_decisions():
    layer, adv = _layer_rows(0.05), _adversarial_rows(0.6, 0.05)
    assert same_model_check(layer, adv) is None
    changed = adv.assign(pred=[1, 0, 1, 1])
    assert "prediction differs on 1 of 4" in same_model_check(layer, changed)
    moved = adv.assign(perm_lower_median_tvd=[0.1, 0.2, 0.1, 0.1])
    assert "permutation median TVD differs" in same_model_check(layer, moved)
    assert "different documents" in same_model_check(layer, adv.iloc[:3])


def test_a_lower_bound_can_show_a_claim_holds_but_not_that_it_fails():
    evaluated = pd.DataFrame({
        "claim": ["adversarial_attention_exists"] * 2 + ["permutation_barely_moves"],
        "dataset": ["d", "e", "d"], "model": ["HANrnn"] * 3,
        "verdict": ["does not hold", "does not hold", "does not hold"], "note": ""})
    layer = pd.concat([with_adversarial(_layer_rows(0.05), None),
                       with_adversarial(_layer_rows(0.05, dataset="e"),
                                        _adversarial_rows(0.05, 0.05))])
    out = lower_bound_verdicts(evaluated, layer).set_index(["claim", "dataset"])
    assert out.loc[("adversarial_attention_exists", "d"), "verdict"] == "not testable"
    assert out.loc[("adversarial_attention_exists", "d"), "note"] == SINGLE_START_NOTE
    # the stronger search covers cell e; permutation does not rest on the search
    assert out.loc[("adversarial_attention_exists", "e"), "verdict"] == "does not hold"
    assert out.loc[("permutation_barely_moves", "d"), "verdict"] == "does not hold"


def test_the_search_comparison_counts_what_the_stronger_search_adds():
    adv = _adversarial_rows(0.6, 0.05).assign(run="r", arch="han", encoder="rnn", n_items=3)
    adv.loc[0, "adv_js"] = 0.055  # raised by less than 0.01
    row = search_comparison(adv).iloc[0]
    assert row["raised by > 0.01"] == pytest.approx(0.75)
    assert row["far, single-start"] == 0.0 and row["far, multi-start"] == pytest.approx(0.75)
    assert math.isclose(FAR_ATTENTION_JS, math.log(2) / 2)
