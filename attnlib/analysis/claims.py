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
    min_items: int = 2  # documents with fewer items are left out of the statistic
    max_items: int | None = None  # and those with more (None: no upper limit)
    values_pick_lengths: bool = False  # ``values`` leaves the other lengths out itself

    @property
    def lengths(self) -> str:
        """Which document lengths (items) the statistic covers, in words."""
        if self.max_items is not None:
            return (f"documents of exactly {self.min_items} items"
                    if self.max_items == self.min_items else
                    f"documents of {self.min_items} to {self.max_items} items")
        return "every document" if self.min_items <= 2 else \
            f"documents of {self.min_items} or more items"

    def bars(self, threshold: float | None = None, min_effect: float | None = None
             ) -> tuple[float, float]:
        """(lower, upper) limits the interval must clear: (t + e, inf) above,
        (-inf, t − e) below, (t − e, t + e) within."""
        t = self.threshold if threshold is None else threshold
        e = self.min_effect if min_effect is None else min_effect
        if self.side == "above":
            return (t + e, float("inf"))
        if self.side == "below":
            return (float("-inf"), t - e)
        return (t - e, t + e)

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


def delta_js_sign_values(ties_counted: bool = False) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """1 where ΔJS > 0; ties (|ΔJS| below the tie band) left out, or with
    ``ties_counted`` kept as documents where the top item did not move the output more."""

    def values(df: pd.DataFrame) -> pd.DataFrame:
        d = _single(df)["delta_js"].astype(float)
        tie = d.abs() < TIE_DELTA_JS
        positive = (d >= TIE_DELTA_JS).astype(float)
        return pd.DataFrame({"positive": positive if ties_counted else positive.where(~tie),
                             "tie": tie.astype(float)}, index=d.index)

    return values


_delta_js_sign = delta_js_sign_values()


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


def _first_flip(multi: pd.DataFrame, full_erasure: bool) -> pd.Series:
    if not full_erasure:
        return censored_first_flip(multi)
    return multi["first_flip_k"].astype("Float64").fillna(np.inf).astype(float)


def _duel(ranking: str, other: str, ties_counted: bool = True, full_erasure: bool = False
          ) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """+1 where ``other`` flips (before full erasure) with fewer items than ``ranking``,
    −1 where it needs more (no flip before full erasure loses), 0 on ties; documents
    that neither flips before full erasure are left out. ``ties_counted=False`` leaves
    the ties out too; ``full_erasure=True`` counts a flip at k = n as a flip with n
    items."""

    def values(df: pd.DataFrame) -> pd.DataFrame:
        a = _first_flip(_multi(df, ranking), full_erasure)
        b = _first_flip(_multi(df, other), full_erasure).reindex(a.index, fill_value=np.inf)
        keep = np.isfinite(a) | np.isfinite(b)
        sign = np.sign(a - b).where(keep)
        sign[keep & (a == b)] = 0.0
        if not ties_counted:
            sign = sign.where(a != b)
        return pd.DataFrame({"sign": sign, "tie": (a == b).where(keep).astype(float)},
                            index=a.index)

    return values


