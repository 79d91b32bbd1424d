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


PAPER_DATASETS = ("imdb", "yelp-20k", "amazon-marc-en", "20newsgroups", "yahoo-answers-2topic")

PLANS: dict[str, tuple[GridPart, ...]] = {
    # All six models on the five datasets with seed 0 (the IMDB rnn models with three
    # seeds first, the paper's headline models), then seeds 1 and 2 of every cell, the
    # cheapest datasets first: a verdict needs three training seeds in every cell. Last,
    # the 8-class IMDB ratings task, the closest stand-in for the paper's 10-class IMDB.
    "paper": (
        GridPart(PAPER_DATASETS[:4]),
        GridPart(("imdb",), encoders=("rnn",), seeds=(1, 2)),
        GridPart(("yahoo-answers-2topic",)),
        GridPart(("yahoo-answers-2topic", "amazon-marc-en", "yelp-20k", "20newsgroups",
                  "imdb"), seeds=(1, 2)),
        GridPart(("imdb-ratings",), seeds=(0, 1, 2)),
    ),
}


SHORTCUT_DATASETS = ("imdb+shortcut", "imdb-ratings+shortcut")

SIDE_PLANS: dict[str, tuple[str, tuple[GridPart, ...]]] = {
    # The test with a known answer (book/known_answer.ipynb): the six models with three
    # seeds on the planted-shortcut versions (20% of the documents; attnlib.data.shortcut)
    # of IMDB and of the 8-class IMDB ratings task, with the paper profile's
    # hyperparameters. A plan of its own: the paper book does not count these runs
    # missing; the known-answer chapter says when they are not published.
    "paper-shortcut": ("paper", (GridPart(SHORTCUT_DATASETS[:1], seeds=(0, 1, 2)),
                                 GridPart(SHORTCUT_DATASETS[1:], seeds=(0, 1, 2)))),
}


def list_plans() -> list[str]:
    """The profiles with a plan (their published books report it)."""
    return sorted(PLANS)


def list_side_plans() -> list[str]:
    """Plans of extra runs (e.g. ``paper-shortcut``), trained with ``attnlib grid --plan``."""
    return sorted(SIDE_PLANS)


def plan_runs(name: str) -> tuple[str, list[RunKey]]:
    """(profile, runs in training order) of a profile's plan or a side plan."""
    if name in SIDE_PLANS:
        profile, parts = SIDE_PLANS[name]
        return profile, list(dict.fromkeys(r for part in parts for r in part.runs()))
    return name, planned_runs(name)


def planned_runs(profile: str) -> list[RunKey]:
    """Every run of ``profile``'s plan, in training order, without repeats."""
    if profile not in PLANS:
        raise UnknownNameError("planned profile", profile, list_plans())
    return list(dict.fromkeys(r for part in PLANS[profile] for r in part.runs()))


def missing_runs(profile: str, done: Iterable[RunKey]) -> list[RunKey]:
    """The planned runs of ``profile`` that are not in ``done``."""
    have = {(d, a, e, int(s)) for d, a, e, s in done}
    return [r for r in planned_runs(profile) if r not in have]


def describe_runs(runs: Iterable[RunKey]) -> str:
    """A short description of a set of runs, grouped by dataset and by the seeds each
    model lacks: ``seeds 1 and 2 of all six models on yelp-20k; seed 2 of HANrnn on imdb``."""
    by_dataset: dict[str, dict[tuple[int, ...], list[str]]] = {}
    seeds_of: dict[tuple[str, str], list[int]] = {}
    for dataset, arch, encoder, seed in runs:
        seeds_of.setdefault((dataset, f"{arch.upper()}{encoder}"), []).append(int(seed))
    for (dataset, model), seeds in seeds_of.items():
        by_dataset.setdefault(dataset, {}).setdefault(tuple(sorted(seeds)), []).append(model)
    all_models = len(ARCHS) * len(ENCODERS)
    phrases: dict[str, list[str]] = {}  # "seeds 1 and 2 of all six models" -> datasets
    for dataset, groups in by_dataset.items():
        for missing, models in groups.items():
            seed_words = (f"seed {missing[0]}" if len(missing) == 1 else "seeds "
                          + ", ".join(map(str, missing[:-1])) + f" and {missing[-1]}")
            who = ("all six models" if len(models) == all_models else
                   models[0] if len(models) == 1 else
                   ", ".join(models[:-1]) + f" and {models[-1]}")
            phrases.setdefault(f"{seed_words} of {who}", []).append(dataset)
    return "; ".join(f"{phrase} on " + (datasets[0] if len(datasets) == 1 else
                                         ", ".join(datasets[:-1]) + f" and {datasets[-1]}")
                     for phrase, datasets in phrases.items())


def run_label(run: RunKey) -> str:
    """``imdb/HANconv/seed0``, the label runs carry everywhere else."""
    dataset, arch, encoder, seed = run
    return f"{dataset}/{arch.upper()}{encoder}/seed{seed}"
