"""Uniform attention (Wiegreffe & Pinter §3.1): models whose attention is fixed to equal
weights, their configs and names, and the paired comparison with the trained attention."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from attnlib.analysis.followup_claims import accuracy_pairs, evaluate_uniform_claims
from attnlib.config import make_run_config
from attnlib.errors import UnknownNameError
from attnlib.models import build_model


@pytest.mark.parametrize("arch,encoder", [("flan", "rnn"), ("han", "conv"), ("han", "noenc")])
def test_uniform_models_put_equal_weight_on_every_real_item(arch, encoder):
    config = make_run_config("smoke", "imdb", arch, encoder, attention="uniform").model
    assert config.name == f"{arch.upper()}{encoder}-uniform"
    model = build_model(config, np.random.default_rng(0).normal(size=(30, 200)), 2, seed=0)
    model.eval()
    tokens = torch.tensor([[5, 6, 7, 0], [8, 0, 0, 0]]) if arch == "flan" else \
        torch.tensor([[[5, 6], [7, 0], [0, 0]], [[8, 9], [0, 0], [0, 0]]])
    out = model(tokens)
    n = out.mask.sum(1, keepdim=True)
    assert torch.allclose(out.alpha, out.mask.float() / n)
    if arch == "han":
        words = tokens != 0
        expected = words.float() / words.sum(-1, keepdim=True).clamp(min=1)
        assert torch.allclose(out.word_alpha, expected)


def test_the_attention_field_leaves_published_hashes_alone():
    learned = make_run_config("paper", "imdb", "flan", "rnn", 0)
    assert learned.hash == "e1f641477841"  # results/paper/imdb/FLANrnn/seed0
    uniform = make_run_config("paper", "imdb", "flan", "rnn", 0, attention="uniform")
    assert uniform.hash != learned.hash and uniform.data == learned.data
    with pytest.raises(UnknownNameError, match="attention"):
        make_run_config("paper", "imdb", "flan", "rnn", 0, attention="sparse")


def _results(preds: list[int], labels: list[int], run: str) -> pd.DataFrame:
    n = len(preds)
    return pd.DataFrame({"run": run, "dataset": "d", "model": "FLANrnn", "model_seed": 0,
                         "instance_id": range(n), "test": "single", "ranking": "attention",
                         "pred": pd.array(preds, dtype="Int64"),
                         "label": pd.array(labels, dtype="Int64")})


def test_accuracy_pairs_line_up_documents_and_the_claim_needs_a_point():
    labels = [0, 1] * 50
    learned = _results(labels, labels, "a")  # all right
    uniform = _results([1 - x for x in labels[:10]] + labels[10:], labels, "u")  # 10% wrong
    pairs = accuracy_pairs(learned, uniform)
    assert pairs["learned_correct"].mean() == 1.0 and pairs["uniform_correct"].mean() == 0.9
    assert set(pairs["run"]) == {"a"} and set(pairs["model"]) == {"FLANrnn"}
    out = evaluate_uniform_claims(pairs, n_boot=200).set_index("claim")
    row = out.loc["trained_attention_beats_uniform"]
    assert row["estimate"] == pytest.approx(0.1) and row["ties"] == pytest.approx(0.9)
    same = evaluate_uniform_claims(accuracy_pairs(learned, learned), n_boot=100)
    assert same.iloc[0]["verdict"] == "does not hold"
