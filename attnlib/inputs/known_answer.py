"""A test with a known answer: the planted-shortcut protocol (Bastings et al. 2022) and the
model-randomisation sanity checks (Adebayo et al. 2018), on a model trained on a
``<base>+shortcut`` dataset (:mod:`attnlib.data.shortcut`).

Per test document of a seeded sample (:func:`run_known_answer`, one row each):

* whether it carries the planted token(s), its label and the model's decision, and the
  decision once the planted tokens are deleted from the input and the whole model rerun
  (:func:`attnlib.inputs.erasure.delete_tokens`): the proof that the model relies on them;
* for a planted document, each ranking's score against the known answer. The planted
  *items* are the planted tokens (FLAN) or the sentences holding them (HAN); ``rank_<r>`` is
  the 1-based position of the first planted item in ranking r's order (ties: earlier item
  first, as in the erasure tests), ``prec_<r>`` the share of the top k items that are
  planted, k = the number of planted items (precision@k); the reciprocal of the rank gives
  the mean reciprocal rank. For HAN, ``word_rank`` is the planted token's rank within its
  sentence by the word-level attention. Documents with a single item are left out of the
  ranking scores (any ranking puts the planted item first).

The rankings are those of the erasure tests (:mod:`attnlib.layer.rankings`), computed with
the same code (:func:`rank_items`).

Per document and ranking, :func:`run_sanity_checks` gives the Spearman correlation between
the item ranks on the trained model and on the model with its learned parameters replaced
by fresh initialisations, cascading from the top (output layer; + attention; + encoder;
+ embeddings), and on a model trained with permuted training labels (a
``<dataset>+permuted`` twin). Explained in the chapter "A test with a known answer"
(book/known_answer.ipynb).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data.batching import collate, make_batches
from ..data.corpus import EncodedCorpus, select_subset
from ..data.catalog import get_dataset
from ..data.shortcut import ShortcutSpec
from ..errors import DataError, check_seed
from ..layer.followup_results import ensure_run_table, load_table, per_run_frame, typed_table
from ..layer.erasure import LinearHead, predicted_class_gradient
from ..layer.rankings import RankingContext, get_ranking, order_from_scores
from ..models.attribution import gradient_l2, ig_scales, item_input_scores
from ..models.base import AttentionClassifier
from ..training.runs import TrainedRun
from .erasure import delete_tokens

KNOWN_ANSWER_RANKINGS = ("attention", "reverse_attention", "random", "gradient",
                         "grad_x_attention", "leave_one_out", "input_gradient",
                         "integrated_gradients", "gradient_l2")
RANDOMISATION_STEPS = ("output", "attention", "encoder", "embeddings")
SANITY_STEPS = (*RANDOMISATION_STEPS, "permuted_labels")
KNOWN_ANSWER_FILE, SANITY_FILE = "known_answer.parquet", "sanity.parquet"
KNOWN_ANSWER_SCHEMA, SANITY_SCHEMA = "1", "1"
_ID_COLUMNS = {"run": "string", "dataset": "string", "model": "string", "arch": "string",
               "encoder": "string", "model_seed": "Int64", "instance_id": "Int64"}
KNOWN_ANSWER_COLUMNS: dict[str, str] = {
    **_ID_COLUMNS, "planted": "boolean", "label": "Int64", "pred": "Int64",
    "pred_without": "Int64", "n_items": "Int64", "n_planted_items": "Int64",
    **{f"{m}_{r}": "Float64" for r in KNOWN_ANSWER_RANKINGS for m in ("rank", "prec")},
    "word_rank": "Float64",
}
SANITY_COLUMNS: dict[str, str] = {
    **_ID_COLUMNS, "n_items": "Int64",
    **{f"rho_{s}_{r}": "Float64" for s in SANITY_STEPS for r in KNOWN_ANSWER_RANKINGS},
}


@dataclass(frozen=True)
class KnownAnswerConfig:
    """A seeded sample of ``max_test_docs`` test documents (``None``: all) for the
    known-answer scores, ``sanity_docs`` of them (with three or more items) for the
    randomisation checks, integrated gradients with ``ig_steps`` points; ``seed`` seeds
    the sample, the random ranking and the fresh initialisations."""

    max_test_docs: int | None = 2000
    sanity_docs: int = 500
    ig_steps: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        check_seed("seed", self.seed)
        if self.max_test_docs is not None and (not isinstance(self.max_test_docs, int)
                                               or self.max_test_docs < 1):
            raise ValueError(f"max_test_docs must be a positive int or None, got "
                             f"{self.max_test_docs!r}")


KNOWN_ANSWER_PROFILES = {"paper": KnownAnswerConfig(),
                         "smoke": KnownAnswerConfig(max_test_docs=100, sanity_docs=24,
                                                    ig_steps=4)}


def known_answer_config(profile: str) -> KnownAnswerConfig:
    return KNOWN_ANSWER_PROFILES.get(profile, KNOWN_ANSWER_PROFILES["smoke"])


@dataclass
class _Ranked:
    """Every ranking's item order for a batch: orders (B, R, n), mask (B, n)."""

    orders: torch.Tensor
    mask: torch.Tensor


