"""nbgrader preprocessors that make the attnlib assignments' grading trustworthy
(loaded by ``nbgrader_config.py``; explained in ``assignments/README.md`` and the course
guide, book/course_guide.md):

* :class:`GradeCrashedNotebooks` (autograde): a submission whose kernel dies (``os._exit``,
  a segfault, memory) is graded, not dropped: the cell that killed the kernel and every
  cell after it get an error output saying so, so their tests score zero with a reason,
  while the cells that ran before keep their grades. nbgrader's own ``Execute`` raises,
  and ``nbgrader autograde`` then removes the whole submission ("Removing failed
  assignment") without a grade.
* :class:`RestoreHiddenTests` (autograde): an untouched locked cell of the student version
  is the instructor's cell with its hidden tests removed; restore them before nbgrader
  compares checksums, so that its "checksum ... has changed!" warning is printed only for
  a cell the student really edited (nbgrader stores the checksum before it removes hidden
  tests: jupyter/nbgrader#1961).
* :class:`HideHiddenTests` (feedback): the feedback a student receives shows the visible
  tests and the score, never the hidden tests' code, nor a traceback from inside them.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor, OverwriteCells

BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class GradeCrashedNotebooks(Execute):
    """``Execute`` that survives a dead kernel: the crashing cell and all later code cells
    get a ``KernelDied`` / ``NotRun`` error output (so their tests score 0), instead of the
    whole submission being dropped."""

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None
                   ) -> tuple[NotebookNode, Any]:
        self._died_in: int | None = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int
                        ) -> tuple[NotebookNode, Any]:
        if cell.cell_type != "code":
            return cell, resources
        if self._died_in is not None:
            cell.outputs = [_error("NotRun", f"not run: the kernel died in cell {self._died_in} "
                                   "(see that cell), so this cell scores 0")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._died_in = index
            cell.outputs = [*cell.get("outputs", []), _error(
                "KernelDied", "the kernel died while running this cell (it called os._exit, "
                "crashed or ran out of memory); this cell and every later one score 0")]
            self.log.warning("the kernel died in cell %d; later cells are graded 0", index)
            return cell, resources


def _released_source(source: str) -> str:
    """What nbgrader's student version holds for a cell whose instructor source is
    ``source``: the same text without its hidden-test region."""
    cell = NotebookNode(cell_type="code", source=source, metadata=NotebookNode())
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source


class RestoreHiddenTests(OverwriteCells):
    """``OverwriteCells`` that recognises an untouched student copy of a locked cell with
    hidden tests, and restores the hidden tests before nbgrader checks the checksum."""

    def preprocess_cell(self, cell: NotebookNode, resources: Any, cell_index: int
                        ) -> tuple[NotebookNode, Any]:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and utils.is_locked(cell):
            try:
                stored = self.gradebook.find_source_cell(grade_id, self.notebook_id,
                                                         self.assignment_id)
            except MissingEntry:
                stored = None
            if (stored is not None and BEGIN_HIDDEN in stored.source
                    and cell.source == _released_source(stored.source)):
                cell.source = stored.source
        return super().preprocess_cell(cell, resources, cell_index)


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback without hidden tests: their region is cut out of each test cell, and an
    error output of such a cell keeps only its name and, when it came from a visible test,
    its message (a traceback would quote the surrounding, possibly hidden, code)."""

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int
                        ) -> tuple[NotebookNode, Any]:
        if cell.cell_type != "code" or BEGIN_HIDDEN not in cell.source:
            return cell, resources
        lines = cell.source.splitlines()
        begin = next(i for i, line in enumerate(lines) if BEGIN_HIDDEN in line) + 1
        end = next((i for i, line in enumerate(lines) if END_HIDDEN in line), len(lines)) + 1
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                outputs.append(output)
                continue
            text = _ANSI.sub("", "\n".join(output.get("traceback", [])))
            where = _CELL_LINE.search(text)
            # no cell line: an error of the grader's own (NotRun, KernelDied, a timeout)
            hidden = where is not None and begin <= int(where.group(1)) <= end
            outputs.append(_error(output.ename, "a hidden test failed (its code and values "
                                  "are not shown)" if hidden else output.evalue))
        cell.outputs = outputs
        released = copy.deepcopy(cell)
        ClearHiddenTests()._remove_hidden_test_region(released)
        cell.source = released.source
        return cell, resources
