"""Everything needed to explore erasures of single documents, live or in the static book.

Because the layers above the tested attention are one affine map, precomputed per-item
logit contributions z_i = W h_i and the bias b make any erasure exact without the model:
logits(S) = sum_{i not in S} alpha_i z_i / sum_{i not in S} alpha_i + b. Explained in the
book chapter "Explore a model" (book/explore.ipynb).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data.batching import collate
from ..data.corpus import EncodedCorpus
from ..data.text import tokenize_documents
from ..errors import DataError
from ..layer.erasure import LinearHead, erased_logits, leave_one_out_drop, predicted_class_gradient
from ..layer.rankings import order_from_scores
from ..models.attribution import gradient_x_input, integrated_gradients
from ..training.runs import TrainedRun

EXPLORER_RANKINGS = ("attention", "gradient", "grad_x_attention", "leave_one_out")
# rankings that need the model's input embeddings: in payloads built since they exist
INPUT_RANKINGS = ("input_gradient", "integrated_gradients")
PAYLOAD_DIGITS = 8


@dataclass
class DocumentView:
    """One document as the tested attention layer sees it.

    Attributes:
        items: the items' text (sentences for HAN, tokens for FLAN).
        alpha: (n,) attention weights. item_logits: (n, C) z_i. bias: (C,).
        gradient: (n,) d p_pred / d alpha_i. classes: class names.
        input_scores: (n,) per ranking of :data:`INPUT_RANKINGS`, when computed (the
            model's input embeddings were at hand).
    """

    doc_id: str
    items: list[str]
    alpha: np.ndarray
    item_logits: np.ndarray
    bias: np.ndarray
    gradient: np.ndarray
    classes: tuple[str, ...]
    label: int | None
    input_scores: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def rankings(self) -> tuple[str, ...]:
        """The rankings this view can order its items by."""
        return EXPLORER_RANKINGS + tuple(r for r in INPUT_RANKINGS if r in self.input_scores)

    def scores(self, ranking: str) -> np.ndarray:
        """(n,) the ranking's scores (see :data:`EXPLORER_RANKINGS`, :data:`INPUT_RANKINGS`)."""
        if ranking == "attention":
            return self.alpha
        if ranking == "gradient":
            return self.gradient
        if ranking == "grad_x_attention":
            return self.alpha * self.gradient
        if ranking == "leave_one_out":  # exact at the tested layer, from alpha, z and b
            pred = torch.tensor([self.prediction])
            return leave_one_out_drop(torch.as_tensor(self.item_logits)[None],
                                      torch.as_tensor(self.alpha)[None],
                                      torch.as_tensor(self.bias), pred)[0].numpy()
        if ranking in self.input_scores:
            return self.input_scores[ranking]
        raise DataError(f"unknown ranking {ranking!r} for this document; use one of "
                        f"{self.rankings}")

    def order(self, ranking: str) -> list[int]:
        scores = torch.as_tensor(self.scores(ranking))[None]
        return order_from_scores(scores, torch.ones_like(scores, dtype=torch.bool))[0].tolist()

    def probabilities(self, erased: Iterable[int] = ()) -> np.ndarray:
        """(C,) class probabilities after erasing the items ``erased``."""
        erase = torch.zeros(self.n_items, dtype=torch.bool)
        erase[list(erased)] = True
        logits = erased_logits(torch.as_tensor(self.item_logits), torch.as_tensor(self.alpha),
                               erase, torch.as_tensor(self.bias))
        return torch.softmax(logits, -1).numpy()

    @property
    def prediction(self) -> int:
        return int(self.probabilities().argmax())


def _view(run: TrainedRun, tokens: torch.Tensor, items: list[str], doc_id: str,
          label: int | None, with_inputs: bool = True) -> DocumentView:
    model = run.model
    with torch.no_grad():
        out = model(tokens.to(model.device))
    head = LinearHead.from_model(model)
    h, alpha = out.h[:1].double(), out.alpha[:1].double()
    pred = head(h, alpha).argmax(-1)
    grad = predicted_class_gradient(head, h, alpha, pred)
    n = len(items)
    device_tokens = tokens.to(model.device)
    input_scores = {} if not with_inputs else {
        "input_gradient": gradient_x_input(model, device_tokens, pred)[0, :n].cpu().numpy(),
        "integrated_gradients": integrated_gradients(model, device_tokens, pred)[0, :n]
        .cpu().numpy()}
    return DocumentView(
        doc_id=doc_id, items=items, alpha=alpha[0, :n].cpu().numpy(),
        item_logits=head.item_logits(h)[0, :n].cpu().numpy(), bias=head.bias.cpu().numpy(),
        gradient=grad[0, :n].cpu().numpy(), classes=run.data.spec.classes, label=label,
        input_scores=input_scores)


def _items(arch: str, sentences: list[list[str]]) -> list[str]:
    if arch == "han":
        return [" ".join(s) for s in sentences]
    return [t for s in sentences for t in s]


def document_view(run: TrainedRun, instance_id: int, with_inputs: bool = True
                  ) -> DocumentView:
    """The test document ``instance_id`` (index in the run's test corpus); with the
    input-level rankings' scores unless ``with_inputs`` is false (16 more model passes)."""
    corpus = run.data.test
    if not 0 <= instance_id < len(corpus):
        raise DataError(f"instance_id must be in 0..{len(corpus) - 1}, got {instance_id}")
    arch = run.config.model.arch
    batch = collate(corpus, np.array([instance_id]), arch)
    return _view(run, batch.tokens, _items(arch, corpus.display_tokens(instance_id)),
                 corpus.doc_ids[instance_id], int(corpus.labels[instance_id]), with_inputs)


def document_view_from_text(run: TrainedRun, text: str) -> DocumentView:
    """Any text, tokenised and indexed like the training data."""
    [sentences] = list(tokenize_documents([text]))
    if not sentences:
        raise DataError("the text has no tokens; type a sentence or two")
    vocab = run.data.vocab
    corpus = EncodedCorpus.from_tokenized([sentences], [0], ["typed text"], vocab)
    arch = run.config.model.arch
    batch = collate(corpus, np.array([0]), arch)
    return _view(run, batch.tokens, _items(arch, sentences), "typed text", None)


def pick_documents(run: TrainedRun, n_docs: int = 6, seed: int = 0) -> list[int]:
    """Readable test documents (3-12 sentences for HAN, 15-70 tokens for FLAN), mostly
    correctly classified, a few not; seeded."""
    corpus = run.data.test
    han = run.config.model.arch == "han"
    sizes = corpus.n_sentences if han else corpus.n_tokens
    low, high = (3, 12) if han else (15, 70)
    candidates = np.flatnonzero((sizes >= low) & (sizes <= high))
    if len(candidates) == 0:
        candidates = np.flatnonzero(sizes > 1)
    rng = np.random.default_rng(seed)
    candidates = rng.permutation(candidates)[: 20 * n_docs]
    views = {int(i): document_view(run, int(i), with_inputs=False) for i in candidates}
    right = [i for i, v in views.items() if v.prediction == v.label]
    wrong = [i for i, v in views.items() if v.prediction != v.label]
    n_wrong = min(len(wrong), max(1, n_docs // 3))
    chosen = right[: n_docs - n_wrong] + wrong[:n_wrong]
    return sorted(chosen)[:n_docs]


def round_floats(obj: Any, digits: int = PAYLOAD_DIGITS) -> Any:
    """``obj`` with every float rounded to ``digits`` significant digits (lists and
    dicts walked): far below the 1e-4 the explorers show, and a third of the bytes."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}")
    if isinstance(obj, list):
        return [round_floats(v, digits) for v in obj]
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    return obj


def build_explorer_payload(run: TrainedRun, n_docs: int = 6, seed: int = 0) -> dict[str, Any]:
    """JSON-able data for the kernel-free explorer: per document the items, alpha, z_i,
    b, ranking scores, and (for checking) the probabilities after erasing the top k items
    of each ranking, for every k; floats to :data:`PAYLOAD_DIGITS` significant digits."""
    docs = []
    for instance in pick_documents(run, n_docs, seed):
        view = document_view(run, instance)
        prefix = {}
        for ranking in view.rankings:
            order = view.order(ranking)
            prefix[ranking] = [view.probabilities(order[:k]).tolist()
                               for k in range(view.n_items + 1)]
        docs.append({
            "instance_id": instance, "doc_id": view.doc_id, "label": view.label,
            "pred": view.prediction, "items": view.items, "alpha": view.alpha.tolist(),
            "item_logits": view.item_logits.tolist(), "gradient": view.gradient.tolist(),
            "input_scores": {r: v.tolist() for r, v in view.input_scores.items()},
            "probabilities": view.probabilities().tolist(), "prefix_probabilities": prefix,
        })
    return round_floats({"run": run.config.hash, "label": run.config.label,
                         "dataset": run.config.data.dataset, "model": run.config.model.name,
                         "arch": run.config.model.arch, "classes": list(run.data.spec.classes),
                         "bias": LinearHead.from_model(run.model).bias.tolist(),
                         "documents": docs})


def view_from_payload(payload: dict[str, Any], index: int) -> DocumentView:
    """A :class:`DocumentView` rebuilt from a precomputed payload (no model needed).

    The payload's weights are rounded to :data:`PAYLOAD_DIGITS` digits, so they sum to 1
    only within about 1e-8; they are renormalised here, because the erasure formulas
    assume a distribution and large item logits would magnify the gap (up to 1e-5 in
    probability on 20 Newsgroups FLANnoenc)."""
    doc = payload["documents"][index]
    alpha = np.asarray(doc["alpha"], dtype=np.float64)
    return DocumentView(doc["doc_id"], doc["items"], alpha / alpha.sum(),
                        np.asarray(doc["item_logits"]), np.asarray(payload["bias"]),
                        np.asarray(doc["gradient"]), tuple(payload["classes"]), doc["label"],
                        {r: np.asarray(v) for r, v in doc.get("input_scores", {}).items()})


def explorer_flips(payloads: Iterable[tuple[str, str, dict[str, Any]]]) -> pd.DataFrame:
    """Per explorer document of each (dataset, model, payload): its number of items,
    whether erasing its top-attention item alone flips the decision (``top_flips``) and
    how many items of the attention order are erased at the first flip (``k_to_flip``,
    ``None`` when no strict prefix flips it). What the explore chapter's findings count."""
    rows = []
    for dataset, model, payload in payloads:
        for index in range(len(payload["documents"])):
            view = view_from_payload(payload, index)
            order, pred = view.order("attention"), view.prediction
            k_to_flip = next((k for k in range(1, view.n_items)
                              if int(view.probabilities(order[:k]).argmax()) != pred), None)
            rows.append({"dataset": dataset, "model": model, "n_items": view.n_items,
                         "top_flips": k_to_flip == 1, "k_to_flip": k_to_flip})
    return pd.DataFrame(rows, columns=["dataset", "model", "n_items", "top_flips",
                                       "k_to_flip"])
