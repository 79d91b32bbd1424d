"""The output-bias artefact of the multi-weight test.

Erasing every item of a document leaves the zero vector at the tested layer, so the
logits are the output bias b alone and the decision is argmax(b), the *bias class*,
whatever the ranking. Hence:

* a document predicted as the bias class can never flip at full erasure; if no prefix
  flips it earlier, it "never flips" under that ranking;
* a document predicted as another class always flips by k = n at the latest; a flip at
  exactly k = n says only that its prediction differs from argmax(b).

Neither outcome says anything about the ranking. This module labels each multi-weight
row with one of :data:`OUTCOMES`, so that statistics about rankings can be computed on
flips *before* full erasure, with the rest reported beside them.

The bias class of a published run is recovered from its results without the checkpoint:
every document that never flips under some ranking is predicted as the bias class (and
only such documents can), so all of them share one predicted class. Explained in the
chapter "Multi-weight tests" (book/multi_weight.ipynb).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ResultSchemaError
from ..layer.results import validate
from .cells import ResultCells, streams

BEFORE_FULL, FULL_ONLY, NEVER = ("flips before full erasure", "flips only at full erasure",
                                 "never flips")
OUTCOMES = (BEFORE_FULL, FULL_ONLY, NEVER)


def flips_before_full(multi: pd.DataFrame) -> pd.Series:
    """(rows,) bool: the first flip came with fewer items erased than the document has."""
    return (multi["first_flip_k"] < multi["n_items"]).fillna(False).astype(bool)


def censored_first_flip(multi: pd.DataFrame) -> pd.Series:
    """first_flip_k as floats, with flips at full erasure and no flips as infinity: the
    number of items a ranking needs, counting only what the ranking can decide."""
    k = multi["first_flip_k"].astype("Float64")
    return k.where(flips_before_full(multi)).fillna(np.inf).astype(float)


def bias_class_of_run(multi: pd.DataFrame) -> int | None:
    """argmax(b) of one run, from its multi-weight rows: the predicted class of its
    never-flipping documents. ``None`` when no document of the run reveals it.

    Raises :class:`ResultSchemaError` when never-flipping documents disagree, which no
    correct erasure run can produce.
    """
    never = multi.loc[multi["first_flip_k"].isna(), "pred"].dropna().unique()
    if len(never) > 1:
        raise ResultSchemaError(
            f"run {multi['run'].iloc[0]}: documents predicted as {sorted(map(int, never))} "
            "all survive full erasure, but full erasure leaves one class (argmax of the "
            "output bias); the results are damaged: re-run `attnlib test`")
    if len(never) == 1:
        return int(never[0])
    # binary task: a document flipped at full erasure is not the bias class
    full = multi.loc[multi["first_flip_k"] == multi["n_items"], "pred"].dropna().unique()
    classes = set(multi["label"].dropna().unique()) | set(multi["pred"].dropna().unique())
    if len(classes) == 2 and len(full) == 1:
        return int((classes - {full[0]}).pop())
    return None


def multi_outcomes(results: pd.DataFrame) -> pd.DataFrame:
    """The multi-weight rows of ``results`` with four added columns.

    * ``bias_class`` (Int64): argmax(b) of the row's run (<NA> if not recoverable);
    * ``predicted_as_bias_class`` (bool): the document's decision is the bias class
      (False when the bias class is unknown);
    * ``flips_before_full`` (bool): the first flip came with k < n items erased;
    * ``outcome``: one of :data:`OUTCOMES`.
    """
    multi = validate(results)
    multi = multi[multi["test"] == "multi"]
    bias = {run: bias_class_of_run(group)
            for run, group in multi.groupby("run", observed=True)}
    bias_col = multi["run"].map(bias).astype("Int64")
    before = flips_before_full(multi)
    never = multi["first_flip_k"].isna()
    outcome = np.where(before, BEFORE_FULL, np.where(never, NEVER, FULL_ONLY))
    return multi.assign(
        bias_class=bias_col,
        predicted_as_bias_class=(multi["pred"] == bias_col).fillna(False).astype(bool),
        flips_before_full=before, outcome=outcome)


@streams
def outcome_shares(results: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x model x ranking: the share of documents in each outcome, and the
    share predicted as the bias class. Random orders are pooled over their seeds.

    Columns: dataset, model, ranking, n, the three :data:`OUTCOMES` (shares), and
    ``predicted_as_bias_class`` (share).
    """
    rows = multi_outcomes(results)
    shares = pd.crosstab([rows["dataset"], rows["model"], rows["ranking"]], rows["outcome"],
                         normalize="index").reindex(columns=list(OUTCOMES), fill_value=0.0)
    grouped = rows.groupby(["dataset", "model", "ranking"], observed=True)
    out = grouped.agg(n=("outcome", "size"),
                      predicted_as_bias_class=("predicted_as_bias_class", "mean"))
    return out.join(shares).reset_index().rename_axis(columns=None)


def survival_by_cause(results: pd.DataFrame | ResultCells, ranking: str = "attention",
                      first_seed: int | None = None) -> pd.DataFrame:
    """Per dataset x model: documents that no prefix short of full erasure flips, split by
    cause: predicted as the bias class (they never flip) or not (they flip at k = n).
    Shares of all documents; ``ranking`` picks the ranking (first seed of random: the
    lowest in ``results``, or ``first_seed``)."""
    if isinstance(results, ResultCells):
        low = results.scan()["first_seeds"].get(ranking)
        return results.table(lambda frame: survival_by_cause(frame, ranking, low))
    rows = multi_outcomes(results)
    rows = rows[rows["ranking"] == ranking]
    if rows["seed"].notna().any():
        rows = rows[rows["seed"] == (rows["seed"].min() if first_seed is None else first_seed)]
    rows = rows.assign(
        bias_class_survives=~rows["flips_before_full"] & rows["predicted_as_bias_class"],
        other_class_flips_at_full=~rows["flips_before_full"] & ~rows["predicted_as_bias_class"])
    out = rows.groupby(["dataset", "model"], observed=True).agg(
        n=("outcome", "size"), flips_before_full=("flips_before_full", "mean"),
        bias_class_survives=("bias_class_survives", "mean"),
        other_class_flips_at_full=("other_class_flips_at_full", "mean"))
    return out.reset_index()
