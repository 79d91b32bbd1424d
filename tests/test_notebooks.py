"""Every chapter executes under papermill with tiny parameters, and a bad parameter stops
a chapter in its first cell with a clear message."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pytest
import yaml

from .conftest import requires_imdb

ROOT = Path(__file__).resolve().parents[1]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
NOTEBOOKS = [ROOT / f"{c['file']}.ipynb" for c in TOC["chapters"]
             if (ROOT / f"{c['file']}.ipynb").exists()]
TINY = {"profile": "smoke", "datasets": ["imdb"], "archs": ["han", "flan"],
        "encoders": ["noenc"], "max_train_docs": 200, "epochs": 1, "max_test_docs": 60,
        "device": "cpu", "train_uniform": True}

pytestmark = [requires_imdb, pytest.mark.book]


def test_every_chapter_of_the_toc_is_a_notebook_with_a_parameters_cell():
    # the instructors' guide is the one page that computes nothing
    pages = [c["file"] for c in TOC["chapters"] if c["file"] != "book/course_guide"]
    assert len(NOTEBOOKS) == len(pages) == 9
    assert (ROOT / "book" / "course_guide.md").exists()
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        for name in ("profile", "datasets", "archs", "encoders", "seeds", "max_test_docs",
                     "device"):
            assert f"{name} =" in tagged[0].source, (path.name, name)
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
            f"{path.name} is committed with outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_executes_with_tiny_parameters(path, tmp_path):
    pm.execute_notebook(str(path), str(tmp_path / path.name), parameters=TINY,
                        cwd=str(path.parent), kernel_name="python3", progress_bar=False,
                        execution_timeout=600)
    if path.stem != "data":  # every chapter that reports models checks them
        executed = (tmp_path / path.name).read_text()
        assert "Model check" in executed, path.stem


def _first_error(path: Path) -> tuple[int, str]:
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code_cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return i, f"{out['ename']}: {out['evalue']}"
    raise AssertionError("no error recorded")


@pytest.mark.parametrize("parameters,message", [
    ({"datasets": ["imbd"]}, "unknown dataset 'imbd'; valid datasets are"),
    ({"seeds": "zero"}, "seeds must contain ints"),
    ({"encoders": ["lstm"]}, "unknown encoder 'lstm'"),
    ({"max_test_docs": 0.5}, "max_test_docs must be a positive int"),
])
def test_a_bad_parameter_fails_in_the_first_cell_with_a_clear_message(parameters, message,
                                                                       tmp_path):
    path = ROOT / "book" / "multi_weight.ipynb"
    out = tmp_path / "out.ipynb"
    with pytest.raises(pm.PapermillExecutionError):
        pm.execute_notebook(str(path), str(out), parameters=parameters, cwd=str(path.parent),
                            kernel_name="python3", progress_bar=False, execution_timeout=120)
    index, error = _first_error(out)
    # code cells: the launch cell (tools/launch_cell.py), the parameters, papermill's
    # injected parameters, then the setup cell
    assert index == 3, error
    assert message in error
