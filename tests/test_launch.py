"""Launch buttons and the chapters' launch cell (tools/launch_cell.py,
book/_ext/attnlib_sphinx.py): one setting, ``repository.url`` in _config.yml, turns the
Binder and Colab buttons on, and every chapter's first cell installs attnlib from that
repository when it is missing."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


launch_cell = _module(ROOT / "tools" / "launch_cell.py", "launch_cell")
sphinx_ext = _module(ROOT / "book" / "_ext" / "attnlib_sphinx.py", "attnlib_sphinx")


def test_every_chapter_has_a_launch_cell_in_step_with_the_config():
    assert launch_cell.stale() == [], "run python tools/launch_cell.py"
    for path in launch_cell.chapters():
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0]
        assert launch_cell.TAG in first.metadata["tags"] and "remove-cell" in first.metadata["tags"]


def test_the_launch_cell_is_a_no_op_where_attnlib_is_installed(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    exec(compile(launch_cell.launch_cell_source("https://example.org/attnlib.git"), "cell",
                 "exec"), {})
    assert list(tmp_path.iterdir()) == []  # nothing cloned or installed


def test_changing_the_repository_url_makes_the_cells_stale_until_rewritten(tmp_path):
    root = tmp_path / "book-copy"
    (root / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    for path in launch_cell.chapters():
        shutil.copy(path, root / "book" / path.name)
    config = yaml.safe_load((root / "_config.yml").read_text())
    config["repository"]["url"] = "https://github.com/example/attnlib"
    (root / "_config.yml").write_text(yaml.safe_dump(config))
    assert len(launch_cell.stale(root)) == len(launch_cell.chapters(root)) > 0
    launch_cell.write(root)
    assert launch_cell.stale(root) == []
    cell = nbformat.read(launch_cell.chapters(root)[0], 4).cells[0]
    assert 'REPOSITORY = "https://github.com/example/attnlib"' in cell.source


def _config(url: str) -> SimpleNamespace:
    return SimpleNamespace(html_theme_options={
        "repository_url": url, "use_repository_button": True,
        "launch_buttons": {"binderhub_url": "https://mybinder.org",
                           "colab_url": "https://colab.research.google.com"}})


def test_launch_buttons_only_with_a_repository_url():
    unset = _config("")
    sphinx_ext.launch_buttons_need_a_repository(None, unset)
    assert unset.html_theme_options["launch_buttons"] == {}
    assert unset.html_theme_options["use_repository_button"] is False
    configured = _config("https://github.com/example/attnlib")
    sphinx_ext.launch_buttons_need_a_repository(None, configured)
    assert configured.html_theme_options["launch_buttons"]["colab_url"]
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["binderhub_url"] and config["launch_buttons"]["colab_url"]
    assert (ROOT / "binder" / "postBuild").exists()


def test_each_script_is_kept_once():
    from sphinx.builders.html._assets import _JavaScript

    scripts = [_JavaScript(None, body="const A = 1", priority=500),
               _JavaScript("", body="const A = 1", priority=200),
               _JavaScript("x.js"), _JavaScript("x.js", priority=800)]
    context = {"script_files": scripts}
    sphinx_ext.keep_each_script_once(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts and len(scripts) == 2
