"""Jain & Wallace's agreement computed their way: gradients with the attention held fixed,
leave-one-out by deleting a token and rerunning, and their published numbers read back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from attnlib.config import make_run_config
from attnlib.inputs.erasure import predicted_probability
from attnlib.inputs.jain_wallace import (
    PUBLISHED_NUMBERS,
    attention_held_fixed,
    comparison_table,
    jw_agreement,
    jw_gradient,
    jw_leave_one_out,
    load_published_numbers,
)
from attnlib.models import build_model


def _noenc_flan():
    config = make_run_config("smoke", "imdb", "flan", "noenc").model
    model = build_model(config, np.random.default_rng(0).normal(size=(40, 200)), 2, seed=0)
    return model.eval()


def test_held_attention_gradient_has_its_closed_form_without_an_encoder():
    """No encoder, attention held: logits = W sum_t alpha_t e_t + b, so
    dp/de_t . e_t = alpha_t (dp/dlogits)^T W e_t."""
    model = _noenc_flan()
    tokens = torch.tensor([[3, 7, 9, 0], [5, 6, 0, 0]])
    out = model(tokens)
    pred = out.logits.argmax(-1)
    probs = torch.softmax(out.logits, -1).double()
    p = probs.gather(1, pred[:, None])
    dp_dz = p * (torch.nn.functional.one_hot(pred, 2).double() - probs)  # softmax Jacobian row
    e = model.embedding(tokens).double()
    w = model.output_layer.weight.double()
    expected = (out.alpha.double() * torch.einsum("bc,cd,btd->bt", dp_dz, w, e)).abs()
    expected = torch.where(tokens != 0, expected, 0.0)
    assert torch.allclose(jw_gradient(model, tokens, pred), expected, atol=1e-6)
    # the free gradient (through the attention too) is a different quantity
    with torch.enable_grad():
        emb = model.embedding(tokens).detach().requires_grad_(True)
        pr = torch.softmax(model(tokens, embedded=emb).logits, -1)
        (free,) = torch.autograd.grad(pr.gather(1, pred[:, None]).sum(), emb)
    assert not torch.allclose((free.double() * e).sum(-1).abs(), expected, atol=1e-6)
    assert not any(m.hold_fixed for m in model.modules() if hasattr(m, "hold_fixed"))


def test_leave_one_out_deletes_each_token_and_reruns():
    model = _noenc_flan()
    tokens = torch.tensor([[3, 7, 9, 0], [5, 6, 0, 0]])
    pred = model(tokens).logits.argmax(-1)
    loo = jw_leave_one_out(model, tokens, pred)
    for b, doc in enumerate(tokens.tolist()):
        real = [t for t in doc if t]
        full = predicted_probability(model, torch.tensor([real]), pred[b:b + 1]).item()
        for i in range(len(real)):
            rest = torch.tensor([real[:i] + real[i + 1:]])
            drop = abs(full - predicted_probability(model, rest, pred[b:b + 1]).item())
            assert loo[b, i].item() == pytest.approx(drop, abs=1e-7)
        assert (loo[b, len(real):] == 0).all()


def test_agreement_on_a_trained_run_and_the_published_numbers(small_imdb_run):
    table = jw_agreement(small_imdb_run, max_docs=6)
    assert len(table) == 6 and table[["tau_gradient", "tau_leave_one_out"]].abs().le(1).all().all()
    assert (small_imdb_run.data.test.n_tokens[table["instance_id"]] < 400).all()
    theirs = load_published_numbers()
    assert set(theirs["encoder"]) == {"LSTM", "CNN", "Average"}
    lstm = theirs[(theirs["encoder"] == "LSTM") & (theirs["attention"] == "tanh")].iloc[0]
    # graph_outputs/GradientPval_kendalltau/imdb+lstm+tanh.csv, row Overall, at 425a89a
    assert lstm["tau_gradient_mean"] == pytest.approx(0.4371574309614571)
    metrics = pd.DataFrame({"dataset": "imdb", "model": "FLANrnn", "seed": [1, 2],
                            "test_accuracy": [0.8, 0.6]})
    both = comparison_table(table, metrics, theirs)
    assert both["source"].str.startswith("this book").sum() == 1 and len(both) == 7
    assert both.iloc[0]["test_accuracy"] == 0.8  # the run's own seed (1), not the mean
    with pytest.raises(ValueError, match="flat"):
        import dataclasses
        han = dataclasses.replace(small_imdb_run, config=dataclasses.replace(
            small_imdb_run.config, model=dataclasses.replace(small_imdb_run.config.model,
                                                             arch="han")))
        jw_agreement(han)
    assert PUBLISHED_NUMBERS.name == "jain_wallace_imdb.json"


def test_holding_attention_fixed_is_undone_after_an_error():
    model = _noenc_flan()
    with pytest.raises(RuntimeError):
        with attention_held_fixed(model):
            raise RuntimeError("boom")
    assert not model.attention.hold_fixed
