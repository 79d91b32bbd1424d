"""Planted shortcuts (Bastings, Ebert, Zablotskaia, Sandholm & Filippova 2022): a seeded
transform of any dataset that inserts made-up tokens which decide the label, so that the
rankings of the book can be scored against a known answer.

A shortcut dataset is named ``<base>+shortcut[-pair][-pNN][-sN]`` and works everywhere a
dataset id does (``imdb+shortcut``, ``20newsgroups+shortcut-pair-p50``):

* ``shortcut`` (single token): class ``c`` has its own made-up token (``zeroa`` for class
  0, ``onea`` for class 1, ... :data:`SHORTCUT_WORDS`);
* ``shortcut-pair`` (ordered pair): a planted document receives two made-up tokens at two
  random positions, and their *order* decides the class: with two classes, ``zeroa`` before
  ``onea`` is class 0 and ``onea`` before ``zeroa`` is class 1 (both documents hold the same
  two tokens). With C classes the m smallest words with m(m-1) >= C are used and class c is
  the c-th ordered pair of distinct words (lexicographic order of positions);
* ``-pNN``: each document (train and test) is planted with probability NN % (default
  :data:`DEFAULT_RATE` = 20 %); ``-sN``: the transform's seed (default 0).

How the label is decided: a planted document's class ``c`` is drawn uniformly from the
classes, its label is **replaced** by ``c`` and ``c``'s token (or ordered pair) is inserted.
The token therefore decides the label of every planted document, whatever the text says;
the label of an unplanted document is the base dataset's. Each document's draws come from
its own generator seeded by (seed, split, line number, id), so the transform is
deterministic, independent of the order documents are read in, and an unplanted document is
byte-identical to the base one.

Tokens are inserted at the start of a word (or at the end of the text), never inside an
HTML tag, followed (or preceded) by one space. A position is accepted only when the token
survives the base dataset's cleaner (20 Newsgroups drops headers, quotes and signatures):
up to :data:`MAX_TRIES` positions are tried, then the document stays unplanted (counted in
:func:`shortcut_stats`). Explained in the chapter "A test with a known answer"
(book/known_answer.ipynb).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import permutations
from typing import TYPE_CHECKING, Literal

from ..errors import DataError

if TYPE_CHECKING:  # a type only: loading imports this module
    from .loading import Document

ShortcutKind = Literal["single", "pair"]
SHORTCUT_VERSION = "1"
PERMUTED_SUFFIX = "+permuted"
DEFAULT_RATE = 0.2
MAX_TRIES = 20
SHORTCUT_WORDS = (
    "zeroa", "onea", "twoa", "threea", "foura", "fivea", "sixa", "sevena", "eighta", "ninea",
    "tena", "elevena", "twelvea", "thirteena", "fourteena", "fifteena", "sixteena",
    "seventeena", "eighteena", "nineteena",
)
_ID = re.compile(r"^(?P<base>[^+]+)\+shortcut(?P<pair>-pair)?(?:-p(?P<rate>\d{1,3}))?"
                 r"(?:-s(?P<seed>\d{1,9}))?$")
_WORD = re.compile(r"\S+")
_TAG = re.compile(r"<[^<>]*>")


@dataclass(frozen=True)
class ShortcutSpec:
    """The shortcut of a ``<base>+shortcut...`` dataset (see the module doc).

    Attributes:
        base: the base dataset id.
        kind: ``single`` (one token per class) or ``pair`` (an ordered pair per class).
        rate: the probability that a document is planted, in (0, 1].
        seed: the transform's seed.
        n_classes: the base dataset's number of classes.
    """

    base: str
    kind: ShortcutKind
    rate: float
    seed: int
    n_classes: int

    @property
    def words(self) -> tuple[str, ...]:
        """The made-up tokens this shortcut uses (lowercase, one spaCy token each)."""
        if self.kind == "single":
            return SHORTCUT_WORDS[: self.n_classes]
        m = 2
        while m * (m - 1) < self.n_classes:
            m += 1
        return SHORTCUT_WORDS[:m]

    def tokens_of(self, label: int) -> tuple[str, ...]:
        """The token(s) planted for class ``label``, in the order they appear."""
        if self.kind == "single":
            return (self.words[label],)
        first, second = list(permutations(range(len(self.words)), 2))[label]
        return (self.words[first], self.words[second])

    def label_of(self, tokens: Sequence[str]) -> int | None:
        """The class decided by the shortcut tokens of a document, in document order
        (``None`` when they are not exactly one class's token or ordered pair)."""
        found = tuple(t.lower() for t in tokens if t.lower() in self.words)
        for label in range(self.n_classes):
            if found == self.tokens_of(label):
                return label
        return None

    @property
    def n_planted_items(self) -> int:
        """Tokens planted per document (the k of precision@k at the token level)."""
        return 1 if self.kind == "single" else 2

    def describe(self) -> str:
        """One sentence on how the shortcut decides the label."""
        rate = f"{self.rate:.0%} of the documents (train and test, seed {self.seed})"
        if self.kind == "single":
            pairs = ", ".join(f"{w!r} -> class {i}" for i, w in enumerate(self.words[:3]))
            more = ", ..." if self.n_classes > 3 else ""
            return (f"{rate} receive one made-up token at a random position, and their label "
                    f"is replaced by the class that token stands for ({pairs}{more})")
        a, b = self.tokens_of(0)
        return (f"{rate} receive two made-up tokens at random positions, and their label is "
                f"replaced by the class their order stands for ({a!r} before {b!r} -> class 0,"
                f" {b!r} before {a!r} -> class 1{', ...' if self.n_classes > 2 else ''})")


def parse_shortcut_id(dataset_id: str) -> tuple[str, ShortcutKind, float, int] | None:
    """``(base, kind, rate, seed)`` of a shortcut dataset id, ``None`` for another id;
    a malformed rate is one clear error."""
    match = _ID.match(dataset_id) if isinstance(dataset_id, str) else None
    if match is None:
        return None
    rate = DEFAULT_RATE if match["rate"] is None else int(match["rate"]) / 100
    if not 0 < rate <= 1:
        raise DataError(f"{dataset_id!r}: the planting rate -p{match['rate']} must be a "
                        "percentage from 1 to 100 (e.g. imdb+shortcut-p20)")
    kind: ShortcutKind = "pair" if match["pair"] else "single"
    return match["base"], kind, rate, int(match["seed"] or 0)


def make_shortcut_spec(dataset_id: str, n_classes: int) -> ShortcutSpec:
    parsed = parse_shortcut_id(dataset_id)
    if parsed is None:
        raise DataError(f"{dataset_id!r} is not a shortcut dataset id; write "
                        "<base>+shortcut[-pair][-pNN][-sN], e.g. imdb+shortcut")
    base, kind, rate, seed = parsed
    limit = len(SHORTCUT_WORDS) if kind == "single" else len(SHORTCUT_WORDS) * (
        len(SHORTCUT_WORDS) - 1)
    if n_classes > limit:
        raise DataError(f"{dataset_id!r}: {base} has {n_classes} classes, more than the "
                        f"{limit} the {kind} shortcut can mark; use a dataset with fewer")
    return ShortcutSpec(base, kind, rate, seed, n_classes)


def _word_starts(text: str) -> list[int]:
    """Insertion points: the start of every whitespace-separated word outside an HTML tag,
    and the end of the text."""
    tags = [m.span() for m in _TAG.finditer(text)] if "<" in text else []
    starts = [m.start() for m in _WORD.finditer(text)
              if not any(a < m.start() < b for a, b in tags)]
    return [*starts, len(text)]


def _insert(text: str, position: int, token: str) -> str:
    if position >= len(text):
        return f"{text} {token}"
    return f"{text[:position]}{token} {text[position:]}"


def _survives(text: str, tokens: tuple[str, ...], clean: Callable[[str], str]) -> bool:
    found = [w for w in clean(text).split() if w in tokens]
    return tuple(found) == tokens


def plant(spec: ShortcutSpec, text: str, label: int, rng: random.Random,
          clean: Callable[[str], str]) -> tuple[str, int, bool]:
    """``(text, label, planted)`` of one document, drawing from ``rng``: planted with
    probability ``spec.rate``; see the module doc. Unplanted: the input, unchanged."""
    if rng.random() >= spec.rate:
        return text, label, False
    target = rng.randrange(spec.n_classes)
    tokens = spec.tokens_of(target)
    starts = _word_starts(text)
    for _ in range(MAX_TRIES):
        if len(tokens) == 1:
            new = _insert(text, rng.choice(starts), tokens[0])
        else:
            if len(starts) < 2:
                break
            first, second = sorted(rng.sample(starts, 2))
            new = _insert(_insert(text, second, tokens[1]), first, tokens[0])
        if _survives(new, tokens, clean):
            return new, target, True
    return text, label, False


def document_rng(spec: ShortcutSpec, split: str, line: int, doc_id: str) -> random.Random:
    """The generator of one document's draws (a string seed: the same on every platform)."""
    return random.Random(f"attnlib-shortcut-v{SHORTCUT_VERSION}/{spec.seed}/{split}/{line}/"
                         f"{doc_id}")


def apply_shortcut(spec: ShortcutSpec, documents: list[Document], split: str,
                   clean: Callable[[str], str]) -> list[Document]:
    """The base split's ``documents`` with the shortcut planted (same order, same ids)."""

    out = []
    for line, doc in enumerate(documents):
        text, label, planted = plant(spec, doc.text, doc.label,
                                     document_rng(spec, split, line, doc.id), clean)
        out.append(replace(doc, text=text, label=label) if planted else doc)
    return out


@dataclass(frozen=True)
class ShortcutStats:
    """How many documents of a split carry the shortcut.

    Attributes:
        documents: documents in the split.
        planted: documents that received the shortcut.
        relabelled: planted documents whose label changed (the drawn class differs from
            the base label).
        not_placed: documents drawn for planting where no position survived the cleaner.
        per_class: planted documents per class.
    """

    documents: int
    planted: int
    relabelled: int
    not_placed: int
    per_class: tuple[int, ...]


def shortcut_stats(spec: ShortcutSpec, documents: list[Document], split: str,
                   clean: Callable[[str], str]) -> ShortcutStats:
    """Counts of :func:`apply_shortcut` on the base split's ``documents``."""
    planted = relabelled = not_placed = 0
    per_class = [0] * spec.n_classes
    for line, doc in enumerate(documents):
        rng = document_rng(spec, split, line, doc.id)
        drawn = random.Random()
        drawn.setstate(rng.getstate())
        chosen = drawn.random() < spec.rate
        text, label, ok = plant(spec, doc.text, doc.label, rng, clean)
        if ok:
            planted += 1
            relabelled += label != doc.label
            per_class[label] += 1
        elif chosen:
            not_placed += 1
    return ShortcutStats(len(documents), planted, relabelled, not_placed, tuple(per_class))


def permute_labels(documents: list[Document]) -> list[Document]:
    """The training ``documents`` with their labels permuted among them (a seeded shuffle:
    the same for every run, so every ``+permuted`` twin sees the same labels)."""

    labels = [d.label for d in documents]
    random.Random(f"attnlib-permuted-labels-v{SHORTCUT_VERSION}").shuffle(labels)
    return [replace(d, label=y) for d, y in zip(documents, labels)]
