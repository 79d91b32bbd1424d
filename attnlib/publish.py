"""Publishing finished runs: copy each run's config, metrics, history, erasure results and
explorer payload (no checkpoint) from the run cache to ``results/<profile>/``, with a
manifest and a README table, so that the book can be built from them without training.

Explained in the book's introduction (book/intro.md, "How to re-run this book").
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from . import paths
from .atomic import read_json, write_json, write_text_if_changed
from .config import RunConfig, make_run_config
from .errors import DataError
from .integrity import sha256_of
from .inputs.jain_wallace import JW_FILE
from .inputs.results import INPUT_TESTS_FILE
from .layer.adversarial_results import ADVERSARIAL_FILE
from .layer.followup_results import LAYER_TESTS_FILE
from .layer.results import (OMITTABLE, OMITTED_KEY, load_results, read_provenance,
                             save_results)
from .layer.suite import SuiteConfig, suite_key
from .plan import PLANS, RunKey, missing_runs, planned_runs, run_label
from .presentation.explorer import round_floats
from .presentation.inpage_explorer import STORED_PAYLOAD

PUBLISHED_FILES = ("config.json", "metrics.json", "history.json", "erasure.parquet",
                   "explorer.json")
FOLLOWUP_FILES = (LAYER_TESTS_FILE, INPUT_TESTS_FILE, JW_FILE, ADVERSARIAL_FILE)
INPAGE_FILE = STORED_PAYLOAD  # the explore chapter's in-page model
# computed from a checkpoint, so a run published again without it keeps what it had
KEPT_FILES = FOLLOWUP_FILES + (INPAGE_FILE,)
MANIFEST = "manifest.json"
# the manifest records the SHA-256 of every published file, and its own
MANIFEST_FILES, MANIFEST_SUM = "files", "sha256"
UNSEALED = ("README.md", MANIFEST)  # README: generated from the manifest, for people
# left out of the published erasure files to keep results/ small: every column a results
# file may omit (the book reads only delta_js, not the two JS values, and the top item);
# the same tuple, in the same order, as the provenance that save_results records
PUBLISHED_OMITTED = OMITTABLE
RUN_FOLDER = re.compile(r"seed\d+-[0-9a-f]{12}(\.tmp)?")


def _finished_runs(profile: str, root: Path, configs: list[RunConfig] | None = None,
                   dest: Path | None = None) -> list[Path]:
    """Run directories with every artefact, tested by the current engine with the
    default suite (stale results are left for `attnlib grid` to refresh): those of
    ``configs``, or else every run of ``profile`` whose config is the profile's current
    one for its dataset, model and seed (no overrides, no outdated presets)."""
    wanted = {c.hash for c in configs} if configs is not None else None
    out: list[Path] = []
    for config_file in sorted(root.glob("*/*/*/config.json")):
        directory = config_file.parent
        if not all((directory / f).exists() for f in PUBLISHED_FILES):
            continue
        raw = read_json(config_file)
        if raw.get("profile") != profile:
            continue
        raw.pop("hash", None)
        config = RunConfig.from_dict(raw)
        if wanted is not None:
            if config.hash not in wanted:
                continue
        elif config != make_run_config(profile, config.data.dataset, config.model.arch,
                                       config.model.encoder, config.train.seed):
            print(f"skipping {directory}: not the current {profile} configuration")
            continue
        key = suite_key(config, SuiteConfig())
        if read_provenance(directory / "erasure.parquet").get("suite_key") == key:
            out.append(directory)
        else:
            print(f"skipping {directory}: its erasure results are stale; refresh them with "
                  "`python -m attnlib grid`")
    return out if wanted is not None else _whole_cells(profile, out, dest)


def _whole_cells(profile: str, directories: list[Path], dest: Path | None) -> list[Path]:
    """Of the finished runs, those whose dataset x model has every seed the profile's
    plan asks for, here or already published with the same configuration: a cell
    retrained under a new configuration replaces the published one only as a whole,
    never leaving seeds of two configurations side by side."""
    if profile not in PLANS:
        return directories
    current = set()  # (cell, seed) published with the profile's current configuration
    for e in learned_entries(read_manifest(dest)) if dest is not None else []:
        if e["hash"] == make_run_config(profile, e["dataset"], e["arch"], e["encoder"],
                                        e["seed"]).hash:
            current.add(((e["dataset"], e["arch"], e["encoder"]), e["seed"]))
    planned: dict[tuple[str, str, str], set[int]] = {}
    for dataset, arch, encoder, seed in planned_runs(profile):
        planned.setdefault((dataset, arch, encoder), set()).add(seed)
    found: dict[tuple[str, str, str], dict[int, Path]] = {}
    for directory in directories:
        config = RunConfig.from_dict({k: v for k, v in read_json(
            directory / "config.json").items() if k != "hash"})
        cell = (config.data.dataset, config.model.arch, config.model.encoder)
        found.setdefault(cell, {})[config.train.seed] = directory
    out = []
    for cell, runs in found.items():
        missing = sorted(s for s in planned.get(cell, set()) - set(runs)
                         if (cell, s) not in current)
        if missing:
            print(f"waiting for {'/'.join(cell)} seeds {missing} before publishing the cell")
            continue
        out += list(runs.values())
    return out


def _manifest_digest(body: dict[str, Any]) -> str:
    """SHA-256 of a manifest's content (without its own ``sha256``), key order aside."""
    rest = {k: v for k, v in body.items() if k != MANIFEST_SUM}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def _manifest_body(dest: Path) -> dict[str, Any] | None:
    """The manifest of ``dest``, checked against the SHA-256 it records (None: none)."""
    path = dest / MANIFEST
    if not path.exists():
        return None
    fix = f"restore it with `git checkout -- {path}` or rewrite it with `python -m attnlib publish`"
    try:
        body = json.loads(path.read_text())
        runs = body["runs"]
        if not isinstance(runs, list) or not all(isinstance(e, dict) for e in runs):
            raise TypeError("'runs' is not a list of objects")
        if not isinstance(body.get(MANIFEST_FILES, {}), dict):
            raise TypeError(f"'{MANIFEST_FILES}' is not an object")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise DataError(f"{path} is damaged ({error}); {fix}") from error
    if MANIFEST_SUM in body and body[MANIFEST_SUM] != _manifest_digest(body):
        raise DataError(f"{path} does not match the checksum it records (altered or "
                        f"corrupted); {fix}")
    return body


