"""attnlib: is attention interpretable? Erasure tests on attention networks.

A thin public surface; see the submodules for details and the book for the story.
"""

from ._version import __version__
from .config import DataConfig, ModelConfig, RunConfig, TrainConfig, make_run_config
from .data import get_dataset, list_datasets

__all__ = [
    "DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "__version__", "get_dataset",
    "list_datasets", "make_run_config",
]
