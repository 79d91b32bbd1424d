"""Every dataset a dataset id can name: the built-in ones (:mod:`attnlib.data.registry`)
and those added with ``attnlib data add`` (:mod:`attnlib.data.user`). Kept apart from the
registry so that the registry does not import the user datasets, which import it.
Explained in the book chapter "The data" (book/data.ipynb).
"""

from __future__ import annotations

from ..errors import UnknownNameError
from .registry import DATASETS, DatasetSpec
from .user import list_user_datasets, user_spec


def get_dataset(dataset_id: str) -> DatasetSpec:
    """The registered dataset ``dataset_id``, built in or added with ``attnlib data add``;
    an unknown id lists the valid ones."""
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
