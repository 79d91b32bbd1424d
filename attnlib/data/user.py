"""Your own data: ``python -m attnlib data add NAME --train FILE --test FILE`` validates a
CSV or JSON Lines file pair, normalises it into the data home and registers NAME, so that
it works everywhere a dataset id does (``data list``, ``train``, the chapters' papermill
``datasets`` parameter).

Explained in the book chapter "Data" (book/data.ipynb).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path
from typing import Any

from .. import paths
from ..atomic import atomic_path, read_json, write_json
from ..errors import DataError
from .registry import DATASETS, DatasetSpec
from .sources import file_digest

SPEC_FILE = "dataset.json"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
PRESETS = ("imdb", "yelp", "amazon", "yahoo")


def user_datasets_dir() -> Path:
    """Where added datasets live: ``<data home>/datasets/<name>/``."""
    return paths.data_home() / "datasets"


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV file (header line) or a JSON Lines file (``.jsonl``, ``.json``,
    optionally ``.gz``)."""
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file")
    name = path.name.lower()
    gzipped = name.endswith(".gz")
    base = name[:-3] if gzipped else name
    kind = ("csv" if base.endswith(".csv") else
            "jsonl" if base.endswith((".jsonl", ".json", ".ndjson")) else None)
    if kind is None:
        raise DataError(f"{path}: unknown format {''.join(path.suffixes) or '(no suffix)'}; "
                        "use .csv or .jsonl (either may be gzipped)")
    opener: Any = gzip.open if gzipped else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise DataError(f"{path} cannot be read as UTF-8 text ({error})") from error
    if kind == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    rows = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path} line {line_no} is not JSON ({error})") from error
        if not isinstance(row, dict):
            raise DataError(f"{path} line {line_no} is not a JSON object")
        rows.append(row)
    return rows


def _documents(path: Path, text_column: str, label_column: str
               ) -> list[tuple[str, str, Any]]:
    """(id, text, raw label) per row, with clear errors for what is missing."""
    rows = _read_rows(path)
    if not rows:
        raise DataError(f"{path} holds no rows")
    for column in (text_column, label_column):
        if column not in rows[0]:
            raise DataError(f"{path} has no column {column!r} (it has {sorted(rows[0])}); name "
                            f"the right one with --{'text' if column == text_column else 'label'}"
                            "-column")
    docs = []
    for i, row in enumerate(rows, start=1):
        text, label = row.get(text_column), row.get(label_column)
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path} row {i}: the {text_column!r} text is empty; every "
                            "document needs some text")
        if label is None or (isinstance(label, str) and not label.strip()):
            raise DataError(f"{path} row {i}: the {label_column!r} label is missing")
        if isinstance(label, (float, bool)) or not isinstance(label, (int, str)):
            raise DataError(f"{path} row {i}: the label {label!r} is neither a string nor an "
                            "integer")
        docs.append((str(row.get("id", f"{path.stem}/{i}")), text, label))
    return docs


def _class_names(train_labels: list[Any], test_labels: list[Any], test_path: Path
                 ) -> list[Any]:
    classes = sorted(set(train_labels), key=lambda v: (isinstance(v, str), v))
    unseen = sorted({str(v) for v in test_labels} - {str(v) for v in classes})
    if unseen:
        raise DataError(f"{test_path} has labels never seen in training: {unseen}; a model "
                        "cannot predict them. Remove those rows or add training examples")
    if len(classes) < 2:
        raise DataError(f"the training file has only the label {classes}; a classifier "
                        "needs at least two classes")
    return classes


def _write_split(path: Path, docs: list[tuple[str, str, Any]], index: dict[str, int]) -> None:
    with atomic_path(path) as tmp:
        # no name or time in the gzip header: the same documents give the same bytes,
        # hence the same digest (a run of your data is addressed by it)
        with open(tmp, "wb") as handle, gzip.GzipFile(filename="", mode="wb", fileobj=handle,
                                                      mtime=0) as raw:
            for doc_id, text, label in docs:
                record = {"id": doc_id, "text": text, "label": index[str(label)]}
                raw.write((json.dumps(record, ensure_ascii=False) + "\n").encode())


def add_dataset(name: str, train: str | Path, test: str | Path, text_column: str = "text",
                label_column: str = "label", preset: str = "imdb", title: str | None = None
                ) -> DatasetSpec:
    """Validate, normalise and register a dataset of your own (see the module doc).

    Labels may be strings or integers; the classes are the training labels in sorted
    order. The normalised files and their SHA-256 go to ``<data home>/datasets/NAME/``.
    ``preset`` picks the paper's hyperparameter set the ``paper`` profile uses.
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise DataError(f"dataset name {name!r} must be lowercase letters, digits, '-' or '_' "
                        "(at most 64 characters, starting with a letter or digit)")
    if name in DATASETS:
        raise DataError(f"{name!r} is a built-in dataset; choose another name")
    if preset not in PRESETS:
        raise DataError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    train_path, test_path = Path(train), Path(test)
    train_docs = _documents(train_path, text_column, label_column)
    test_docs = _documents(test_path, text_column, label_column)
    classes = _class_names([d[2] for d in train_docs], [d[2] for d in test_docs], test_path)
    index = {str(c): i for i, c in enumerate(classes)}
    folder = user_datasets_dir() / name
    for split, docs in (("train", train_docs), ("test", test_docs)):
        _write_split(folder / f"{split}.jsonl.gz", docs, index)
    record = {
        "id": name, "title": title or f"{name} (added with `attnlib data add`)",
        "classes": [str(c) for c in classes], "preset": preset,
        "sizes": [len(train_docs), len(test_docs)],
        "sha256": {s: file_digest(folder / f"{s}.jsonl.gz", "sha256") for s in ("train", "test")},
        "sources": {s: {"path": str(p.resolve()), "sha256": file_digest(p, "sha256")}
                    for s, p in (("train", train_path), ("test", test_path))},
        "columns": {"text": text_column, "label": label_column},
    }
    write_json(folder / SPEC_FILE, record)
    return user_spec(name)


def user_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of an added dataset (raises ``KeyError`` if none)."""
    path = user_datasets_dir() / name / SPEC_FILE
    if not NAME_PATTERN.match(name) or not path.exists():
        raise KeyError(name)
    try:
        record = read_json(path)
        return DatasetSpec(
            id=record["id"], title=record["title"], classes=tuple(record["classes"]),
            status="user", note="Your own data, added with `attnlib data add` from "
            f"{record['sources']['train']['path']}; not the paper's data.",
            paper_preset=record["preset"], files_dir=str(path.parent),
            mirror_sha256=dict(record["sha256"]), sizes=tuple(record["sizes"]))
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path} is damaged ({error}); add the dataset again with "
                        "`python -m attnlib data add`") from error


def list_user_datasets() -> list[str]:
    folder = user_datasets_dir()
    if not folder.is_dir():
        return []
    return sorted(p.parent.name for p in folder.glob(f"*/{SPEC_FILE}"))
