"""The planned grid of a profile: which runs its published book should report, in the
order `python -m attnlib grid --plan paper` trains them, and which are still missing.

Only ``paper`` has a plan (the ``smoke`` profile trains whatever its notebooks ask for).
Explained in the book chapter "Does the paper hold?" (book/paper_claims.ipynb).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .config import ARCHS, ENCODERS
from .errors import UnknownNameError

RunKey = tuple[str, str, str, int]  # (dataset, arch, encoder, seed)


@dataclass(frozen=True)
class GridPart:
    """The product datasets x archs x encoders x seeds."""

    datasets: tuple[str, ...]
    archs: tuple[str, ...] = ARCHS
    encoders: tuple[str, ...] = ENCODERS
    seeds: tuple[int, ...] = (0,)

    def runs(self) -> list[RunKey]:
        return [(d, a, e, s) for d in self.datasets for s in self.seeds for a in self.archs
                for e in self.encoders]


PLANS: dict[str, tuple[GridPart, ...]] = {
    # All six models on the four datasets with seed 0, two more seeds of the IMDB rnn
    # models (the paper's headline models), then the Yahoo two-topic subset.
    "paper": (
        GridPart(("imdb", "yelp-20k", "amazon-marc-en", "20newsgroups")),
        GridPart(("imdb",), encoders=("rnn",), seeds=(1, 2)),
        GridPart(("yahoo-answers-2topic",)),
    ),
}


def list_plans() -> list[str]:
    return sorted(PLANS)


def planned_runs(profile: str) -> list[RunKey]:
    """Every run of ``profile``'s plan, in training order, without repeats."""
    if profile not in PLANS:
        raise UnknownNameError("planned profile", profile, list_plans())
    return list(dict.fromkeys(r for part in PLANS[profile] for r in part.runs()))


def missing_runs(profile: str, done: Iterable[RunKey]) -> list[RunKey]:
    """The planned runs of ``profile`` that are not in ``done``."""
    have = {(d, a, e, int(s)) for d, a, e, s in done}
    return [r for r in planned_runs(profile) if r not in have]


def run_label(run: RunKey) -> str:
    """``imdb/HANconv/seed0``, the label runs carry everywhere else."""
    dataset, arch, encoder, seed = run
    return f"{dataset}/{arch.upper()}{encoder}/seed{seed}"
