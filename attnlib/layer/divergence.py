"""Divergences between output distributions, computed from logits.

Explained in the book chapter "Single-weight tests" (book/single_weight.ipynb).
"""

from __future__ import annotations

import math

import torch

LN2 = math.log(2.0)


def _kl_from_log(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    p = log_p.exp()
    # 0 * log 0 = 0: terms where p vanishes contribute nothing
    return torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p)).sum(-1)


def kl_divergence(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """KL(softmax(p) || softmax(q)) in nats, over the last dim."""
    return _kl_from_log(torch.log_softmax(logits_p, -1), torch.log_softmax(logits_q, -1))


def js_divergence(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence (natural log, so in [0, ln 2]) between the softmax
    distributions of two logit tensors (..., classes) -> (...)."""
    log_p = torch.log_softmax(logits_p, -1)
    log_q = torch.log_softmax(logits_q, -1)
    log_m = torch.logaddexp(log_p, log_q) - LN2
    js = 0.5 * _kl_from_log(log_p, log_m) + 0.5 * _kl_from_log(log_q, log_m)
    return js.clamp(0.0, LN2)
