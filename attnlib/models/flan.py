"""FLAN, the flat attention network (paper-spec §2.3): one encoder and one word
attention over the whole document. Tested layer: the word attention (items = tokens).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig
from .attention import AdditiveAttention
from .base import AttentionClassifier, ModelOutput
from .encoders import Encoder, make_encoder


class FLAN(AttentionClassifier):
    """tokens (batch, T) -> embeddings -> dropout -> encoder -> word attention -> linear."""

    def __init__(self, config: ModelConfig, embeddings: np.ndarray, n_classes: int) -> None:
        super().__init__(config, embeddings, n_classes)
        dim = self.embedding.embedding_dim
        self.dropout_doc = nn.Dropout(config.dropout_doc)
        self.encoder: Encoder = make_encoder(config.encoder, dim, config.rnn_hidden, config.conv_widths,
                                    config.conv_filters, config.conv_dropout)
        self.attention = AdditiveAttention(self.encoder.output_dim,
                                           uniform=config.attention == "uniform")
        self.output_layer = nn.Linear(self.encoder.output_dim, n_classes)
        self._init_linear()

    def forward(self, tokens: torch.Tensor, embedded: torch.Tensor | None = None
                ) -> ModelOutput:
        mask = tokens != 0
        x = self.embedding(tokens) if embedded is None else embedded
        h = self.encoder(self.dropout_doc(x), mask)
        alpha = self.attention(h, mask)
        return ModelOutput(self.logits_from(h, alpha), h, alpha, mask)
