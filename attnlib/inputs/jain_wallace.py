"""Jain & Wallace's agreement test computed their way, so that this book's IMDB numbers
can stand beside the ones their repository publishes (``results/external/
jain_wallace_imdb.json``; successar/AttentionExplanation, ``Trainers/PlottingBC.py`` and
``model/Binary_Classification.py``):

* gradient importance: |sum_d dp/de_t . e_t| per token, the gradient taken with the
  attention weights held fixed (detached), as their ``gradient_mem`` does;
* leave-one-out: |p(x) - p(x without token t)|, deleting the token from the input and
  rerunning the whole model (their ``remove_and_run``);
* Kendall's tau between attention and each, over every token of the document;
* documents shorter than 400 tokens, as their IMDB preprocessing keeps.

Differences that remain are stated in the chapter "Other tests of attention"
(book/other_tests.ipynb). FLAN models only: theirs are flat.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import paths
from ..data.batching import collate, make_batches
from ..errors import DataError
from ..layer.followup import agreement
from ..layer.followup_results import ensure_run_table
from ..models.attention import AdditiveAttention
from ..models.base import AttentionClassifier
from ..training.runs import TrainedRun
from .erasure import delete_tokens, predicted_probability

MAX_TOKENS = 400  # their IMDB keeps documents shorter than this


@contextmanager
def attention_held_fixed(model: AttentionClassifier) -> Iterator[None]:
    """Gradients inside this block do not flow through the attention weights."""
    layers = [m for m in model.modules() if isinstance(m, AdditiveAttention)]
    for layer in layers:
        layer.hold_fixed = True
    try:
        yield
    finally:
        for layer in layers:
            layer.hold_fixed = False


def jw_gradient(model: AttentionClassifier, tokens: torch.Tensor, pred: torch.Tensor
                ) -> torch.Tensor:
    """(B, T) |grad . embedding| of p_pred per token with attention held fixed."""
    model.eval()
    with torch.enable_grad(), attention_held_fixed(model):
        embedded = model.embedding(tokens).detach().requires_grad_(True)
        probs = torch.softmax(model(tokens, embedded=embedded).logits, -1)
        (grad,) = torch.autograd.grad(probs.gather(1, pred.view(-1, 1)).sum(), embedded)
    scores = (grad.double() * embedded.detach().double()).sum(-1).abs()
    return torch.where(tokens != 0, scores, 0.0)


@torch.no_grad()
def jw_leave_one_out(model: AttentionClassifier, tokens: torch.Tensor, pred: torch.Tensor
                     ) -> torch.Tensor:
    """(B, T) |p_pred(x) - p_pred(x without token t)|, one forward pass per position."""
    model.eval()
    full = predicted_probability(model, tokens, pred)
    out = torch.zeros(tokens.shape, dtype=torch.float64, device=tokens.device)
    positions = torch.arange(tokens.shape[1], device=tokens.device)
    for t in range(tokens.shape[1]):
        delete = (positions == t).unsqueeze(0).expand_as(tokens)
        out[:, t] = (full - predicted_probability(model, delete_tokens(tokens, delete), pred)).abs()
    return torch.where(tokens != 0, out, 0.0)


def jw_agreement(run: TrainedRun, max_docs: int = 200, seed: int = 0) -> pd.DataFrame:
    """Per test document (a seeded sample of those with 2..399 tokens): Kendall's tau
    between attention and their gradient and leave-one-out importances."""
    if run.config.model.arch != "flan":
        raise ValueError("Jain & Wallace's models are flat: compare FLAN runs")
    corpus = run.data.test
    n_tokens = corpus.n_tokens
    eligible = np.flatnonzero((n_tokens > 1) & (n_tokens < MAX_TOKENS))
    rng = np.random.default_rng(seed + 19)
    ids = np.sort(rng.choice(eligible, size=min(max_docs, len(eligible)), replace=False))
    tested = corpus.subset(ids)
    model = run.model
    rows = []
    for idx in make_batches(tested, "flan", 20_000, batch_size=64):
        tokens = collate(tested, idx, "flan").tokens.to(model.device)
        with torch.no_grad():
            out = model(tokens)
        pred = out.logits.argmax(-1)
        mask = tokens != 0
        rows.append(pd.DataFrame({
            "instance_id": ids[idx],
            "tau_gradient": agreement(out.alpha, jw_gradient(model, tokens, pred), mask),
            "tau_leave_one_out": agreement(out.alpha, jw_leave_one_out(model, tokens, pred),
                                           mask)}))
    frame = pd.concat(rows, ignore_index=True).sort_values("instance_id", ignore_index=True)
    return frame.assign(dataset=run.config.data.dataset, model=run.config.model.name,
                        model_seed=run.config.train.seed)


JW_FILE = "jain_wallace.parquet"
JW_SCHEMA_VERSION = "1"
JW_COLUMNS: dict[str, str] = {"dataset": "string", "model": "string", "model_seed": "Int64",
                              "instance_id": "Int64", "tau_gradient": "Float64",
                              "tau_leave_one_out": "Float64"}
JW_SETTINGS = {"paper": 200, "smoke": 3}  # documents per run, by profile


@dataclass(frozen=True)
class JWSettings:
    """How many eligible test documents (seeded sample) the comparison uses."""

    max_docs: int = 200
    seed: int = 0


def ensure_jw_agreement(run: TrainedRun, path: str | Path, settings: JWSettings | None = None
                        ) -> pd.DataFrame:
    """:func:`jw_agreement`, read from ``path`` when computed from the same weights."""
    settings = settings or JWSettings()
    return ensure_run_table(run, path, settings, JW_COLUMNS, JW_SCHEMA_VERSION,
                            lambda: jw_agreement(run, settings.max_docs, settings.seed))


PUBLISHED_NUMBERS = Path("results") / "external" / "jain_wallace_imdb.json"


def load_published_numbers(path: str | Path | None = None) -> pd.DataFrame:
    """Jain & Wallace's IMDB numbers as published in their repository (one row per model:
    test accuracy, mean and std of tau with gradient and with leave-one-out), from
    :data:`PUBLISHED_NUMBERS` of the source checkout unless ``path`` is given."""
    if path is None:
        root = paths.repo_root()
        if root is None:
            raise DataError("Jain & Wallace's numbers ship with the source checkout "
                            f"({PUBLISHED_NUMBERS}); pass their path")
        path = root / PUBLISHED_NUMBERS
    raw = json.loads(Path(path).read_text())
    rows = []
    for name, m in raw["models"].items():
        rows.append({"model": f"{m['encoder']} + {m['attention']} attention",
                     "encoder": m["encoder"], "attention": m["attention"],
                     "test_accuracy": m["test_accuracy"],
                     "tau_gradient_mean": m["tau_attention_gradient"]["mean"],
                     "tau_gradient_std": m["tau_attention_gradient"]["std"],
                     "tau_leave_one_out_mean": m["tau_attention_loo"]["mean"],
                     "tau_leave_one_out_std": m["tau_attention_loo"]["std"],
                     "source": f"{raw['repo']}@{raw['commit'][:7]}"})
    return pd.DataFrame(rows)


def comparison_table(ours: pd.DataFrame, metrics: pd.DataFrame,
                     theirs: pd.DataFrame) -> pd.DataFrame:
    """Our FLAN models' agreement (mean and std over documents) beside theirs, with test
    accuracies; ``metrics`` holds our runs' ``dataset``, ``model``, ``seed`` and
    ``test_accuracy`` (the mean over the seeds the agreement was computed on is shown)."""
    rows = []
    for model, g in ours.groupby("model", observed=True):
        seeds = sorted(int(s) for s in g["model_seed"].unique())
        runs = metrics[(metrics["dataset"] == g["dataset"].iloc[0])
                       & (metrics["model"] == model) & metrics["seed"].isin(seeds)]
        rows.append({"source": "this book",
                     "model": f"{model} (seed{'s' if len(seeds) > 1 else ''} "
                              f"{', '.join(map(str, seeds))})",
                     "test_accuracy": float(runs["test_accuracy"].mean()),
                     "tau_gradient_mean": g["tau_gradient"].astype(float).mean(),
                     "tau_gradient_std": g["tau_gradient"].astype(float).std(),
                     "tau_leave_one_out_mean": g["tau_leave_one_out"].astype(float).mean(),
                     "tau_leave_one_out_std": g["tau_leave_one_out"].astype(float).std(),
                     "documents": len(g)})
    theirs = theirs.assign(source="Jain & Wallace (" + theirs["source"] + ")")
    columns = ["source", "model", "test_accuracy", "tau_gradient_mean", "tau_gradient_std",
               "tau_leave_one_out_mean", "tau_leave_one_out_std"]
    return pd.concat([pd.DataFrame(rows), theirs[columns]], ignore_index=True)
