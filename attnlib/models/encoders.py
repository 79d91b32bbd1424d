"""Encoders below the attention (paper-spec §2.4): ``rnn``, ``conv`` and ``noenc``.

All take (N, T, d_in) inputs with an (N, T) mask and return (N, T, d_out) with padding
positions zeroed. Explained in the book chapter "Models" (book/models.ipynb).
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import Registry


class Encoder(nn.Module):
    """An encoder: (N, T, d_in) inputs and an (N, T) mask -> (N, T, output_dim).

    ``forward(x, mask)`` is ``encode(drop_inputs(x), mask)``: HAN's packed word level
    (attnlib/models/han.py) applies an encoder's own input dropout to the real tokens
    only and then calls ``encode`` on its own layout of them.
    """

    output_dim: int

    def drop_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's own elementwise dropout on its inputs (only the CNN has one)."""
        return x

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The encoder on inputs that have been through :meth:`drop_inputs`."""
        return self(x, mask)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length; padding stays at the end.

    x: (N, T, ...) and lengths: (N,). Applying it twice is the identity.
    """
    n, t = x.shape[:2]
    positions = torch.arange(t, device=x.device).unsqueeze(0).expand(n, t)
    flipped = lengths.unsqueeze(1) - 1 - positions
    index = torch.where(flipped >= 0, flipped, positions)
    if x.dim() == 2:
        return x.gather(1, index)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class BiGRUEncoder(Encoder):
    """1-layer bidirectional GRU. The backward direction runs a forward GRU over each
    sequence reversed within its length, so padding never reaches it (the same result
    as packed sequences, about 4x faster on CPU)."""

    def __init__(self, input_dim: int, hidden: int = 50) -> None:
        super().__init__()
        self.forward_gru = nn.GRU(input_dim, hidden, batch_first=True)
        self.backward_gru = nn.GRU(input_dim, hidden, batch_first=True)
        self.output_dim = 2 * hidden
        for gru in (self.forward_gru, self.backward_gru):
            for name, param in gru.named_parameters():
                if "weight_ih" in name:
                    nn.init.xavier_uniform_(param)
                elif "weight_hh" in name:
                    nn.init.orthogonal_(param)
                else:
                    nn.init.zeros_(param)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1)
        fwd, _ = self.forward_gru(x)
        bwd, _ = self.backward_gru(reverse_padded(x, lengths))
        out = torch.cat([fwd, reverse_padded(bwd, lengths)], dim=-1)
        return out * mask.unsqueeze(-1)


class ConvEncoder(Encoder):
    """Parallel Conv1d banks (odd widths, 'same' padding, ReLU), concatenated; input
    masked and dropped out (p=0.3) first, output re-masked."""

    def __init__(self, input_dim: int, widths: tuple[int, ...] = (3, 5), filters: int = 50,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.convs = nn.ModuleList(
            nn.Conv1d(input_dim, filters, w, padding=(w - 1) // 2) for w in widths
        )
        self.widths = tuple(widths)
        self.output_dim = filters * len(widths)

    @property
    def reach(self) -> int:
        """How many neighbours on each side an output position sees."""
        return max((w - 1) // 2 for w in self.widths)

    def drop_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x)

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1)
        z = x.transpose(1, 2)
        out = torch.cat([torch.relu(conv(z)) for conv in self.convs], dim=1).transpose(1, 2)
        return out * m

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encode(self.drop_inputs(x * mask.unsqueeze(-1)), mask)


class IdentityEncoder(Encoder):
    """No encoder: attention sees the (masked) inputs themselves."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.output_dim = input_dim

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x * mask.unsqueeze(-1)


ENCODERS: Registry[type[Encoder]] = Registry("encoder")
ENCODERS.add("rnn", BiGRUEncoder)
ENCODERS.add("conv", ConvEncoder)
ENCODERS.add("noenc", IdentityEncoder)


def make_encoder(name: str, input_dim: int, hidden: int = 50, widths: tuple[int, ...] = (3, 5),
                 filters: int = 50, conv_dropout: float = 0.3) -> Encoder:
    """Build a registered encoder; ``.output_dim`` tells its output size."""
    cls = ENCODERS.get(name)
    if cls is BiGRUEncoder:
        return BiGRUEncoder(input_dim, hidden)
    if cls is ConvEncoder:
        return ConvEncoder(input_dim, widths, filters, conv_dropout)
    return IdentityEncoder(input_dim)
