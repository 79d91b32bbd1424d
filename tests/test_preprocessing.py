"""Tokenisation, vocabulary, subsets, embeddings, batching and the preprocessing cache."""

from __future__ import annotations

import numpy as np
import pytest

from attnlib import paths
from attnlib.config import DataConfig
from attnlib.data.batching import collate, make_batches, padded_size
from attnlib.data.corpus import (EncodedCorpus, _source_identity, cache_key, prepare_data,
                                 select_subset)
from attnlib.data.embeddings import train_word2vec
from attnlib.data import get_dataset
from attnlib.data.text import PAD, UNK, Vocabulary, tokenize_documents
from attnlib.errors import ParameterError, UnknownNameError

from .conftest import requires_imdb


def test_tokenizer_splits_sentences_and_drops_whitespace():
    [doc] = tokenize_documents(["Great film.  I loved it!\n\nTen out of ten."])
    assert doc == [["Great", "film", "."], ["I", "loved", "it", "!"], ["Ten", "out", "of", "ten", "."]]
    assert list(tokenize_documents(["   \n "])) == [[]]


def test_vocabulary_min_count_lowercases_and_reserves_padding_and_unknown():
    docs = [[["The", "cat"], ["the", "dog"]], [["THE", "cat", "sat"]]]
    vocab = Vocabulary.build(docs, min_count=2)
    assert vocab.itos == (PAD, UNK, "the", "cat")
    assert vocab.encode(["The", "cat", "sat", "zebra"]) == [2, 3, 1, 1]


def test_select_subset_is_seeded_sorted_and_complete_without_limit():
    a, b = select_subset(100, 10, seed=3), select_subset(100, 10, seed=3)
    assert np.array_equal(a, b) and np.all(np.diff(a) > 0) and len(a) == 10
    assert not np.array_equal(a, select_subset(100, 10, seed=4))
    assert np.array_equal(select_subset(5, None, 0), np.arange(5))


def test_word2vec_is_deterministic_and_unit_norm():
    vocab = Vocabulary((PAD, UNK, "a", "b", "c"))
    sentences = [[2, 3, 4, 1], [4, 3, 2]] * 20
    m1 = train_word2vec(sentences, vocab, dim=8, epochs=2, seed=5)
    m2 = train_word2vec(sentences, vocab, dim=8, epochs=2, seed=5)
    assert np.array_equal(m1, m2)
    assert np.allclose(np.linalg.norm(m1[1:], axis=1), 1.0, atol=1e-5)
    assert not m1[0].any()


def _corpus() -> EncodedCorpus:
    vocab = Vocabulary((PAD, UNK, *"abcdefghij"))
    docs = [[list("ab"), list("cde")], [list("f")], [list("ghij"), list("a"), list("bc")]] * 5
    return EncodedCorpus.from_tokenized(docs, [0, 1, 0] * 5, [str(i) for i in range(15)], vocab)


def test_corpus_views_and_subset():
    corpus = _corpus()
    assert corpus.n_sentences[:3].tolist() == [2, 1, 3]
    assert corpus.n_tokens[:3].tolist() == [5, 1, 7]
    assert corpus.max_sentence_tokens[:3].tolist() == [3, 1, 4]
    assert [s.tolist() for s in corpus.sentences(0)] == [[2, 3], [4, 5, 6]]
    sub = corpus.subset(np.array([2, 0]))
    assert sub.tokens(1).tolist() == corpus.tokens(0).tolist()
    assert sub.display_tokens(0) == [list("ghij"), list("a"), list("bc")]


@pytest.mark.parametrize("arch", ["han", "flan"])
def test_batches_cover_every_document_once_and_respect_the_cap(arch):
    corpus = _corpus()
    batches = make_batches(corpus, arch, token_cap=20, batch_size=4, shuffle=True, seed=1)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(corpus)))
    assert all(len(b) <= 4 for b in batches)
    assert all(padded_size(corpus, arch, b) <= 20 or len(b) == 1 for b in batches)
    again = make_batches(corpus, arch, token_cap=20, batch_size=4, shuffle=True, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(batches, again))
    batch = collate(corpus, batches[0], arch)
    assert batch.tokens.dim() == (3 if arch == "han" else 2)
    assert batch.tokens.shape[0] == len(batches[0])


def test_config_rejects_wrong_types_and_unknown_ids():
    with pytest.raises(ParameterError, match="max_train_docs must be int"):
        DataConfig(dataset="imdb", max_train_docs="100")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="min_count must be int"):
        DataConfig(dataset="imdb", min_count=True)  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError, match="valid datasets"):
        DataConfig(dataset="nope")


