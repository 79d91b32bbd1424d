"""The cached pipeline behind the book: a run directory is addressed by the hash of its
full config, so re-executing a notebook reuses trained models and erasure results, and a
changed config never reuses a stale one.

Explained in the book's introduction (book/intro.md, "How to re-run this book").
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from .. import paths
from ..config import RunConfig
from ..data import get_dataset
from ..errors import DataError
from .runs import TrainedRun, load_run
from .train import METRICS_FILE, train_run

NO_TRAINING_ENV = "ATTNLIB_NO_TRAINING"


def run_dir_for(config: RunConfig, root: Path | None = None) -> Path:
    """``<runs>/<dataset>/<Model>/<profile>-seed<N>-<hash>``; for a dataset of your own
    (``attnlib data add``) also ``-data<digest of its files>``, since it can be added again
    with other documents under the same name and a run must not be reused for them."""
    root = root or paths.runs_dir()
    name = f"{config.profile}-seed{config.train.seed}-{config.hash}"
    spec = get_dataset(config.data.dataset)
    if spec.status == "user":
        files = json.dumps(dict(spec.mirror_sha256), sort_keys=True).encode()
        name += "-data" + hashlib.sha256(files).hexdigest()[:8]
    return root / config.data.dataset / config.model.name / name


def is_trained(config: RunConfig, root: Path | None = None) -> bool:
    return (run_dir_for(config, root) / METRICS_FILE).exists()


def ensure_trained(config: RunConfig, device: str | torch.device = "auto",
                   progress: bool = True, root: Path | None = None) -> TrainedRun:
    """Load the run for ``config`` from the run cache, training (or resuming) it first if
    it is not finished."""
    directory = run_dir_for(config, root)
    if not (directory / METRICS_FILE).exists():
        if os.environ.get(NO_TRAINING_ENV) == "1":
            raise DataError(f"{config.label} is neither published nor in the run cache, and "
                            f"{NO_TRAINING_ENV}=1 forbids training it")
        train_run(config, directory, device=device, progress=progress)
    return load_run(directory, device=device)