def read_manifest(dest: Path) -> list[dict[str, Any]]:
    """The published runs of a results folder (empty if none)."""
    body = _manifest_body(dest)
    return [] if body is None else body["runs"]


def published_checksums(dest: Path) -> dict[str, str]:
    """``{path relative to dest: SHA-256}`` of every published file, from the manifest."""
    body = _manifest_body(dest)
    return {} if body is None else dict(body.get(MANIFEST_FILES, {}))


def verify_published(dest: Path, under: str | None = None) -> int:
    """Check every published file of ``dest`` (or of its folder ``under``) against the
    SHA-256 the manifest records: a missing or altered file is one :class:`DataError`
    naming it and the fix. Returns how many files were checked."""
    checked = 0
    for rel, expected in sorted(published_checksums(dest).items()):
        if under is not None and not rel.startswith(under.rstrip("/") + "/"):
            continue
        path = dest / rel
        if not path.is_file():
            raise DataError(f"the published file {path} is missing; restore it with `git "
                            f"checkout -- {path}`")
        if sha256_of(path) != expected:
            raise DataError(f"the published file {path} does not match the checksum recorded "
                            f"in {dest / MANIFEST} (altered or corrupted); restore it with "
                            f"`git checkout -- {path}`")
        checked += 1
    return checked


def _published_files(dest: Path) -> list[Path]:
    return sorted(f for f in dest.rglob("*") if f.is_file() and f.name not in UNSEALED
                  and ".tmp" not in f.relative_to(dest).as_posix())


