"""The grid through Ray (a local instance on this machine): the same results as runs done
one after the other, a killed task retried and resumed, cached runs skipped, and a failing
run reported by name without losing the others."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from attnlib import paths
from attnlib.config import make_run_config
from attnlib.errors import AttnlibError
from attnlib.grid import FAULT_ENV, GridOptions, run_grid
from attnlib.layer.results import load_results
from attnlib.training.pipeline import run_dir_for

from .conftest import requires_imdb

pytest.importorskip("ray")
pytestmark = [requires_imdb, pytest.mark.timeout(900)]
TINY = dict(max_train_docs=200, max_test_docs=40, epochs=1)
OPTIONS = GridOptions(device="cpu", progress=False, keep_checkpoints=False)


def _configs():
    return [make_run_config("smoke", "imdb", arch, "noenc", seed, **TINY)
            for arch in ("flan", "han") for seed in (0, 1)]


def _strip(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in ("train_seconds", "provenance",
                                                          "checksums")}


def test_a_ray_grid_equals_the_same_runs_one_after_the_other(tmp_path, monkeypatch):
    configs = _configs()
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "local"))
    threads = torch.get_num_threads()
    run_grid(configs, OPTIONS, engine="local")
    assert torch.get_num_threads() == threads  # one thread per run, not for the caller
    local = {c.label: (json.loads((run_dir_for(c) / "metrics.json").read_text()),
                       load_results(run_dir_for(c) / "erasure.parquet")) for c in configs}

    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "ray"))
    done = run_grid(configs, OPTIONS, engine="ray")
    assert sorted(m["run"] for m in done) == sorted(c.label for c in configs)
    for c in configs:
        metrics = json.loads((run_dir_for(c) / "metrics.json").read_text())
        assert _strip(metrics) == _strip(local[c.label][0]), c.label
        pd.testing.assert_frame_equal(load_results(run_dir_for(c) / "erasure.parquet"),
                                      local[c.label][1], check_like=True)
        assert (run_dir_for(c) / "layer_tests.parquet").exists()

    # a second grid finds everything in the cache and does nothing
    stamps = {c.label: (run_dir_for(c) / "metrics.json").stat().st_mtime_ns for c in configs}
    assert run_grid(configs, OPTIONS, engine="ray") == []
    assert stamps == {c.label: (run_dir_for(c) / "metrics.json").stat().st_mtime_ns
                      for c in configs}


def test_a_killed_task_is_retried_and_resumes(tmp_path, monkeypatch):
    config = make_run_config("smoke", "imdb", "flan", "noenc", 0, **{**TINY, "epochs": 2})
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "reference"))
    run_grid([config], GridOptions(device="cpu", progress=False, with_tests=False),
             engine="local")
    reference = json.loads((run_dir_for(config) / "metrics.json").read_text())

    marker = tmp_path / "killed-once"
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "ray"))
    monkeypatch.setenv(FAULT_ENV, json.dumps({"label": config.label, "mode": "kill",
                                              "marker": str(marker)}))
    run_grid([config], GridOptions(device="cpu", progress=False, with_tests=False))
    assert marker.exists()  # the first attempt died after saving a training state
    metrics = json.loads((run_dir_for(config) / "metrics.json").read_text())
    assert _strip(metrics) == _strip(reference)


def test_a_failing_run_is_named_and_the_others_are_kept(tmp_path, monkeypatch):
    configs = _configs()[:2]
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "ray"))
    monkeypatch.setenv(FAULT_ENV, json.dumps({"label": configs[1].label, "mode": "raise",
                                              "marker": str(tmp_path / "m")}))
    failed = rf"(?s)1 of 2 runs failed.*{configs[1].label}.*injected"
    with pytest.raises(AttnlibError, match=failed):
        run_grid(configs, GridOptions(device="cpu", progress=False, with_tests=False))
    assert (run_dir_for(configs[0]) / "metrics.json").exists()
    assert not (run_dir_for(configs[1]) / "metrics.json").exists()
    with pytest.raises(AttnlibError, match="engine must be"):
        run_grid(configs, OPTIONS, engine="dask")


def test_an_interrupted_local_grid_stops_instead_of_going_on(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM in one run (TrainingInterrupted) stops the whole local grid: the
    next run is not started, and the run's saved state is left to resume."""
    import attnlib.grid as grid_module
    from attnlib.training.train import TrainingInterrupted

    configs = _configs()[:2]
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "local"))
    started = []

    def interrupted(config, options):
        started.append(config.label)
        raise TrainingInterrupted("stopped at epoch 1, batch 3")

    monkeypatch.setattr(grid_module, "complete_run", interrupted)
    with pytest.raises(TrainingInterrupted):
        run_grid(configs, GridOptions(device="cpu", progress=False), engine="local")
    assert started == [configs[0].label]


def test_joining_a_cluster_passes_no_resources_and_a_local_start_joins_nothing(monkeypatch):
    from attnlib.grid import ray_init_arguments

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert ray_init_arguments("auto") == {"address": "auto"}  # Ray refuses num_cpus there
    assert ray_init_arguments("10.0.0.5:6379") == {"address": "10.0.0.5:6379"}
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6380")
    assert ray_init_arguments(None) == {"address": "127.0.0.1:6380"}
    monkeypatch.delenv("RAY_ADDRESS")
    local = ray_init_arguments(None)
    assert local["address"] == "local" and local["num_cpus"] >= 1


def test_a_grid_beside_a_running_head_starts_its_own_ray_on_loopback(tmp_path, monkeypatch):
    """A head left by `ray start` (here on loopback, one CPU) is not joined: the grid starts
    its own instance with every core, and every node it sees listens on 127.0.0.1 only."""
    import os
    import shutil
    import subprocess

    import attnlib.grid as grid_module

    ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, grid_module.LOOPBACK_ENV: "0"}
    subprocess.run([ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1",
                    "--num-cpus", "1", "--disable-usage-stats", "--include-dashboard=false"],
                   check=True, env=env, capture_output=True, timeout=120)
    seen: dict[str, object] = {}
    collect = grid_module._submit_and_collect

    def recording(ray, *args):
        seen["nodes"] = [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]]
        seen["cpus"] = ray.cluster_resources().get("CPU")
        return collect(ray, *args)

    monkeypatch.setattr(grid_module, "_submit_and_collect", recording)
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "ray"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = make_run_config("smoke", "imdb", "flan", "noenc", 0, **TINY)
    try:
        done = run_grid([config], GridOptions(device="cpu", progress=False, with_tests=False))
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)
    assert [m["run"] for m in done] == [config.label]
    assert seen["nodes"] == ["127.0.0.1"] and seen["cpus"] == os.cpu_count()
    assert grid_module.LOOPBACK_ENV not in os.environ  # set only while the grid ran
