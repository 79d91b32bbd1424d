"""Running the input-erasure tests (ERASER, :mod:`attnlib.inputs.erasure`) on a trained
model, one row per test document: comprehensiveness and sufficiency of each token
ranking's top k% tokens. Saved next to the erasure results as ``input_tests.parquet``,
reused only for the same weights and settings. Explained in the chapter "Other tests of
attention" (book/other_tests.ipynb).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..data.batching import collate, make_batches
from ..data.corpus import select_subset
from ..errors import DataError, check_seed
from ..layer.followup_results import ensure_run_table, load_table, per_run_frame, typed_table
from ..training.runs import TrainedRun
from .erasure import ERASER_PERCENTS, INPUT_RANKINGS, input_erasure

INPUT_TESTS_FILE = "input_tests.parquet"
INPUT_SCHEMA_VERSION = "1"
INPUT_COLUMNS: dict[str, str] = {
    "run": "string", "dataset": "string", "model": "string", "arch": "string",
    "encoder": "string", "model_seed": "Int64", "instance_id": "Int64", "n_tokens": "Int64",
    "pred": "Int64",
    **{f"{side}_{r}_{k}": "Float64" for r in INPUT_RANKINGS for side in ("comp", "suff")
       for k in ERASER_PERCENTS},
}


@dataclass(frozen=True)
class InputTestConfig:
    """A seeded sample of ``max_test_docs`` test documents (``None``: all), integrated
    gradients with ``ig_steps`` points, the random ranking's ``seed``."""

    max_test_docs: int | None = 500
    ig_steps: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        check_seed("seed", self.seed)
        if not isinstance(self.ig_steps, int) or self.ig_steps < 1:
            raise ValueError(f"ig_steps must be a positive integer, got {self.ig_steps!r}")


INPUT_TEST_PROFILES = {"paper": InputTestConfig(),
                       "smoke": InputTestConfig(max_test_docs=12, ig_steps=2)}


def input_test_config(profile: str) -> InputTestConfig:
    return INPUT_TEST_PROFILES.get(profile, INPUT_TEST_PROFILES["smoke"])


def run_input_tests(run: TrainedRun, config: InputTestConfig | None = None,
                    progress: bool = True) -> pd.DataFrame:
    """The input-erasure tests on a seeded sample of ``run``'s test documents (with at
    least two tokens), one row per document in the :data:`INPUT_COLUMNS` layout."""
    config = config or InputTestConfig()
    corpus = run.data.test
    arch = run.config.model.arch
    chosen = select_subset(len(corpus), config.max_test_docs, config.seed + 17)
    ids = chosen[corpus.n_tokens[chosen] > 1]
    if len(ids) == 0:
        raise DataError(f"{run.config.label}: no chosen test document has two tokens")
    tested = corpus.subset(ids)
    model = run.model
    model.eval()
    parts = []
    for idx in tqdm(make_batches(tested, arch, 20_000, batch_size=64), disable=not progress,
                    desc=f"input tests {run.config.label}", unit="batch"):
        tokens = collate(tested, idx, arch).tokens.to(model.device)
        outcome = input_erasure(model, tokens, ids[idx], seed=config.seed,
                                ig_steps=config.ig_steps)
        with torch.no_grad():
            pred = model(tokens).logits.argmax(-1)
        part = {"instance_id": ids[idx].astype(np.int64),
                "n_tokens": (tokens != 0).reshape(len(idx), -1).sum(1).cpu().numpy(),
                "pred": pred.cpu().numpy()}
        for r, (comp, suff) in outcome.items():
            for j, k in enumerate(ERASER_PERCENTS):
                part[f"comp_{r}_{k}"] = comp[:, j].cpu().numpy()
                part[f"suff_{r}_{k}"] = suff[:, j].cpu().numpy()
        parts.append(part)
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return typed_table(per_run_frame(run, columns), INPUT_COLUMNS).sort_values(
        "instance_id", ignore_index=True)


def load_input_tests(path: str | Path) -> pd.DataFrame:
    return load_table(path, INPUT_COLUMNS, INPUT_SCHEMA_VERSION)


def ensure_input_tests(run: TrainedRun, path: str | Path, config: InputTestConfig | None = None,
                       progress: bool = True) -> pd.DataFrame:
    """The input tests of ``run``: read from ``path`` when computed from the same weights
    and settings, else computed and written there."""
    config = config or InputTestConfig()
    return ensure_run_table(run, path, config, INPUT_COLUMNS, INPUT_SCHEMA_VERSION,
                            lambda: run_input_tests(run, config, progress))


def aopc_table(input_tests: pd.DataFrame) -> pd.DataFrame:
    """Long table, one row per document x ranking: AOPC comprehensiveness and
    sufficiency (means over :data:`ERASER_PERCENTS`)."""
    keys = ["run", "dataset", "model", "arch", "encoder", "model_seed", "instance_id"]
    rows = []
    for r in INPUT_RANKINGS:
        comp = input_tests[[f"comp_{r}_{k}" for k in ERASER_PERCENTS]].astype(float).mean(axis=1)
        suff = input_tests[[f"suff_{r}_{k}" for k in ERASER_PERCENTS]].astype(float).mean(axis=1)
        rows.append(input_tests[keys].assign(ranking=r, aopc_comprehensiveness=comp,
                                             aopc_sufficiency=suff))
    return pd.concat(rows, ignore_index=True)


def eraser_curves(input_tests: pd.DataFrame) -> pd.DataFrame:
    """Mean comprehensiveness and sufficiency per dataset x model x ranking x k%."""
    rows = []
    for (dataset, model), g in input_tests.groupby(["dataset", "model"], observed=True):
        for r in INPUT_RANKINGS:
            for k in ERASER_PERCENTS:
                for side, name in (("comp", "comprehensiveness"), ("suff", "sufficiency")):
                    rows.append({"dataset": dataset, "model": model, "ranking": r,
                                 "percent": k, "measure": name,
                                 "value": float(g[f"{side}_{r}_{k}"].astype(float).mean())})
    return pd.DataFrame(rows)
