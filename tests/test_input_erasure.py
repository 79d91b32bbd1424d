"""Erasing the input (ERASER): deletion, rationales, comprehensiveness and sufficiency,
checked on hand-made cases and against a per-document loop that deletes tokens from the
document's own token list and reruns the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from attnlib.data.batching import collate
from attnlib.inputs.erasure import (
    ERASER_PERCENTS,
    INPUT_RANKINGS,
    comprehensiveness_sufficiency,
    delete_tokens,
    input_erasure,
    predicted_probability,
    rationale_masks,
    token_scores,
)


def test_deleting_tokens_compacts_documents():
    flan = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    delete = torch.tensor([[False, True, False, False], [True, True, False, False]])
    assert delete_tokens(flan, delete).tolist() == [[5, 7, 0, 0], [0, 0, 0, 0]]
    han = torch.tensor([[[5, 6], [7, 0], [8, 9]]])
    delete = torch.tensor([[[True, True], [False, False], [False, True]]])
    # the emptied first sentence disappears; the rest move up
    assert delete_tokens(han, delete).tolist() == [[[7, 0], [8, 0], [0, 0]]]
    assert torch.equal(delete_tokens(han, torch.zeros_like(delete)), han)


def test_rationales_take_the_top_share_of_each_document():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3, 0.2, 0.8, 0.7, 0.6, 0.4, 0.05, 0.0, 0.0]])
    real = torch.tensor([[True] * 10 + [False] * 2])
    masks = rationale_masks(scores, real, (1, 10, 20, 50, 100))
    assert masks.sum((1, 2)).tolist() == [1, 1, 2, 5, 10]  # ceil(k n / 100), at least 1
    assert masks[2, 0].nonzero().flatten().tolist() == [1, 5]  # the two highest
    assert not masks[..., 10:].any()  # padding is never part of a rationale
    tied = rationale_masks(torch.zeros(1, 4), torch.ones(1, 4, dtype=torch.bool), (50,))
    assert tied[0, 0].tolist() == [True, True, False, False]  # ties: earlier first


def _reference(model, corpus, ids, arch, rationale_of):
    """Per document: delete from its own token lists and rerun on it alone."""
    out = []
    for i in ids:
        alone = collate(corpus, np.array([i]), arch).tokens
        pred = model(alone).logits.argmax(-1)
        rationale = rationale_of(i, alone)
        def kept(mask):
            if arch == "flan":
                doc = [[int(t) for t, r in zip(alone[0].tolist(), mask[0].tolist()) if t and not r]]
            else:
                doc = [[int(t) for t, r in zip(s, m) if t and not r]
                       for s, m in zip(alone[0].tolist(), mask[0].tolist())]
                doc = [s for s in doc if s]
            return doc
        def prob(doc):
            if arch == "flan":
                tokens = torch.tensor(doc if doc[0] else [[0]])
            else:
                width = max([len(s) for s in doc], default=1)
                tokens = torch.tensor([[s + [0] * (width - len(s)) for s in doc] or [[0]]])
            return predicted_probability(model, tokens, pred).item()
        full = predicted_probability(model, alone, pred).item()
        out.append((full - prob(kept(rationale)), full - prob(kept(~rationale))))
    return out


@pytest.mark.parametrize("fixture", ["small_imdb_run", "small_imdb_han_run"])
def test_batched_erasure_equals_deleting_from_each_document_alone(fixture, request):
    run = request.getfixturevalue(fixture)
    model, corpus, arch = run.model, run.data.test, run.config.model.arch
    model.eval()
    ids = np.arange(5)
    batch = collate(corpus, ids, arch).tokens
    with torch.no_grad():
        pred = model(batch).logits.argmax(-1)
    g = torch.Generator().manual_seed(0)
    rationale = (torch.rand(batch.shape, generator=g) < 0.3) & (batch != 0)
    comp, suff = comprehensiveness_sufficiency(model, batch, pred, rationale)

    def rationale_of(i, alone):
        crop = rationale[i][tuple(slice(0, d) for d in alone.shape[1:])]
        return crop.unsqueeze(0)

    expected = _reference(model, corpus, ids, arch, rationale_of)
    for b, (c, s) in enumerate(expected):
        assert comp[b].item() == pytest.approx(c, abs=1e-5)
        assert suff[b].item() == pytest.approx(s, abs=1e-5)


def test_an_empty_rationale_is_not_comprehensive_and_the_whole_document_suffices(
        small_imdb_run):
    model = small_imdb_run.model
    tokens = collate(small_imdb_run.data.test, np.arange(6), "flan").tokens
    with torch.no_grad():
        pred = model(tokens).logits.argmax(-1)
    comp, _ = comprehensiveness_sufficiency(model, tokens, pred, torch.zeros_like(tokens,
                                                                                 dtype=torch.bool))
    _, suff = comprehensiveness_sufficiency(model, tokens, pred, tokens != 0)
    assert comp.abs().max().item() < 1e-12 and suff.abs().max().item() < 1e-12


def test_a_model_that_ignores_its_input_gives_zero_for_every_ranking(small_imdb_run):
    """With a zero output layer every input gives the same output, so deleting any tokens
    changes nothing: comprehensiveness and sufficiency are 0 for every ranking and k."""
    import copy

    model = copy.deepcopy(small_imdb_run.model)
    with torch.no_grad():
        model.output_layer.weight.zero_()
    tokens = collate(small_imdb_run.data.test, np.arange(4), "flan").tokens
    out = input_erasure(model, tokens, np.arange(4), ig_steps=2)
    assert set(out) == set(INPUT_RANKINGS)
    for comp, suff in out.values():
        assert comp.shape == (4, len(ERASER_PERCENTS))
        assert comp.abs().max().item() < 1e-12 and suff.abs().max().item() < 1e-12


def test_han_attention_scores_tokens_by_word_times_sentence_weight(small_imdb_han_run):
    model = small_imdb_han_run.model
    tokens = collate(small_imdb_han_run.data.test, np.arange(3), "han").tokens
    scores = token_scores(model, tokens, torch.zeros(3, dtype=torch.long), "attention",
                          np.arange(3))
    with torch.no_grad():
        out = model(tokens)
    assert torch.allclose(scores.sum((1, 2)), torch.ones(3, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(scores.sum(-1), out.alpha.double(), atol=1e-5)
    with pytest.raises(ValueError, match="unknown input ranking"):
        token_scores(model, tokens, torch.zeros(3, dtype=torch.long), "lime", np.arange(3))


def test_input_tests_of_a_run_are_written_once_and_reused(small_imdb_run, tmp_path):
    from attnlib.inputs.results import (
        InputTestConfig,
        aopc_table,
        ensure_input_tests,
        eraser_curves,
    )

    config = InputTestConfig(max_test_docs=10, ig_steps=2)
    path = tmp_path / "input_tests.parquet"
    first = ensure_input_tests(small_imdb_run, path, config, progress=False)
    stamp = path.stat().st_mtime_ns
    again = ensure_input_tests(small_imdb_run, path, config, progress=False)
    assert path.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(first, again)
    aopc = aopc_table(first)
    assert len(aopc) == len(first) * len(INPUT_RANKINGS)
    curves = eraser_curves(first)
    assert set(curves["percent"]) == set(ERASER_PERCENTS)


def test_eraser_claims_read_comprehensiveness_differences():
    from attnlib.analysis.followup_claims import evaluate_eraser_claims
    from attnlib.inputs.results import INPUT_COLUMNS

    rows = []
    for seed in (0, 1):
        for i in range(30):
            row = {"run": f"r{seed}", "dataset": "d", "model": "HANrnn", "arch": "han",
                   "encoder": "rnn", "model_seed": seed, "instance_id": i, "n_tokens": 50,
                   "pred": 1}
            for r in INPUT_RANKINGS:
                for k in ERASER_PERCENTS:
                    row[f"comp_{r}_{k}"] = 0.0 if r == "random" else 0.05
                    row[f"suff_{r}_{k}"] = 0.0
            rows.append(row)
    table = pd.DataFrame(rows)
    table = pd.DataFrame({c: table[c].astype(t) for c, t in INPUT_COLUMNS.items()})
    out = evaluate_eraser_claims(table, n_boot=100).set_index("claim")
    assert out.loc["input_attention_beats_random", "verdict"] == "holds"
    # the input gradient ties attention on every document: no support, all ties
    assert out.loc["input_gradient_beats_attention", "verdict"] == "does not hold"
    assert out.loc["input_gradient_beats_attention", "ties"] == pytest.approx(1.0)
