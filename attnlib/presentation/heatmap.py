"""Self-contained HTML of a document's items shaded by a ranking's scores (no external
CSS or JS), for the chapters and the explorers. Rendering only.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

import numpy as np

_POS, _NEG = (76, 120, 168), (228, 87, 86)


def _shade(value: float) -> str:
    rgb = _POS if value >= 0 else _NEG
    a = min(1.0, abs(value)) * 0.85
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{a:.3f})"


def render_heatmap(
    items: Sequence[str],
    scores: Sequence[float] | np.ndarray,
    arch: str = "flan",
    title: str = "",
    erased: Iterable[int] = (),
    legend: str = "",
) -> str:
    """HTML with each item's background shaded by its score.

    Scores are scaled by their largest absolute value; positive scores are blue, negative
    ones (e.g. a gradient that argues against the decision) red. Erased items are struck
    through. HAN items (sentences) are shown one per line, FLAN items (tokens) inline.
    """
    values = np.asarray(scores, dtype=float)
    scale = float(np.max(np.abs(values))) if len(values) else 1.0
    scale = scale if scale > 0 else 1.0
    erased_set = set(erased)
    block = arch == "han"
    spans = []
    for i, (item, value) in enumerate(zip(items, values)):
        style = [f"background:{_shade(value / scale)}", "padding:1px 3px", "border-radius:3px",
                 "line-height:1.9"]
        if i in erased_set:
            style += ["text-decoration:line-through", "opacity:0.45"]
        if block:
            style += ["display:block", "margin:2px 0"]
        spans.append(f'<span title="item {i}: score {value:.4g}" style="{";".join(style)}">'
                     f"{html.escape(item)}</span>")
    sep = "" if block else " "
    head = f'<div style="font-weight:600;margin-bottom:4px">{html.escape(title)}</div>' if title else ""
    foot = (f'<div style="font-size:0.8em;color:#555;margin-top:4px">{html.escape(legend)}</div>'
            if legend else "")
    return (f'<div class="attnlib-heatmap" style="font-family:sans-serif;font-size:14px;'
            f'max-width:820px">{head}{sep.join(spans)}{foot}</div>')
