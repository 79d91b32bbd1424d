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

from ..config import RunConfig
from ..data.corpus import PreparedData, prepare_data, source_identity
from ..errors import AttnlibError, DataError
from ..integrity import damaged, load_torch_file, read_run_json, sha256_of, verify_checksums
from ..models import AttentionClassifier, build_model
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
        check_same_data(self.directory, self.metrics, self.config.data.dataset)
        data = prepare_data(self.config.data, progress=False)
        saved = read_run_json(self.directory / VOCAB_FILE)
        if list(data.vocab.itos) != saved:
            raise DataError(f"the cached vocabulary of {self.config.data.dataset} differs from "
                            f"{self.directory / VOCAB_FILE}, the one this run was trained "
                            "with: delete the preprocessing cache (data/cache/"
                            f"{self.config.data.dataset}) so that it is rebuilt, or retrain")
        return data

    @property
    def model_sha256(self) -> str:
        """SHA-256 of the run's ``model.pt`` (verified against ``metrics.json`` on load)."""
        return self.metrics.get("checksums", {}).get(MODEL_FILE) or sha256_of(
            self.directory / MODEL_FILE)

    @property
    def name(self) -> str:
        return self.config.model.name


def check_same_data(directory: Path, metrics: dict[str, Any], dataset: str) -> None:
    """Refuse to use a run on other documents than it was trained on: the SHA-256 of the
    dataset's files, recorded in ``metrics.json``, against the files there now (runs
    trained before the record, and files known only by size and time, are not checked)."""
    recorded = metrics.get("data_sha256")
    if not isinstance(recorded, dict):
        return
    now = source_identity(dataset)
    for split in ("train", "test"):
        old, new = recorded.get(split), now.get(split)
        if isinstance(old, str) and isinstance(new, str) and _is_sha256(old) \
                and _is_sha256(new) and old != new:
            raise DataError(
                f"the {split} documents of {dataset!r} changed since {directory} was trained "
                f"(trained on {old[:12]}, the files now are {new[:12]}); test the run on the "
                f"documents it was trained on (add them again, under another name for the new "
                f"ones), or train the run again on the new documents")


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(
        c in "0123456789abcdef" for c in value)


def load_run(directory: str | Path, device: str | torch.device = "auto") -> TrainedRun:
    """Load a finished run directory (written by :func:`attnlib.training.train.train_run`)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory} is not a run folder; train one first with "
                        "`attnlib train ... --out DIR`")
    if not (directory / METRICS_FILE).exists():
        raise DataError(f"{directory} is not a finished run (no {METRICS_FILE}); train it "
                        "first with `attnlib train ... --out DIR`, or run that command again "
                        "to resume it")
    metrics = read_run_json(directory / METRICS_FILE, ("test_accuracy", "config_hash"))
    recorded = metrics.get("checksums", {})
    if not isinstance(recorded, dict):
        raise damaged(directory / METRICS_FILE, "has checksums that are not an object")
    verify_checksums(directory, recorded)
    raw = read_run_json(directory / CONFIG_FILE, ("hash", "data", "model", "train"))
    saved_hash = raw.pop("hash")
    try:
        config = RunConfig.from_dict(raw)
    except (AttnlibError, KeyError, TypeError, ValueError) as error:
        raise damaged(directory / CONFIG_FILE, f"does not describe a run ({error})") from error
    if config.hash != saved_hash or metrics["config_hash"] != saved_hash:
        raise damaged(directory / CONFIG_FILE, "does not match the hash recorded with the run")
    dev = resolve_device(device)
    vocab = read_run_json(directory / VOCAB_FILE)
    if not isinstance(vocab, list) or not vocab:
        raise damaged(directory / VOCAB_FILE, "does not hold a vocabulary")
    state = load_torch_file(directory / MODEL_FILE, dev)
    try:
        n_classes = state["output_layer.weight"].shape[0]
        model = build_model(config.model, np.zeros((len(vocab), config.model.embedding_dim),
                                                    dtype=np.float32), n_classes)
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError, AttributeError) as error:
        raise damaged(directory / MODEL_FILE, "does not hold this run's model (its weights do "
                      f"not fit the config and vocabulary: {str(error).splitlines()[0]})"
                      ) from error
    model.to(dev).eval()
    return TrainedRun(directory, config, metrics, model)