def seal_manifest(dest: Path, written: Sequence[Path] = (), profile: str | None = None,
                  runs: list[dict[str, Any]] | None = None) -> bool:
    """Record the SHA-256 of the published files in the manifest (and the manifest's own):
    the files in ``written`` get their new checksum; every other recorded file must still
    match its old one (a damaged file is never blessed), and a file the manifest has never
    recorded (published before checksums) gets one. ``runs``/``profile`` replace the
    manifest's. Writes nothing when nothing changed; returns whether it wrote."""
    body = _manifest_body(dest)
    if body is None and runs is None:
        return False  # nothing published here yet: no manifest to seal
    body = body or {}
    recorded = dict(body.get(MANIFEST_FILES, {}))
    fresh = {Path(w).resolve() for w in written}
    files: dict[str, str] = {}
    for f in _published_files(dest):
        rel = f.relative_to(dest).as_posix()
        digest = sha256_of(f)
        if rel in recorded and f.resolve() not in fresh and recorded[rel] != digest:
            raise DataError(f"the published file {f} does not match the checksum recorded in "
                            f"{dest / MANIFEST} (altered or corrupted); restore it with `git "
                            f"checkout -- {f}` before publishing")
        files[rel] = digest
    new = {"profile": profile if profile is not None else body.get("profile"),
           "runs": runs if runs is not None else body.get("runs", []), MANIFEST_FILES: files}
    new[MANIFEST_SUM] = _manifest_digest(new)
    return write_text_if_changed(dest / MANIFEST, json.dumps(new, indent=2, sort_keys=True)
                                 + "\n")


def study_manifest(profile: str, root: Path) -> list[dict[str, Any]]:
    """The published runs a study of ``profile`` reads, every published file verified
    against its recorded SHA-256 first. A profile with a published plan (``paper``)
    refuses to start without its manifest, rather than falling back to whatever runs
    happen to be on disk."""
    if profile in PLANS and not (root / MANIFEST).exists():
        raise DataError(f"{root / MANIFEST} is missing: the {profile} study reads its "
                        f"published runs from it; restore it with `git checkout -- "
                        f"{root / MANIFEST}` (or rewrite it with `python -m attnlib publish "
                        f"--profile {profile}`)")
    runs = read_manifest(root)
    verify_published(root)
    return runs