@torch.no_grad()
def rank_items(model: AttentionClassifier, tokens: torch.Tensor, instance_ids: np.ndarray,
               seed: int = 0, ig_steps: int = 16) -> _Ranked:
    """Order the tested layer's items by every ranking of :data:`KNOWN_ANSWER_RANKINGS`
    for the model's own decision, with the erasure tests' code (the context of
    :func:`attnlib.layer.suite.prepare_batch`, with ``ig_steps`` for integrated
    gradients)."""
    model.eval()
    out = model(tokens)
    head = LinearHead.from_model(model)
    h, alpha, mask = out.h.double(), out.alpha.double(), out.mask
    item_logits = head.item_logits(h)
    pred = head(h, alpha).argmax(-1)

    def gradient() -> torch.Tensor:
        with torch.enable_grad():
            return predicted_class_gradient(head, h, alpha, pred)

    def input_scores(kind: str) -> torch.Tensor:
        if kind == "gradient_x_input":
            return item_input_scores(model, tokens, pred, [1.0])
        if kind == "integrated_gradients":
            return item_input_scores(model, tokens, pred, ig_scales(ig_steps))
        if kind == "gradient_l2":
            return gradient_l2(model, tokens, pred)
        raise ValueError(f"unknown input attribution {kind!r}")

    ctx = RankingContext(alpha, mask, gradient, np.asarray(instance_ids), seed=seed,
                         item_logits=item_logits, bias=head.bias, pred=pred,
                         input_scores_fn=input_scores)
    orders = [order_from_scores(get_ranking(r).score(ctx), mask)
              for r in KNOWN_ANSWER_RANKINGS]
    return _Ranked(torch.stack(orders, 1), mask)


def shortcut_of(run: TrainedRun) -> ShortcutSpec:
    spec = get_dataset(run.config.data.dataset).shortcut
    if spec is None:
        raise DataError(f"{run.config.label} was not trained on a shortcut dataset; train it "
                        "on <dataset>+shortcut (e.g. imdb+shortcut) for the known-answer test")
    return spec


def shortcut_token_ids(run: TrainedRun) -> torch.Tensor:
    """The vocabulary indices of the shortcut's made-up tokens."""
    spec = shortcut_of(run)
    ids = [run.data.vocab.index(w) for w in spec.words]
    if 1 in ids:
        missing = [w for w, i in zip(spec.words, ids) if i == 1]
        raise DataError(f"{run.config.label}: the shortcut tokens {missing} are not in the "
                        "vocabulary (too few planted training documents for min_count); "
                        "plant more documents (-pNN) or train on more data")
    return torch.tensor(ids, dtype=torch.long)


def item_ranks(orders: torch.Tensor) -> torch.Tensor:
    """(..., n) item orders (best first) -> (..., n) 0-based rank of every item."""
    ranks = torch.empty_like(orders)
    ranks.scatter_(-1, orders, torch.arange(orders.shape[-1], device=orders.device)
                   .expand_as(orders).contiguous())
    return ranks


