"""A study: the grid of runs (datasets x architectures x encoders x seeds) that the book
reports, trained and tested through the cached pipeline, or read from published results.

Every notebook calls :func:`make_study` with its papermill parameters and then
:func:`load_study`; the first notebook to need a run trains and tests it, the others reuse
it. Explained in the book's introduction (book/intro.md, "How to re-run this book").
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from . import paths
from .analysis.cells import ResultCells, RunFile
from .atomic import read_json, write_json
from .config import ARCHS, ENCODERS, RunConfig, config_hash, list_profiles, make_run_config
from .data import get_dataset, where_from
from .data.corpus import PreparedData, prepare_data
from .errors import AttnlibError, DataError, ParameterError, UnknownNameError, check_seed
from .inputs.jain_wallace import (
    JW_COLUMNS,
    JW_FILE,
    JW_SCHEMA_VERSION,
    JW_SETTINGS,
    JWSettings,
    ensure_jw_agreement,
)
from .inputs.known_answer import (
    KNOWN_ANSWER_COLUMNS,
    KNOWN_ANSWER_FILE,
    SANITY_COLUMNS,
    SANITY_FILE,
    KnownAnswerConfig,
    ensure_known_answer,
    ensure_sanity_checks,
    known_answer_config,
    load_known_answer,
    load_sanity_checks,
)
from .inputs.results import (
    INPUT_COLUMNS,
    INPUT_TESTS_FILE,
    InputTestConfig,
    ensure_input_tests,
    input_test_config,
    load_input_tests,
)
from .integrity import read_run_json
from .layer.followup_results import (
    LAYER_COLUMNS,
    LAYER_TESTS_FILE,
    SEED_VARIANCE_COLUMNS,
    SEED_VARIANCE_FILE,
    LayerTestConfig,
    ensure_layer_tests,
    ensure_seed_variance,
    layer_test_config,
    load_layer_tests,
    load_seed_variance,
    load_table,
    read_table_meta,
)
from .layer.adversarial_results import (
    ADVERSARIAL_FILE,
    AdversarialTestConfig,
    adversarial_test_config,
    ensure_adversarial_tests,
    load_adversarial_tests,
    with_adversarial,
)
from .layer.results import concat_results, load_results, read_provenance
from .layer.suite import SuiteConfig, ensure_erasure_results, suite_key
from .paths import published_root
from .plan import PLANS, RunKey, missing_runs
from .presentation.explorer import build_explorer_payload
from .publish import (
    UNIFORM_TWINS_COLUMNS,
    UNIFORM_TWINS_FILE,
    UNIFORM_TWINS_VERSION,
    learned_entries,
    read_manifest,
    run_keys,
    study_manifest,
)
from .training.baseline import ensure_baseline, model_checks, read_published_baselines
from .training.convergence import still_rising_at_cap
from .training.pipeline import ensure_trained, run_dir_for
from .training.runs import TrainedRun, load_run
from .training.train import HISTORY_FILE, METRICS_FILE, MODEL_FILE

PROFILE_DATASETS = {
    "smoke": ("imdb", "yahoo-answers-2topic"),
    "paper": ("imdb", "yelp-20k", "amazon-marc-en", "20newsgroups"),
}
RESULTS_FILE, EXPLORER_FILE = "erasure.parquet", "explorer.json"


@dataclass(frozen=True)
class Study:
    """The runs a book build reports (see :func:`make_study`)."""

    profile: str
    datasets: tuple[str, ...]
    archs: tuple[str, ...]
    encoders: tuple[str, ...]
    seeds: tuple[int, ...]
    max_test_docs: int | None = None
    max_train_docs: int | None = None
    epochs: int | None = None
    device: str = "auto"
    runs: tuple[tuple[str, str, str, int], ...] | None = None  # explicit (dataset, arch,
    # encoder, seed) list instead of the full product, e.g. the published paper grid
    recorded: tuple[RunConfig, ...] | None = None  # the published runs' own configs

    def run_configs(self) -> list[RunConfig]:
        if self.recorded is not None:  # published runs are reported as they were trained
            return list(self.recorded)
        grid = self.runs or [(d, a, e, s) for d in self.datasets for a in self.archs
                             for e in self.encoders for s in self.seeds]
        return [make_run_config(self.profile, d, a, e, s, max_train_docs=self.max_train_docs,
                                epochs=self.epochs, max_test_docs=self.max_test_docs)
                for d, a, e, s in grid]

    @property
    def suite(self) -> SuiteConfig:
        return SuiteConfig()

    @property
    def follows_plan(self) -> bool:
        """Whether this is the published default study of a profile with a plan
        (:mod:`attnlib.plan`), rather than a study of explicit parameters."""
        return self.runs is not None and self.profile in PLANS

    def outdated_runs(self) -> list[RunConfig]:
        """Published runs trained with an earlier configuration of their profile (a
        preset or a batching rule changed since): reported as trained, retrained by
        ``make grid``."""
        return [c for c in self.recorded or () if c != make_run_config(
            self.profile, c.data.dataset, c.model.arch, c.model.encoder, c.train.seed)]

    def missing_planned_runs(self) -> list[RunKey]:
        """Runs of the profile's plan that this study lacks, when it :attr:`follows_plan`;
        empty for a study of explicit parameters, which reports exactly what they ask for."""
        return missing_runs(self.profile, self.runs or ()) if self.follows_plan else []

    def data(self, dataset: str) -> PreparedData:
        """The prepared data every run of ``dataset`` in this study uses."""
        configs = [c for c in self.run_configs() if c.data.dataset == dataset]
        if not configs:
            raise UnknownNameError("dataset of this study", dataset, self.datasets)
        return prepare_data(configs[0].data, progress=False)


def _as_tuple(name: str, value: Any, item_type: type, valid: Sequence[Any] | None = None
              ) -> tuple[Any, ...]:
    if isinstance(value, str) and value.lstrip().startswith("["):
        # papermill's `-p datasets '["imdb"]'` passes the list as its JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ParameterError(f"{name} looks like a list but is not valid JSON: {value!r}; "
                                 """write it as '["a", "b"]' or pass -y "name: [a, b]" """
                                 "to papermill") from None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ParameterError(f"{name} must be a non-empty list of {item_type.__name__}, "
                             f"got {value!r}")
    for item in value:
        if not isinstance(item, item_type) or isinstance(item, bool):
            raise ParameterError(f"{name} must contain {item_type.__name__}s, got {item!r}")
        if valid is not None and item not in valid:
            raise UnknownNameError(name.rstrip("s"), item, [str(v) for v in valid])
    return tuple(dict.fromkeys(value))


def _available(defaults: tuple[str, ...]) -> tuple[str, ...]:
    """A profile's default datasets that can be read or downloaded here: a dataset that
    exists only as a mirror copy is skipped, with a note, when no mirror holds it."""
    out = tuple(d for d in defaults if where_from(get_dataset(d)) != "unavailable")
    for d in defaults:
        if d not in out:
            _say(f"note: {d} is only available from a data mirror ({paths.MIRROR_ENV} is "
                 "unset or lacks it); this study leaves it out")
    if not out:
        raise DataError(f"none of {', '.join(defaults)} is available: set {paths.MIRROR_ENV}")
    return out


def make_study(
    profile: str = "smoke",
    datasets: Sequence[str] | str | None = None,
    archs: Sequence[str] | str | None = None,
    encoders: Sequence[str] | str | None = None,
    seeds: Sequence[int] | int | None = None,
    max_test_docs: int | None = None,
    device: str = "auto",
    max_train_docs: int | None = None,
    epochs: int | None = None,
) -> Study:
    """Validate a notebook's parameters into a :class:`Study`.

    Args:
        profile: ``smoke`` (small real subsets, minutes on a CPU) or ``paper`` (full data).
        datasets: dataset ids (default: the profile's datasets).
        archs: subset of ``han``, ``flan`` (default both).
        encoders: subset of ``rnn``, ``conv``, ``noenc`` (default all).
        seeds: training seeds (default ``[0]``).
        max_test_docs: test documents per dataset (default: the profile's).
        device: ``auto``, ``cpu`` or ``cuda``.
        max_train_docs, epochs: overrides of the profile (for quick checks).

    Raises:
        ParameterError / UnknownNameError: a wrong type or an unknown name, with the fix.
    """
    if profile not in list_profiles():
        raise UnknownNameError("profile", profile, list_profiles())
    datasets_t = () if datasets is None else _as_tuple("datasets", datasets, str)
    for d in datasets_t:
        get_dataset(d)
    archs_t = _as_tuple("archs", ARCHS if archs is None else archs, str, ARCHS)
    encoders_t = _as_tuple("encoders", ENCODERS if encoders is None else encoders, str,
                           ENCODERS)
    seeds_t = _as_tuple("seeds", 0 if seeds is None else seeds, int)
    for seed in seeds_t:
        check_seed("seeds", seed)
    for name, value in (("max_test_docs", max_test_docs), ("max_train_docs", max_train_docs),
                        ("epochs", epochs)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 1):
            raise ParameterError(f"{name} must be a positive int or None, got {value!r}")
    if device not in ("auto", "cpu", "cuda"):
        raise ParameterError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    root = published_root(profile)
    published = learned_entries(study_manifest(profile, root)) if root is not None else []
    if published and datasets is None and archs is None and encoders is None and seeds is None:
        # the default study of a profile with published results is exactly those runs,
        # with the configs they were trained with unless an override asks for others
        runs = tuple(run_keys(published))
        plain = max_test_docs is None and max_train_docs is None and epochs is None
        recorded = tuple(_recorded_config(root, e) for e in published) if plain else None
        return Study(profile, tuple(dict.fromkeys(r[0] for r in runs)),
                     tuple(dict.fromkeys(r[1] for r in runs)),
                     tuple(dict.fromkeys(r[2] for r in runs)),
                     tuple(dict.fromkeys(r[3] for r in runs)), max_test_docs, max_train_docs,
                     epochs, device, runs, recorded)
    datasets_t = datasets_t or _available(PROFILE_DATASETS[profile])
    return Study(profile, datasets_t, archs_t, encoders_t, seeds_t, max_test_docs,
                 max_train_docs, epochs, device)


def _recorded_config(root: Path | None, entry: dict[str, Any]) -> RunConfig:
    """The config a published run was trained with (its ``config.json``)."""
    assert root is not None
    path = root / str(entry.get("path", "")) / "config.json"
    raw = dict(read_run_json(path, ("hash", "data", "model", "train"),
                             fix=f"restore it with `git checkout -- {path}`"))
    saved = raw.pop("hash")
    try:
        config = RunConfig.from_dict(raw)
    except (AttnlibError, KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path} does not describe a run ({error}); restore it with `git "
                        "checkout`") from error
    if config.hash != saved or entry.get("hash") != saved:
        raise DataError(f"{path} does not match its hash in the manifest; restore it with "
                        "`git checkout`")
    return config


def published_dir_for(config: RunConfig) -> Path | None:
    root = published_root(config.profile)
    if root is None:
        return None
    return root / config.data.dataset / config.model.name / f"seed{config.train.seed}-{config.hash}"


@dataclass
class RunRecord:
    """One run's metrics, training history, erasure results and explorer payload."""

    config: RunConfig
    directory: Path
    source: str  # "trained here" or "published"
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    @cached_property
    def results(self) -> pd.DataFrame:
        return load_results(self.directory / RESULTS_FILE)

    @cached_property
    def explorer(self) -> dict[str, Any]:
        path = self.directory / EXPLORER_FILE
        return read_run_json(path, ("documents",), fix=f"restore it with `git checkout -- "
                             f"{path}`" if self.source == "published" else None)

    def layer_tests(self, config: LayerTestConfig | None = None, progress: bool = False
                    ) -> pd.DataFrame | None:
        """The follow-up tests at the tested layer (:mod:`attnlib.layer.followup_results`): read
        from this run's folder, computed there when the checkpoint is at hand, ``None``
        for a published run published without them."""
        path = self.directory / LAYER_TESTS_FILE
        config = config or layer_test_config(self.config.profile)
        if self.has_model:
            table = ensure_layer_tests(self.load_model(), path, config, progress)
        elif _computed_with(path, config):
            table = load_layer_tests(path)
        else:
            return None
        adversarial = self.adversarial_tests(progress=progress)
        same_documents = adversarial is not None and set(adversarial["instance_id"]) == set(
            table["instance_id"])
        return with_adversarial(table, adversarial if same_documents else None)

    def adversarial_tests(self, config: AdversarialTestConfig | None = None,
                          progress: bool = False) -> pd.DataFrame | None:
        """The multi-start adversarial search on the layer tests' documents
        (:mod:`attnlib.layer.adversarial_results`), as :meth:`layer_tests`; ``layer_tests``
        carries its JS in ``adv_js`` where it exists (column ``adv_search``)."""
        path = self.directory / ADVERSARIAL_FILE
        config = config or adversarial_test_config(self.config.profile)
        if self.has_model:
            return ensure_adversarial_tests(self.load_model(), path, config, progress)
        return load_adversarial_tests(path) if _computed_with(path, config) else None

    def input_tests(self, config: InputTestConfig | None = None, progress: bool = False
                    ) -> pd.DataFrame | None:
        """The input-erasure tests (:mod:`attnlib.inputs.results`), as :meth:`layer_tests`."""
        path = self.directory / INPUT_TESTS_FILE
        config = config or input_test_config(self.config.profile)
        if self.has_model:
            return ensure_input_tests(self.load_model(), path, config, progress)
        return load_input_tests(path) if _computed_with(path, config) else None

    def jain_wallace(self) -> pd.DataFrame | None:
        """Jain & Wallace's agreement computed their way (FLAN runs only;
        :mod:`attnlib.inputs.jain_wallace`), as :meth:`layer_tests`."""
        if self.config.model.arch != "flan":
            return None
        path = self.directory / JW_FILE
        if self.has_model:
            docs = JW_SETTINGS.get(self.config.profile, JW_SETTINGS["smoke"])
            return ensure_jw_agreement(self.load_model(), path, JWSettings(max_docs=docs))
        return load_table(path, JW_COLUMNS, JW_SCHEMA_VERSION) if path.exists() else None

    def known_answer(self, config: KnownAnswerConfig | None = None) -> pd.DataFrame | None:
        """The known-answer table of a run trained on a shortcut dataset
        (:mod:`attnlib.inputs.known_answer`), as :meth:`layer_tests`."""
        path = self.directory / KNOWN_ANSWER_FILE
        config = config or known_answer_config(self.config.profile)
        if self.has_model:
            return ensure_known_answer(self.load_model(), path, config)
        return load_known_answer(path) if _computed_with(path, config) else None

    def sanity_checks(self, permuted: TrainedRun | None = None,
                      config: KnownAnswerConfig | None = None) -> pd.DataFrame | None:
        """The randomisation checks of this run (:func:`attnlib.inputs.known_answer.
        run_sanity_checks`), with ``permuted`` as its permuted-labels twin when given;
        read from a published run's folder when it has no checkpoint here."""
        path = self.directory / SANITY_FILE
        config = config or known_answer_config(self.config.profile)
        if self.has_model:
            return ensure_sanity_checks(self.load_model(), path, permuted, config)
        return load_sanity_checks(path) if path.exists() else None

    @property
    def has_model(self) -> bool:
        return (self.directory / MODEL_FILE).exists()

    def load_model(self, device: str = "auto") -> TrainedRun:
        if not self.has_model:
            raise DataError(f"{self.config.label} comes from published results without a "
                            "checkpoint; train it with `make book PROFILE=...` on a machine "
                            "that can, or explore it from its precomputed documents")
        return load_run(self.directory, device=device)


def _computed_with(path: Path, config: Any) -> bool:
    """Whether a published per-run table exists and was computed with ``config``'s
    settings (one computed with other settings is left out, not mixed in)."""
    return path.exists() and read_table_meta(path).get("config") == json.loads(
        json.dumps(asdict(config)))


def _problem(directory: Path, key: str, config: RunConfig) -> str | None:
    """What keeps ``directory`` from being a complete record of ``config`` tested with the
    suite ``key`` (None: nothing)."""
    files = ["config.json", METRICS_FILE, HISTORY_FILE, RESULTS_FILE, EXPLORER_FILE]
    missing = [f for f in files if not (directory / f).exists()]
    if missing:
        return f"lacks {', '.join(missing)}"
    try:
        saved = read_run_json(directory / "config.json", fix="")
        read_run_json(directory / METRICS_FILE, ("test_accuracy",), fix="")
        read_run_json(directory / HISTORY_FILE, fix="")
        suite = read_provenance(directory / RESULTS_FILE).get("suite_key")
    except AttnlibError as error:
        return f"is damaged: {error}"
    if not isinstance(saved, dict) or saved.get("hash") != config.hash:
        return "holds another run (its config.json has another hash)"
    if suite != key:
        return ("holds erasure results of an older test suite or engine (suite key "
                f"{suite}, expected {key})")
    return None


def _complete(directory: Path, key: str, config: RunConfig) -> bool:
    """Whether ``directory`` holds every artefact of ``config`` for the suite ``key``."""
    return _problem(directory, key, config) is None


def _record(config: RunConfig, directory: Path, source: str) -> RunRecord:
    return RunRecord(config, directory, source, read_json(directory / METRICS_FILE),
                     read_json(directory / HISTORY_FILE))


def ensure_run(config: RunConfig, suite: SuiteConfig | None = None, device: str = "auto",
               progress: bool = True) -> RunRecord:
    """The record of one run: published (``results/<profile>/``) if present and matching
    its config and test suite, else trained and tested here (each step reused from the
    run cache when already done)."""
    suite = suite or SuiteConfig()
    key = suite_key(config, suite)
    published = published_dir_for(config)
    if published is not None:
        problem = _problem(published, key, config)
        if problem is None:
            return _record(config, published, "published")
        listed = config.hash in {e.get("hash") for e in read_manifest(published.parents[2])}
        if published.exists() or listed:
            raise DataError(
                f"the published run {published} {problem}. Restore it with `git checkout -- "
                f"{published}`, or refresh it with `python -m attnlib grid --plan "
                f"{config.profile}` and `python -m attnlib publish` (this trains it again)")
    directory = run_dir_for(config)
    if not (directory / METRICS_FILE).exists():
        where = "not published and not" if published is not None else "not"
        _say(f"training {config.label} ({config.profile} profile): {where} in the run cache "
             f"{paths.runs_dir()}...")
    started = time.monotonic()
    run = ensure_trained(config, device=device, progress=progress)
    if not _complete(directory, key, config):
        ensure_erasure_results(run, directory / RESULTS_FILE, suite, progress=progress)
        write_json(directory / EXPLORER_FILE, build_explorer_payload(run), compact=True)
        _say(f"{config.label}: test accuracy {run.metrics['test_accuracy']:.3f}, trained and "
             f"tested in {time.monotonic() - started:.0f} s")
    return _record(config, directory, "trained here")


def _say(message: str) -> None:
    print(message, flush=True)


@dataclass
class StudyRecords:
    """All runs of a study, with the tables the chapters draw."""

    study: Study
    runs: list[RunRecord]
    _results: pd.DataFrame | None = field(default=None, init=False, repr=False,
                                          compare=False)

    def metrics_table(self) -> pd.DataFrame:
        rows = []
        for r in self.runs:
            m = r.metrics
            rows.append({
                "dataset": r.config.data.dataset, "model": r.config.model.name,
                "arch": r.config.model.arch, "encoder": r.config.model.encoder,
                "seed": r.config.train.seed, "test_accuracy": m["test_accuracy"],
                "dev_accuracy": m["dev_accuracy"], "majority_baseline": m["majority_baseline"],
                "epochs": m["epochs"], "best_epoch": m["best_epoch"],
                "max_epochs": r.config.train.max_epochs,
                "hit_cap": m["epochs"] >= r.config.train.max_epochs,
                # hit the cap while dev accuracy still rose by more than its noise
                "still_rising_at_cap": still_rising_at_cap(
                    r.history, r.config.train.max_epochs, r.config.train.patience,
                    m["n_dev"]),
                "han_batches": _han_batches(r.config),
                "train_minutes": m["train_seconds"] / 60, "n_train": m["n_train"],
                "n_test": m["n_test"], "device": m["provenance"]["device"],
                "source": r.source, "run": r.config.hash,
            })
        return pd.DataFrame(rows)

    def history_table(self) -> pd.DataFrame:
        rows = [{"dataset": r.config.data.dataset, "model": r.config.model.name,
                 "seed": r.config.train.seed, **h} for r in self.runs for h in r.history]
        return pd.DataFrame(rows)

    def results(self) -> pd.DataFrame:
        """Every run's erasure results in one table, read once and shared by later calls
        (pandas copies on write, so a caller cannot change it for the others). The runs
        do not keep their own copies, and the identifier columns are categoricals: at full
        scale (15 million rows) that cuts the memory a chapter needs by about two thirds."""
        if self._results is None:
            self._results = concat_results(
                r.__dict__["results"] if "results" in r.__dict__  # already read
                else load_results(r.directory / RESULTS_FILE) for r in self.runs)
        return self._results

    def result_cells(self) -> ResultCells:
        """Every run's erasure results, read one dataset x model cell at a time by the
        analysis (:mod:`attnlib.analysis.cells`): what the chapters use, since a chapter
        then needs the memory of its largest cell rather than of the whole study (at
        full scale 15 million rows, several gigabytes in :meth:`results`)."""
        return ResultCells(tuple(
            RunFile(r.config.hash, r.config.data.dataset, r.config.model.name,
                    r.config.model.arch, r.config.model.encoder, r.config.train.seed,
                    r.directory / RESULTS_FILE) for r in self.runs))

    def baselines(self) -> pd.DataFrame:
        """Per dataset: the majority-class and tf-idf + logistic-regression test
        accuracies (:mod:`attnlib.training.baseline`) on the documents the study's models see;
        read from the published ``baselines.json`` when it matches, computed (and
        cached) from the prepared data otherwise."""
        root = published_root(self.study.profile)
        published = read_published_baselines(root) if root is not None else {}
        rows = []
        for dataset in dict.fromkeys(r.config.data.dataset for r in self.runs):
            config = next(r.config.data for r in self.runs if r.config.data.dataset == dataset)
            result = published.get(config_hash(config)) or ensure_baseline(
                prepare_data(config, progress=False))
            rows.append(result.to_dict())
        return pd.DataFrame(rows)

    def model_checks(self) -> pd.DataFrame:
        """Every run beside its baselines, with ``learned`` (:func:`attnlib.training.baseline.
        model_checks`)."""
        return model_checks(self.metrics_table(), self.baselines())

    def weak_runs(self) -> list[str]:
        """Config hashes of the runs that did not clearly learn their task."""
        checks = self.model_checks()
        return checks.loc[~checks["learned"], "run"].tolist()

    def layer_tests(self, progress: bool = True) -> tuple[pd.DataFrame, list[str]]:
        """Every run's layer tests in one table, and the labels of the runs without them
        (published without them and no checkpoint here)."""
        return self._collect("layer tests", lambda r: r.layer_tests(),
                             {**LAYER_COLUMNS, "adv_search": "string"}, progress)

    def adversarial_tests(self, progress: bool = True) -> tuple[pd.DataFrame, list[str]]:
        """Every run's multi-start adversarial search in one table, and the runs without it
        (their ``layer_tests`` rows carry the single-start search's JS)."""
        from .layer.adversarial_results import ADVERSARIAL_COLUMNS

        return self._collect("adversarial search", lambda r: r.adversarial_tests(),
                             ADVERSARIAL_COLUMNS, progress)

    def input_tests(self, progress: bool = True) -> tuple[pd.DataFrame, list[str]]:
        """Every run's input-erasure tests in one table, and the runs without them."""
        return self._collect("input tests", lambda r: r.input_tests(), INPUT_COLUMNS, progress)

    def uniform_twins(self, train: bool = False, progress: bool = False
                      ) -> tuple[pd.DataFrame, list[str]]:
        """Each run beside its twin trained with uniform attention (same data, seed and
        hyperparameters; Wiegreffe & Pinter §3.1): per test document, whether each got it
        right (:func:`attnlib.analysis.followup_claims.accuracy_pairs`). Twins come from the
        run cache (trained there if ``train``) or from the published cell's
        ``uniform_twins.parquet``; the runs left without a twin are listed."""
        from .analysis.followup_claims import accuracy_pairs

        frames, missing = [], []
        root = published_root(self.study.profile)
        for r in self.runs:
            twin = replace(r.config, model=replace(r.config.model, attention="uniform"))
            cached = run_dir_for(twin)
            if train or ((cached / RESULTS_FILE).exists() and (cached / METRICS_FILE).exists()):
                record = ensure_run(twin, self.study.suite, self.study.device, progress)
                frames.append(accuracy_pairs(r.results, record.results))
                continue
            path = None if root is None else (root / r.config.data.dataset
                                              / r.config.model.name / UNIFORM_TWINS_FILE)
            published = (load_table(path, UNIFORM_TWINS_COLUMNS, UNIFORM_TWINS_VERSION)
                         if path is not None and path.exists() else None)
            rows = None if published is None else published[published["run"] == r.config.hash]
            if rows is None or rows.empty:
                missing.append(r.config.label)
            else:
                frames.append(rows.drop(columns="twin").reset_index(drop=True))
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["run", "dataset", "model", "model_seed", "instance_id",
                     "learned_correct", "uniform_correct"])
        return table, missing

    def known_answer(self, progress: bool = True) -> tuple[pd.DataFrame, list[str]]:
        """Every run's known-answer table (runs on shortcut datasets), and the runs
        without one."""
        return self._collect("known answer", lambda r: r.known_answer(), KNOWN_ANSWER_COLUMNS,
                             progress)

    def sanity_checks(self, train_permuted: bool = False, progress: bool = True
                      ) -> tuple[pd.DataFrame, list[str]]:
        """Every run's randomisation checks, with its permuted-labels twin (the same
        config on ``<dataset>+permuted``) where it is in the run cache, trained there if
        ``train_permuted``; also the runs without the checks."""
        def one(r: RunRecord) -> pd.DataFrame | None:
            permuted = None
            if r.has_model:
                twin = permuted_twin(r.config)
                if train_permuted or (run_dir_for(twin) / METRICS_FILE).exists():
                    permuted = ensure_trained(twin, device=self.study.device,
                                              progress=progress)
            return r.sanity_checks(permuted)

        return self._collect("sanity checks", one, SANITY_COLUMNS, progress)

    def jain_wallace(self, dataset: str = "imdb") -> tuple[pd.DataFrame, list[str]]:
        """The FLAN runs of ``dataset`` with Jain & Wallace's agreement computed their way,
        and the FLAN runs without it."""
        flan = StudyRecords(self.study, [r for r in self.runs if r.config.model.arch == "flan"
                                         and r.config.data.dataset == dataset])
        return flan._collect("Jain & Wallace", lambda r: r.jain_wallace(), JW_COLUMNS, False)

    def seed_variance(self) -> tuple[pd.DataFrame, list[str]]:
        """Per dataset x model with two or more seeds: per layer-test document, the mean JS
        between the seeds' attention (:func:`attnlib.layer.followup_results.run_seed_variance`);
        computed when every seed's checkpoint is here, else read from the published cell
        when it was computed from the same runs. Also the cells left without it."""
        frames, missing = [], []
        cells: dict[tuple[str, str], list[RunRecord]] = {}
        for r in self.runs:
            cells.setdefault((r.config.data.dataset, r.config.model.name), []).append(r)
        for (dataset, model), records in cells.items():
            if len(records) < 2:
                continue
            hashes = sorted(r.config.hash for r in records)
            if all(r.has_model for r in records):
                cell = run_dir_for(records[0].config).parent
                frames.append(ensure_seed_variance(
                    [r.load_model() for r in records],
                    cell / f"{SEED_VARIANCE_FILE[:-8]}-{self.study.profile}.parquet",
                    layer_test_config(self.study.profile)))
                continue
            root = published_root(self.study.profile)
            path = None if root is None else root / dataset / model / SEED_VARIANCE_FILE
            if path is not None and path.exists() and read_table_meta(path).get("runs") == hashes:
                frames.append(load_seed_variance(path))
            else:
                missing.append(f"{dataset}/{model}")
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            {c: pd.Series(dtype=t) for c, t in SEED_VARIANCE_COLUMNS.items()})
        return table, missing

    def _collect(self, what: str, get: Callable[[RunRecord], pd.DataFrame | None],
                 columns: dict[str, str], progress: bool) -> tuple[pd.DataFrame, list[str]]:
        frames, missing = [], []
        for r in tqdm(self.runs, disable=not progress, desc=what, unit="run"):
            frame = get(r)
            if frame is None:
                missing.append(r.config.label)
            else:
                frames.append(frame)
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            {c: pd.Series(dtype=t) for c, t in columns.items()})
        return table, missing

    def run(self, dataset: str, model: str, seed: int | None = None) -> RunRecord:
        for r in self.runs:
            if (r.config.data.dataset == dataset and r.config.model.name == model
                    and (seed is None or r.config.train.seed == seed)):
                return r
        raise KeyError(f"no run {dataset}/{model} in this study")