def hard_to_flip_values(min_items: int = 3, max_items: int | None = None,
                        bias_class: bool = False) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Per document of ``min_items``..``max_items`` items not predicted as the bias class
    (full erasure is sure to flip them; ``bias_class=True`` keeps those predicted as it
    too): 1 if no prefix of less than half of their items flips them. The lengths are
    chosen after the run's bias class is read from all of its documents. A 2-item
    document counts as hard whenever its top item alone does not flip it (one item is
    half of it), so 2-item documents are reported apart."""

    def values(df: pd.DataFrame) -> pd.DataFrame:
        m = multi_outcomes(df)
        m = m[m["ranking"] == "attention"].set_index("instance_id")
        n = m["n_items"].astype(float)
        fits = (n >= min_items) & (n <= (np.inf if max_items is None else max_items))
        frac = m["first_flip_fraction"].astype(float)
        keep = fits if bias_class else fits & ~m["predicted_as_bias_class"]
        hard = (frac >= 0.5) | frac.isna()  # no flip at all: no prefix flips it either
        return pd.DataFrame({"hard": hard.astype(float).where(keep)}, index=m.index)

    return values


_hard_to_flip = hard_to_flip_values()


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
          "share of documents of 3 or more items, not predicted as the bias class, that no "
          "erasure of fewer than half of their items flips", _hard_to_flip, "above", 0.25,
          0.05, "'many' read as more than 3 documents in 10", min_items=3,
          values_pick_lengths=True),
)


def with_lengths(claim: Claim, min_items: int, max_items: int | None = None,
                 **changes: object) -> Claim:
    """``claim`` restricted to documents of ``min_items``..``max_items`` items (its id
    and statistic say so when the lengths differ from the claim's own)."""
    values = claim.values
    if claim.values_pick_lengths:  # the hard-to-flip claim reads the bias class first
        values = hard_to_flip_values(min_items, max_items,
                                     bool(changes.pop("bias_class", False)))
    moved = replace(claim, min_items=min_items, max_items=max_items, values=values)
    return replace(moved, **changes) if changes else moved  # type: ignore[arg-type]


def two_item_claims(claims: Sequence[Claim]) -> list[Claim]:
    """The claims that leave 2-item documents out (a flip of one item is half of such a
    document; half of their permutations are the identity), restricted to exactly those
    documents, so that the book reports them apart."""
    return [with_lengths(c, 2, 2, id=f"{c.id} (2-item documents)") for c in claims
            if c.min_items >= 3]


def list_claims() -> list[str]:
    return [c.id for c in CLAIMS]


def get_claim(claim_id: str) -> Claim:
    for claim in CLAIMS:
        if claim.id == claim_id:
            return claim
    from ..errors import UnknownNameError
    raise UnknownNameError("claim", claim_id, list_claims())


@dataclass(frozen=True)
class SampleRule:
    """The least evidence a cell needs for a verdict: ``min_seeds`` training seeds and,
    in every seed, ``min_documents`` documents that the statistic rests on. A cell with
    less is "not testable", with its counts shown."""

    min_seeds: int = 1
    min_documents: int = 1

    def __post_init__(self) -> None:
        if self.min_seeds < 1 or self.min_documents < 1:
            raise ValueError("a sample rule needs at least one seed and one document")

    def describe(self) -> str:
        return (f"No verdict rests on fewer than {self.min_seeds} training "
                f"seed{'s' if self.min_seeds > 1 else ''} or on fewer than "
                f"{self.min_documents} documents per seed that the statistic uses; such a "
                "cell is *not testable*, and its counts are shown.")


NO_MINIMUM = SampleRule()
PAPER_RULE = SampleRule(min_seeds=3, min_documents=30)
# the smoke profile trains one seed on a few thousand documents to show the method work
DEMO_RULE = SampleRule(min_seeds=1, min_documents=10)


def sample_rule(profile: str) -> SampleRule:
    """The minimum-sample rule a profile's book states: the paper's three seeds and 30
    documents per seed; the smoke profile's one seed and 10 documents (its verdicts
    illustrate the method, they are not findings)."""
    return PAPER_RULE if profile == "paper" else DEMO_RULE


BOOTSTRAP_MAX_DRAWS = 8_000
BORDERLINE = "borderline"


def _bound_status(claim: Claim, estimate: float, stats: np.ndarray, level: float = 0.95,
                  threshold: float | None = None, min_effect: float | None = None
                  ) -> tuple[bool, float]:
    """(whether a deciding interval bound lies within its Monte-Carlo 95% band of a
    bar, the largest half-width of those bands). Only bounds that decide between
    "holds" and "partly" count: a cell whose estimate misses the bar does not hold
    whatever its interval."""
    from .stats import quantile_mc_band

    lower_bar, upper_bar = claim.bars(threshold, min_effect)
    if not (lower_bar < estimate < upper_bar):
        return (False, 0.0)
    alpha = (1 - level) / 2
    near, error = False, 0.0
    for q, bar in ((alpha, lower_bar), (1 - alpha, upper_bar)):
        if not np.isfinite(bar):
            continue
        lo, hi = quantile_mc_band(stats, q)
        error = max(error, (hi - lo) / 2)
        near = near or lo <= bar <= hi
    return (near, error)


def _aligned(per_seed: list[pd.DataFrame], instances: pd.Index) -> np.ndarray:
    """(S, D, C) values on the cell's shared documents (the tie and used columns aside)."""
    columns = [c for c in per_seed[0].columns if c not in ("tie", "used")]
    return np.stack([f.reindex(instances)[columns].to_numpy(float) for f in per_seed])


EVALUATED_COLUMNS = ["claim", "dataset", "model", "statistic", "estimate", "ci_low", "ci_high",
                     "threshold", "min_effect", "ties", "seeds", "documents",
                     "documents_per_seed", "left_out", "draws", "mc_error", "lengths", "note",
                     "verdict"]


def _without_runs(df: pd.DataFrame, runs: Iterable[str]) -> pd.DataFrame:
    """``df`` without the rows of ``runs``; no copy when none of them is in ``df`` (a
    full-scale results table weighs gigabytes)."""
    drop = df["run"].isin(set(runs))
    return df[~drop] if drop.any() else df


def evaluate_claims(results: pd.DataFrame | ResultCells, n_boot: int = 1000, seed: int = 0,
                    exclude_runs: Iterable[str] = (), rule: SampleRule = NO_MINIMUM
                    ) -> pd.DataFrame:
    """One row per claim x dataset x model: estimate, 95% interval, threshold and minimum
    effect, share of ties, documents used and left out, seeds and verdict.

    Seeds of a model share the test documents and are combined by a crossed bootstrap
    (:class:`attnlib.analysis.stats.CrossedBootstrap`). Runs whose config hash is in
    ``exclude_runs`` (models that did not learn their task) are left out, and cells
    below ``rule`` are "not testable". ``results`` may be the whole table or
    :class:`attnlib.analysis.cells.ResultCells`, read one cell at a time (same numbers:
    each cell draws its own bootstrap).
    """
    if isinstance(results, ResultCells):
        table = ClaimTable(n_boot, seed, tuple(exclude_runs), rule=rule)
        return results.reduce({"claims": table})["claims"]
    return evaluate_claim_set(validate(results), CLAIMS, n_boot, seed, exclude_runs, rule)


@dataclass
class ClaimTable:
    """:func:`evaluate_claims` as a reducer of :meth:`ResultCells.reduce`, for a pass
    that reads each dataset x model cell once for several tables."""

    n_boot: int = 1000
    seed: int = 0
    exclude_runs: Iterable[str] = ()
    claims: Sequence[Claim] = CLAIMS
    rule: SampleRule = NO_MINIMUM
    parts: list[pd.DataFrame] = field(default_factory=list)

    def add(self, cell: Cell, frame: pd.DataFrame) -> None:
        frame = _without_runs(frame, self.exclude_runs)
        if len(frame):
            self.parts.append(evaluate_claim_set(frame, self.claims, self.n_boot, self.seed,
                                                 rule=self.rule))

    def result(self) -> pd.DataFrame:
        parts = [p for p in self.parts if len(p)]
        return (pd.concat(parts, ignore_index=True) if parts
                else pd.DataFrame(columns=EVALUATED_COLUMNS))


def _with_lengths(df: pd.DataFrame, claim: Claim) -> pd.DataFrame:
    if (claim.values_pick_lengths or "n_items" not in df
            or (claim.min_items <= 2 and claim.max_items is None)):
        return df
    n = df["n_items"].astype(float)
    keep = n >= claim.min_items
    if claim.max_items is not None:
        keep &= n <= claim.max_items
    return df[keep.to_numpy()]


def evaluate_claim_set(df: pd.DataFrame | ResultCells, claims: Sequence[Claim],
                       n_boot: int = 1000,
                       seed: int = 0, exclude_runs: Iterable[str] = (),
                       rule: SampleRule = NO_MINIMUM, max_draws: int = BOOTSTRAP_MAX_DRAWS
                       ) -> pd.DataFrame:
    """:func:`evaluate_claims` for any per-document table with ``dataset``, ``model``,
    ``model_seed`` and ``instance_id`` columns (and ``run`` to leave runs out) and claims
    that read it (the follow-up tests' claims read the layer-test table,
    :mod:`attnlib.analysis.followup_claims`).

    A claim sees only the documents of the lengths it covers (``Claim.min_items`` and
    ``max_items``, where the table has ``n_items``). Cells below ``rule`` are "not
    testable". Where an interval bound that decides the verdict lies within its
    Monte-Carlo band of the bar (:func:`attnlib.analysis.stats.quantile_mc_band`), more
    replicates are drawn, ``n_boot`` at a time up to ``max_draws``; a cell still within
    it is "borderline". ``draws`` and ``mc_error`` (the band's half-width) are reported.
    """
    if isinstance(df, ResultCells):  # one cell at a time: each draws its own bootstrap
        return df.table(lambda frame: evaluate_claim_set(frame, claims, n_boot, seed,
                                                         exclude_runs, rule, max_draws))
    df = _without_runs(df, exclude_runs) if "run" in df else df
    if "run" not in df and tuple(exclude_runs):
        raise ValueError("this table has no run column, so runs cannot be left out; pass "
                         "exclude_runs=() or add the runs' config hashes as `run`")
    rows = []
    for (dataset, model), group in df.groupby(["dataset", "model"], observed=True):
        by_seed = [g for _s, g in group.groupby("model_seed", observed=True)]
        instances = pd.Index(sorted(group["instance_id"].unique()), name="instance_id")
        boot = CrossedBootstrap(len(by_seed), len(instances), n_boot, seed)
        for claim in claims:
            if claim.models == "han" and not str(model).startswith("HAN"):
                continue
            per_seed = [claim.values(_with_lengths(g, claim)) for g in by_seed]
            cube = _aligned(per_seed, instances)
            est, stats = boot.replicates(cube, claim.reduce)
            borderline, error = _bound_status(claim, est, stats)
            batch = 1
            while borderline and batch * n_boot < max_draws:
                # more draws, a batch at a time (not kept: a batch weighs B x D floats)
                extra = CrossedBootstrap(len(by_seed), len(instances), n_boot,
                                         seed + 7919 * batch)
                stats = np.concatenate([stats, extra.replicates(cube, claim.reduce)[1]])
                borderline, error = _bound_status(claim, est, stats)
                batch += 1
            low, high = ((float(np.quantile(stats, 0.025)), float(np.quantile(stats, 0.975)))
                         if len(stats) else (float("nan"), float("nan")))
            stacked = pd.concat(per_seed)
            used = (stacked["used"] if "used" in stacked else
                    stacked.iloc[:, 0].notna().astype(float)).astype(bool)
            per_seed_used = [int((f["used"] if "used" in f else f.iloc[:, 0].notna())
                                 .astype(bool).sum()) for f in per_seed]
            ties = float(stacked["tie"].mean()) if "tie" in stacked else np.nan
            verdict, note = claim.judge(est, low, high), ""
            fewest = min(per_seed_used) if per_seed_used else 0
            if len(by_seed) < rule.min_seeds:
                verdict = "not testable"
                note = f"{len(by_seed)} seed{'s' if len(by_seed) > 1 else ''} " \
                       f"(minimum {rule.min_seeds})"
            elif fewest < rule.min_documents:
                verdict = "not testable"
                note = f"{fewest} documents in a seed (minimum {rule.min_documents})"
            elif verdict == "not testable":
                note = "the statistic is undefined on these documents"
            elif borderline and verdict in ("holds", "partly"):
                verdict = BORDERLINE
                note = (f"an interval bound lies within its Monte-Carlo error "
                        f"(±{error:.4f}, {len(stats):,} draws) of the bar")
            rows.append({"claim": claim.id, "dataset": dataset, "model": model,
                         "statistic": claim.statistic, "estimate": est, "ci_low": low,
                         "ci_high": high, "threshold": claim.threshold,
                         "min_effect": claim.min_effect, "ties": ties,
                         "seeds": len(by_seed), "documents": int(used.sum()),
                         "documents_per_seed": fewest,
                         "left_out": float(1 - used.mean()) if len(used) else np.nan,
                         "draws": len(stats), "mc_error": error, "lengths": claim.lengths,
                         "note": note, "verdict": verdict})
    return pd.DataFrame(rows, columns=EVALUATED_COLUMNS)


def _overall(verdicts: pd.Series) -> tuple[str, int, int, int, int]:
    counts = verdicts.value_counts()
    testable = len(verdicts) - int(counts.get("not testable", 0))
    holds, partly = int(counts.get("holds", 0)), int(counts.get("partly", 0))
    borderline = int(counts.get(BORDERLINE, 0))
    if testable == 0:
        overall = "not testable"
    elif holds == testable:
        overall = "holds"
    elif holds + partly + borderline == 0:
        overall = "does not hold"
    else:
        overall = "partly"
    return overall, testable, holds, partly, int(counts.get("does not hold", 0))


OVERALL_RULE = ("A claim holds overall if it holds in every testable cell, does not hold if "
                "it holds, even partly or borderline, in none, and partly holds otherwise. "
                "A cell is *borderline* when an interval bound that decides between holds "
                f"and partly lies within its Monte-Carlo error of the bar after "
                f"{BOOTSTRAP_MAX_DRAWS:,} bootstrap draws (cells near the bar get more draws "
                "than the first 1,000).")


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
                     "lengths": claim.lengths, "cells": testable, "holds": holds,
                     "partly": partly,
                     "borderline": int((cells["verdict"] == BORDERLINE).sum()),
                     "does not hold": fails,
                     "not testable": int((cells["verdict"] == "not testable").sum()),
                     "verdict": overall})
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
            verdicts = pd.Series([v if v == "not testable" else moved.judge(e, lo, hi)
                                  for e, lo, hi, v in zip(cells["estimate"], cells["ci_low"],
                                                          cells["ci_high"], cells["verdict"])],
                                 dtype=object)
            overall, testable, holds, _p, _f = _overall(verdicts)
            row[name] = f"{overall} ({holds}/{testable})"
        row["changes"] = len({str(v).split(" (")[0] for k, v in row.items()
                              if k in SCENARIOS}) > 1
        rows.append(row)
    return pd.DataFrame(rows)


