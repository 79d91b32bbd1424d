"""Additive attention with a learned context vector (Yang et al. 2016; paper-spec §2.1).

Explained in the book chapter "Models" (book/models.ipynb).
"""

from __future__ import annotations

import torch
from torch import nn


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim restricted to ``mask``; an all-masked row gives zeros."""
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return torch.where(mask, weights, torch.zeros_like(weights))


class AdditiveAttention(nn.Module):
    """alpha = softmax(v . tanh(W h + b)) over the items where ``mask`` is true."""

    def __init__(self, dim: int, context_dim: int | None = None, uniform: bool = False) -> None:
        super().__init__()
        self.projection = nn.Linear(dim, context_dim or dim)
        self.context = nn.Linear(context_dim or dim, 1, bias=False)
        self.uniform = uniform  # equal weights over the real items (W&P's baseline)
        self.hold_fixed = False  # weights detached from the graph (J&W's gradients)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """h: (batch, items, dim), mask: (batch, items) -> alpha: (batch, items)."""
        if self.uniform:
            return masked_softmax(h.new_zeros(mask.shape), mask)
        return self.normalize(self.score(h), mask)

    def score(self, h: torch.Tensor) -> torch.Tensor:
        """(..., dim) item vectors -> (...) unnormalised scores v . tanh(W h + b)."""
        return self.context(torch.tanh(self.projection(h))).squeeze(-1)

    def normalize(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, items) scores -> weights over the items where ``mask`` is true (equal
        weights when the layer is uniform)."""
        if self.uniform:
            return masked_softmax(torch.zeros_like(scores), mask)
        alpha = masked_softmax(scores, mask)
        return alpha.detach() if self.hold_fixed else alpha
