"""Build the book: execute every notebook of _toc.yml with papermill (finite per-cell
timeout, parameters of the chosen profile), then compile the HTML with Jupyter Book
(execution off). Fails on the first notebook error.

    python tools/build_book.py --profile smoke
    python tools/build_book.py --profile paper
    python tools/build_book.py --profile smoke --param max_train_docs=300 --param epochs=1
    python tools/build_book.py --edition student --no-execute   # after a build

The ``student`` edition (``make book EDITION=student``) is the same book without the
exercises' solutions: the executed notebooks lose every cell from a ``{solution-start}``
to its ``{solution-end}``, and sphinx-exercise's ``hide_solutions`` drops any plain
``{solution}``. It is written to ``_build/student/html``; the instructor edition (the
default, solutions folded) to ``_build/html``.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
import psutil
import yaml
from jupyter_client.manager import AsyncKernelManager

ROOT = Path(__file__).resolve().parents[1]
# the most one chapter's kernel needs when the paper profile renders from published
# results (measured by benchmarks/book_memory.py, docs/benchmarks.md), with a margin
CHAPTER_PEAK_GB = 1.5


EDITIONS = ("instructor", "student")


def strip_solutions(nb: nbformat.NotebookNode) -> int:
    """Remove every gated solution (its ``{solution-start}`` and ``{solution-end}`` cells
    and the cells between them) from ``nb``; returns how many solutions it removed. A
    start without an end is an error, not a silently half-stripped page."""
    kept, inside, removed = [], False, 0
    for cell in nb.cells:
        text = "".join(cell.source) if cell.cell_type == "markdown" else ""
        opens, closes = "{solution-start}" in text, "{solution-end}" in text
        if opens and not inside:
            # the exercise may share the cell: keep what comes before the start
            head = text[: text.index("```{solution-start}")].rstrip()
            if head:
                kept.append(nbformat.from_dict({**cell, "source": head}))
            inside, removed = True, removed + 1
            continue
        if inside:
            inside = not closes
            continue
        kept.append(cell)
    if inside:
        raise ValueError("a {solution-start} has no {solution-end}")
    nb.cells = kept
    return removed


INSTRUCTOR_PAGES = ("book/course_guide",)  # left out of the student edition and export


def drop_instructor_pages(root: Path) -> None:
    """Remove the instructors' pages from the book under ``root``: their files, their
    entries in _toc.yml, and the lines of other pages that link to them."""
    toc_path = root / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text())
    toc["chapters"] = [c for c in toc["chapters"] if c.get("file") not in INSTRUCTOR_PAGES]
    toc_path.write_text(yaml.safe_dump(toc, sort_keys=False))
    for page in INSTRUCTOR_PAGES:
        for suffix in (".md", ".ipynb"):
            (root / f"{page}{suffix}").unlink(missing_ok=True)
        link = f"({Path(page).name}.md)"
        for md in (root / "book").glob("*.md"):
            lines = md.read_text().splitlines(keepends=True)
            md.write_text("".join(line for line in lines if link not in line))


def make_student_edition(stage: Path) -> int:
    """Strip the solutions of every executed notebook in ``stage``, drop the instructors'
    pages and set ``hide_solutions`` in its _config.yml; returns the number of solutions
    removed."""
    drop_instructor_pages(stage)
    removed = 0
    for path in sorted(stage.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        removed += strip_solutions(nb)
        nbformat.write(nb, path)
    config = yaml.safe_load((stage / "_config.yml").read_text())
    config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    config["title"] = f"{config.get('title', '')} (student edition)"
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return removed


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


class ChapterKilled(RuntimeError):
    """A chapter's kernel died (killed by a signal: on Linux, usually for lack of memory)."""


class KernelWatch:
    """The peak resident memory of every chapter's kernel, sampled four times a second."""

    def __init__(self) -> None:
        self.kernels: dict[str, Any] = {}  # chapter -> its kernel's Popen
        self.peaks: dict[str, int] = {}  # chapter -> bytes
        self._lock = threading.Lock()
        threading.Thread(target=self._sample, daemon=True).start()

    def manager_for(self, chapter: str) -> type[AsyncKernelManager]:
        """A kernel manager class that registers the kernel it starts under ``chapter``."""
        watch = self

        class ChapterKernel(AsyncKernelManager):
            async def start_kernel(self, **kwargs: Any) -> None:  # type: ignore[override]
                await super().start_kernel(**kwargs)
                process = getattr(self.provisioner, "process", None)
                if process is not None:
                    with watch._lock:
                        watch.kernels[chapter] = process

        return ChapterKernel

    def _sample(self) -> None:
        while True:
            with self._lock:
                kernels = list(self.kernels.items())
            for chapter, process in kernels:
                try:
                    rss = psutil.Process(process.pid).memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                self.peaks[chapter] = max(self.peaks.get(chapter, 0), rss)
            time.sleep(0.25)

    def peak_gb(self, chapter: str) -> float:
        return self.peaks.get(chapter, 0) / 1e9

    def killed_by(self, chapter: str) -> int | None:
        """The signal that ended ``chapter``'s kernel, if one did."""
        process = self.kernels.get(chapter)
        code = None if process is None else process.poll()
        return -code if code is not None and code < 0 else None


