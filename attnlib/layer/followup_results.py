"""Running the follow-up tests at the tested layer on a trained model, one row per test
document: Kendall's tau between attention and four other importance measures (Jain &
Wallace §4.1), the output's movement under 100 permutations of the weights (§4.2) and the
farthest attention found whose output stays within epsilon (§4.3).

Saved next to the erasure results as ``layer_tests.parquet`` (Parquet, float32 storage,
provenance with the model's SHA-256 so that results are reused only for the same weights).
Explained in the chapter "Other tests of attention" (book/other_tests.ipynb).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from .._version import __version__
from ..atomic import atomic_path
from ..data.batching import collate, make_batches
from ..data.corpus import select_subset
from ..errors import DataError, ResultSchemaError, check_seed
from ..models.attribution import gradient_x_input, integrated_gradients
from ..provenance import provenance
from ..training.runs import TrainedRun
from .erasure import LinearHead, leave_one_out_drop, predicted_class_gradient
from .followup import (
    adversarial_attention,
    agreement,
    attention_js_across_seeds,
    median,
    permutation_outputs,
)

LAYER_TESTS_FILE = "layer_tests.parquet"
LAYER_SCHEMA_VERSION = "1"
_META_KEY = b"attnlib"
# the measures whose agreement with attention is reported, in the book's order
AGREEMENT_MEASURES = ("gradient", "leave_one_out", "input_gradient", "integrated_gradients")
LAYER_COLUMNS: dict[str, str] = {
    "run": "string", "dataset": "string", "model": "string", "arch": "string",
    "encoder": "string", "model_seed": "Int64", "instance_id": "Int64", "n_items": "Int64",
    "pred": "Int64",
    **{f"tau_{m}": "Float64" for m in AGREEMENT_MEASURES},
    "perm_median_tvd": "Float64", "perm_median_js": "Float64",
    "adv_js": "Float64", "adv_tvd": "Float64",
}


@dataclass(frozen=True)
class LayerTestConfig:
    """What the layer tests run on and with which settings.

    Attributes:
        max_test_docs: a seeded sample of the test set (``None``: all of it); integrated
            gradients cost ``ig_steps`` forward and backward passes per document.
        n_permutations: random permutations of the weights per document.
        epsilon: the output TVD the adversarial attention must stay within.
        adv_steps, adv_lr, adv_penalty: Adam steps, learning rate and constraint penalty of
            the adversarial search. The search finds a lower bound on the farthest
            attention; on 64 Amazon FLAN-rnn documents its median JS went 0.04 (200 steps,
            lr 0.1, penalty 100), 0.50 (1,000 steps, lr 0.5, penalty 10), 0.53 (3,000) and
            0.53 (6,000), and for HAN-rnn 0.07, 0.08 and 0.10 (1,000, 3,000, 6,000 steps).
        ig_steps: midpoint-rule points of integrated gradients.
        seed: sample, permutation and adversarial-start seed.
    """

    max_test_docs: int | None = 500
    n_permutations: int = 100
    epsilon: float = 0.01
    adv_steps: int = 2_000
    ig_steps: int = 16
    adv_lr: float = 0.5
    adv_penalty: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_seed("seed", self.seed)
        for name in ("n_permutations", "adv_steps", "ig_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0 < self.epsilon < 1:
            raise ValueError(f"epsilon must be in (0, 1), got {self.epsilon}")


LAYER_TEST_PROFILES = {
    "paper": LayerTestConfig(),
    "smoke": LayerTestConfig(max_test_docs=12, adv_steps=100, ig_steps=4),
}


def layer_test_config(profile: str) -> LayerTestConfig:
    """The settings a profile's book uses (the paper's: 500 documents per run)."""
    return LAYER_TEST_PROFILES.get(profile, LAYER_TEST_PROFILES["smoke"])


def run_layer_tests(run: TrainedRun, config: LayerTestConfig | None = None,
                    progress: bool = True) -> pd.DataFrame:
    """The layer tests on a seeded sample of ``run``'s test documents with at least two
    items; one row per document in the :data:`LAYER_COLUMNS` layout."""
    config = config or LayerTestConfig()
    corpus = run.data.test
    arch = run.config.model.arch
    ids = layer_test_documents(run, config)
    if len(ids) == 0:
        raise DataError(f"{run.config.label}: no chosen test document has two items to "
                        "compare; the layer tests need at least two per document")
    tested = corpus.subset(ids)
    model = run.model
    model.eval()
    parts: list[dict[str, np.ndarray]] = []
    for idx in tqdm(make_batches(tested, arch, 20_000, batch_size=64), disable=not progress,
                    desc=f"layer tests {run.config.label}", unit="batch"):
        batch = collate(tested, idx, arch).to(model.device)
        instance_ids = ids[idx]
        with torch.no_grad():
            out = model(batch.tokens)
        head = LinearHead.from_model(model)
        h, alpha, mask = out.h.double(), out.alpha.double(), out.mask
        item_logits = head.item_logits(h)
        pred = head(h, alpha).argmax(-1)
        with torch.enable_grad():
            grad = predicted_class_gradient(head, h, alpha, pred)
        scores = {
            "gradient": grad,
            "leave_one_out": leave_one_out_drop(item_logits, alpha, head.bias, pred),
            "input_gradient": gradient_x_input(model, batch.tokens, pred),
            "integrated_gradients": integrated_gradients(model, batch.tokens, pred,
                                                         config.ig_steps),
        }
        tvd, js = permutation_outputs(item_logits, alpha, mask, head.bias, instance_ids,
                                      config.n_permutations, config.seed)
        _, adv_js, adv_tvd = adversarial_attention(
            item_logits, alpha, mask, head.bias, instance_ids, config.epsilon,
            config.adv_steps, config.adv_lr, config.adv_penalty, seed=config.seed)
        parts.append({
            "instance_id": instance_ids.astype(np.int64),
            "n_items": mask.sum(1).cpu().numpy(), "pred": pred.cpu().numpy(),
            **{f"tau_{m}": agreement(alpha, s, mask) for m, s in scores.items()},
            "perm_median_tvd": median(tvd, 1).cpu().numpy(),
            "perm_median_js": median(js, 1).cpu().numpy(),
            "adv_js": adv_js.cpu().numpy(), "adv_tvd": adv_tvd.cpu().numpy(),
        })
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return typed_table(per_run_frame(run, columns), LAYER_COLUMNS).sort_values(
        "instance_id", ignore_index=True)


def typed_table(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """``frame`` with exactly ``columns``, in order and of their dtypes."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ResultSchemaError(f"the table lacks columns {missing}")
    return pd.DataFrame({c: frame[c].astype(t) for c, t in columns.items()})


