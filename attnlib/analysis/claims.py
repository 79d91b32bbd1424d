"""The paper's claims (paper-spec §4), each turned into a statistic with a 95% interval
and a verdict that needs a *meaningful* effect, not just a non-zero one.

Every claim states
* its statistic, computed per document and pooled over a model's training seeds;
* a threshold and a **minimum meaningful effect**: the verdict needs the interval to
  clear threshold + effect on the claimed side (or, for a "mirrors" claim, to stay
  within ±effect of the threshold);
* its ties: the documents on which the statistic cannot tell the two sides apart;
* its source: the paper's own text, or summaries of it (paper-spec §4.1 vs §4.2).

Intervals come from :class:`attnlib.analysis.stats.CrossedBootstrap`, which resamples training
seeds and test documents as crossed factors. Multi-weight statistics count only flips
before full erasure (:mod:`attnlib.analysis.bias_class`). Explained in the book chapter "Does the
paper hold?" (book/paper_claims.ipynb).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from ..layer.results import validate
from .bias_class import censored_first_flip, multi_outcomes
from .cells import Cell, ResultCells
from .stats import CrossedBootstrap, Reduce, mean_of_first

Verdict = str  # "holds", "partly", "does not hold", "not testable"
Side = Literal["above", "below", "within"]
LARGE_GAP = 0.4
TIE_DELTA_JS = 0.001  # nats; |ΔJS| below this is a tie (about a 4-point probability shift)
PAPER, SUMMARIES = "paper text", "summaries of the paper"


@dataclass(frozen=True)
class Claim:
    """One claim and the rule that judges it.

    ``values`` maps one run's rows to a frame indexed by ``instance_id`` whose numeric
    columns feed ``reduce`` (NaN: the document is left out of that column); an optional
    ``tie`` column (0/1) marks the documents the statistic cannot separate, and an
    optional ``used`` column (0/1) the documents the statistic rests on (default: those
    with a value in the first column).
    """

    id: str
    text: str
    source: str
    statistic: str
    values: Callable[[pd.DataFrame], pd.DataFrame]
    side: Side
    threshold: float
    min_effect: float
    effect_reason: str
    reduce: Reduce = mean_of_first
    models: str = "all"  # "all" or "han"

    @property
    def criterion(self) -> str:
        """The cell's holds-condition in words."""
        t, e = self.threshold, self.min_effect
        if self.side == "within":
            return (f"holds if the whole 95% interval lies within {t:g} ± {e:g}")
        word, bound = ("above", t + e) if self.side == "above" else ("below", t - e)
        return (f"holds if the whole 95% interval is {word} {bound:g} (threshold {t:g} "
                f"{'+' if self.side == 'above' else '−'} minimum effect {e:g})")

    def judge(self, estimate: float, low: float, high: float, threshold: float | None = None,
              min_effect: float | None = None) -> Verdict:
        """The cell's verdict by :data:`CELL_RULE` (threshold and effect overridable for
        the sensitivity table)."""
        t = self.threshold if threshold is None else threshold
        e = self.min_effect if min_effect is None else min_effect
        if np.isnan(estimate) or np.isnan(low):
            return "not testable"
        if self.side == "within":
            whole, point = (t - e <= low and high <= t + e), abs(estimate - t) <= e
        elif self.side == "above":
            whole, point = low > t + e, estimate > t + e
        else:
            whole, point = high < t - e, estimate < t - e
        return "holds" if whole else "partly" if point else "does not hold"


CELL_RULE = ("In each cell a claim holds if its whole 95% interval clears the threshold by "
             "at least the claim's minimum meaningful effect, partly holds if only the "
             "estimate does, and does not hold otherwise (an effect that is real but "
             "smaller than the minimum does not count as support).")


def _single(df: pd.DataFrame) -> pd.DataFrame:
    s = df[(df["test"] == "single") & (df["ranking"] == "attention")]
    return s.set_index("instance_id")


def _multi(df: pd.DataFrame, ranking: str) -> pd.DataFrame:
    out = df[(df["test"] == "multi") & (df["ranking"] == ranking)]
    if out["seed"].notna().any():
        out = out[out["seed"] == out["seed"].min()]
    return out.set_index("instance_id")


def _delta_js_sign(df: pd.DataFrame) -> pd.DataFrame:
    d = _single(df)["delta_js"].astype(float)
    tie = d.abs() < TIE_DELTA_JS
    return pd.DataFrame({"positive": np.where(tie, np.nan, (d > 0).astype(float)),
                         "tie": tie.astype(float)}, index=d.index)