def planted_scores(ranks: torch.Tensor, planted: torch.Tensor, mask: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, R, n) 0-based item ranks, (B, n) planted items, (B, n) real items ->
    (B, R) 1-based rank of the first planted item and (B, R) precision@k, k = planted
    items per document (NaN where a document has no planted item)."""
    k = planted.sum(1)  # (B,)
    big = torch.iinfo(ranks.dtype).max
    first = torch.where(planted.unsqueeze(1), ranks, big).min(-1).values.double() + 1
    hits = ((ranks < k.view(-1, 1, 1)) & planted.unsqueeze(1) & mask.unsqueeze(1)).sum(-1)
    prec = hits.double() / k.clamp(min=1).view(-1, 1).double()
    none = (k == 0).view(-1, 1)
    return first.masked_fill(none, float("nan")), prec.masked_fill(none, float("nan"))


def _planted_items(tokens: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor,
                                                                    torch.Tensor]:
    """(planted tokens, shape of ``tokens``) and (planted items: FLAN (B, T), HAN (B, S))."""
    is_planted = torch.isin(tokens, ids.to(tokens.device))
    return is_planted, (is_planted.any(-1) if tokens.dim() == 3 else is_planted)


def _word_rank(word_alpha: torch.Tensor, tokens: torch.Tensor, planted_tokens: torch.Tensor
               ) -> torch.Tensor:
    """(B,) the best 1-based rank of a planted token within its sentence by the word
    attention (HAN), NaN without one."""
    b, s, t = tokens.shape
    orders = order_from_scores(word_alpha.reshape(b * s, t), (tokens != 0).reshape(b * s, t))
    ranks = item_ranks(orders).reshape(b, s, t)
    big = torch.iinfo(ranks.dtype).max
    best = torch.where(planted_tokens, ranks, big).reshape(b, -1).min(-1).values.double() + 1
    return best.masked_fill(~planted_tokens.reshape(b, -1).any(-1), float("nan"))


def _sample(corpus: EncodedCorpus, n: int | None, seed: int) -> np.ndarray:
    return select_subset(len(corpus), n, seed + 19)


def run_known_answer(run: TrainedRun, config: KnownAnswerConfig | None = None
                     ) -> pd.DataFrame:
    """The known-answer table of ``run`` (see the module doc), one row per sampled test
    document in the :data:`KNOWN_ANSWER_COLUMNS` layout."""
    config = config or KnownAnswerConfig()
    spec, ids = shortcut_of(run), shortcut_token_ids(run)
    corpus, arch = run.data.test, run.config.model.arch
    chosen = _sample(corpus, config.max_test_docs, config.seed)
    tested = corpus.subset(chosen)
    model = run.model
    model.eval()
    parts = []
    for idx in make_batches(tested, arch, 20_000, batch_size=64):
        batch = collate(tested, idx, arch)
        tokens = batch.tokens.to(model.device)
        planted_tokens, planted = _planted_items(tokens, ids)
        with torch.no_grad():
            out = model(tokens)
            pred = out.logits.argmax(-1)
            without = model(delete_tokens(tokens, planted_tokens)).logits.argmax(-1)
        pb = rank_items(model, tokens, chosen[idx], config.seed, config.ig_steps)
        rank, prec = planted_scores(item_ranks(pb.orders), planted, pb.mask)
        is_planted = planted.any(-1)
        n_items = pb.mask.sum(1)
        scored = is_planted & (n_items > 1)
        rank = torch.where(scored.unsqueeze(1), rank, float("nan"))
        prec = torch.where(scored.unsqueeze(1), prec, float("nan"))
        word = (_word_rank(out.word_alpha, tokens, planted_tokens) if out.word_alpha is not None
                else torch.full((len(idx),), float("nan"), dtype=torch.float64))
        # the shortcut decides the label of every planted document: a document whose
        # made-up tokens do not spell one class's token or ordered pair is not scored
        labels = batch.labels.numpy()
        for j, i in enumerate(idx):
            if bool(is_planted[j]):
                found = [w for w in _words(run, tested.tokens(int(i))) if w in spec.words]
                if spec.label_of(found) != labels[j]:
                    raise DataError(f"{run.config.label}: test document {chosen[i]} holds the "
                                    f"shortcut tokens {found} but has label {labels[j]}; "
                                    "rebuild the preprocessing cache")
        part = {"instance_id": chosen[idx].astype(np.int64), "planted": is_planted.cpu().numpy(),
                "label": labels.astype(np.int64), "pred": pred.cpu().numpy(),
                "pred_without": np.where(is_planted.cpu().numpy(), without.cpu().numpy(), -1),
                "n_items": n_items.cpu().numpy(),
                "n_planted_items": planted.sum(-1).cpu().numpy(),
                "word_rank": word.cpu().numpy()}
        for j, r in enumerate(KNOWN_ANSWER_RANKINGS):
            part[f"rank_{r}"] = rank[:, j].cpu().numpy()
            part[f"prec_{r}"] = prec[:, j].cpu().numpy()
        parts.append(part)
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    frame = per_run_frame(run, columns)
    frame["pred_without"] = frame["pred_without"].astype("Int64").where(frame["planted"])
    return typed_table(frame, KNOWN_ANSWER_COLUMNS).sort_values("instance_id",
                                                                ignore_index=True)


def _words(run: TrainedRun, token_ids: np.ndarray) -> list[str]:
    itos = run.data.vocab.itos
    return [itos[int(t)] for t in token_ids]


def ensure_known_answer(run: TrainedRun, path: str | Path,
                        config: KnownAnswerConfig | None = None) -> pd.DataFrame:
    """The known-answer table of ``run``: read from ``path`` when computed from the same
    weights and settings, else computed and written there."""
    config = config or KnownAnswerConfig()
    return ensure_run_table(run, path, config, KNOWN_ANSWER_COLUMNS, KNOWN_ANSWER_SCHEMA,
                            lambda: run_known_answer(run, config))


def load_known_answer(path: str | Path) -> pd.DataFrame:
    return load_table(path, KNOWN_ANSWER_COLUMNS, KNOWN_ANSWER_SCHEMA)


# -- sanity checks (Adebayo et al. 2018) -------------------------------------------------

def randomisation_groups(model: AttentionClassifier) -> dict[str, list[nn.Module]]:
    """The modules each cascading step re-initialises, top first: the output layer, the
    attention layer(s), the encoder(s) (none for ``noenc``), the embeddings."""
    han = hasattr(model, "word_attention")
    return {
        "output": [model.output_layer],
        "attention": ([model.sentence_attention, model.word_attention] if han  # type: ignore
                      else [model.attention]),  # type: ignore[list-item]
        "encoder": ([model.sentence_encoder, model.word_encoder] if han  # type: ignore
                    else [model.encoder]),  # type: ignore[list-item]
        "embeddings": [model.embedding],
    }


def randomised(model: AttentionClassifier, upto: str, seed: int = 0) -> AttentionClassifier:
    """A copy of ``model`` with the learned parameters of every step down to ``upto``
    (:data:`RANDOMISATION_STEPS`) replaced by fresh initialisations (each module's own
    ``reset_parameters``, seeded); the original is untouched."""
    if upto not in RANDOMISATION_STEPS:
        raise ValueError(f"unknown randomisation step {upto!r}; use one of "
                         f"{RANDOMISATION_STEPS}")
    out = copy.deepcopy(model)
    groups = randomisation_groups(out)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in RANDOMISATION_STEPS[: RANDOMISATION_STEPS.index(upto) + 1]:
            for module in groups[step]:
                for sub in module.modules():
                    reset = getattr(sub, "reset_parameters", None)
                    if callable(reset):
                        reset()
    return out.eval()


def spearman_rows(ranks_a: torch.Tensor, ranks_b: torch.Tensor, mask: torch.Tensor
                  ) -> torch.Tensor:
    """(B, R, n) 0-based item ranks of two models, (B, n) real items -> (B, R) Spearman
    correlation per document (the Pearson correlation of the ranks among real items; NaN
    for a constant ranking or a document with fewer than three items)."""
    m = mask.unsqueeze(1).double()
    n = m.sum(-1)
    a, b = ranks_a.double() * m, ranks_b.double() * m
    da = (a - a.sum(-1, keepdim=True) / n.unsqueeze(-1)) * m
    db = (b - b.sum(-1, keepdim=True) / n.unsqueeze(-1)) * m
    num = (da * db).sum(-1)
    den = (da.pow(2).sum(-1) * db.pow(2).sum(-1)).sqrt()
    rho = num / den
    # ranks among the real items are 0..n-1 (padding ranks last), so the ranks of the
    # real items are a permutation and the correlation is Spearman's
    return torch.where((n >= 3) & (den > 0), rho, float("nan"))


def run_sanity_checks(run: TrainedRun, permuted: TrainedRun | None = None,
                      config: KnownAnswerConfig | None = None) -> pd.DataFrame:
    """Per sampled test document with three or more items: the Spearman correlation of
    every ranking between ``run`` and each cascading randomisation of it, and ``permuted``
    (the same model trained on permuted labels; NaN without one), in the
    :data:`SANITY_COLUMNS` layout."""
    config = config or KnownAnswerConfig()
    corpus, arch = run.data.test, run.config.model.arch
    if permuted is not None and list(permuted.data.vocab.itos) != list(run.data.vocab.itos):
        raise DataError(f"{permuted.config.label} has another vocabulary than "
                        f"{run.config.label}; the permuted-labels twin must be trained on the "
                        "same documents")
    chosen = _sample(corpus, config.max_test_docs, config.seed)
    n_items = corpus.n_sentences if arch == "han" else corpus.n_tokens
    chosen = chosen[n_items[chosen] >= 3][: config.sanity_docs]
    if len(chosen) == 0:
        raise DataError(f"{run.config.label}: no sampled test document has three items")
    tested = corpus.subset(chosen)
    variants: dict[str, AttentionClassifier] = {
        step: randomised(run.model, step, config.seed) for step in RANDOMISATION_STEPS}
    if permuted is not None:
        variants["permuted_labels"] = permuted.model
    parts = []
    for idx in make_batches(tested, arch, 20_000, batch_size=64):
        tokens = collate(tested, idx, arch).tokens.to(run.model.device)
        base = rank_items(run.model, tokens, chosen[idx], config.seed, config.ig_steps)
        base_ranks = item_ranks(base.orders)
        part = {"instance_id": chosen[idx].astype(np.int64),
                "n_items": base.mask.sum(1).cpu().numpy()}
        for step in SANITY_STEPS:
            if step in variants:
                other = rank_items(variants[step], tokens, chosen[idx], config.seed,
                                   config.ig_steps)
                rho = spearman_rows(base_ranks, item_ranks(other.orders), base.mask)
            else:
                rho = torch.full(base.orders.shape[:2], float("nan"), dtype=torch.float64)
            for j, r in enumerate(KNOWN_ANSWER_RANKINGS):
                part[f"rho_{step}_{r}"] = rho[:, j].cpu().numpy()
        parts.append(part)
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return typed_table(per_run_frame(run, columns), SANITY_COLUMNS).sort_values(
        "instance_id", ignore_index=True)


@dataclass(frozen=True)
class _SanitySettings:
    """What a sanity table was computed from: the settings and the permuted twin's run."""

    max_test_docs: int | None
    sanity_docs: int
    ig_steps: int
    seed: int
    permuted_run: str | None


def ensure_sanity_checks(run: TrainedRun, path: str | Path, permuted: TrainedRun | None = None,
                         config: KnownAnswerConfig | None = None) -> pd.DataFrame:
    """The sanity table of ``run``: read from ``path`` when computed from the same weights,
    settings and permuted twin, else computed and written there."""
    config = config or KnownAnswerConfig()
    settings = _SanitySettings(config.max_test_docs, config.sanity_docs, config.ig_steps,
                               config.seed,
                               None if permuted is None else permuted.model_sha256)
    return ensure_run_table(run, path, settings, SANITY_COLUMNS, SANITY_SCHEMA,
                            lambda: run_sanity_checks(run, permuted, config))


def load_sanity_checks(path: str | Path) -> pd.DataFrame:
    return load_table(path, SANITY_COLUMNS, SANITY_SCHEMA)