ENCODER_PAIRS = (("rnn", "noenc"), ("conv", "noenc"), ("rnn", "conv"))
ENCODER_MIN_EFFECT = 0.05  # on the share of non-tied documents: 55:45 or clearer


def _fraction_per_seed(group: pd.DataFrame) -> pd.DataFrame:
    """(documents x training seeds): fraction of items erased at the first flip under
    attention before full erasure, 1.0 when no strict prefix flips the decision. The step
    to k = n is left out on purpose: its outcome depends only on the bias class."""
    m = multi_outcomes(group)
    m = m[m["ranking"] == "attention"]
    frac = m["first_flip_fraction"].astype(float).where(m["flips_before_full"], 1.0)
    return frac.groupby([m["instance_id"], m["model_seed"].astype(int)]).mean().unstack()


def _seed_and_document_replicates(a: np.ndarray, b: np.ndarray, n_boot: int,
                                  rng: np.random.Generator, chunk: int = 100
                                  ) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates of the median of d and of the share of non-tied documents
    with d > 0, where d = (mean over a's seeds) − (mean over b's seeds) per document.
    a: (D, S_a), b: (D, S_b). Each replicate draws the documents (shared by both) and,
    independently, each encoder's training seeds: seeds of different encoders are
    different models, not pairs, and the spread between them belongs in the interval."""
    n_docs = a.shape[0]
    medians, shares = np.empty(n_boot), np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        weights = []
        for m in (a, b):
            counts = np.stack([np.bincount(r, minlength=m.shape[1]) for r in
                               rng.integers(0, m.shape[1], size=(size, m.shape[1]))])
            weights.append(counts / m.shape[1])  # (size, S)
        picks = rng.integers(0, n_docs, size=(size, n_docs))
        d = weights[0] @ a.T - weights[1] @ b.T  # (size, D) per document, per replicate
        d = np.take_along_axis(d, picks, axis=1)
        medians[start:start + size] = np.median(d, axis=1)
        nonzero = (d != 0).sum(axis=1)
        shares[start:start + size] = np.where(
            nonzero > 0, (d > 0).sum(axis=1) / np.maximum(nonzero, 1), np.nan)
    return medians, shares


def encoder_effect(results: pd.DataFrame | ResultCells, n_boot: int = 1000, seed: int = 0,
                   exclude_runs: Iterable[str] = ()) -> pd.DataFrame:
    """Does the encoder change how much must be erased? A paired, per-document comparison.

    Per dataset x architecture and encoder pair (a, b) and test document, d = fraction
    of items erased at the first flip before full erasure under attention (1.0 if none)
    with encoder a minus with encoder b (means over seeds). Reported:
    the median of d with a bootstrap interval, the sign test (shares of documents where
    a needs more, fewer, the same; two-sided binomial p-value on the non-tied ones) and
    the share of non-tied documents where a needs more, with a bootstrap interval. The
    bootstrap draws the documents and, independently, each encoder's training seeds
    (:func:`_seed_and_document_replicates`), so the intervals carry the seeds' variance.
    The reading names the direction only when that share's interval clears 50% by
    :data:`ENCODER_MIN_EFFECT`.
    """
    if isinstance(results, ResultCells):
        return results.reduce({"effect": EncoderEffect(n_boot, seed, exclude_runs)})["effect"]
    df = validate(results)
    df = df[(df["test"] == "multi") & ~df["run"].isin(set(exclude_runs))]
    per_cell = {(str(dataset), str(arch)): {
        str(enc): _fraction_per_seed(g) for enc, g in group.groupby("encoder", observed=True)}
        for (dataset, arch), group in df.groupby(["dataset", "arch"], observed=True)}
    return _encoder_table(per_cell, n_boot, seed)


@dataclass
class EncoderEffect:
    """:func:`encoder_effect` as a reducer of :meth:`ResultCells.reduce`: keeps each
    cell's per-document, per-seed fractions and compares the encoders at the end,
    drawing the bootstrap in the same order as on the whole table."""

    n_boot: int = 1000
    seed: int = 0
    exclude_runs: Iterable[str] = ()
    fractions: dict[tuple[str, str], dict[str, pd.DataFrame]] = field(default_factory=dict)

    def add(self, cell: Cell, frame: pd.DataFrame) -> None:
        multi = frame[(frame["test"] == "multi") & ~frame["run"].isin(set(self.exclude_runs))]
        if len(multi):
            self.fractions.setdefault((cell.dataset, cell.arch), {})[cell.encoder] = \
                _fraction_per_seed(multi)

    def result(self) -> pd.DataFrame:
        return _encoder_table(dict(sorted(self.fractions.items())), self.n_boot, self.seed)


def _encoder_table(per_cell: dict[tuple[str, str], dict[str, pd.DataFrame]], n_boot: int,
                   seed: int) -> pd.DataFrame:
    """The rows of :func:`encoder_effect` from, per (dataset, arch) in sorted order and
    encoder, the per-document, per-seed fractions (one random stream for all cells)."""
    from scipy.stats import binomtest

    rows = []
    rng = np.random.default_rng(seed)
    for (dataset, arch), per_encoder in per_cell.items():
        for a, b in ENCODER_PAIRS:
            if a not in per_encoder or b not in per_encoder:
                continue
            fa, fb = per_encoder[a].dropna(), per_encoder[b].dropna()
            docs = fa.index.intersection(fb.index)
            if docs.empty:
                continue
            fa, fb = fa.loc[docs].to_numpy(), fb.loc[docs].to_numpy()
            d = fa.mean(axis=1) - fb.mean(axis=1)
            more, fewer = int((d > 0).sum()), int((d < 0).sum())
            medians, shares = _seed_and_document_replicates(fa, fb, n_boot, rng)
            share = more / (more + fewer) if more + fewer else np.nan
            s_low, s_high = (np.nanquantile(shares, [0.025, 0.975])
                             if more + fewer and not np.isnan(shares).all()
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
    columns = ["dataset", "arch", "comparison", "documents", "median_difference",
               "median_low", "median_high", "share_more", "share_low", "share_high", "same",
               "sign_test_p", "reading"]
    out = pd.DataFrame(rows)
    return out[columns] if len(out) else pd.DataFrame(columns=columns)