def run_table_key(run: TrainedRun, config: Any, schema: str = LAYER_SCHEMA_VERSION) -> str:
    """Identifies the weights and settings a per-run table was computed from."""
    payload = json.dumps({"model_sha256": run.metrics.get("checksums", {}).get("model.pt"),
                          "run": run.config.hash, "config": asdict(config),
                          "schema": schema}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def save_table(frame: pd.DataFrame, path: str | Path, columns: dict[str, str],
               schema_version: str, meta: dict[str, Any]) -> Path:
    """Write a per-document table atomically as zstd Parquet, floats at float32
    precision, with ``meta`` and its schema version (used by the layer and input tests)."""
    frame = typed_table(frame, columns)
    for c, t in columns.items():
        if t == "Float64":
            frame[c] = frame[c].astype("Float32")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({
        **(table.schema.metadata or {}),
        _META_KEY: json.dumps({"schema_version": schema_version, **meta}, default=str).encode()})
    path = Path(path)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=19,
                       write_page_checksum=True)  # verified by load_table
    return path


def read_table_meta(path: str | Path) -> dict[str, Any]:
    try:
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta.get(_META_KEY, b"{}"))
    except (OSError, ValueError, pa.ArrowException) as error:
        raise ResultSchemaError(f"{path} is not a readable results file ({error}); delete "
                                "it to recompute it, or restore it with `git checkout`") from error


def load_table(path: str | Path, columns: dict[str, str], schema_version: str
               ) -> pd.DataFrame:
    """Read and check a table written by :func:`save_table`; ``df.attrs['provenance']``
    holds its metadata."""
    path = Path(path)
    meta = read_table_meta(path)
    if meta.get("schema_version") != schema_version:
        raise ResultSchemaError(f"{path} has schema {meta.get('schema_version')}, this attnlib "
                                f"reads {schema_version}; delete it to recompute it")
    try:
        frame = typed_table(pq.read_table(path, page_checksum_verification=True).to_pandas(),
                            columns)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise ResultSchemaError(f"{path} is damaged ({error}); delete it to recompute it, or "
                                "restore it with `git checkout`") from error
    frame.attrs["provenance"] = meta
    return frame


def load_layer_tests(path: str | Path) -> pd.DataFrame:
    """Read and check a layer-test file; ``df.attrs['provenance']`` holds its metadata."""
    return load_table(path, LAYER_COLUMNS, LAYER_SCHEMA_VERSION)


