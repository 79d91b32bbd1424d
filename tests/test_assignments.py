"""The nbgrader assignments (assignments/): nbgrader generates the student versions, and
its autograder gives the instructor versions full marks on every autograded cell, hidden
tests included, and the released versions zero, without crashing."""

from __future__ import annotations

import os
import re
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
        if assignment == "leave_one_out":
            for student, answer in LOO_SUBMISSIONS.items():
                _submit(course, assignment, notebook, student, answer)
        logs[assignment] = _nbgrader(course, env, "autograde", assignment, "--force",
                                     "--db", db)
        logs[f"{assignment} feedback"] = _nbgrader(course, env, "generate_feedback",
                                                   assignment, "--force", "--db", db)
    return {"dir": course, "db": db, "logs": logs}


# Submissions of the leave_one_out assignment, each a student's answer to exercise 1 (the
# released notebook with the stub replaced; exercise 2 answered as in the source).
LOO_SUBMISSIONS = {
    # correct, renormalising by the sum of the remaining weights (the prose's formula and
    # attnlib's erase_and_renormalize), not by 1 - alpha_i as the reference does
    "remaining_sum": """def leave_one_out(h, alpha, mask, W, b):
    z = h @ W.T
    logits = (alpha.unsqueeze(-1) * z).sum(1) + b
    full = torch.softmax(logits, -1)
    pred = full.argmax(-1)
    out = torch.zeros_like(alpha)
    for i in range(alpha.shape[1]):
        kept = alpha.clone()
        kept[:, i] = 0.0
        total = kept.sum(1, keepdim=True)
        weights = torch.where(total > 0, kept / torch.where(total > 0, total, 1.0), 0.0)
        erased = torch.softmax((weights.unsqueeze(-1) * z).sum(1) + b, -1)
        out[:, i] = full.gather(1, pred[:, None])[:, 0] - erased.gather(1, pred[:, None])[:, 0]
    return torch.where(mask, out, 0.0)
""",
    # wrong: erases without renormalising the other weights
    "no_renormalisation": """def leave_one_out(h, alpha, mask, W, b):
    z = h @ W.T
    weighted = alpha.unsqueeze(-1) * z
    total = weighted.sum(1)
    full = torch.softmax(total + b, -1)
    pred = full.argmax(-1, keepdim=True)
    erased = torch.softmax(total.unsqueeze(1) - weighted + b, -1)
    index = pred.unsqueeze(1).expand(-1, alpha.shape[1], 1)
    drop = full.gather(1, pred) - erased.gather(2, index).squeeze(-1)
    return torch.where(mask, drop, 0.0)
""",
    # calls the visible test's reference (defined later in the notebook) and the library
    "calls_library": """def leave_one_out(h, alpha, mask, W, b):
    from attnlib.layer.erasure import LinearHead
    from attnlib.layer.rankings import RankingContext, get_ranking
    head = LinearHead(W, b)
    ctx = RankingContext(alpha, mask, gradient_fn=None, instance_ids=np.arange(len(alpha)),
                         item_logits=head.item_logits(h), bias=b,
                         pred=head(h, alpha).argmax(-1))
    return torch.where(mask, get_ranking("leave_one_out").score(ctx), 0.0)
""",
    # right on every test document, wrong (0/0) for an item that holds all the weight,
    # which only a hidden test tries
    "no_empty_guard": """def leave_one_out(h, alpha, mask, W, b):
    z = h @ W.T
    weighted = alpha.unsqueeze(-1) * z
    total = weighted.sum(1)
    full = torch.softmax(total + b, -1)
    pred = full.argmax(-1, keepdim=True)
    erased = torch.softmax((total.unsqueeze(1) - weighted) / (1 - alpha).unsqueeze(-1) + b, -1)
    index = pred.unsqueeze(1).expand(-1, alpha.shape[1], 1)
    drop = full.gather(1, pred) - erased.gather(2, index).squeeze(-1)
    return torch.where(mask, drop, 0.0)
""",
    # kills its own kernel
    "crashes": """import os
os._exit(3)
""",
}


