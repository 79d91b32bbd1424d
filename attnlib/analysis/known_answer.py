"""The known answer as statistics with verdicts: does each model rely on the planted
shortcut, where does each ranking put it, and does each ranking change when the model's
weights (or its training labels) are randomised?

Inputs are the per-document tables of :mod:`attnlib.inputs.known_answer`. Intervals are
crossed bootstraps over training seeds and test documents
(:class:`attnlib.analysis.stats.CrossedBootstrap`), one seed: the document bootstrap.
Explained in the chapter "A test with a known answer" (book/known_answer.ipynb).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.corpus import PreparedData
from ..inputs.known_answer import KNOWN_ANSWER_RANKINGS, RANDOMISATION_STEPS, SANITY_STEPS
from .stats import CrossedBootstrap

RELIANCE_THRESHOLD = 0.9
"""A model relies on the shortcut when it follows the planted token on at least this share
of the planted test documents *and* of the planted documents whose text alone it decides
otherwise (deleting the token changes its decision there). Ours, not the protocol's
number: Bastings et al. ask for near-perfect accuracy on the planted documents."""
FINDS_THRESHOLD = 0.9
"""A ranking finds the planted items when the lower end of the interval of its mean
precision@k is at least this."""
SANITY_MAX_RHO = 0.5
"""A ranking passes a randomisation check when the upper end of the interval of its mean
Spearman correlation with the trained model's ranking is below this."""
CELL = ["dataset", "model", "arch", "encoder"]