def ensure_layer_tests(run: TrainedRun, path: str | Path, config: LayerTestConfig | None = None,
                       progress: bool = True) -> pd.DataFrame:
    """The layer tests of ``run``: read from ``path`` when computed from the same weights
    and settings, else computed and written there."""
    config = config or LayerTestConfig()
    return ensure_run_table(run, path, config, LAYER_COLUMNS, LAYER_SCHEMA_VERSION,
                            lambda: run_layer_tests(run, config, progress))


def ensure_run_table(run: TrainedRun, path: str | Path, settings: Any, columns: dict[str, str],
                     schema_version: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """A per-run table (layer tests, input tests, Jain & Wallace's agreement): read from
    ``path`` when computed from the same weights and ``settings`` (a dataclass), else
    ``compute()``-d and written there with the settings, library version and provenance."""
    path = Path(path)
    key = run_table_key(run, settings, schema_version)
    if not (path.exists() and read_table_meta(path).get("key") == key):
        save_table(compute(), path, columns, schema_version,
                   {"key": key, "config": asdict(settings), "library_version": __version__,
                    **provenance(run.model.device, getattr(settings, "seed", 0))})
    return load_table(path, columns, schema_version)


def per_run_frame(run: TrainedRun, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """``columns`` (one value per document) with the run's identifying columns in front."""
    rc = run.config
    return pd.DataFrame({"run": rc.hash, "dataset": rc.data.dataset, "model": rc.model.name,
                         "arch": rc.model.arch, "encoder": rc.model.encoder,
                         "model_seed": rc.train.seed, **columns})


SEED_VARIANCE_FILE = "seed_variance.parquet"
SEED_VARIANCE_SCHEMA_VERSION = "1"
SEED_VARIANCE_COLUMNS: dict[str, str] = {
    "dataset": "string", "model": "string", "instance_id": "Int64", "seeds": "Int64",
    "seed_js": "Float64",
}


def layer_test_documents(run: TrainedRun, config: LayerTestConfig) -> np.ndarray:
    """Test-corpus indices the layer tests use: a seeded sample, documents with >= 2 items."""
    corpus = run.data.test
    chosen = select_subset(len(corpus), config.max_test_docs, config.seed + 13)
    n_items = (corpus.n_sentences if run.config.model.arch == "han" else corpus.n_tokens)
    return chosen[n_items[chosen] > 1]


def run_seed_variance(runs: list[TrainedRun], config: LayerTestConfig | None = None
                      ) -> pd.DataFrame:
    """Per layer-test document: the mean JS between the attention of every pair of
    ``runs`` (one dataset and model, different training seeds; Wiegreffe & Pinter §3.2)."""
    config = config or LayerTestConfig()
    if len(runs) < 2 or len({(r.config.data, r.config.model) for r in runs}) != 1:
        raise ValueError("seed variance needs two or more runs of one dataset and model")
    first = runs[0]
    ids = layer_test_documents(first, config)
    tested = first.data.test.subset(ids)
    arch = first.config.model.arch
    values = []
    batches = make_batches(tested, arch, 20_000, batch_size=64)
    for idx in batches:
        tokens = collate(tested, idx, arch).tokens
        with torch.no_grad():
            alphas = torch.stack([r.model(tokens.to(r.model.device)).alpha.double().cpu()
                                  for r in runs])
        values.append(attention_js_across_seeds(alphas).numpy())
    order = np.concatenate(batches)
    frame = pd.DataFrame({"dataset": first.config.data.dataset,
                          "model": first.config.model.name, "instance_id": ids[order],
                          "seeds": len(runs), "seed_js": np.concatenate(values)})
    return typed_table(frame, SEED_VARIANCE_COLUMNS).sort_values("instance_id",
                                                                 ignore_index=True)


def seed_variance_key(runs: list[TrainedRun], config: LayerTestConfig) -> str:
    return hashlib.sha256(json.dumps(sorted(run_table_key(r, config) for r in runs)).encode()
                          ).hexdigest()[:12]


def ensure_seed_variance(runs: list[TrainedRun], path: str | Path,
                         config: LayerTestConfig | None = None) -> pd.DataFrame:
    """:func:`run_seed_variance`, read from ``path`` when computed from the same weights."""
    config = config or LayerTestConfig()
    path = Path(path)
    key = seed_variance_key(runs, config)
    if path.exists() and read_table_meta(path).get("key") == key:
        return load_seed_variance(path)
    save_table(run_seed_variance(runs, config), path, SEED_VARIANCE_COLUMNS,
               SEED_VARIANCE_SCHEMA_VERSION,
               {"key": key, "runs": sorted(r.config.hash for r in runs),
                "config": asdict(config), "library_version": __version__})
    return load_seed_variance(path)


def load_seed_variance(path: str | Path) -> pd.DataFrame:
    return load_table(path, SEED_VARIANCE_COLUMNS, SEED_VARIANCE_SCHEMA_VERSION)
