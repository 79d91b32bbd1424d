"""Loading a finished run back with one call.

Explained in the book chapter "Models" (book/models.ipynb).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import read_json
from .config import RunConfig
from .corpus import PreparedData, prepare_data
from .errors import DataError
from .models import AttentionClassifier, build_model
from .train import CONFIG_FILE, METRICS_FILE, MODEL_FILE, VOCAB_FILE, resolve_device


@dataclass
class TrainedRun:
    """A trained model with its config, metrics and (lazily) its data."""

    directory: Path
    config: RunConfig
    metrics: dict[str, Any]
    model: AttentionClassifier

    @cached_property
    def data(self) -> PreparedData:
        data = prepare_data(self.config.data, progress=False)
        saved = read_json(self.directory / VOCAB_FILE)
        if list(data.vocab.itos) != saved:
            raise DataError(f"the cached vocabulary of {self.config.data.dataset} differs from "
                            f"the one {self.directory} was trained with; delete data/cache")
        return data

    @property
    def name(self) -> str:
        return self.config.model.name


def load_run(directory: str | Path, device: str | torch.device = "auto") -> TrainedRun:
    """Load a finished run directory (written by :func:`attnlib.train.train_run`)."""
    directory = Path(directory)
    if not (directory / METRICS_FILE).exists():
        raise DataError(f"{directory} is not a finished run (no {METRICS_FILE}); train it "
                        "first with `attnlib train ... --out DIR`")
    raw = read_json(directory / CONFIG_FILE)
    raw.pop("hash", None)
    config = RunConfig.from_dict(raw)
    metrics = read_json(directory / METRICS_FILE)
    dev = resolve_device(device)
    vocab_size = len(read_json(directory / VOCAB_FILE))
    state = torch.load(directory / MODEL_FILE, map_location=dev, weights_only=True)
    n_classes = state["output_layer.weight"].shape[0]
    model = build_model(config.model, np.zeros((vocab_size, config.model.embedding_dim),
                                                dtype=np.float32), n_classes)
    model.load_state_dict(state)
    model.to(dev).eval()
    return TrainedRun(directory, config, metrics, model)