def load_study(study: Study, progress: bool = True) -> StudyRecords:
    """Train, test and collect every run of ``study`` (cached; see :func:`ensure_run`)."""
    return StudyRecords(study, [ensure_run(c, study.suite, study.device, progress)
                                for c in study.run_configs()])


def permuted_twin(config: RunConfig) -> RunConfig:
    """The same run trained on ``<dataset>+permuted`` (training labels permuted): the
    data-randomisation check of Adebayo et al. 2018."""
    return replace(config, data=replace(config.data, dataset=config.data.dataset + "+permuted"))


def unpublished_runs(study: Study) -> list[RunConfig]:
    """The study's runs that are neither published (``results/<profile>/``, complete) nor
    finished in the run cache: what a chapter would have to train."""
    key = {c.hash: suite_key(c, study.suite) for c in study.run_configs()}
    out = []
    for c in study.run_configs():
        published = published_dir_for(c)
        if published is not None and _complete(published, key[c.hash], c):
            continue
        if _complete(run_dir_for(c), key[c.hash], c):
            continue
        out.append(c)
    return out


def _han_batches(config: RunConfig) -> str:
    """How a HAN run's batches were cut: the paper's rule, or the smaller batches of the
    runs published before it (book/models.ipynb, "How HAN is batched")."""
    if config.model.arch != "han":
        return ""
    if config.train.han_batch_cap == "longest_sentence":
        return "paper's rule"
    return "smaller (departure)"
