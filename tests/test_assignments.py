"""The nbgrader assignments (assignments/): nbgrader generates the student versions, and
its autograder gives the instructor versions full marks on every autograded cell, hidden
tests included, and the released versions zero, without crashing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from .conftest import requires_imdb

try:
    from nbgrader.api import Gradebook
except ImportError:  # nbgrader is pinned in requirements.txt; CI installs it
    pytest.skip("nbgrader is not installed (pip install -r requirements.txt)",
                allow_module_level=True)

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = {  # assignment -> (its notebook, autograded points, manually graded points)
    "leave_one_out": ("leave_one_out", 7, 3),
    "multi_weight_on_your_data": ("multi_weight_on_your_data", 7, 4),
}


def _nbgrader(course: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{log[-4000:]}"
    return log


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    """A copy of the course folder in which every assignment was generated (gradebook in
    the copy) and autograded for two submissions: ``instructor`` (the source notebook,
    solutions in) and ``student`` (the released notebook, untouched)."""
    tmp = tmp_path_factory.mktemp("course")
    course = tmp / "assignments"
    shutil.copytree(ROOT / "assignments", course,
                    ignore=shutil.ignore_patterns("release", "submitted", "autograded",
                                                  "feedback", "gradebook.db", ".ipynb_*"))
    db = f"sqlite:///{tmp / 'gradebook.db'}"
    env = {**os.environ, "ATTNLIB_DATA_HOME": str(tmp / "home"),
           "ATTNLIB_RUNS": str(tmp / "runs"), "OMP_NUM_THREADS": "1",
           # nbgrader runs the `alembic` script of its environment to create the gradebook
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    logs = {}
    for assignment, (notebook, _, _) in ASSIGNMENTS.items():
        _nbgrader(course, env, "generate_assignment", assignment, "--force", "--db", db)
        for student, folder in (("instructor", "source"), ("student", "release")):
            dest = course / "submitted" / student / assignment
            dest.mkdir(parents=True)
            shutil.copy(course / folder / assignment / f"{notebook}.ipynb", dest)
        logs[assignment] = _nbgrader(course, env, "autograde", assignment, "--force",
                                     "--db", db)
    return {"dir": course, "db": db, "logs": logs}


def _grades(course: dict, assignment: str, student: str) -> dict[str, tuple]:
    """grade_id -> (auto score, max score, needs manual grade, cell type) of one
    submission."""
    with Gradebook(course["db"]) as gb:
        notebook = gb.find_submission(assignment, student).notebooks[0]
        return {g.name: (g.auto_score, g.max_score, g.needs_manual_grade, g.cell_type)
                for g in notebook.grades}


def _autograded(course: dict, assignment: str, student: str) -> nbformat.NotebookNode:
    notebook = ASSIGNMENTS[assignment][0]
    path = course["dir"] / "autograded" / student / assignment / f"{notebook}.ipynb"
    return nbformat.read(path, as_version=4)


def _errors(nb: nbformat.NotebookNode) -> list[tuple[str, str, str]]:
    """(grade id or cell index, error name, message) of every cell that raised."""
    return [(c.metadata.get("nbgrader", {}).get("grade_id", str(i)), o.ename, o.evalue)
            for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.output_type == "error"]


@requires_imdb
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_release_hides_solutions_and_hidden_tests(course, assignment):
    notebook, auto_points, manual_points = ASSIGNMENTS[assignment]
    source = (course["dir"] / "source" / assignment / f"{notebook}.ipynb").read_text()
    released = (course["dir"] / "release" / assignment / f"{notebook}.ipynb").read_text()
    assert "BEGIN SOLUTION" in source and "BEGIN HIDDEN TESTS" in source
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "A model answer"):
        assert marker not in released, marker
    nb = nbformat.reads(released, as_version=4)
    stubs = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs
                         if c.cell_type == "code")
    assert any(c.source == "YOUR ANSWER HERE" for c in stubs if c.cell_type == "markdown")
    points = [(c.metadata["nbgrader"]["points"], c.cell_type) for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade")]
    assert sum(p for p, kind in points if kind == "code") == auto_points
    assert sum(p for p, kind in points if kind == "markdown") == manual_points
    header = nb.cells[0].source
    assert "on a laptop CPU with one torch thread" in header and "__TIME__" not in header


@requires_imdb
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_instructor_version_gets_full_marks(course, assignment):
    grades = _grades(course, assignment, "instructor")
    auto = {k: v for k, v in grades.items() if v[3] == "code"}
    assert sum(v[1] for v in auto.values()) == ASSIGNMENTS[assignment][1]
    assert {k: v[0] for k, v in auto.items()} == {k: v[1] for k, v in auto.items()}, grades
    assert not any(v[2] for v in auto.values())
    # the written answer waits for the instructor
    assert [k for k, v in grades.items() if v[2]] == ["written-answer"]
    nb = _autograded(course, assignment, "instructor")
    assert _errors(nb) == []
    # the autograder ran the hidden tests, restored from the gradebook
    assert sum("BEGIN HIDDEN TESTS" in c.source for c in nb.cells) == 2


@requires_imdb
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_version_runs_and_scores_zero(course, assignment):
    grades = _grades(course, assignment, "student")
    auto = {k: v[0] for k, v in grades.items() if v[3] == "code"}
    assert len(auto) == 2 and all(score == 0 for score in auto.values()), grades
    # nbgrader scores an untouched written answer 0 without asking for a manual grade
    assert grades["written-answer"][:3] == (0, ASSIGNMENTS[assignment][2], False)
    nb = _autograded(course, assignment, "student")
    # every code cell ran; the only errors are the unanswered exercises' stubs
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    errors = _errors(nb)
    assert errors and {name for _, name, _ in errors} == {"NotImplementedError"}, errors
    first_stub = next(i for i, c in enumerate(nb.cells)
                      if c.metadata.get("nbgrader", {}).get("solution"))
    assert not [e for e in errors if e[0] in {
        c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells[:first_stub]}]
    # the model was trained and tested before the exercises
    outputs = "".join(o.get("text", "") for c in nb.cells[:first_stub]
                      for o in c.get("outputs", []))
    assert "test accuracy" in outputs


def test_make_assignments_writes_the_student_versions(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = Path(sys.prefix)
    out = tmp_path / "release"
    gradebook = ROOT / "assignments" / "gradebook.db"
    had_gradebook = gradebook.exists()
    done = subprocess.run(["make", "-C", str(ROOT), "assignments", f"VENV={venv}",
                           "-o", f"{venv}/.installed", f"ASSIGNMENTS_RELEASE={out}"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for assignment, (notebook, _, _) in ASSIGNMENTS.items():
        released = (out / assignment / f"{notebook}.ipynb").read_text()
        assert "raise NotImplementedError()" in released and "BEGIN SOLUTION" not in released
    assert gradebook.exists() == had_gradebook  # --no-db: no gradebook written