WATCH: KernelWatch | None = None


def _watch() -> KernelWatch:
    global WATCH
    if WATCH is None:
        WATCH = KernelWatch()
    return WATCH


def execute_one(source: Path, stage: Path, profile: str, extra: dict[str, object],
                timeout: int) -> float:
    target = stage / source.relative_to(ROOT)
    started = time.monotonic()
    chapter = source.stem
    watch = _watch()
    try:
        pm.execute_notebook(str(source), str(target), parameters={"profile": profile, **extra},
                            cwd=str(source.parent), kernel_name="python3",
                            execution_timeout=timeout, progress_bar=False,
                            log_output=False, report_mode=False,
                            kernel_manager_class=watch.manager_for(chapter))
    except Exception as error:
        if type(error).__name__ != "DeadKernelError":
            raise
        time.sleep(0.5)  # let the dead kernel be reaped
        sig = watch.killed_by(chapter)
        how = (f"killed by {signal.Signals(sig).name}" if sig else "died")
        cause = (", most likely for lack of memory" if sig == signal.SIGKILL else "")
        raise ChapterKilled(
            f"chapter {chapter}: its kernel was {how}{cause}, at a peak of "
            f"{watch.peak_gb(chapter):.1f} GB; free memory, or build one chapter at a time "
            "with `python tools/build_book.py --jobs 1`") from None
    nb = nbformat.read(target, as_version=4)
    present_parameters(nb, {"profile": profile, **extra}, study_line(profile, extra))
    nbformat.write(nb, target)
    return time.monotonic() - started


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.metadata.setdefault("tags", [])


def effective_parameters(nb: nbformat.NotebookNode, injected: dict[str, object]
                         ) -> dict[str, object]:
    """The parameters a page ran with: its parameters cell's defaults, overridden by the
    values papermill injected."""
    values: dict[str, object] = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in _tags(cell):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    try:
                        values[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        values[node.targets[0].id] = ast.unparse(node.value)
    return {**values, **{k: v for k, v in injected.items() if k in values}}


def study_line(profile: str, extra: dict[str, object]) -> str:
    """One readable line naming what a page was built from, e.g. "Built from the paper
    profile: 6 datasets, 108 runs, 3 seeds." (attnlib's study of these parameters)."""
    import inspect

    from attnlib.study import make_study

    names = inspect.signature(make_study).parameters
    study = make_study(profile, **{k: v for k, v in extra.items() if k in names})
    configs = study.run_configs()
    datasets = {c.data.dataset for c in configs}
    seeds = {c.train.seed for c in configs}

    def count(n: int, noun: str) -> str:
        return f"{n} {noun}{'' if n == 1 else 's'}"

    where = "the published results" if profile != "smoke" else "runs trained for this build"
    return (f"Built from the **{profile}** profile: {count(len(datasets), 'dataset')}, "
            f"{count(len(configs), 'run')}, {count(len(seeds), 'seed')} ({where}; the "
            "parameters are folded below).")


def present_parameters(nb: nbformat.NotebookNode, injected: dict[str, object],
                       line: str) -> None:
    """A page opens with prose, not with code: the parameters cell (its defaults, which
    papermill's values may override) and papermill's injected cell become one folded cell
    holding the parameters the page really ran with; the imports cell that follows is
    folded too; one line after the title says what the page was built from."""
    params = effective_parameters(nb, injected)
    kept = []
    for cell in nb.cells:
        tags = _tags(cell)
        if "parameters" in tags:
            cell.source = "# The parameters this page was built with (papermill)\n" + "\n".join(
                f"{name} = {value!r}" for name, value in params.items())
            tags.append("hide-input")
        elif "injected-parameters" in tags:
            continue  # folded into the cell above
        kept.append(cell)
    nb.cells = kept
    first_code = [i for i, c in enumerate(nb.cells)
                  if c.cell_type == "code" and "parameters" not in _tags(c)
                  and "remove-cell" not in _tags(c)]
    if first_code and "import" in nb.cells[first_code[0]].source:
        _tags(nb.cells[first_code[0]]).append("hide-input")
    title = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), None)
    if title is not None:
        heading, _, rest = nb.cells[title].source.partition("\n")
        if heading.startswith("# ") and rest.strip():
            # the title alone, then what the page was built from and found, then the prose
            nb.cells[title].source = heading
            intro = nbformat.v4.new_markdown_cell(rest.strip())
            intro["id"] = "chapter-introduction"
            nb.cells.insert(title + 1, intro)
        cell = nbformat.v4.new_markdown_cell(f"*{line}*", metadata={"tags": ["built-from"]})
        cell["id"] = "built-from"
        nb.cells.insert(title + 1, cell)
        lead_with_findings(nb, title + 2)


