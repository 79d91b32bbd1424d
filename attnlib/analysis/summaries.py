"""Aggregations of erasure results that the book reports, each a DataFrame.

Explained in the chapters "Single-weight tests" and "Multi-weight tests".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..layer.results import validate
from .bias_class import censored_first_flip, flips_before_full
from .cells import Cell, ResultCells, global_positions, restack, streams

KEYS = ["dataset", "model"]


def _single(df: pd.DataFrame, ranking: str | None = None) -> pd.DataFrame:
    out = validate(df)
    out = out[out["test"] == "single"]
    return out if ranking is None else out[out["ranking"] == ranking]


def _multi(df: pd.DataFrame) -> pd.DataFrame:
    out = validate(df)
    return out[out["test"] == "multi"]


@streams
def negative_delta_js_share(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x model x ranking: how often erasing the top item moves the output
    less than erasing a random one (Delta JS < 0), and the median Delta JS."""
    single = _single(df)
    grouped = single.assign(negative=single["delta_js"] < 0).groupby(
        [*KEYS, "ranking"], observed=True)
    return grouped.agg(n=("delta_js", "size"), negative_share=("negative", "mean"),
                       median_delta_js=("delta_js", "median")).reset_index()


@streams
def flip_table(df: pd.DataFrame, ranking: str = "attention") -> pd.DataFrame:
    """The paper's Table 2 per dataset x model: % of instances where erasing the top item
    (rows) and a random other item (columns) flips the decision."""
    single = _single(df, ranking)
    top, rnd = single["flip_top"].astype(bool), single["flip_random"].astype(bool)
    cells = single.assign(both=top & rnd, only_top=top & ~rnd, only_random=~top & rnd,
                          neither=~top & ~rnd)
    out = cells.groupby(KEYS, observed=True).agg(
        n=("both", "size"), both=("both", "mean"), only_top=("only_top", "mean"),
        only_random=("only_random", "mean"), neither=("neither", "mean")).reset_index()
    for c in ("both", "only_top", "only_random", "neither"):
        out[c] = 100 * out[c]
    off = out["only_top"] + out["only_random"]
    out["only_random_share_of_off_diagonal"] = np.where(off > 0, out["only_random"] / off,
                                                        np.nan)
    out.insert(2, "ranking", ranking)
    return out


def flip_table_2x2(df: pd.DataFrame, dataset: str, model: str,
                   ranking: str = "attention") -> pd.DataFrame:
    """One model's 2x2 flip table (percent) with readable row and column labels."""
    return flip_2x2(flip_table(df, ranking), dataset, model)


def flip_2x2(flips: pd.DataFrame, dataset: str, model: str) -> pd.DataFrame:
    """One model's 2x2 flip table from a :func:`flip_table` (no pass over the results)."""
    row = flips
    row = row[(row["dataset"] == dataset) & (row["model"] == model)]
    if row.empty:
        raise KeyError(f"no single-weight results for {dataset} / {model}")
    r = row.iloc[0]
    return pd.DataFrame(
        [[r["both"], r["only_top"]], [r["only_random"], r["neither"]]],
        index=pd.Index(["top item flips", "top item does not flip"], name=f"{model}"),
        columns=["random item flips", "random item does not flip"])


