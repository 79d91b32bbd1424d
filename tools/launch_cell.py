"""The first cell of every chapter: where attnlib is not installed (a chapter opened in
Colab or Binder from the book's launch buttons), it installs it from the repository, so
that the chapter renders from the published results like the book.

    python tools/launch_cell.py           # write the cell into every chapter of _toc.yml
    python tools/launch_cell.py --check   # exit 1 if a chapter's cell is missing or stale

The repository comes from one setting, ``repository.url`` in _config.yml, which also
turns the launch buttons on (book/_ext/attnlib_sphinx.py). The cell is removed from the
rendered pages (tag ``remove-cell``); tests/test_book.py checks that every chapter has it
and that it matches the setting.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
TAG = "attnlib-launch"


def repository_url(root: Path = ROOT) -> str:
    config = yaml.safe_load((root / "_config.yml").read_text())
    return str((config.get("repository") or {}).get("url") or "")


def launch_cell_source(url: str) -> str:
    return f'''# Opened in Colab or Binder? Install attnlib from its repository when it is missing.
try:
    import attnlib  # noqa: F401
except ImportError:
    import os
    import subprocess
    import sys

    REPOSITORY = "{url}"  # _config.yml: repository.url
    if not REPOSITORY:
        raise RuntimeError("attnlib is not installed: clone the repository and run "
                           "`pip install -r requirements.txt && pip install -e .`")
    if not os.path.isdir("attnlib-book"):
        subprocess.run(["git", "clone", "--depth", "1", REPOSITORY, "attnlib-book"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "attnlib-book",
                    "altair", "ipywidgets", "papermill"], check=True)
    sys.path.insert(0, os.path.abspath("attnlib-book"))
    os.chdir("attnlib-book/book")  # the chapters read results/paper/ from here
    import attnlib  # noqa: F401'''


def chapters(root: Path = ROOT) -> list[Path]:
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    return [root / f"{c['file']}.ipynb" for c in toc.get("chapters", [])
            if (root / f"{c['file']}.ipynb").exists()]


def _find(nb: nbformat.NotebookNode) -> int | None:
    return next((i for i, c in enumerate(nb.cells) if TAG in c.metadata.get("tags", [])), None)


def stale(root: Path = ROOT) -> list[str]:
    """Chapters whose launch cell is missing or does not match _config.yml."""
    expected = launch_cell_source(repository_url(root))
    problems = []
    for path in chapters(root):
        nb = nbformat.read(path, as_version=4)
        index = _find(nb)
        if index is None or nb.cells[index].source != expected:
            problems.append(path.relative_to(root).as_posix())
    return problems


def write(root: Path = ROOT) -> list[str]:
    """Insert or update the launch cell (the first cell) of every chapter."""
    source = launch_cell_source(repository_url(root))
    changed = []
    for path in chapters(root):
        nb = nbformat.read(path, as_version=4)
        index = _find(nb)
        if index is not None and nb.cells[index].source == source:
            continue
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": [TAG, "remove-cell"]})
        cell["id"] = TAG  # stable, so that rewriting it changes nothing else
        if index is None:
            nb.cells.insert(0, cell)
        else:
            nb.cells[index].source = source
        nbformat.write(nb, path)
        changed.append(path.relative_to(root).as_posix())
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        problems = stale()
        for p in problems:
            print(f"{p}: its launch cell is missing or out of date with _config.yml "
                  "(run python tools/launch_cell.py)", file=sys.stderr)
        return 1 if problems else 0
    changed = write()
    print(f"launch cell written to {len(changed)} chapter(s)" if changed else "up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
