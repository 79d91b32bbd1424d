"""Length-bucketed batches capped by padded tokens (paper-spec §2.7 note c).

Explained in the book chapter "Models" (book/models.ipynb).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .corpus import EncodedCorpus


@dataclass
class Batch:
    """Padded model input for documents ``indices`` of a corpus.

    Attributes:
        indices: (B,) document indices in the corpus.
        tokens: FLAN (B, T) or HAN (B, S, T) int64 token indices, 0 = padding.
        labels: (B,) gold labels.
    """

    indices: np.ndarray
    tokens: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        return Batch(self.indices, self.tokens.to(device), self.labels.to(device))

    def __len__(self) -> int:
        return len(self.indices)


def padded_size(corpus: EncodedCorpus, arch: str, indices: np.ndarray) -> int:
    """Padded token count of a batch: B x T (FLAN) or B x S x T (HAN)."""
    if arch == "flan":
        return len(indices) * int(corpus.n_tokens[indices].max())
    return (len(indices) * int(corpus.n_sentences[indices].max())
            * int(corpus.max_sentence_tokens[indices].max()))


def make_batches(
    corpus: EncodedCorpus,
    arch: str,
    token_cap: int,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 0,
    han_cap: str = "padded_tokens",
) -> list[np.ndarray]:
    """Group documents of similar length into batches of at most ``batch_size`` documents
    and (unless a single document exceeds it) at most ``token_cap`` padded tokens.

    For HAN, ``han_cap`` says what the cap bounds: ``padded_tokens`` = documents x
    sentences x tokens per sentence; ``longest_sentence`` = documents x tokens of the
    longest sentence, the paper's rule (AllenNLP's ``maximum_samples_per_batch`` on
    ``list_num_tokens``), which gives batches several times larger.

    With ``shuffle`` the order inside equal lengths and the order of batches are drawn
    from ``seed``; otherwise batches follow increasing length, deterministically.
    """
    n = len(corpus)
    rng = np.random.default_rng(seed)
    noise = rng.random(n) if shuffle else np.arange(n)
    if arch == "flan":
        order = np.lexsort((noise, corpus.n_tokens))
    else:
        order = np.lexsort((noise, corpus.max_sentence_tokens, corpus.n_sentences))
    batches: list[np.ndarray] = []
    current: list[int] = []
    max_s = max_t = 0
    for i in order:
        s = int(corpus.n_sentences[i]) if arch == "han" else 1
        t = int(corpus.max_sentence_tokens[i]) if arch == "han" else int(corpus.n_tokens[i])
        new_s, new_t = max(max_s, s), max(max_t, t)
        size = (len(current) + 1) * new_t * (1 if han_cap == "longest_sentence" else new_s)
        if current and (len(current) >= batch_size or size > token_cap):
            batches.append(np.asarray(current))
            current, new_s, new_t = [], s, t
        current.append(int(i))
        max_s, max_t = new_s, new_t
    if current:
        batches.append(np.asarray(current))
    if shuffle:
        batches = [batches[j] for j in rng.permutation(len(batches))]
    return batches


def collate(corpus: EncodedCorpus, indices: np.ndarray, arch: str) -> Batch:
    """Pad documents ``indices`` into a :class:`Batch` for ``arch``."""
    labels = torch.as_tensor(corpus.labels[indices], dtype=torch.long)
    if arch == "flan":
        docs = [corpus.tokens(int(i)) for i in indices]
        out = np.zeros((len(docs), max(len(d) for d in docs)), dtype=np.int64)
        for row, doc in enumerate(docs):
            out[row, : len(doc)] = doc
        return Batch(np.asarray(indices), torch.from_numpy(out), labels)
    docs_s = [corpus.sentences(int(i)) for i in indices]
    n_s = max(len(d) for d in docs_s)
    n_t = max(len(s) for d in docs_s for s in d)
    grid = np.zeros((len(docs_s), n_s, n_t), dtype=np.int64)
    for row, sentences in enumerate(docs_s):
        for j, sentence in enumerate(sentences):
            grid[row, j, : len(sentence)] = sentence
    return Batch(np.asarray(indices), torch.from_numpy(grid), labels)