def learned_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The manifest entries of the paper's models (trained attention); runs with uniform
    attention are published beside them for the follow-up chapter."""
    return [e for e in entries if e.get("attention", "learned") == "learned"]


def run_keys(entries: list[dict[str, Any]]) -> list[RunKey]:
    """The ``(dataset, arch, encoder, seed)`` key of each manifest entry, in order."""
    keys = []
    for i, e in enumerate(entries):
        try:
            keys.append((str(e["dataset"]), str(e["arch"]), str(e["encoder"]),
                         int(e["seed"])))
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"entry {i} of the published manifest ({e.get('path', '?')}) lacks "
                            f"a valid {error}; restore manifest.json with `git checkout` or "
                            "rewrite it with `python -m attnlib publish`") from error
    return keys


def publish_runs(profile: str, dest: Path, source: Path | None = None,
                 configs: list[RunConfig] | None = None) -> list[dict[str, Any]]:
    """Copy finished and tested runs from the run cache into ``dest``
    (``<dataset>/<Model>/seed<N>-<hash>/``) and rewrite its manifest and README: the runs
    of ``configs``, or by default every run with the current ``profile`` configuration."""
    source = source or paths.runs_dir()
    verify_published(dest)  # a damaged published file: one line, before any work
    entries = {e["hash"]: e for e in read_manifest(dest)}
    written: list[Path] = []
    for directory in _finished_runs(profile, source, configs, dest):
        raw = read_json(directory / "config.json")
        config_hash = raw.pop("hash")
        config = RunConfig.from_dict(raw)
        target = (dest / config.data.dataset / config.model.name
                  / f"seed{config.train.seed}-{config_hash}")
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in PUBLISHED_FILES:
            if name == "erasure.parquet":  # re-encoded in the current (compact) format
                _save_compact(directory / name, tmp / name)
            elif name == "explorer.json":  # compact: 8 significant digits, no indentation
                write_json(tmp / name, round_floats(read_json(directory / name)), compact=True)
            else:
                shutil.copy2(directory / name, tmp / name)
        for name in FOLLOWUP_FILES:  # optional: the follow-up tests, when computed
            if (directory / name).exists():
                shutil.copy2(directory / name, tmp / name)
        for name in KEPT_FILES:  # the same run (same hash) published before with more
            if (target / name).exists() and not (tmp / name).exists():
                shutil.copy2(target / name, tmp / name)
        if _same_files(tmp, target):  # published before exactly so: write nothing
            shutil.rmtree(tmp)
        else:
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
            written += list(target.iterdir())
        key = (config.data.dataset, config.model.name, config.train.seed)
        for old_hash, old in list(entries.items()):  # a retrained run replaces its previous
            if old_hash != config_hash and (old["dataset"], old["model"], old["seed"]) == key:
                shutil.rmtree(dest / old["path"], ignore_errors=True)
                del entries[old_hash]
        metrics = read_json(target / "metrics.json")
        entries[config_hash] = {
            "dataset": config.data.dataset, "arch": config.model.arch,
            "encoder": config.model.encoder, "model": config.model.name,
            "seed": config.train.seed, "hash": config_hash,
            **({} if config.model.attention == "learned" else
               {"attention": config.model.attention}),
            "path": str(target.relative_to(dest)),
            "test_accuracy": metrics["test_accuracy"],
            "majority_baseline": metrics["majority_baseline"], "epochs": metrics["epochs"],
            "train_seconds": metrics["train_seconds"], "n_train": metrics["n_train"],
            "n_test": metrics["n_test"], "device": metrics["provenance"]["device"],
            "git_commit": metrics["provenance"]["git_commit"],
        }
    for entry in entries.values():  # runs published before the compact format
        path = dest / entry["path"] / "erasure.parquet"
        if read_provenance(path).get(OMITTED_KEY) != list(PUBLISHED_OMITTED):
            _save_compact(path, path)
            written.append(path)
    runs = sorted(entries.values(), key=lambda e: (e["dataset"], e["arch"] != "han",
                                                   ["rnn", "conv", "noenc"].index(e["encoder"]),
                                                   e["seed"]))
    _remove_strays(dest, runs)
    seal_manifest(dest, written, profile, runs)
    write_readme(profile, dest)
    return runs


def _same_files(a: Path, b: Path) -> bool:
    """Whether folders ``a`` and ``b`` hold the same file names with the same bytes."""
    if not b.is_dir():
        return False
    names = sorted(f.name for f in a.iterdir())
    if names != sorted(f.name for f in b.iterdir()):
        return False
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def _save_compact(source: Path, target: Path) -> None:
    """Re-encode an erasure results file in the published format: the current schema,
    without :data:`PUBLISHED_OMITTED` (atomic, so ``source`` may be ``target``)."""
    frame = load_results(source)
    prov = {k: v for k, v in frame.attrs["provenance"].items() if k != "schema_version"}
    save_results(frame, target, prov, omit=PUBLISHED_OMITTED)


def _remove_strays(dest: Path, runs: list[dict[str, Any]]) -> None:
    """Delete run folders that the manifest does not list (left by an interrupted or
    older publication), so that the published tree holds exactly the manifest's runs."""
    listed = {dest / e["path"] for e in runs}
    for folder in dest.glob("*/*/seed*"):
        if folder.is_dir() and RUN_FOLDER.fullmatch(folder.name) and folder not in listed:
            print(f"removing {folder}: not a published run")
            shutil.rmtree(folder)


