"""Shared fixtures: the data mirror, small real-data runs trained once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MIRROR = ROOT.parent / "shared" / "data"

if not os.environ.get("ATTNLIB_DATA_MIRROR") and SHARED_MIRROR.exists():
    os.environ["ATTNLIB_DATA_MIRROR"] = str(SHARED_MIRROR)


def _has_mirror(dataset: str) -> bool:
    mirror = os.environ.get("ATTNLIB_DATA_MIRROR")
    return bool(mirror) and (Path(mirror) / dataset / "train.jsonl.gz").exists()


requires_imdb = pytest.mark.skipif(not _has_mirror("imdb"),
                                   reason="needs the IMDB mirror (ATTNLIB_DATA_MIRROR)")


@pytest.fixture(scope="session")
def small_imdb_run(tmp_path_factory):
    """A FLAN-rnn trained for one epoch on 600 real IMDB reviews (200 test reviews)."""
    if not _has_mirror("imdb"):
        pytest.skip("needs the IMDB mirror")
    from attnlib.config import make_run_config
    from attnlib.runs import load_run
    from attnlib.train import train_run

    config = make_run_config("smoke", "imdb", "flan", "rnn", seed=1, max_train_docs=600,
                             max_test_docs=200, epochs=1)
    out = tmp_path_factory.mktemp("runs") / "flan-rnn"
    train_run(config, out, device="cpu", progress=False)
    return load_run(out, device="cpu")


@pytest.fixture(scope="session")
def small_imdb_han_run(tmp_path_factory):
    """A HAN-conv trained for one epoch on 600 real IMDB reviews (200 test reviews)."""
    if not _has_mirror("imdb"):
        pytest.skip("needs the IMDB mirror")
    from attnlib.config import make_run_config
    from attnlib.runs import load_run
    from attnlib.train import train_run

    config = make_run_config("smoke", "imdb", "han", "conv", seed=1, max_train_docs=600,
                             max_test_docs=200, epochs=1)
    out = tmp_path_factory.mktemp("runs") / "han-conv"
    train_run(config, out, device="cpu", progress=False)
    return load_run(out, device="cpu")
