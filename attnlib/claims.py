"""The paper's claims (paper-spec §4), each turned into a statistic with a bootstrap 95%
interval (over test documents, and over training seeds where there are several) and a
verdict with an explicit criterion. Explained in the book chapter "Does the paper hold?"
(book/paper_claims.ipynb).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .results import validate
from .stats import hierarchical_bootstrap_ci

Verdict = str  # "holds", "partly", "does not hold", "not testable"
LARGE_GAP = 0.4


@dataclass(frozen=True)
class Claim:
    """One claim: ``values`` maps one model's rows (one seed) to per-document values whose
    mean is the statistic; ``judge`` maps (estimate, low, high) to a verdict."""

    id: str
    text: str
    statistic: str
    criterion: str
    values: Callable[[pd.DataFrame], np.ndarray]
    judge: Callable[[float, float, float], Verdict]
    models: str = "all"  # "all" or "han"


def _single(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["test"] == "single") & (df["ranking"] == "attention")]


def _multi(df: pd.DataFrame, ranking: str, first_seed_only: bool = True) -> pd.DataFrame:
    out = df[(df["test"] == "multi") & (df["ranking"] == ranking)]
    if first_seed_only and out["seed"].notna().any():
        out = out[out["seed"] == out["seed"].min()]
    return out


def _nonnegative_delta_js(df: pd.DataFrame) -> np.ndarray:
    return (_single(df)["delta_js"].astype(float) >= 0).to_numpy(float)


def _gap_effect(df: pd.DataFrame) -> np.ndarray:
    """Per document: Delta JS centred on the small-gap mean, signed by gap size, so that
    the mean is mean(large-gap Delta JS) - mean(small-gap Delta JS) when both groups exist."""
    s = _single(df)
    gap, djs = s["attention_gap"].astype(float).to_numpy(), s["delta_js"].astype(float).to_numpy()
    large = gap >= LARGE_GAP
    if large.sum() == 0 or (~large).sum() == 0:
        return np.array([])
    n = len(djs)
    return np.where(large, djs * n / large.sum(), -djs * n / (~large).sum())


def _top_flips(df: pd.DataFrame) -> np.ndarray:
    return _single(df)["flip_top"].astype(bool).to_numpy(float)


def _only_random_minus_only_top(df: pd.DataFrame) -> np.ndarray:
    s = _single(df)
    top, rnd = s["flip_top"].astype(bool).to_numpy(), s["flip_random"].astype(bool).to_numpy()
    return (rnd & ~top).astype(float) - (top & ~rnd).astype(float)


def _duel(ranking: str, other: str) -> Callable[[pd.DataFrame], np.ndarray]:
    """+1 where ``other`` reaches a flip with fewer items than ``ranking``, -1 where it
    needs more (a ranking that never flips loses), 0 on ties; documents where neither
    flips are dropped."""

    def values(df: pd.DataFrame) -> np.ndarray:
        a = _multi(df, ranking).set_index("instance_id")["first_flip_k"]
        b = _multi(df, other).set_index("instance_id")["first_flip_k"]
        a_, b_ = a.astype("Float64").fillna(np.inf).astype(float), \
            b.reindex(a.index).astype("Float64").fillna(np.inf).astype(float)
        keep = np.isfinite(a_) | np.isfinite(b_)
        return np.sign(a_[keep] - b_[keep]).to_numpy(float)

    return values


def _hard_to_flip(df: pd.DataFrame) -> np.ndarray:
    m = _multi(df, "attention")
    frac = m["first_flip_fraction"].astype("Float64")
    return (frac.isna() | (frac.fillna(0) >= 0.5)).to_numpy(float)


def _share_judge(threshold: float, above: bool) -> Callable[[float, float, float], Verdict]:
    """A cell's verdict: holds if the whole 95% interval is on the claimed side of
    ``threshold``, partly if only the estimate is, does not hold otherwise
    (:data:`CELL_RULE`)."""

    def judge(est: float, low: float, high: float) -> Verdict:
        if np.isnan(est):
            return "not testable"
        if (low > threshold) if above else (high < threshold):
            return "holds"
        if (est > threshold) if above else (est < threshold):
            return "partly"
        return "does not hold"

    return judge


CELL_RULE = ("In each cell a claim holds if its criterion is met, partly holds if only the "
             "estimate (not the whole 95% interval) is on the claimed side of the threshold, "
             "and does not hold otherwise.")

CLAIMS: tuple[Claim, ...] = (
    Claim("deltajs_nonnegative", "Erasing the top-attention item usually changes the output "
          "at least as much as erasing a random item (ΔJS ≥ 0 for most documents).",
          "share of documents with ΔJS ≥ 0", "holds if the whole 95% interval is above 50%",
          _nonnegative_delta_js, _share_judge(0.5, above=True)),
    Claim("deltajs_grows_with_gap", "ΔJS is sizeable only when the attention gap α(i*) − α(r) "
          f"is large (≥ {LARGE_GAP}).",
          f"mean ΔJS for gaps ≥ {LARGE_GAP} minus mean ΔJS for smaller gaps (nats)",
          "holds if the 95% interval is above 0; not testable without both kinds of gap",
          _gap_effect, _share_judge(0.0, above=True)),
    Claim("top_rarely_flips", "Erasing the top-attention item rarely flips a HAN decision.",
          "share of documents whose decision flips when i* is erased",
          "holds if the whole 95% interval is below 25%",
          _top_flips, _share_judge(0.25, above=False), models="han"),
    Claim("only_random_small", "The 'only the random item flips' cell is small next to "
          "'only the top item flips'.",
          "share(only random flips) − share(only top flips)",
          "holds if the 95% interval is below 0",
          _only_random_minus_only_top, _share_judge(0.0, above=False)),
    Claim("gradient_beats_attention", "The gradient ranking reaches a decision flip with "
          "fewer items than attention.",
          "per document: +1 gradient needs fewer items, −1 more, 0 tie (mean)",
          "holds if the 95% interval is above 0", _duel("attention", "gradient"),
          _share_judge(0.0, above=True)),
    Claim("gxa_beats_attention", "The gradient × attention ranking reaches a decision flip "
          "with fewer items than attention.",
          "per document: +1 gradient × attention needs fewer items, −1 more, 0 tie (mean)",
          "holds if the 95% interval is above 0", _duel("attention", "grad_x_attention"),
          _share_judge(0.0, above=True)),
    Claim("attention_beats_random", "Attention reaches a decision flip with fewer items than "
          "a random order.",
          "per document: +1 attention needs fewer items than random, −1 more, 0 tie (mean)",
          "holds if the 95% interval is above 0", _duel("random", "attention"),
          _share_judge(0.0, above=True)),
    Claim("many_hard_to_flip", "Many documents need a large fraction of their items erased "
          "(under attention), or never flip at all.",
          "share of documents that never flip or flip only after ≥ 50% of items",
          "holds if the whole 95% interval is above 25%", _hard_to_flip,
          _share_judge(0.25, above=True)),
)


def list_claims() -> list[str]:
    return [c.id for c in CLAIMS]


def evaluate_claims(results: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per claim x dataset x model: estimate, 95% interval, seeds, documents,
    verdict. Seeds of the same model are combined by a hierarchical bootstrap."""
    df = validate(results)
    rows = []
    for claim in CLAIMS:
        for (dataset, model), group in df.groupby(["dataset", "model"], observed=True):
            if claim.models == "han" and not str(model).startswith("HAN"):
                continue
            per_seed = [claim.values(g) for _s, g in group.groupby("model_seed", observed=True)]
            est, low, high = hierarchical_bootstrap_ci(per_seed, np.mean, n_boot, seed=seed)
            rows.append({"claim": claim.id, "dataset": dataset, "model": model,
                         "statistic": claim.statistic, "estimate": est, "ci_low": low,
                         "ci_high": high, "seeds": len(per_seed),
                         "documents": int(sum(len(v) for v in per_seed)),
                         "verdict": claim.judge(est, low, high)})
    return pd.DataFrame(rows)


