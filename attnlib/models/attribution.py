"""Input-level attributions of the tested layer's items (Jain & Wallace 2019, §4.1;
Sundararajan et al. 2017), summed onto the items the erasure tests rank.

* gradient x input: the gradient of the predicted class's probability with respect to
  a token's one-hot input, which is the gradient with respect to its embedding dotted
  with the embedding (Jain & Wallace's gradient importance, signed);
* integrated gradients: the same dot product with the gradient averaged along the
  straight path from an all-zero embedding to the real one (midpoint rule);
* gradient L2 norm: the Euclidean norm of the gradient with respect to a token's
  embedding, unsigned (the "gradient (L2)" of Bastings et al. 2022's shortcut protocol;
  for HAN the norm of the gradient over all the sentence's token embeddings).

Each token's score is summed over embedding dimensions and, for HAN, over a sentence's
tokens, so that a score exists per item of the tested layer. Dropout is off (eval mode).
Explained in the chapter "Other tests of attention" (book/other_tests.ipynb).
"""

from __future__ import annotations

import torch

from .base import AttentionClassifier


def token_input_scores(model: AttentionClassifier, tokens: torch.Tensor, pred: torch.Tensor,
                       scales: list[float]) -> torch.Tensor:
    """Per token (shape of ``tokens``): e_t . mean_s d p_pred / d(s e_t), the gradient
    taken at the embeddings scaled by each s in ``scales`` (``[1]``: gradient x input;
    midpoints of [0, 1]: integrated gradients); padding scores 0."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            embedded = model.embedding(tokens).detach()
            mean_grad = torch.zeros_like(embedded)
            for t in scales:
                z = (embedded * t).requires_grad_(True)
                probs = torch.softmax(model(tokens, embedded=z).logits, -1)
                (grad,) = torch.autograd.grad(probs.gather(1, pred.view(-1, 1)).sum(), z)
                mean_grad += grad / len(scales)
    finally:
        model.train(was_training)
    token_scores = (mean_grad.double() * embedded.double()).sum(-1)  # (B, T) or (B, S, T)
    return torch.where(tokens != 0, token_scores, 0.0)


def item_input_scores(model: AttentionClassifier, tokens: torch.Tensor, pred: torch.Tensor,
                      scales: list[float]) -> torch.Tensor:
    """(B, n) per item of the tested layer: :func:`token_input_scores` summed over the
    item's tokens (a token is its own item in FLAN; a sentence's tokens in HAN)."""
    token_scores = token_input_scores(model, tokens, pred, scales)
    return token_scores.sum(-1) if tokens.dim() == 3 else token_scores


def ig_scales(steps: int) -> list[float]:
    """The midpoint rule's points on [0, 1] for integrated gradients."""
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    return [(k + 0.5) / steps for k in range(steps)]


def gradient_x_input(model: AttentionClassifier, tokens: torch.Tensor, pred: torch.Tensor
                     ) -> torch.Tensor:
    """(B, n) per item: sum over its tokens of d p_pred / d e_t . e_t.

    tokens: FLAN (B, T) or HAN (B, S, T) ids; pred: (B,) the class whose probability is
    attributed. Items are tokens (FLAN) or sentences (HAN); padding scores 0.
    """
    return item_input_scores(model, tokens, pred, [1.0])


def integrated_gradients(model: AttentionClassifier, tokens: torch.Tensor,
                         pred: torch.Tensor, steps: int = 16) -> torch.Tensor:
    """(B, n) integrated gradients of p_pred on the embedding layer with an all-zero
    baseline, ``steps`` midpoint-rule points, summed per item as :func:`gradient_x_input`.

    Completeness: the scores of a document sum to about p_pred(x) - p_pred(0 embeddings),
    closer as ``steps`` grows. Costs ``steps`` forward and backward passes.
    """
    return item_input_scores(model, tokens, pred, ig_scales(steps))


def gradient_l2(model: AttentionClassifier, tokens: torch.Tensor, pred: torch.Tensor
                ) -> torch.Tensor:
    """(B, n) per item: the L2 norm of d p_pred / d e over the item's token embeddings
    (FLAN: one token's; HAN: all of the sentence's tokens', i.e. the square root of the
    summed squared norms). Padding scores 0. Explained in the chapter "A test with a known
    answer" (book/known_answer.ipynb)."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            z = model.embedding(tokens).detach().requires_grad_(True)
            probs = torch.softmax(model(tokens, embedded=z).logits, -1)
            (grad,) = torch.autograd.grad(probs.gather(1, pred.view(-1, 1)).sum(), z)
    finally:
        model.train(was_training)
    squared = torch.where(tokens != 0, (grad.double() ** 2).sum(-1), 0.0)
    return (squared.sum(-1) if tokens.dim() == 3 else squared).sqrt()


def input_attribution(model: AttentionClassifier, tokens: torch.Tensor, pred: torch.Tensor,
                      kind: str) -> torch.Tensor:
    """(B, n) one of the input-level attributions by name: ``gradient_x_input``,
    ``integrated_gradients`` (16 steps) or ``gradient_l2``."""
    if kind == "gradient_x_input":
        return gradient_x_input(model, tokens, pred)
    if kind == "integrated_gradients":
        return integrated_gradients(model, tokens, pred)
    if kind == "gradient_l2":
        return gradient_l2(model, tokens, pred)
    raise ValueError(f"unknown input attribution {kind!r}; use gradient_x_input, "
                     "integrated_gradients or gradient_l2")
