"""attnlib: is attention interpretable? Erasure tests on attention networks.

A thin public surface; see the submodules for details and the book for the story. The
package is grouped by pipeline stage, and imports only flow downward
(``tests/test_layout.py``):

* core: ``errors``, ``paths``, ``atomic``, ``integrity``, ``provenance``, ``registry``;
* ``data`` (registry, download, preprocessing, batching), with ``config`` and ``plan``;
* ``models`` (HAN, FLAN, encoders, attention, input attributions);
* ``training`` (the training loop, trained runs, the run cache, baselines);
* ``layer``: the tests at the tested attention layer (erasure, rankings, the paper's
  suite, its result table, and the follow-up tests that reweight the same layer);
* ``inputs``: the input-level tests (ERASER, Jain & Wallace's way);
* ``analysis``: statistics, summaries, claims and verdicts, the chapters' sentences;
* ``presentation``: charts, explorers, heatmaps (drawing only);
* orchestration: ``study`` (a book's runs), ``publish``, ``cli``.
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .config import DataConfig, ModelConfig, RunConfig, TrainConfig, make_run_config
    from .data import get_dataset, list_datasets

# imported on first use, so that `import attnlib` (and `python -m attnlib`, which answers
# Ctrl-C with one line only once its own code runs) starts at once
_LAZY = {"DataConfig": "config", "ModelConfig": "config", "RunConfig": "config",
         "TrainConfig": "config", "make_run_config": "config", "get_dataset": "data",
         "list_datasets": "data"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'attnlib' has no attribute {name!r}")

__all__ = [
    "DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "__version__", "get_dataset",
    "list_datasets", "make_run_config",
]
