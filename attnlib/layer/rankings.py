"""Rankings of the tested layer's items: which to erase first (paper-spec §3.4).

A ranking maps a :class:`RankingContext` to scores of shape (batch, items); items are
erased in descending score order (ties: lower index first), padding always last. A new
ranking is one registered function::

    @register_ranking("my_ranking", "what it does")
    def my_ranking(ctx: RankingContext) -> torch.Tensor:
        return ...

Explained in the book chapter "Multi-weight tests" (book/multi_weight.ipynb).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from ..registry import Registry


@dataclass
class RankingContext:
    """What a ranking may look at, for one batch.

    Attributes:
        alpha: (B, n) attention weights (zero on padding).
        mask: (B, n) real items.
        gradient_fn: computes (B, n) d p_pred / d alpha on demand.
        instance_ids: (B,) stable ids of the instances (seed random draws per instance).
        seed: the draw's seed (random rankings).
        item_logits: (B, n, C) z_i = W h_i, bias: (C,), pred: (B,) decisions; for
            rankings that recompute the output (leave-one-out).
        input_scores_fn: given ``"gradient_x_input"``, ``"integrated_gradients"`` or
            ``"gradient_l2"``,
            the (B, n) input-level attribution of each item (rerunning the model from its
            embeddings, :mod:`attnlib.models.attribution`); ``None`` where the model is
            not at hand.
    """

    alpha: torch.Tensor
    mask: torch.Tensor
    gradient_fn: Callable[[], torch.Tensor]
    instance_ids: np.ndarray
    seed: int = 0
    item_logits: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    pred: torch.Tensor | None = None
    input_scores_fn: Callable[[str], torch.Tensor] | None = None

    def input_scores(self, kind: str) -> torch.Tensor:
        if self.input_scores_fn is None:
            raise ValueError(f"the {kind} ranking needs the model's input embeddings; "
                             "this context has no input_scores_fn")
        return self.input_scores_fn(kind)

    @cached_property
    def gradient(self) -> torch.Tensor:
        return self.gradient_fn()


@dataclass(frozen=True)
class Ranking:
    name: str
    score: Callable[[RankingContext], torch.Tensor]
    description: str
    stochastic: bool = False


RANKINGS: Registry[Ranking] = Registry("ranking")


def register_ranking(name: str, description: str, stochastic: bool = False
                     ) -> Callable[[Callable[[RankingContext], torch.Tensor]],
                                   Callable[[RankingContext], torch.Tensor]]:
    def decorator(fn: Callable[[RankingContext], torch.Tensor]
                  ) -> Callable[[RankingContext], torch.Tensor]:
        RANKINGS.add(name, Ranking(name, fn, description, stochastic))
        return fn

    return decorator


@register_ranking("attention", "largest attention weight first")
def attention(ctx: RankingContext) -> torch.Tensor:
    return ctx.alpha


@register_ranking("reverse_attention", "smallest attention weight first")
def reverse_attention(ctx: RankingContext) -> torch.Tensor:
    return -ctx.alpha


def uniform_hash(seed: int, stream: int, instance_ids: np.ndarray, n: int) -> np.ndarray:
    """(len(ids), n) uniform numbers in [0, 1) that depend only on (seed, stream, instance
    id, position): a SplitMix64 hash, so a document gets the same draws whatever batch it
    is in, without a random generator per document."""
    return _hash_positions(seed, stream, np.asarray(instance_ids), np.arange(n, dtype=np.uint64))


MAX_ITEM_LENGTH = 1 << 24  # positions within one item (tokens of a sentence) stay below this


def position_keys(seed: int, stream: int, instance_ids: np.ndarray, shape: tuple[int, ...]
                  ) -> np.ndarray:
    """Uniform keys in [0, 1) of shape ``shape`` = (B, n) or (B, S, T) that depend only on
    (seed, stream, instance id, item) and never on padding: the key of token t of
    sentence s is hashed at position s * :data:`MAX_ITEM_LENGTH` + t, so a document padded
    to any S x T gets the same keys on its real positions (hashing over the flattened
    padded S x T, as before, moved every sentence after the first with the padded width).
    For (B, n) these are exactly :func:`uniform_hash`'s keys."""
    ids = np.asarray(instance_ids, np.int64)
    if len(shape) == 2:
        return uniform_hash(seed, stream, ids, shape[1])
    if len(shape) != 3:
        raise ValueError(f"keys are defined for (B, n) or (B, S, T) shapes, got {shape}")
    b, n_sent, n_tok = shape
    if n_tok > MAX_ITEM_LENGTH:
        raise ValueError(f"items longer than {MAX_ITEM_LENGTH} tokens are not supported")
    positions = (np.arange(n_sent, dtype=np.uint64)[:, None] * np.uint64(MAX_ITEM_LENGTH)
                 + np.arange(n_tok, dtype=np.uint64)[None, :]).ravel()
    return _hash_positions(seed, stream, ids, positions).reshape(b, n_sent, n_tok)


