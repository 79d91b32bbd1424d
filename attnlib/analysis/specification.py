"""Each claim's specification curve: the claim judged under every defensible analysis
choice, not only under the one the book states, and a verdict called **robust** only
when it survives nearly all of them.

The choices (a claim takes those that apply to it; the others stay as stated):

* **ties**: documents the statistic cannot separate left out, or counted (ΔJS within the
  tie band counts as "the top item did not move the output more"; a duel's tie counts
  as 0 or is left out);
* **minimum items**: documents of at least 2, 3 or 5 items;
* **k = n flips**: in the ranking duels, a flip only at full erasure left out (as
  stated: every ranking has erased the same items then) or counted as a flip with n
  items;
* **bias-class documents**: in "hard to flip", documents predicted as the bias class
  (which full erasure cannot flip) left out (as stated) or kept;
* **threshold** and **minimum effect**: each × 0.5, × 1 or × 1.5 (a threshold of 0 does
  not move).

Signed or magnitude scores (Jain & Wallace's agreement) are not a choice here: the
published files store only one of them per cell (the other needs the models), so the
book reports the two as separate claims (:mod:`attnlib.analysis.followup_claims`).

Per cell the share of specifications under which it holds is reported; a cell is
*robust* when it holds under at least :data:`ROBUST_SHARE` of them, *robustly fails*
when it holds under at most 1 − :data:`ROBUST_SHARE`, and *fragile* otherwise.
Explained in the chapter "Does the paper hold?" (book/paper_claims.ipynb).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .claims import (
    NO_MINIMUM,
    Claim,
    SampleRule,
    _aligned,
    _duel,
    _without_runs,
    delta_js_sign_values,
    hard_to_flip_values,
)
from .cells import ResultCells
from .stats import CrossedBootstrap

ROBUST_SHARE = 0.9  # "nearly all": a robust verdict holds under 90% of the specifications
MIN_ITEMS = (2, 3, 5)
FACTORS = (0.5, 1.0, 1.5)
ROBUST, FAILS, FRAGILE = "robust: holds", "robust: does not hold", "fragile"


@dataclass(frozen=True)
class Specification:
    """One set of analysis choices (see the module docstring); ``None``: not a choice
    for this claim."""

    min_items: int = 2
    ties_counted: bool | None = None
    full_erasure: bool | None = None
    bias_class: bool | None = None


DUELS = {"gradient_beats_attention": ("attention", "gradient"),
         "gxa_beats_attention": ("attention", "grad_x_attention"),
         "attention_beats_random": ("random", "attention")}


def data_choices(claim: Claim) -> list[Specification]:
    """The specifications of the data (not of the threshold) that apply to ``claim``."""
    items = [m for m in MIN_ITEMS if m >= 2]
    if claim.id == "deltajs_nonnegative":
        return [Specification(m, t) for m in items for t in (False, True)]
    if claim.id in DUELS:
        return [Specification(m, t, f) for m in items for t in (True, False)
                for f in (False, True)]
    if claim.id == "many_hard_to_flip":
        return [Specification(m, bias_class=b) for m in items for b in (False, True)]
    return [Specification(m) for m in items]


def specified_values(claim: Claim, spec: Specification
                     ) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """``claim``'s per-document values under ``spec``'s choices (all lengths; the
    lengths are picked afterwards)."""
    if claim.id == "deltajs_nonnegative":
        return delta_js_sign_values(bool(spec.ties_counted))
    if claim.id in DUELS:
        ranking, other = DUELS[claim.id]
        return _duel(ranking, other, bool(spec.ties_counted), bool(spec.full_erasure))
    if claim.id == "many_hard_to_flip":
        return hard_to_flip_values(2, None, bool(spec.bias_class))
    return claim.values


CURVE_COLUMNS = ["claim", "dataset", "model", "min_items", "ties_counted", "full_erasure",
                 "bias_class", "threshold_factor", "effect_factor", "estimate", "ci_low",
                 "ci_high", "documents_per_seed", "verdict"]


def _lengths_of(group: pd.DataFrame) -> pd.Series:
    return group.groupby("instance_id", observed=True)["n_items"].first().astype(float)


def specification_curve(df: pd.DataFrame | ResultCells, claims: Sequence[Claim], n_boot: int = 400,
                        seed: int = 0, exclude_runs: Iterable[str] = (),
                        rule: SampleRule = NO_MINIMUM) -> pd.DataFrame:
    """Every claim x dataset x model x specification: estimate, 95% interval and verdict
    (a cell below ``rule`` under a specification is "not testable" there). The values
    of one choice of ties, k = n flips and bias class are computed once per seed and
    their documents then restricted to each minimum length; the bootstrap draws are
    shared by every specification of a cell. ``df`` may be
    :class:`attnlib.analysis.cells.ResultCells` (read one cell at a time, same rows)."""
    if isinstance(df, ResultCells):
        return df.table(lambda frame: specification_curve(frame, claims, n_boot, seed,
                                                          exclude_runs, rule))
    df = _without_runs(df, exclude_runs) if "run" in df else df
    rows = []
    for (dataset, model), group in df.groupby(["dataset", "model"], observed=True):
        by_seed = [g for _s, g in group.groupby("model_seed", observed=True)]
        instances = pd.Index(sorted(group["instance_id"].unique()), name="instance_id")
        lengths = [_lengths_of(g) if "n_items" in g else None for g in by_seed]
        boot = CrossedBootstrap(len(by_seed), len(instances), n_boot, seed)
        for claim in claims:
            if claim.models == "han" and not str(model).startswith("HAN"):
                continue
            cache: dict[tuple[object, ...], list[pd.DataFrame]] = {}
            for spec in data_choices(claim):
                key = (spec.ties_counted, spec.full_erasure, spec.bias_class)
                if key not in cache:
                    values = specified_values(claim, spec)
                    cache[key] = [values(g) for g in by_seed]
                per_seed = []
                for frame, n in zip(cache[key], lengths):
                    if n is not None and spec.min_items > 2:
                        short = n.reindex(frame.index) < spec.min_items
                        frame = frame.mask(np.broadcast_to(short.to_numpy()[:, None],
                                                           frame.shape))
                    per_seed.append(frame)
                est, low, high = boot.interval(_aligned(per_seed, instances), claim.reduce)
                used = [int((f["used"].fillna(0) if "used" in f else f.iloc[:, 0].notna())
                            .astype(bool).sum()) for f in per_seed]
                fewest = min(used) if used else 0
                testable = len(by_seed) >= rule.min_seeds and fewest >= rule.min_documents
                for tf, ef in itertools.product(FACTORS, FACTORS):
                    verdict = (claim.judge(est, low, high, claim.threshold * tf,
                                           claim.min_effect * ef)
                               if testable else "not testable")
                    rows.append({"claim": claim.id, "dataset": dataset, "model": model,
                                 **asdict(spec), "threshold_factor": tf, "effect_factor": ef,
                                 "estimate": est, "ci_low": low, "ci_high": high,
                                 "documents_per_seed": fewest, "verdict": verdict})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def robustness(curve: pd.DataFrame, stated: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per claim x dataset x model: the number of testable specifications, the share
    under which the cell holds, and its label (:data:`ROBUST`, :data:`FAILS` or
    :data:`FRAGILE`; "not testable" when no specification is). With ``stated`` (the
    :func:`attnlib.analysis.claims.evaluate_claim_set` table) the stated verdict is
    shown beside it."""
    testable = curve[curve["verdict"] != "not testable"]
    keys = ["claim", "dataset", "model"]
    cells = curve[keys].drop_duplicates().reset_index(drop=True)
    counts = testable.groupby(keys, observed=True)["verdict"].agg(
        specifications="size", holds_share=lambda v: float((v == "holds").mean()))
    out = cells.merge(counts.reset_index(), on=keys, how="left")
    out["specifications"] = out["specifications"].fillna(0).astype(int)
    out["label"] = [
        "not testable" if n == 0 else ROBUST if share >= ROBUST_SHARE - 1e-9
        else FAILS if share <= 1 - ROBUST_SHARE + 1e-9 else FRAGILE
        for n, share in zip(out["specifications"], out["holds_share"])]
    if stated is not None:
        out = out.merge(stated[[*keys, "verdict"]].rename(columns={"verdict": "stated"}),
                        on=keys, how="left")
    return out


