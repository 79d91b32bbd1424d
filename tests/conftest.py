"""Shared fixtures: the data mirror, small real-data runs trained once per session."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MIRROR = ROOT.parent / "shared" / "data"

if not os.environ.get("ATTNLIB_DATA_MIRROR") and SHARED_MIRROR.exists():
    os.environ["ATTNLIB_DATA_MIRROR"] = str(SHARED_MIRROR)


def _has_mirror(dataset: str) -> bool:
    mirror = os.environ.get("ATTNLIB_DATA_MIRROR")
    return bool(mirror) and (Path(mirror) / dataset / "train.jsonl.gz").exists()


requires_imdb = pytest.mark.skipif(not _has_mirror("imdb"),
                                   reason="needs the IMDB mirror (ATTNLIB_DATA_MIRROR)")


def _small_run(tmp_path_factory, arch: str, encoder: str, seed: int = 1):
    if not _has_mirror("imdb"):
        pytest.skip("needs the IMDB mirror")
    from attnlib.config import make_run_config
    from attnlib.training.runs import load_run
    from attnlib.training.train import train_run

    config = make_run_config("smoke", "imdb", arch, encoder, seed=seed, max_train_docs=600,
                             max_test_docs=200, epochs=1)
    out = tmp_path_factory.mktemp("runs") / f"{arch}-{encoder}-{seed}"
    train_run(config, out, device="cpu", progress=False)
    return load_run(out, device="cpu")


@pytest.fixture(scope="session")
def small_imdb_run(tmp_path_factory):
    """A FLAN-rnn trained for one epoch on 600 real IMDB reviews (200 test reviews)."""
    return _small_run(tmp_path_factory, "flan", "rnn")


@pytest.fixture(scope="session")
def small_imdb_run_other_seed(tmp_path_factory):
    """``small_imdb_run`` trained from another seed (seed variance)."""
    return _small_run(tmp_path_factory, "flan", "rnn", seed=2)


@pytest.fixture(scope="session")
def small_imdb_han_run(tmp_path_factory):
    """A HAN-conv trained for one epoch on 600 real IMDB reviews (200 test reviews)."""
    return _small_run(tmp_path_factory, "han", "conv")


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a random port) in a thread; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def open_offline_page(browser, url: str, **page_options):
    """A page of ``browser`` at ``url`` that lets no request leave 127.0.0.1 (data: and
    blob: allowed). Returns (page, external requests blocked, page and console errors)."""
    page = browser.new_page(**page_options)
    external: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(url, wait_until="load")
    return page, external, errors