def _gap_effect(df: pd.DataFrame) -> pd.DataFrame:
    s = _single(df)
    gap, djs = s["attention_gap"].astype(float), s["delta_js"].astype(float)
    large = gap >= LARGE_GAP
    return pd.DataFrame({"large": djs.where(large), "small": djs.where(~large),
                         "used": 1.0}, index=s.index)


def _difference_of_means(sums: np.ndarray, counts: np.ndarray) -> float:
    if counts[0] == 0 or counts[1] == 0:
        return float("nan")
    return float(sums[0] / counts[0] - sums[1] / counts[1])


def _top_flips(df: pd.DataFrame) -> pd.DataFrame:
    s = _single(df)
    return pd.DataFrame({"flip_top": s["flip_top"].astype(bool).astype(float)}, index=s.index)


def _off_diagonal(df: pd.DataFrame) -> pd.DataFrame:
    s = _single(df)
    top, rnd = s["flip_top"].astype(bool), s["flip_random"].astype(bool)
    off = top ^ rnd
    return pd.DataFrame({"only_random": (rnd & ~top).astype(float),
                         "only_top": (top & ~rnd).astype(float),
                         "negative_delta_js": (s["delta_js"].astype(float) < 0).astype(float),
                         "tie": (~off).astype(float), "used": off.astype(float)},
                        index=s.index)


def _only_random_share(sums: np.ndarray, counts: np.ndarray) -> float:
    off = sums[0] + sums[1]
    return float(sums[0] / off) if off > 0 else float("nan")


def _share_minus_negative(sums: np.ndarray, counts: np.ndarray) -> float:
    share = _only_random_share(sums, counts)
    return share - float(sums[2] / counts[2]) if counts[2] > 0 else float("nan")


