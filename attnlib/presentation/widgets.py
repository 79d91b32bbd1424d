"""The live erasure explorer (ipywidgets), for a running kernel.

Pick a run and a document (or type your own text); items are shaded by the chosen
ranking; the slider erases the top-k items, clicking an item toggles its erasure, and the
class probabilities, the JS divergence from the original output and the decision flip
update at once. The widget only draws: every number comes from
:class:`attnlib.presentation.explorer.DocumentView` (``attnlib.layer.erasure``). Explained in the book
chapter "Explore a model" (book/explore.ipynb).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import ipywidgets as w
import numpy as np
import torch

from ..layer.divergence import js_divergence
from .explorer import EXPLORER_RANKINGS, DocumentView, document_view_from_text, view_from_payload
from .heatmap import render_heatmap

if TYPE_CHECKING:  # a type only: the presentation layer does not import the pipeline
    from ..study import RunRecord

RANKING_NAMES = {"attention": "Attention", "gradient": "Gradient",
                 "grad_x_attention": "Gradient × attention", "leave_one_out": "Leave-one-out",
                 "input_gradient": "Input gradient",
                 "integrated_gradients": "Integrated gradients"}


class ErasureExplorer:
    """Live explorer over a list of run records (each with its explorer payload).

    Drive it through its API (what the controls call): :meth:`set_run`,
    :meth:`set_document`, :meth:`set_ranking`, :meth:`set_k`, :meth:`toggle_item`,
    :meth:`set_text`; read :attr:`erased`, :attr:`probabilities`, :attr:`js`,
    :attr:`flipped`. Display :attr:`widget` in a notebook.
    """

    def __init__(self, runs: Sequence[RunRecord], max_buttons: int = 120) -> None:
        if not runs:
            raise ValueError("the explorer needs at least one run")
        self.runs = {r.config.label: r for r in runs}
        self.max_buttons = max_buttons
        self.run_picker = w.Dropdown(options=list(self.runs), description="Model")
        self.doc_picker = w.Dropdown(description="Document")
        self.ranking_picker = w.ToggleButtons(
            options=[(RANKING_NAMES[r], r) for r in EXPLORER_RANKINGS], description="Ranking")
        self.k_slider = w.IntSlider(min=0, max=1, value=0, description="Erase top k",
                                    continuous_update=True)
        self.text_box = w.Textarea(placeholder="…or type your own review here and press "
                                   "'Use my text'", layout=w.Layout(width="100%"))
        self.text_button = w.Button(description="Use my text")
        self.status = w.HTML()
        self.items_box = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.heatmap = w.HTML()
        self.output = w.HTML()
        self.widget = w.VBox([
            w.HBox([self.run_picker, self.doc_picker]), self.ranking_picker, self.k_slider,
            self.items_box, self.heatmap, self.output, w.HBox([self.text_box, self.text_button]),
            self.status])
        self._buttons: list[w.ToggleButton] = []
        self._syncing = False
        self.run_picker.observe(lambda c: self.set_run(c["new"]), names="value")
        self.doc_picker.observe(self._on_document, names="value")
        self.ranking_picker.observe(lambda c: self.set_ranking(c["new"]), names="value")
        self.k_slider.observe(self._on_slider, names="value")
        self.text_button.on_click(lambda _b: self.set_text(self.text_box.value))
        self.set_run(self.run_picker.value)

    # --- state --------------------------------------------------------------------------
    @property
    def record(self) -> RunRecord:
        return self.runs[self.run_picker.value]

    def set_run(self, label: str) -> None:
        if label != self.run_picker.value:
            self.run_picker.value = label  # the observer calls back here
            return
        payload = self.record.explorer
        options = [(f"{i + 1}. {d['doc_id']} (gold: {payload['classes'][d['label']]})", i)
                   for i, d in enumerate(payload["documents"])]
        self.doc_picker.options = options
        if options:
            self.doc_picker.value = None
            self.doc_picker.value = 0
        self.status.value = ("" if self.record.has_model else
                             "<i>Published results without a checkpoint: typing your own "
                             "text needs a model trained here.</i>")

    def set_document(self, index: int) -> None:
        self._load(view_from_payload(self.record.explorer, index))

    def set_text(self, text: str) -> None:
        """Explore any text (needs the run's checkpoint)."""
        try:
            view = document_view_from_text(self.record.load_model(device="cpu"), text)
        except Exception as exc:  # shown in the widget, not raised into the notebook
            self.status.value = f"<b>Cannot use this text:</b> {exc}"
            return
        self.status.value = ""
        self._load(view)

    def _load(self, view: DocumentView) -> None:
        self.view = view
        self.base_probabilities = view.probabilities()
        self.erased: set[int] = set()
        self._syncing = True
        # the rankings this document has scores for (input-level ones need the model)
        current = self.ranking_picker.value
        self.ranking_picker.options = [(RANKING_NAMES[r], r) for r in view.rankings]
        self.ranking_picker.value = current if current in view.rankings else "attention"
        self.k_slider.max = view.n_items
        self.k_slider.value = 0
        self._syncing = False
        self._buttons = []
        for i, item in enumerate(view.items[: self.max_buttons]):
            button = w.ToggleButton(value=False, description=item[:40],
                                    tooltip=item, layout=w.Layout(width="auto"))
            button.observe(lambda c, i=i: self._on_click(i, c["new"]), names="value")
            self._buttons.append(button)
        self.items_box.children = self._buttons
        self._refresh()

    def set_ranking(self, ranking: str) -> None:
        if ranking != self.ranking_picker.value:
            self.ranking_picker.value = ranking
            return
        self.set_k(self.k_slider.value)

    def set_k(self, k: int) -> None:
        """Erase exactly the top-k items of the current ranking."""
        if k != self.k_slider.value:
            self._syncing = True
            self.k_slider.value = k
            self._syncing = False
        self.erased = set(self.view.order(self.ranking_picker.value)[:k])
        self._refresh()

    def toggle_item(self, index: int) -> None:
        """Erase the item if it is kept, restore it if it is erased."""
        self.erased ^= {index}
        self._refresh()

    def _on_document(self, change: dict) -> None:
        if change["new"] is not None:
            self.set_document(change["new"])

    def _on_slider(self, change: dict) -> None:
        if not self._syncing:
            self.set_k(change["new"])

    def _on_click(self, index: int, pressed: bool) -> None:
        if self._syncing or pressed == (index in self.erased):
            return
        self.toggle_item(index)

    @property
    def probabilities(self) -> np.ndarray:
        return self.view.probabilities(sorted(self.erased))

    @property
    def js(self) -> float:
        base = torch.log(torch.as_tensor(self.base_probabilities))
        now = torch.log(torch.as_tensor(self.probabilities))
        return float(js_divergence(base, now))

    @property
    def flipped(self) -> bool:
        return int(self.probabilities.argmax()) != int(self.base_probabilities.argmax())

    # --- drawing --------------------------------------------------------------------------
    def _refresh(self) -> None:
        self._syncing = True
        for i, button in enumerate(self._buttons):
            button.value = i in self.erased
            button.button_style = "danger" if i in self.erased else ""
        self._syncing = False
        ranking = self.ranking_picker.value
        self.heatmap.value = render_heatmap(
            self.view.items, self.view.scores(ranking), self.record.config.model.arch,
            erased=self.erased,
            legend=f"shaded by {RANKING_NAMES[ranking]}; struck-through items are erased")
        probs, classes = self.probabilities, self.view.classes
        rows = "".join(
            f"<tr><td>{c}</td><td style='text-align:right'>{p0:.4f}</td>"
            f"<td style='text-align:right'><b>{p:.4f}</b></td></tr>"
            for c, p0, p in zip(classes, self.base_probabilities, probs))
        verdict = ("<span style='color:#c0392b'><b>decision flipped</b></span>" if self.flipped
                   else "decision unchanged")
        self.output.value = (
            f"<table class='attnlib-probabilities'><tr><th>class</th><th>original</th>"
            f"<th>after erasing {len(self.erased)} of {self.view.n_items}</th></tr>{rows}</table>"
            f"<div>JS divergence from the original output: <b>{self.js:.4f}</b> nats · {verdict}"
            "</div>")
