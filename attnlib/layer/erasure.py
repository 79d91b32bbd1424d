"""Intermediate-representation erasure (paper-spec §3.2), exact and vectorised.

To erase items of the tested attention layer: zero their weights, renormalise the rest
to sum to one, and recompute only the layers above the attention, with the encoder
outputs h frozen. Those layers are one affine map, so with per-item logit contributions
z_i = W h_i the logits after erasing a set S are

    logits(S) = (sum_{i not in S} alpha_i z_i) / (sum_{i not in S} alpha_i) + b,

and b alone when everything is erased. Erasing the top k items of a ranking, for every k
at once, is then a suffix sum in ranked order: :func:`prefix_erasure_logits`. The plain
one-erasure-at-a-time path (:func:`erase_and_renormalize` + :meth:`LinearHead.__call__`)
is kept as the reference. Explained in the book chapters "Single-weight tests" and
"Multi-weight tests".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models import AttentionClassifier


def erase_and_renormalize(alpha: torch.Tensor, erase: torch.Tensor) -> torch.Tensor:
    """Zero the weights where ``erase`` is true and L1-renormalise the rest.

    alpha: (..., items) weights, erase: (..., items) bool -> (..., items). Rows whose
    remaining mass is zero become all-zero (the attended vector is then zero).
    """
    kept = torch.where(erase, torch.zeros_like(alpha), alpha)
    total = kept.sum(-1, keepdim=True)
    return torch.where(total > 0, kept / torch.where(total > 0, total, 1.0), 0.0)


@dataclass(frozen=True)
class LinearHead:
    """The layers above the tested attention as a float64 affine map.

    Attributes:
        weight: (classes, dim).
        bias: (classes,).
    """

    weight: torch.Tensor
    bias: torch.Tensor

    @classmethod
    def from_model(cls, model: AttentionClassifier) -> LinearHead:
        layer = model.output_layer
        return cls(layer.weight.detach().double(), layer.bias.detach().double())

    def __call__(self, h: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """logits = W (sum_i alpha_i h_i) + b. h: (B, n, d), alpha: (B, n) -> (B, C)."""
        pooled = torch.einsum("bn,bnd->bd", alpha.double(), h.double())
        return pooled @ self.weight.T + self.bias

    def item_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Per-item contributions z_i = W h_i. (B, n, d) -> (B, n, C)."""
        return h.double() @ self.weight.T


def prefix_erasure_logits(
    item_logits: torch.Tensor, alpha: torch.Tensor, order: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """Logits after erasing the first k items of each order, for every k = 0..n.

    Args:
        item_logits: (B, n, C) z_i = W h_i (zero on padding).
        alpha: (B, n) original attention (zero on padding).
        order: (B, R, n) item indices, most important first, padding last, for R rankings.
        bias: (C,) output bias.

    Returns:
        (B, R, n + 1, C); entry k is the logits with the top-k items erased (k = 0: the
        original; entries past an instance's length equal ``bias``).
    """
    b, r, n = order.shape
    c = item_logits.shape[-1]
    weighted = alpha.double().unsqueeze(-1) * item_logits  # alpha_i z_i, (B, n, C)
    a = alpha.double().unsqueeze(1).expand(b, r, n).gather(2, order)
    az = weighted.unsqueeze(1).expand(b, r, n, c).gather(
        2, order.unsqueeze(-1).expand(b, r, n, c))
    # suffix sums: what remains after erasing the first k; no subtraction, so no
    # cancellation when nearly all the mass is gone
    num = torch.flip(torch.cumsum(torch.flip(az, [2]), 2), [2])
    den = torch.flip(torch.cumsum(torch.flip(a, [2]), 2), [2])
    num = torch.cat([num, num.new_zeros(b, r, 1, c)], 2)
    den = torch.cat([den, den.new_zeros(b, r, 1)], 2).unsqueeze(-1)
    pooled = torch.where(den > 0, num / torch.where(den > 0, den, 1.0), 0.0)
    return pooled + bias


def first_flip(
    prefix_logits: torch.Tensor, pred: torch.Tensor, n_items: torch.Tensor
) -> torch.Tensor:
    """The smallest k >= 1 whose decision differs from ``pred``, 0 if none.

    prefix_logits: (B, R, n + 1, C), pred: (B,), n_items: (B,) -> (B, R) int64.
    """
    decisions = prefix_logits[:, :, 1:].argmax(-1)
    if decisions.shape[-1] == 0:
        return torch.zeros(decisions.shape[:2], dtype=torch.long, device=decisions.device)
    k = torch.arange(1, decisions.shape[-1] + 1, device=decisions.device)
    flipped = (decisions != pred[:, None, None]) & (k <= n_items[:, None, None])
    first = flipped.to(torch.int8).argmax(-1) + 1
    return torch.where(flipped.any(-1), first, torch.zeros_like(first))


def erase_items_logits(
    item_logits: torch.Tensor, alpha: torch.Tensor, items: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """Logits after erasing one item per instance. items: (B,) -> (B, C)."""
    keep = torch.ones_like(alpha, dtype=torch.bool)
    keep[torch.arange(len(items), device=items.device), items] = False
    a = torch.where(keep, alpha.double(), 0.0)
    num = torch.einsum("bn,bnc->bc", a, item_logits)
    den = a.sum(-1, keepdim=True)
    return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), 0.0) + bias