def _duel(ranking: str, other: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """+1 where ``other`` flips (before full erasure) with fewer items than ``ranking``,
    −1 where it needs more (no flip before full erasure loses), 0 on ties; documents
    that neither flips before full erasure are left out."""

    def values(df: pd.DataFrame) -> pd.DataFrame:
        a = censored_first_flip(_multi(df, ranking))
        b = censored_first_flip(_multi(df, other)).reindex(a.index, fill_value=np.inf)
        keep = np.isfinite(a) | np.isfinite(b)
        sign = np.sign(a - b).where(keep)
        sign[keep & (a == b)] = 0.0
        return pd.DataFrame({"sign": sign, "tie": (a == b).where(keep).astype(float)},
                            index=a.index)

    return values


def _hard_to_flip(df: pd.DataFrame) -> pd.DataFrame:
    """Documents not predicted as the bias class (full erasure is sure to flip them):
    1 if no prefix of less than half of their items flips them."""
    m = multi_outcomes(df)
    m = m[m["ranking"] == "attention"].set_index("instance_id")
    frac = m["first_flip_fraction"].astype(float)
    hard = (frac >= 0.5).astype(float).where(~m["predicted_as_bias_class"])
    return pd.DataFrame({"hard": hard}, index=m.index)


_DUEL_EFFECT = ("a net 5 documents in 100 won by one ranking; below that a reader could "
                "not tell the rankings apart on a handful of documents")

CLAIMS: tuple[Claim, ...] = (
    Claim("deltajs_nonnegative", "Erasing the top-attention item usually changes the output "
          "more than erasing a random item (ΔJS > 0 for most documents).", SUMMARIES,
          f"share of documents with ΔJS > 0 among those with |ΔJS| ≥ {TIE_DELTA_JS} nats",
          _delta_js_sign, "above", 0.5, 0.10,
          "a 60:40 majority; ties (|ΔJS| below the tie band) are reported, not counted"),
    Claim("deltajs_grows_with_gap", "ΔJS is sizeable only when the attention gap α(i*) − α(r) "
          f"is large (≥ {LARGE_GAP}).", SUMMARIES,
          f"mean ΔJS for gaps ≥ {LARGE_GAP} minus mean ΔJS for smaller gaps (nats)",
          _gap_effect, "above", 0.0, 0.01,
          "10 × the tie band: about a 14-point shift of a 50:50 prediction",
          reduce=_difference_of_means),
    Claim("top_rarely_flips", "Erasing the top-attention item rarely flips a HAN decision.",
          PAPER, "share of documents whose decision flips when i* is erased",
          _top_flips, "below", 0.25, 0.05,
          "1 flip in 5 is the most that 'the vast majority do not flip' allows",
          models="han"),
    Claim("only_random_small", "The 'only the random item flips' cell is small next to "
          "'only the top item flips'.", PAPER,
          "only-random share of the off-diagonal: only random / (only random + only top)",
          _off_diagonal, "below", 0.5, 0.10,
          "only-top flips at least 1.5 × as common as only-random ones",
          reduce=_only_random_share),
    Claim("table2_mirrors_negative_djs", "The only-random share of the off-diagonal mirrors "
          "the share of documents with negative ΔJS.", PAPER,
          "only-random share of the off-diagonal minus the share of ΔJS < 0",
          _off_diagonal, "within", 0.0, 0.10,
          "'mirrors' read as within 10 percentage points",
          reduce=_share_minus_negative),
    Claim("gradient_beats_attention", "The gradient ranking reaches a decision flip with "
          "fewer items than attention.", PAPER,
          "per document: +1 gradient needs fewer items, −1 more, 0 tie (mean)",
          _duel("attention", "gradient"), "above", 0.0, 0.05, _DUEL_EFFECT),
    Claim("gxa_beats_attention", "The gradient × attention ranking reaches a decision flip "
          "with fewer items than attention.", PAPER,
          "per document: +1 gradient × attention needs fewer items, −1 more, 0 tie (mean)",
          _duel("attention", "grad_x_attention"), "above", 0.0, 0.05, _DUEL_EFFECT),
    Claim("attention_beats_random", "Attention reaches a decision flip with fewer items than "
          "a random order.", SUMMARIES,
          "per document: +1 attention needs fewer items than random, −1 more, 0 tie (mean)",
          _duel("random", "attention"), "above", 0.0, 0.05, _DUEL_EFFECT),
    Claim("many_hard_to_flip", "Many documents need a large fraction of their items erased "
          "(under attention) before the decision flips.", SUMMARIES,
          "share of documents not predicted as the bias class that no erasure of fewer "
          "than half of their items flips", _hard_to_flip, "above", 0.25, 0.05,
          "'many' read as more than 3 documents in 10"),
)


def list_claims() -> list[str]:
    return [c.id for c in CLAIMS]


def get_claim(claim_id: str) -> Claim:
    for claim in CLAIMS:
        if claim.id == claim_id:
            return claim
    from ..errors import UnknownNameError
    raise UnknownNameError("claim", claim_id, list_claims())


def _aligned(per_seed: list[pd.DataFrame], instances: pd.Index) -> np.ndarray:
    """(S, D, C) values on the cell's shared documents (the tie and used columns aside)."""
    columns = [c for c in per_seed[0].columns if c not in ("tie", "used")]
    return np.stack([f.reindex(instances)[columns].to_numpy(float) for f in per_seed])


EVALUATED_COLUMNS = ["claim", "dataset", "model", "statistic", "estimate", "ci_low", "ci_high",
                     "threshold", "min_effect", "ties", "seeds", "documents", "left_out",
                     "verdict"]


def _without_runs(df: pd.DataFrame, runs: Iterable[str]) -> pd.DataFrame:
    """``df`` without the rows of ``runs``; no copy when none of them is in ``df`` (a
    full-scale results table weighs gigabytes)."""
    drop = df["run"].isin(set(runs))
    return df[~drop] if drop.any() else df


def evaluate_claims(results: pd.DataFrame | ResultCells, n_boot: int = 1000, seed: int = 0,
                    exclude_runs: Iterable[str] = ()) -> pd.DataFrame:
    """One row per claim x dataset x model: estimate, 95% interval, threshold and minimum
    effect, share of ties, documents used and left out, seeds and verdict.

    Seeds of a model share the test documents and are combined by a crossed bootstrap
    (:class:`attnlib.analysis.stats.CrossedBootstrap`). Runs whose config hash is in
    ``exclude_runs`` (models that did not learn their task) are left out. ``results``
    may be the whole table or :class:`attnlib.analysis.cells.ResultCells`, read one run
    at a time (same numbers).
    """
    if isinstance(results, ResultCells):
        skip = set(exclude_runs)
        cells = ((c.dataset, c.model, c.seed_frames(skip)) for c in results.cells()
                 if any(r.run not in skip for r in c.runs))
        return pd.DataFrame(evaluate_cells(cells, CLAIMS, n_boot, seed),
                            columns=EVALUATED_COLUMNS)
    return evaluate_claim_set(validate(results), CLAIMS, n_boot, seed, exclude_runs)


@dataclass
class ClaimTable:
    """:func:`evaluate_claims` as a reducer of :meth:`ResultCells.reduce`, for a pass
    that reads each cell once for several tables."""

    n_boot: int = 1000
    seed: int = 0
    exclude_runs: Iterable[str] = ()
    claims: Sequence[Claim] = CLAIMS
    rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, cell: Cell, frame: pd.DataFrame) -> None:
        frame = _without_runs(frame, self.exclude_runs)
        if len(frame):
            by_seed = (g for _s, g in frame.groupby("model_seed", observed=True))
            self.rows += evaluate_cells([(cell.dataset, cell.model, by_seed)], self.claims,
                                        self.n_boot, self.seed)

    def result(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=EVALUATED_COLUMNS)