def publish_followup_tests(profile: str, dest: Path, source: Path | None = None,
                           progress: bool = True, datasets: Sequence[str] | None = None
                           ) -> int:
    """For every published run whose checkpoint is in the run cache, compute its layer and
    input-erasure tests there (once per weights) and copy them next to its published
    results (of ``datasets`` only, if given). Returns how many published runs have both
    now."""
    from .inputs.jain_wallace import ensure_jw_agreement
    from .inputs.results import ensure_input_tests, input_test_config
    from .layer.followup_results import ensure_layer_tests, layer_test_config
    from .training.runs import load_run

    source = source or paths.runs_dir()
    verify_published(dest)
    done = 0
    written: list[Path] = []
    for entry in read_manifest(dest):
        if datasets is not None and entry["dataset"] not in datasets:
            continue
        cache = (source / entry["dataset"] / entry["model"]
                 / f"{profile}-seed{entry['seed']}-{entry['hash']}")
        if (cache / "model.pt").exists() and (cache / "metrics.json").exists():  # finished
            run = load_run(cache, device="cpu")
            if not _same_weights(read_json(dest / entry["path"] / "metrics.json"), run.metrics):
                print(f"skipping {cache}: its weights differ from the published run's")
                continue
            ensure_layer_tests(run, cache / LAYER_TESTS_FILE, layer_test_config(profile),
                               progress)
            ensure_input_tests(run, cache / INPUT_TESTS_FILE, input_test_config(profile),
                               progress)
            names = [LAYER_TESTS_FILE, INPUT_TESTS_FILE]
            if entry["arch"] == "flan" and entry["dataset"] == "imdb":  # beside J&W's numbers
                ensure_jw_agreement(run, cache / JW_FILE)
                names.append(JW_FILE)
            for name in names:
                written += _copy_if_changed(cache / name, dest / entry["path"] / name)
        done += all((dest / entry["path"] / n).exists()
                    for n in (LAYER_TESTS_FILE, INPUT_TESTS_FILE))
    written += _publish_seed_variance(profile, dest, source)
    written += _publish_uniform_twins(profile, dest, source)
    seal_manifest(dest, written)
    return done


def publish_adversarial_tests(profile: str, dest: Path, source: Path | None = None,
                              progress: bool = True, datasets: Sequence[str] | None = None
                              ) -> list[str]:
    """For every published run (of ``datasets`` only, if given) whose checkpoint is in the
    run cache, run the multi-start adversarial search there and copy ``adversarial.parquet``
    next to its published results. A checkpoint retrained from the same config whose bytes
    differ from the published one's (float noise between builds) is used only if it makes
    the same prediction on every layer-test document and the same permutation medians
    (:func:`attnlib.layer.adversarial_results.same_model_check`); the table's metadata
    says which. Returns the labels of the runs that have the table now."""
    from .layer.adversarial_results import (adversarial_test_config, ensure_adversarial_tests,
                                            same_model_check)
    from .layer.followup_results import load_layer_tests, read_table_meta
    from .training.runs import load_run

    source = source or paths.runs_dir()
    verify_published(dest)
    done, written = [], []
    for entry in read_manifest(dest):
        if datasets is not None and entry["dataset"] not in datasets:
            continue
        label = f"{entry['dataset']}/{entry['model']}/seed{entry['seed']}"
        cache = (source / entry["dataset"] / entry["model"]
                 / f"{profile}-seed{entry['seed']}-{entry['hash']}")
        published_layer = dest / entry["path"] / LAYER_TESTS_FILE
        finished = (cache / "model.pt").exists() and (cache / "metrics.json").exists()
        if finished and published_layer.exists():
            run = load_run(cache, device="cpu")
            table = ensure_adversarial_tests(run, cache / ADVERSARIAL_FILE,
                                             adversarial_test_config(profile), progress)
            if _same_weights(read_json(dest / entry["path"] / "metrics.json"), run.metrics):
                weights = "the published checkpoint"
            else:
                problem = same_model_check(load_layer_tests(published_layer), table)
                if problem is not None:
                    print(f"skipping {cache}: retrained, and not the published model: {problem}")
                    continue
                weights = ("a checkpoint retrained from the published config: the same "
                           "prediction and permutation medians on every document")
            meta = read_table_meta(cache / ADVERSARIAL_FILE)
            if meta.get("weights") != weights:
                from .layer.adversarial_results import (ADVERSARIAL_COLUMNS,
                                                        ADVERSARIAL_SCHEMA_VERSION)
                from .layer.followup_results import save_table
                save_table(table, cache / ADVERSARIAL_FILE, ADVERSARIAL_COLUMNS,
                           ADVERSARIAL_SCHEMA_VERSION,
                           {k: v for k, v in {**meta, "weights": weights}.items()
                            if k != "schema_version"})
            written += _copy_if_changed(cache / ADVERSARIAL_FILE,
                                        dest / entry["path"] / ADVERSARIAL_FILE)
        if (dest / entry["path"] / ADVERSARIAL_FILE).exists():
            done.append(label)
    seal_manifest(dest, written)
    return done