def _hash_positions(seed: int, stream: int, instance_ids: np.ndarray, positions: np.ndarray
                    ) -> np.ndarray:
    """(len(ids), len(positions)) SplitMix64 uniforms, as :func:`uniform_hash` at
    arbitrary positions."""
    with np.errstate(over="ignore"):
        base = (np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
                ^ np.uint64(stream) * np.uint64(0xBF58476D1CE4E5B9))
        x: np.ndarray = (base + instance_ids.astype(np.uint64)[:, None]
                         * np.uint64(0x94D049BB133111EB)
                         + positions.astype(np.uint64)[None, :] * np.uint64(0x9E3779B97F4A7C15))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return np.asarray((x >> np.uint64(11)).astype(np.float64) / float(2**53))


@register_ranking("random", "a uniformly random order, seeded per instance", stochastic=True)
def random_order(ctx: RankingContext) -> torch.Tensor:
    keys = uniform_hash(ctx.seed, 1, np.asarray(ctx.instance_ids), ctx.mask.shape[1])
    return torch.as_tensor(keys, device=ctx.alpha.device)


@register_ranking("gradient", "largest signed d p_pred / d alpha_i first")
def gradient(ctx: RankingContext) -> torch.Tensor:
    return ctx.gradient


@register_ranking("grad_x_attention", "largest alpha_i * d p_pred / d alpha_i first")
def grad_x_attention(ctx: RankingContext) -> torch.Tensor:
    return ctx.alpha.double() * ctx.gradient


@register_ranking("leave_one_out", "largest drop in p_pred when the item alone is erased first")
def leave_one_out(ctx: RankingContext) -> torch.Tensor:
    from .erasure import leave_one_out_drop

    if ctx.item_logits is None or ctx.bias is None or ctx.pred is None:
        raise ValueError("leave_one_out needs item_logits, bias and pred in the context")
    return leave_one_out_drop(ctx.item_logits, ctx.alpha, ctx.bias, ctx.pred)


@register_ranking("input_gradient", "largest d p_pred / d (one-hot input), summed over the "
                  "item's tokens, first (gradient x input at the embeddings)")
def input_gradient(ctx: RankingContext) -> torch.Tensor:
    return ctx.input_scores("gradient_x_input")


@register_ranking("integrated_gradients", "largest integrated gradients of p_pred at the "
                  "embeddings (zero baseline), summed over the item's tokens, first")
def integrated_gradients(ctx: RankingContext) -> torch.Tensor:
    return ctx.input_scores("integrated_gradients")


@register_ranking("gradient_l2", "largest L2 norm of d p_pred / d (embeddings of the item's "
                  "tokens) first (the shortcut protocol's gradient norm; unsigned)")
def gradient_l2(ctx: RankingContext) -> torch.Tensor:
    return ctx.input_scores("gradient_l2")


def get_ranking(name: str) -> Ranking:
    return RANKINGS.get(name)


def list_rankings() -> list[str]:
    """Names of every registered ranking."""
    return RANKINGS.names()


def order_from_scores(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, n) scores -> (B, n) item indices, highest score first, padding last."""
    masked = torch.where(mask, scores.double(), float("-inf"))
    return torch.sort(masked, dim=-1, descending=True, stable=True).indices
