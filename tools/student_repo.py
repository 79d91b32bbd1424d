"""Export a repository for students: the library, the book's chapters without the
exercises' solutions, and the graded assignments as nbgrader releases them (no solutions,
no hidden tests), without the instructors' page, the test suite (which checks the
answers) or the grading set-up.

    python tools/student_repo.py                 # -> _build/student-repo (a fresh git repo)
    python tools/student_repo.py --out ../attention-course-students

``make student-repo`` runs it. Keep the full repository private: it holds every answer.
The export is checked by ``tests/test_assignments.py`` (no solution, no hidden test).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
# tracked paths that hold answers or exist only for instructors and maintainers
LEFT_OUT = ("tests/", ".ci/", "assignments/", "benchmarks/", "tools/student_repo.py")
FORBIDDEN = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "{solution-start}",
             "{solution}", "A model answer")


def _build_book_module():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                         check=True).stdout.decode()
    return [p for p in out.split("\0") if p]


def _released_assignments(dest: Path, python: str) -> list[str]:
    """nbgrader's student versions of assignments/source/*, into dest/assignments/."""
    names = sorted(p.name for p in (ROOT / "assignments" / "source").iterdir() if p.is_dir())
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        shutil.copytree(ROOT / "assignments", course,
                        ignore=shutil.ignore_patterns("release", "submitted", "autograded",
                                                      "feedback", "gradebook.db", ".ipynb_*"))
        for name in names:
            subprocess.run([python, "-m", "nbgrader", "generate_assignment", name, "--no-db",
                            "--force"], cwd=course, check=True, capture_output=True)
        shutil.copytree(course / "release", dest / "assignments")
    (dest / "assignments" / "README.md").write_text(
        "# Graded assignments\n\n"
        "Each folder holds one notebook. Write your code where it says `YOUR CODE HERE` and\n"
        "your answers where it says `YOUR ANSWER HERE`, then *Kernel → Restart & Run All*\n"
        "before you hand it in. The visible tests show whether your code runs and agrees on a\n"
        "few documents; more tests run when your instructor grades it.\n")
    return names


def check_export(dest: Path) -> list[str]:
    """Files of the export that still hold a solution or a hidden test (empty: clean)."""
    found = []
    pages = [*dest.glob("book/**/*"), *dest.glob("assignments/**/*"), *dest.glob("*.md")]
    for path in sorted(p for p in pages if p.is_file()):
        if path.suffix not in {".ipynb", ".md", ".py"}:
            continue
        text = path.read_text(errors="replace")
        found += [f"{path.relative_to(dest)}: {marker}" for marker in FORBIDDEN
                  if marker in text]
    return found


def export(dest: Path, python: str = sys.executable) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for rel in tracked_files():
        if rel.startswith(LEFT_OUT) or rel == "README.md":
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    build_book = _build_book_module()
    removed = 0
    for path in sorted((dest / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        removed += build_book.strip_solutions(nb)
        nbformat.write(nb, path)
    build_book.drop_instructor_pages(dest)
    config = yaml.safe_load((dest / "_config.yml").read_text())
    config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    (dest / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    assignments = _released_assignments(dest, python)
    (dest / "README.md").write_text(
        "# Is attention interpretable? (student copy)\n\n"
        "The attnlib library and the book's chapters, with the exercises' answers removed.\n\n"
        "```bash\nmake book PROFILE=smoke    # train small models on real data and build the book\n```\n\n"
        f"The graded assignments are in `assignments/` ({', '.join(assignments)}).\n")
    problems = check_export(dest)
    if problems:
        raise SystemExit("the export still holds answers:\n" + "\n".join(problems))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run(["git", "-c", "user.name=attnlib", "-c", "user.email=attnlib@localhost",
                    "commit", "-q", "-m", "Student copy of attnlib"], cwd=dest, check=True)
    print(f"student repository: {dest} ({removed} solutions removed from the chapters; "
          f"assignments released: {', '.join(assignments)}; keep the full repository private)")
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student-repo")
    args = parser.parse_args()
    out = args.out.resolve()
    if (out == ROOT or ROOT in out.parents) and (ROOT / "_build") not in out.parents:
        print(f"--out {args.out}: choose a folder outside the repository (or under _build/)",
              file=sys.stderr)
        return 2
    export(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