def evaluate_claim_set(df: pd.DataFrame, claims: Sequence[Claim], n_boot: int = 1000,
                       seed: int = 0, exclude_runs: Iterable[str] = ()) -> pd.DataFrame:
    """:func:`evaluate_claims` for any per-document table with ``run``, ``dataset``,
    ``model``, ``model_seed`` and ``instance_id`` columns and claims that read it (the
    follow-up tests' claims read the layer-test table, :mod:`attnlib.analysis.followup_claims`)."""
    df = _without_runs(df, exclude_runs)
    cells = ((dataset, model, (g for _s, g in group.groupby("model_seed", observed=True)))
             for (dataset, model), group in df.groupby(["dataset", "model"], observed=True))
    return pd.DataFrame(evaluate_cells(cells, claims, n_boot, seed), columns=EVALUATED_COLUMNS)


def evaluate_cells(cells: Iterable[tuple[str, str, Iterable[pd.DataFrame]]],
                   claims: Sequence[Claim], n_boot: int = 1000, seed: int = 0
                   ) -> list[dict[str, object]]:
    """The rows of :func:`evaluate_claim_set`, from (dataset, model, one frame per
    training seed in ascending order) per cell. Each seed's frame is reduced to the
    claims' per-document values before the next is read, so a cell never needs more
    than one run in memory (:class:`attnlib.analysis.cells.ResultCells`)."""
    rows: list[dict[str, object]] = []
    for dataset, model, seed_frames in cells:
        cell_claims = [c for c in claims
                       if not (c.models == "han" and not str(model).startswith("HAN"))]
        values: dict[str, list[pd.DataFrame]] = {c.id: [] for c in cell_claims}
        ids: set[int] = set()
        n_seeds = 0
        for frame in seed_frames:
            n_seeds += 1
            ids.update(frame["instance_id"].unique())
            for claim in cell_claims:
                values[claim.id].append(claim.values(frame))
        instances = pd.Index(sorted(ids), name="instance_id")
        boot = CrossedBootstrap(n_seeds, len(instances), n_boot, seed)
        for claim in cell_claims:
            per_seed = values.pop(claim.id)
            cube = _aligned(per_seed, instances)
            est, low, high = boot.interval(cube, claim.reduce)
            stacked = pd.concat(per_seed)
            used = (stacked["used"] if "used" in stacked else
                    stacked.iloc[:, 0].notna().astype(float)).astype(bool)
            ties = float(stacked["tie"].mean()) if "tie" in stacked else np.nan
            rows.append({"claim": claim.id, "dataset": dataset, "model": model,
                         "statistic": claim.statistic, "estimate": est, "ci_low": low,
                         "ci_high": high, "threshold": claim.threshold,
                         "min_effect": claim.min_effect, "ties": ties,
                         "seeds": n_seeds, "documents": int(used.sum()),
                         "left_out": float(1 - used.mean()) if len(used) else np.nan,
                         "verdict": claim.judge(est, low, high)})
    return rows


def _overall(verdicts: pd.Series) -> tuple[str, int, int, int, int]:
    counts = verdicts.value_counts()
    testable = len(verdicts) - int(counts.get("not testable", 0))
    holds, partly = int(counts.get("holds", 0)), int(counts.get("partly", 0))
    if testable == 0:
        overall = "not testable"
    elif holds == testable:
        overall = "holds"
    elif holds + partly == 0:
        overall = "does not hold"
    else:
        overall = "partly"
    return overall, testable, holds, partly, int(counts.get("does not hold", 0))


OVERALL_RULE = ("A claim holds overall if it holds in every testable cell, does not hold if "
                "it holds, even partly, in none, and partly holds otherwise.")


