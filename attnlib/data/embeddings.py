"""word2vec initial embeddings trained on train + dev (paper-spec §1.3).

200-d CBOW (window 5) with gensim, rare words already mapped to the unknown token, rows
L2-normalised, padding row zero. One worker thread and a process-independent hash make
it deterministic for a seed. Explained in the book chapter "Models" (book/models.ipynb).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence

import numpy as np

from .text import PAD, Vocabulary

logging.getLogger("gensim").setLevel(logging.WARNING)  # its INFO log is per-epoch chatter


def _stable_hash(text: str) -> int:
    # gensim seeds each word's initial vector with hash(word + seed); Python's str hash
    # changes between processes, crc32 does not.
    return zlib.crc32(text.encode("utf-8"))


def train_word2vec(
    sentences: Sequence[Sequence[int]] | Sequence[np.ndarray],
    vocab: Vocabulary,
    dim: int = 200,
    epochs: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Train word2vec on sentences of vocabulary indices.

    Args:
        sentences: each a sequence of token indices (unknown words already index 1).
        vocab: the vocabulary the indices refer to.
        dim: embedding size.
        epochs: word2vec passes over the corpus.
        seed: gensim seed.

    Returns:
        float32 array of shape (len(vocab), dim): unit-norm rows, zero padding row; a
        vocabulary word absent from ``sentences`` gets a zero row.
    """
    from gensim.models import Word2Vec  # imported here: testing a trained run needs no gensim

    words = [[vocab.itos[i] for i in sentence] for sentence in sentences if len(sentence)]
    model = Word2Vec(
        sentences=words, vector_size=dim, window=5, min_count=0, workers=1, sg=0,
        seed=seed, epochs=epochs, hashfxn=_stable_hash, sorted_vocab=1,
    )
    matrix = np.zeros((len(vocab), dim), dtype=np.float32)
    for i, word in enumerate(vocab.itos):
        if word != PAD and word in model.wv.key_to_index:
            vector = model.wv[word]
            norm = float(np.linalg.norm(vector))
            if norm > 0:
                matrix[i] = vector / norm
    return matrix
