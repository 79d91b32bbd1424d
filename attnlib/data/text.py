"""Sentence splitting, tokenisation and the vocabulary (paper-spec §1.3).

spaCy's rule-based English pipeline (``spacy.blank("en")`` + ``sentencizer``) needs no
model download. Explained in the book chapter "Data" (book/data.ipynb).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

if TYPE_CHECKING:
    import spacy

PAD, UNK = "@@PADDING@@", "@@UNKNOWN@@"
TOKENIZER_VERSION = "spacy-blank-en-sentencizer-v1"

# A tokenised document: sentences of tokens (original case; lowercased at indexing).
TokenizedDoc = list[list[str]]


@lru_cache(maxsize=1)
def _pipeline() -> spacy.language.Language:
    import spacy  # imported here: loading a trained run and testing it need no spaCy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = 10_000_000
    return nlp


def tokenize_documents(
    texts: Sequence[str], progress: bool = False, desc: str = "tokenising"
) -> Iterator[TokenizedDoc]:
    """Split each text into sentences of tokens; whitespace tokens and empty sentences
    are dropped, so a document may come back empty (the caller drops and counts it)."""
    docs = _pipeline().pipe(texts, batch_size=256)
    for doc in tqdm(docs, total=len(texts), disable=not progress, desc=desc, unit="doc"):
        sentences = []
        for sent in doc.sents:
            tokens = [t.text for t in sent if not t.is_space]
            if tokens:
                sentences.append(tokens)
        yield sentences


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> index; index 0 is padding, index 1 the unknown token."""

    itos: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_stoi", {w: i for i, w in enumerate(self.itos)})

    @classmethod
    def build(cls, docs: Iterable[TokenizedDoc], min_count: int = 5) -> Vocabulary:
        """Lowercased words seen at least ``min_count`` times, most frequent first."""
        counts: Counter[str] = Counter()
        for doc in docs:
            for sentence in doc:
                counts.update(t.lower() for t in sentence)
        words = sorted((w for w, c in counts.items() if c >= min_count),
                       key=lambda w: (-counts[w], w))
        return cls((PAD, UNK, *words))

    def __len__(self) -> int:
        return len(self.itos)

    def index(self, token: str) -> int:
        return self._stoi.get(token.lower(), 1)  # type: ignore[attr-defined]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        stoi = self._stoi  # type: ignore[attr-defined]
        return [stoi.get(t.lower(), 1) for t in tokens]
