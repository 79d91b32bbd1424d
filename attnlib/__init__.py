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

from ._version import __version__
from .config import DataConfig, ModelConfig, RunConfig, TrainConfig, make_run_config
from .data import get_dataset, list_datasets

__all__ = [
    "DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "__version__", "get_dataset",
    "list_datasets", "make_run_config",
]
