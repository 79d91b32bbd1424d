"""The follow-up tests at the tested layer (issue 16): leave-one-out, permutation and
agreement, each against a plain per-document reference loop, with their invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from attnlib.erasure import LinearHead, erase_and_renormalize, leave_one_out_drop
from attnlib.layer_tests import (agreement, kendall_tau, permutation_alphas,
                                 permutation_outputs, permutation_summary)
from attnlib.rankings import list_rankings
from attnlib.suite import SuiteConfig, run_erasure_tests


def _layer(seed: int = 0, b: int = 5, n: int = 7, d: int = 4, c: int = 3):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(b, n, d, generator=g, dtype=torch.float64)
    lengths = torch.tensor([n, n - 2, 2, n - 1, 3])[:b]
    mask = torch.arange(n)[None, :] < lengths[:, None]
    alpha = torch.where(mask, torch.rand(b, n, generator=g, dtype=torch.float64) + 0.05, 0.0)
    alpha = alpha / alpha.sum(1, keepdim=True)
    head = LinearHead(torch.randn(c, d, generator=g, dtype=torch.float64),
                      torch.randn(c, generator=g, dtype=torch.float64))
    return h, alpha, mask, head


def test_leave_one_out_equals_erasing_each_item_alone():
    h, alpha, mask, head = _layer()
    logits = head(h, alpha)
    pred = logits.argmax(-1)
    fast = leave_one_out_drop(head.item_logits(h), alpha, head.bias, pred)
    for b in range(len(h)):
        p = torch.softmax(logits[b], -1)[pred[b]]
        for i in range(int(mask[b].sum())):
            erase = torch.zeros_like(mask[b])
            erase[i] = True
            q = torch.softmax(head(h[b:b + 1], erase_and_renormalize(alpha[b:b + 1],
                                                                     erase[None]))[0], -1)
            assert fast[b, i].item() == pytest.approx((p - q[pred[b]]).item(), abs=1e-12)


def test_leave_one_out_of_a_single_item_leaves_the_bias():
    h, _alpha, _mask, head = _layer(b=1, n=1)
    alpha = torch.ones(1, 1, dtype=torch.float64)
    pred = head(h, alpha).argmax(-1)
    drop = leave_one_out_drop(head.item_logits(h), alpha, head.bias, pred)
    expected = (torch.softmax(head(h, alpha), -1)[0, pred]
                - torch.softmax(head.bias, -1)[pred])
    assert drop[0, 0].item() == pytest.approx(expected.item(), abs=1e-12)


def test_permutations_shuffle_only_the_real_items():
    _h, alpha, mask, _head = _layer()
    ids = np.arange(5) + 100
    perms = permutation_alphas(alpha, mask, ids, n_permutations=20, seed=3)
    assert perms.shape == (5, 20, 7)
    for b in range(5):
        for k in range(20):
            assert torch.allclose(torch.sort(perms[b, k][mask[b]]).values,
                                  torch.sort(alpha[b][mask[b]]).values)
            assert (perms[b, k][~mask[b]] == 0).all()
    # the same document gets the same permutations in another batch
    again = permutation_alphas(alpha[2:3], mask[2:3], ids[2:3], n_permutations=20, seed=3)
    assert torch.equal(again[0], perms[2])


def test_permutation_outputs_equal_a_reference_loop():
    h, alpha, mask, head = _layer(seed=1)
    ids = np.arange(5)
    tvd, js = permutation_outputs(head.item_logits(h), alpha, mask, head.bias, ids, 30, 0)
    perms = permutation_alphas(alpha, mask, ids, 30, 0)
    for b in range(5):
        p = torch.softmax(head(h[b:b + 1], alpha[b:b + 1])[0], -1)
        for k in range(30):
            q = torch.softmax(head(h[b:b + 1], perms[b, k][None])[0], -1)
            assert tvd[b, k].item() == pytest.approx(0.5 * (p - q).abs().sum().item(),
                                                     abs=1e-12)
    summary = permutation_summary(tvd, js)
    assert summary["median_tvd"].shape == (5,) and (summary["median_js"] >= 0).all()


def test_permuting_uniform_attention_changes_nothing():
    h, _alpha, mask, head = _layer(seed=2)
    uniform = mask.double() / mask.sum(1, keepdim=True)
    tvd, js = permutation_outputs(head.item_logits(h), uniform, mask, head.bias,
                                  np.arange(5), 25, 0)
    assert tvd.abs().max().item() < 1e-12 and js.max().item() < 1e-12
    assert permutation_summary(tvd, js)["barely_moves"].all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=2, max_size=12), st.data())
def test_kendall_tau_matches_scipy_and_stays_in_range(a, data):
    b = data.draw(st.lists(st.integers(-3, 3), min_size=len(a), max_size=len(a)))
    ours = kendall_tau(np.array(a), np.array(b))
    theirs = kendalltau(a, b).statistic
    if np.isnan(theirs):
        assert np.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=1e-12) and -1 <= ours <= 1


def test_agreement_of_attention_with_itself_is_one():
    _h, alpha, mask, _head = _layer(seed=4)
    assert np.allclose(agreement(alpha, alpha, mask), 1.0)
    assert np.allclose(agreement(alpha, -alpha, mask), -1.0)


def test_leave_one_out_is_a_ranking_the_suite_runs(small_imdb_run):
    assert "leave_one_out" in list_rankings()
    suite = SuiteConfig(rankings=("attention", "leave_one_out"),
                        single_rankings=("attention", "leave_one_out"), max_test_docs=20,
                        random_seeds=1)
    fast = run_erasure_tests(small_imdb_run, suite, progress=False)
    slow = run_erasure_tests(small_imdb_run, suite, engine="reference", progress=False)
    assert set(fast["ranking"]) == {"attention", "leave_one_out"}
    assert fast["first_flip_k"].equals(slow["first_flip_k"])
