"""Build the book: execute every notebook of _toc.yml with papermill (finite per-cell
timeout, parameters of the chosen profile), then compile the HTML with Jupyter Book
(execution off). Fails on the first notebook error.

    python tools/build_book.py --profile smoke
    python tools/build_book.py --profile paper
    python tools/build_book.py --profile smoke --param max_train_docs=300 --param epochs=1
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill as pm
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_notebooks() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for c in toc.get("chapters", [])]
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def _parse_param(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def execute(stage: Path, profile: str, extra: dict[str, object], timeout: int) -> None:
    for source in toc_notebooks():
        target = stage / source.relative_to(ROOT)
        started = time.monotonic()
        print(f"executing {source.relative_to(ROOT)} ...", flush=True)
        pm.execute_notebook(str(source), str(target), parameters={"profile": profile, **extra},
                            cwd=str(source.parent), kernel_name="python3",
                            execution_timeout=timeout, progress_bar=False,
                            log_output=False, report_mode=False)
        nb = nbformat.read(target, as_version=4)
        for cell in nb.cells:  # keep the record of what produced the page, folded away
            if "injected-parameters" in cell.metadata.get("tags", []):
                cell.metadata["tags"] = [*cell.metadata["tags"], "hide-input"]
        nbformat.write(nb, target)
        print(f"  done in {time.monotonic() - started:.0f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=os.environ.get("PROFILE", "smoke"))
    parser.add_argument("--param", action="append", default=[],
                        help="extra papermill parameter NAME=VALUE (Python literal)")
    parser.add_argument("--timeout", type=int, default=int(os.environ.get("NB_TIMEOUT", 3600)),
                        help="seconds per cell")
    args = parser.parse_args()
    if not (ROOT / "_vendor" / "vega" / "vega.min.js").exists():
        print("_vendor/ is missing: run tools/vendor_js.sh (make book does)", file=sys.stderr)
        return 2
    started = time.monotonic()
    stage = ROOT / "_build" / "executed"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    shutil.copytree(ROOT / "book", stage / "book",
                    ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, stage / name)
    shutil.copytree(ROOT / "_vendor", stage / "_vendor")
    extra = dict(_parse_param(p) for p in args.param)
    try:
        execute(stage, args.profile, extra, args.timeout)
    except pm.PapermillExecutionError as exc:
        print(f"\nnotebook failed: {exc.ename}: {exc.evalue}", file=sys.stderr)
        return 1
    html = ROOT / "_build" / "html"
    shutil.rmtree(html, ignore_errors=True)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    build = subprocess.run([str(jupyter_book), "build", str(stage), "--path-output", str(ROOT),
                            "--warningiserror", "--keep-going", "--quiet"])
    if build.returncode != 0:
        print("jupyter-book build failed", file=sys.stderr)
        return build.returncode
    print(f"\nbook built in {time.monotonic() - started:.0f} s ({args.profile} profile): "
          f"open {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
