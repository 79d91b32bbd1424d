"""What every model exposes for the erasure tests.

Explained in the book chapter "Models" (book/models.ipynb).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig


@dataclass
class ModelOutput:
    """A forward pass, with the tested attention layer opened up.

    Attributes:
        logits: (batch, classes).
        h: (batch, items, dim) inputs of the tested attention layer (HAN: sentence
            vectors after the document encoder; FLAN: token vectors after the encoder).
        alpha: (batch, items) its attention weights (zero on padding).
        mask: (batch, items) true for real items.
        word_alpha: HAN only, (batch, sentences, tokens) word attention, for display.
    """

    logits: torch.Tensor
    h: torch.Tensor
    alpha: torch.Tensor
    mask: torch.Tensor
    word_alpha: torch.Tensor | None = None


class AttentionClassifier(nn.Module):
    """Base of HAN and FLAN: embeddings, an attention-pooled document vector, and a
    single linear output layer.

    The layers above the tested attention are exactly ``logits_from(h, alpha) =
    output_layer(sum_i alpha_i h_i)`` (output dropout is off in eval mode), which the
    erasure engine relies on.
    """

    config: ModelConfig
    output_layer: nn.Linear

    def __init__(self, config: ModelConfig, embeddings: np.ndarray, n_classes: int) -> None:
        super().__init__()
        self.config = config
        self.n_classes = n_classes
        # a copy: as_tensor would share the prepared data's array, and training would then
        # change the starting embeddings of every later model built from the same data
        self.embedding = nn.Embedding.from_pretrained(
            torch.tensor(embeddings, dtype=torch.float32), freeze=False, padding_idx=0
        )
        self.dropout_out = nn.Dropout(config.dropout_out)

    def _init_linear(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def logits_from(self, h: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Recompute the logits from the tested layer's inputs and (any) weights.

        h: (batch, items, dim), alpha: (batch, items) -> (batch, classes).
        """
        pooled = torch.einsum("bn,bnd->bd", alpha, h)
        return self.output_layer(self.dropout_out(pooled))

    def forward(self, tokens: torch.Tensor, embedded: torch.Tensor | None = None
                ) -> ModelOutput:  # pragma: no cover - abstract
        """tokens: token ids (0 = padding). ``embedded``: the input embeddings to use in
        place of ``embedding(tokens)``, shape ``tokens.shape + (dim,)``; the input-level
        attributions (:mod:`attnlib.models.attribution`) scale them and take gradients."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return self.output_layer.weight.device
