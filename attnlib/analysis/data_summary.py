"""What the data chapter shows about a prepared dataset (sizes, average lengths, length
histograms, class balance, the preprocessing cache key), as one JSON-able summary that is
published with the results, so that the published book renders without preprocessing the
full datasets.

Explained in the book chapter "Data" (book/data.ipynb).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..atomic import read_json, write_json
from ..config import DataConfig, config_hash
from ..data.corpus import PreparedData, describe_data, length_histogram, length_table, prepare_data
from ..errors import DataError
from ..paths import published_root

if TYPE_CHECKING:  # a type only
    from ..study import Study

SUMMARY_FILE = "data_summary.json"
SUMMARY_VERSION = "1"


def summarize_data(data: PreparedData) -> dict[str, Any]:
    """The data chapter's numbers for one prepared dataset.

    Keys: ``dataset``, ``data_hash`` (of its :class:`~attnlib.config.DataConfig`),
    ``cache_key``, ``describe`` (:func:`attnlib.data.corpus.describe_data`), ``histograms``
    (``sentences`` and ``tokens``: :func:`attnlib.data.corpus.length_histogram` records) and
    ``balance`` (share of each class per split).
    """
    lengths = length_table(data)
    balance = (lengths.groupby("split", sort=False)["label"].value_counts(normalize=True)
               .rename("share").reset_index())
    return {
        "version": SUMMARY_VERSION, "dataset": data.config.dataset,
        "data_hash": config_hash(data.config), "cache_key": data.cache_key,
        "describe": describe_data(data),
        "histograms": {item: length_histogram(lengths, item).to_dict("records")
                       for item in ("sentences", "tokens")},
        "balance": balance.to_dict("records"),
    }


def write_published_summaries(dest: Path, summaries: list[dict[str, Any]]) -> Path:
    path = dest / SUMMARY_FILE
    write_json(path, {"datasets": sorted(summaries, key=lambda s: s["dataset"])})
    return path


def read_published_summaries(root: Path | None) -> dict[str, dict[str, Any]]:
    """Published summaries of a results folder, by data-config hash (empty if none)."""
    if root is None or not (root / SUMMARY_FILE).exists():
        return {}
    try:
        entries = read_json(root / SUMMARY_FILE)["datasets"]
        return {e["data_hash"]: e for e in entries if e.get("version") == SUMMARY_VERSION}
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{root / SUMMARY_FILE} is damaged ({error}); restore it with `git "
                        "checkout` or rewrite it with `python -m attnlib publish`") from error


def _data_config(study: Study, dataset: str) -> DataConfig:
    configs = [c.data for c in study.run_configs() if c.data.dataset == dataset]
    if not configs:
        raise DataError(f"{dataset} is not a dataset of this study")
    return configs[0]


def study_data_summaries(study: Study) -> list[dict[str, Any]]:
    """One summary per dataset of ``study``: the published one when it describes the same
    data config (``results/<profile>/data_summary.json``), else computed from the
    prepared data (preprocessing it if needed). ``source`` says which."""
    published = read_published_summaries(published_root(study.profile))
    out = []
    for dataset in study.datasets:
        config = _data_config(study, dataset)
        summary = published.get(config_hash(config))
        if summary is not None:
            out.append({**summary, "source": "published"})
        else:
            out.append({**summarize_data(prepare_data(config, progress=False)),
                        "source": "prepared here"})
    return out


def overview_table(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([s["describe"] for s in summaries])


def histogram_table(summaries: list[dict[str, Any]], item: str) -> pd.DataFrame:
    return pd.DataFrame([row for s in summaries for row in s["histograms"][item]])


def balance_table(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """% of each split per class, one row per dataset and class."""
    rows = [{"dataset": s["dataset"], **r} for s in summaries for r in s["balance"]]
    table = pd.DataFrame(rows).pivot_table(index=["dataset", "label"], columns="split",
                                           values="share", sort=False)
    return table.mul(100).round(1).rename_axis(columns="% of split")
