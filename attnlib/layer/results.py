"""The tidy result table of the erasure tests: one row per instance x test x ranking
(x random seed), saved as Parquet with a schema version and provenance, validated on load.

Explained in the book chapter "Multi-weight tests" (book/multi_weight.ipynb).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_path
from ..errors import ResultSchemaError

SCHEMA_VERSION = "1"
_META_KEY = b"attnlib"
OMITTED_KEY = "omitted_columns"  # provenance entry: the columns a file leaves out

# column -> pandas dtype; nullable dtypes where a test leaves a column empty
SCHEMA: dict[str, str] = {
    "run": "string",  # config hash of the trained run
    "dataset": "string",
    "model": "string",  # HANrnn, FLANconv, ...
    "arch": "string",
    "encoder": "string",
    "model_seed": "Int64",
    "instance_id": "Int64",  # index in the run's test corpus
    "doc_id": "string",
    "n_items": "Int64",  # sentences (HAN) or tokens (FLAN)
    "label": "Int64",
    "pred": "Int64",  # the model's own decision, the reference for flips
    "test": "string",  # "single" or "multi"
    "ranking": "string",
    "seed": "Int64",  # random draw (random ranking) or random-item seed (single test)
    # multi-weight test
    "first_flip_k": "Int64",  # <NA>: never flips
    "first_flip_fraction": "Float64",
    "removed_attention_mass": "Float64",
    # single-weight test
    "top_item": "Int64",
    "random_item": "Int64",
    "js_top": "Float64",
    "js_random": "Float64",
    "delta_js": "Float64",
    "attention_gap": "Float64",
    "flip_top": "boolean",
    "flip_random": "boolean",
}
TESTS = ("single", "multi")
# columns computed from others on load rather than stored (they are exact functions of
# stored integers, so recomputing them loses nothing and keeps the files smaller)
DERIVED = ("first_flip_fraction",)
# columns a results file may leave out (see save_results' ``omit``): never keys, never
# read by the book; a file that omits them loads with <NA> there
OMITTABLE = ("js_top", "js_random", "random_item")


def _derive(df: pd.DataFrame) -> pd.DataFrame:
    k = df["first_flip_k"].astype("Float64")
    n = df["n_items"].astype("Float64")
    return df.assign(first_flip_fraction=(k / n).astype("Float64"))


def validate(df: pd.DataFrame, source: str = "results") -> pd.DataFrame:
    """Check columns and dtypes against :data:`SCHEMA`; return the frame with exactly the
    schema's columns in order, or raise :class:`ResultSchemaError` naming the problem."""
    missing = [c for c in SCHEMA if c not in df.columns]
    if missing:
        raise ResultSchemaError(f"{source} lacks the columns {missing}; it was not written "
                                "by attnlib.layer.results.save_results (or by an older version)")
    bad = [f"{c} is {df[c].dtype}, expected {t}" for c, t in SCHEMA.items()
           if str(df[c].dtype) != t and not _categorical_identifier(df[c])]
    if bad:
        raise ResultSchemaError(f"{source} has wrong column types: {'; '.join(bad)}")
    unknown_tests = set(df["test"].dropna().unique()) - set(TESTS)
    if unknown_tests:
        raise ResultSchemaError(f"{source} has unknown tests {sorted(unknown_tests)}")
    return df[list(SCHEMA)]


# identifier columns, repeated on every row of a run: a study's table keeps them as
# categoricals (see concat_results), which halves the memory of a full-scale table
IDENTIFIERS = ("run", "dataset", "model", "arch", "encoder", "test", "ranking")


def _categorical_identifier(column: pd.Series) -> bool:
    dtype = column.dtype
    return (column.name in IDENTIFIERS and isinstance(dtype, pd.CategoricalDtype)
            and str(dtype.categories.dtype) in ("string", "str"))


def to_schema(columns: dict[str, Any]) -> pd.DataFrame:
    """Build a schema-conforming frame from column arrays (missing columns become <NA>)."""
    n = len(next(iter(columns.values())))
    data = {c: pd.array(columns[c] if c in columns else [None] * n, dtype=t)
            for c, t in SCHEMA.items()}
    return pd.DataFrame(data)


def save_results(df: pd.DataFrame, path: str | Path, provenance: dict[str, Any],
                 omit: tuple[str, ...] = ()) -> Path:
    """Validate and write ``df`` atomically as zstd-compressed Parquet with provenance
    (without its creation time, so that identical results give identical bytes, and
    without the :data:`DERIVED` columns, which :func:`load_results` recomputes), with a
    CRC-32 checksum of every page that :func:`load_results` verifies.

    ``omit`` leaves out some of the :data:`OMITTABLE` columns (the published results do,
    to stay small); the file records which, and :func:`load_results` gives <NA> there.

    Float columns are stored at float32 precision (about 7 significant digits; the signs
    of Delta JS and every comparison the book makes are unaffected), which makes the
    files about a third smaller.
    """
    unknown = sorted(set(omit) - set(OMITTABLE))
    if unknown:
        raise ValueError(f"cannot omit {unknown} from a results file: only {OMITTABLE} may be "
                         "left out")
    omit = tuple(c for c in OMITTABLE if c in omit)
    df = validate(df).drop(columns=list(DERIVED) + list(omit))
    # no creation time: identical runs give byte-identical files, comparable by checksum
    provenance = {k: v for k, v in provenance.items() if k not in ("created", OMITTED_KEY)}
    if omit:
        provenance[OMITTED_KEY] = list(omit)
    floats = [c for c, t in SCHEMA.items() if t == "Float64" and c in df.columns]
    for column in floats:
        df[column] = df[column].astype("Float32").astype("Float64")
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps({"schema_version": SCHEMA_VERSION, **provenance},
                                 default=str).encode()
    table = table.replace_schema_metadata(meta)
    path = Path(path)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=19,
                       use_byte_stream_split=floats, write_page_checksum=True)
    return path


