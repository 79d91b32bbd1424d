"""The erasure engine: properties of the primitives, the vectorised engine against the
plain reference loop, and the gradient ranking against finite differences."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlib.config import ModelConfig
from attnlib.layer.divergence import LN2, js_divergence
from attnlib.layer.erasure import (
    LinearHead,
    erase_and_renormalize,
    first_flip,
    predicted_class_gradient,
    prefix_erasure_logits,
)
from attnlib.layer.rankings import list_rankings, order_from_scores
from attnlib.layer.suite import SuiteConfig, prepare_batch, reference_outcome, vectorized_outcome
from attnlib.models import build_model

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def attention_case(draw, max_items=12, max_classes=5):
    n = draw(st.integers(1, max_items))
    c = draw(st.integers(2, max_classes))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    alpha = torch.softmax(torch.randn(1, n, generator=g, dtype=torch.float64) * 3, -1)
    h = torch.randn(1, n, 4, generator=g, dtype=torch.float64)
    head = LinearHead(torch.randn(c, 4, generator=g, dtype=torch.float64),
                      torch.randn(c, generator=g, dtype=torch.float64))
    erase = torch.rand(1, n, generator=g) < draw(st.floats(0, 1))
    return alpha, h, head, erase


@SETTINGS
@given(attention_case())
def test_renormalised_weights_sum_to_one_and_keep_proportions(case):
    alpha, _h, _head, erase = case
    out = erase_and_renormalize(alpha, erase)
    assert not torch.isnan(out).any()
    assert (out[erase] == 0).all()
    if erase.all():
        assert (out == 0).all()
    else:
        assert math.isclose(float(out.sum()), 1.0, rel_tol=1e-12)
        kept = ~erase
        ratio = out[kept] / alpha[kept]
        assert torch.allclose(ratio, ratio[0].expand_as(ratio))


@SETTINGS
@given(attention_case())
def test_erasing_nothing_reproduces_and_everything_gives_the_bias(case):
    alpha, h, head, _erase = case
    n = alpha.shape[1]
    order = torch.arange(n).view(1, 1, n)
    prefix = prefix_erasure_logits(head.item_logits(h), alpha, order, head.bias)
    torch.testing.assert_close(prefix[0, 0, 0], head(h, alpha)[0], rtol=1e-10, atol=1e-10)
    assert torch.equal(prefix[0, 0, n], head.bias)
    nothing = torch.zeros_like(alpha, dtype=torch.bool)
    torch.testing.assert_close(head(h, erase_and_renormalize(alpha, nothing)), head(h, alpha))
    assert torch.equal(head(h, erase_and_renormalize(alpha, ~nothing))[0], head.bias)


@SETTINGS
@given(attention_case())
def test_prefix_erasure_equals_one_erasure_at_a_time(case):
    alpha, h, head, _erase = case
    n = alpha.shape[1]
    order = torch.randperm(n).view(1, 1, n)
    prefix = prefix_erasure_logits(head.item_logits(h), alpha, order, head.bias)
    for k in range(n + 1):
        erase = torch.zeros_like(alpha, dtype=torch.bool)
        erase[0, order[0, 0, :k]] = True
        expected = head(h, erase_and_renormalize(alpha, erase))
        torch.testing.assert_close(prefix[0, 0, k], expected[0], rtol=1e-9, atol=1e-9)


@SETTINGS
@given(attention_case(), st.sampled_from(["attention", "reverse_attention", "gradient"]))
def test_items_that_all_carry_the_same_vector_never_flip(case, ranking):
    alpha, h, head, _erase = case
    n = alpha.shape[1]
    same = h[:, :1].expand_as(h).contiguous()
    logits = head(same, alpha)
    pred = logits.argmax(-1)
    scores = {"attention": alpha, "reverse_attention": -alpha,
              "gradient": predicted_class_gradient(head, same, alpha, pred)}[ranking]
    order = order_from_scores(scores, torch.ones_like(alpha, dtype=torch.bool)).unsqueeze(1)
    prefix = prefix_erasure_logits(head.item_logits(same), alpha, order, head.bias)
    # every partial erasure leaves the same attended vector; only erasing all changes it
    for k in range(n):
        assert int(prefix[0, 0, k].argmax()) == int(pred)
    flips = first_flip(prefix[:, :, :n], pred, torch.tensor([n - 1]))
    assert int(flips[0, 0]) == 0


@SETTINGS
@given(st.integers(2, 6), st.integers(0, 10_000))
def test_js_is_symmetric_nonnegative_and_at_most_ln2(classes, seed):
    g = torch.Generator().manual_seed(seed)
    p, q = torch.randn(2, 8, classes, generator=g, dtype=torch.float64) * 10
    js_pq, js_qp = js_divergence(p, q), js_divergence(q, p)
    torch.testing.assert_close(js_pq, js_qp)
    assert (js_pq >= 0).all() and (js_pq <= LN2 + 1e-12).all()
    assert torch.allclose(js_divergence(p, p), torch.zeros(8, dtype=torch.float64), atol=1e-12)
    far = torch.tensor([[100.0, -100.0]], dtype=torch.float64)
    assert math.isclose(float(js_divergence(far, far.flip(-1))), LN2, rel_tol=1e-9)


@SETTINGS
@given(attention_case())
def test_gradient_matches_finite_differences(case):
    alpha, h, head, _erase = case
    pred = head(h, alpha).argmax(-1)
    grad = predicted_class_gradient(head, h, alpha, pred)
    eps = 1e-6
    for i in range(alpha.shape[1]):
        bumped_up, bumped_down = alpha.clone(), alpha.clone()
        bumped_up[0, i] += eps
        bumped_down[0, i] -= eps
        p_up = torch.softmax(head(h, bumped_up), -1)[0, pred]
        p_down = torch.softmax(head(h, bumped_down), -1)[0, pred]
        fd = float((p_up - p_down) / (2 * eps))
        assert math.isclose(float(grad[0, i]), fd, rel_tol=1e-5, abs_tol=1e-8)


def test_rankings_registry():
    assert {"attention", "reverse_attention", "random", "gradient",
            "grad_x_attention"} <= set(list_rankings())


def test_order_puts_padding_last_and_breaks_ties_by_index():
    scores = torch.tensor([[0.2, 0.5, 0.5, 0.9]])
    mask = torch.tensor([[True, True, True, False]])
    assert order_from_scores(scores, mask).tolist() == [[1, 2, 0, 3]]


# --- engines on random models and on a trained model --------------------------------------


class _Run:
    """The parts of a TrainedRun that prepare_batch needs."""

    def __init__(self, model):
        self.model = model


def _compare(pb, suite):
    v, r = vectorized_outcome(pb, suite), reference_outcome(pb, suite)
    assert np.array_equal(v.first_k, r.first_k)
    np.testing.assert_allclose(v.mass, r.mass, rtol=0, atol=1e-12)
    for name in ("js_top", "js_random"):
        np.testing.assert_allclose(getattr(v, name), getattr(r, name), rtol=0, atol=1e-6)
    for name in ("top_item", "random_item", "flip_top", "flip_random"):
        assert np.array_equal(getattr(v, name), getattr(r, name)), name
    return v


def _random_model_and_batch(arch: str, encoder: str, n_docs: int, n_classes: int, seed: int
                            ) -> tuple[torch.nn.Module, torch.Tensor]:
    """An untrained model and a batch of token ids with some shorter documents."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(40 + 10 * seed, 12)).astype(np.float32)
    config = ModelConfig(arch=arch, encoder=encoder, embedding_dim=12, rnn_hidden=5,
                         conv_filters=4)
    model = build_model(config, emb, n_classes, seed=seed + 1).eval()
    shape = (n_docs, 7, 5) if arch == "han" else (n_docs, 23)
    tokens = torch.randint(1, len(emb), shape,
                           generator=torch.Generator().manual_seed(seed + 2))
    tokens[0, 3:] = 0
    if arch == "flan":
        tokens[1, 2:] = 0
    return model, tokens