def claim_verdicts(evaluated: pd.DataFrame, claims: Sequence[Claim] = CLAIMS) -> pd.DataFrame:
    """Per claim: its source, statistic, criterion, minimum effect and why, median share
    of ties, and in how many dataset x model cells it holds, partly holds or fails, with
    the overall verdict (:data:`OVERALL_RULE`)."""
    rows = []
    for claim in claims:
        cells = evaluated[evaluated["claim"] == claim.id]
        overall, testable, holds, partly, fails = _overall(cells["verdict"])
        rows.append({"claim": claim.id, "paper's claim": claim.text, "source": claim.source,
                     "statistic": claim.statistic, "criterion": claim.criterion,
                     "minimum effect": f"{claim.min_effect:g}: {claim.effect_reason}",
                     "ties (median)": float(cells["ties"].median()) if len(cells) else np.nan,
                     "cells": testable, "holds": holds, "partly": partly,
                     "does not hold": fails, "verdict": overall})
    return pd.DataFrame(rows)


SCENARIOS: dict[str, tuple[float, float]] = {  # name -> (threshold factor, effect factor)
    "as stated": (1.0, 1.0),
    "threshold −50%": (0.5, 1.0),
    "threshold +50%": (1.5, 1.0),
    "minimum effect −50%": (1.0, 0.5),
    "minimum effect +50%": (1.0, 1.5),
}


def verdict_sensitivity(evaluated: pd.DataFrame, claims: Sequence[Claim] = CLAIMS
                        ) -> pd.DataFrame:
    """How the overall verdicts move when each claim's threshold or minimum effect moves
    by ±50%: one row per claim, one column per scenario of :data:`SCENARIOS`, each cell
    ``verdict (holds/cells)``. A threshold of 0 does not move (±50% of 0 is 0)."""
    rows = []
    for claim in claims:
        cells = evaluated[evaluated["claim"] == claim.id]
        row: dict[str, object] = {"claim": claim.id}
        for name, (t_factor, e_factor) in SCENARIOS.items():
            moved = replace(claim, threshold=claim.threshold * t_factor,
                            min_effect=claim.min_effect * e_factor)
            verdicts = pd.Series([moved.judge(e, lo, hi) for e, lo, hi in
                                  zip(cells["estimate"], cells["ci_low"], cells["ci_high"])],
                                 dtype=object)
            overall, testable, holds, _p, _f = _overall(verdicts)
            row[name] = f"{overall} ({holds}/{testable})"
        row["changes"] = len({str(v).split(" (")[0] for k, v in row.items()
                              if k in SCENARIOS}) > 1
        rows.append(row)
    return pd.DataFrame(rows)


ENCODER_PAIRS = (("rnn", "noenc"), ("conv", "noenc"), ("rnn", "conv"))
ENCODER_MIN_EFFECT = 0.05  # on the share of non-tied documents: 55:45 or clearer


def _fraction_per_document(group: pd.DataFrame) -> pd.Series:
    """Per document (mean over seeds): fraction of items erased at the first flip under
    attention before full erasure, 1.0 when no strict prefix flips the decision. The step
    to k = n is left out on purpose: its outcome depends only on the bias class."""
    m = multi_outcomes(group)
    m = m[m["ranking"] == "attention"]
    frac = m["first_flip_fraction"].astype(float).where(m["flips_before_full"], 1.0)
    return frac.groupby(m["instance_id"]).mean()


def encoder_effect(results: pd.DataFrame | ResultCells, n_boot: int = 1000, seed: int = 0,
                   exclude_runs: Iterable[str] = ()) -> pd.DataFrame:
    """Does the encoder change how much must be erased? A paired, per-document comparison.

    Per dataset x architecture and encoder pair (a, b) and test document, d = fraction
    of items erased at the first flip before full erasure under attention (1.0 if none)
    with encoder a minus with encoder b (means over seeds). Reported:
    the median of d with a bootstrap interval, the sign test (shares of documents where
    a needs more, fewer, the same; two-sided binomial p-value on the non-tied ones) and
    the share of non-tied documents where a needs more, with a bootstrap interval. The
    reading names the direction only when that share's interval clears 50% by
    :data:`ENCODER_MIN_EFFECT`.
    """
    if isinstance(results, ResultCells):
        return results.reduce({"effect": EncoderEffect(n_boot, seed, exclude_runs)})["effect"]
    df = validate(results)
    df = df[(df["test"] == "multi") & ~df["run"].isin(set(exclude_runs))]
    per_cell = {(str(dataset), str(arch)): {
        str(enc): _fraction_per_document(g) for enc, g in group.groupby("encoder", observed=True)}
        for (dataset, arch), group in df.groupby(["dataset", "arch"], observed=True)}
    return _encoder_table(per_cell, n_boot, seed)


