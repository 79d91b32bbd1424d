"""The "type your own text" explorer of the static book: HTML that carries the exported
FLAN models (:mod:`attnlib.presentation.inpage_model`) and ``inpage_model.js``, inline, so
that it works offline and with no kernel. Rendering only. Shown in the chapter "Explore a
model" (book/explore.ipynb).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from ..errors import DataError, ParameterError
from ..training.runs import TrainedRun
from .inpage_model import (
    PAYLOAD_FORMAT,
    export_inpage_model,
    payload_json,
    tokenizer_payload,
)

SCRIPT = Path(__file__).with_name("inpage_model.js")
# a payload stored beside a published run that has no checkpoint (results/paper/...)
STORED_PAYLOAD = "inpage_model.json"
DEFAULT_TEXT = ("The acting was wonderful and the story kept me interested, "
                "but the ending was a terrible disappointment.")


class RunLike(Protocol):
    """What the section needs of a run record (:class:`attnlib.study.RunRecord`)."""

    @property
    def directory(self) -> Path: ...

    @property
    def has_model(self) -> bool: ...

    def load_model(self, device: str = "auto") -> TrainedRun: ...


@lru_cache(maxsize=1)
def inpage_script() -> str:
    """The page's JavaScript (``inpage_model.js``)."""
    return SCRIPT.read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    # "<" escaped so that no "</script>" or "<!--" in a word can end the element early
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def inpage_explorer_html(payloads: Sequence[dict[str, Any]], key: str,
                         default_text: str = DEFAULT_TEXT) -> str:
    """Self-contained HTML: a textarea, the tokens shaded by attention, the class
    probabilities, click-to-erase and "erase the top k by attention / gradient", for the
    models ``payloads`` (from :func:`export_inpage_model`); ``key`` is unique on the page."""
    if not payloads:
        raise ParameterError("inpage_explorer_html needs at least one exported model")
    for p in payloads:
        if p.get("format") != PAYLOAD_FORMAT:
            raise ParameterError(f"not an in-page model payload: format {p.get('format')!r}, "
                                 f"expected {PAYLOAD_FORMAT!r}")
    models = ",".join(payload_json(p).replace("<", "\\u003c") for p in payloads)
    data = (f'{{"key":{_script_json(key)},"default_text":{_script_json(default_text)},'
            f'"tokenizer":{_script_json(tokenizer_payload())},"models":[{models}]}}')
    return (f'<div class="attnlib-inpage" data-key="{html.escape(key)}">'
            f'<script type="application/json" class="attnlib-inpage-data">{data}</script>'
            f'<div class="attnlib-inpage-ui">(the in-page model needs JavaScript)</div></div>'
            f"<script>{inpage_script()}</script>")


def inpage_payload(directory: Path, load: Callable[[], TrainedRun] | None
                   ) -> dict[str, Any] | None:
    """The payload of the run in ``directory``: the one stored beside it if any, else
    exported from ``load()`` (its checkpoint), else ``None`` (published without either)."""
    stored = directory / STORED_PAYLOAD
    if stored.exists():
        try:
            payload: dict[str, Any] = json.loads(stored.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"{stored} is damaged ({type(error).__name__}); restore it with "
                            f"`git checkout -- {stored}`") from error
        return payload
    return export_inpage_model(load()) if load is not None else None


INPAGE_MODELS = ("FLANnoenc", "FLANrnn")


def inpage_runs(records: Sequence[Any], datasets: Sequence[str]) -> list[Any]:
    """The seed-0 FLAN noenc and rnn runs (:data:`INPAGE_MODELS`) of the first of
    ``datasets`` that has one the page can run (a stored payload or a checkpoint), else
    those of the first dataset (the section then says why it shows nothing)."""
    def of(dataset: str) -> list[Any]:
        return [r for r in records if r.config.data.dataset == dataset
                and r.config.train.seed == 0 and r.config.model.name in INPAGE_MODELS]

    for dataset in datasets:
        runs = of(dataset)
        if any(r.has_model or (r.directory / STORED_PAYLOAD).exists() for r in runs):
            return runs
    return of(datasets[0]) if datasets else []


def inpage_section(records: Sequence[RunLike], key: str = "typed") -> tuple[str, str]:
    """(markdown, html) for the chapter: a sentence per run that has neither a checkpoint
    nor a stored payload, and the explorer over the others ("" when there are none)."""
    payloads, missing = [], []
    for record in records:
        payload = inpage_payload(record.directory,
                                 record.load_model if record.has_model else None)
        if payload is None:
            missing.append(getattr(getattr(record, "config", None), "label", str(record.directory)))
        else:
            payloads.append(payload)
    note = " ".join(f"{label} was published without a checkpoint, so it cannot run in the "
                    "page." for label in missing)
    if not records:
        note = "This study has no FLAN run without an encoder or with a BiGRU to run in the page."
    return note, inpage_explorer_html(payloads, key) if payloads else ""
