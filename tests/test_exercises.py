"""The book's exercises: every chapter ends with 2-4 of them, each with a gated solution
whose code runs when the chapter runs (tests/test_notebooks.py, tests/test_book.py), the
four kinds of the course guide are all there, and the student edition removes exactly the
solutions."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("predict, then check", "implement", "interpret", "extend")


def _build_book():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_book"] = module
    spec.loader.exec_module(module)
    return module


build_book = _build_book()
CHAPTERS = build_book.toc_notebooks()


def _exercises(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(label, kind) of every exercise of a notebook."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for block in re.findall(r"```\{exercise\}.*?```", cell.source, flags=re.S):
            label = re.search(r":label: (\S+)", block).group(1)
            kind = re.search(r"\*Kind: (.+?)\.\*", block).group(1)
            found.append((label, kind))
    return found


def _solutions(nb: nbformat.NotebookNode) -> list[tuple[str, list[nbformat.NotebookNode]]]:
    """(label, cells inside) of every gated solution."""
    out, current = [], None
    for cell in nb.cells:
        text = cell.source if cell.cell_type == "markdown" else ""
        if current is not None:
            if "{solution-end}" in text:
                out.append(current)
                current = None
            else:
                current[1].append(cell)
        start = re.search(r"```\{solution-start\} (\S+)", text)
        if start:
            assert current is None, "a solution starts inside another"
            current = (start.group(1), [])
    assert current is None, "a solution never ends"
    return out


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_ends_with_two_to_four_exercises_each_with_a_solution(path):
    nb = nbformat.read(path, as_version=4)
    exercises, solutions = _exercises(nb), _solutions(nb)
    assert 2 <= len(exercises) <= 4, [label for label, _ in exercises]
    assert [label for label, _ in solutions] == [label for label, _ in exercises]
    assert all(kind in KINDS for _, kind in exercises)
    assert all(cells for _, cells in solutions), "an empty solution"
    headings = [c.source.splitlines()[0] for c in nb.cells
                if c.cell_type == "markdown" and c.source.startswith("## ")]
    assert headings[-1] == "## Exercises", "the exercises close the chapter"


def test_labels_are_unique_and_every_kind_is_used():
    found = [e for path in CHAPTERS for e in _exercises(nbformat.read(path, as_version=4))]
    labels = [label for label, _ in found]
    assert len(labels) == len(set(labels))
    assert {kind for _, kind in found} == set(KINDS)


def test_code_solutions_check_their_answer():
    """A code solution asserts its result against the library (or prints what the prose
    reads), so that running the chapter fails when it goes stale."""
    checked = 0
    for path in CHAPTERS:
        for label, cells in _solutions(nbformat.read(path, as_version=4)):
            code = "\n".join(c.source for c in cells if c.cell_type == "code")
            if code:
                assert "assert " in code, f"{label}: its code checks nothing"
                checked += 1
    assert checked >= len(CHAPTERS)


def test_the_student_edition_removes_exactly_the_solutions(tmp_path):
    path = next(p for p in CHAPTERS if p.stem == "multi_weight")
    nb = nbformat.read(path, as_version=4)
    n_exercises, solution_cells = len(_exercises(nb)), sum(
        len(cells) + 1 for _, cells in _solutions(nb))  # + the end marker
    before = len(nb.cells)
    assert build_book.strip_solutions(nb) == n_exercises
    assert len(nb.cells) == before - solution_cells
    text = "\n".join(c.source for c in nb.cells)
    assert "{solution" not in text
    assert len(_exercises(nb)) == n_exercises  # the questions stay
    assert "register_ranking(" not in text  # the solution's code is gone


def test_an_unterminated_solution_is_an_error():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("```{exercise} x\n:label: ex-x\n\nq\n```\n\n"
                                      "```{solution-start} ex-x\n:class: dropdown\n```"),
        nbformat.v4.new_code_cell("answer = 42")])
    with pytest.raises(ValueError, match="no \\{solution-end\\}"):
        build_book.strip_solutions(nb)