@dataclass
class EncoderEffect:
    """:func:`encoder_effect` as a reducer of :meth:`ResultCells.reduce`: keeps each
    cell's per-document fractions (one float per document) and compares the encoders
    at the end, drawing the bootstrap in the same order as on the whole table."""

    n_boot: int = 1000
    seed: int = 0
    exclude_runs: Iterable[str] = ()
    fractions: dict[tuple[str, str], dict[str, pd.Series]] = field(default_factory=dict)

    def add(self, cell: Cell, frame: pd.DataFrame) -> None:
        multi = frame[(frame["test"] == "multi") & ~frame["run"].isin(set(self.exclude_runs))]
        if len(multi):
            self.fractions.setdefault((cell.dataset, cell.arch), {})[cell.encoder] = \
                _fraction_per_document(multi)

    def result(self) -> pd.DataFrame:
        return _encoder_table(dict(sorted(self.fractions.items())), self.n_boot, self.seed)


ENCODER_COLUMNS = ["dataset", "arch", "comparison", "documents", "median_difference",
                   "median_low", "median_high", "share_more", "share_low", "share_high",
                   "same", "sign_test_p", "reading"]


def _encoder_replicates(d: np.ndarray, n_boot: int, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(B,) bootstrap medians of ``d`` (D,) and shares of positive signs among the
    non-zero ones. Drawn a block of replicates at a time: the same random stream and
    values as one (B, D) draw, without its gigabyte of temporaries at D = 25 k."""
    medians, shares = np.empty(n_boot), np.empty(n_boot)
    sign = np.sign(d)
    block = max(1, (1 << 22) // max(len(d), 1))
    for start in range(0, n_boot, block):
        rows = slice(start, min(n_boot, start + block))
        picks = rng.integers(0, len(d), size=(rows.stop - start, len(d)))
        medians[rows] = np.median(d[picks], axis=1)
        signs = sign[picks]
        nonzero = (signs != 0).sum(axis=1)
        shares[rows] = np.where(nonzero > 0, (signs > 0).sum(axis=1) / np.maximum(nonzero, 1),
                                np.nan)
    return medians, shares


def _encoder_table(per_cell: dict[tuple[str, str], dict[str, pd.Series]], n_boot: int,
                   seed: int) -> pd.DataFrame:
    """The rows of :func:`encoder_effect` from, per (dataset, arch) in sorted order and
    encoder, the per-document fractions (one random stream for all cells, in order)."""
    from scipy.stats import binomtest

    rows = []
    rng = np.random.default_rng(seed)
    for (dataset, arch), per_encoder in per_cell.items():
        for a, b in ENCODER_PAIRS:
            if a not in per_encoder or b not in per_encoder:
                continue
            both = pd.concat([per_encoder[a].rename("a"), per_encoder[b].rename("b")],
                             axis=1).dropna()
            if both.empty:
                continue
            d = (both["a"] - both["b"]).to_numpy()
            more, fewer = int((d > 0).sum()), int((d < 0).sum())
            medians, shares = _encoder_replicates(d, n_boot, rng)
            share = more / (more + fewer) if more + fewer else np.nan
            s_low, s_high = (np.nanquantile(shares, [0.025, 0.975]) if more + fewer
                             else (np.nan, np.nan))
            if np.isnan(share):
                reading = "no document separates the encoders"
            elif s_low > 0.5 + ENCODER_MIN_EFFECT:
                reading = f"{a} needs a larger fraction"
            elif s_high < 0.5 - ENCODER_MIN_EFFECT:
                reading = f"{a} needs a smaller fraction"
            else:
                reading = "no clear difference"
            rows.append({
                "dataset": dataset, "arch": str(arch).upper(), "comparison": f"{a} − {b}",
                "documents": len(d), "median_difference": float(np.median(d)),
                "median_low": float(np.quantile(medians, 0.025)),
                "median_high": float(np.quantile(medians, 0.975)),
                "same": float((d == 0).mean()),
                "share_more": share, "share_low": float(s_low), "share_high": float(s_high),
                "sign_test_p": (binomtest(more, more + fewer).pvalue if more + fewer
                                else np.nan),
                "reading": reading})
    out = pd.DataFrame(rows)
    return out[ENCODER_COLUMNS] if len(out) else pd.DataFrame(columns=ENCODER_COLUMNS)
