"""The command line: clear one-line errors for user mistakes, and the test command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from attnlib.cli import main


def test_data_list_shows_every_dataset_and_its_status(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("imdb", "yelp-20k", "amazon-marc-en", "yahoo-answers-2topic", "20newsgroups",
                 "yelp-full", "amazon-full", "yahoo-answers"):
        assert name in out
    assert "substitute" in out and "genuine" in out


def test_unknown_dataset_is_one_line_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "attnlib", "train", "--dataset", "imbd",
                           "--arch", "han", "--encoder", "rnn", "--out", "/tmp/never"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown dataset 'imbd'" in proc.stderr and "imdb" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv,message", [
    (["train", "--dataset", "imdb", "--arch", "cnn", "--encoder", "rnn", "--out", "x"],
     "invalid choice: 'cnn'"),
    (["train", "--dataset", "imdb", "--arch", "han", "--encoder", "rnn", "--seed", "one",
      "--out", "x"], "expected an integer seed"),
    (["train", "--dataset", "imdb", "--arch", "han", "--encoder", "rnn", "--epochs", "0",
      "--out", "x"], "expected a positive number"),
    (["grid", "--plan", "smoke"], "invalid choice: 'smoke'"),
    (["grid", "--plan", "paper", "--datasets", "imdb"], "not allowed with argument"),
    (["grid"], "one of the arguments --datasets --plan is required"),
])
def test_wrong_options_are_explained(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_test_command_writes_and_then_reuses_results(small_imdb_run, tmp_path, capsys):
    out = tmp_path / "results.parquet"
    def argv(seeds: int) -> list[str]:
        return ["test", str(small_imdb_run.directory), "--max-test-docs", "30",
                "--random-seeds", str(seeds), "--out", str(out), "--quiet", "--device", "cpu"]

    assert main(argv(2)) == 0
    first = out.stat().st_mtime_ns
    assert "attention" in capsys.readouterr().out
    assert main(argv(2)) == 0
    assert out.stat().st_mtime_ns == first  # reused, not recomputed
    assert main(argv(3)) == 0
    assert out.stat().st_mtime_ns != first  # a changed option recomputes


def test_test_command_on_a_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main(["test", str(tmp_path), "--out", str(tmp_path / "r.parquet")]) == 2
    assert "not a finished run" in capsys.readouterr().err
