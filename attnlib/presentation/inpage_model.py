"""A trained FLAN model, and the library's tokeniser, exported for the page's JavaScript.

The chapter "Explore a model" (book/explore.ipynb) lets a reader of the static book type
a text and see it classified with no kernel: ``inpage_model.js`` (next to this file)
tokenises it, runs the forward pass, the attention, the gradient ranking and the erasures.
This module writes what that script needs, as compact JSON (arrays as base64 of
little-endian binary), and holds :func:`reference_forward`, a NumPy re-implementation of
exactly what the script computes from the same payload, against which it is tested.

Computation only; the page's HTML is :mod:`attnlib.presentation.inpage_explorer`.
"""

from __future__ import annotations

import base64
import json
import re
from functools import lru_cache
from typing import Any, cast

import numpy as np
import torch

from ..data.catalog import get_dataset
from ..data.text import PAD, TOKENIZER_VERSION, UNK
from ..errors import DataError, ParameterError
from ..integrity import read_run_json
from ..models.encoders import BiGRUEncoder, IdentityEncoder
from ..models.flan import FLAN
from ..training.runs import TrainedRun
from ..training.train import VOCAB_FILE

PAYLOAD_FORMAT = "attnlib-inpage-flan-v1"
MAX_PAYLOAD_BYTES = 5_000_000  # per model, as embedded in the page
SUPPORTED_ENCODERS = ("noenc", "rnn")
# int16 per-row scaling moves the probabilities by ~1e-6; int8 by up to ~5e-4 on a BiGRU,
# more than the 1e-4 the page promises, so int16 is the default
EMBEDDING_BITS = (8, 16)


def encode_array(values: np.ndarray, dtype: str) -> dict[str, Any]:
    """{"dtype", "shape", "b64"}: ``values`` as little-endian ``dtype`` bytes in base64."""
    array = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": list(array.shape),
            "b64": base64.b64encode(array.tobytes()).decode("ascii")}


def decode_array(entry: dict[str, Any]) -> np.ndarray:
    """The inverse of :func:`encode_array`."""
    dtype = np.dtype(entry["dtype"]).newbyteorder("<")
    return np.frombuffer(base64.b64decode(entry["b64"]), dtype=dtype).reshape(entry["shape"])


