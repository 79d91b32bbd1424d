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
from .encoders import BiGRUEncoder, ConvEncoder, Encoder, make_encoder

# Sentences are encoded in groups of similar length so that a batch's longest sentence
# does not set the padded length of all of them; the result is the same.
_GROUP = 512
# packed layout: the BiGRU runs on buckets of sentences whose longest is at most this
# many times the shortest (plus a few tokens), which bounds the padding it computes on
# many times the shortest (plus a few tokens); a bucket holds at least _BUCKET_MIN
# sentences, since a GRU step on few rows costs about as much as on many
_BUCKET_RATIO = 2.0
_BUCKET_SLACK = 2
_BUCKET_MIN = 64


def length_buckets(lengths: torch.Tensor, ratio: float = _BUCKET_RATIO,
                   slack: int = _BUCKET_SLACK, min_size: int = _BUCKET_MIN
                   ) -> list[torch.Tensor]:
    """Indices of sentences sorted by length and cut into buckets whose longest sentence
    has at most ``ratio`` x the shortest's tokens + ``slack``, unless the bucket has
    fewer than ``min_size`` sentences. lengths: (N,) -> a list of index tensors that
    together hold every sentence once."""
    order = torch.argsort(lengths, stable=True)
    sorted_lengths = lengths[order].tolist()
    buckets, start = [], 0
    for i in range(1, len(order) + 1):
        if i == len(order) or (sorted_lengths[i] > ratio * sorted_lengths[start] + slack
                               and i - start >= min_size):
            buckets.append(order[start:i])
            start = i
    return buckets


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
        if self.config.word_layout == "packed":
            return self._encode_sentences_packed(words, embedded)
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

    def _encode_sentences_packed(self, words: torch.Tensor,
                                 embedded: torch.Tensor | None = None
                                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """The word level on the sentences' real tokens only (``word_layout="packed"``).

        The same function as the padded layout (tests/test_models.py checks outputs and
        gradients), computed without padding: dropout is drawn and the attention scored
        over the (n_tokens, dim) real tokens; the CNN runs once over the sentences laid
        end to end with ``reach`` zeros between them (so no window crosses a sentence
        boundary); the BiGRU runs on buckets of sentences of similar length.
        """
        mask = words != 0
        n, t = words.shape
        lengths = mask.sum(1)
        x = self.embedding(words[mask]) if embedded is None else embedded[mask]
        x = self.dropout_words(x)  # (n_tokens, dim)
        encoder = self.word_encoder
        if isinstance(encoder, ConvEncoder):
            h = self._conv_end_to_end(encoder, encoder.drop_inputs(x), lengths)
        elif isinstance(encoder, BiGRUEncoder):
            h = self._rnn_in_buckets(encoder, x, lengths)
        else:
            h = x
        attention = self.word_attention
        scores = h.new_zeros((n, t))
        if not attention.uniform:
            scores = scores.masked_scatter(mask, attention.score(h))
        alphas = attention.normalize(scores, mask)
        sentence_of = torch.repeat_interleave(torch.arange(n, device=words.device), lengths)
        vectors = h.new_zeros((n, h.shape[-1])).index_add(
            0, sentence_of, alphas[mask].unsqueeze(-1) * h)
        return vectors, alphas

    @staticmethod
    def _conv_end_to_end(encoder: ConvEncoder, x: torch.Tensor, lengths: torch.Tensor
                         ) -> torch.Tensor:
        """x: (n_tokens, dim) real tokens of sentences of ``lengths`` -> (n_tokens, out)."""
        gap = encoder.reach
        starts = torch.cumsum(lengths + gap, 0) - lengths  # each sentence after its gap
        offsets = torch.repeat_interleave(starts - torch.cumsum(lengths, 0) + lengths,
                                          lengths)
        positions = torch.arange(len(x), device=x.device) + offsets
        total = int(starts[-1] + lengths[-1]) + gap
        stream = x.new_zeros((total, x.shape[-1])).index_copy(0, positions, x)
        real = torch.zeros(total, dtype=torch.bool, device=x.device)
        real[positions] = True
        return encoder.encode(stream.unsqueeze(0), real.unsqueeze(0))[0, positions]

    @staticmethod
    def _rnn_in_buckets(encoder: Encoder, x: torch.Tensor, lengths: torch.Tensor
                        ) -> torch.Tensor:
        """x: (n_tokens, dim) -> (n_tokens, out), the encoder run on length buckets."""
        first = torch.cumsum(lengths, 0) - lengths  # each sentence's first token in x
        padded = torch.cat([x, x.new_zeros((1, x.shape[-1]))])  # row len(x): padding
        pieces, index_of = [], []
        for bucket in length_buckets(lengths):
            width = int(lengths[bucket].max())
            column = torch.arange(width, device=x.device)
            inside = column < lengths[bucket].unsqueeze(1)  # (bucket, width)
            index = torch.where(inside, first[bucket].unsqueeze(1) + column, len(x))
            pieces.append((index, inside))
            index_of.append(index[inside])
        gathered = padded[torch.cat([index.reshape(-1) for index, _ in pieces])]
        outputs, at = [], 0
        for index, inside in pieces:
            size = index.numel()
            chunk = gathered[at : at + size].view(*index.shape, -1)
            outputs.append(encoder(chunk, inside).reshape(size, -1)[inside.reshape(-1)])
            at += size
        h = torch.cat(outputs)  # rows in bucket order
        order = torch.cat(index_of)
        return h.new_empty(h.shape).index_copy(0, order, h)

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
