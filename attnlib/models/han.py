"""HAN, the hierarchical attention network (paper-spec §2.2): words -> sentence vectors
-> document vector. Tested layer: the sentence attention (items = sentences).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig
from .attention import AdditiveAttention
from .base import AttentionClassifier, ModelOutput
from .encoders import Encoder, make_encoder

# Sentences are encoded in groups of similar length so that a batch's longest sentence
# does not set the padded length of all of them; the result is the same.
_GROUP = 512


class HAN(AttentionClassifier):
    """tokens (batch, S, T) -> word encoder + attention per sentence -> sentence encoder
    + attention -> linear. A sentence is present iff it has at least one token."""

    def __init__(self, config: ModelConfig, embeddings: np.ndarray, n_classes: int) -> None:
        super().__init__(config, embeddings, n_classes)
        dim = self.embedding.embedding_dim
        self.dropout_words = nn.Dropout(config.dropout_words)
        self.dropout_doc = nn.Dropout(config.dropout_doc)
        args = (config.rnn_hidden, config.conv_widths, config.conv_filters, config.conv_dropout)
        self.word_encoder: Encoder = make_encoder(config.encoder, dim, *args)
        self.word_attention = AdditiveAttention(self.word_encoder.output_dim,
                                                uniform=config.attention == "uniform")
        self.sentence_encoder: Encoder = make_encoder(config.encoder,
                                                      self.word_encoder.output_dim, *args)
        self.sentence_attention = AdditiveAttention(self.sentence_encoder.output_dim,
                                                    uniform=config.attention == "uniform")
        self.output_layer = nn.Linear(self.sentence_encoder.output_dim, n_classes)
        self._init_linear()

    def _encode_sentences(self, words: torch.Tensor, embedded: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """words: (N, T) tokens of N real sentences (embedded: their (N, T, dim) input
        embeddings, if given) -> (N, dim) vectors, (N, T) alphas."""
        lengths = (words != 0).sum(1)
        order = torch.argsort(lengths, stable=True)
        vectors = words.new_zeros((len(words), self.word_encoder.output_dim), dtype=torch.float)
        alphas = words.new_zeros(words.shape, dtype=torch.float)
        for start in range(0, len(words), _GROUP):
            idx = order[start : start + _GROUP]
            t = int(lengths[idx].max())
            chunk = words[idx, :t]
            mask = chunk != 0
            x = self.embedding(chunk) if embedded is None else embedded[idx, :t]
            h = self.word_encoder(self.dropout_words(x), mask)
            alpha = self.word_attention(h, mask)
            vectors[idx] = torch.einsum("nt,ntd->nd", alpha, h)
            alphas[idx, :t] = alpha
        return vectors, alphas

    def forward(self, tokens: torch.Tensor, embedded: torch.Tensor | None = None
                ) -> ModelOutput:
        word_mask = tokens != 0
        mask = word_mask.any(-1)
        b, s, t = tokens.shape
        vectors, word_alpha_flat = self._encode_sentences(
            tokens[mask], None if embedded is None else embedded[mask])
        sentences = vectors.new_zeros((b, s, vectors.shape[-1]))
        sentences[mask] = vectors
        word_alpha = vectors.new_zeros((b, s, t))
        word_alpha[mask] = word_alpha_flat
        h = self.sentence_encoder(self.dropout_doc(sentences), mask)
        alpha = self.sentence_attention(h, mask)
        return ModelOutput(self.logits_from(h, alpha), h, alpha, mask, word_alpha)