def quantize_rows(matrix: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row quantisation: (V, d) floats -> (V, d) ints and (V,) float32
    scales, with ``matrix ~= ints * scales[:, None]`` (an all-zero row gets scale 1)."""
    if bits not in EMBEDDING_BITS:
        raise ParameterError(f"bits must be one of {EMBEDDING_BITS}, got {bits!r}")
    top = 2 ** (bits - 1) - 1
    scale = (np.abs(matrix).max(1) / top).astype(np.float32)
    scale[scale == 0] = 1.0
    ints = np.clip(np.rint(matrix / scale[:, None]), -top, top)
    return ints.astype(np.int8 if bits == 8 else np.int16), scale


def dequantize_rows(ints: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(V, d) ints and (V,) scales -> (V, d) float32 embeddings, as the page computes them."""
    return (ints.astype(np.float32) * scale[:, None]).astype(np.float32)


def _check_exportable(run: TrainedRun) -> None:
    model = run.config.model
    if model.arch != "flan" or model.encoder not in SUPPORTED_ENCODERS:
        raise ParameterError(f"{run.config.label}: the in-page model supports FLAN with the "
                             f"encoders {SUPPORTED_ENCODERS}, not {model.arch} with "
                             f"{model.encoder!r}; explore it with the live explorer instead")


def _words_that_fit(n_vocab: int, dim: int, bits: int, fixed_bytes: int, max_bytes: int) -> int:
    """How many vocabulary rows (most frequent first) fit in ``max_bytes``: per row, the
    base64 of its ints and its float32 scale, plus its word in JSON (about 12 bytes)."""
    per_row = 4 * (dim * bits // 8 + 4) / 3 + 12
    return int(min(n_vocab, max(2, (max_bytes - fixed_bytes) // per_row)))


def export_inpage_model(run: TrainedRun, max_words: int | None = None, bits: int = 16,
                        max_bytes: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """The payload of ``run`` for ``inpage_model.js``.

    Args:
        run: a trained FLAN run with the ``noenc`` or ``rnn`` encoder.
        max_words: keep the ``max_words`` most frequent vocabulary entries (padding and
            unknown included); other words map to the unknown token. ``None``: as many
            as fit in ``max_bytes``.
        bits: 16 or 8, the embeddings' quantisation (one float32 scale per row).
        max_bytes: the most the payload's JSON may take.

    Returns:
        A JSON-able dict: ``vocab`` (V words, index = token id; 0 padding, 1 unknown,
        matched after lowercasing), ``embeddings`` (V, d) ints and ``embedding_scale``
        (V,), the encoder's weights (BiGRU, per direction: ``weight_ih`` (3H, d),
        ``weight_hh`` (3H, H), ``bias_ih`` and ``bias_hh`` (3H,), gates in PyTorch's
        order r, z, n), the attention's ``projection_weight`` (A, D), ``projection_bias``
        (A,), ``context`` (A,), the output layer's ``output_weight`` (C, D) and
        ``output_bias`` (C,), with D = 2H for the BiGRU and d without an encoder; all
        float32 except the quantised embeddings.
    """
    _check_exportable(run)
    model = run.model
    if not isinstance(model, FLAN):  # pragma: no cover - the config says FLAN
        raise ParameterError(f"{run.config.label}: expected a FLAN model, got {type(model).__name__}")
    itos: list[str] = read_run_json(run.directory / VOCAB_FILE)
    if itos[:2] != [PAD, UNK]:
        raise DataError(f"{run.directory / VOCAB_FILE} does not start with {PAD}, {UNK}")

    def f32(t: torch.Tensor) -> dict[str, Any]:
        return encode_array(t.detach().cpu().float().numpy(), "float32")

    weights: dict[str, Any] = {}
    encoder = model.encoder
    if isinstance(encoder, BiGRUEncoder):
        for direction, gru in (("forward", encoder.forward_gru), ("backward", encoder.backward_gru)):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                weights[f"{direction}_{name}"] = f32(getattr(gru, f"{name}_l0"))
    elif not isinstance(encoder, IdentityEncoder):  # pragma: no cover - checked above
        raise ParameterError(f"unsupported encoder {type(encoder).__name__}")
    attention = model.attention
    weights.update(projection_weight=f32(attention.projection.weight),
                   projection_bias=f32(attention.projection.bias),
                   context=f32(attention.context.weight[0]),
                   output_weight=f32(model.output_layer.weight),
                   output_bias=f32(model.output_layer.bias))
    classes = _classes(run)
    head = {"format": PAYLOAD_FORMAT, "run": run.config.hash, "label": run.config.label,
            "dataset": run.config.data.dataset, "model": run.config.model.name,
            "encoder": run.config.model.encoder, "classes": classes,
            "uniform": bool(attention.uniform), "tokenizer": TOKENIZER_VERSION,
            "lowercase": True, "pad_id": 0, "unk_id": 1, "bits": bits, "weights": weights}
    embeddings = model.embedding.weight.detach().cpu().float().numpy()
    fixed = len(json.dumps(head, separators=(",", ":"))) + 200
    n = _words_that_fit(len(itos), embeddings.shape[1], bits, fixed, max_bytes)
    if max_words is not None:
        n = min(n, max(2, max_words))
    ints, scale = quantize_rows(embeddings[:n], bits)
    payload = {**head, "vocab_size_trained": len(itos), "vocab": itos[:n],
               "embeddings": encode_array(ints, "int8" if bits == 8 else "int16"),
               "embedding_scale": encode_array(scale, "float32")}
    size = payload_size(payload)
    if size > max_bytes:
        raise DataError(f"the in-page payload of {run.config.label} takes {size} bytes, more "
                        f"than {max_bytes}; pass a smaller max_words or bits=8")
    return payload


def _classes(run: TrainedRun) -> list[str]:
    # the dataset's spec alone: run.data would prepare (tokenise) the whole dataset
    return list(get_dataset(run.config.data.dataset).classes)


def payload_json(payload: dict[str, Any]) -> str:
    """Compact JSON of a payload, as embedded in the page."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def payload_size(payload: dict[str, Any]) -> int:
    """Bytes of :func:`payload_json` in UTF-8."""
    return len(payload_json(payload).encode("utf-8"))


def encode_tokens(payload: dict[str, Any], tokens: list[str]) -> np.ndarray:
    """(n,) token ids as the page looks them up: lowercased, unknown words -> 1."""
    stoi = {w: i for i, w in enumerate(payload["vocab"])}
    return np.array([stoi.get(t.lower(), payload["unk_id"]) for t in tokens], dtype=np.int64)


def _gru(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray,
         b_hh: np.ndarray) -> np.ndarray:
    """PyTorch's one-layer GRU from a zero state: (n, d) -> (n, H), gates r, z, n."""
    hidden = w_hh.shape[1]
    gates_x = x @ w_ih.T + b_ih  # (n, 3H)
    h = np.zeros(hidden)
    out = np.zeros((len(x), hidden))
    for t in range(len(x)):
        gh = w_hh @ h + b_hh
        r = 1 / (1 + np.exp(-(gates_x[t, :hidden] + gh[:hidden])))
        z = 1 / (1 + np.exp(-(gates_x[t, hidden:2 * hidden] + gh[hidden:2 * hidden])))
        n = np.tanh(gates_x[t, 2 * hidden:] + r * gh[2 * hidden:])
        h = (1 - z) * n + z * h
        out[t] = h
    return out


def reference_forward(payload: dict[str, Any], ids: np.ndarray) -> dict[str, np.ndarray]:
    """What the page computes for token ids ``ids`` (n,), in float64 NumPy.

    Returns ``h`` (n, D) encoder outputs, ``alpha`` (n,) attention, ``item_logits`` (n, C)
    z_i = W h_i, ``bias`` (C,), ``logits`` and ``probabilities`` (C,), ``gradient`` (n,)
    d p_pred / d alpha_i = p_pred (z_i,pred - sum_c p_c z_i,c) (the head is affine, so
    this is :func:`attnlib.layer.erasure.predicted_class_gradient` in closed form).
    """
    if len(ids) == 0:
        raise DataError("the text has no tokens; type a sentence or two")
    w = {k: decode_array(v).astype(np.float64) for k, v in payload["weights"].items()}
    x = dequantize_rows(decode_array(payload["embeddings"])[ids],
                        decode_array(payload["embedding_scale"])[ids]).astype(np.float64)
    if payload["encoder"] == "rnn":
        fwd = _gru(x, *(w[f"forward_{k}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
        bwd = _gru(x[::-1], *(w[f"backward_{k}"]
                              for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))[::-1]
        h = np.concatenate([fwd, bwd], 1)
    else:
        h = x
    if payload["uniform"]:
        alpha = np.full(len(ids), 1 / len(ids))
    else:
        scores = np.tanh(h @ w["projection_weight"].T + w["projection_bias"]) @ w["context"]
        e = np.exp(scores - scores.max())
        alpha = e / e.sum()
    z = h @ w["output_weight"].T
    bias = w["output_bias"]
    logits = alpha @ z + bias
    p = np.exp(logits - logits.max())
    p /= p.sum()
    pred = int(p.argmax())
    gradient = p[pred] * (z[:, pred] - z @ p)
    return {"h": h, "alpha": alpha, "item_logits": z, "bias": bias, "logits": logits,
            "probabilities": p, "gradient": gradient}


# --- the tokeniser ------------------------------------------------------------------

_JS_SYNTAX = set("^$\\.*+?()[]{}|/")
_KEPT_ESCAPES = set("dDwWsSbBntrfv0123456789")
_QUANTIFIER = re.compile(r"\{\d+(,\d*)?\}")


def js_regex(pattern: str) -> str:
    """A Python ``re`` pattern rewritten for a JavaScript ``RegExp`` with the ``u`` flag:
    ``\\UXXXXXXXX`` -> ``\\u{X}``, identity escapes that the ``u`` flag rejects (``\\'``,
    ``\\!``, ``\\-`` outside a class) unescaped, a literal ``{``/``}`` escaped, and the
    inline ``(?u)`` dropped. ``\\d`` and ``\\w`` stay: ASCII-only in JavaScript, Unicode
    in Python (a difference only for non-ASCII digits and letters in URL schemes)."""
    src = pattern.replace("(?u)", "")
    out: list[str] = []
    i, in_class = 0, False
    while i < len(src):
        c = src[i]
        if c == "\\":
            nxt = src[i + 1]
            if nxt == "U":
                out.append("\\u{" + (src[i + 2:i + 10].lstrip("0") or "0") + "}")
                i += 10
                continue
            if nxt in ("u", "x"):
                width = 4 if nxt == "u" else 2
                out.append(src[i:i + 2 + width])
                i += 2 + width
                continue
            if nxt in _KEPT_ESCAPES or nxt in _JS_SYNTAX or (nxt == "-" and in_class):
                out.append(c + nxt)
            else:
                out.append(nxt)
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "{":
            m = _QUANTIFIER.match(src, i)
            if m:
                out.append(m.group(0))
                i = m.end()
                continue
            c = "\\{"
        elif c == "}":
            c = "\\}"
        out.append(c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=1)
def tokenizer_payload() -> dict[str, Any]:
    """The library's tokeniser (spaCy's rule-based English tokenizer,
    :func:`attnlib.data.text.tokenize_documents`) as data for the page: its prefix,
    suffix and infix patterns and URL match (JavaScript syntax), its special cases
    (string -> tokens) and the special cases it re-finds after splitting affixes
    (string -> the tokens that string splits into without special cases)."""
    import spacy
    from spacy.tokenizer import Tokenizer

    tok = cast(Tokenizer, spacy.blank("en").tokenizer)
    plain = Tokenizer(tok.vocab, rules={}, prefix_search=tok.prefix_search,
                      suffix_search=tok.suffix_search, infix_finditer=tok.infix_finditer,
                      token_match=tok.token_match, url_match=tok.url_match)
    if tok.token_match is not None:  # pragma: no cover - English has none
        raise DataError("the tokenizer has a token_match, which the page does not implement")
    rules = {key: [spec[65] if 65 in spec else spec["ORTH"] for spec in specs]
             for key, specs in tok.rules.items()}
    # spaCy re-finds these, with a PhraseMatcher, in the affix-split tokens (faster_heuristics)
    rematched = {key: [t.text for t in plain(key)] for key in sorted(rules)
                 if tok.find_prefix(key) or tok.find_suffix(key) or tok.find_infix(key)
                 or " " in key}
    return {"version": TOKENIZER_VERSION, "spacy": spacy.__version__,
            "prefix": js_regex(tok.prefix_search.__self__.pattern),
            "suffix": js_regex(tok.suffix_search.__self__.pattern),
            "infix": js_regex(tok.infix_finditer.__self__.pattern),
            "url": js_regex(tok.url_match.__self__.pattern),
            "rules": rules, "rematched": {k: v for k, v in rematched.items() if v}}