def _submit(course: Path, assignment: str, notebook: str, student: str, answer: str) -> None:
    """The released notebook with exercise 1 answered by ``answer`` and the other
    exercises' code answered from the source."""
    released = nbformat.read(course / "release" / assignment / f"{notebook}.ipynb", 4)
    source = nbformat.read(course / "source" / assignment / f"{notebook}.ipynb", 4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "loo-solution":
            cell.source = answer
        elif grade_id in answers:
            cell.source = "\n".join(line for line in answers[grade_id].splitlines()
                                     if "### BEGIN SOLUTION" not in line
                                     and "### END SOLUTION" not in line)
    dest = course / "submitted" / student / assignment
    dest.mkdir(parents=True)
    nbformat.write(released, dest / f"{notebook}.ipynb")


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


def _scores(course: dict, student: str) -> dict[str, float]:
    return {k: v[0] for k, v in _grades(course, "leave_one_out", student).items()
            if v[3] == "code"}


@requires_imdb
def test_grading_accepts_every_correct_formulation_and_rejects_the_rest(course):
    """Exercise 1 (4 points) and exercise 2 (3 points), by kind of submission."""
    assert _scores(course, "instructor") == {"loo-tests": 4, "tau-tests": 3}
    # renormalising by the remaining weights is as right as dividing by 1 - alpha_i
    assert _scores(course, "remaining_sum") == {"loo-tests": 4, "tau-tests": 3}
    assert _scores(course, "no_renormalisation") == {"loo-tests": 0, "tau-tests": 3}
    assert _scores(course, "calls_library") == {"loo-tests": 0, "tau-tests": 3}
    # the visible tests pass; a hidden one (an item holding all the weight) does not
    assert _scores(course, "no_empty_guard") == {"loo-tests": 0, "tau-tests": 3}
    errors = _errors(_autograded(course, "leave_one_out", "calls_library"))
    assert [(cell, name) for cell, name, _ in errors] == [("loo-tests", "AssertionError")]
    assert "calls attnlib's leave-one-out" in errors[0][2]


@requires_imdb
def test_a_crashing_submission_is_graded_zero_with_a_reason(course):
    """nbgrader alone drops a submission whose kernel dies ("Removing failed
    assignment"): here it is graded, 0 from the crash on, and the notebook says why."""
    assert "Removing failed assignment" not in course["logs"]["leave_one_out"]
    assert _scores(course, "crashes") == {"loo-tests": 0, "tau-tests": 0}
    errors = {cell: name for cell, name, _ in _errors(
        _autograded(course, "leave_one_out", "crashes"))}
    assert errors["loo-solution"] == "KernelDied"
    assert errors["loo-tests"] == errors["tau-tests"] == "NotRun"


@requires_imdb
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_test_cells_raise_no_checksum_warning(course, assignment):
    """nbgrader compares the instructor's checksum (hidden tests in) with the student's
    cell (hidden tests out) and warns on every submission; the warning must mean that a
    student edited a locked cell."""
    assert "has changed" not in course["logs"][assignment], course["logs"][assignment][-3000:]


@requires_imdb
@pytest.mark.parametrize("student", ["student", "remaining_sum", "no_renormalisation",
                                     "calls_library", "no_empty_guard", "crashes"])
def test_feedback_shows_the_score_and_no_hidden_test(course, student):
    html = (course["dir"] / "feedback" / student / "leave_one_out"
            / "leave_one_out.html").read_text()
    source = nbformat.read(course["dir"] / "source" / "leave_one_out" / "leave_one_out.ipynb", 4)
    released = nbformat.read(course["dir"] / "release" / "leave_one_out" / "leave_one_out.ipynb", 4)
    visible = "\n".join(c.source for c in released.cells)
    hidden = [line.strip() for c in source.cells if "BEGIN HIDDEN TESTS" in c.source
              for line in c.source.split("### BEGIN HIDDEN TESTS")[1].split(
                  "### END HIDDEN TESTS")[0].splitlines()
              if len(line.strip()) > 12 and line.strip() not in visible]
    assert len(hidden) >= 5
    import html as html_module
    text = html_module.unescape(re.sub(r"<[^>]+>", "", html))
    leaked = [line for line in hidden if line in text]
    assert not leaked, leaked
    assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    assert "Score" in text and "/ 10" in text.replace("/10", "/ 10")
    if student == "no_empty_guard":  # the failure is named, its code and values are not
        assert "a hidden test failed (its code and values are not shown)" in text
    if student == "crashes":
        assert "the kernel died while running this cell" in text


def test_student_repo_export_holds_no_solution_and_no_hidden_test(tmp_path):
    """``make student-repo``: the chapters without answers, the assignments as released,
    no instructors' page, no tests or grading set-up."""
    out = tmp_path / "students"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "student_repo.py"), "--out",
                           str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (out / "tests").exists() and not (out / "book" / "course_guide.md").exists()
    assert not (out / "assignments" / "source").exists()
    assert "course_guide" not in (out / "_toc.yml").read_text()
    for assignment, (notebook, _, _) in ASSIGNMENTS.items():
        released = (out / "assignments" / assignment / f"{notebook}.ipynb").read_text()
        assert "raise NotImplementedError()" in released
    texts = {p: p.read_text(errors="replace") for p in out.rglob("*")
             if p.is_file() and ".git" not in p.parts and p.suffix in {".ipynb", ".md"}}
    for marker in ("BEGIN SOLUTION", "HIDDEN TESTS", "{solution-start}", "A model answer",
                   "Misconceptions students bring"):
        assert not [p for p, t in texts.items() if marker in t], marker
    assert (ROOT / "book" / "course_guide.md").exists()  # the full repository is untouched


@requires_imdb
def test_the_leave_one_out_model_has_informative_attention(course):
    """The assignment's criterion (assignments/README.md): test accuracy at least 0.75 and,
    in the median review, a largest attention weight at least ten times uniform."""
    nb = _autograded(course, "leave_one_out", "instructor")
    text = "".join(o.get("text", "") for c in nb.cells
                   if c.metadata.get("nbgrader", {}).get("grade_id") == "train"
                   for o in c.get("outputs", []))
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", text).group(1))
    peak = float(re.search(r"median review: ([0-9.]+)", text).group(1))
    assert accuracy >= 0.75 and peak >= 10, text
