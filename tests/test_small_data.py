"""Bring your own small data: on a few hundred short documents the default command
learns (the small-data schedule, attnlib.config.SmallDataSchedule), ``--epochs`` is
honoured, HAN on one-sentence texts is refused before training, and a run trained with
the CLI is the run the book reuses."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from attnlib import paths

TOPICS = {
    "sport": "match goal team player coach score season league referee stadium win".split(),
    "food": "recipe oven flavour dish sauce chef bake dinner spicy garlic taste".split(),
    "tech": "software computer code laptop server bug network update chip screen app".split(),
}
FILLER = ("the a this that was is very really quite we they it today yesterday new old "
          "good bad great and but so").split()


def _sentence(rng: random.Random, topic: str) -> str:
    """One short sentence: filler words, one or two words of its topic and, in 40% of
    them, one word of another topic."""
    words = [rng.choice(FILLER) for _ in range(rng.randint(5, 9))]
    for _ in range(rng.randint(1, 2)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(TOPICS[topic]))
    if rng.random() < 0.4:
        other = rng.choice([t for t in TOPICS if t != topic])
        words.insert(rng.randrange(len(words) + 1), rng.choice(TOPICS[other]))
    return " ".join(words).capitalize() + "."


def _write(folder: Path) -> tuple[Path, Path]:
    rng = random.Random(0)
    rows = [(_sentence(rng, t), t) for t in TOPICS for _ in range(70)]
    rng.shuffle(rows)
    files = []
    for name, part in (("train", rows[:165]), ("test", rows[165:])):
        path = folder / f"{name}.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(part)
        files.append(path)
    return files[0], files[1]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attnlib", *args], capture_output=True,
                          text=True, env=env, timeout=900, check=False)


@pytest.fixture(scope="module")
def topics(tmp_path_factory) -> dict[str, str]:
    """210 three-topic sentences (165 train, 45 test) added as ``topics3``; the
    environment that points attnlib at them."""
    tmp = tmp_path_factory.mktemp("small")
    train, test = _write(tmp)
    env = {**os.environ, paths.DATA_HOME_ENV: str(tmp / "home"),
           paths.RUNS_ENV: str(tmp / "runs"), "OMP_NUM_THREADS": "1"}
    done = _cli("data", "add", "topics3", "--train", str(train), "--test", str(test), env=env)
    assert done.returncode == 0, done.stderr
    return env


def _metrics(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{"):])


def test_the_default_command_learns_a_small_dataset(topics):
    done = _cli("train", "--dataset", "topics3", "--arch", "flan", "--encoder", "rnn",
                "--quiet", "--threads", "1", env=topics)
    assert done.returncode == 0, done.stderr
    metrics = _metrics(done.stdout)
    assert metrics["majority_baseline"] == pytest.approx(1 / 3, abs=0.05)
    # the smoke profile's own schedule stopped at epoch 3 with 38% (majority 33%)
    assert metrics["test_accuracy"] >= metrics["majority_baseline"] + 0.2, metrics
    assert metrics["epochs"] > 5


def test_a_cli_run_is_the_run_the_book_reuses(topics, monkeypatch):
    done = _cli("train", "--dataset", "topics3", "--arch", "flan", "--encoder", "noenc",
                "--quiet", "--threads", "1", env=topics)
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.split("run folder: ", 1)[1].splitlines()[0])
    for key in (paths.DATA_HOME_ENV, paths.RUNS_ENV):
        monkeypatch.setenv(key, topics[key])
    from attnlib import make_run_config
    from attnlib.training.pipeline import ensure_trained, run_dir_for

    config = make_run_config("smoke", "topics3", "flan", "noenc")
    assert run_dir_for(config) == folder
    before = (folder / "metrics.json").read_bytes()
    run = ensure_trained(config, device="cpu", progress=False)  # what a chapter calls
    assert run.directory == folder and (folder / "metrics.json").read_bytes() == before


def test_epochs_are_honoured_on_small_data(topics):
    done = _cli("train", "--dataset", "topics3", "--arch", "flan", "--encoder", "conv",
                "--epochs", "7", "--quiet", "--threads", "1", env=topics)
    assert done.returncode == 0, done.stderr
    assert _metrics(done.stdout)["epochs"] == 7


def test_han_on_one_sentence_texts_is_refused_before_training(topics):
    done = _cli("train", "--dataset", "topics3", "--arch", "han", "--encoder", "rnn",
                "--quiet", "--threads", "1", env=topics)
    assert done.returncode != 0
    assert "single sentence" in done.stderr and "--arch flan" in done.stderr
    assert "Traceback" not in done.stderr
    runs = Path(topics[paths.RUNS_ENV]) / "topics3" / "HANrnn"
    assert not runs.exists() or not any(p.glob("model.pt") for p in runs.iterdir())


def test_the_schedule_applies_to_small_training_sets_only():
    from attnlib.config import SMALL_DATA, make_run_config

    small = make_run_config("smoke", "imdb", "flan", "rnn", max_train_docs=300)
    assert small.data.dev_fraction == SMALL_DATA.dev_fraction
    assert (small.train.patience, small.train.max_epochs) == (SMALL_DATA.patience,
                                                              SMALL_DATA.max_epochs)
    assert small.train.min_lr == small.train.lr / SMALL_DATA.min_lr_divisor
    capped = make_run_config("smoke", "imdb", "flan", "rnn", max_train_docs=300, epochs=4)
    assert (capped.train.patience, capped.train.max_epochs) == (4, 4)
    usual = make_run_config("smoke", "imdb", "flan", "rnn")  # 2,000 reviews
    assert usual.data.dev_fraction == 0.1 and usual.train.patience == 2
    paper = make_run_config("paper", "imdb", "flan", "rnn")
    assert paper.hash == "e1f641477841"  # published runs keep their configs
