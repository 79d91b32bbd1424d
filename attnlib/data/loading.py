"""Finding a dataset split on disk (mirror, earlier download, or a fresh download) and
reading its documents. Explained in the book chapter "Data" (book/data.ipynb).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from .. import paths
from ..errors import DataError, check_type
from .catalog import get_dataset
from .cleaning import CLEANERS
from .registry import DatasetSpec
from .shortcut import apply_shortcut, permute_labels
from .sources import SPLITS, fetch_and_normalize, iter_jsonl_gz, verify_checksum

Origin = Literal["mirror", "damaged-mirror", "added", "download-cache", "download",
                 "unavailable"]


@dataclass(frozen=True)
class Document:
    """One labelled document as stored: ``id``, raw ``text``, 0-based ``label``."""

    id: str
    text: str
    label: int


def where_from(spec: DatasetSpec) -> Origin:
    """Where :func:`load_documents` would read ``spec`` from, without reading it."""
    if spec.files_of:
        return where_from(get_dataset(spec.files_of))
    if spec.files_dir:
        files = [Path(spec.files_dir) / f"{s}.jsonl.gz" for s in SPLITS]
        ok = all(f.exists() and _mirror_file_ok(f, spec.mirror_sha256.get(s))
                 for f, s in zip(files, SPLITS))
        return "added" if ok else "damaged-mirror"
    mirror = paths.mirror_dir()
    if mirror and all((mirror / spec.id / f"{s}.jsonl.gz").exists() for s in SPLITS):
        files = [mirror / spec.id / f"{s}.jsonl.gz" for s in SPLITS]
        if all(_mirror_file_ok(f, spec.mirror_sha256.get(s)) for f, s in zip(files, SPLITS)):
            return "mirror"
        return "damaged-mirror"
    if all((paths.download_dir() / spec.id / f"{s}.jsonl.gz").exists() for s in SPLITS):
        return "download-cache"
    return "download" if spec.source else "unavailable"


@lru_cache(maxsize=64)
def _checksum_ok(path: Path, size: int, mtime_ns: int, sha256: str) -> bool:
    try:
        verify_checksum(path, "sha256:" + sha256, "mirror file")
        return True
    except DataError:
        return False


def _mirror_file_ok(path: Path, sha256: str | None) -> bool:
    """Whether a mirror file matches its published SHA-256 (cached per size and mtime)."""
    if not sha256:
        return True
    info = path.stat()
    return _checksum_ok(path, info.st_size, info.st_mtime_ns, sha256)


def locate_split(dataset_id: str, split: str) -> Path:
    """The normalised ``<split>.jsonl.gz`` of a dataset, downloading it if needed.

    Order: the mirror (``$ATTNLIB_DATA_MIRROR``, checksum-verified), an earlier
    download, then the canonical archive. Raises :class:`DataError` naming the mirror
    variable and the source when none is possible.
    """
    spec = get_dataset(dataset_id)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; use one of {SPLITS}")
    if spec.files_of:
        return locate_split(spec.files_of, split)
    if spec.files_dir:
        path = Path(spec.files_dir) / f"{split}.jsonl.gz"
        if not path.exists():
            raise DataError(f"{path} of the added dataset {spec.id!r} is missing; add it again "
                            "with `python -m attnlib data add`")
        verify_checksum(path, "sha256:" + spec.mirror_sha256[split], "added dataset file")
        return path
    mirror = paths.mirror_dir()
    if mirror is not None:
        candidate = mirror / spec.id / f"{split}.jsonl.gz"
        if candidate.exists():
            if split in spec.mirror_sha256:
                verify_checksum(candidate, "sha256:" + spec.mirror_sha256[split], "mirror file")
            return candidate
    local = paths.download_dir() / spec.id / f"{split}.jsonl.gz"
    if local.exists():
        return local
    if spec.source is None:
        raise DataError(
            f"dataset {spec.id!r} is not in the local mirror and has no public archive to "
            f"download. Set {paths.MIRROR_ENV} to a folder holding "
            f"{spec.id}/{{train,test}}.jsonl.gz (currently "
            f"{str(mirror) if mirror else 'unset'}); the mirror copy was built from "
            f"{spec.provenance_url}."
        )
    try:
        return fetch_and_normalize(spec, paths.download_dir() / spec.id)[split]
    except DataError as exc:
        raise DataError(
            f"dataset {spec.id!r}: no local copy and the download failed ({exc}). Either "
            f"connect to the internet so that {spec.source.url} can be fetched, or set "
            f"{paths.MIRROR_ENV} to a folder holding {spec.id}/{{train,test}}.jsonl.gz "
            f"(currently {str(mirror) if mirror else 'unset'})."
        ) from exc


def load_documents(dataset_id: str, split: str, limit: int | None = None) -> list[Document]:
    """Read a split's documents, validating every line.

    Args:
        dataset_id: a registered id (see :func:`attnlib.data.list_datasets`).
        split: ``"train"`` or ``"test"``.
        limit: read at most this many lines (for quick looks; selection for experiments
            uses :func:`attnlib.data.corpus.select_subset` instead).
    """
    if limit is not None:
        check_type("limit", limit, int)
    spec = get_dataset(dataset_id)
    path = locate_split(dataset_id, split)
    docs: list[Document] = []
    try:
        for line_no, row in iter_jsonl_gz(path):
            text, label = row.get("text"), row.get(spec.label_field)
            if not isinstance(text, str) or not isinstance(label, int) or isinstance(label, bool):
                raise DataError(f"{path} line {line_no}: needs a string 'text' and an int "
                                f"'{spec.label_field}'")
            if spec.label_values:
                if label not in spec.label_values:
                    raise DataError(f"{path} line {line_no}: {spec.label_field} {label} is not "
                                    f"one of {list(spec.label_values)}")
                label = spec.label_values.index(label)
            if not 0 <= label < spec.n_classes:
                raise DataError(
                    f"{path} line {line_no}: label {label} outside 0..{spec.n_classes - 1}"
                )
            docs.append(Document(str(row.get("id", f"{split}{line_no}")), text, label))
            if limit is not None and len(docs) >= limit:
                break
    except (OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is unreadable ({exc}); restore or re-download it") from exc
    if not docs:
        raise DataError(f"{path} contains no documents")
    if spec.shortcut is not None:
        docs = apply_shortcut(spec.shortcut, docs, split, CLEANERS[spec.cleaner])
    if spec.permuted_labels and split == "train":
        docs = permute_labels(docs)
    return docs
