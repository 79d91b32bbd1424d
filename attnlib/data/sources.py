"""Downloading the canonical public archives and normalising them to JSON Lines.

Normalised form (the same as the local mirror): ``<id>/{train,test}.jsonl.gz``, one
document per line with fields ``id``, ``text`` and ``label`` (0-based).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import tarfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm

from ..atomic import atomic_path
from ..errors import ChecksumMismatchError, DataError
from .registry import NEWSGROUPS, ArchiveSource, DatasetSpec

SPLITS = ("train", "test")
Record = dict[str, object]


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(path: Path, checksum: str, what: str) -> None:
    """Raise :class:`ChecksumMismatchError` unless ``path`` has ``checksum`` (``algo:hex``)."""
    algorithm, _, expected = checksum.partition(":")
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise ChecksumMismatchError(
            f"{what} {path} has {algorithm} {actual}, but the published {algorithm} is "
            f"{expected}: the file is corrupt or not the expected version and will not be "
            "used. Delete it and download or copy it again."
        )


def download(url: str, dest: Path, checksum: str) -> Path:
    """Download ``url`` to ``dest`` (via a ``.part`` file) and verify its checksum.

    A checksum mismatch deletes the download and raises, so a corrupt archive is never
    parsed.
    """
    if dest.exists():
        verify_checksum(dest, checksum, "archive")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "attnlib"})
        with urllib.request.urlopen(request, timeout=60) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {exc}") from exc
    try:
        verify_checksum(part, checksum, "downloaded archive")
    except ChecksumMismatchError:
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)
    return dest


# --- parsers: archive -> records per split -------------------------------------------

_ACLIMDB_NAME = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


def parse_aclimdb(archive: Path) -> dict[str, list[Record]]:
    """aclImdb_v1.tar.gz -> records sorted by label then review id (as the mirror)."""
    rows: dict[str, list[tuple[int, int, Record]]] = {s: [] for s in SPLITS}
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            match = _ACLIMDB_NAME.search(member.name)
            if not match or not member.isfile():
                continue
            split, polarity, review, rating = match.groups()
            handle = tar.extractfile(member)
            assert handle is not None
            label = int(polarity == "pos")
            record: Record = {
                "id": f"{split}/{polarity}/{review}_{rating}",
                "text": handle.read().decode("utf-8"),
                "label": label,
                "rating": int(rating),
            }
            rows[split].append((label, int(review), record))
    return {s: [r for *_key, r in sorted(rows[s], key=lambda t: t[:2])] for s in SPLITS}


def _unescape_zhang(text: str) -> str:
    return text.replace("\\n", "\n").replace('\\"', '"')


def parse_zhang_csv(archive: Path, fields: int) -> dict[str, list[Record]]:
    """Zhang et al. (2015) ``*_csv.tar.gz``: rows ``class, text fields...`` (class 1-based)."""
    out: dict[str, list[Record]] = {}
    with tarfile.open(archive, "r:*") as tar:
        for split in SPLITS:
            member = next(
                (m for m in tar if m.isfile() and m.name.endswith(f"/{split}.csv")), None
            )
            if member is None:
                raise DataError(f"{archive} has no {split}.csv; is it a Zhang et al. archive?")
            handle = tar.extractfile(member)
            assert handle is not None
            reader = csv.reader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))
            records: list[Record] = []
            for i, row in enumerate(reader):
                if len(row) != fields + 1:
                    raise DataError(f"{member.name} row {i + 1}: expected {fields + 1} columns")
                text = " ".join(_unescape_zhang(cell).strip() for cell in row[1:])
                records.append({"id": f"{split}{i}", "text": text, "label": int(row[0]) - 1})
            out[split] = records
    return out


_BYDATE_NAME = re.compile(r"20news-bydate-(train|test)/([^/]+)/(\d+)$")


def parse_newsgroups_bydate(archive: Path) -> dict[str, list[Record]]:
    """20news-bydate.tar.gz -> raw posts (Latin-1), label = alphabetical group index."""
    index = {name: i for i, name in enumerate(NEWSGROUPS)}
    rows: dict[str, list[tuple[int, int, Record]]] = {s: [] for s in SPLITS}
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            match = _BYDATE_NAME.search(member.name)
            if not match or not member.isfile():
                continue
            split, group, number = match.groups()
            if group not in index:
                raise DataError(f"unexpected newsgroup {group!r} in {archive}")
            handle = tar.extractfile(member)
            assert handle is not None
            record: Record = {
                "id": f"{split}/{group}/{number}",
                "text": handle.read().decode("latin-1"),
                "label": index[group],
                "label_name": group,
            }
            rows[split].append((index[group], int(number), record))
    return {s: [r for *_key, r in sorted(rows[s], key=lambda t: t[:2])] for s in SPLITS}


def parse_archive(source: ArchiveSource, archive: Path) -> dict[str, list[Record]]:
    if source.layout == "aclimdb":
        return parse_aclimdb(archive)
    if source.layout == "zhang_csv":
        return parse_zhang_csv(archive, source.fields)
    return parse_newsgroups_bydate(archive)


def write_jsonl_gz(path: Path, records: list[Record]) -> None:
    with atomic_path(path) as tmp:
        with gzip.open(tmp, "wt", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")


def fetch_and_normalize(spec: DatasetSpec, dest_dir: Path) -> dict[str, Path]:
    """Download ``spec.source``, verify it, and write ``dest_dir/{train,test}.jsonl.gz``."""
    if spec.source is None:
        raise DataError(f"dataset {spec.id!r} has no public archive to download")
    archive = download(spec.source.url, dest_dir / spec.source.filename, spec.source.checksum)
    splits = parse_archive(spec.source, archive)
    paths: dict[str, Path] = {}
    for split in SPLITS:
        if not splits.get(split):
            raise DataError(f"{archive} contains no {split} documents")
        paths[split] = dest_dir / f"{split}.jsonl.gz"
        write_jsonl_gz(paths[split], splits[split])
    return paths


def iter_jsonl_gz(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    """(line number, record) of a gzip-compressed JSON Lines file; a damaged file (bad
    gzip stream, truncated, not UTF-8, not JSON, a line that is not an object) raises
    :class:`DataError` naming the file, the line and the fix."""
    line_no = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise DataError(f"{path} line {line_no} is JSON but not an object "
                                    f"({type(row).__name__}); the file is damaged: delete it "
                                    "and download or copy it again")
                yield line_no, row
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path} is damaged near line {line_no + 1} ({type(error).__name__}: "
                        f"{error}); delete it and download or copy it again") from error
