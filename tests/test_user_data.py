"""Bring your own data: `attnlib data add` validates a CSV or JSON Lines pair, records
checksums and makes the name work everywhere a dataset id does, a chapter included."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import papermill as pm
import pytest

from attnlib import paths
from attnlib.cli import main
from attnlib.data import get_dataset, list_datasets, load_documents, where_from
from attnlib.data.user import add_dataset
from attnlib.errors import DataError, UnknownNameError

from .conftest import requires_imdb

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv(paths.DATA_HOME_ENV, str(home))
    return home


def _reviews(split: str, n: int) -> list[tuple[str, str]]:
    """``n`` real IMDB reviews of both classes, as (text, "negative"/"positive")."""
    docs = load_documents("imdb", split)
    step = len(docs) // n
    return [(d.text, ("negative", "positive")[d.label]) for d in docs[::step][:n]]


def _write_csv(path: Path, rows: list[tuple[str, str]], columns=("review", "sentiment")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


@requires_imdb
def test_a_csv_pair_becomes_a_dataset(tmp_path, data_home, capsys):
    train = _write_csv(tmp_path / "train.csv", _reviews("train", 120))
    test = _write_csv(tmp_path / "test.csv", _reviews("test", 40))
    code = main(["data", "add", "my-reviews", "--train", str(train), "--test", str(test),
                 "--text-column", "review", "--label-column", "sentiment"])
    assert code == 0 and "added my-reviews: 120 training and 40 test" in capsys.readouterr().out
    spec = get_dataset("my-reviews")
    assert spec.classes == ("negative", "positive") and spec.status == "user"
    assert "my-reviews" in list_datasets() and where_from(spec) == "added"
    docs = load_documents("my-reviews", "test")
    assert [("negative", "positive")[d.label] for d in docs] == [r[1] for r in
                                                                 _reviews("test", 40)]
    record = json.loads((data_home / "datasets" / "my-reviews" / "dataset.json").read_text())
    assert len(record["sha256"]["train"]) == 64 and record["sources"]["test"]["sha256"]
    assert main(["data", "list"]) == 0
    assert "my-reviews" in capsys.readouterr().out
    # damage is detected like a mirror's
    path = data_home / "datasets" / "my-reviews" / "train.jsonl.gz"
    path.write_bytes(path.read_bytes()[:-10])
    assert where_from(get_dataset("my-reviews")) == "damaged-mirror"


def test_json_lines_with_integer_labels(tmp_path, data_home):
    rows = [{"text": f"document number {i} is {'good' if i % 2 else 'bad'}", "label": i % 3}
            for i in range(30)]
    for name, part in (("train.jsonl", rows[:24]), ("test.jsonl", rows[24:])):
        (tmp_path / name).write_text("\n".join(json.dumps(r) for r in part) + "\n")
    spec = add_dataset("numbers", tmp_path / "train.jsonl", tmp_path / "test.jsonl")
    assert spec.classes == ("0", "1", "2")
    assert [d.label for d in load_documents("numbers", "test")] == [r["label"] for r in rows[24:]]


@pytest.mark.parametrize("train_rows,test_rows,kwargs,message", [
    ([("a b", "x"), ("c d", "y")], [("e", "x")], {"text_column": "text"}, "has no column 'text'"),
    ([("a b", "x"), ("  ", "y")], [("e", "x")], {}, "row 2: the 'review' text is empty"),
    ([("a b", "x"), ("c d", "y")], [("e", "z")], {}, "labels never seen in training: ['z']"),
    ([("a b", "x"), ("c d", "x")], [("e", "x")], {}, "needs at least two classes"),
])
def test_bad_files_give_clear_errors(tmp_path, data_home, train_rows, test_rows, kwargs,
                                     message):
    train = _write_csv(tmp_path / "train.csv", train_rows)
    test = _write_csv(tmp_path / "test.csv", test_rows)
    options = {"text_column": "review", "label_column": "sentiment", **kwargs}
    with pytest.raises(DataError) as error:
        add_dataset("bad", train, test, **options)
    assert message in str(error.value)
    with pytest.raises(UnknownNameError):
        get_dataset("bad")  # nothing was registered


def test_names_are_checked(tmp_path, data_home):
    train = _write_csv(tmp_path / "train.csv", [("a b", "x"), ("c d", "y")])
    for name, message in (("imdb", "built-in"), ("My Data", "lowercase")):
        with pytest.raises(DataError, match=message):
            add_dataset(name, train, train, "review", "sentiment")
    with pytest.raises(DataError, match="unknown format"):
        add_dataset("fine", tmp_path / "train.csv", Path(__file__), "review", "sentiment")


@requires_imdb
@pytest.mark.book
def test_a_chapter_runs_on_added_data(tmp_path, data_home):
    train = _write_csv(tmp_path / "train.csv", _reviews("train", 300))
    test = _write_csv(tmp_path / "test.csv", _reviews("test", 60))
    add_dataset("class-reviews", train, test, "review", "sentiment")
    out = tmp_path / "multi_weight.ipynb"
    source = ROOT / "book" / "multi_weight.ipynb"
    pm.execute_notebook(str(source), str(out), cwd=str(source.parent), kernel_name="python3",
                        progress_bar=False, execution_timeout=600,
                        parameters={"datasets": ["class-reviews"], "archs": ["flan"],
                                    "encoders": ["noenc"], "epochs": 2, "device": "cpu"})
    executed = out.read_text()
    assert "class-reviews" in executed and "Model check" in executed
    assert os.environ[paths.DATA_HOME_ENV] == str(data_home)


@requires_imdb
def test_data_added_again_under_the_same_name_is_never_served_an_old_run(tmp_path, data_home):
    """A run of a dataset of your own is addressed by its files too: adding other documents
    under the same name gives other run folders (trained afresh), the same ones the same."""
    from attnlib.config import make_run_config
    from attnlib.training.pipeline import run_dir_for

    def added(n_train: int):
        train = _write_csv(tmp_path / f"train{n_train}.csv", _reviews("train", n_train))
        test = _write_csv(tmp_path / "test.csv", _reviews("test", 40))
        add_dataset("mine", train, test, text_column="review", label_column="sentiment",
                    replace=True)
        return run_dir_for(make_run_config("smoke", "mine", "flan", "noenc", 0))

    first, again, other = added(120), added(120), added(100)
    assert first == again
    assert other != first and other.parent == first.parent
    assert other.name.startswith(first.name.split("-data")[0] + "-data")
