"""The planned paper grid, and how the published results, their README and the book
report what of it is still missing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from attnlib.analysis.report import coverage_note
from attnlib.config import ARCHS, ENCODERS
from attnlib.errors import UnknownNameError
from attnlib.plan import describe_runs, list_plans, missing_runs, planned_runs, run_label
from attnlib.publish import read_manifest, run_keys
from attnlib.study import make_study

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "results" / "paper"


def test_paper_plan_is_six_models_on_six_datasets_with_three_seeds():
    runs = planned_runs("paper")
    assert len(runs) == len(set(runs)) == 6 * 6 * 3
    for dataset in ("imdb", "yelp-20k", "amazon-marc-en", "20newsgroups",
                    "yahoo-answers-2topic", "imdb-ratings"):
        assert {(a, e, s) for d, a, e, s in runs if d == dataset} == \
            {(a, e, s) for a in ARCHS for e in ENCODERS for s in (0, 1, 2)}
    # seed 0 of every cell (and the IMDB rnn seeds) come before the other seeds
    first = runs[:34]
    assert all(s == 0 or (d == "imdb" and e == "rnn") for d, a, e, s in first)
    assert run_label(("imdb", "han", "conv", 0)) == "imdb/HANconv/seed0"


def test_missing_runs_are_described_by_dataset_and_seeds():
    runs = [("yelp-20k", a, e, s) for a in ARCHS for e in ENCODERS for s in (1, 2)]
    runs += [("imdb", "han", "conv", 2), ("imdb", "flan", "noenc", 2)]
    assert describe_runs(runs) == ("seeds 1 and 2 of all six models on yelp-20k; "
                                   "seed 2 of HANconv and FLANnoenc on imdb")


def test_unknown_plan_names_the_known_ones():
    assert list_plans() == ["paper"]
    with pytest.raises(UnknownNameError, match="paper"):
        planned_runs("smoke")


def test_missing_runs_are_the_plan_minus_what_is_done():
    done = planned_runs("paper")[:-3]
    assert missing_runs("paper", done) == planned_runs("paper")[-3:]
    assert missing_runs("paper", planned_runs("paper")) == []


def _published() -> list[tuple[str, str, str, int]]:
    return run_keys(read_manifest(PAPER))


def test_committed_results_are_runs_of_the_plan_and_readme_lists_the_rest():
    published = _published()
    assert set(published) <= set(planned_runs("paper"))
    readme = (PAPER / "README.md").read_text()
    missing = missing_runs("paper", published)
    if missing:
        section = readme.split("## Not yet published", 1)[1]
        assert f"({len(missing)} of the {len(planned_runs('paper'))} planned runs)" in section
        assert [line[2:] for line in section.splitlines() if line.startswith("- ")] == \
            [run_label(r) for r in missing]
    else:
        assert "## Not yet published" not in readme


def test_the_published_study_reports_its_coverage_of_the_plan():
    study = make_study("paper")
    missing = study.missing_planned_runs()
    assert missing == missing_runs("paper", _published())
    note = coverage_note(study)
    planned = len(planned_runs("paper"))
    if missing:
        assert f"{len(_published())} of the {planned} runs planned" in note
        assert describe_runs(missing) in note
    else:
        assert note == f"this build reports all {planned} runs planned for the `paper` profile"
    # a study of explicit parameters reports exactly what it asked for
    explicit = make_study("paper", datasets=["imdb"], archs=["flan"], encoders=["rnn"])
    assert explicit.missing_planned_runs() == []
    assert coverage_note(explicit) == "this build reports the one run it was asked for"
    two = make_study("smoke", datasets=["imdb"], archs=["han", "flan"], encoders=["rnn"])
    assert coverage_note(two) == "this build reports all 2 runs it was asked for"


def test_published_runs_are_reported_with_the_configs_they_were_trained_with(monkeypatch):
    """A preset changed after publication: the book still reads the published runs (no
    training) and says which were trained with the earlier configuration."""
    from dataclasses import replace

    import attnlib.study as study_module
    from attnlib.config import make_run_config

    def changed_preset(profile, dataset, arch, encoder, seed=0, **kwargs):
        config = make_run_config(profile, dataset, arch, encoder, seed, **kwargs)
        if dataset != "imdb":
            return config
        return replace(config, train=replace(config.train, lr_patience=3))

    monkeypatch.setattr(study_module, "make_run_config", changed_preset)
    study = make_study("paper")
    published = read_manifest(PAPER)
    assert [c.hash for c in study.run_configs()] == [e["hash"] for e in published]
    outdated = study.outdated_runs()
    imdb_published = [e for e in published if e["dataset"] == "imdb"]
    assert imdb_published and len([c for c in outdated if c.data.dataset == "imdb"]) == len(
        imdb_published)
    note = coverage_note(study)
    assert f"{len(outdated)} of the reported runs were trained with an earlier" in note
    monkeypatch.setenv("ATTNLIB_NO_TRAINING", "1")  # reading them trains nothing
    record = study_module.ensure_run(outdated[0], study.suite, progress=False)
    assert record.source == "published"


def test_the_seed_sentence_says_what_the_seeds_mean_for_the_intervals():
    from attnlib.analysis.report import _seed_sentence

    three = pd.DataFrame({"dataset": ["d"] * 6, "model": ["A"] * 3 + ["B"] * 3,
                          "seed": [0, 1, 2] * 2})
    assert _seed_sentence(three).startswith("every one of the 2 dataset × model cells has "
                                            "three training seeds. The intervals resample")
    mixed = pd.concat([three, pd.DataFrame({"dataset": ["d"], "model": ["C"], "seed": [0]})])
    sentence = _seed_sentence(mixed)
    assert sentence.startswith("2 of the 3 dataset × model cells have three training seeds "
                               "and 1 has one")
    assert "cells with one seed cover only the test documents" in sentence
    assert _seed_sentence(three.iloc[:0]) == "no runs"
