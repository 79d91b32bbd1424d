"""A test with a known answer (book/known_answer.ipynb): the planted-shortcut transform,
the scoring of rankings against the planted tokens, and the randomisation checks."""

from __future__ import annotations

import random

import pytest

from attnlib.data import get_dataset, load_documents
from attnlib.data.cleaning import CLEANERS, clean_html
from attnlib.data.loading import Document
from attnlib.data.shortcut import (
    ShortcutSpec,
    apply_shortcut,
    parse_shortcut_id,
    plant,
    shortcut_stats,
)
from attnlib.errors import DataError, UnknownNameError

from .conftest import requires_imdb


def _docs(n: int = 400) -> list[Document]:
    rng = random.Random(3)
    words = ["good", "bad", "plot", "actor", "<br /><br />", "film,", "scene.", "the", "a"]
    return [Document(f"d{i}", " ".join(rng.choice(words) for _ in range(rng.randint(1, 30))),
                     i % 2) for i in range(n)]


def test_ids_parse_into_kind_rate_and_seed():
    assert parse_shortcut_id("imdb+shortcut") == ("imdb", "single", 0.2, 0)
    assert parse_shortcut_id("imdb-ratings+shortcut-pair-p50-s3") == (
        "imdb-ratings", "pair", 0.5, 3)
    assert parse_shortcut_id("imdb") is None
    with pytest.raises(DataError, match="percentage from 1 to 100"):
        parse_shortcut_id("imdb+shortcut-p0")
    with pytest.raises(UnknownNameError):
        get_dataset("nosuchdata+shortcut")
    spec = get_dataset("imdb-ratings+shortcut-pair")
    assert spec.files_of == "imdb" and spec.label_field == "rating"
    assert spec.shortcut is not None and spec.shortcut.words == ("zeroa", "onea", "twoa", "threea")


def test_the_planted_token_decides_the_label_and_unplanted_documents_are_untouched():
    for kind in ("single", "pair"):
        spec = ShortcutSpec("x", kind, 0.5, 0, 2)
        docs = _docs()
        out = apply_shortcut(spec, docs, "train", clean_html)
        assert out == apply_shortcut(spec, docs, "train", clean_html)  # deterministic
        assert out != apply_shortcut(ShortcutSpec("x", kind, 0.5, 1, 2), docs, "train",
                                     clean_html)  # another seed, other documents
        planted = 0
        for before, after in zip(docs, out):
            found = [w for w in clean_html(after.text).split() if w in spec.words]
            if not found:
                assert after is before  # byte-identical, label included
                continue
            planted += 1
            assert spec.label_of(found) == after.label
            # the rest of the text is unchanged (no token inside a tag or a word)
            assert [w for w in clean_html(after.text).split() if w not in spec.words] == \
                clean_html(before.text).split()
        assert 150 < planted < 250  # about half of 400
        stats = shortcut_stats(spec, docs, "train", clean_html)
        assert stats.planted == planted and sum(stats.per_class) == planted


def test_the_pair_shortcut_is_decided_by_order_alone():
    spec = ShortcutSpec("x", "pair", 1.0, 0, 2)
    assert spec.tokens_of(0) == ("zeroa", "onea") and spec.tokens_of(1) == ("onea", "zeroa")
    assert spec.label_of(["onea", "zeroa"]) == 1 and spec.label_of(["onea"]) is None
    text, label, ok = plant(spec, "a b c d e", 0, random.Random(1), CLEANERS["none"])
    assert ok and sorted(text.split()) == sorted("a b c d e zeroa onea".split())
    assert spec.label_of(text.split()) == label


def test_a_document_where_no_position_survives_the_cleaner_stays_unplanted():
    spec = ShortcutSpec("x", "single", 1.0, 0, 2)
    text, label, ok = plant(spec, "all quoted", 1, random.Random(0), lambda t: "")
    assert (text, label, ok) == ("all quoted", 1, False)


@requires_imdb
def test_the_registered_shortcut_dataset_is_the_base_with_planted_documents():
    base = load_documents("imdb", "test", limit=2000)
    docs = load_documents("imdb+shortcut", "test", limit=2000)
    assert [d.id for d in docs] == [d.id for d in base]
    changed = [(a, b) for a, b in zip(base, docs) if a != b]
    assert 300 < len(changed) < 500  # 20 % of 2,000
    for _before, after in changed:
        found = [w for w in clean_html(after.text).split() if w in ("zeroa", "onea")]
        assert len(found) == 1 and after.label == ("zeroa", "onea").index(found[0])
    assert load_documents("imdb+shortcut", "test", limit=2000) == docs


# -- scoring against the known answer ------------------------------------------------------