def robust_verdicts(robust: pd.DataFrame, claims: Sequence[Claim]) -> pd.DataFrame:
    """Per claim: how many testable cells are robust, robustly fail or are fragile, the
    median share of specifications under which a cell holds, and the claim's robust
    verdict: "holds (robust)" when every testable cell is robust, "does not hold
    (robust)" when every one robustly fails, "partly (robust)" when every cell is one
    or the other, "fragile" when a cell's verdict depends on the specification."""
    rows = []
    for claim in claims:
        cells = robust[(robust["claim"] == claim.id) & (robust["label"] != "not testable")]
        n = len(cells)
        counts = cells["label"].value_counts()
        r, f = int(counts.get(ROBUST, 0)), int(counts.get(FAILS, 0))
        verdict = ("not testable" if n == 0 else "holds (robust)" if r == n
                   else "does not hold (robust)" if f == n
                   else "partly (robust)" if r + f == n else "fragile")
        rows.append({"claim": claim.id, "paper's claim": claim.text, "cells": n,
                     "robust holds": r, "robust fails": f,
                     "fragile": int(counts.get(FRAGILE, 0)),
                     "median share holding": (float(cells["holds_share"].median()) if n
                                              else np.nan),
                     "specifications per cell": (int(cells["specifications"].max()) if n
                                                 else 0),
                     "robust verdict": verdict})
    return pd.DataFrame(rows)


