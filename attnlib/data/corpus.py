"""Preprocessed, cached corpora: the HAN view (document -> sentences -> tokens) and the
FLAN view (document -> tokens) of each split, the vocabulary and word2vec embeddings.

``prepare_data(DataConfig)`` is the one entry point. Its result is cached under
``data/cache/<dataset>/<key>/`` where the key hashes the config, the preprocessing code
version and the identity of the source files, so a changed option never reuses a stale
cache. Explained in the book chapter "Data" (book/data.ipynb).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import paths
from ..atomic import read_json, write_json
from ..config import DataConfig, config_hash
from ..errors import DataError
from ..integrity import sha256_of
from . import CLEANERS, get_dataset, load_documents, locate_split
from .embeddings import train_word2vec
from .registry import DatasetSpec
from .shortcut import SHORTCUT_VERSION
from .text import TOKENIZER_VERSION, TokenizedDoc, Vocabulary, tokenize_documents

log = logging.getLogger(__name__)
PREPROCESS_VERSION = "3"
_SENT_SEP, _TOKEN_SEP = "\t", " "


def select_subset(n_total: int, max_docs: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded uniform sample of ``max_docs`` of ``n_total`` docs."""
    if max_docs is None or max_docs >= n_total:
        return np.arange(n_total)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_total, size=max_docs, replace=False))


