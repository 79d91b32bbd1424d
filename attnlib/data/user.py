"""Your own data: ``python -m attnlib data add NAME --train FILE --test FILE`` validates a
CSV or JSON Lines file pair, normalises it into the data home and registers NAME, so that
it works everywhere a dataset id does (``data list``, ``train``, the chapters' papermill
``datasets`` parameter).

Explained in the book chapter "Data" (book/data.ipynb).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import sys
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
    try:  # utf-8-sig: the byte-order mark spreadsheet programs write is not part of a name
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise DataError(f"{path} cannot be read as UTF-8 text ({error})") from error
    if kind == "csv":
        # a document may be longer than the csv module's default limit of 131,072 characters
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        try:
            return list(csv.DictReader(io.StringIO(text)))
        except csv.Error as error:
            raise DataError(f"{path} is not a valid CSV file ({error})") from error
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
        if isinstance(label, bool) or not isinstance(label, (int, float, str)):
            raise DataError(f"{path} row {i}: the label {label!r} is neither a string nor an "
                            "integer")
        normal = normal_label(label)
        if normal is None:
            raise DataError(f"{path} row {i}: the label {label!r} is a number that is not a "
                            "whole number; use whole numbers or names as labels")
        docs.append((str(row.get("id", f"{path.stem}/{i}")), text, normal))
    return docs


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def normal_label(label: int | float | str) -> str | None:
    """One spelling per class: whole numbers written as ``1``, ``1.0``, `` 1 `` or ``1e0``
    are the class ``"1"``; other text is stripped. ``None``: a number that is not whole."""
    if isinstance(label, int):
        return str(label)
    text = str(label).strip()
    if isinstance(label, float) or _NUMBER.match(text):
        value = float(text)
        if not value.is_integer():
            return None if isinstance(label, float) else text
        return str(int(value))
    return text


def _class_order(label: str) -> tuple[int, int, str]:
    """Whole numbers in numeric order, then names in alphabetical order."""
    try:
        return (0, int(label), "")
    except ValueError:
        return (1, 0, label)


def _class_names(train_labels: list[Any], test_labels: list[Any], test_path: Path
                 ) -> list[Any]:
    classes = sorted(set(train_labels), key=_class_order)
    unseen = sorted({str(v) for v in test_labels} - {str(v) for v in classes})
    if unseen:
        raise DataError(f"{test_path} has labels never seen in training: {unseen}; a model "
                        "cannot predict them. Remove those rows or add training examples")
    if len(classes) < 2:
        raise DataError(f"the training file has only the label {classes}; a classifier "
                        "needs at least two classes")
    return classes


def _split_bytes(docs: list[tuple[str, str, Any]], index: dict[str, int]) -> bytes:
    buffer = io.BytesIO()
    # no name or time in the gzip header: the same documents give the same bytes,
    # hence the same digest (a run of your data is addressed by it)
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as raw:
        for doc_id, text, label in docs:
            record = {"id": doc_id, "text": text, "label": index[str(label)]}
            raw.write((json.dumps(record, ensure_ascii=False) + "\n").encode())
    return buffer.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def add_dataset(name: str, train: str | Path, test: str | Path, text_column: str = "text",
                label_column: str = "label", preset: str = "imdb", title: str | None = None,
                replace: bool = False) -> DatasetSpec:
    """Validate, normalise and register a dataset of your own (see the module doc).

    Labels may be strings or whole numbers (``1`` and ``1.0`` are one class); the
    classes are the training labels in sorted order. The normalised files and their
    SHA-256 go to ``<data home>/datasets/NAME/``. ``preset`` picks the paper's
    hyperparameter set the ``paper`` profile uses.

    A name holds one set of documents: adding other files under a name already added is
    refused unless ``replace`` (runs trained on the old files then refuse to be tested
    on the new ones); adding the same documents again changes nothing.
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
    data = {split: _split_bytes(docs, index)
            for split, docs in (("train", train_docs), ("test", test_docs))}
    digests = {split: hashlib.sha256(b).hexdigest() for split, b in data.items()}
    _check_same_documents(name, folder, digests, replace)
    for split, raw in data.items():
        _write_bytes(folder / f"{split}.jsonl.gz", raw)
    record = {
        "id": name, "title": title or f"{name} (added with `attnlib data add`)",
        "classes": [str(c) for c in classes], "preset": preset,
        "sizes": [len(train_docs), len(test_docs)],
        "sha256": digests,
        "sources": {s: {"path": str(p.resolve()), "sha256": file_digest(p, "sha256")}
                    for s, p in (("train", train_path), ("test", test_path))},
        "columns": {"text": text_column, "label": label_column},
    }
    write_json(folder / SPEC_FILE, record)
    return user_spec(name)


def _check_same_documents(name: str, folder: Path, digests: dict[str, str],
                          replace: bool) -> None:
    """Refuse to put other documents under a name already added (unless ``replace``)."""
    if replace or not (folder / SPEC_FILE).exists():
        return
    try:
        old = dict(read_json(folder / SPEC_FILE)["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # a damaged record: adding the dataset again is its fix
    if old != digests:
        changed = ", ".join(f"{s} {old.get(s, '?')[:12]} -> {digests[s][:12]}"
                            for s in ("train", "test") if old.get(s) != digests[s])
        raise DataError(f"a dataset named {name!r} was already added with other documents "
                        f"({changed}); runs trained on it belong to its files: add these "
                        "under another name, or replace it with `attnlib data add "
                        f"{name} ... --replace`")


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
