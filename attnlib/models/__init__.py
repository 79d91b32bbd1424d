"""HAN and FLAN attention networks over rnn / conv / noenc encoders (paper-spec §2).

Explained in the book chapter "Models" (book/models.ipynb).
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import ModelConfig
from ..registry import Registry
from .attention import AdditiveAttention, masked_softmax
from .base import AttentionClassifier, ModelOutput
from .encoders import ENCODERS, make_encoder
from .flan import FLAN
from .han import HAN

ARCHITECTURES: Registry[type[AttentionClassifier]] = Registry("architecture")
ARCHITECTURES.add("han", HAN)
ARCHITECTURES.add("flan", FLAN)


def build_model(config: ModelConfig, embeddings: np.ndarray, n_classes: int,
                seed: int | None = None) -> AttentionClassifier:
    """A freshly initialised model (seeded when ``seed`` is given)."""
    cls = ARCHITECTURES.get(config.arch)
    if seed is not None:
        torch.manual_seed(seed)
    return cls(config, embeddings, n_classes)


def list_architectures() -> list[str]:
    return ARCHITECTURES.names()


def list_encoders() -> list[str]:
    return ENCODERS.names()


__all__ = [
    "ARCHITECTURES", "ENCODERS", "FLAN", "HAN", "AdditiveAttention", "AttentionClassifier",
    "ModelOutput", "build_model", "list_architectures", "list_encoders", "make_encoder",
    "masked_softmax",
]
