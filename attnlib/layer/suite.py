"""Running the erasure tests over a trained run's test set.

Two engines give the same answers: ``vectorized`` (every prefix erasure of every ranking
of a batch in a few tensor operations, on the model's device, streaming over the test set)
and ``reference`` (one erasure and one output-layer call per k, per ranking, like the
original code), which serves as the correctness oracle. Explained in the book chapters
"Single-weight tests" and "Multi-weight tests".
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .._version import __version__
from ..atomic import check_output_file
from ..config import RunConfig
from ..data.batching import collate, make_batches
from ..data.corpus import select_subset
from ..errors import DataError, ParameterError, check_seed, check_type
from ..models.attribution import input_attribution
from ..provenance import provenance
from ..training.runs import TrainedRun
from .divergence import js_divergence
from .erasure import (
    LinearHead,
    erase_and_renormalize,
    erase_items_logits,
    first_flip,
    predicted_class_gradient,
    prefix_erasure_logits,
)
from .rankings import RankingContext, get_ranking, order_from_scores, uniform_hash
from .results import SCHEMA, load_results, read_provenance, save_results, to_schema

Engine = Literal["vectorized", "reference"]
DEFAULT_RANKINGS = ("attention", "reverse_attention", "random", "gradient", "grad_x_attention")
SINGLE_RANKINGS = ("attention", "gradient", "grad_x_attention")
ENGINE_VERSION = "2"


@dataclass(frozen=True)
class SuiteConfig:
    """Which erasure tests to run.

    Attributes:
        rankings: multi-weight rankings (see :func:`attnlib.layer.rankings.list_rankings`).
        single_rankings: rankings whose top item the single-weight test erases.
        random_seeds: number of random orders per instance (seeds ``seed .. seed+N-1``).
        seed: base seed of random orders and of the single-weight test's random item.
        max_test_docs: test a seeded random subset of this size (``None``: all).
        token_cap: padded-token cap of the evaluation batches.
    """

    rankings: tuple[str, ...] = DEFAULT_RANKINGS
    single_rankings: tuple[str, ...] = SINGLE_RANKINGS
    random_seeds: int = 5
    seed: int = 0
    max_test_docs: int | None = None
    token_cap: int = 40_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "rankings", tuple(self.rankings))
        object.__setattr__(self, "single_rankings", tuple(self.single_rankings))
        for name in (*self.rankings, *self.single_rankings):
            get_ranking(name)
        check_type("random_seeds", self.random_seeds, int)
        check_seed("seed", self.seed)
        if self.max_test_docs is not None:
            check_type("max_test_docs", self.max_test_docs, int)
            if self.max_test_docs < 1:
                raise ParameterError("max_test_docs must be positive")
        if self.random_seeds < 1 and "random" in self.rankings:
            raise ParameterError("random_seeds must be at least 1 when 'random' is tested")
        if any(get_ranking(n).stochastic for n in self.single_rankings):
            raise ParameterError("single_rankings must be deterministic rankings")

    def expanded(self) -> list[tuple[str, int | None]]:
        """(ranking, seed) pairs, one per order to test; seed is None if deterministic."""
        out: list[tuple[str, int | None]] = []
        for name in dict.fromkeys((*self.rankings, *self.single_rankings)):
            if get_ranking(name).stochastic:
                out += [(name, self.seed + d) for d in range(self.random_seeds)]
            else:
                out.append((name, None))
        return out


def suite_key(config: RunConfig, suite: SuiteConfig) -> str:
    """Identifies a run's erasure results: run config hash, suite, library version and
    the version of the erasure code (bumped whenever it would change a result)."""
    payload = json.dumps({"run": config.hash, "suite": asdict(suite), "engine": ENGINE_VERSION,
                          "version": __version__}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass
class _BatchOutcome:
    """Per-batch arrays of one engine; R = expanded orders, S = single rankings."""

    first_k: np.ndarray  # (B, R) 0 = never flips
    mass: np.ndarray  # (B, R) removed original attention at the first flip
    top_item: np.ndarray  # (B, S)
    random_item: np.ndarray  # (B,)
    js_top: np.ndarray  # (B, S)
    js_random: np.ndarray  # (B, S)
    flip_top: np.ndarray  # (B, S)
    flip_random: np.ndarray  # (B, S)
    alpha_top: np.ndarray  # (B, S)
    alpha_random: np.ndarray  # (B, S)


@dataclass
class PreparedBatch:
    """The tested layer of a batch, ready for erasure (float64 where it matters).

    Attributes:
        h: (B, n, d) attention inputs. alpha: (B, n). mask: (B, n). n_items: (B,).
        item_logits: (B, n, C) z_i. logits: (B, C) recomputed original logits.
        pred: (B,) decisions. orders: (B, R, n) item orders, one per expanded ranking.
        random_item: (B,) the single-weight test's random item position draw in [0, 1).
    """

    h: torch.Tensor
    alpha: torch.Tensor
    mask: torch.Tensor
    n_items: torch.Tensor
    head: LinearHead
    item_logits: torch.Tensor
    logits: torch.Tensor
    pred: torch.Tensor
    orders: torch.Tensor
    random_draw: torch.Tensor
    instance_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@torch.no_grad()
def prepare_batch(run: TrainedRun, tokens: torch.Tensor, instance_ids: np.ndarray,
                  suite: SuiteConfig) -> PreparedBatch:
    """Run the model once and rank the tested layer's items by every expanded ranking."""
    model = run.model
    out = model(tokens)
    head = LinearHead.from_model(model)
    h, alpha, mask = out.h.double(), out.alpha.double(), out.mask
    item_logits = head.item_logits(h)
    logits = head(h, alpha)
    pred = logits.argmax(-1)

    def gradient() -> torch.Tensor:
        with torch.enable_grad():
            return predicted_class_gradient(head, h, alpha, pred)

    def input_scores(kind: str) -> torch.Tensor:
        return input_attribution(model, tokens, pred, kind)

    ctx = RankingContext(alpha, mask, gradient, instance_ids, item_logits=item_logits,
                         bias=head.bias, pred=pred, input_scores_fn=input_scores)
    orders = []
    for name, seed in suite.expanded():
        ctx.seed = suite.seed if seed is None else seed
        orders.append(order_from_scores(get_ranking(name).score(ctx), mask))
    draws = torch.as_tensor(uniform_hash(suite.seed, 2, np.asarray(instance_ids), 1)[:, 0],
                            device=alpha.device)
    return PreparedBatch(h, alpha, mask, mask.sum(1), head, item_logits, logits, pred,
                         torch.stack(orders, 1), draws, instance_ids)