def _damaged(path: str | Path, error: Exception) -> ResultSchemaError:
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return ResultSchemaError(f"{path} is damaged or not a Parquet file ({first}); restore it "
                             "(`git checkout` for published results) or re-run `attnlib test`")


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance stored with a results file (schema version, config hash, ...)."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, ValueError, pa.ArrowException) as error:
        raise _damaged(path, error) from error
    if _META_KEY not in meta:
        raise ResultSchemaError(f"{path} has no attnlib metadata; not an attnlib results file")
    try:
        value = json.loads(meta[_META_KEY])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _damaged(path, error) from error
    if not isinstance(value, dict):
        raise ResultSchemaError(f"{path} has unreadable attnlib metadata; re-run `attnlib test`")
    return value


_ARROW_KINDS = {"Int64": pa.types.is_integer, "Float64": pa.types.is_floating,
                "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)
                or pa.types.is_dictionary(t), "boolean": pa.types.is_boolean}


def _check_stored_types(schema: pa.Schema, path: str | Path) -> None:
    """Reject a column stored with the wrong kind of type before pandas converts it (a
    number column stored as text would otherwise fail deep inside the conversion)."""
    bad = []
    for name, kind in SCHEMA.items():
        if name not in schema.names:
            continue
        arrow_type = schema.field(name).type
        if not (pa.types.is_null(arrow_type) or _ARROW_KINDS[kind](arrow_type)):
            bad.append(f"{name} is stored as {arrow_type}, expected {kind}")
    if bad:
        raise ResultSchemaError(f"{path} has wrong column types: {'; '.join(bad)}; it was not "
                                "written by attnlib or was altered: re-run `attnlib test`")


def load_results(path: str | Path) -> pd.DataFrame:
    """Read and validate a results file; ``df.attrs['provenance']`` holds its provenance."""
    path = Path(path)
    if not path.exists():
        raise ResultSchemaError(f"no results file at {path}; run `attnlib test` first")
    provenance = read_provenance(path)
    if provenance.get("schema_version") != SCHEMA_VERSION:
        raise ResultSchemaError(f"{path} has schema version {provenance.get('schema_version')}"
                                f", this attnlib reads version {SCHEMA_VERSION}; re-run the tests")
    try:
        # every page's CRC-32, recorded when the file was written, is verified
        table = pq.read_table(path, page_checksum_verification=True)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise _damaged(path, error) from error
    _check_stored_types(table.schema, path)
    omitted = provenance.get(OMITTED_KEY, [])
    if not isinstance(omitted, list) or not set(omitted) <= set(OMITTABLE):
        raise ResultSchemaError(f"{path} says it omits {omitted!r}; only {OMITTABLE} may be "
                                "left out: the file was altered, re-run `attnlib test`")
    frame = table.to_pandas(types_mapper=pd.ArrowDtype).pipe(_to_numpy)
    frame = frame.assign(**{c: pd.array([None] * len(frame), dtype=SCHEMA[c])
                            for c in omitted if c not in frame.columns})
    df = validate(frame.pipe(_derive), str(path))
    df.attrs["provenance"] = provenance
    return df


def _to_numpy(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: df[c].astype(SCHEMA[c]) if c in SCHEMA else df[c]
                         for c in df.columns})


def concat_results(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Stack several runs' results (keeps the schema), with the :data:`IDENTIFIERS` as
    categoricals whose categories are sorted, so that grouping and sorting order rows as
    the text would. ``frames`` may be a generator: each frame is made compact before the
    next is read, so a study's table never needs twice its memory.

    Explained in the book chapter "Multi-weight tests" (book/multi_weight.ipynb).
    """
    compact = []
    for frame in frames:
        frame = validate(frame)
        compact.append(frame.astype({c: "category" for c in IDENTIFIERS}))
    if not compact:
        return validate(to_schema({c: [] for c in SCHEMA}))
    # one shared dtype per column, else concat falls back to plain objects
    dtypes = {}
    for c in IDENTIFIERS:
        values = sorted(set().union(*(f[c].cat.categories for f in compact)))
        dtypes[c] = pd.CategoricalDtype(pd.Index(values, dtype="string"))
    return validate(pd.concat([f.astype(dtypes) for f in compact], ignore_index=True))