def robust_sentence(verdicts: pd.DataFrame) -> str:
    """For the conclusions: the robust verdicts first, then the fragile claims by
    name, with the rule in numbers."""
    def names(v: str) -> list[str]:
        return [str(t).rstrip(".") for t in
                verdicts.loc[verdicts["robust verdict"] == v, "paper's claim"]]

    holds, fails, fragile = (names("holds (robust)"), names("does not hold (robust)"),
                             names("fragile"))
    partly = verdicts[verdicts["robust verdict"] == "partly (robust)"]
    rule = (f"a verdict is robust when every testable cell holds (or fails) under at least "
            f"{ROBUST_SHARE:.0%} of the defensible specifications")
    parts = [f"Judged under every defensible definition ({rule}):"]
    parts.append("robustly holding: " + (" ".join(f"({i}) {c}." for i, c in
                                                  enumerate(holds, 1)) if holds else "none."))
    parts.append("Robustly failing: " + (" ".join(f"({i}) {c}." for i, c in
                                                   enumerate(fails, 1)) if fails else "none."))
    if len(partly):
        listed = [f"({i}) {str(text).rstrip('.')} ({held} of {n} cells hold)."
                  for i, (text, held, n) in enumerate(zip(
                      partly["paper's claim"], partly["robust holds"], partly["cells"]), 1)]
        parts.append("Robustly holding in some cells and robustly failing in the others: "
                     + " ".join(listed))
    untestable = int((verdicts["robust verdict"] == "not testable").sum())
    if untestable:
        parts.append(f"{untestable} of {len(verdicts)} claims have no cell that meets the "
                     "minimum sample.")
    if fragile:
        rows = verdicts[verdicts["robust verdict"] == "fragile"]
        described = []
        for i, (_, r) in enumerate(rows.iterrows(), 1):
            text = str(r["paper's claim"]).rstrip(".")
            verb = "is" if r["fragile"] == 1 else "are"
            described.append(f"({i}) {text} ({r['robust holds']} of {r['cells']} cells "
                             f"robustly hold, {r['fragile']} {verb} fragile).")
        parts.append("Fragile (the verdict depends on the definition): "
                     + " ".join(described))
    return " ".join(parts)
