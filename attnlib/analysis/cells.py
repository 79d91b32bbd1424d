"""A study's erasure results read out of core, one dataset x model cell at a time.

A full-scale study holds tens of millions of result rows (108 runs, 14.8 M rows for the
published ``paper`` profile), but every table the book reports is computed per dataset x
model cell: the summaries group by dataset and model, and the claims need, per cell and
per training seed, one value per test document. :class:`ResultCells` therefore reads
the runs' Parquet files cell by cell (pyarrow, the files are the partitions), hands each
cell to *reducers* that keep only their small results, and drops the cell before the
next is read. Memory grows with the largest cell (900 k rows, about 150 MB at
``paper`` scale), not with the number of runs; the claims read one seed at a time, so
their memory grows only with one run plus the cell's per-document values.

Every table is identical to the one the same function computes on the whole table
(``StudyRecords.results()``): cells are visited in the order the whole table's
``groupby`` would visit them, identifier columns come back as the same sorted
categoricals, and the three computations that look across cells (the scatter sample's
shuffle, the first random seed of :func:`attnlib.analysis.summaries.head_to_head`, and
the random stream of :func:`attnlib.analysis.claims.encoder_effect`) are reproduced
exactly (``tests/test_streaming.py`` compares both ways on real results).

Used by the chapters "Single-weight tests", "Multi-weight tests", "Does the paper hold?"
and the conclusions (book/*.ipynb); measured in docs/benchmarks.md ("The paper book's
memory").
"""

from __future__ import annotations

import ctypes
import functools
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..layer.results import IDENTIFIERS, concat_results, load_results


@dataclass(frozen=True)
class RunFile:
    """One run's results file and the keys it is filed under."""

    run: str  # config hash
    dataset: str
    model: str
    arch: str
    encoder: str
    seed: int  # training seed (model_seed)
    path: Path


@dataclass(frozen=True)
class Cell:
    """The runs of one dataset x model cell, in the study's order."""

    dataset: str
    model: str
    runs: tuple[RunFile, ...]

    @property
    def arch(self) -> str:
        return self.runs[0].arch

    @property
    def encoder(self) -> str:
        return self.runs[0].encoder

    def frame(self, exclude_runs: Iterable[str] = ()) -> pd.DataFrame:
        """All rows of the cell (runs in the study's order), as ``concat_results`` makes
        them: (rows, columns of :data:`attnlib.layer.results.SCHEMA`)."""
        skip = set(exclude_runs)
        return concat_results(load_results(r.path) for r in self.runs if r.run not in skip)

    def seed_frames(self, exclude_runs: Iterable[str] = ()) -> Iterator[pd.DataFrame]:
        """The cell's rows one training seed at a time, seeds in ascending order: only
        one run is in memory at once."""
        skip = set(exclude_runs)
        runs = [r for r in self.runs if r.run not in skip]
        for seed in sorted({r.seed for r in runs}):
            yield concat_results(load_results(r.path) for r in runs if r.seed == seed)
            _release_memory()


@runtime_checkable
class Reducer(Protocol):
    """Consumes cells one at a time and keeps only what its result needs."""

    def add(self, cell: Cell, frame: pd.DataFrame) -> None: ...

    def result(self) -> Any: ...


@dataclass
class PerCell:
    """A function of a results table that groups by (at least) dataset and model, applied
    cell by cell; the pieces are stacked and the identifier columns get back the
    categories of the whole table."""

    function: Callable[[pd.DataFrame], pd.DataFrame]
    pieces: list[pd.DataFrame] = field(default_factory=list)
    categories: dict[str, set[str]] = field(default_factory=dict)

    def add(self, cell: Cell, frame: pd.DataFrame) -> None:
        for column in IDENTIFIERS:
            self.categories.setdefault(column, set()).update(frame[column].cat.categories)
        self.pieces.append(self.function(frame))

    def result(self) -> pd.DataFrame:
        return restack(self.pieces, self.categories)


def restack(pieces: Sequence[pd.DataFrame], categories: Mapping[str, set[str]]
            ) -> pd.DataFrame:
    """Stack per-cell tables with a fresh index, identifier columns as the whole table's
    sorted categoricals (what a groupby over the whole table returns)."""
    pieces = [p for p in pieces if len(p.columns)]
    if not pieces:
        return pd.DataFrame()
    out = pd.concat([_plain(p) for p in pieces], ignore_index=True)
    for column, values in categories.items():
        if column in out.columns and isinstance(pieces[0][column].dtype, pd.CategoricalDtype):
            dtype = pd.CategoricalDtype(pd.Index(sorted(values), dtype="string"))
            out[column] = out[column].astype(dtype)
    return out


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical identifier columns as strings, so that pieces stack without mixing."""
    cats = {c: "string" for c in frame.columns
            if c in IDENTIFIERS and isinstance(frame[c].dtype, pd.CategoricalDtype)}
    return frame.astype(cats) if cats else frame


def _release_memory() -> None:
    """Hand the memory of the cell just dropped back to the system (glibc keeps freed
    blocks otherwise, and a kernel's RSS would keep the largest cells' sum)."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 (glibc only)
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