def lead_with_findings(nb: nbformat.NotebookNode, position: int) -> None:
    """A page opens with what it found: the cells tagged ``findings`` (computed where the
    chapter's tables are, so they run in order in a live notebook) move to ``position``,
    under the title, their code hidden."""
    found = [c for c in nb.cells if c.cell_type == "code" and "findings" in _tags(c)]
    if not found:
        return
    nb.cells = [c for c in nb.cells if not any(c is f for f in found)]
    for offset, cell in enumerate(found):
        if "remove-input" not in _tags(cell):
            _tags(cell).append("remove-input")
        nb.cells.insert(position + offset, cell)


def execute(stage: Path, profile: str, extra: dict[str, object], timeout: int,
            jobs: int = 1, notebooks: list[Path] | None = None) -> None:
    """Execute ``notebooks`` (default: every chapter); with ``jobs`` > 1, that many at once
    (each kernel with one torch thread: OpenMP threads that spin-wait on a shared CPU cost
    far more than they bring). Only worth it when nothing is trained."""
    notebooks = toc_notebooks() if notebooks is None else notebooks
    if jobs <= 1:
        for source in notebooks:
            print(f"executing {source.relative_to(ROOT)} ...", flush=True)
            seconds = execute_one(source, stage, profile, extra, timeout)
            print(f"  done in {seconds:.0f} s, kernel peak "
                  f"{_watch().peak_gb(source.stem):.2f} GB", flush=True)
        return
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    print(f"executing {len(notebooks)} chapters, {jobs} at a time ...", flush=True)
    with ThreadPoolExecutor(jobs) as pool:
        futures = {pool.submit(execute_one, source, stage, profile, extra, timeout): source
                   for source in notebooks}
        for future in as_completed(futures):
            seconds = future.result()  # re-raises a notebook's failure
            source = futures[future]
            print(f"  {source.relative_to(ROOT)} done in {seconds:.0f} s, kernel peak "
                  f"{_watch().peak_gb(source.stem):.2f} GB", flush=True)


def _cgroup_headroom(proc_cgroup: str, root: Path) -> int | None:
    """Bytes left under this process's cgroup memory limit (v2 ``memory.max`` or v1
    ``memory.limit_in_bytes``), ``None`` when no limit is set or readable."""
    for line in proc_cgroup.splitlines():
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and controllers == "":  # cgroup v2
            files = (root / path.lstrip("/") / "memory.max",
                     root / path.lstrip("/") / "memory.current")
        elif "memory" in controllers.split(","):  # cgroup v1
            base = root / "memory" / path.lstrip("/")
            files = (base / "memory.limit_in_bytes", base / "memory.usage_in_bytes")
        else:
            continue
        try:
            limit, used = (f.read_text().strip() for f in files)
        except OSError:
            continue
        if limit == "max" or int(limit) >= 1 << 60:
            continue
        return max(0, int(limit) - int(used))
    return None


def free_memory_bytes() -> int:
    """The memory this build can use: what the machine has available, or less where a
    cgroup (a container, ``systemd-run -p MemoryMax=``) caps this process."""
    available = psutil.virtual_memory().available
    try:
        capped = _cgroup_headroom(Path("/proc/self/cgroup").read_text(), Path("/sys/fs/cgroup"))
    except OSError:
        capped = None
    return available if capped is None else min(available, capped)


