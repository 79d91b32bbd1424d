"""The in-page "type your own text" explorer (attnlib/presentation/inpage_model.py and
inpage_model.js): the exported payload reproduces the model (NumPy, then headless
Chromium), the page's tokeniser gives the library's tokens, the payload is light and the
page fast.

The browser tests use a standalone page written to tmp_path, not the book build.
Tokeniser differences: none remain on the sample sentences below, nor on 600 real
reviews and 400 random strings checked while porting. Known, untested ones: ``\\d`` and
``\\w`` in spaCy's URL pattern are Unicode in Python and ASCII in JavaScript (URLs whose
scheme or port uses non-ASCII letters or digits), and a Python ``lower()`` that differs
from JavaScript's ``toLowerCase()`` (none known for the vocabulary's words).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from attnlib.data.batching import collate
from attnlib.data.text import tokenize_documents
from attnlib.errors import DataError, ParameterError
from attnlib.presentation.inpage_model import (
    MAX_PAYLOAD_BYTES,
    decode_array,
    dequantize_rows,
    encode_tokens,
    export_inpage_model,
    js_regex,
    payload_size,
    quantize_rows,
    reference_forward,
)

from .conftest import _small_run, open_offline_page, requires_imdb, serve_directory

CHROMIUM = shutil.which("chromium")
SAMPLES = [
    "This movie was absolutely terrible, I can't believe I wasted 2 hours on it.",
    "A masterpiece! The acting (especially by Smith) was superb.",
    "don't DON'T Don't dont can't won't y'all 'Cause rock 'n' roll",
    "It's the film's best scene - but it isn't great... 7/10!!!",
    "U.S.A. e.g. i.e. Mr. Dr. Jr. vs. Inc. 10a.m. 3 p.m. 5km/h 20°C",
    "mid-1990s $1,000.00 (approx.) 3x 1st 100% co-op 10-20 a--b",
    "email: foo.bar@baz.co.uk, web: https://www.example.com/path?q=1&r=2.",
    "ok:(((  great:-) x(: :-)): Hello:) world : ) <3 </3",
    "“Quoted” ‘single’ «guillemets» — dash–dash… naïve café ß 😀👍🏽 ok 😀.",
    "a\n\nb  c\ttab\u00a0nbsp  trailing  ",
    "O'Neill's McDonald's he said:\"no\" <br /> #good @user C++ node.js",
]


@pytest.fixture(scope="module")
def flan_runs(small_imdb_run, tmp_path_factory):
    """(FLAN-rnn, FLAN-noenc), each trained one epoch on 600 real IMDB reviews."""
    return small_imdb_run, _small_run(tmp_path_factory, "flan", "noenc")


def _model_probabilities(run, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        logits = run.model(torch.as_tensor(ids, dtype=torch.long)[None].to(run.model.device)).logits
    return torch.softmax(logits.double(), -1)[0].cpu().numpy()


# --- Python side ----------------------------------------------------------------------

def test_quantisation_round_trip_and_bits():
    m = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    m[2] = 0
    for bits, tol in ((16, 1e-4), (8, 2e-2)):
        ints, scale = quantize_rows(m, bits)
        assert ints.dtype == (np.int16 if bits == 16 else np.int8)
        assert np.abs(dequantize_rows(ints, scale) - m).max() < tol * np.abs(m).max()
    with pytest.raises(ParameterError, match="bits"):
        quantize_rows(m, 4)


def test_js_regex_rewrites_python_only_syntax():
    assert js_regex(r"(?u)^\U0001F600\'\!") == r"^\u{1F600}'!"
    assert js_regex(r"[\-a]\-x{2,3}^{") == r"[\-a]-x{2,3}^\{"


@requires_imdb
def test_payload_reproduces_the_model_in_numpy(flan_runs):
    for run in flan_runs:
        payload = export_inpage_model(run)
        assert payload_size(payload) <= MAX_PAYLOAD_BYTES
        assert payload["vocab"] == list(run.data.vocab.itos)  # the smoke vocabulary fits
        corpus = run.data.test
        for i in range(8):
            ids = corpus.tokens(i)
            ref = reference_forward(payload, ids)
            np.testing.assert_allclose(ref["probabilities"], _model_probabilities(run, ids),
                                       atol=1e-4)
            with torch.no_grad():
                out = run.model(collate(corpus, np.array([i]), "flan").tokens)
            np.testing.assert_allclose(ref["alpha"], out.alpha[0].numpy(), atol=1e-4)
        # typed text: the page's lookup (lowercased) gives the library's ids
        [sentences] = tokenize_documents([SAMPLES[0]])
        tokens = [t for s in sentences for t in s]
        assert encode_tokens(payload, tokens).tolist() == run.data.vocab.encode(tokens)


@requires_imdb
def test_export_limits_and_errors(flan_runs):
    run = flan_runs[0]
    small = export_inpage_model(run, max_words=50, bits=8)
    assert len(small["vocab"]) == 50 and small["vocab_size_trained"] > 50
    assert decode_array(small["embeddings"]).dtype == np.int8
    assert payload_size(small) < payload_size(export_inpage_model(run))
    rare = run.data.vocab.itos[60]
    assert encode_tokens(small, [rare.upper(), "the"]).tolist() == [1, run.data.vocab.index("the")]
    with pytest.raises(DataError, match="more than"):
        export_inpage_model(run, max_bytes=10)
    han = SimpleNamespace(config=replace(run.config, model=replace(run.config.model, arch="han")))
    with pytest.raises(ParameterError, match="supports FLAN"):
        export_inpage_model(han)  # type: ignore[arg-type]


# --- in the browser -------------------------------------------------------------------

@pytest.fixture(scope="module")
def page(flan_runs, tmp_path_factory):
    playwright = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("apt-get install chromium")
    from attnlib.presentation.inpage_explorer import inpage_explorer_html

    payloads = [export_inpage_model(run) for run in flan_runs]
    folder = tmp_path_factory.mktemp("inpage")
    (folder / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'></head><body>"
        + inpage_explorer_html(payloads, "t") + "</body></html>", encoding="utf-8")
    with serve_directory(folder) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        pg, external, errors = open_offline_page(browser, f"{url}/index.html")
        pg.wait_for_selector(".attnlib-inpage-prob", timeout=30_000)
        yield pg
        browser.close()
    assert external == [] and errors == []


@pytest.mark.browser
@requires_imdb
def test_page_tokenizer_gives_the_library_tokens(page):
    js = page.evaluate("s => s.map(t => AttnlibInpage.instances.t.tokenizer.tokenize(t))",
                       SAMPLES)
    py = [[t for s in d for t in s] for d in tokenize_documents(SAMPLES)]
    assert js == py


@pytest.mark.browser
@requires_imdb
def test_page_probabilities_equal_the_models(page, flan_runs):
    from attnlib.presentation.explorer import document_view_from_text

    for index, run in enumerate(flan_runs):
        corpus = run.data.test
        for i in range(5):
            ids = corpus.tokens(i).tolist()
            got = page.evaluate("([m, ids]) => AttnlibInpage.instances.t.models[m]"
                                ".forward(ids).probabilities", [index, ids])
            np.testing.assert_allclose(got, _model_probabilities(run, np.array(ids)), atol=1e-4)
            text = " ".join(t for s in corpus.display_tokens(i) for t in s)
            view = document_view_from_text(run, text)
            out = page.evaluate("""([m, text]) => { const r = AttnlibInpage.instances.t
                .classify(text, m); return {p: r.view.probabilities, a: Array.from(r.view.alpha),
                g: Array.from(r.view.gradient), e: r.model.erasedProbabilities(r.view,
                new Set([0, 2]))}; }""", [index, text])
            np.testing.assert_allclose(out["p"], view.probabilities(), atol=1e-4)
            np.testing.assert_allclose(out["a"], view.alpha, atol=1e-4)
            np.testing.assert_allclose(out["g"], view.gradient, atol=1e-4)
            np.testing.assert_allclose(out["e"], view.probabilities([0, 2]), atol=1e-4)


def _shown(page) -> np.ndarray:
    return np.array([float(v) for v in page.locator(".attnlib-inpage-prob").evaluate_all(
        "els => els.map(e => e.dataset.value)")])


@pytest.mark.browser
@requires_imdb
def test_typing_clicking_and_erasing_top_k(page, flan_runs):
    from attnlib.presentation.explorer import document_view_from_text

    run = flan_runs[0]  # the first model is selected
    text = SAMPLES[0]
    page.fill(".attnlib-inpage-text", text)
    page.wait_for_function("t => AttnlibInpage.instances.t.current.tokens.join(' ').startsWith('This')"
                           " && document.querySelector('.attnlib-inpage-text').value === t", arg=text)
    page.wait_for_timeout(400)
    view = document_view_from_text(run, text)
    np.testing.assert_allclose(_shown(page), view.probabilities(), atol=1e-4)
    page.locator(".attnlib-inpage-token").nth(3).click()
    np.testing.assert_allclose(_shown(page), view.probabilities([3]), atol=1e-4)
    page.locator(".attnlib-inpage-restore").click()
    for ranking in ("attention", "gradient"):
        page.select_option(".attnlib-inpage-ranking", ranking)
        page.fill(".attnlib-inpage-k", "4")
        page.locator(".attnlib-inpage-erase").click()
        erased = view.order(ranking)[:4]
        np.testing.assert_allclose(_shown(page), view.probabilities(erased), atol=1e-4)
        assert page.locator(".attnlib-inpage-token.erased").count() == 4
    status = page.locator(".attnlib-inpage-status").inner_text()
    assert "erased 4 of" in status
    # the page names the decision and shows every weight without hovering
    probs = _shown(page)
    assert f"predicted: {run.data.spec.classes[int(np.argmax(probs))]}" in status
    alphas = page.locator(".attnlib-inpage-alpha").all_inner_texts()
    assert len(alphas) == page.locator(".attnlib-inpage-token").count()
    np.testing.assert_allclose([float(a) for a in alphas], view.alpha, atol=6e-4)
    assert "needs JavaScript" not in page.locator(".attnlib-inpage").first.inner_text()


@pytest.mark.browser
@requires_imdb
def test_payload_size_and_a_long_forward(page):
    """The payloads fit the size budget and a 300-token forward pass on unseen words gives
    a probability distribution. Its speed is measured by benchmarks/inpage_forward.py (a
    slow machine is not a defect)."""
    sizes = page.evaluate("""() => JSON.parse(document.querySelector('script.attnlib-inpage-data')
        .textContent).models.map(m => new Blob([JSON.stringify(m)]).size)""")
    assert len(sizes) == 2 and max(sizes) <= MAX_PAYLOAD_BYTES
    sums = page.evaluate("""() => AttnlibInpage.instances.t.models.map(m => {
        let seed = 1; const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
        const ids = Array.from({length: 300}, () => 2 + Math.floor(rand() * (m.vocab.size - 2)));
        m.cache.clear();
        const out = m.forward(ids);
        const p = Array.from(out.probabilities);
        return [p.length, p.reduce((a, b) => a + b, 0), Math.min(...p)]; })""")
    for length, total, smallest in sums:
        assert length == 2 and abs(total - 1) < 1e-5 and smallest >= 0


@requires_imdb
def test_section_shows_runs_with_a_checkpoint_and_names_those_without(flan_runs, tmp_path):
    from attnlib.presentation.inpage_explorer import STORED_PAYLOAD, inpage_section

    def record(run, has_model: bool, directory=None):
        return SimpleNamespace(directory=directory or run.directory, has_model=has_model,
                               load_model=lambda device="auto": run, config=run.config)

    rnn, noenc = flan_runs
    note, html = inpage_section([record(rnn, True), record(noenc, False, tmp_path)])
    assert note == f"{noenc.config.label} was published without a checkpoint, so it cannot run in the page."
    assert html.count('class="attnlib-inpage"') == 1 and rnn.config.label in html
    assert html.count("</script") == 2  # nothing in the payload ends its element early
    # a payload stored beside a published run stands in for its checkpoint
    (tmp_path / STORED_PAYLOAD).write_text(json.dumps(export_inpage_model(noenc)))
    note, html = inpage_section([record(noenc, False, tmp_path)])
    assert note == "" and noenc.config.label in html
    assert inpage_section([])[1] == ""


def test_the_section_picks_the_first_dataset_whose_models_can_run(tmp_path):
    """The chapter shows the seed-0 FLAN noenc/rnn models of the first dataset with a
    checkpoint or a stored payload (the published book has them for one dataset only)."""
    from types import SimpleNamespace

    from attnlib.presentation.inpage_explorer import STORED_PAYLOAD, inpage_runs

    def record(dataset: str, model: str, seed: int = 0, model_file: bool = False,
               payload: bool = False):
        folder = tmp_path / f"{dataset}-{model}-{seed}"
        folder.mkdir()
        if payload:
            (folder / STORED_PAYLOAD).write_text("{}")
        config = SimpleNamespace(data=SimpleNamespace(dataset=dataset),
                                 train=SimpleNamespace(seed=seed),
                                 model=SimpleNamespace(name=model))
        return SimpleNamespace(config=config, directory=folder, has_model=model_file)

    runs = [record("a", "FLANrnn"), record("a", "HANrnn", model_file=True),
            record("b", "FLANnoenc", payload=True), record("b", "FLANrnn", seed=1),
            record("c", "FLANrnn", model_file=True)]
    assert inpage_runs(runs, ["a", "b", "c"]) == [runs[2]]
    assert inpage_runs(runs, ["a"]) == [runs[0]]  # nothing runnable: the note explains
    assert inpage_runs(runs, []) == []