def _reader(force_attention: bool = False):
    """A FLAN-noenc that reads only the planted tokens: 'zeroa' (id 2) and 'onea' (id 3)
    have the embeddings e0 and e1, every other word the zero vector; the output layer
    maps e0 to class 0 and e1 to class 1. Its attention is uniform, or, when
    ``force_attention``, puts almost all weight on the planted token."""
    import numpy as np
    import torch

    from attnlib.config import ModelConfig
    from attnlib.models import build_model

    emb = np.zeros((10, 4), np.float32)
    emb[2, 0] = emb[3, 1] = 1.0
    model = build_model(ModelConfig("flan", "noenc", embedding_dim=4), emb, 2, seed=0)
    with torch.no_grad():
        model.output_layer.weight.copy_(torch.tensor([[5.0, -5, 0, 0], [-5, 5, 0, 0]]))
        model.output_layer.bias.zero_()
        model.attention.projection.weight.copy_(torch.eye(4) * (10.0 if force_attention else 0))
        model.attention.projection.bias.zero_()
        model.attention.context.weight.copy_(
            torch.tensor([[50.0, 50, 0, 0]]) if force_attention else torch.zeros(1, 4))
    return model.eval()


def _planted_tokens():
    import torch

    # three documents: the planted token at positions 3, 0 and 6 (the last one padded)
    return torch.tensor([[4, 5, 6, 2, 7, 8, 9, 4], [3, 9, 8, 7, 6, 5, 4, 4],
                         [5, 5, 6, 7, 8, 9, 3, 0]])


def test_a_model_that_reads_only_the_planted_token_gets_it_ranked_first():
    import numpy as np
    import torch

    from attnlib.inputs.known_answer import (
        KNOWN_ANSWER_RANKINGS,
        item_ranks,
        planted_scores,
        rank_items,
    )

    tokens = _planted_tokens()
    planted = torch.isin(tokens, torch.tensor([2, 3]))
    for forced in (False, True):
        model = _reader(forced)
        assert model(tokens).logits.argmax(-1).tolist() == [0, 1, 1]  # follows the token
        ranked = rank_items(model, tokens, np.arange(3), ig_steps=4)
        rank, prec = planted_scores(item_ranks(ranked.orders), planted, ranked.mask)
        by_name = dict(zip(KNOWN_ANSWER_RANKINGS, rank.T.tolist()))
        precision = dict(zip(KNOWN_ANSWER_RANKINGS, prec.T.tolist()))
        found = ["leave_one_out", "gradient", "grad_x_attention", "input_gradient",
                 "integrated_gradients"]
        if forced:
            found += ["attention", "gradient_l2"]
            assert by_name["reverse_attention"] == [8.0, 8.0, 7.0]  # last of the real items
        else:
            # uniform attention over summed embeddings: every token's embedding gradient
            # is the same vector, so the gradient norm ties everywhere and the order falls
            # back on position (first item first), as attention's does
            assert by_name["gradient_l2"] == by_name["attention"] == [4.0, 1.0, 7.0]
        for r in found:
            assert by_name[r] == [1.0, 1.0, 1.0], r
            assert precision[r] == [1.0, 1.0, 1.0], r


def test_precision_at_k_counts_the_planted_items_among_the_top_k():
    import torch

    from attnlib.inputs.known_answer import item_ranks, planted_scores

    orders = torch.tensor([[[2, 0, 1, 3]], [[0, 1, 2, 3]]])  # (B=2, R=1, n=4)
    planted = torch.tensor([[True, False, True, False], [False, False, False, False]])
    rank, prec = planted_scores(item_ranks(orders), planted, torch.ones(2, 4, dtype=torch.bool))
    assert rank[0, 0] == 1 and prec[0, 0] == 1.0  # items 2 and 0 are the top two
    assert torch.isnan(rank[1, 0]) and torch.isnan(prec[1, 0])
    orders = torch.tensor([[[2, 1, 0, 3]]])
    rank, prec = planted_scores(item_ranks(orders), planted[:1], torch.ones(1, 4, dtype=torch.bool))
    assert rank[0, 0] == 1 and prec[0, 0] == 0.5


