"""nbgrader configuration of the attnlib assignments (run nbgrader from this folder).

Layout: ``source/<assignment>/<notebook>.ipynb`` are the instructor versions (solutions
and hidden tests); ``make assignments`` writes the student versions to ``release/``.
"""

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "attnlib"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# Each notebook trains a small model in one cell: allow minutes per cell, not the default
# 30 s, on a slow laptop or a busy grading machine.
c.Execute.timeout = 600

# What a student sees in place of a solution region and of a written answer.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading the course can trust (assignments/attnlib_grading.py, tested by
# tests/test_assignments.py): a submission whose kernel dies is graded (0 from the crash
# on, with the reason) instead of dropped; an untouched test cell does not warn that its
# checksum changed; the feedback students receive never shows the hidden tests.
import os  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attnlib_grading import GradeCrashedNotebooks, HideHiddenTests, RestoreHiddenTests  # noqa: E402
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades,
    IgnorePattern, LimitOutput, OverwriteKernelspec, SaveAutoGrades)

c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreHiddenTests, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [
    GradeCrashedNotebooks, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
