"""User-facing errors.

Every mistake a user can make (an unknown id, missing data, a wrong-typed option, a
corrupt file) raises a subclass of :class:`AttnlibError` whose message names the problem
and the fix. The CLI prints these without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class AttnlibError(Exception):
    """Base class of all errors caused by user input or the environment."""


class UnknownNameError(AttnlibError, ValueError):
    """A name (dataset, architecture, encoder, ranking, profile...) is not registered."""

    def __init__(self, kind: str, name: object, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(
            f"unknown {kind} {name!r}; valid {kind}s are: {', '.join(self.valid)}"
        )


class ParameterError(AttnlibError, TypeError):
    """An option has the wrong type or an impossible value."""


class DataError(AttnlibError):
    """Data are missing, unreadable or inconsistent."""


class ChecksumMismatchError(DataError):
    """A downloaded or mirrored file does not match its published checksum."""


class ResultSchemaError(AttnlibError):
    """A results table does not have the columns or types of the result schema."""


def check_type(name: str, value: object, expected: type | tuple[type, ...]) -> None:
    """Raise :class:`ParameterError` unless ``value`` is an instance of ``expected``.

    ``bool`` is rejected where ``int`` is expected, since ``True`` is almost always a
    mistake for a count or a seed.
    """
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        names = " or ".join(t.__name__ for t in types)
        raise ParameterError(
            f"{name} must be {names}, got {type(value).__name__} {value!r}"
        )


MAX_SEED = 2**63 - 1  # seeds are stored in Int64 columns and fed to numpy and torch


def check_seed(name: str, value: object) -> None:
    """Raise :class:`ParameterError` unless ``value`` is an int in ``0..MAX_SEED``."""
    check_type(name, value, int)
    assert isinstance(value, int)
    if not 0 <= value <= MAX_SEED:
        raise ParameterError(f"{name} must be between 0 and 2**63 - 1, got {value}")
