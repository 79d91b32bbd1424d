"""Run folders that survive bad luck: an exclusive lock per folder, SHA-256 checksums of
every artefact a run writes (recorded in ``metrics.json`` and verified on load), and
reads that turn a damaged file into one clear line naming the file and the fix.

Explained in the README ("Reliability").
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import AttnlibError, DataError

LOCK_FILE = ".lock"


class RunDamagedError(DataError):
    """A file of a run folder is missing, truncated, altered or inconsistent."""


class RunLockedError(AttnlibError):
    """Another process holds the run folder's lock."""


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksums(directory: Path, names: list[str]) -> dict[str, str]:
    """``{file name: sha256}`` of the files ``names`` in ``directory``."""
    return {name: sha256_of(directory / name) for name in names}


def damaged(path: Path, problem: str, fix: str | None = None) -> RunDamagedError:
    """The error for a damaged file of a run folder, with the fix (default: delete the
    run folder and train again)."""
    if fix is None:
        fix = f"the run folder {path.parent} is damaged: delete it and train the run again"
    return RunDamagedError(f"{path} {problem}; {fix}" if fix else f"{path} {problem}")


def verify_checksums(directory: Path, recorded: dict[str, str]) -> None:
    """Raise :class:`RunDamagedError` for the first file whose SHA-256 differs from the
    one recorded when the run was written."""
    for name, expected in recorded.items():
        path = directory / name
        if not path.exists():
            raise damaged(path, "is missing")
        if sha256_of(path) != expected:
            raise damaged(path, "does not match the checksum recorded when the run was "
                                "written (altered or corrupted)")


def read_run_json(path: Path, required: tuple[str, ...] = (), fix: str | None = None) -> Any:
    """A JSON file of a run folder, with ``required`` keys, or :class:`RunDamagedError`
    (``fix``: what the error tells to do; default: delete the run folder and train
    again; ``""``: nothing, the caller says it)."""
    if not path.exists():
        raise damaged(path, "is missing", fix)
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise damaged(path, f"is not valid JSON ({error})", fix) from error
    if required:
        if not isinstance(value, dict):
            raise damaged(path, "does not hold a JSON object", fix)
        missing = [k for k in required if k not in value]
        if missing:
            raise damaged(path, f"lacks the keys {missing}", fix)
    return value


def load_torch_file(path: Path, map_location: Any, fix: str | None = None) -> Any:
    """``torch.load(..., weights_only=True)`` of a run file, or :class:`RunDamagedError`."""
    import torch

    if not path.exists():
        raise damaged(path, "is missing", fix)
    if path.stat().st_size == 0:
        raise damaged(path, "is empty", fix)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises RuntimeError, EOFError, pickle errors...
        raise damaged(path, f"cannot be read ({type(error).__name__}: "
                            f"{str(error).splitlines()[0] if str(error) else 'truncated'})",
                      fix) from error


CHECKED_FORMAT = "attnlib-checked-torch-1"


def save_checked_torch(obj: Any, path: Path) -> str:
    """``torch.save`` ``obj`` atomically inside an envelope that records the SHA-256 of its
    serialised bytes, so that :func:`load_checked_torch` refuses a file altered on disk
    (torch itself loads flipped bytes without a word). Returns that SHA-256."""
    import io

    import torch

    from .atomic import save_torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = bytearray(buffer.getvalue())
    digest = hashlib.sha256(data).hexdigest()
    save_torch({"format": CHECKED_FORMAT, "sha256": digest,
                "data": torch.frombuffer(data, dtype=torch.uint8)}, path)
    return digest


def load_checked_torch(path: Path, map_location: Any, fix: str | None = None) -> Any:
    """The object saved by :func:`save_checked_torch`, verified against the SHA-256 in its
    envelope, or :class:`RunDamagedError` naming the file and ``fix``. A file written
    before envelopes (a plain ``torch.save``) is loaded as it is, with a warning."""
    import io
    import logging

    import torch

    outer = load_torch_file(path, map_location, fix)
    if not (isinstance(outer, dict) and outer.get("format") == CHECKED_FORMAT):
        logging.getLogger(__name__).warning(
            "%s was written without a checksum (an older attnlib); it cannot be verified", path)
        return outer
    data = outer.get("data")
    if not isinstance(data, torch.Tensor) or data.dtype != torch.uint8:
        raise damaged(path, "has a damaged checksum envelope", fix)
    raw = data.cpu().numpy().tobytes()
    if hashlib.sha256(raw).hexdigest() != outer.get("sha256"):
        raise damaged(path, "does not match the checksum recorded when it was written "
                            "(altered or corrupted)", fix)
    try:
        return torch.load(io.BytesIO(raw), map_location=map_location, weights_only=True)
    except Exception as error:
        raise damaged(path, f"cannot be read ({type(error).__name__})", fix) from error


@contextmanager
def run_lock(directory: Path, timeout_s: float | None = None,
             on_wait: Any = None) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (its ``.lock`` file) while the block runs.

    Another process that wants the same folder waits (``on_wait()`` is called once when
    it starts waiting), or raises :class:`RunLockedError` after ``timeout_s`` seconds.
    The lock is released when the process ends, however it ends.
    """
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / LOCK_FILE, "a+")
    try:
        started, warned = time.monotonic(), False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if timeout_s is not None and time.monotonic() - started >= timeout_s:
                    raise RunLockedError(
                        f"{directory} is in use by another process (training or testing "
                        "this run); wait for it to finish, or choose another folder") from None
                if not warned and on_wait is not None:
                    on_wait()
                    warned = True
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock
