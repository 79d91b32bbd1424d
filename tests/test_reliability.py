"""Reliability under interruption, damage and bad input (issue 12): each test reproduces
one way an unlucky user breaks a run, and checks for a resumed bit-identical model or one
clear error line that names the file and the fix."""

from __future__ import annotations

import copy
import dataclasses
import gzip
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from attnlib import paths
from attnlib.cli import main
from attnlib.config import RunConfig, make_run_config
from attnlib.data.corpus import EncodedCorpus
from attnlib.errors import DataError, ParameterError, ResultSchemaError
from attnlib.integrity import RunDamagedError, RunLockedError, run_lock
from attnlib.layer.results import load_results, save_results
from attnlib.layer.suite import SuiteConfig, ensure_erasure_results, run_erasure_tests
from attnlib.publish import read_manifest, run_keys
from attnlib.training.runs import load_run
from attnlib.training.train import STATE_FILE, TrainingInterrupted, train_run

from .conftest import requires_imdb

ROOT = Path(__file__).resolve().parents[1]
SMALL_SUITE = SuiteConfig(max_test_docs=12, random_seeds=1)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy_run(run, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run.directory, target, ignore=shutil.ignore_patterns(".lock"))
    return target


# --- 1. Ctrl-C stops at a batch boundary and resumes bit-identically ---------------------

def _train_with_sigint(config, out: Path, monkeypatch, interrupt_at: list[int]) -> int:
    """Train ``config`` into ``out``, sending SIGINT from inside the model's forward pass
    at the given training-forward calls (mid-batch); resume after each stop. Returns the
    number of interruptions that stopped training."""
    import attnlib.training.train as train_module

    original = train_module.build_model
    calls = {"n": 0}

    def build_with_hook(*args, **kwargs):
        model = original(*args, **kwargs)

        def hook(module, inputs, output):
            if module.training:
                calls["n"] += 1
                if calls["n"] in interrupt_at:
                    os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the batch

        model.register_forward_hook(hook)
        return model

    monkeypatch.setattr(train_module, "build_model", build_with_hook)
    stops = 0
    while True:
        try:
            train_run(config, out, device="cpu", progress=False)
            return stops
        except TrainingInterrupted:
            stops += 1
            assert (out / STATE_FILE).exists()


@requires_imdb
def test_sigint_mid_batch_resumes_bit_identically(tmp_path, monkeypatch):
    config = make_run_config("smoke", "imdb", "han", "rnn", seed=4, max_train_docs=150,
                             max_test_docs=30, epochs=2)
    plain = tmp_path / "plain"
    assert _train_with_sigint(config, plain, monkeypatch, []) == 0
    interrupted = tmp_path / "interrupted"
    # the first batch, a middle one, and the last batch of the second epoch
    assert _train_with_sigint(config, interrupted, monkeypatch, [1, 3, 5]) == 3
    a = torch.load(plain / "model.pt", weights_only=True)
    b = torch.load(interrupted / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (plain, interrupted))
    assert ma["test_accuracy"] == mb["test_accuracy"] and ma["epochs"] == mb["epochs"]
    assert [h["dev_accuracy"] for h in json.loads((plain / "history.json").read_text())] == \
        [h["dev_accuracy"] for h in json.loads((interrupted / "history.json").read_text())]
    assert not (interrupted / STATE_FILE).exists()


# --- 2 and 3. damaged run files are detected, with one line naming the file ---------------

def _flip_bytes(path: Path, n: int = 64) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + n] = bytes(b ^ 0xFF for b in data[middle:middle + n])
    path.write_bytes(bytes(data))


def test_a_damaged_model_file_is_refused(small_imdb_run, tmp_path, capsys):
    run_dir = _copy_run(small_imdb_run, tmp_path)
    _flip_bytes(run_dir / "model.pt")
    with pytest.raises(RunDamagedError, match=r"model\.pt does not match the checksum"):
        load_run(run_dir, device="cpu")
    code = main(["test", str(run_dir), "--out", str(tmp_path / "e.parquet"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "model.pt" in err and "delete" in err
    assert not (tmp_path / "e.parquet").exists()


@pytest.mark.parametrize("damage,match", [
    (lambda d: (d / "model.pt").write_bytes(b""), r"model\.pt"),
    (lambda d: (d / "model.pt").unlink(), r"model\.pt is missing"),
    (lambda d: (d / "config.json").write_text("{not json"), r"config\.json"),
    (lambda d: (d / "metrics.json").write_text("[1, 2"), r"metrics\.json is not valid JSON"),
    (lambda d: (d / "metrics.json").write_text("{}"), r"metrics\.json lacks the keys"),
    (lambda d: (d / "vocab.json").write_text('["<pad>"]'), r"vocab\.json"),
])
def test_broken_run_files_give_one_clear_error(small_imdb_run, tmp_path, damage, match):
    run_dir = _copy_run(small_imdb_run, tmp_path)
    damage(run_dir)
    with pytest.raises(DataError, match=match) as error:
        load_run(run_dir, device="cpu")
    assert "delete it and train the run again" in str(error.value) or "train" in str(error.value)


def test_a_truncated_model_of_a_run_without_checksums_is_reported(small_imdb_run, tmp_path):
    run_dir = _copy_run(small_imdb_run, tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics.pop("checksums")  # a run written before checksums were recorded
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    data = (run_dir / "model.pt").read_bytes()
    (run_dir / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunDamagedError, match=r"model\.pt cannot be read"):
        load_run(run_dir, device="cpu")


def test_a_damaged_training_state_is_reported_not_loaded(small_imdb_run, tmp_path):
    out = tmp_path / "resume"
    out.mkdir()
    shutil.copy(small_imdb_run.directory / "config.json", out / "config.json")
    (out / STATE_FILE).write_bytes(b"\x80\x04garbage")
    with pytest.raises(RunDamagedError, match=r"train_state\.pt cannot be read"):
        train_run(small_imdb_run.config, out, device="cpu", progress=False,
                  data=small_imdb_run.data)


# --- 4. seeds and study parameters are validated before anything is written -------------

@pytest.mark.parametrize("seed", [-1, 2**63])
def test_impossible_seeds_are_refused_up_front(seed, tmp_path, capsys):
    with pytest.raises(ParameterError, match="seed"):
        make_run_config("smoke", "imdb", "flan", "rnn", seed=seed)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:  # argparse refuses it with its usage line
        main(["train", "--dataset", "imdb", "--arch", "flan", "--encoder", "rnn",
              "--seed", str(seed), "--out", str(out)])
    assert stop.value.code == 2 and not out.exists()
    assert "a seed must be between 0 and 2**63 - 1" in capsys.readouterr().err
    from attnlib.study import make_study

    with pytest.raises(ParameterError, match="seeds"):
        make_study("smoke", datasets=["imdb"], seeds=[seed])


def test_an_empty_encoder_list_is_an_error_not_all():
    from attnlib.study import make_study

    with pytest.raises(ParameterError, match="encoders must be a non-empty list"):
        make_study("smoke", datasets=["imdb"], encoders=[])
    with pytest.raises(ParameterError, match="device"):
        make_study("smoke", datasets=["imdb"], device="gpu")


# --- 5. file-system errors are one line, before the work ---------------------------------

def test_a_bad_output_path_fails_before_the_erasure_run(small_imdb_run, tmp_path, capsys,
                                                        monkeypatch):
    import attnlib.layer.suite as suite_module

    def must_not_run(*args, **kwargs):
        raise AssertionError("the erasure tests ran before the output path was checked")

    monkeypatch.setattr(suite_module, "run_erasure_tests", must_not_run)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out, words in ((blocker / "e.parquet", "is a file, not a folder"),
                       (tmp_path, "is a folder")):
        code = main(["test", str(small_imdb_run.directory), "--out", str(out), "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and words in err, err
    code = main(["train", "--dataset", "imdb", "--arch", "flan", "--encoder", "rnn",
                 "--out", str(blocker / "run")])
    assert code == 2 and "is a file, not a folder" in capsys.readouterr().err


def test_piping_into_head_ends_quietly():
    command = f"{shlex.quote(sys.executable)} -m attnlib data list | head -1"
    done = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.startswith("id") and done.stderr == ""


# --- 6. damaged downloads and mirrors ----------------------------------------------------

def _isolated_data(tmp_path: Path, monkeypatch, mirror: Path | None = None) -> Path:
    monkeypatch.setenv(paths.DATA_HOME_ENV, str(tmp_path / "home"))
    if mirror is None:
        monkeypatch.delenv(paths.MIRROR_ENV, raising=False)
    else:
        monkeypatch.setenv(paths.MIRROR_ENV, str(mirror))
    raw = tmp_path / "home" / "raw" / "imdb"
    raw.mkdir(parents=True)
    return raw


def test_a_download_cache_with_a_bad_gzip_stream_is_a_clear_error(tmp_path, monkeypatch):
    from attnlib.data import load_documents

    raw = _isolated_data(tmp_path, monkeypatch)
    good = gzip.compress(b'{"id": "a", "text": "fine", "label": 1}\n' * 200)
    bad = bytearray(good)
    bad[40:80] = b"\x00" * 40  # corrupt the deflate stream
    (raw / "train.jsonl.gz").write_bytes(bytes(bad))
    (raw / "test.jsonl.gz").write_bytes(gzip.compress(b"[1, 2]\n"))
    with pytest.raises(DataError, match=r"train\.jsonl\.gz is damaged"):
        load_documents("imdb", "train")
    with pytest.raises(DataError, match="is JSON but not an object"):
        load_documents("imdb", "test")


def test_a_mirror_file_with_a_bad_checksum_is_not_listed_as_mirror(tmp_path, monkeypatch,
                                                                   capsys):
    mirror = tmp_path / "mirror"
    (mirror / "amazon-marc-en").mkdir(parents=True)
    for split in ("train", "test"):
        (mirror / "amazon-marc-en" / f"{split}.jsonl.gz").write_bytes(gzip.compress(b"{}\n"))
    _isolated_data(tmp_path, monkeypatch, mirror)
    assert main(["data", "list"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines()
           if line.startswith("amazon-marc-en")][0]
    assert "damaged-mirror" in row


# --- 7. erasure results are reused only for the same model weights ----------------------

def test_results_of_other_weights_are_not_reused(small_imdb_run, tmp_path, monkeypatch):
    import attnlib.layer.suite as suite_module

    out = tmp_path / "e.parquet"
    ensure_erasure_results(small_imdb_run, out, SMALL_SUITE, progress=False)
    first = load_results(out)
    run_dir = _copy_run(small_imdb_run, tmp_path)
    state = torch.load(run_dir / "model.pt", weights_only=True)
    state["output_layer.bias"] = state["output_layer.bias"] + torch.tensor([3.0, -3.0])
    torch.save(state, run_dir / "model.pt")  # a retrain that gave other weights...
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["checksums"]["model.pt"] = _sha(run_dir / "model.pt")  # ...recorded as such
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    retrained = load_run(run_dir, device="cpu")
    calls = []
    original = suite_module.run_erasure_tests
    monkeypatch.setattr(suite_module, "run_erasure_tests",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    second = ensure_erasure_results(retrained, out, SMALL_SUITE, progress=False)
    assert calls == [1]
    assert not second["pred"].equals(first["pred"]) or \
        not second["first_flip_k"].equals(first["first_flip_k"])
    ensure_erasure_results(retrained, out, SMALL_SUITE, progress=False)
    assert calls == [1]  # the same weights reuse the file


# --- 8. a run folder is locked while it trains --------------------------------------------

def test_a_locked_run_folder_is_not_trained_twice(small_imdb_run, tmp_path):
    out = tmp_path / "shared"
    with run_lock(out):
        with pytest.raises(RunLockedError, match="in use by another process"):
            train_run(small_imdb_run.config, out, device="cpu", progress=False,
                      data=small_imdb_run.data, lock_timeout_s=0.3)


def test_a_waiting_training_finds_the_run_finished_and_writes_nothing(small_imdb_run,
                                                                      tmp_path):
    out = tmp_path / "shared"
    result: dict[str, object] = {}
    with run_lock(out):
        worker = threading.Thread(target=lambda: result.update(train_run(
            small_imdb_run.config, out, device="cpu", progress=False,
            data=small_imdb_run.data)))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive()  # waiting for the lock
        for f in small_imdb_run.directory.iterdir():  # the other process finishes
            if f.name != ".lock":
                shutil.copy(f, out / f.name)
    worker.join(60)
    assert result["test_accuracy"] == small_imdb_run.metrics["test_accuracy"]
    assert not (out / STATE_FILE).exists()


# --- 9. damaged published results --------------------------------------------------------

def _published_run() -> Path:
    manifest = read_manifest(ROOT / "results" / "paper")
    entry = min(manifest, key=lambda e: e["n_test"])
    return ROOT / "results" / "paper" / entry["path"]


def test_damaged_result_files_give_clear_errors(tmp_path):
    source = _published_run() / "erasure.parquet"
    truncated = tmp_path / "t.parquet"
    truncated.write_bytes(source.read_bytes()[:5000])
    with pytest.raises(ResultSchemaError, match="is damaged or not a Parquet file"):
        load_results(truncated)
    table = pq.read_table(source)
    for column, new_type in (("first_flip_k", pa.float64()), ("delta_js", pa.string())):
        altered = table.set_column(table.schema.get_field_index(column), column,
                                   table.column(column).cast(new_type))
        path = tmp_path / f"{column}.parquet"
        pq.write_table(altered, path)
        with pytest.raises(ResultSchemaError, match=f"{column} is stored as"):
            load_results(path)


def test_a_damaged_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "manifest.json").write_text('{"runs": [')
    with pytest.raises(DataError, match="manifest.json is damaged"):
        read_manifest(tmp_path)
    with pytest.raises(DataError, match="lacks a valid 'seed'"):
        run_keys([{"dataset": "imdb", "arch": "han", "encoder": "rnn", "path": "x"}])


def test_a_damaged_published_run_is_reported_not_retrained(tmp_path, monkeypatch):
    import attnlib.study as study_module

    source = _published_run()
    root = tmp_path / "results" / "paper"
    target = root / source.relative_to(ROOT / "results" / "paper")
    shutil.copytree(source, target)
    entry = [e for e in read_manifest(ROOT / "results" / "paper")
             if e["path"] == str(source.relative_to(ROOT / "results" / "paper"))][0]
    (root / "manifest.json").write_text(json.dumps({"profile": "paper", "runs": [entry]}))
    (target / "erasure.parquet").write_bytes(b"PAR1 broken")
    monkeypatch.setattr(study_module, "published_root", lambda profile: root)
    monkeypatch.setenv("ATTNLIB_NO_TRAINING", "1")  # a retrain would be a paper-scale run
    # the config the run was trained with (a preset may have changed since)
    recorded = json.loads((source / "config.json").read_text())
    recorded.pop("hash")
    config = RunConfig.from_dict(recorded)
    with pytest.raises(DataError, match=r"published run .* is damaged.*git checkout"):
        study_module.ensure_run(config, progress=False)
    shutil.rmtree(target)  # a folder listed in the manifest but gone
    with pytest.raises(DataError, match="lacks config.json"):
        study_module.ensure_run(config, progress=False)


# --- 10. the documented papermill command works ------------------------------------------

def test_list_parameters_accept_their_json_text():
    from attnlib.study import make_study

    study = make_study("smoke", datasets='["imdb"]', encoders='["rnn", "noenc"]',
                       seeds="[0, 1]")
    assert (study.datasets, study.encoders, study.seeds) == (("imdb",), ("rnn", "noenc"),
                                                             (0, 1))
    with pytest.raises(ParameterError, match="not valid JSON"):
        make_study("smoke", datasets='["imdb"')


@requires_imdb
@pytest.mark.book
def test_the_readme_papermill_command_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("papermill "))
    argv = shlex.split(line.split("#")[0])
    argv[2] = str(tmp_path / "out.ipynb")
    argv += ["-p", "max_train_docs", "200", "-p", "epochs", "1", "-p", "max_test_docs", "40",
             "-p", "archs", '["flan"]']
    done = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "amazon-marc-en" in (tmp_path / "out.ipynb").read_text()


# --- 11. identical runs give byte-identical result files ---------------------------------

def test_identical_erasure_runs_write_identical_bytes(small_imdb_run, tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    ensure_erasure_results(small_imdb_run, a, SMALL_SUITE, progress=False)
    ensure_erasure_results(small_imdb_run, b, SMALL_SUITE, progress=False)
    assert _sha(a) == _sha(b)
    frame = load_results(a)
    save_results(frame, tmp_path / "c.parquet", {"created": "2026-01-01", "seed": 0})
    save_results(frame, tmp_path / "d.parquet", {"created": "2027-01-01", "seed": 0})
    assert _sha(tmp_path / "c.parquet") == _sha(tmp_path / "d.parquet")


# --- 12. a test set of one-item documents says why nothing is tested ---------------------

def test_one_item_documents_explain_the_empty_test(small_imdb_han_run):
    run = small_imdb_han_run
    test = run.data.test
    firsts = [test.sentences(i)[0] for i in range(6)]
    single = EncodedCorpus(
        token_ids=np.concatenate(firsts).astype(np.int32),
        sentence_offsets=np.concatenate([[0], np.cumsum([len(s) for s in firsts])]).astype(
            np.int64),
        doc_offsets=np.arange(7, dtype=np.int64), labels=test.labels[:6].copy(),
        doc_ids=test.doc_ids[:6])
    fake = copy.copy(run)
    fake.__dict__["data"] = dataclasses.replace(run.data, test=single)
    with pytest.raises(DataError, match="have a single sentence"):
        run_erasure_tests(fake, SuiteConfig(max_test_docs=None, random_seeds=1),
                          progress=False)


def test_results_frames_round_trip_unchanged(tmp_path):
    """Guard for the byte-identical writer: dropping the creation time changes nothing
    else a reader sees."""
    frame = load_results(_published_run() / "erasure.parquet")
    path = save_results(frame, tmp_path / "x.parquet", frame.attrs["provenance"])
    back = load_results(path)
    pd.testing.assert_frame_equal(back, frame)
    assert "created" not in back.attrs["provenance"]


# === issue 28: no damaged file is ever used ===============================================

def _interrupted_state(run, out: Path, steps: int, epochs: int = 1) -> RunConfig:
    """``run``'s config (``epochs`` epochs) trained into ``out`` and stopped after ``steps``
    optimisation steps, its training state saved."""
    config = dataclasses.replace(run.config, train=dataclasses.replace(
        run.config.train, max_epochs=epochs, patience=epochs))
    with pytest.raises(TrainingInterrupted):
        train_run(config, out, device="cpu", progress=False, data=run.data,
                  stop_after_steps=steps)
    assert (out / STATE_FILE).exists()
    return config


# 1. a damaged training state is refused, never resumed from
def test_28_1_a_flipped_training_state_is_refused(small_imdb_run, tmp_path, capsys):
    out = tmp_path / "run"
    config = _interrupted_state(small_imdb_run, out, steps=2)
    _flip_bytes(out / STATE_FILE)
    with pytest.raises(RunDamagedError, match=r"train_state\.pt does not match the checksum"):
        train_run(config, out, device="cpu", progress=False, data=small_imdb_run.data)
    assert not (out / "metrics.json").exists()


# 2. a best-epoch checkpoint altered between an interruption and the resume is refused
def test_28_2_a_checkpoint_altered_before_the_resume_is_refused(small_imdb_run, tmp_path):
    out = tmp_path / "run"
    config = dataclasses.replace(small_imdb_run.config, train=dataclasses.replace(
        small_imdb_run.config.train, max_epochs=2, patience=2))
    from attnlib.data.batching import make_batches

    tc = config.train
    n_batches = len(make_batches(small_imdb_run.data.train, config.model.arch, tc.token_cap,
                                 tc.batch_size, shuffle=True, seed=tc.seed * 100_003,
                                 han_cap=tc.han_batch_cap))
    _interrupted_state(small_imdb_run, out, steps=n_batches + 2, epochs=2)  # in epoch 2
    assert (out / "model.pt").exists()  # epoch 1's checkpoint
    state = torch.load(out / "model.pt", weights_only=True)
    state["output_layer.bias"] = state["output_layer.bias"] + 1.0
    torch.save(state, out / "model.pt")
    with pytest.raises(RunDamagedError, match=r"model\.pt .*does not match the checksum"):
        train_run(config, out, device="cpu", progress=False, data=small_imdb_run.data)
    assert not (out / "metrics.json").exists()


def test_28_2_an_interruption_between_state_and_checkpoint_resumes_identically(
        small_imdb_run, tmp_path, monkeypatch):
    """The epoch end writes the state first, then the checkpoint; a stop between the two
    rewrites the checkpoint from the state, and the run ends as an uninterrupted one."""
    import attnlib.training.train as train_module

    plain = tmp_path / "plain"
    train_run(small_imdb_run.config, plain, device="cpu", progress=False,
              data=small_imdb_run.data)
    original = train_module.save_torch

    def crash_on_checkpoint(obj, path):
        if Path(path).name == "model.pt":
            raise KeyboardInterrupt  # a second Ctrl-C just after the state was saved
        return original(obj, path)

    out = tmp_path / "run"
    monkeypatch.setattr(train_module, "save_torch", crash_on_checkpoint)
    with pytest.raises(TrainingInterrupted):
        train_run(small_imdb_run.config, out, device="cpu", progress=False,
                  data=small_imdb_run.data)
    assert (out / STATE_FILE).exists() and not (out / "model.pt").exists()
    monkeypatch.setattr(train_module, "save_torch", original)
    metrics = train_run(small_imdb_run.config, out, device="cpu", progress=False,
                        data=small_imdb_run.data)
    assert _sha(out / "model.pt") == _sha(plain / "model.pt")
    assert metrics["test_accuracy"] == json.loads((plain / "metrics.json").read_text())[
        "test_accuracy"]


# 3. a damaged preprocessing cache is recomputed, with a message, never used
def _swap_two_words(path: Path) -> None:
    words = json.loads(path.read_text())
    words[5], words[6] = words[6], words[5]
    path.write_text(json.dumps(words))


@requires_imdb
@pytest.mark.parametrize("damage", [
    lambda d: _flip_bytes(d / "embeddings.npy"),
    lambda d: _swap_two_words(d / "vocab.json"),
    lambda d: (d / "vocab.json").write_text((d / "vocab.json").read_text()[:100]),
    lambda d: (d / "meta.json").write_text((d / "meta.json").read_text()[:50]),
    lambda d: _flip_bytes(d / "train.npz", 8),
    lambda d: _flip_bytes(d / "test.tokens.gz", 8),
    lambda d: (d / "dev.ids.json").unlink(),
], ids=["embeddings", "vocab-swapped", "vocab-truncated", "meta-truncated", "npz",
        "tokens", "missing"])
def test_28_3_a_damaged_preprocessing_cache_is_recomputed(tmp_path, monkeypatch, caplog,
                                                          damage):
    from attnlib.config import DataConfig
    from attnlib.data.corpus import prepare_data

    monkeypatch.setenv(paths.DATA_HOME_ENV, str(tmp_path))
    config = DataConfig(dataset="imdb", max_train_docs=120, max_test_docs=30, w2v_epochs=1)
    first = prepare_data(config, progress=False)
    directory = tmp_path / "cache" / "imdb" / first.cache_key
    damage(directory)
    with caplog.at_level("WARNING"):
        again = prepare_data(config, progress=False)
    assert "is damaged" in caplog.text and "recomputing it" in caplog.text
    assert again.vocab == first.vocab and np.array_equal(again.embeddings, first.embeddings)
    assert np.array_equal(again.train.token_ids, first.train.token_ids)
    assert [again.test.display_tokens(i) for i in range(3)] == \
        [first.test.display_tokens(i) for i in range(3)]
    assert sorted(p.name for p in directory.parent.iterdir()) == [first.cache_key]


@requires_imdb
def test_28_13_a_cache_write_that_fails_leaves_no_partial_folder(tmp_path, monkeypatch):
    """A full disk while writing the cache: the error propagates and the ``.tmpPID``
    folder is gone; one abandoned by a killed process is removed by the next write."""
    import attnlib.data.corpus as corpus_module
    from attnlib.config import DataConfig

    monkeypatch.setenv(paths.DATA_HOME_ENV, str(tmp_path))
    config = DataConfig(dataset="imdb", max_train_docs=120, max_test_docs=30, w2v_epochs=1)
    key = corpus_module.cache_key(config)
    abandoned = tmp_path / "cache" / "imdb" / f"{key}.tmp999999999"
    abandoned.mkdir(parents=True)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(corpus_module.np, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        corpus_module.prepare_data(config, progress=False)
    assert list((tmp_path / "cache" / "imdb").iterdir()) == []


# 4. results files carry checksums: page CRCs in every file written, SHA-256 of every
#    published file in the manifest
def test_28_4_a_flipped_byte_in_a_results_file_is_refused(tmp_path):
    import random

    frame = load_results(_published_run() / "erasure.parquet")
    path = save_results(frame, tmp_path / "e.parquet", frame.attrs["provenance"])
    data = path.read_bytes()
    rng = random.Random(0)
    refused = 0
    for trial in range(12):  # one flipped bit before the footer, at random
        damaged = bytearray(data)
        i = rng.randrange(8, len(data) - 4096)
        damaged[i] ^= 1 << rng.randrange(8)
        target = tmp_path / f"d{trial}.parquet"
        target.write_bytes(bytes(damaged))
        try:
            loaded = load_results(target)
        except ResultSchemaError as error:
            assert f"d{trial}.parquet is damaged" in str(error)
            refused += 1
        else:  # a bit of a page header's statistics, which no reader uses
            pd.testing.assert_frame_equal(loaded, frame)
    assert refused >= 8


def test_28_4_every_published_file_has_a_recorded_checksum():
    from attnlib.publish import _published_files, published_checksums, verify_published

    root = ROOT / "results" / "paper"
    recorded = published_checksums(root)
    files = {f.relative_to(root).as_posix() for f in _published_files(root)}
    assert files and set(recorded) == files
    assert verify_published(root) == len(files)


def _small_published_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the smallest published run under ``tmp_path/results/paper``, with its
    manifest (checksums recorded); returns (root, run folder)."""
    from attnlib.publish import seal_manifest

    source = _published_run()
    root = tmp_path / "results" / "paper"
    target = root / source.relative_to(ROOT / "results" / "paper")
    shutil.copytree(source, target)
    entry = [e for e in read_manifest(ROOT / "results" / "paper")
             if e["path"] == target.relative_to(root).as_posix()]
    seal_manifest(root, profile="paper", runs=entry)
    return root, target


@pytest.mark.parametrize("name", ["erasure.parquet", "explorer.json", "metrics.json",
                                  "layer_tests.parquet"])
def test_28_4_7_a_damaged_published_file_stops_the_study_first(tmp_path, monkeypatch, name):
    import attnlib.study as study_module

    root, run_dir = _small_published_tree(tmp_path)
    monkeypatch.setattr(study_module, "published_root", lambda profile: root)
    assert len(study_module.make_study("paper").runs) == 1
    _flip_bytes(run_dir / name, 1)
    with pytest.raises(DataError, match=rf"published file .*{name} does not match the "
                                        r"checksum .*git checkout"):
        study_module.make_study("paper")


def test_28_4_an_altered_manifest_is_refused(tmp_path):
    root, _ = _small_published_tree(tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["runs"][0]["test_accuracy"] = 0.99
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="manifest.json does not match the checksum it records"):
        read_manifest(root)


# 6. the paper study refuses to start without its manifest
def test_28_6_the_paper_study_needs_its_manifest(tmp_path, monkeypatch):
    import attnlib.study as study_module

    root, _ = _small_published_tree(tmp_path)
    (root / "manifest.json").unlink()
    monkeypatch.setattr(study_module, "published_root", lambda profile: root)
    with pytest.raises(DataError, match=r"manifest\.json is missing: the paper study"):
        study_module.make_study("paper")


# 7. a damaged explorer payload names its file (also when read without the manifest check)
def test_28_7_a_damaged_explorer_payload_names_the_file(tmp_path):
    from attnlib.study import RunRecord

    _, run_dir = _small_published_tree(tmp_path)
    text = (run_dir / "explorer.json").read_text()
    (run_dir / "explorer.json").write_text(text[: len(text) // 2])
    record = RunRecord(config=None, directory=run_dir, source="published")  # type: ignore
    with pytest.raises(DataError, match=r"explorer\.json is not valid JSON.*git checkout"):
        record.explorer


# 5. a dataset name holds one set of documents, and a run is tied to the documents it
#    was trained on
def _write_reviews_csv(path: Path, split: str, n: int, offset: int = 0,
                       header=("review", "sentiment"), bom: bool = False) -> Path:
    from attnlib.data import load_documents

    docs = load_documents("imdb", split)
    step = len(docs) // (n + offset)
    rows = [(d.text, ("negative", "positive")[d.label]) for d in docs[::step][offset:offset + n]]
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        import csv

        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@requires_imdb
def test_28_5_other_documents_under_a_name_are_refused_and_runs_keep_theirs(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(paths.DATA_HOME_ENV, str(tmp_path / "home"))
    train = _write_reviews_csv(tmp_path / "train.csv", "train", 160)
    test = _write_reviews_csv(tmp_path / "test.csv", "test", 40)
    add = ["data", "add", "mine", "--train", str(train), "--test", str(test),
           "--text-column", "review", "--label-column", "sentiment"]
    assert main(add) == 0
    assert main(add) == 0  # the same documents again: nothing changes
    run_dir = tmp_path / "run"
    assert main(["train", "--dataset", "mine", "--arch", "flan", "--encoder", "noenc",
                 "--epochs", "1", "--device", "cpu", "--quiet", "--threads", "1",
                 "--out", str(run_dir)]) == 0
    other = _write_reviews_csv(tmp_path / "other.csv", "test", 40, offset=40)
    capsys.readouterr()
    changed = add[:5] + ["--test", str(other)] + add[7:]
    assert main(changed) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already added with other documents" in err
    assert "--replace" in err
    assert main(changed + ["--replace"]) == 0
    capsys.readouterr()
    code = main(["test", str(run_dir), "--out", str(tmp_path / "e.parquet"), "--quiet",
                 "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "test documents of 'mine' changed" in err
    recorded = json.loads((run_dir / "metrics.json").read_text())["data_sha256"]["test"]
    assert recorded[:12] in err
    assert not (tmp_path / "e.parquet").exists()


# 11 and 13. CSV files as people write them: long fields, a byte-order mark, "1" and "1.0"
def test_28_11_13_csv_long_fields_bom_and_numeric_labels(tmp_path, monkeypatch):
    from attnlib.data import get_dataset, load_documents
    from attnlib.data.user import add_dataset

    monkeypatch.setenv(paths.DATA_HOME_ENV, str(tmp_path / "home"))
    long_text = "word " * 250_000  # 1,250,000 characters in one field
    train = tmp_path / "train.csv"
    train.write_text("\ufefftext,label\n" + f'"{long_text}",1\n' + "short good text,1.0\n"
                     + "a bad one,0\n" + "another bad one, 0 \n", encoding="utf-8")
    test = tmp_path / "test.csv"
    test.write_text("text,label\nfine,1.00\nawful,0\n", encoding="utf-8")
    spec = add_dataset("people", train, test)
    assert spec.classes == ("0", "1")
    docs = load_documents("people", "train")
    assert [d.label for d in docs] == [1, 1, 0, 0] and len(docs[0].text) == len(long_text)
    assert [d.label for d in load_documents("people", "test")] == [1, 0]
    assert get_dataset("people").sizes == (4, 2)
    bad = tmp_path / "half.jsonl"
    bad.write_text('{"text": "some", "label": 0.5}\n{"text": "other", "label": 1}\n')
    with pytest.raises(DataError, match="not a whole number"):
        add_dataset("halves", bad, test)


# 8. Ctrl-C anywhere in a command: one line, exit status 130, no traceback, nothing
#    half-written (the same command then finishes as if never interrupted)
SIGINT_AT = r"""
import importlib, os, signal, sys
where, name, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
if where == "import":  # Ctrl-C while Python imports the module `name`
    class Interrupt:
        def find_spec(self, fullname, path=None, target=None):
            if fullname == name:
                os.kill(os.getpid(), signal.SIGINT)
            return None
    sys.meta_path.insert(0, Interrupt())
else:  # Ctrl-C on the nth call of where.name
    module = importlib.import_module(where)
    original, calls = getattr(module, name), [0]
    def interrupted(*args, **kwargs):
        calls[0] += 1
        if calls[0] == nth:
            os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kwargs)
    setattr(module, name, interrupted)
sys.argv = ["attnlib", *sys.argv[4:]]
import runpy
runpy.run_module("attnlib", run_name="__main__", alter_sys=True)
"""


def _attnlib_with_sigint(tmp_path: Path, where: str, name: str, nth: int, argv: list[str]
                         ) -> subprocess.CompletedProcess:
    env = {**os.environ, paths.DATA_HOME_ENV: str(tmp_path / "home"),
           paths.RUNS_ENV: str(tmp_path / "runs"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", SIGINT_AT, where, name, str(nth), *argv],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _assert_one_line_130(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 130, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0], done.stderr[-3000:]


def _no_partial_files(folder: Path) -> None:
    assert not [p for p in folder.rglob("*") if ".tmp" in p.name], list(folder.rglob("*"))


@requires_imdb
def test_28_8_ctrl_c_anywhere_is_one_line_and_exit_130(tmp_path):
    out = tmp_path / "run"
    train = ["train", "--dataset", "imdb", "--arch", "flan", "--encoder", "noenc",
             "--max-train-docs", "120", "--max-test-docs", "30", "--epochs", "1",
             "--device", "cpu", "--quiet", "--threads", "1", "--out", str(out)]
    for where, name, nth in (("import", "torch", 0),  # while importing
                             ("attnlib.data.corpus", "tokenize_documents", 1),  # tokenising
                             ("attnlib.data.corpus", "train_word2vec", 1),  # word2vec
                             ("attnlib.training.train", "accuracy", 2)):  # final test pass
        done = _attnlib_with_sigint(tmp_path, where, name, nth, train)
        _assert_one_line_130(done)
        assert not (out / "metrics.json").exists()
        _no_partial_files(tmp_path)
    done = _attnlib_with_sigint(tmp_path, "import", "no-such-module", 0, train)
    assert done.returncode == 0, done.stderr[-3000:]  # the same command finishes the run
    results = tmp_path / "e.parquet"
    done = _attnlib_with_sigint(tmp_path, "attnlib.layer.suite", "run_erasure_tests", 1,
                                ["test", str(out), "--out", str(results), "--quiet",
                                 "--device", "cpu", "--max-test-docs", "10"])
    _assert_one_line_130(done)
    assert not results.exists()
    dest = tmp_path / "published"
    for name in ("publish_runs", "publish_baselines"):
        done = _attnlib_with_sigint(tmp_path, "attnlib.publish", name, 1,
                                    ["publish", "--profile", "smoke", "--dest", str(dest)])
        _assert_one_line_130(done)
        _no_partial_files(tmp_path)
    done = _attnlib_with_sigint(tmp_path, "attnlib.data.corpus", "train_word2vec", 1,
                                ["grid", "--datasets", "imdb", "--archs", "flan", "--encoders",
                                 "rnn", "--engine", "local", "--max-train-docs", "100",
                                 "--max-test-docs", "20", "--epochs", "1", "--no-tests",
                                 "--quiet", "--threads", "1", "--device", "cpu"])
    _assert_one_line_130(done)
    _no_partial_files(tmp_path)


# 9, 12 and 13. numeric options are bounded, --out is not empty
@pytest.mark.parametrize("option,value,words", [
    ("--threads", "100000", "cores"),
    ("--checkpoint-every", "-1", "0 or more seconds"),
    ("--checkpoint-every", "nan", "0 or more seconds"),
    ("--out", "", "got an empty one"),
])
def test_28_9_12_13_options_are_bounded(tmp_path, capsys, monkeypatch, option, value, words):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--dataset", "imdb", "--arch", "flan", "--encoder", "rnn",
            "--out", str(tmp_path / "run")]
    argv += [option, value]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and words in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written, here or in the current folder


# 10. a metrics.json of the wrong shape is a damaged file, in train as in test
@pytest.mark.parametrize("text,words", [("[1, 2]", "does not hold a JSON object"),
                                        ('{"test_accuracy": 0.5}', "lacks the keys")])
def test_28_10_a_metrics_file_of_the_wrong_shape_is_reported(small_imdb_run, tmp_path,
                                                             text, words):
    run_dir = _copy_run(small_imdb_run, tmp_path)
    (run_dir / "metrics.json").write_text(text)
    with pytest.raises(RunDamagedError, match=words):
        train_run(small_imdb_run.config, run_dir, device="cpu", progress=False,
                  data=small_imdb_run.data)


# 13. error texts whose fix matches the cause; a publish that changes nothing writes nothing
def test_28_13_os_errors_name_the_file_written_and_the_right_fix(monkeypatch, capsys,
                                                                 tmp_path):
    import errno as errno_module

    import attnlib.grid as grid_module
    import attnlib.publish as publish_module

    def full(*args, **kwargs):
        raise OSError(errno_module.ENOSPC, "No space left on device", "/src/erasure.parquet",
                      None, "/dest/erasure.parquet")

    monkeypatch.setattr(publish_module, "publish_runs", full)
    assert main(["publish", "--profile", "smoke", "--dest", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "/dest/erasure.parquet" in err and "/src/" not in err and "free space" in err

    def unreachable(*args, **kwargs):
        raise ConnectionError("Failed to connect to GCS at address 10.0.0.9:6379")

    monkeypatch.setattr(grid_module, "run_grid", unreachable)
    assert main(["grid", "--datasets", "imdb", "--address", "10.0.0.9:6379"]) == 2
    err = capsys.readouterr().err
    assert "--address" in err and "free space" not in err and len(err.splitlines()) == 1


def test_28_13_a_publish_that_changes_nothing_writes_nothing(tmp_path):
    from attnlib.publish import publish_runs

    root, _ = _small_published_tree(tmp_path)
    empty = tmp_path / "no-runs"
    empty.mkdir()
    publish_runs("paper", root, source=empty)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}
    publish_runs("paper", root, source=empty)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}
    assert after == before and (root / "README.md") in after


@requires_imdb
def test_28_3_a_cache_with_its_baseline_added_later_is_used_as_it_is(tmp_path, monkeypatch,
                                                                     caplog):
    from attnlib.config import DataConfig
    from attnlib.data.corpus import prepare_data
    from attnlib.training.baseline import BASELINES_FILE, ensure_baseline

    monkeypatch.setenv(paths.DATA_HOME_ENV, str(tmp_path))
    config = DataConfig(dataset="imdb", max_train_docs=120, max_test_docs=30, w2v_epochs=1)
    first = ensure_baseline(prepare_data(config, progress=False))
    directory = tmp_path / "cache" / "imdb"
    assert len(list(directory.glob(f"*/{BASELINES_FILE}"))) == 1
    with caplog.at_level("WARNING"):
        assert ensure_baseline(prepare_data(config, progress=False)) == first
    assert "damaged" not in caplog.text
    baseline = next(directory.glob(f"*/{BASELINES_FILE}"))
    baseline.write_text('{"version": ')
    with caplog.at_level("WARNING"):
        assert ensure_baseline(prepare_data(config, progress=False)) == first
    assert "cached baseline" in caplog.text and "recomputing it" in caplog.text