def erased_logits(
    item_logits: torch.Tensor, alpha: torch.Tensor, erase: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """Logits after erasing any set of items, from per-item contributions z_i = W h_i:
    sum_i alpha'_i z_i + b with alpha' = :func:`erase_and_renormalize` (alpha, erase).

    item_logits: (..., n, C), alpha and erase: (..., n), bias: (C,) -> (..., C).
    """
    renormalized = erase_and_renormalize(alpha.double(), erase)
    return torch.einsum("...n,...nc->...c", renormalized, item_logits.double()) + bias


def predicted_class_gradient(
    head: LinearHead, h: torch.Tensor, alpha: torch.Tensor, pred: torch.Tensor
) -> torch.Tensor:
    """d p_pred / d alpha_i, with the weights as free inputs to the layers above
    (no renormalisation, dropout off), once on the unmodified instance. -> (B, n)."""
    a = alpha.detach().double().clone().requires_grad_(True)
    probs = torch.softmax(head(h.detach(), a), -1)
    (grad,) = torch.autograd.grad(probs.gather(1, pred[:, None]).sum(), a)
    return grad


def leave_one_out_logits(item_logits: torch.Tensor, alpha: torch.Tensor,
                         bias: torch.Tensor) -> torch.Tensor:
    """Logits after erasing each item alone, every item at once.

    With S = sum_j alpha_j z_j, erasing item i leaves (S - alpha_i z_i) / (1 - alpha_i) + b,
    or b alone when item i held all the weight. item_logits: (B, n, C), alpha: (B, n),
    bias: (C,) -> (B, n, C). Explained in the chapter "Multi-weight tests".
    """
    a = alpha.double()
    total = torch.einsum("bn,bnc->bc", a, item_logits)  # (B, C)
    rest = 1.0 - a  # (B, n)
    num = total.unsqueeze(1) - a.unsqueeze(-1) * item_logits
    safe = torch.where(rest > 1e-12, rest, 1.0).unsqueeze(-1)
    return torch.where(rest.unsqueeze(-1) > 1e-12, num / safe, 0.0) + bias


def leave_one_out_drop(item_logits: torch.Tensor, alpha: torch.Tensor, bias: torch.Tensor,
                       pred: torch.Tensor) -> torch.Tensor:
    """(B, n) drop in the predicted class's probability when item i alone is erased
    (Jain & Wallace's leave-one-out importance at the tested layer)."""
    full = torch.softmax(torch.einsum("bn,bnc->bc", alpha.double(), item_logits) + bias, -1)
    erased = torch.softmax(leave_one_out_logits(item_logits, alpha, bias), -1)
    index = pred.view(-1, 1)
    return full.gather(1, index) - erased.gather(2, index.unsqueeze(1).expand(
        -1, alpha.shape[1], 1)).squeeze(-1)
