"""Atomic file writes: write to a temporary sibling, then ``os.replace``.

A run killed mid-write never leaves a truncated checkpoint, cache or result behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], writer: Callable[[Path], Any]) -> None:
    """Call ``writer(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_json(path: str | os.PathLike[str], obj: Any, compact: bool = False) -> None:
    """Write ``obj`` atomically; ``compact``: no indentation (large payloads)."""
    text = (json.dumps(obj, separators=(",", ":"), sort_keys=True, default=str) if compact
            else json.dumps(obj, indent=2, sort_keys=True, default=str))
    write_text_if_changed(path, text + "\n")


def write_text_if_changed(path: str | os.PathLike[str], text: str) -> bool:
    """Write ``text`` atomically unless ``path`` already holds exactly it (a rewrite that
    changes nothing writes nothing). Returns whether the file was written."""
    target = Path(path)
    data = text.encode("utf-8")
    try:
        if target.is_file() and target.stat().st_size == len(data) and \
                target.read_bytes() == data:
            return False
    except OSError:
        pass
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return True


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())


def check_output_file(path: str | os.PathLike[str]) -> None:
    """Fail at once, with the fix, if a file cannot be written at ``path``: it names a
    folder, a folder on its way is a file, or the nearest existing folder is read-only.
    Called before long work whose result would otherwise be lost at the end."""
    from .errors import ParameterError

    target = Path(path)
    if target.is_dir():
        raise ParameterError(f"{target} is a folder; give the path of a file to write, for "
                             f"example {target / 'erasure.parquet'}")
    check_writable_folder(target.parent, f"cannot write {target}", "another output path")


def check_writable_folder(folder: str | os.PathLike[str], problem: str, fix: str) -> None:
    """Fail at once if ``folder`` cannot be created or written: the nearest existing
    folder on its way is a file, or is read-only. ``problem`` and ``fix`` word the error
    (``problem``: ``<path> is a file, not a folder; choose <fix>``)."""
    from .errors import ParameterError

    for parent in (Path(folder), *Path(folder).parents):
        if parent.exists():
            if not parent.is_dir():
                raise ParameterError(f"{problem}: {parent} is a file, not a folder; "
                                     f"choose {fix}")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ParameterError(f"{problem}: {parent} is not writable; choose {fix}")
            return


def save_torch(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` atomically and byte-deterministically: torch names the archive's
    records after the file it writes to, so saving to a temporary name directly would
    give identical weights different bytes (and checksums)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