@requires_imdb
def test_prepare_data_caches_and_never_reuses_a_stale_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_HOME_ENV, str(tmp_path))
    config = DataConfig(dataset="imdb", max_train_docs=200, max_test_docs=50, w2v_epochs=1)
    first = prepare_data(config, progress=False)
    assert len(first.train) + len(first.dev) == 200 and len(first.dev) == 20
    assert len(first.test) == 50
    assert first.embeddings.shape == (len(first.vocab), 200)
    import attnlib.data.corpus as corpus_module

    computed: list[str] = []  # a cache hit tokenises nothing and trains no embeddings
    for name in ("tokenize_documents", "train_word2vec"):
        original = getattr(corpus_module, name)
        monkeypatch.setattr(corpus_module, name,
                            lambda *a, _f=original, _n=name, **k: computed.append(_n) or _f(*a, **k))
    second = prepare_data(config, progress=False)
    assert computed == []
    assert second.vocab == first.vocab and np.array_equal(second.embeddings, first.embeddings)
    assert second.cache_key == first.cache_key
    changed = DataConfig(dataset="imdb", max_train_docs=200, max_test_docs=50, w2v_epochs=1,
                         min_count=3)
    assert cache_key(changed) != first.cache_key
    third = prepare_data(changed, progress=False)
    assert "train_word2vec" in computed and "tokenize_documents" in computed
    assert len(third.vocab) > len(first.vocab)
    # the HTML line breaks of aclImdb never reach the vocabulary
    assert "br" not in first.vocab.itos and "<br" not in first.vocab.itos
    assert len(list((tmp_path / "cache" / "imdb").iterdir())) == 2


@requires_imdb
def test_a_dataset_reading_another_ones_files_keys_its_cache_on_their_checksums():
    # imdb-ratings reads the imdb files: a re-copied mirror (new mtimes, same bytes) must
    # keep its preprocessing cache, as it does for imdb itself
    imdb = get_dataset("imdb")
    assert _source_identity("imdb-ratings") == _source_identity("imdb") == {
        split: imdb.mirror_sha256[split] for split in ("train", "test")}


@requires_imdb
def test_documents_without_tokens_are_dropped_and_counted(tmp_path, monkeypatch):
    import dataclasses
    import gzip
    import json

    from attnlib.data import get_dataset, loading

    mirror = tmp_path / "mirror" / "imdb"
    mirror.mkdir(parents=True)
    rows = [{"id": f"d{i}", "text": f"Movie number {i} was fine . Really .", "label": i % 2}
            for i in range(40)]
    rows[3]["text"] = "   <br /><br />  "
    for split in ("train", "test"):
        with gzip.open(mirror / f"{split}.jsonl.gz", "wt") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    spec = dataclasses.replace(get_dataset("imdb"), mirror_sha256={})
    monkeypatch.setattr(loading, "get_dataset", lambda name: spec)
    monkeypatch.setenv(paths.MIRROR_ENV, str(tmp_path / "mirror"))
    monkeypatch.setenv(paths.DATA_HOME_ENV, str(tmp_path / "home"))
    data = prepare_data(DataConfig(dataset="imdb", min_count=1, w2v_epochs=1), progress=False)
    assert data.stats["train"]["dropped_empty"] == 1
    assert data.stats["test"]["dropped_empty"] == 1
    assert len(data.test) == 39 and len(data.train) + len(data.dev) == 39


def test_length_histogram_counts_every_document_once():
    import pandas as pd

    from attnlib.data.corpus import length_histogram

    lengths = pd.DataFrame({"dataset": ["a"] * 150 + ["b"] * 50,
                            "split": (["train", "test"] * 75) + ["train"] * 50,
                            "tokens": list(range(150)) + [10_000] * 49 + [3]})
    hist = length_histogram(lengths, "tokens", bins=10)
    assert hist.groupby(["dataset", "split"])["documents"].sum().to_dict() == {
        ("a", "test"): 75, ("a", "train"): 75, ("b", "train"): 50}
    assert len(hist[hist["dataset"] == "a"]) == 20  # 10 bins x 2 splits
    # the very long documents land in the last bin instead of stretching the axis
    b = hist[hist["dataset"] == "b"]
    assert b["bin_end"].max() <= 10_000 and b.iloc[-1]["documents"] >= 49
