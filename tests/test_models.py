"""Shapes, masking and the erasure-facing interface of HAN and FLAN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dataclasses import replace

from attnlib.config import ModelConfig, config_hash
from attnlib.errors import ParameterError
from attnlib.models import build_model
from attnlib.models.encoders import reverse_padded
from attnlib.models.han import length_buckets

ENCODERS = ["rnn", "conv", "noenc"]
VOCAB, DIM, CLASSES = 50, 16, 3


def _model(arch: str, encoder: str, seed: int = 0, **options):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(VOCAB, DIM)).astype(np.float32)
    emb[0] = 0
    config = ModelConfig(arch=arch, encoder=encoder, embedding_dim=DIM, rnn_hidden=6,
                         conv_filters=5, dropout_words=0.3, dropout_doc=0.3, dropout_out=0.3,
                         **options)
    return build_model(config, emb, CLASSES, seed=seed).eval()


def _ragged_han_batch(lengths: list[list[int]], seed: int = 1) -> torch.Tensor:
    """(docs, sentences, tokens) ids; lengths[d][s] real tokens in sentence s of doc d."""
    generator = torch.Generator().manual_seed(seed)
    t = max(max(row) for row in lengths)
    tokens = torch.zeros((len(lengths), max(map(len, lengths)), t), dtype=torch.long)
    for d, row in enumerate(lengths):
        for s, n in enumerate(row):
            tokens[d, s, :n] = torch.randint(1, VOCAB, (n,), generator=generator)
    return tokens


def test_reverse_padded_is_an_involution_and_keeps_padding_in_place():
    x = torch.arange(12).view(2, 6)
    lengths = torch.tensor([4, 6])
    r = reverse_padded(x, lengths)
    assert r[0].tolist() == [3, 2, 1, 0, 4, 5]
    assert r[1].tolist() == [11, 10, 9, 8, 7, 6]
    assert torch.equal(reverse_padded(r, lengths), x)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_flan_padding_does_not_change_the_output(encoder):
    model = _model("flan", encoder)
    doc = torch.tensor([[5, 7, 9, 11, 2]])
    padded = torch.tensor([[5, 7, 9, 11, 2, 0, 0, 0], [3, 4, 5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        alone, batched = model(doc), model(padded)
    torch.testing.assert_close(alone.logits[0], batched.logits[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(alone.alpha[0], batched.alpha[0, :5], rtol=1e-5, atol=1e-6)
    assert batched.alpha[0, 5:].abs().max() == 0
    assert batched.mask[0].tolist() == [True] * 5 + [False] * 3
    assert batched.h.shape[:2] == (2, 8)


@pytest.mark.parametrize("layout", ["padded", "packed"])
@pytest.mark.parametrize("encoder", ENCODERS)
def test_han_padding_does_not_change_the_output(encoder, layout):
    model = _model("han", encoder, word_layout=layout)
    doc = torch.tensor([[[5, 7, 9], [11, 2, 0]]])
    padded = torch.zeros((2, 4, 6), dtype=torch.long)
    padded[0, :2, :3] = doc[0]
    padded[1] = torch.randint(1, VOCAB, (4, 6))
    with torch.no_grad():
        alone, batched = model(doc), model(padded)
    torch.testing.assert_close(alone.logits[0], batched.logits[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(alone.alpha[0], batched.alpha[0, :2], rtol=1e-5, atol=1e-6)
    assert batched.alpha.shape == (2, 4)
    assert batched.mask[0].tolist() == [True, True, False, False]
    torch.testing.assert_close(batched.alpha.sum(-1), torch.ones(2))


@pytest.mark.parametrize("arch", ["han", "flan"])
@pytest.mark.parametrize("encoder", ENCODERS)
def test_logits_from_reproduces_the_forward_pass(arch, encoder):
    model = _model(arch, encoder)
    tokens = torch.randint(1, VOCAB, (3, 4, 5) if arch == "han" else (3, 9))
    with torch.no_grad():
        out = model(tokens)
        torch.testing.assert_close(model.logits_from(out.h, out.alpha), out.logits)
    expected_dim = 2 * 6 if encoder == "rnn" else (10 if encoder == "conv" else DIM)
    assert out.h.shape[-1] == expected_dim
    assert out.logits.shape == (3, CLASSES)


def test_rnn_backward_direction_sees_the_future_and_not_the_padding():
    model = _model("flan", "rnn")
    with torch.no_grad():
        a = model(torch.tensor([[5, 7, 9]])).h
        b = model(torch.tensor([[5, 7, 10]])).h
    hidden = 6
    # the first token's forward half ignores the last token; its backward half does not
    torch.testing.assert_close(a[0, 0, :hidden], b[0, 0, :hidden])
    assert not torch.allclose(a[0, 0, hidden:], b[0, 0, hidden:])


def test_seeded_models_are_identical():
    a, b = _model("han", "rnn", seed=3), _model("han", "rnn", seed=3)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(pa, pb), name


def test_training_a_model_leaves_the_prepared_embeddings_unchanged():
    """Models copy the prepared embedding matrix: with a shared array, training one model
    changed the starting point of every later model built from the same prepared data."""
    import numpy as np
    import torch

    from attnlib.config import ModelConfig
    from attnlib.models import build_model

    embeddings = np.random.default_rng(0).normal(size=(30, 200)).astype(np.float32)
    before = embeddings.copy()
    model = build_model(ModelConfig(arch="flan", encoder="noenc"), embeddings, 2, seed=0)
    tokens = torch.tensor([[1, 2, 3, 4]])
    loss = model(tokens).logits.sum()
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=1.0).step()
    assert not torch.equal(model.embedding.weight[1:5], torch.from_numpy(before[1:5]))
    assert np.array_equal(embeddings, before)


# 70 sentences of 1..40 tokens in 9 documents: several GRU buckets, conv gaps, a
# one-token sentence, an empty slot between documents' last sentences
_RAGGED = [[40, 3, 1, 7], [5, 5], [2, 7, 4, 6, 12, 33, 1, 9]] + [
    [(7 * d + 3 * s) % 40 + 1 for s in range(9)] for d in range(6)]


@pytest.mark.parametrize("attention", ["learned", "uniform"])
@pytest.mark.parametrize("encoder", ENCODERS)
def test_packed_word_level_is_the_same_function_as_the_padded_one(encoder, attention):
    padded = _model("han", encoder, attention=attention)
    packed = _model("han", encoder, attention=attention, word_layout="packed")
    packed.load_state_dict(padded.state_dict())
    tokens = _ragged_han_batch(_RAGGED)
    a, b = padded(tokens), packed(tokens)
    for name in ("logits", "h", "alpha", "mask", "word_alpha"):
        torch.testing.assert_close(getattr(b, name), getattr(a, name), rtol=1e-5, atol=1e-6)
    a.logits.logsumexp(-1).sum().backward()
    b.logits.logsumexp(-1).sum().backward()
    for (name, p), q in zip(padded.named_parameters(), packed.parameters()):
        if p.grad is None:
            assert q.grad is None, name
        else:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_packed_word_level_takes_given_input_embeddings(encoder):
    padded = _model("han", encoder)
    packed = _model("han", encoder, word_layout="packed")
    packed.load_state_dict(padded.state_dict())
    tokens = _ragged_han_batch(_RAGGED[:3])
    embedded = (padded.embedding(tokens) * 0.5).detach()
    torch.testing.assert_close(packed(tokens, embedded=embedded).logits,
                               padded(tokens, embedded=embedded).logits,
                               rtol=1e-5, atol=1e-6)


def test_packed_word_level_draws_dropout_on_real_tokens_only_and_is_seeded():
    model = _model("han", "conv", word_layout="packed").train()
    tokens = _ragged_han_batch(_RAGGED)
    torch.manual_seed(3)
    first = model(tokens).logits
    torch.manual_seed(3)
    assert torch.equal(model(tokens).logits, first)
    assert not torch.equal(model(tokens).logits, first)  # a fresh draw differs


def test_length_buckets_hold_each_sentence_once_and_bound_the_padding():
    lengths = torch.tensor([(17 * i) % 50 + 1 for i in range(300)])
    buckets = length_buckets(lengths, ratio=2.0, slack=2, min_size=20)
    assert sorted(torch.cat(buckets).tolist()) == list(range(300))
    for bucket in buckets[:-1]:
        sizes = lengths[bucket]
        assert len(bucket) >= 20
        assert sizes.max() <= 2.0 * sizes.min() + 2 or len(bucket) == 20
    assert len(length_buckets(lengths, min_size=1000)) == 1


def test_word_layout_is_han_only_and_leaves_padded_hashes_unchanged():
    config = ModelConfig(arch="han", encoder="rnn")
    assert config_hash(config) == config_hash(replace(config, word_layout="padded"))
    assert config_hash(config) != config_hash(replace(config, word_layout="packed"))
    with pytest.raises(ParameterError, match="HAN only"):
        ModelConfig(arch="flan", encoder="rnn", word_layout="packed")
    with pytest.raises(ValueError, match="word layout"):
        ModelConfig(arch="han", encoder="rnn", word_layout="ragged")
