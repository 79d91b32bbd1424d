"""Where attnlib keeps downloads, caches and runs.

* ``ATTNLIB_DATA_MIRROR``: a local mirror of normalised datasets, ``<id>/{train,test}.jsonl.gz``.
* ``ATTNLIB_DATA_HOME``: downloads (``raw/``) and preprocessing caches (``cache/``);
  defaults to the repository's ``data/`` folder, or ``~/.cache/attnlib`` for an
  installed copy.
* ``ATTNLIB_RUNS``: the run cache used by the book's pipeline (default ``<data home>/runs``).
"""

from __future__ import annotations

import os
from pathlib import Path

MIRROR_ENV = "ATTNLIB_DATA_MIRROR"
DATA_HOME_ENV = "ATTNLIB_DATA_HOME"
RUNS_ENV = "ATTNLIB_RUNS"


def repo_root() -> Path | None:
    """The source checkout containing this package, if attnlib runs from one."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() and (root / "book").is_dir() else None


def data_home() -> Path:
    env = os.environ.get(DATA_HOME_ENV)
    if env:
        return Path(env).expanduser()
    root = repo_root()
    return root / "data" if root else Path.home() / ".cache" / "attnlib"


def mirror_dir() -> Path | None:
    env = os.environ.get(MIRROR_ENV)
    return Path(env).expanduser() if env else None


def download_dir() -> Path:
    return data_home() / "raw"


def cache_dir() -> Path:
    return data_home() / "cache"


def runs_dir() -> Path:
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser() if env else data_home() / "runs"


def published_root(profile: str) -> Path | None:
    """``results/<profile>`` of the source checkout, where full-scale runs are committed."""
    root = repo_root()
    return root / "results" / profile if root else None
