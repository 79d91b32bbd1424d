"""The grid of runs (train, the erasure suite, the explorer payload, the follow-up tests),
scheduled by Ray: on one machine a local Ray instance with every core, on a cluster the
Ray instance at ``address`` (``auto`` or ``RAY_ADDRESS``), resources declared per run
(fractions of a GPU allowed). See docs/scale-out.md.

Each run is a Ray task that completes the run in its worker's run cache (resuming a saved
training state if there is one) and returns the run's files; the driver writes them into
its own run cache atomically, so no shared file system is needed. Runs already complete
in the driver's cache are skipped; a task whose worker dies is retried (and resumes from
its last checkpoint when the worker shares the cache, as on one machine); a run that fails
is reported by name at the end, after every other run has been written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from .atomic import atomic_path
from .config import RunConfig
from .data.corpus import prepare_data
from .errors import AttnlibError, ParameterError
from .study import ensure_run
from .training.pipeline import ensure_trained, run_dir_for
from .training.train import MODEL_FILE, TrainingInterrupted

# what a task sends back (the checkpoint only on request: it is the largest file)
RUN_FILES = ("config.json", "vocab.json", "history.json", "erasure.parquet", "explorer.json",
             "layer_tests.parquet", "adversarial.parquet", "input_tests.parquet",
             "jain_wallace.parquet", "metrics.json")  # metrics.json last: a run with it is finished
TRAIN_FILES = ("config.json", "vocab.json", "history.json", "metrics.json")
FAULT_ENV = "ATTNLIB_GRID_FAULT"  # tests only: {"label": ..., "mode": "kill" | "raise", "marker": path}


@dataclass(frozen=True)
class GridOptions:
    """How each run of a grid is done and what it may use.

    Attributes:
        with_tests: also the erasure suite, explorer payload and follow-up tests.
        device: ``auto``, ``cpu`` or ``cuda`` inside each task.
        threads: torch threads per run.
        cpus_per_run, gpus_per_run: the resources Ray reserves per task (fractional GPUs
            let several small models share one).
        keep_checkpoints: also send ``model.pt`` back to the driver.
        progress: one progress bar for the grid.
    """

    with_tests: bool = True
    device: str = "auto"
    threads: int = 1
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    keep_checkpoints: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.threads < 1 or self.cpus_per_run <= 0 or self.gpus_per_run < 0:
            raise ParameterError("threads and cpus_per_run must be positive and gpus_per_run "
                                 f"non-negative, got {self.threads}, {self.cpus_per_run}, "
                                 f"{self.gpus_per_run}")


def complete_run(config: RunConfig, options: GridOptions) -> dict[str, Any]:
    """Train ``config`` (or resume it) in the run cache and, with tests, run the erasure
    suite, the explorer payload and (for the paper's models) the follow-up tests. Returns
    the run's metrics."""
    if not options.with_tests:
        return ensure_trained(config, device=options.device, progress=False).metrics
    record = ensure_run(config, device=options.device, progress=False)
    if record.has_model and config.model.attention == "learned":
        record.layer_tests()  # with the multi-start adversarial search
        record.input_tests()
        if config.data.dataset == "imdb":  # beside Jain & Wallace's published IMDB numbers
            record.jain_wallace()
    return record.metrics


def is_complete(config: RunConfig, options: GridOptions) -> bool:
    """Whether the driver's run cache already holds everything a task would send back."""
    directory = run_dir_for(config)
    needed = TRAIN_FILES if not options.with_tests else (
        TRAIN_FILES + ("erasure.parquet", "explorer.json") + (
            ("layer_tests.parquet", "adversarial.parquet", "input_tests.parquet")
            if config.model.attention == "learned" else ()))
    return all((directory / name).exists() for name in needed)


def _inject_fault(config: RunConfig) -> None:
    """Test hook: kill this worker (after saving a training state) or fail this run."""
    spec = json.loads(os.environ.get(FAULT_ENV, "{}"))
    if spec.get("label") != config.label or Path(spec["marker"]).exists():
        return
    Path(spec["marker"]).write_text("1")
    if spec["mode"] == "raise":
        raise ParameterError(f"{config.label}: injected failure")
    from .training.train import TrainingInterrupted, train_run

    try:
        train_run(config, run_dir_for(config), device="cpu", progress=False,
                  stop_after_steps=2)
    except TrainingInterrupted:
        pass
    os._exit(1)  # the worker dies with a saved state; Ray retries the task


def run_task(config_dict: dict[str, Any], options_dict: dict[str, Any]) -> dict[str, bytes]:
    """One run, inside a Ray worker: complete it in the worker's run cache and return its
    files (:data:`RUN_FILES`, plus the checkpoint if kept)."""
    options = GridOptions(**options_dict)
    torch.set_num_threads(options.threads)
    config = RunConfig.from_dict(config_dict)
    if FAULT_ENV in os.environ:
        _inject_fault(config)
    complete_run(config, options)
    directory = run_dir_for(config)
    names = RUN_FILES + ((MODEL_FILE,) if options.keep_checkpoints else ())
    return {name: (directory / name).read_bytes() for name in names
            if (directory / name).exists()}


def write_run_files(config: RunConfig, files: dict[str, bytes]) -> Path:
    """Write a task's files into the driver's run cache, each atomically and only where it
    differs, ``metrics.json`` last."""
    directory = run_dir_for(config)
    directory.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=lambda n: n == "metrics.json"):
        path = directory / name
        if path.exists() and path.read_bytes() == files[name]:
            continue
        with atomic_path(path) as tmp:
            tmp.write_bytes(files[name])
    return directory


