"""Every dataset a dataset id can name: the built-in ones (:mod:`attnlib.data.registry`)
and those added with ``attnlib data add`` (:mod:`attnlib.data.user`). Kept apart from the
registry so that the registry does not import the user datasets, which import it.
Explained in the book chapter "The data" (book/data.ipynb).
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import UnknownNameError
from .registry import DATASETS, DatasetSpec
from .shortcut import PERMUTED_SUFFIX, make_shortcut_spec, parse_shortcut_id
from .user import list_user_datasets, user_spec


def get_dataset(dataset_id: str) -> DatasetSpec:
    """The registered dataset ``dataset_id``, built in or added with ``attnlib data add``;
    an unknown id lists the valid ones. ``<base>+shortcut[-pair][-pNN][-sN]`` is the base
    dataset with a planted shortcut (:mod:`attnlib.data.shortcut`)."""
    if isinstance(dataset_id, str) and dataset_id.endswith(PERMUTED_SUFFIX):
        return permuted_dataset(dataset_id)
    if isinstance(dataset_id, str) and parse_shortcut_id(dataset_id) is not None:
        return shortcut_dataset(dataset_id)
    if isinstance(dataset_id, str) and dataset_id not in DATASETS:
        try:
            return user_spec(dataset_id)
        except KeyError:
            raise UnknownNameError("dataset", dataset_id,
                                   [*DATASETS.names(), *list_user_datasets()]) from None
    return DATASETS.get(dataset_id)


def list_datasets() -> list[str]:
    """Every registered dataset id, then those added with ``attnlib data add``."""
    return [*DATASETS.names(), *list_user_datasets()]


def shortcut_dataset(dataset_id: str) -> DatasetSpec:
    """The spec of a shortcut dataset: the base's, reading the base's files, with the
    planted shortcut and a title and note that say so."""
    parsed = parse_shortcut_id(dataset_id)
    if parsed is None:
        raise UnknownNameError("dataset", dataset_id, list_datasets())
    base = get_dataset(parsed[0])
    if base.shortcut is not None:
        raise UnknownNameError("dataset", dataset_id, list_datasets())
    shortcut = make_shortcut_spec(dataset_id, base.n_classes)
    return replace(
        base, id=dataset_id, title=f"{base.title}, with a planted {shortcut.kind} shortcut",
        note=f"{base.id} with a planted shortcut (Bastings et al. 2022): {shortcut.describe()}.",
        files_of=base.files_of or base.id, shortcut=shortcut, files_dir=None,
        mirror_sha256={})


def permuted_dataset(dataset_id: str) -> DatasetSpec:
    """The spec of ``<dataset>+permuted``: ``<dataset>`` with permuted training labels."""
    inner = get_dataset(dataset_id[: -len(PERMUTED_SUFFIX)])
    if inner.permuted_labels:
        raise UnknownNameError("dataset", dataset_id, list_datasets())
    return replace(
        inner, id=dataset_id, title=f"{inner.title}, training labels permuted",
        note=f"{inner.id} with its training labels randomly permuted (seeded; test labels "
        "unchanged), for the data-randomisation check of Adebayo et al. 2018.",
        files_of=inner.files_of or inner.id, files_dir=None, mirror_sha256={},
        permuted_labels=True)
