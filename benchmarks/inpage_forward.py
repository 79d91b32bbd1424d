"""Speed of the in-page model: the median time of one 300-token forward pass of the
exported FLAN models in headless Chromium (words never seen before, so no cached
embedding), against the 50 ms the interactive explorer aims for.

Moved out of tests/test_inpage_model.py: a slow or busy machine is not a defect, so no
test asserts a time; this script prints the measurement and its ratio to the target.

    python benchmarks/inpage_forward.py [--run RUN_DIR ...] [--repeats 7]

Without ``--run`` it trains FLAN-rnn and FLAN-noenc on 600 IMDB reviews for one epoch
(the test suite's models; needs the data mirror). Needs Chromium and Playwright.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attnlib.config import make_run_config  # noqa: E402
from attnlib.presentation.inpage_explorer import inpage_explorer_html  # noqa: E402
from attnlib.presentation.inpage_model import export_inpage_model, payload_size  # noqa: E402
from attnlib.training.runs import load_run  # noqa: E402
from attnlib.training.train import train_run  # noqa: E402

TARGET_MS = 50.0
TIMING_JS = """repeats => AttnlibInpage.instances.b.models.map(m => {
    let seed = 1; const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const ids = () => Array.from({length: 300}, () => 2 + Math.floor(rand() * (m.vocab.size - 2)));
    for (let i = 0; i < 3; i++) m.forward(ids());  // warm up the JIT
    const ms = [];
    for (let i = 0; i < repeats; i++) { const x = ids(); m.cache.clear();
        const t0 = performance.now(); m.forward(x); ms.push(performance.now() - t0); }
    ms.sort((a, b) => a - b);
    return ms[Math.floor(ms.length / 2)]; })"""


def smoke_runs(folder: Path) -> list[Path]:
    out = []
    for encoder in ("rnn", "noenc"):
        config = make_run_config("smoke", "imdb", "flan", encoder, seed=1, max_train_docs=600,
                                 max_test_docs=200, epochs=1)
        target = folder / f"flan-{encoder}"
        train_run(config, target, device="cpu", progress=False)
        out.append(target)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs="*", type=Path, default=None,
                        help="FLAN run folders (rnn or noenc encoder)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("this benchmark needs Chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folders = args.run or smoke_runs(Path(tmp))
        payloads = [export_inpage_model(load_run(f, device="cpu")) for f in folders]
        page_file = Path(tmp) / "index.html"
        page_file.write_text("<!doctype html><html><head><meta charset='utf-8'></head><body>"
                             + inpage_explorer_html(payloads, "b") + "</body></html>",
                             encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page()
            page.goto(page_file.as_uri(), wait_until="load")
            page.wait_for_selector(".attnlib-inpage-prob", timeout=30_000)
            medians = page.evaluate(TIMING_JS, args.repeats)
            browser.close()
    print(f"{'model':<40} {'payload bytes':>14} {'median ms / 300 tokens':>24} "
          f"{'/ target 50 ms':>15}")
    for folder, payload, ms in zip(folders, payloads, medians):
        print(f"{str(folder.name):<40} {payload_size(payload):>14,} {ms:>24.1f} "
              f"{ms / TARGET_MS:>15.2f}")


if __name__ == "__main__":
    main()