def _copy_if_changed(source: Path, target: Path) -> list[Path]:
    """Copy ``source`` to ``target`` unless it holds the same bytes; the paths written."""
    if target.is_file() and target.read_bytes() == source.read_bytes():
        return []
    shutil.copy2(source, target)
    return [target]


# the published book's "type your own text" section (book/explore.ipynb) runs these in
# the page; two models of a few MB each keep results/ small
INPAGE_ENCODERS = ("noenc", "rnn")
INPAGE_MAX_BYTES = 2_500_000


def publish_inpage_models(profile: str, dest: Path, source: Path | None = None,
                          datasets: Sequence[str] | None = None,
                          max_bytes: int = INPAGE_MAX_BYTES) -> list[str]:
    """Store the in-page payload (:mod:`attnlib.presentation.inpage_model`) of the seed-0
    FLAN noenc and rnn runs of ``datasets`` (default: the first of the profile's plan)
    beside the published run, when its checkpoint is in the run cache with the published
    weights. Returns the labels of the runs that have one now."""
    from .atomic import atomic_path
    from .presentation.inpage_model import export_inpage_model, payload_json
    from .training.runs import load_run

    source = source or paths.runs_dir()
    wanted = list(datasets) if datasets is not None else (
        [planned_runs(profile)[0][0]] if profile in PLANS else [])
    done = []
    written: list[Path] = []
    for entry in read_manifest(dest):
        if (entry["dataset"] not in wanted or entry["arch"] != "flan" or entry["seed"] != 0
                or entry["encoder"] not in INPAGE_ENCODERS):
            continue
        target = dest / entry["path"] / INPAGE_FILE
        cache = (source / entry["dataset"] / entry["model"]
                 / f"{profile}-seed{entry['seed']}-{entry['hash']}")
        finished = (cache / "model.pt").exists() and (cache / "metrics.json").exists()
        if not target.exists() and finished:
            run = load_run(cache, device="cpu")
            if _same_weights(read_json(dest / entry["path"] / "metrics.json"), run.metrics):
                with atomic_path(target) as tmp:
                    tmp.write_text(payload_json(export_inpage_model(run, max_bytes=max_bytes)),
                                   encoding="utf-8")
                written.append(target)
        if target.exists():
            done.append(f"{entry['dataset']}/{entry['model']}/seed{entry['seed']}")
    seal_manifest(dest, written)
    return done


UNIFORM_TWINS_FILE = "uniform_twins.parquet"
UNIFORM_TWINS_VERSION = "1"
UNIFORM_TWINS_COLUMNS: dict[str, str] = {
    "run": "string", "twin": "string", "dataset": "string", "model": "string",
    "model_seed": "Int64", "instance_id": "Int64", "learned_correct": "Float64",
    "uniform_correct": "Float64"}


def _publish_uniform_twins(profile: str, dest: Path, source: Path) -> list[Path]:
    """Each published dataset x model whose runs have uniform-attention twins finished in
    the run cache gets ``uniform_twins.parquet``: per test document, whether the run and
    its twin got it right (the twins themselves are not published: the comparison is all
    the book reads of them)."""
    from .analysis.followup_claims import accuracy_pairs
    from .layer.followup_results import save_table

    cells: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for entry in learned_entries(read_manifest(dest)):
        config = RunConfig.from_dict({k: v for k, v in read_json(
            dest / entry["path"] / "config.json").items() if k != "hash"})
        twin = replace(config, model=replace(config.model, attention="uniform"))
        twin_dir = source / config.data.dataset / twin.model.name / \
            f"{profile}-seed{config.train.seed}-{twin.hash}"
        if not (twin_dir / "metrics.json").exists() or not (twin_dir / "erasure.parquet").exists():
            continue
        pairs = accuracy_pairs(load_results(dest / entry["path"] / "erasure.parquet"),
                               load_results(twin_dir / "erasure.parquet"))
        cells.setdefault((entry["dataset"], entry["model"]), []).append(
            pairs.assign(twin=twin.hash))
    written = []
    for (dataset, model), frames in cells.items():
        table = pd.concat(frames, ignore_index=True)
        written.append(save_table(table, dest / dataset / model / UNIFORM_TWINS_FILE,
                                  UNIFORM_TWINS_COLUMNS, UNIFORM_TWINS_VERSION,
                                  {"runs": sorted(set(table["run"]))}))
    return written