def _runtime_env() -> dict[str, Any]:
    """The driver's attnlib settings (data mirror, run cache, ...) for every worker."""
    names = [n for n in os.environ if n.startswith("ATTNLIB_")]
    return {"env_vars": {n: os.environ[n] for n in names}}


def run_grid(configs: Sequence[RunConfig], options: GridOptions | None = None,
             engine: str = "ray", address: str | None = None) -> list[dict[str, Any]]:
    """Complete every run of ``configs`` not yet complete in the run cache, through Ray
    (``engine="ray"``) or one after the other in this process (``"local"``). Returns the
    metrics of the runs done now; raises :class:`AttnlibError` naming every run that
    failed, after the others are written."""
    options = options or GridOptions()
    if engine not in ("ray", "local"):
        raise ParameterError(f"engine must be 'ray' or 'local', got {engine!r}")
    todo = [c for c in configs if not is_complete(c, options)]
    if len(todo) < len(configs):
        print(f"{len(configs) - len(todo)} of {len(configs)} runs are already in the run cache",
              flush=True)
    if not todo:
        return []
    for data in {c.data: None for c in todo}:  # preprocess each dataset once, here
        prepare_data(data, progress=False)
    done, failures = [], []
    bar = tqdm(total=len(todo), disable=not options.progress, desc="grid", unit="run")
    if engine == "local":
        threads = torch.get_num_threads()
        torch.set_num_threads(options.threads)
        try:
            for config in todo:
                try:
                    done.append(complete_run(config, options))
                except TrainingInterrupted:
                    raise  # Ctrl-C or SIGTERM stops the grid, not just this run
                except AttnlibError as error:
                    failures.append(f"{config.label}: {error}")
                bar.update()
        finally:  # the caller's process keeps its own thread count
            torch.set_num_threads(threads)
    else:
        done, failures = _run_on_ray(todo, options, address, bar)
    bar.close()
    if failures:
        raise AttnlibError(f"{len(failures)} of {len(todo)} runs failed (the other runs are "
                           "in the run cache; fix the cause and run the grid again to do the "
                           "rest):\n" + "\n".join(failures))
    return done


LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def ray_init_arguments(address: str | None) -> dict[str, Any]:
    """``ray.init``'s address and resources: join the cluster at ``address`` (or
    ``$RAY_ADDRESS``) with no resource arguments (a cluster declares its own, and Ray
    refuses them when joining), or else start a new instance of this machine's cores
    (``"local"``: never join a head that ``ray start`` left running)."""
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        return {"address": address}
    return {"address": "local", "num_cpus": os.cpu_count()}


@contextmanager
def loopback_only() -> Iterator[None]:
    """While active, a Ray instance started here binds to 127.0.0.1: Ray resolves
    127.0.0.1 to the machine's network address unless its single-machine mode
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` off) is on. It is read by this process (a
    constant, set too, as ray may be imported already) and by the workers it starts."""
    from ray._private import ray_constants

    env, constant = os.environ.get(LOOPBACK_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[LOOPBACK_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = constant
        if env is None:
            os.environ.pop(LOOPBACK_ENV, None)
        else:
            os.environ[LOOPBACK_ENV] = env


def _run_on_ray(todo: list[RunConfig], options: GridOptions, address: str | None,
                bar: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Start (or join) Ray, run ``todo`` there, and shut down what was started here."""
    import ray  # only the grid needs it

    started_here = not ray.is_initialized()
    arguments = ray_init_arguments(address)
    local = started_here and arguments["address"] == "local"
    with loopback_only() if local else nullcontext():
        if started_here:
            ray.init(**arguments, include_dashboard=False, log_to_driver=False,
                     runtime_env=_runtime_env(), configure_logging=False)
        try:
            return _submit_and_collect(ray, todo, options, bar)
        finally:
            if started_here:
                ray.shutdown()


def _submit_and_collect(ray: Any, todo: list[RunConfig], options: GridOptions, bar: Any
                        ) -> tuple[list[dict[str, Any]], list[str]]:
    task = ray.remote(run_task).options(num_cpus=options.cpus_per_run,
                                        num_gpus=options.gpus_per_run, max_retries=2,
                                        retry_exceptions=False)
    pending = {task.remote(c.to_dict(), asdict(options)): c for c in todo}
    done, failures = [], []
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        config = pending.pop(ref)
        try:
            files = ray.get(ref)
        except Exception as error:  # a run's own error, or a worker lost for good
            cause = getattr(error, "cause", None) or error
            failures.append(f"{config.label}: {cause}".splitlines()[0])
        else:
            write_run_files(config, files)
            done.append(json.loads(files["metrics.json"]))
        bar.update()
    return done, failures
