"""Datasets: registry, canonical downloads, local mirror, cleaning.

Explained in the book chapter "Data" (book/data.ipynb).
"""

from .catalog import get_dataset, list_datasets
from .cleaning import CLEANERS, clean_html, clean_newsgroup
from .loading import Document, load_documents, locate_split, where_from
from .registry import ArchiveSource, DatasetSpec
from .sources import fetch_and_normalize, verify_checksum

__all__ = [
    "CLEANERS",
    "ArchiveSource",
    "DatasetSpec",
    "Document",
    "clean_html",
    "clean_newsgroup",
    "fetch_and_normalize",
    "get_dataset",
    "list_datasets",
    "load_documents",
    "locate_split",
    "verify_checksum",
    "where_from",
]