def _same_weights(published: dict[str, Any], cached: dict[str, Any]) -> bool:
    """Whether a cached run holds the published run's weights: by the checkpoint's SHA-256
    when both record it, else (runs published before checksums) by the exact test and dev
    accuracies and epochs, which a retrained model matches only if trained bit-identically."""
    a, b = published.get("checksums", {}), cached.get("checksums", {})
    if "model.pt" in a and "model.pt" in b:
        return a["model.pt"] == b["model.pt"]
    keys = ("test_accuracy", "dev_accuracy", "epochs", "best_epoch", "n_test")
    return all(published.get(k) == cached.get(k) for k in keys)


def _publish_seed_variance(profile: str, dest: Path, source: Path) -> list[Path]:
    """Each published dataset x model with two or more seeds, all with checkpoints here,
    gets ``seed_variance.parquet`` (computed in the run cache, copied next to its runs)."""
    from .layer.followup_results import SEED_VARIANCE_FILE, ensure_seed_variance, layer_test_config
    from .training.runs import load_run

    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    written: list[Path] = []
    for entry in read_manifest(dest):
        cells.setdefault((entry["dataset"], entry["model"]), []).append(entry)
    for (dataset, model), entries in cells.items():
        dirs = [source / dataset / model / f"{profile}-seed{e['seed']}-{e['hash']}"
                for e in entries]
        if len(dirs) < 2 or not all((d / "model.pt").exists() and (d / "metrics.json").exists()
                                    for d in dirs):
            continue
        cached = source / dataset / model / f"{SEED_VARIANCE_FILE[:-8]}-{profile}.parquet"
        ensure_seed_variance([load_run(d, device="cpu") for d in dirs], cached,
                             layer_test_config(profile))
        written += _copy_if_changed(cached, dest / dataset / model / SEED_VARIANCE_FILE)
    return written


def write_readme(profile: str, dest: Path) -> Path:
    """``dest/README.md``: the published runs, the baselines and the missing planned runs."""
    runs = read_manifest(dest)
    path = dest / "README.md"
    write_text_if_changed(path, _readme(profile, runs) + _baselines_section(dest)
                          + _missing_section(profile, runs) + _size_section(dest))
    return path


def _size_section(dest: Path) -> str:
    """The README's table of what the published files weigh, by dataset and by file."""
    files = [f for f in dest.rglob("*") if f.is_file() and f.name != "README.md"]
    if not files:
        return ""
    by_dataset: dict[str, int] = {}
    by_file: dict[str, int] = {}
    for f in files:
        parts = f.relative_to(dest).parts
        dataset, name = (parts[0], f"`{f.name}`") if len(parts) > 1 else ("(top level)",) * 2
        by_dataset[dataset] = by_dataset.get(dataset, 0) + f.stat().st_size
        by_file[name] = by_file.get(name, 0) + f.stat().st_size
    lines = ["", f"## Size: {sum(by_dataset.values()) / 1e6:.1f} MB", "",
             "Most of it is `erasure.parquet`, one row per test document, test and ranking "
             "(float32, zstd, without the columns "
             f"{', '.join(f'`{c}`' for c in PUBLISHED_OMITTED)}, which the book never reads: "
             "the run cache keeps them): each dataset weighs about what its test set does.",
             ""]
    for title, sizes in (("dataset", by_dataset), ("file", by_file)):
        lines += [f"| {title} | MB |", "|---|---|"]
        ordered = sorted(sizes.items(), key=lambda kv: -kv[1])
        lines += [f"| {k} | {v / 1e6:.1f} |" for k, v in ordered]
        lines.append("")
    return "\n".join(lines)


def _baselines_section(dest: Path) -> str:
    from .training.baseline import read_published_baselines

    baselines = sorted(read_published_baselines(dest).values(), key=lambda b: b.dataset)
    if not baselines:
        return ""
    lines = ["", "## Baselines", "",
             "`baselines.json`: on the same train / dev / test documents as the models, "
             "always predicting the training set's majority class, and tf-idf (words and word "
             "pairs, sublinear tf) with logistic regression, its C picked on dev.", "",
             "| dataset | majority class | tf-idf + logistic regression | C | features |",
             "|---|---|---|---|---|"]
    lines += [f"| {b.dataset} | {100 * b.majority_accuracy:.2f}% | "
              f"{100 * b.tfidf_accuracy:.2f}% | {b.c:g} | {b.n_features:,} |" for b in baselines]
    return "\n".join(lines) + "\n"


