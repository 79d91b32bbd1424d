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
