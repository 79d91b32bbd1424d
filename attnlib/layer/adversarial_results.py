"""The multi-start adversarial search (:mod:`attnlib.layer.adversarial`) run on the layer
tests' documents, one table per run (``adversarial.parquet``), and its merge into the
layer-test table: where a run has it, its JS replaces the first search's ``adv_js``, and
the column ``adv_search`` says which search each row's value comes from.

A table of its own keeps the published layer tests (computed with the first search)
valid: changing :class:`~attnlib.layer.followup_results.LayerTestConfig` would retire
all of them. Explained in the chapter "Other tests of attention" (book/other_tests.ipynb).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..data.batching import collate, make_batches
from ..training.runs import TrainedRun
from .adversarial import ADVERSARIAL_SEARCH_VERSION, AdversarialSearch, search_adversarial
from .erasure import LinearHead
from .followup import permutation_outputs
from .followup_results import (
    LayerTestConfig,
    ensure_run_table,
    layer_test_config,
    layer_test_documents,
    load_table,
    per_run_frame,
    typed_table,
)

ADVERSARIAL_FILE = "adversarial.parquet"
ADVERSARIAL_SCHEMA_VERSION = "1"
ADVERSARIAL_COLUMNS: dict[str, str] = {
    "run": "string", "dataset": "string", "model": "string", "arch": "string",
    "encoder": "string", "model_seed": "Int64", "instance_id": "Int64", "n_items": "Int64",
    "pred": "Int64", "perm_lower_median_tvd": "Float64",
    "adv_js": "Float64", "adv_tvd": "Float64", "first_search_js": "Float64",
}
# the values of the merged table's ``adv_search`` column
MULTI_START = "multi-start"
SINGLE_START = "single-start"


@dataclass(frozen=True)
class AdversarialTestConfig:
    """Which documents (those of the layer tests: ``layer``'s sample and seed) and which
    search. The permutation test's lower median TVD (``perm_lower_median_tvd``, as the
    published layer tests were computed) is recomputed with ``layer``'s permutations so
    that a table computed on retrained weights can be checked against the published run."""

    layer: LayerTestConfig = field(default_factory=LayerTestConfig)
    search: AdversarialSearch = field(default_factory=AdversarialSearch)
    version: str = ADVERSARIAL_SEARCH_VERSION


ADVERSARIAL_PROFILES = {
    "paper": AdversarialTestConfig(layer_test_config("paper")),
    # a lighter search for the smoke book's 12 documents per run
    "smoke": AdversarialTestConfig(layer_test_config("smoke"),
                                   AdversarialSearch(steps=100, logit_steps=100,
                                                     polish_starts=2, random_rays=16)),
}


def adversarial_test_config(profile: str) -> AdversarialTestConfig:
    """The settings a profile's book uses (the paper's: the layer tests' 500 documents)."""
    return ADVERSARIAL_PROFILES.get(profile, ADVERSARIAL_PROFILES["smoke"])


def run_adversarial_tests(run: TrainedRun, config: AdversarialTestConfig | None = None,
                          progress: bool = True) -> pd.DataFrame:
    """Per layer-test document of ``run``: the multi-start search's JS and output TVD,
    the first (single-start) search's JS on the same weights, the prediction and the
    permutation median TVD, in the :data:`ADVERSARIAL_COLUMNS` layout."""
    config = config or AdversarialTestConfig()
    ids = layer_test_documents(run, config.layer)
    tested = run.data.test.subset(ids)
    arch = run.config.model.arch
    model = run.model
    model.eval()
    head = LinearHead.from_model(model)
    parts: list[dict[str, np.ndarray]] = []
    for idx in tqdm(make_batches(tested, arch, 20_000, batch_size=64), disable=not progress,
                    desc=f"adversarial search {run.config.label}", unit="batch"):
        batch = collate(tested, idx, arch).to(model.device)
        instance_ids = ids[idx]
        with torch.no_grad():
            out = model(batch.tokens)
            h, alpha, mask = out.h.double(), out.alpha.double(), out.mask
            item_logits = head.item_logits(h)
            pred = head(h, alpha).argmax(-1)
            tvd, _ = permutation_outputs(item_logits, alpha, mask, head.bias, instance_ids,
                                         config.layer.n_permutations, config.layer.seed)
        found = search_adversarial(item_logits, alpha, mask, head.bias, instance_ids,
                                   config.search)
        parts.append({
            "instance_id": instance_ids.astype(np.int64),
            "n_items": mask.sum(1).cpu().numpy(), "pred": pred.cpu().numpy(),
            # torch.median's lower middle value, as the published layer tests hold it
            "perm_lower_median_tvd": tvd.median(1).values.cpu().numpy(),
            "adv_js": found.js.cpu().numpy(), "adv_tvd": found.tvd.cpu().numpy(),
            "first_search_js": found.first_search_js.cpu().numpy(),
        })
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return typed_table(per_run_frame(run, columns), ADVERSARIAL_COLUMNS).sort_values(
        "instance_id", ignore_index=True)


def ensure_adversarial_tests(run: TrainedRun, path: str | Path,
                             config: AdversarialTestConfig | None = None,
                             progress: bool = True) -> pd.DataFrame:
    """:func:`run_adversarial_tests`, read from ``path`` when computed from the same
    weights and settings."""
    config = config or AdversarialTestConfig()
    return ensure_run_table(run, path, config, ADVERSARIAL_COLUMNS, ADVERSARIAL_SCHEMA_VERSION,
                            lambda: run_adversarial_tests(run, config, progress))


def load_adversarial_tests(path: str | Path) -> pd.DataFrame:
    return load_table(path, ADVERSARIAL_COLUMNS, ADVERSARIAL_SCHEMA_VERSION)


def same_model_check(layer_tests: pd.DataFrame, adversarial: pd.DataFrame,
                     tolerance: float = 1e-4) -> str | None:
    """Whether ``adversarial`` (computed on a checkpoint retrained from the same config)
    describes the model of the published ``layer_tests``: the same documents, the same
    prediction on every one and permutation median TVDs within ``tolerance`` (the
    published layer tests hold torch.median's lower middle value). None when
    it does, else what differs."""
    a = layer_tests.set_index("instance_id").sort_index()
    b = adversarial.set_index("instance_id").sort_index()
    if not a.index.equals(b.index):
        return "they cover different documents"
    changed = int((a["pred"].astype(int) != b["pred"].astype(int)).sum())
    if changed:
        return f"the prediction differs on {changed} of {len(a)} documents"
    gap = float((a["perm_median_tvd"].astype(float)
                 - b["perm_lower_median_tvd"].astype(float)).abs().max())
    if not gap <= tolerance:
        return f"a permutation median TVD differs by {gap:.2g} (> {tolerance:g})"
    return None


def with_adversarial(layer_tests: pd.DataFrame, adversarial: pd.DataFrame | None
                     ) -> pd.DataFrame:
    """``layer_tests`` (one run) with the multi-start search's ``adv_js``/``adv_tvd``
    where ``adversarial`` has the document, and ``adv_search`` naming the search."""
    out = layer_tests.copy()
    out["adv_search"] = pd.Series(SINGLE_START, index=out.index, dtype="string")
    if adversarial is None or out.empty:
        return out
    found = adversarial.set_index("instance_id")
    ids = out["instance_id"]
    hit = ids.isin(found.index).to_numpy()
    for column in ("adv_js", "adv_tvd"):
        values = found[column].reindex(ids[hit]).to_numpy()
        out.loc[hit, column] = pd.array(values, dtype="Float64")
    out.loc[hit, "adv_search"] = MULTI_START
    return out