def _missing_section(profile: str, runs: list[dict[str, Any]]) -> str:
    """The README's list of planned runs that are not published yet (empty if none)."""
    if profile not in PLANS:
        return ""
    planned = planned_runs(profile)
    missing = missing_runs(profile, run_keys(learned_entries(runs)))
    if not missing:
        return f"\nAll {len(planned)} runs of the `{profile}` plan (`attnlib/plan.py`) are published.\n"
    lines = ["", f"## Not yet published ({len(missing)} of the {len(planned)} planned runs)", "",
             f"`make grid` (`python -m attnlib grid --plan {profile}`) trains and tests them,",
             "resuming from saved training states; then `python -m attnlib publish "
             f"--profile {profile}`.", ""]
    lines += [f"- {run_label(r)}" for r in missing]
    return "\n".join(lines) + "\n"


def _readme(profile: str, runs: list[dict[str, Any]]) -> str:
    lines = [
        f"# Published `{profile}` runs",
        "",
        "Written by `python -m attnlib publish --profile " + profile + "` from the run cache;",
        "`make book PROFILE=" + profile + "` renders the book from these files without training.",
        "Each folder holds the run's `config.json` (with its hash), `metrics.json` (accuracy,",
        "epochs, wall time, provenance), `history.json`, `erasure.parquet` (one row per test",
        "document x test x ranking, schema in `attnlib/layer/results.py`) and `explorer.json`.",
        "Checkpoints are not published. Beside the runs, `baselines.json` holds the majority-class",
        "and tf-idf baselines and `data_summary.json` the data chapter's numbers, so that the",
        "book renders without preprocessing the full datasets.",
        "",
        "| dataset | model | seed | test accuracy | majority class | epochs | train time | "
        "train / test docs | device |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in runs:
        lines.append(
            f"| {e['dataset']} | {e['model']} | {e['seed']} | {100 * e['test_accuracy']:.2f}% "
            f"| {100 * e['majority_baseline']:.2f}% | {e['epochs']} | "
            f"{e['train_seconds'] / 60:.0f} min | {e['n_train']:,} / {e['n_test']:,} | "
            f"{e['device']} |")
    return "\n".join(lines) + "\n"


def publish_baselines(profile: str, dest: Path) -> Path:
    """Compute (or reuse from the cache) the tf-idf and majority baselines of every
    dataset in ``dest``'s manifest and write ``dest/baselines.json``, so that the book
    can show them without preprocessing the full datasets."""
    from .data.corpus import prepare_data
    from .training.baseline import ensure_baseline, write_published_baselines

    datasets = dict.fromkeys(e["dataset"] for e in read_manifest(dest))
    results = []
    for dataset in datasets:
        config = make_run_config(profile, dataset, "flan", "rnn", 0).data
        results.append(ensure_baseline(prepare_data(config)))
        print(f"{dataset}: majority {results[-1].majority_accuracy:.3f}, tf-idf + logistic "
              f"regression {results[-1].tfidf_accuracy:.3f}")
    path = write_published_baselines(dest, results)
    seal_manifest(dest, [path])
    write_readme(profile, dest)
    return path


def publish_data_summaries(profile: str, dest: Path) -> Path:
    """Write ``dest/data_summary.json``: the data chapter's numbers for every dataset in
    ``dest``'s manifest (:mod:`attnlib.analysis.data_summary`), so that the published book renders
    without preprocessing the full datasets."""
    from .analysis.data_summary import summarize_data, write_published_summaries
    from .data.corpus import prepare_data

    datasets = dict.fromkeys(e["dataset"] for e in read_manifest(dest))
    summaries = [summarize_data(prepare_data(make_run_config(profile, d, "flan", "rnn", 0).data))
                 for d in datasets]
    path = write_published_summaries(dest, summaries)
    seal_manifest(dest, [path])
    write_readme(profile, dest)  # its size table
    return path