@dataclass
class EncodedCorpus:
    """One split as flat arrays.

    Attributes:
        token_ids: (total tokens,) int32 vocabulary indices.
        sentence_offsets: (total sentences + 1,) start of each sentence in ``token_ids``.
        doc_offsets: (docs + 1,) start of each document in ``sentence_offsets``.
        labels: (docs,) int64 gold labels.
        doc_ids: the documents' ids in the source file.
        tokens_path: file with the original-case tokens, for display.
    """

    token_ids: np.ndarray
    sentence_offsets: np.ndarray
    doc_offsets: np.ndarray
    labels: np.ndarray
    doc_ids: list[str]
    tokens_path: Path | None = None
    _display: list[TokenizedDoc] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    @cached_property
    def n_sentences(self) -> np.ndarray:
        """(docs,) number of sentences per document (HAN items)."""
        return np.diff(self.doc_offsets)

    @cached_property
    def n_tokens(self) -> np.ndarray:
        """(docs,) number of tokens per document (FLAN items)."""
        starts = self.sentence_offsets[self.doc_offsets[:-1]]
        ends = self.sentence_offsets[self.doc_offsets[1:]]
        return ends - starts

    @cached_property
    def max_sentence_tokens(self) -> np.ndarray:
        """(docs,) length of each document's longest sentence."""
        lengths = np.diff(self.sentence_offsets)
        return np.maximum.reduceat(lengths, self.doc_offsets[:-1]) if len(self) else lengths[:0]

    def sentences(self, i: int) -> list[np.ndarray]:
        """Document ``i`` as a list of (sentence length,) index arrays."""
        s0, s1 = self.doc_offsets[i], self.doc_offsets[i + 1]
        bounds = self.sentence_offsets[s0 : s1 + 1]
        return [self.token_ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def tokens(self, i: int) -> np.ndarray:
        """Document ``i`` as one (tokens,) index array."""
        s0, s1 = self.doc_offsets[i], self.doc_offsets[i + 1]
        return self.token_ids[self.sentence_offsets[s0] : self.sentence_offsets[s1]]

    def display_tokens(self, i: int) -> TokenizedDoc:
        """Document ``i``'s original-case tokens, by sentence (for rendering)."""
        if self._display is None:
            if self.tokens_path is None:
                raise DataError("this corpus was built without display tokens")
            self._display = _read_tokens(self.tokens_path)
        return self._display[i]

    def subset(self, indices: np.ndarray) -> EncodedCorpus:
        """A new corpus with documents ``indices`` (in that order)."""
        token_chunks: list[np.ndarray] = []
        sent_lengths: list[int] = []
        n_sents: list[int] = []
        for i in indices:
            sents = self.sentences(int(i))
            token_chunks.extend(sents)
            sent_lengths.extend(len(s) for s in sents)
            n_sents.append(len(sents))
        display = None
        if self.tokens_path is not None or self._display is not None:
            display = [self.display_tokens(int(i)) for i in indices]
        return EncodedCorpus(
            token_ids=np.concatenate(token_chunks).astype(np.int32) if token_chunks
            else np.zeros(0, np.int32),
            sentence_offsets=np.concatenate([[0], np.cumsum(sent_lengths)]).astype(np.int64),
            doc_offsets=np.concatenate([[0], np.cumsum(n_sents)]).astype(np.int64),
            labels=self.labels[indices].copy(),
            doc_ids=[self.doc_ids[int(i)] for i in indices],
            _display=display,
        )

    @classmethod
    def from_tokenized(
        cls, docs: list[TokenizedDoc], labels: list[int], doc_ids: list[str], vocab: Vocabulary
    ) -> EncodedCorpus:
        ids: list[int] = []
        sent_lengths: list[int] = []
        n_sents: list[int] = []
        for doc in docs:
            for sentence in doc:
                ids.extend(vocab.encode(sentence))
                sent_lengths.append(len(sentence))
            n_sents.append(len(doc))
        return cls(
            token_ids=np.asarray(ids, dtype=np.int32),
            sentence_offsets=np.concatenate([[0], np.cumsum(sent_lengths)]).astype(np.int64),
            doc_offsets=np.concatenate([[0], np.cumsum(n_sents)]).astype(np.int64),
            labels=np.asarray(labels, dtype=np.int64),
            doc_ids=list(doc_ids),
            _display=docs,
        )

    def save(self, directory: Path, name: str) -> None:
        np.savez(directory / f"{name}.npz", token_ids=self.token_ids,
                 sentence_offsets=self.sentence_offsets, doc_offsets=self.doc_offsets,
                 labels=self.labels)
        (directory / f"{name}.ids.json").write_text(json.dumps(self.doc_ids))
        if self._display is not None:
            _write_tokens(directory / f"{name}.tokens.gz", self._display)

    @classmethod
    def load(cls, directory: Path, name: str) -> EncodedCorpus:
        arrays = np.load(directory / f"{name}.npz")
        tokens_path = directory / f"{name}.tokens.gz"
        return cls(
            token_ids=arrays["token_ids"], sentence_offsets=arrays["sentence_offsets"],
            doc_offsets=arrays["doc_offsets"], labels=arrays["labels"],
            doc_ids=json.loads((directory / f"{name}.ids.json").read_text()),
            tokens_path=tokens_path if tokens_path.exists() else None,
        )


def _write_tokens(path: Path, docs: list[TokenizedDoc]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for doc in docs:
            out.write(_SENT_SEP.join(_TOKEN_SEP.join(s) for s in doc) + "\n")


def _read_tokens(path: Path) -> list[TokenizedDoc]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [[s.split(_TOKEN_SEP) for s in line.rstrip("\n").split(_SENT_SEP)]
                for line in handle]


@dataclass
class PreparedData:
    """A dataset ready for training and testing (see :func:`prepare_data`)."""

    config: DataConfig
    spec: DatasetSpec
    vocab: Vocabulary
    embeddings: np.ndarray
    train: EncodedCorpus
    dev: EncodedCorpus
    test: EncodedCorpus
    stats: dict[str, dict[str, int]]
    cache_key: str

    def split(self, name: str) -> EncodedCorpus:
        if name not in ("train", "dev", "test"):
            raise DataError(f"unknown split {name!r}; use train, dev or test")
        return getattr(self, name)


def _source_identity(dataset: str) -> dict[str, str]:
    """What identifies the source files: their published SHA-256 or size and mtime.

    A dataset that reads another one's files (``files_of``) is identified by that
    dataset's checksums, so that a re-copied mirror (new mtimes) keeps its cache."""
    spec = get_dataset(dataset)
    if spec.files_of:
        return _source_identity(spec.files_of)
    mirror = paths.mirror_dir()
    out: dict[str, str] = {}
    for split in ("train", "test"):
        path = locate_split(dataset, split)  # verifies a mirror file's checksum
        from_mirror = mirror is not None and path.parent.parent == mirror
        if (from_mirror or spec.files_dir) and split in spec.mirror_sha256:
            out[split] = spec.mirror_sha256[split]
        else:
            stat = path.stat()
            out[split] = f"{stat.st_size}:{int(stat.st_mtime)}"
    return out


def source_identity(dataset: str) -> dict[str, str]:
    """``{split: SHA-256 (or size:mtime)}`` of the files ``dataset`` is read from; a run
    records it, so that it is never tested on other documents under the same name."""
    return _source_identity(dataset)


def cache_key(config: DataConfig) -> str:
    """The preprocessing cache key: config, code versions and source file identity."""
    ident = {"config": config_hash(config), "preprocess": PREPROCESS_VERSION,
             "tokenizer": TOKENIZER_VERSION, "source": _source_identity(config.dataset)}
    spec = get_dataset(config.dataset)
    if spec.shortcut is not None or spec.permuted_labels:  # other datasets keep their keys
        ident["shortcut"] = SHORTCUT_VERSION
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]


def _tokenize_split(
    config: DataConfig, split: str, progress: bool
) -> tuple[list[TokenizedDoc], list[int], list[str], dict[str, int]]:
    spec = get_dataset(config.dataset)
    docs = load_documents(config.dataset, split)
    limit = config.max_train_docs if split == "train" else config.max_test_docs
    chosen = select_subset(len(docs), limit, config.split_seed + (0 if split == "train" else 1))
    clean = CLEANERS[spec.cleaner]
    texts = [clean(docs[i].text) for i in chosen]
    tokenized, labels, ids = [], [], []
    stats = {"source_docs": len(docs), "selected": len(chosen), "dropped_empty": 0,
             "dropped_long": 0}
    for i, doc in zip(chosen, tokenize_documents(texts, progress, f"tokenising {split}")):
        if not doc:
            stats["dropped_empty"] += 1
            continue
        if split == "train" and _too_long(doc, config):
            stats["dropped_long"] += 1
            continue
        tokenized.append(doc)
        labels.append(docs[i].label)
        ids.append(docs[i].id)
    if stats["dropped_empty"]:
        log.warning("%s/%s: dropped %d documents with no tokens", config.dataset, split,
                    stats["dropped_empty"])
    if not tokenized:
        raise DataError(f"{config.dataset}/{split}: no document has any token")
    return tokenized, labels, ids, stats


def _too_long(doc: TokenizedDoc, config: DataConfig) -> bool:
    if config.train_max_sentences is not None and len(doc) > config.train_max_sentences:
        return True
    limit = config.train_max_sentence_tokens
    return limit is not None and max(len(s) for s in doc) > limit


def prepare_data(config: DataConfig, progress: bool = True) -> PreparedData:
    """Tokenise, split, index and embed a dataset, or load all of it from the cache.

    Args:
        config: the data options; every field takes part in the cache key.
        progress: show tqdm bars while tokenising.
    """
    if not isinstance(config, DataConfig):
        raise DataError(f"prepare_data needs a DataConfig, got {type(config).__name__}")
    spec = get_dataset(config.dataset)
    key = cache_key(config)
    directory = paths.cache_dir() / config.dataset / key
    if (directory / "meta.json").exists() or directory.exists():
        try:
            return _load_prepared(directory, config, spec, key)
        except CacheDamaged as damage:  # cheap and safe to recompute: say so and do it
            if damage.legacy:
                log.warning("the preprocessing cache %s was written without checksums (an "
                            "older attnlib); recomputing it once", directory)
            else:
                log.warning("the preprocessing cache %s is damaged (%s); recomputing it",
                            directory, damage)
            _discard(directory)

    train_docs, train_labels, train_ids, train_stats = _tokenize_split(config, "train", progress)
    test_docs, test_labels, test_ids, test_stats = _tokenize_split(config, "test", progress)
    rng = np.random.default_rng(config.split_seed + 2)
    order = rng.permutation(len(train_docs))
    n_dev = max(1, int(round(config.dev_fraction * len(train_docs))))
    dev_idx, train_idx = np.sort(order[:n_dev]), np.sort(order[n_dev:])

    def pick(idx: np.ndarray) -> tuple[list[TokenizedDoc], list[int], list[str]]:
        return ([train_docs[i] for i in idx], [train_labels[i] for i in idx],
                [train_ids[i] for i in idx])

    tr, dv = pick(train_idx), pick(dev_idx)
    vocab = Vocabulary.build(tr[0] + dv[0], min_count=config.min_count)
    train = EncodedCorpus.from_tokenized(*tr, vocab)
    dev = EncodedCorpus.from_tokenized(*dv, vocab)
    test = EncodedCorpus.from_tokenized(test_docs, test_labels, test_ids, vocab)
    sentences = [train.token_ids[a:b] for a, b in
                 zip(train.sentence_offsets[:-1], train.sentence_offsets[1:])]
    sentences += [dev.token_ids[a:b] for a, b in
                  zip(dev.sentence_offsets[:-1], dev.sentence_offsets[1:])]
    embeddings = train_word2vec(sentences, vocab, config.embedding_dim, config.w2v_epochs,
                                seed=config.split_seed)
    stats = {"train": {**train_stats, "train": len(train), "dev": len(dev)},
             "test": {**test_stats, "test": len(test)}}

    _remove_abandoned(directory)
    tmp = directory.with_name(f"{directory.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for name, corpus in (("train", train), ("dev", dev), ("test", test)):
            corpus.save(tmp, name)
        np.save(tmp / "embeddings.npy", embeddings)
        (tmp / "vocab.json").write_text(json.dumps(list(vocab.itos)))
        # the SHA-256 of every file, verified whenever the cache is read back
        sums = {f.name: sha256_of(f) for f in sorted(tmp.iterdir())}
        write_json(tmp / "meta.json", {"config": config.__dict__, "stats": stats, "key": key,
                                       "checksums": sums})
    except BaseException:  # a full disk, Ctrl-C: no partial folder is left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        tmp.rename(directory)  # the cache appears whole or not at all
    except OSError:  # another process finished the same cache first
        shutil.rmtree(tmp, ignore_errors=True)
    return _load_prepared(directory, config, spec, key)


class CacheDamaged(Exception):
    """A preprocessing cache folder that cannot be used (recomputed by prepare_data);
    ``legacy``: written before caches recorded checksums."""

    def __init__(self, message: str, legacy: bool = False) -> None:
        super().__init__(message)
        self.legacy = legacy


def _discard(directory: Path) -> None:
    """Move a damaged cache folder aside (a reader may still hold it) and delete it."""
    aside = directory.with_name(f"{directory.name}.damaged{os.getpid()}")
    shutil.rmtree(aside, ignore_errors=True)
    try:
        directory.rename(aside)
    except OSError:
        return  # another process discarded it first
    shutil.rmtree(aside, ignore_errors=True)


def _remove_abandoned(directory: Path) -> None:
    """Delete ``<key>.tmp<pid>`` folders of ``directory`` left by processes that ended
    (killed, or out of disk space) before moving their cache into place."""
    for folder in directory.parent.glob(f"{directory.name}.tmp*"):
        pid = folder.name.rsplit(".tmp", 1)[1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


def _verify_cache(directory: Path) -> dict[str, Any]:
    """``meta.json`` of a cache folder whose every file matches the SHA-256 recorded when
    it was written, else :class:`CacheDamaged` saying which file."""
    try:
        meta = read_json(directory / "meta.json")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CacheDamaged(f"meta.json cannot be read: {type(error).__name__}") from error
    sums = meta.get("checksums") if isinstance(meta, dict) else None
    if not isinstance(sums, dict) or not isinstance(meta.get("stats"), dict):
        raise CacheDamaged("meta.json records no checksums", legacy="checksums" not in meta
                           if isinstance(meta, dict) else False)
    # files added later (the tf-idf baseline's cache) are checked by their own readers
    for name in sorted(sums):
        path = directory / name
        if not path.is_file():
            raise CacheDamaged(f"{name} is missing")
        if sha256_of(path) != sums[name]:
            raise CacheDamaged(f"{name} does not match its recorded checksum")
    return meta


def _load_prepared(directory: Path, config: DataConfig, spec: DatasetSpec, key: str
                   ) -> PreparedData:
    """The cache folder ``directory``, verified file by file (:class:`CacheDamaged`)."""
    if not (directory / "meta.json").exists():
        raise CacheDamaged("meta.json is missing")
    meta = _verify_cache(directory)
    try:
        return PreparedData(
            config=config, spec=spec,
            vocab=Vocabulary(tuple(json.loads((directory / "vocab.json").read_text()))),
            embeddings=np.load(directory / "embeddings.npy"),
            train=EncodedCorpus.load(directory, "train"),
            dev=EncodedCorpus.load(directory, "dev"),
            test=EncodedCorpus.load(directory, "test"),
            stats=meta["stats"], cache_key=key,
        )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise CacheDamaged(f"cannot be read: {type(error).__name__}: {error}") from error


def length_table(data: PreparedData) -> pd.DataFrame:
    """One row per document and split: sentences (HAN items) and tokens (FLAN items)."""
    frames = []
    for split in ("train", "dev", "test"):
        corpus = data.split(split)
        frames.append(pd.DataFrame({
            "dataset": data.config.dataset, "split": split,
            "sentences": corpus.n_sentences, "tokens": corpus.n_tokens,
            "label": [data.spec.classes[i] for i in corpus.labels]}))
    return pd.concat(frames, ignore_index=True)


def describe_data(data: PreparedData) -> dict[str, object]:
    """Sizes, classes, average lengths and provenance of a prepared dataset."""
    spec, train, test = data.spec, data.train, data.test
    return {
        "dataset": spec.id, "status": spec.status, "classes": spec.n_classes,
        "train": len(train), "dev": len(data.dev), "test": len(test),
        "vocabulary": len(data.vocab),
        "avg sentences": float(np.mean(np.concatenate([train.n_sentences, test.n_sentences]))),
        "avg tokens": float(np.mean(np.concatenate([train.n_tokens, test.n_tokens]))),
        "dropped (no tokens)": data.stats["train"]["dropped_empty"]
        + data.stats["test"]["dropped_empty"],
        "dropped (train outliers)": data.stats["train"]["dropped_long"],
        "note": spec.note,
    }


def length_histogram(lengths: pd.DataFrame, item: str, bins: int = 40) -> pd.DataFrame:
    """Counts of documents per length bin, per dataset and split, from
    :func:`length_table`. Bins span 0 to each dataset's 99th percentile; the longest 1%
    are counted in the last bin, so a few very long documents do not squash the plot."""
    rows = []
    for dataset, group in lengths.groupby("dataset", sort=False):
        upper = max(float(np.quantile(group[item], 0.99)), 1.0)
        edges = np.linspace(0.0, upper, bins + 1)
        for split, part in group.groupby("split", sort=False):
            counts, _ = np.histogram(np.clip(part[item], 0, upper), bins=edges)
            rows += [{"dataset": dataset, "split": split, "bin_start": edges[i],
                      "bin_end": edges[i + 1], "documents": int(c)}
                     for i, c in enumerate(counts)]
    return pd.DataFrame(rows)
