"""Publishing runs without checkpoints, and building a study from published results
without training anything."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

from attnlib import paths
from attnlib import study as study_module
from attnlib.atomic import write_json
from attnlib.plan import missing_runs, planned_runs
from attnlib.publish import (
    PUBLISHED_FILES,
    PUBLISHED_OMITTED,
    publish_adversarial_tests,
    publish_followup_tests,
    publish_inpage_models,
    publish_runs,
    read_manifest,
    run_keys,
)
from attnlib.study import load_study, make_study

from .conftest import requires_imdb

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(datasets=["imdb"], archs=["flan"], encoders=["noenc"], max_train_docs=200,
            epochs=1, max_test_docs=60, device="cpu")


@requires_imdb
def test_published_runs_rebuild_the_study_without_training(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "runs"))
    trained = load_study(make_study("smoke", **TINY), progress=False)
    dest = tmp_path / "results" / "smoke"
    assert publish_runs("smoke", dest) == []  # overridden configs are not the profile's own
    runs = publish_runs("smoke", dest, configs=make_study("smoke", **TINY).run_configs())
    assert len(runs) == 1 and runs[0]["model"] == "FLANnoenc"
    published = dest / runs[0]["path"]
    assert sorted(p.name for p in published.iterdir()) == sorted(PUBLISHED_FILES)
    assert not list(dest.rglob("*.pt"))  # no checkpoints
    readme = (dest / "README.md").read_text()
    assert "FLANnoenc" in readme
    weight = sum(f.stat().st_size for f in dest.rglob("*")
                 if f.is_file() and f.name != "README.md")
    assert f"## Size: {weight / 1e6:.1f} MB" in readme  # what the folder weighs, by dataset
    assert "| imdb |" in readme and "| `erasure.parquet` |" in readme  # and by file
    assert read_manifest(dest) == runs
    # the follow-up tests travel with a published run whose checkpoint is at hand
    pairs, _ = trained.uniform_twins(train=True)  # its uniform-attention twin, in the cache
    assert publish_followup_tests("smoke", dest, source=tmp_path / "runs", progress=False) == 1
    layer, inputs = trained.runs[0].layer_tests(), trained.runs[0].input_tests()
    assert (layer["adv_search"] == "multi-start").all()  # the stronger search, computed here
    assert publish_adversarial_tests("smoke", dest, source=tmp_path / "runs",
                                     progress=False) == ["imdb/FLANnoenc/seed0"]
    # a retrained run (same dataset, model and seed, new hash) replaces the one published
    stale = dict(runs[0], hash="000000000000", path=runs[0]["path"][:-12] + "000000000000")
    shutil.copytree(published, dest / stale["path"])
    write_json(dest / "manifest.json", {"profile": "smoke", "runs": [stale]})
    assert publish_runs("smoke", dest, configs=make_study("smoke", **TINY).run_configs()) == runs
    assert not (dest / stale["path"]).exists()
    # the explore chapter's in-page model travels too (smoke has no plan: name the dataset)
    assert publish_inpage_models("smoke", dest, source=tmp_path / "runs",
                                 datasets=["imdb"]) == ["imdb/FLANnoenc/seed0"]
    assert (published / "inpage_model.json").stat().st_size > 10_000
    # published again without a checkpoint at hand, a run keeps what was computed from
    # it; a run folder the manifest does not list is removed
    stray = dest / "imdb" / "FLANnoenc" / "seed0-abcdefabcdef"
    stray.mkdir()
    (stray / "explorer.json").write_text("{}")
    for checkpoint in (tmp_path / "runs").rglob("model.pt"):
        checkpoint.unlink()
    assert publish_runs("smoke", dest, configs=make_study("smoke", **TINY).run_configs()) == runs
    assert (published / "inpage_model.json").exists() and not stray.exists()

    # a fresh machine: empty run cache, training forbidden, results read from dest
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "empty"))
    monkeypatch.setenv("ATTNLIB_NO_TRAINING", "1")
    monkeypatch.setattr(study_module, "published_root", lambda profile: tmp_path / "results" / profile)
    again = load_study(make_study("smoke", **TINY), progress=False)
    assert again.runs[0].source == "published"
    assert again.metrics_table()["test_accuracy"].tolist() == \
        trained.metrics_table()["test_accuracy"].tolist()
    assert len(again.results()) == len(trained.results())
    kept = [c for c in again.results().columns if c not in PUBLISHED_OMITTED]
    pd.testing.assert_frame_equal(again.results()[kept], trained.results()[kept])
    assert again.results()[list(PUBLISHED_OMITTED)].isna().all().all()
    pd.testing.assert_frame_equal(again.runs[0].layer_tests(), layer)
    pd.testing.assert_frame_equal(again.runs[0].input_tests(), inputs)
    from attnlib.presentation.inpage_explorer import inpage_section
    note, widget = inpage_section(again.runs)  # no checkpoint: the stored payload runs
    assert note == "" and "attnlib-inpage" in widget
    # a published table computed with other settings is left out, not mixed in
    from attnlib.layer.followup_results import LAYER_COLUMNS, LAYER_SCHEMA_VERSION, save_table
    layer_file = dest / runs[0]["path"] / "layer_tests.parquet"
    save_table(layer, layer_file, LAYER_COLUMNS, LAYER_SCHEMA_VERSION,
               {"config": {"max_test_docs": 1}})
    from attnlib.publish import seal_manifest

    seal_manifest(dest, [layer_file])  # published so (its checksum recorded)
    assert again.runs[0].layer_tests() is None
    # the twin is not published as a run, only the per-document comparison
    assert not [e for e in read_manifest(dest) if "uniform" in e["model"]]
    published_pairs, without = again.uniform_twins()
    assert without == [] and len(published_pairs) == len(pairs) > 0
    assert published_pairs["uniform_correct"].tolist() == pairs["uniform_correct"].tolist()
    with pytest.raises(Exception, match="forbids training"):
        load_study(make_study("smoke", **{**TINY, "encoders": ["conv"]}), progress=False)


def test_committed_paper_results_build_the_conclusions_without_training(tmp_path):
    """The published book: the paper profile renders from results/paper/ alone."""
    manifest = ROOT / "results" / "paper" / "manifest.json"
    assert manifest.exists(), "results/paper/ must hold the published paper grid"
    runs = json.loads(manifest.read_text())["runs"]
    assert {r["dataset"] for r in runs} >= {"imdb"}
    env = {"ATTNLIB_NO_TRAINING": "1", "ATTNLIB_RUNS": str(tmp_path / "empty-run-cache")}
    import os

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pm.execute_notebook(str(ROOT / "book" / "conclusions.ipynb"),
                            str(tmp_path / "conclusions.ipynb"), parameters={"profile": "paper"},
                            cwd=str(ROOT / "book"), kernel_name="python3", progress_bar=False,
                            execution_timeout=900)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert not (tmp_path / "empty-run-cache").exists()  # nothing was trained
    # the limits section says how much of the planned grid the published book covers
    executed = (tmp_path / "conclusions.ipynb").read_text()
    missing = missing_runs("paper", run_keys(runs))
    expected = (f"reports {len(runs)} of the {len(planned_runs('paper'))} runs planned"
                if missing else f"reports all {len(runs)} runs")
    assert expected in executed


def _has_mirror(dataset: str) -> bool:
    mirror = paths.mirror_dir()
    return mirror is not None and (mirror / dataset / "train.jsonl.gz").exists()


@pytest.mark.skipif(not _has_mirror("yahoo-answers-2topic"), reason="needs the mirror")
def test_published_data_summaries_and_baselines_match_the_data(monkeypatch, tmp_path):
    """The published book shows data numbers and baselines it did not compute: recompute
    them for the smallest published dataset and compare."""
    from attnlib.analysis.data_summary import read_published_summaries, summarize_data
    from attnlib.config import config_hash, make_run_config
    from attnlib.data.corpus import prepare_data
    from attnlib.training.baseline import read_published_baselines, tfidf_baseline

    monkeypatch.setenv(paths.DATA_HOME_ENV, str(tmp_path / "home"))
    root = ROOT / "results" / "paper"
    config = make_run_config("paper", "yahoo-answers-2topic", "flan", "rnn", 0).data
    data = prepare_data(config, progress=False)
    published = read_published_summaries(root)[config_hash(config)]
    computed = json.loads(json.dumps(summarize_data(data)))  # as JSON stores it
    assert computed == {k: v for k, v in published.items()}
    baseline = read_published_baselines(root)[config_hash(config)]
    assert tfidf_baseline(data) == baseline


def test_a_retrained_cell_is_published_only_when_all_its_seeds_are_ready(tmp_path):
    """The plan wants seeds 0-2 of every cell: two of three retrained seeds wait; a seed
    already published with the same configuration counts as ready."""
    from attnlib.config import make_run_config
    from attnlib.publish import _whole_cells

    def run_dir(seed: int) -> Path:
        config = make_run_config("paper", "yahoo-answers-2topic", "flan", "rnn", seed)
        directory = tmp_path / "runs" / f"seed{seed}"
        directory.mkdir(parents=True)
        write_json(directory / "config.json", {"hash": config.hash, **config.to_dict()})
        return directory

    two = [run_dir(0), run_dir(1)]
    dest = tmp_path / "results"
    dest.mkdir()
    assert _whole_cells("paper", two, dest) == []
    config = make_run_config("paper", "yahoo-answers-2topic", "flan", "rnn", 2)
    write_json(dest / "manifest.json", {"profile": "paper", "runs": [{
        "dataset": "yahoo-answers-2topic", "arch": "flan", "encoder": "rnn",
        "model": "FLANrnn", "seed": 2, "hash": config.hash, "path": "x"}]})
    assert sorted(_whole_cells("paper", two, dest)) == sorted(two)


PAPER_BUDGET_MB = 150  # results/paper/: three seeds of every cell, losslessly (issue 27)


def test_the_published_paper_results_stay_within_their_size_budget():
    root = Path(__file__).resolve().parents[1] / "results" / "paper"
    if not root.exists():
        pytest.skip("no published paper results in this checkout")
    weight = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    assert weight / 1e6 <= PAPER_BUDGET_MB, (
        f"results/paper/ weighs {weight / 1e6:.1f} MB, over its budget of {PAPER_BUDGET_MB} MB: "
        "store float32 where the value was computed in float32, drop columns the book never "
        "reads (layer.results.OMITTABLE), or raise the budget in docs/benchmarks.md")