def test_randomisation_changes_a_weight_dependent_ranking_and_not_the_random_one():
    import numpy as np
    import torch

    from attnlib.config import ModelConfig
    from attnlib.inputs.known_answer import (
        KNOWN_ANSWER_RANKINGS,
        RANDOMISATION_STEPS,
        item_ranks,
        rank_items,
        randomised,
        spearman_rows,
    )
    from attnlib.models import build_model

    rng = np.random.default_rng(0)
    tokens = torch.as_tensor(rng.integers(2, 50, size=(16, 12)))
    for arch in ("flan", "han"):
        model = build_model(ModelConfig(arch, "rnn", embedding_dim=8),
                            rng.normal(size=(50, 8)).astype(np.float32), 3, seed=1).eval()
        batch = tokens if arch == "flan" else tokens.reshape(16, 3, 4)
        base = rank_items(model, batch, np.arange(16), ig_steps=2)
        same = rank_items(model, batch, np.arange(16), ig_steps=2)
        rho_same = spearman_rows(item_ranks(base.orders), item_ranks(same.orders), base.mask)
        assert torch.allclose(rho_same, torch.ones_like(rho_same))
        before = [p.clone() for p in model.parameters()]
        for step in RANDOMISATION_STEPS:
            other = rank_items(randomised(model, step, seed=3), batch, np.arange(16),
                               ig_steps=2)
            rho = spearman_rows(item_ranks(base.orders), item_ranks(other.orders), base.mask)
            by_name = dict(zip(KNOWN_ANSWER_RANKINGS, rho.mean(0).tolist()))
            assert by_name["random"] == pytest.approx(1.0)  # depends on no weight
            assert by_name["gradient"] < 0.9, (arch, step)
            assert by_name["integrated_gradients"] < 0.9, (arch, step)
        # the original model is untouched
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def _table(seeds=(0, 1), docs=40, follow=True):
    """A known-answer table: half the documents planted; attention finds the planted item
    in every document, random at rank 5, the rest at rank 2."""
    import numpy as np
    import pandas as pd

    from attnlib.inputs.known_answer import KNOWN_ANSWER_COLUMNS, KNOWN_ANSWER_RANKINGS

    rows = []
    for s in seeds:
        for i in range(docs):
            planted = i % 2 == 0
            label = i % 4 // 2
            row = {"run": f"r{s}", "dataset": "imdb+shortcut", "model": "FLANrnn",
                   "arch": "flan", "encoder": "rnn", "model_seed": s, "instance_id": i,
                   "planted": planted, "label": label,
                   "pred": label if (follow or not planted) else 1 - label,
                   "pred_without": (1 - label) if planted else None, "n_items": 10,
                   "n_planted_items": int(planted), "word_rank": np.nan}
            for r in KNOWN_ANSWER_RANKINGS:
                rank = {"attention": 1.0, "random": 5.0}.get(r, 2.0) if planted else np.nan
                row[f"rank_{r}"] = rank
                row[f"prec_{r}"] = float(rank == 1.0) if planted else np.nan
            rows.append(row)
    return pd.DataFrame(rows).astype(KNOWN_ANSWER_COLUMNS)


def test_verdicts_follow_the_known_answer_and_leave_out_models_that_do_not_rely():
    from attnlib.analysis.known_answer import ranking_scores, reliance_table, verdict_summary

    reliance = reliance_table(_table())
    assert reliance["relies"].all() and (reliance["accuracy_planted"] == 1).all()
    assert (reliance["flip_share"] == 1).all() and (reliance["planted_docs"] == 20).all()
    scores = ranking_scores(_table(), n_boot=200).set_index("ranking")
    assert scores.loc["attention", "verdict"] == "finds the planted token"
    assert scores.loc["attention", "rank"] == 1 and scores.loc["attention", "mrr"] == 1
    assert scores.loc["random", "verdict"] == "no better than random"
    assert scores.loc["gradient", "mrr"] == 0.5 and scores.loc["gradient", "seeds"] == 2
    ignored = ranking_scores(_table(follow=False), n_boot=200)
    assert set(ignored["verdict"]) == {"model does not rely on it"}
    summary = verdict_summary(ignored).set_index("ranking")
    assert summary.loc["attention", "cells left out"] == 1


def test_the_shortcut_runs_are_a_side_plan_of_the_paper_profile():
    from attnlib.plan import list_plans, list_side_plans, plan_runs

    profile, runs = plan_runs("paper-shortcut")
    assert profile == "paper" and "paper-shortcut" in list_side_plans()
    assert list_plans() == ["paper"]
    assert len(runs) == 36 and {r[0] for r in runs} == {"imdb+shortcut", "imdb-ratings+shortcut"}


def test_sanity_checks_of_a_real_run_against_itself_and_its_randomisations(small_imdb_run):
    import numpy as np

    from attnlib.inputs.known_answer import KnownAnswerConfig, run_sanity_checks

    config = KnownAnswerConfig(max_test_docs=30, sanity_docs=6, ig_steps=2)
    table = run_sanity_checks(small_imdb_run, small_imdb_run, config)  # its own "twin"
    assert len(table) == 6 and (table["n_items"] >= 3).all()
    same = table.filter(like="rho_permuted_labels_").astype(float).to_numpy()
    assert np.allclose(same, 1.0)  # the same weights give the same rankings
    assert np.allclose(table.filter(like="_random").astype(float).to_numpy(), 1.0)
    assert table["rho_embeddings_gradient"].astype(float).mean() < 0.9
    # attention is computed below the output layer: the first step leaves it unchanged
    assert np.allclose(table["rho_output_attention"].astype(float), 1.0)