def claim_verdicts(evaluated: pd.DataFrame) -> pd.DataFrame:
    """Per claim: in how many dataset x model cells it holds, partly holds or fails, and
    an overall verdict (holds: every testable cell holds; does not hold: none holds or
    partly holds; partly otherwise)."""
    rows = []
    for claim in CLAIMS:
        cells = evaluated[evaluated["claim"] == claim.id]
        counts = cells["verdict"].value_counts()
        testable = len(cells) - int(counts.get("not testable", 0))
        holds, partly = int(counts.get("holds", 0)), int(counts.get("partly", 0))
        if testable == 0:
            overall = "not testable"
        elif holds == testable:
            overall = "holds"
        elif holds + partly == 0:
            overall = "does not hold"
        else:
            overall = "partly"
        rows.append({"claim": claim.id, "paper's claim": claim.text,
                     "statistic": claim.statistic, "criterion": claim.criterion,
                     "cells": testable, "holds": holds, "partly": partly,
                     "does not hold": int(counts.get("does not hold", 0)),
                     "verdict": overall})
    return pd.DataFrame(rows)


def encoder_effect(results: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Does the encoder change the picture? Per dataset x architecture and encoder pair,
    the difference in mean fraction of items erased at the first flip (attention ranking,
    documents that flip under both), with a bootstrap interval over documents."""
    df = validate(results)
    m = df[(df["test"] == "multi") & (df["ranking"] == "attention")]
    rows = []
    for (dataset, arch), group in m.groupby(["dataset", "arch"], observed=True):
        frac = group.pivot_table(index="instance_id", columns="encoder",
                                 values="first_flip_fraction", aggfunc="mean")
        for a, b in (("rnn", "noenc"), ("conv", "noenc"), ("rnn", "conv")):
            if a not in frac or b not in frac:
                continue
            both = frac[[a, b]].astype(float).dropna()
            if both.empty:
                continue
            est, low, high = hierarchical_bootstrap_ci([(both[a] - both[b]).to_numpy()],
                                                       np.mean, n_boot, seed=seed)
            rows.append({"dataset": dataset, "arch": arch.upper(), "comparison": f"{a} − {b}",
                         "documents": len(both), "difference": est, "ci_low": low,
                         "ci_high": high,
                         "reading": "no clear difference" if low <= 0 <= high else
                         (f"{a} needs a larger fraction" if est > 0 else
                          f"{a} needs a smaller fraction")})
    columns = ["dataset", "arch", "comparison", "documents", "difference", "ci_low", "ci_high",
               "reading"]
    return pd.DataFrame(rows, columns=columns)