@streams
def fraction_to_flip_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x model x ranking: how documents end under the multi-weight test
    (shares of :data:`attnlib.analysis.bias_class.OUTCOMES`), and quartiles of the fraction of
    items removed at the first flip over the flips *before full erasure* (a flip at
    k = n only says the decision differs from the bias class; see
    :mod:`attnlib.analysis.bias_class`). ``median_with_full`` is the paper's median, which counts
    flips at k = n too. Random orders are pooled over their seeds."""
    multi = _multi(df)
    before = flips_before_full(multi)
    multi = multi.assign(never=multi["first_flip_k"].isna(), before=before,
                         full_only=(multi["first_flip_k"] == multi["n_items"]).fillna(False),
                         frac_before=multi["first_flip_fraction"].where(before),
                         k_before=multi["first_flip_k"].astype("Float64").where(before))
    grouped = multi.groupby([*KEYS, "ranking"], observed=True)
    out = grouped.agg(
        n=("never", "size"), before_full_share=("before", "mean"),
        full_only_share=("full_only", "mean"), never_flip_share=("never", "mean"),
        q1=("frac_before", lambda s: s.dropna().quantile(0.25)),
        median=("frac_before", "median"),
        q3=("frac_before", lambda s: s.dropna().quantile(0.75)),
        median_items=("k_before", "median"),
        median_with_full=("first_flip_fraction", "median"),
        median_removed_mass=("removed_attention_mass", "median"),
    ).reset_index()
    return out


def head_to_head(df: pd.DataFrame | ResultCells, ranking: str = "attention",
                 other: str = "gradient", first_seeds: Mapping[str, int] | None = None
                 ) -> pd.DataFrame:
    """Per instance, does ``ranking`` reach a flip with fewer items than ``other``?

    Only flips before full erasure count (at k = n every ranking has erased the same
    items). An instance where only one of the two flips before full erasure is a win for
    that one; instances where neither does are dropped, and their share of all instances
    is ``excluded``. Every training seed counts: a document is compared within each seed's
    model, and the shares pool the (seed, document) pairs (seeds share the documents, so
    the pairs are crossed). Random orders use their first seed: the lowest in ``df``, or
    ``first_seeds[ranking]`` (the lowest of a whole study read cell by cell).
    """
    if isinstance(df, ResultCells):
        seeds = df.scan()["first_seeds"]
        return df.table(lambda frame: head_to_head(frame, ranking, other, seeds))
    multi = _multi(df)
    multi = multi[multi["ranking"].isin([ranking, other])]
    if first_seeds is None:
        first_seed = multi.groupby("ranking", observed=True)["seed"].transform("min")
    else:
        first_seed = multi["ranking"].astype("string").map(dict(first_seeds)).astype("Int64")
    multi = multi[multi["seed"].isna() | (multi["seed"] == first_seed)]
    multi = multi.assign(k_censored=censored_first_flip(multi))
    # dropna=True: with dropna=False pandas fills in every (dataset, model, instance_id)
    # combination of the whole table, which counted other datasets' documents as left out
    wide = multi.pivot_table(index=[*KEYS, "model_seed", "instance_id"], columns="ranking",
                             values="k_censored", aggfunc="first", dropna=True)
    wide = wide.reset_index()
    a_, b_ = wide[ranking].astype(float), wide[other].astype(float)
    keep = np.isfinite(a_) | np.isfinite(b_)
    wide = wide.assign(kept=keep, win=(a_ < b_) & keep, tie=(a_ == b_) & keep,
                       loss=(a_ > b_) & keep)
    grouped = wide.groupby(KEYS, observed=True)
    out = grouped.agg(documents=("kept", "size"), seeds=("model_seed", "nunique"),
                      n=("kept", "sum"), win=("win", "sum"), tie=("tie", "sum"),
                      loss=("loss", "sum")).reset_index()
    for column in ("win", "tie", "loss"):
        out[column] = np.where(out["n"] > 0, out[column] / out["n"].clip(lower=1), np.nan)
    out["excluded"] = 1 - out["n"] / out["documents"]
    out.insert(2, "comparison", f"{ranking} vs {other}")
    return out


@streams
def box_stats(df: pd.DataFrame, value: str = "first_flip_fraction",
              before_full_only: bool = True) -> pd.DataFrame:
    """Tukey box-plot statistics of ``value`` per dataset x model x ranking (multi-weight
    rows with a value only; by default only flips before full erasure): q1, median, q3
    and whiskers at the furthest points within 1.5 IQR, so charts need not embed every
    instance."""
    multi = _multi(df).dropna(subset=[value])
    if before_full_only:
        multi = multi[flips_before_full(multi)]

    grouped = multi.groupby([*KEYS, "ranking"], observed=True)[value]
    if multi.empty:  # e.g. no document flips before full erasure: no box, same columns
        return pd.DataFrame(columns=[*KEYS, "ranking", *TUKEY_COLUMNS])
    return grouped.apply(tukey_stats).unstack().reset_index()


TUKEY_COLUMNS = ["n", "q1", "median", "q3", "whisker_low", "whisker_high"]


def tukey_stats(s: pd.Series) -> pd.Series:
    """n, q1, median, q3 and whiskers at the furthest points within 1.5 IQR of ``s``."""
    x = s.to_numpy(dtype=float)
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    iqr = q3 - q1
    low = x[x >= q1 - 1.5 * iqr].min()
    high = x[x <= q3 + 1.5 * iqr].max()
    return pd.Series({"n": len(x), "q1": q1, "median": med, "q3": q3,
                      "whisker_low": low, "whisker_high": high})


def scatter_sample(df: pd.DataFrame | ResultCells, ranking: str = "attention",
                   bin_width: float = 0.005, per_bin: int = 10, seed: int = 0
                   ) -> pd.DataFrame:
    """Single-weight rows for the Delta JS vs attention-gap scatter, thinned as in the
    paper: at most ``per_bin`` points per attention-gap bin of ``bin_width`` (which
    points: a shuffle of all rows with ``seed``)."""
    if isinstance(df, ResultCells):
        return df.reduce({"sample": ScatterSample(ranking, bin_width, per_bin, seed)})[
            "sample"]
    shuffled = _scatter_rows(df, ranking, bin_width).sample(frac=1.0, random_state=seed)
    return _sorted_sample(_thin(shuffled, per_bin))


def _scatter_rows(df: pd.DataFrame, ranking: str, bin_width: float) -> pd.DataFrame:
    single = _single(df, ranking)[[*KEYS, "instance_id", "attention_gap", "delta_js",
                                   "flip_top", "flip_random"]]
    single = single.astype({"attention_gap": float, "delta_js": float})
    bins = (single["attention_gap"] / bin_width).round().astype(int)
    return single.assign(_bin=bins)


def _thin(shuffled: pd.DataFrame, per_bin: int) -> pd.DataFrame:
    return shuffled.groupby([*KEYS, "_bin"], observed=True).head(per_bin).drop(columns="_bin")


def _sorted_sample(thinned: pd.DataFrame) -> pd.DataFrame:
    return thinned.sort_values([*KEYS, "attention_gap"], ignore_index=True)


@dataclass
class ScatterSample:
    """:func:`scatter_sample` as a reducer of :meth:`ResultCells.reduce`. The shuffle is
    the whole table's: each single-weight row of ``ranking`` knows its position in the
    stacked table from the study's scan, and a cell's rows are ordered by where the
    whole table's shuffle puts them (a permutation of one integer per row)."""

    ranking: str = "attention"
    bin_width: float = 0.005
    per_bin: int = 10
    seed: int = 0
    pieces: list[pd.DataFrame] = field(default_factory=list)
    categories: dict[str, set[str]] = field(default_factory=dict)
    _offsets: dict[str, tuple[int, int]] = field(default_factory=dict)
    _where: np.ndarray | None = None

    def prepare(self, cells: ResultCells) -> None:
        counts = cells.scan()["single_rows"]
        start = 0
        for r in cells.runs:
            n = int(counts[r.run].get(self.ranking, 0))
            self._offsets[r.run] = (start, n)
            start += n
        self._where = global_positions(start, self.seed)

    def add(self, cell: Cell, frame: pd.DataFrame) -> None:
        assert self._where is not None, "ResultCells.reduce prepares this reducer"
        for column in KEYS:
            self.categories.setdefault(column, set()).update(frame[column].cat.categories)
        rows = _scatter_rows(frame, self.ranking, self.bin_width)
        present = set(frame["run"].unique())
        rows_at = np.concatenate([np.arange(*self._span(r.run)) for r in cell.runs
                                  if r.run in present] or [np.zeros(0, np.int64)])
        if len(rows_at) != len(rows):
            raise ValueError(f"{cell.dataset}/{cell.model}: the results files changed while "
                             "the study was read; read them again")
        shuffled = rows.iloc[np.argsort(self._where[rows_at], kind="stable")]
        self.pieces.append(_thin(shuffled, self.per_bin))

    def _span(self, run: str) -> tuple[int, int]:
        start, n = self._offsets[run]
        return start, start + n

    def result(self) -> pd.DataFrame:
        return _sorted_sample(restack(self.pieces, self.categories))
