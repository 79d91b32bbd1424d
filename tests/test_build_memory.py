"""tools/build_book.py under memory pressure: it sizes how many chapters run at once
from the free memory and says so, records each kernel's peak, and reports a kernel
that was killed (as the kernel OOM killer does) in one line naming the chapter, its
peak and the fix, instead of a bare DeadKernelError."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _build_book():
    spec = importlib.util.spec_from_file_location("build_book_memory", ROOT / "tools" /
                                                  "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'smoke'", metadata={"tags": ["parameters"]}),
                *(nbformat.v4.new_code_cell(s) for s in sources)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_chapter_killed_for_memory_is_one_line_with_its_peak_and_the_fix(tmp_path, monkeypatch):
    build = _build_book()
    monkeypatch.setattr(build, "ROOT", tmp_path)
    source = _notebook(tmp_path / "greedy.ipynb",
                       "import os, signal, time\nblock = bytearray(300_000_000)\ntime.sleep(1.5)",
                       "os.kill(os.getpid(), signal.SIGKILL)")
    (tmp_path / "stage").mkdir()
    with pytest.raises(build.ChapterKilled) as caught:
        build.execute_one(source, tmp_path / "stage", "smoke", {}, 60)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("chapter greedy: its kernel was killed by SIGKILL, most likely "
                              "for lack of memory, at a peak of ")
    assert float(message.split("peak of ")[1].split(" GB")[0]) >= 0.3
    assert "--jobs 1" in message


def test_a_chapter_that_runs_reports_its_kernel_peak(tmp_path, monkeypatch):
    build = _build_book()
    monkeypatch.setattr(build, "ROOT", tmp_path)
    source = _notebook(tmp_path / "fine.ipynb", "import time\nblock = bytearray(200_000_000)"
                       "\ntime.sleep(1.5)")
    (tmp_path / "stage").mkdir()
    build.execute_one(source, tmp_path / "stage", "smoke", {}, 60)
    assert build._watch().peak_gb("fine") >= 0.2


def test_chapters_at_once_follow_the_free_memory(tmp_path, monkeypatch, capsys):
    build = _build_book()
    monkeypatch.setattr(build, "ROOT", tmp_path)
    (tmp_path / "results" / "paper").mkdir(parents=True)
    (tmp_path / "results" / "paper" / "manifest.json").write_text("{}")
    monkeypatch.setattr(build.os, "cpu_count", lambda: 2)

    class Memory:
        def __init__(self, gb: float) -> None:
            self.available = gb * 1e9

    for free, jobs in ((24.0, 2), (4.0, 2), (2.0, 1), (0.5, 1)):
        monkeypatch.setattr(build.psutil, "virtual_memory", lambda free=free: Memory(free))
        assert build.default_jobs("paper", {}) == jobs
        said = capsys.readouterr().out
        assert f"{free:.1f} GB of memory free" in said and f"{jobs} chapter" in said
    assert build.default_jobs("smoke", {}) == 1