@dataclass
class ResultCells:
    """The erasure results of a study's runs, read one dataset x model cell at a time.

    Built by ``StudyRecords.result_cells()`` (or from any list of :class:`RunFile`);
    analysis functions that take a results table also take this (see the module
    docstring)."""

    runs: tuple[RunFile, ...]
    _scan: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def cells(self) -> list[Cell]:
        """The cells, sorted by (dataset, model) as a groupby of the whole table is."""
        grouped: dict[tuple[str, str], list[RunFile]] = {}
        for r in self.runs:
            grouped.setdefault((r.dataset, r.model), []).append(r)
        return [Cell(d, m, tuple(rs)) for (d, m), rs in sorted(grouped.items())]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(dataset, model) of every cell."""
        return [(c.dataset, c.model) for c in self.cells()]

    def reduce(self, reducers: Mapping[str, Reducer | Callable[[pd.DataFrame], pd.DataFrame]],
               exclude_runs: Iterable[str] = ()) -> dict[str, Any]:
        """One pass over the cells: every reducer sees every cell, then gives its result.
        A plain function is applied per cell (:class:`PerCell`). ``exclude_runs`` leaves
        runs out of every table."""
        ready: dict[str, Reducer] = {}
        for name, r in reducers.items():
            ready[name] = r if isinstance(r, Reducer) else PerCell(r)
        for reducer in ready.values():
            prepare = getattr(reducer, "prepare", None)
            if prepare is not None:
                prepare(self)
        for cell in self.cells():
            frame = cell.frame(exclude_runs)
            if len(frame) == 0:
                continue
            for reducer in ready.values():
                reducer.add(cell, frame)
            del frame
            _release_memory()
        return {name: reducer.result() for name, reducer in ready.items()}

    def table(self, function: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
        """One per-cell function over the study (a pass of its own)."""
        return self.reduce({"table": function})["table"]

    def scan(self) -> dict[str, Any]:
        """Study-wide facts a few tables need, from three columns of every file (a cheap
        pass): per run, its number of single-weight rows per ranking (in file order:
        ``single_rows``), and per ranking, the lowest random seed of the multi-weight rows
        (``first_seeds``)."""
        if self._scan is None:
            counts: dict[str, dict[str, int]] = {}
            firsts: dict[str, int] = {}
            for r in self.runs:
                table = pq.read_table(r.path, columns=["test", "ranking", "seed"],
                                      read_dictionary=["test", "ranking"])
                test = table["test"].to_pandas().astype(str)
                ranking = table["ranking"].to_pandas().astype(str)
                seed = table["seed"]
                counts[r.run] = ranking[test == "single"].value_counts().to_dict()
                multi = (test == "multi").to_numpy()
                for name in ranking[multi].unique():
                    mask = multi & (ranking == name).to_numpy()
                    low = pc.min(seed.filter(mask)).as_py()
                    if low is not None:
                        firsts[name] = min(firsts.get(name, low), low)
            self._scan = {"single_rows": counts, "first_seeds": firsts}
        return self._scan


def study_pairs(results: pd.DataFrame | ResultCells) -> set[tuple[str, str]]:
    """The (dataset, model) cells that have results."""
    if isinstance(results, ResultCells):
        return set(results.pairs)
    return set(zip(results["dataset"], results["model"]))


@dataclass
class DocumentCount:
    """Test documents across datasets: per dataset, the distinct ``instance_id`` of all
    its runs, summed (what ``results.groupby('dataset')['instance_id'].nunique().sum()``
    gives on the whole table)."""

    ids: dict[str, set[int]] = field(default_factory=dict)

    def add(self, cell: Cell, frame: pd.DataFrame) -> None:
        self.ids.setdefault(cell.dataset, set()).update(
            frame["instance_id"].dropna().astype("int64").unique().tolist())

    def result(self) -> int:
        return sum(len(v) for v in self.ids.values())


def per_cell(function: Callable[..., pd.DataFrame], *args: Any, **kwargs: Any) -> PerCell:
    """:class:`PerCell` of ``function(frame, *args, **kwargs)``."""
    return PerCell(lambda frame: function(frame, *args, **kwargs))


def global_positions(n: int, seed: int) -> np.ndarray:
    """(n,) where each of n stacked rows lands in ``DataFrame.sample(frac=1.0,
    random_state=seed)``: pandas draws ``RandomState(seed).permutation(n)``."""
    order = np.random.RandomState(seed).permutation(n)
    where = np.empty(n, dtype=np.int64)
    where[order] = np.arange(n)
    return where


F = TypeVar("F", bound=Callable[..., Any])


def streams(function: F) -> F:
    """Let a per-cell table function (one that groups by dataset and model) also take
    :class:`attnlib.analysis.cells.ResultCells`: it is then applied cell by cell, in one
    pass over the study, with the same result."""

    @functools.wraps(function)
    def wrapper(df: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(df, ResultCells):
            return df.table(lambda frame: function(frame, *args, **kwargs))
        return function(df, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
