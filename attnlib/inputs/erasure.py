"""Erasing the input (ERASER; DeYoung et al. 2020): delete a ranking's top tokens from the
document and rerun the whole model, so that what those tokens contributed to their
neighbours' encoder states goes too (erasure at the tested layer leaves it in place).

For the rationale r_k made of a ranking's top k% tokens of a document (at least one,
``ceil(k n / 100)`` of its n tokens; ties broken by position) and the model's decision c
on the full document:

* comprehensiveness(k) = p_c(x) − p_c(x without r_k): high when the rationale was needed;
* sufficiency(k) = p_c(x) − p_c(r_k alone): low when the rationale suffices;
* AOPC: their means over k in :data:`ERASER_PERCENTS`.

Deleting tokens compacts the document (HAN: a sentence left without tokens disappears);
a document left with no tokens at all gives the output bias alone. Token rankings:
attention (FLAN: its weights; HAN: word weight x its sentence's weight), gradient x input
and integrated gradients at the embeddings (:mod:`attnlib.models.attribution`), and a
seeded random order. Explained in the chapter "Other tests of attention"
(book/other_tests.ipynb).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..layer.rankings import position_keys
from ..models.attribution import ig_scales, token_input_scores
from ..models.base import AttentionClassifier

ERASER_PERCENTS = (1, 5, 10, 20, 50)
INPUT_RANKINGS = ("attention", "input_gradient", "integrated_gradients", "random")


def delete_tokens(tokens: torch.Tensor, delete: torch.Tensor) -> torch.Tensor:
    """``tokens`` with the positions in ``delete`` removed and the rest moved left (FLAN
    (B, T)); for HAN (B, S, T) also sentences left empty are removed. Same shape, 0-padded.
    """
    keep = (tokens != 0) & ~delete
    if tokens.dim() == 2:
        return _compact(tokens, keep)
    b, s, t = tokens.shape
    words = _compact(tokens.reshape(b * s, t), keep.reshape(b * s, t)).reshape(b, s, t)
    sentence_keep = (words != 0).any(-1)  # (B, S)
    order = torch.argsort((~sentence_keep).to(torch.int8), dim=1, stable=True)  # kept first
    moved = words.gather(1, order.unsqueeze(-1).expand(-1, -1, t))
    return torch.where(sentence_keep.gather(1, order).unsqueeze(-1), moved, 0)


def _compact(rows: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    return torch.where(keep.gather(1, order), rows.gather(1, order), 0)


def rationale_masks(scores: torch.Tensor, real: torch.Tensor,
                    percents: tuple[int, ...] = ERASER_PERCENTS) -> torch.Tensor:
    """(P, *tokens.shape) bool: each document's top ``ceil(k n / 100)`` real tokens by
    ``scores`` for each k in ``percents`` (n = its real tokens; ties: earlier first)."""
    b = scores.shape[0]
    flat_scores = scores.reshape(b, -1).double()
    flat_real = real.reshape(b, -1)
    keyed = torch.where(flat_real, flat_scores, -math.inf)
    order = torch.argsort(-keyed, dim=1, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    n = flat_real.sum(1, keepdim=True)
    masks = []
    for k in percents:
        size = torch.clamp(torch.ceil(n.double() * k / 100), min=1).long()
        masks.append(((rank < size) & flat_real).reshape(real.shape))
    return torch.stack(masks)


def token_scores(model: AttentionClassifier, tokens: torch.Tensor, pred: torch.Tensor,
                 ranking: str, instance_ids: np.ndarray, seed: int = 0, ig_steps: int = 16
                 ) -> torch.Tensor:
    """Scores of every token (shape of ``tokens``) under one of :data:`INPUT_RANKINGS`."""
    if ranking == "attention":
        with torch.no_grad():
            out = model(tokens)
        if out.word_alpha is None:
            return out.alpha.double()
        return out.word_alpha.double() * out.alpha.double().unsqueeze(-1)
    if ranking == "input_gradient":
        return token_input_scores(model, tokens, pred, [1.0])
    if ranking == "integrated_gradients":
        return token_input_scores(model, tokens, pred, ig_scales(ig_steps))
    if ranking == "random":
        # keyed on (seed, document, sentence, token), never on the batch's padding
        keys = position_keys(seed, 5, np.asarray(instance_ids, np.int64), tuple(tokens.shape))
        return torch.as_tensor(keys, device=tokens.device)
    raise ValueError(f"unknown input ranking {ranking!r}; choose from {INPUT_RANKINGS}")


@torch.no_grad()
def predicted_probability(model: AttentionClassifier, tokens: torch.Tensor,
                          pred: torch.Tensor) -> torch.Tensor:
    """(B,) the probability the model gives class ``pred`` on ``tokens``."""
    probs = torch.softmax(model(tokens).logits.double(), -1)
    return probs.gather(1, pred.view(-1, 1))[:, 0]


def comprehensiveness_sufficiency(model: AttentionClassifier, tokens: torch.Tensor,
                                  pred: torch.Tensor, rationale: torch.Tensor
                                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) comprehensiveness and sufficiency of one rationale (bool, shape of tokens)."""
    full = predicted_probability(model, tokens, pred)
    without = predicted_probability(model, delete_tokens(tokens, rationale), pred)
    alone = predicted_probability(model, delete_tokens(tokens, ~rationale), pred)
    return full - without, full - alone


def input_erasure(model: AttentionClassifier, tokens: torch.Tensor, instance_ids: np.ndarray,
                  rankings: tuple[str, ...] = INPUT_RANKINGS,
                  percents: tuple[int, ...] = ERASER_PERCENTS, seed: int = 0,
                  ig_steps: int = 16) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per ranking: comprehensiveness and sufficiency, each (B, P) over ``percents``, for
    the model's own decision on each document. One forward pass per (ranking, k, side)."""
    model.eval()
    with torch.no_grad():
        pred = model(tokens).logits.argmax(-1)
    real = tokens != 0
    out = {}
    for ranking in rankings:
        masks = rationale_masks(token_scores(model, tokens, pred, ranking, instance_ids, seed,
                                             ig_steps), real, percents)
        pairs = [comprehensiveness_sufficiency(model, tokens, pred, m) for m in masks]
        out[ranking] = (torch.stack([c for c, _ in pairs], 1),
                        torch.stack([s for _, s in pairs], 1))
    return out