def default_jobs(profile: str, extra: dict[str, object]) -> int:
    """When the book renders from published results (nothing to train): as many chapters
    at a time as the free memory holds (:data:`CHAPTER_PEAK_GB` each), at most two (and
    one per core); says how many and why. One otherwise."""
    published = (ROOT / "results" / profile / "manifest.json").exists()
    if not published or extra:
        return 1
    cores = min(2, os.cpu_count() or 1)
    free = free_memory_bytes() / 1e9
    jobs = max(1, min(cores, int(free // CHAPTER_PEAK_GB)))
    print(f"{free:.1f} GB of memory free, each chapter needs up to {CHAPTER_PEAK_GB} GB: "
          f"{jobs} chapter{'s' if jobs > 1 else ''} at a time"
          + (" (fewer than the cores allow: free memory or expect a slower build)"
             if jobs < cores else ""), flush=True)
    return jobs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=os.environ.get("PROFILE", "paper"))
    parser.add_argument("--param", action="append", default=[],
                        help="extra papermill parameter NAME=VALUE (Python literal)")
    parser.add_argument("--timeout", type=int, default=int(os.environ.get("NB_TIMEOUT", 3600)),
                        help="seconds per cell")
    parser.add_argument("--edition", choices=EDITIONS,
                        default=os.environ.get("EDITION") or "instructor",
                        help="instructor (solutions folded, the default) or student "
                             "(solutions removed, written to _build/student/html)")
    parser.add_argument("--no-execute", action="store_true",
                        help="reuse the notebooks the last build executed (_build/executed)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="chapters executed at once (default: 2 for a profile with "
                             "published results, else 1)")
    args = parser.parse_args()
    if not (ROOT / "_vendor" / "vega" / "vega.min.js").exists():
        print("_vendor/ is missing: run tools/vendor_js.sh (make book does)", file=sys.stderr)
        return 2
    started = time.monotonic()
    stage = ROOT / "_build" / "executed"
    if args.no_execute:
        if not any(stage.rglob("*.ipynb")):
            print(f"--no-execute: {stage} holds no executed notebooks; build the book once "
                  "without it", file=sys.stderr)
            return 2
        return compile_html(stage, args.edition, None, started)
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    shutil.copytree(ROOT / "book", stage / "book",
                    ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, stage / name)
    shutil.copytree(ROOT / "_vendor", stage / "_vendor")
    extra = dict(_parse_param(p) for p in args.param)
    try:
        jobs = args.jobs or default_jobs(args.profile, extra)
        if jobs == 1 and args.jobs is None and (os.cpu_count() or 1) > 1:
            # a profile that trains: the chapters up to the models chapter train (all
            # threads, one at a time); the others read the run cache, two at a time; the
            # conclusions, which read what the others computed, come last
            notebooks = toc_notebooks()
            first = [n.stem for n in notebooks].index("models") + 1
            execute(stage, args.profile, extra, args.timeout, 1, notebooks[:first])
            execute(stage, args.profile, extra, args.timeout, 2, notebooks[first:-1])
            execute(stage, args.profile, extra, args.timeout, 1, notebooks[-1:])
        else:
            execute(stage, args.profile, extra, args.timeout, jobs)
    except pm.PapermillExecutionError as exc:
        print(f"\nnotebook failed: {exc.ename}: {exc.evalue}", file=sys.stderr)
        return 1
    except ChapterKilled as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    return compile_html(stage, args.edition, args.profile, started)


def compile_html(stage: Path, edition: str, profile: str | None, started: float) -> int:
    """Jupyter Book on the executed notebooks of ``stage`` (a copy of it for the student
    edition, so that the instructor's stays reusable)."""
    output = ROOT
    if edition == "student":
        student = ROOT / "_build" / "student"
        shutil.rmtree(student, ignore_errors=True)
        shutil.copytree(stage, student / "source")
        removed = make_student_edition(student / "source")
        print(f"student edition: {removed} solutions removed", flush=True)
        stage, output = student / "source", student
    html = output / "_build" / "html"
    shutil.rmtree(html, ignore_errors=True)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    build = subprocess.run([str(jupyter_book), "build", str(stage), "--path-output", str(output),
                            "--warningiserror", "--keep-going", "--quiet"])
    if build.returncode != 0:
        print("jupyter-book build failed", file=sys.stderr)
        return build.returncode
    if edition == "student":  # _build/student/_build/html -> _build/student/html
        final = ROOT / "_build" / "student" / "html"
        shutil.move(str(html), str(final))
        shutil.rmtree(output / "_build", ignore_errors=True)
        html = final
    source = f"{profile} profile" if profile else "the notebooks executed last"
    print(f"\n{edition} edition built in {time.monotonic() - started:.0f} s ({source}): "
          f"open {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