def _random_other(top: torch.Tensor, n_items: torch.Tensor, draw: torch.Tensor) -> torch.Tensor:
    """A uniformly random item other than ``top`` (the draw picks among the n-1 others)."""
    pos = torch.clamp((draw * (n_items - 1)).floor().long(), max=n_items - 2)
    return torch.where(pos < top, pos, pos + 1)


def _single_positions(suite: SuiteConfig) -> list[int]:
    expanded = suite.expanded()
    return [expanded.index((name, None)) for name in suite.single_rankings]


def vectorized_outcome(pb: PreparedBatch, suite: SuiteConfig) -> _BatchOutcome:
    """All tests for a batch in a few tensor operations."""
    prefix = prefix_erasure_logits(pb.item_logits, pb.alpha, pb.orders, pb.head.bias)
    first_k = first_flip(prefix, pb.pred, pb.n_items)
    a_sorted = pb.alpha.unsqueeze(1).expand_as(pb.orders).gather(2, pb.orders)
    cum = torch.cumsum(a_sorted, 2)
    mass = cum.gather(2, (first_k - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1)
    mass = torch.where(first_k > 0, mass, float("nan"))
    single = _single_positions(suite)
    top = pb.orders[:, single, 0]  # (B, S)
    top_logits = prefix[:, single, 1]  # (B, S, C)
    rand_items = torch.stack([_random_other(top[:, s], pb.n_items, pb.random_draw)
                              for s in range(len(single))], 1)
    rand_logits = torch.stack([erase_items_logits(pb.item_logits, pb.alpha, rand_items[:, s],
                                                  pb.head.bias) for s in range(len(single))], 1)
    base = pb.logits.unsqueeze(1)
    return _BatchOutcome(
        first_k=first_k.cpu().numpy(), mass=mass.cpu().numpy(),
        top_item=top.cpu().numpy(), random_item=rand_items.cpu().numpy(),
        js_top=js_divergence(base, top_logits).cpu().numpy(),
        js_random=js_divergence(base, rand_logits).cpu().numpy(),
        flip_top=(top_logits.argmax(-1) != pb.pred[:, None]).cpu().numpy(),
        flip_random=(rand_logits.argmax(-1) != pb.pred[:, None]).cpu().numpy(),
        alpha_top=pb.alpha.gather(1, top).cpu().numpy(),
        alpha_random=pb.alpha.gather(1, rand_items).cpu().numpy(),
    )


def reference_outcome(pb: PreparedBatch, suite: SuiteConfig) -> _BatchOutcome:
    """The same tests one instance, one ranking and one erasure at a time."""
    b_size, r_size = pb.orders.shape[:2]
    single = _single_positions(suite)
    s_size = len(single)
    first_k = np.zeros((b_size, r_size), np.int64)
    mass = np.full((b_size, r_size), np.nan)
    arrays = {k: np.zeros((b_size, s_size)) for k in
              ("js_top", "js_random", "alpha_top", "alpha_random")}
    top_item = np.zeros((b_size, s_size), np.int64)
    rand_item = np.zeros((b_size, s_size), np.int64)
    flip_top = np.zeros((b_size, s_size), bool)
    flip_random = np.zeros((b_size, s_size), bool)
    for b in range(b_size):
        n = int(pb.n_items[b])
        h, alpha = pb.h[b : b + 1, :n], pb.alpha[b : b + 1, :n]
        base, pred = pb.head(h, alpha), int(pb.pred[b])

        def erased(items: list[int]) -> torch.Tensor:
            erase = torch.zeros((1, n), dtype=torch.bool, device=alpha.device)
            erase[0, items] = True
            return pb.head(h, erase_and_renormalize(alpha, erase))

        for r in range(r_size):
            order = pb.orders[b, r, :n].tolist()
            for k in range(1, n + 1):
                if int(erased(order[:k]).argmax(-1)) != pred:
                    first_k[b, r] = k
                    mass[b, r] = float(alpha[0, order[:k]].sum())
                    break
        for s, r in enumerate(single):
            top = int(pb.orders[b, r, 0])
            pos = min(math.floor(float(pb.random_draw[b]) * (n - 1)), n - 2)
            other = pos if pos < top else pos + 1
            top_item[b, s], rand_item[b, s] = top, other
            for item, js_key, flips, a_key in ((top, "js_top", flip_top, "alpha_top"),
                                               (other, "js_random", flip_random, "alpha_random")):
                logits = erased([item])
                arrays[js_key][b, s] = float(js_divergence(base, logits))
                flips[b, s] = int(logits.argmax(-1)) != pred
                arrays[a_key][b, s] = float(alpha[0, item])
    return _BatchOutcome(first_k, mass, top_item, rand_item, arrays["js_top"],
                         arrays["js_random"], flip_top, flip_random, arrays["alpha_top"],
                         arrays["alpha_random"])


def run_erasure_tests(
    run: TrainedRun,
    suite: SuiteConfig | None = None,
    engine: Engine = "vectorized",
    progress: bool = True,
) -> pd.DataFrame:
    """Run the single- and multi-weight tests on a run's test set.

    Instances whose tested layer has a single item are excluded and counted in
    ``df.attrs["n_single_item_excluded"]``.

    Returns:
        A table in the :data:`attnlib.layer.results.SCHEMA` layout.
    """
    suite = suite or SuiteConfig()
    if engine not in ("vectorized", "reference"):
        raise ParameterError(f"engine must be 'vectorized' or 'reference', got {engine!r}")
    compute = vectorized_outcome if engine == "vectorized" else reference_outcome
    corpus = run.data.test
    chosen = select_subset(len(corpus), suite.max_test_docs, suite.seed + 11)
    arch = run.config.model.arch
    n_items_all = (corpus.n_sentences if arch == "han" else corpus.n_tokens)[chosen]
    ids = chosen[n_items_all > 1]
    if len(ids) == 0:
        unit = "sentence" if arch == "han" else "token"
        raise DataError(
            f"{run.config.label}: all {len(chosen)} test documents chosen have a single "
            f"{unit}, the only item of the tested attention layer; the erasure tests compare "
            "items, so they need at least two per document. Test a FLAN model (its items are "
            "tokens) or use documents with more than one sentence")
    tested = corpus.subset(ids)
    expanded = suite.expanded()
    parts: list[dict[str, np.ndarray]] = []
    batches = make_batches(tested, arch, suite.token_cap, batch_size=128)
    for idx in tqdm(batches, disable=not progress, desc=f"erasure tests {run.config.label}",
                    unit="batch"):
        batch = collate(tested, idx, arch).to(run.model.device)
        pb = prepare_batch(run, batch.tokens, ids[idx], suite)
        parts.append(_batch_rows(pb, compute(pb, suite), suite, expanded, tested.labels[idx]))
    columns = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else {}
    n_rows = len(columns["instance_id"]) if parts else 0
    config = run.config
    frame = to_schema({
        **{key: _nullable(values, SCHEMA[key]) for key, values in columns.items()},
        "run": [config.hash] * n_rows, "dataset": [config.data.dataset] * n_rows,
        "model": [config.model.name] * n_rows, "arch": [arch] * n_rows,
        "encoder": [config.model.encoder] * n_rows,
        "model_seed": [config.train.seed] * n_rows,
        "doc_id": [corpus.doc_ids[int(i)] for i in columns.get("instance_id", [])],
    })
    frame = frame.sort_values(["instance_id", "test", "ranking", "seed"],
                              kind="stable", ignore_index=True)
    frame.attrs["n_single_item_excluded"] = int(len(chosen) - len(ids))
    frame.attrs["n_instances"] = int(len(ids))
    return frame


def _batch_rows(pb: PreparedBatch, o: _BatchOutcome, suite: SuiteConfig,
                expanded: list[tuple[str, int | None]], labels: np.ndarray
                ) -> dict[str, np.ndarray]:
    """Columns of one batch's rows: B x (multi orders) rows, then B x S single rows."""
    b_size = len(pb.instance_ids)
    n_items = pb.n_items.cpu().numpy()
    pred = pb.pred.cpu().numpy()
    multi = [r for r, (name, _seed) in enumerate(expanded) if name in suite.rankings]
    m, s = len(multi), len(suite.single_rankings)

    def per_instance(values: np.ndarray) -> np.ndarray:
        return np.concatenate([np.repeat(values, m), np.repeat(values, s)])

    k = o.first_k[:, multi].reshape(-1).astype(float)
    flips = k > 0
    n_rep = np.repeat(n_items, m)
    nan_m, nan_s = np.full(b_size * m, np.nan), np.full(b_size * s, np.nan)
    seeds_m = np.tile([np.nan if (seed := expanded[r][1]) is None else float(seed)
                       for r in multi], b_size)
    return {
        "instance_id": per_instance(pb.instance_ids.astype(np.int64)),
        "n_items": per_instance(n_items), "label": per_instance(labels),
        "pred": per_instance(pred),
        "test": np.array(["multi"] * (b_size * m) + ["single"] * (b_size * s), dtype=object),
        "ranking": np.concatenate([np.tile(np.array([expanded[r][0] for r in multi], object),
                                           b_size),
                                   np.tile(np.array(suite.single_rankings, object), b_size)]),
        "seed": np.concatenate([seeds_m, np.full(b_size * s, float(suite.seed))]),
        "first_flip_k": np.concatenate([np.where(flips, k, np.nan), nan_s]),
        "first_flip_fraction": np.concatenate([np.where(flips, k / n_rep, np.nan), nan_s]),
        "removed_attention_mass": np.concatenate(
            [np.where(flips, o.mass[:, multi].reshape(-1), np.nan), nan_s]),
        "top_item": np.concatenate([nan_m, o.top_item.reshape(-1)]),
        "random_item": np.concatenate([nan_m, o.random_item.reshape(-1)]),
        "js_top": np.concatenate([nan_m, o.js_top.reshape(-1)]),
        "js_random": np.concatenate([nan_m, o.js_random.reshape(-1)]),
        "delta_js": np.concatenate([nan_m, (o.js_top - o.js_random).reshape(-1)]),
        "attention_gap": np.concatenate([nan_m, (o.alpha_top - o.alpha_random).reshape(-1)]),
        "flip_top": np.concatenate([nan_m, o.flip_top.reshape(-1)]),
        "flip_random": np.concatenate([nan_m, o.flip_random.reshape(-1)]),
    }


def _nullable(values: np.ndarray, dtype: str) -> pd.api.extensions.ExtensionArray:
    """Arrays with NaN for missing -> nullable pandas arrays with <NA>."""
    if values.dtype == object or dtype == "string":
        return pd.array(values, dtype=dtype)
    floats = values.astype(float)
    missing = np.isnan(floats)
    filled = np.where(missing, 0.0, floats)
    if dtype == "boolean":
        return pd.arrays.BooleanArray(filled.astype(bool), missing)
    if dtype == "Int64":
        return pd.arrays.IntegerArray(filled.astype(np.int64), missing)
    return pd.arrays.FloatingArray(floats, missing)


def ensure_erasure_results(
    run: TrainedRun,
    out: str | Path,
    suite: SuiteConfig | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run (or reuse) the erasure tests of ``run`` and save them to ``out`` (Parquet).

    A file at ``out`` written for the same run config, model weights (SHA-256 of
    ``model.pt``), suite and attnlib version is reused. The output location is checked
    before the tests run, so a bad ``out`` fails at once rather than after the work.
    """
    suite = suite or SuiteConfig()
    out = Path(out)
    key = suite_key(run.config, suite)
    model_sha = run.model_sha256
    if out.exists():
        try:
            prov = read_provenance(out)
            if prov.get("suite_key") == key and prov.get("model_sha256") == model_sha:
                return load_results(out)
        except Exception:  # an unreadable or foreign file is recomputed and replaced
            pass
    check_output_file(out)
    frame = run_erasure_tests(run, suite, progress=progress)
    prov = {**provenance(run.model.device, run.config.train.seed), "suite_key": key,
            "model_sha256": model_sha,
            "run_config_hash": run.config.hash, "run_label": run.config.label,
            "suite": asdict(suite), "n_instances": frame.attrs["n_instances"],
            "n_single_item_excluded": frame.attrs["n_single_item_excluded"],
            "test_accuracy": run.metrics.get("test_accuracy")}
    save_results(frame, out, prov)
    return load_results(out)