@pytest.mark.parametrize("arch", ["han", "flan"])
@pytest.mark.parametrize("encoder", ["rnn", "conv", "noenc"])
def test_vectorized_engine_equals_the_reference_on_random_models(arch, encoder):
    model, tokens = _random_model_and_batch(arch, encoder, n_docs=6, n_classes=3, seed=0)
    suite = SuiteConfig(random_seeds=3)
    pb = prepare_batch(_Run(model), tokens, np.arange(6), suite)
    v = _compare(pb, suite)
    assert v.first_k.shape == (6, len(suite.expanded()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("arch", ["han", "flan"])
@pytest.mark.parametrize("encoder", ["rnn", "conv", "noenc"])
def test_engines_agree_on_cuda_and_with_the_cpu(arch, encoder):
    model, tokens = _random_model_and_batch(arch, encoder, n_docs=16, n_classes=4, seed=3)
    suite = SuiteConfig(random_seeds=3)
    on_cpu = _compare(prepare_batch(_Run(model), tokens, np.arange(16), suite), suite)
    on_gpu = _compare(prepare_batch(_Run(model.cuda()), tokens.cuda(), np.arange(16), suite),
                      suite)
    # the encoders' float32 kernels differ between devices (cuDNN's GRU, for one), so JS
    # agrees to float32 precision there, while each device's two engines agree to 1e-6
    assert np.array_equal(on_cpu.first_k, on_gpu.first_k)
    np.testing.assert_allclose(on_cpu.js_top, on_gpu.js_top, rtol=1e-3, atol=1e-7)


def test_vectorized_engine_equals_the_reference_on_a_trained_imdb_model(small_imdb_run):
    from attnlib.layer.suite import run_erasure_tests

    suite = SuiteConfig(max_test_docs=40, random_seeds=2)
    fast = run_erasure_tests(small_imdb_run, suite, progress=False)
    slow = run_erasure_tests(small_imdb_run, suite, engine="reference", progress=False)
    assert len(fast) == len(slow) > 0
    pd.testing.assert_series_equal(fast["first_flip_k"], slow["first_flip_k"])
    for col in ("js_top", "js_random", "delta_js"):
        np.testing.assert_allclose(fast[col].astype(float), slow[col].astype(float),
                                   rtol=0, atol=1e-6)
    for col in ("flip_top", "flip_random", "top_item", "random_item", "ranking", "seed"):
        pd.testing.assert_series_equal(fast[col], slow[col])
    # the model really is tested: its decisions are those of the trained model
    assert (fast["pred"] == fast["label"]).mean() > 0.5


def test_han_engine_equals_reference_on_a_trained_model(small_imdb_han_run):
    from attnlib.layer.suite import run_erasure_tests

    suite = SuiteConfig(max_test_docs=80, random_seeds=2)
    fast = run_erasure_tests(small_imdb_han_run, suite, progress=False)
    slow = run_erasure_tests(small_imdb_han_run, suite, engine="reference", progress=False)
    pd.testing.assert_series_equal(fast["first_flip_k"], slow["first_flip_k"])
    np.testing.assert_allclose(fast["js_top"].astype(float), slow["js_top"].astype(float),
                               rtol=0, atol=1e-6)


def test_random_draws_depend_on_the_document_not_on_its_batch():
    from attnlib.layer.rankings import uniform_hash

    together = uniform_hash(3, 1, np.array([10, 11, 12]), 50)
    alone = uniform_hash(3, 1, np.array([11]), 50)
    assert np.array_equal(together[1], alone[0])
    assert not np.array_equal(together[0], together[1])
    assert not np.array_equal(uniform_hash(4, 1, np.array([11]), 50), alone)
    big = uniform_hash(0, 1, np.arange(4000), 64)
    assert 0 <= big.min() and big.max() < 1
    assert abs(big.mean() - 0.5) < 0.01 and abs(big.std() - 12 ** -0.5) < 0.01
    # a random order is a uniform permutation: each item is first about 1/n of the time
    firsts = np.bincount(big[:, :4].argmax(1), minlength=4) / 4000
    assert np.all(np.abs(firsts - 0.25) < 0.03)