def planted_counts(data: PreparedData) -> pd.DataFrame:
    """Per split of a prepared shortcut dataset: documents, how many carry the planted
    token(s), and how many of those per class (the label the shortcut decided)."""
    spec = data.spec.shortcut
    if spec is None:
        raise ValueError(f"{data.spec.id} is not a shortcut dataset")
    ids = np.array([data.vocab.index(w) for w in spec.words])
    rows = []
    for split in ("train", "dev", "test"):
        corpus = data.split(split)
        hit = np.isin(corpus.token_ids, ids[ids > 1]).astype(np.int64)
        starts = corpus.sentence_offsets[corpus.doc_offsets]
        per_doc = np.add.reduceat(hit, starts[:-1]) if len(corpus) and len(hit) else \
            np.zeros(len(corpus), np.int64)
        per_doc = np.where(np.diff(starts) > 0, per_doc, 0)
        planted = per_doc > 0
        row = {"dataset": data.spec.id, "split": split, "documents": len(corpus),
               "planted": int(planted.sum()), "planted_share": float(planted.mean())}
        for c, name in enumerate(data.spec.classes):
            row[f"planted {name}"] = int((planted & (corpus.labels == c)).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def reliance_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per run: accuracy on planted and on unplanted test documents, the share of planted
    documents whose decision flips when the planted tokens are deleted, the share of
    *conflict* documents (planted, and decided otherwise without the tokens) whose
    decision follows the planted token, and whether the run relies on the shortcut."""
    rows = []
    for (run, *cell, seed), g in table.groupby(["run", *CELL, "model_seed"], sort=False):
        planted = g[g["planted"].astype(bool)]
        unplanted = g[~g["planted"].astype(bool)]
        pred, label = planted["pred"].astype(int), planted["label"].astype(int)
        without = planted["pred_without"].astype(int)
        conflict = without != label
        acc_planted = float((pred == label).mean()) if len(planted) else float("nan")
        followed = float((pred[conflict] == label[conflict]).mean()) if conflict.any() \
            else float("nan")
        rows.append({
            "run": run, **dict(zip(CELL, cell)), "model_seed": int(seed),
            "planted_docs": len(planted), "unplanted_docs": len(unplanted),
            "accuracy_planted": acc_planted,
            "accuracy_unplanted": float((unplanted["pred"] == unplanted["label"]).mean())
            if len(unplanted) else float("nan"),
            "flip_share": float((pred != without).mean()) if len(planted) else float("nan"),
            "conflict_docs": int(conflict.sum()), "conflict_followed": followed,
            "relies": bool(acc_planted >= RELIANCE_THRESHOLD
                           and followed >= RELIANCE_THRESHOLD),
        })
    return pd.DataFrame(rows)


def _seed_doc_array(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, int]:
    """(S, D, C) values of ``columns`` per seed and document (NaN where a seed lacks the
    document) and S."""
    seeds = sorted(frame["model_seed"].astype(int).unique())
    docs = sorted(frame["instance_id"].astype(int).unique())
    out = np.full((len(seeds), len(docs), len(columns)), np.nan)
    s_index = {s: i for i, s in enumerate(seeds)}
    d_index = {d: i for i, d in enumerate(docs)}
    si = frame["model_seed"].astype(int).map(s_index).to_numpy()
    di = frame["instance_id"].astype(int).map(d_index).to_numpy()
    out[si, di] = frame[columns].astype(float).to_numpy()
    return out, len(seeds)


def _column_mean(c: int):
    def reduce(sums: np.ndarray, counts: np.ndarray) -> float:
        return float(sums[c] / counts[c]) if counts[c] > 0 else float("nan")
    return reduce


def ranking_scores(table: pd.DataFrame, reliance: pd.DataFrame | None = None,
                   n_boot: int = 1000) -> pd.DataFrame:
    """Per cell (dataset x model) and ranking: mean rank of the first planted item, mean
    precision@k and mean reciprocal rank over the planted documents with two or more
    items, each with a 95% interval over seeds and documents; ``relies`` (every seed of
    the cell relies on the shortcut, :func:`reliance_table`) and the protocol's
    ``verdict`` for the cells that rely on it (see :func:`verdict`)."""
    reliance = reliance_table(table) if reliance is None else reliance
    relies = reliance.groupby(CELL)["relies"].all()
    planted = table[table["planted"].astype(bool)].copy()
    rows = []
    for cell, g in planted.groupby(CELL, sort=False):
        columns = []
        for r in KNOWN_ANSWER_RANKINGS:
            g = g.assign(**{f"rr_{r}": 1.0 / g[f"rank_{r}"].astype(float)})
            columns += [f"rank_{r}", f"prec_{r}", f"rr_{r}"]
        values, n_seeds = _seed_doc_array(g, columns)
        boot = CrossedBootstrap(n_seeds, values.shape[1], n_boot=n_boot, seed=0)
        for j, r in enumerate(KNOWN_ANSWER_RANKINGS):
            row = {**dict(zip(CELL, cell)), "ranking": r, "seeds": n_seeds,
                   "documents": int((~np.isnan(values[:, :, 3 * j])).any(0).sum()),
                   "relies": bool(relies.get(cell, False))}
            for k, name in enumerate(("rank", "precision", "mrr")):
                est, lo, hi = boot.interval(values[:, :, 3 * j + k:3 * j + k + 1],
                                            _column_mean(0))
                row.update({name: est, f"{name}_low": lo, f"{name}_high": hi})
            rows.append(row)
    scores = pd.DataFrame(rows)
    if scores.empty:
        return scores
    scores["verdict"] = [verdict(row, scores) for _, row in scores.iterrows()]
    return scores


def verdict(row: pd.Series, scores: pd.DataFrame) -> str:
    """The protocol's verdict on one ranking in one cell: ``model does not rely on it``
    (the cell is left out), ``finds the planted token`` (precision@k interval at or above
    :data:`FINDS_THRESHOLD`), ``no better than random`` (its interval reaches no higher
    than the random ranking's upper end) or ``partly`` (in between)."""
    if not row["relies"]:
        return "model does not rely on it"
    if row["precision_low"] >= FINDS_THRESHOLD:
        return "finds the planted token"
    random = scores[(scores["dataset"] == row["dataset"]) & (scores["model"] == row["model"])
                    & (scores["ranking"] == "random")]
    if len(random) and row["precision_high"] <= float(random["precision_high"].iloc[0]):
        return "no better than random"
    return "partly"


def sanity_scores(table: pd.DataFrame, n_boot: int = 1000) -> pd.DataFrame:
    """Per cell, ranking and randomisation step: the mean Spearman correlation between
    the ranking on the trained model and on the randomised one (or the permuted-labels
    twin), with a 95% interval over seeds and documents, and whether the ranking passes
    (``changes``: the interval's upper end below :data:`SANITY_MAX_RHO`)."""
    rows = []
    for cell, g in table.groupby(CELL, sort=False):
        columns = [f"rho_{s}_{r}" for s in SANITY_STEPS for r in KNOWN_ANSWER_RANKINGS]
        values, n_seeds = _seed_doc_array(g, columns)
        boot = CrossedBootstrap(n_seeds, values.shape[1], n_boot=n_boot, seed=0)
        for i, col in enumerate(columns):
            step, ranking = _split_rho(col)
            est, lo, hi = boot.interval(values[:, :, i:i + 1], _column_mean(0))
            rows.append({**dict(zip(CELL, cell)), "ranking": ranking, "step": step,
                         "seeds": n_seeds, "spearman": est, "spearman_low": lo,
                         "spearman_high": hi,
                         "changes": bool(hi < SANITY_MAX_RHO) if not np.isnan(hi) else None})
    return pd.DataFrame(rows)


def _split_rho(column: str) -> tuple[str, str]:
    rest = column[len("rho_"):]
    for step in SANITY_STEPS:
        if rest.startswith(step + "_"):
            return step, rest[len(step) + 1:]
    raise ValueError(column)


def verdict_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Per ranking: in how many relying cells it finds the planted token, partly finds
    it, or does no better than random; cells that do not rely are counted apart."""
    if scores.empty:
        return pd.DataFrame(columns=["ranking", "finds the planted token", "partly",
                                     "no better than random", "cells left out"])
    out = []
    for r in KNOWN_ANSWER_RANKINGS:
        g = scores[scores["ranking"] == r]
        counts = g["verdict"].value_counts()
        out.append({"ranking": r,
                    "finds the planted token": int(counts.get("finds the planted token", 0)),
                    "partly": int(counts.get("partly", 0)),
                    "no better than random": int(counts.get("no better than random", 0)),
                    "cells left out": int(counts.get("model does not rely on it", 0))})
    return pd.DataFrame(out)


def sanity_summary(sanity: pd.DataFrame) -> pd.DataFrame:
    """Per ranking and step: how many cells pass (the ranking changes) out of those
    checked."""
    checked = sanity.dropna(subset=["changes"])
    if checked.empty:
        return pd.DataFrame(columns=["ranking", "step", "cells", "changes"])
    g = checked.groupby(["ranking", "step"], sort=False)["changes"]
    out = pd.DataFrame({"cells": g.size(), "changes": g.sum().astype(int)}).reset_index()
    order = {s: i for i, s in enumerate(SANITY_STEPS)}
    rank = {r: i for i, r in enumerate(KNOWN_ANSWER_RANKINGS)}
    return out.sort_values(["ranking", "step"], key=lambda c: c.map(
        rank if c.name == "ranking" else order)).reset_index(drop=True)


__all__ = ["FINDS_THRESHOLD", "planted_counts", "RANDOMISATION_STEPS", "RELIANCE_THRESHOLD", "SANITY_MAX_RHO",
           "ranking_scores", "reliance_table", "sanity_scores", "sanity_summary", "verdict",
           "verdict_summary"]
