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
