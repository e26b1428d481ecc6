"""Sentence retrieval without fine-tuning: Tatoeba (nearest neighbour) and BUCC 2018 (mining).

Sentences are embedded by mean-pooling one hidden layer of the encoder (XTREME's protocol) and
compared by cosine similarity, i.e. inner product of L2-normalised vectors in a faiss
`IndexFlatIP` (exact search; queries go in batches, so no all-pairs matrix is ever built).

- Tatoeba: each source sentence retrieves its nearest English sentence; accuracy.
- BUCC: ratio-margin mining (Artetxe & Schwenk 2019), as LASER's `mine_bitexts.py` and
  XTREME's `utils_retrieve.py` do it: with the k nearest neighbours of every sentence in the
  other language (k=4),

      margin(x, y) = cos(x, y) / ((mean_{z in NN_k(x)} cos(x, z) + mean_{z in NN_k(y)} cos(y, z)) / 2)

  Each source sentence proposes its best-margin target among its k neighbours (forward), each
  target its best source (backward); the union, read in decreasing margin, keeps a pair only
  if neither side is already used, and the candidates with a positive margin are kept. The
  threshold on the margin is tuned against the gold of the validation (BUCC "sample") split
  by XTREME's rule (`best_threshold`); it is then applied to the test candidates. Identical sentences are embedded once ("unified"); a sentence text carried by
  several ids cannot be mapped back to one id and its pairs are dropped (counted in the log),
  as XTREME does.

Predictions are written in the XTREME submission layout, atomically.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from toolkit.errors import ConfigError, DataError
from toolkit.evaluation import xtreme_format
from toolkit.evaluation.metrics import bucc, tatoeba
from toolkit.families.base import padded_inputs
from toolkit.families.layout import layout
from toolkit.tasks.records import LoadRequest, RetrievalExample
from toolkit.tasks.registry import get_task
from toolkit.tasks.benchmarks import check_languages
from toolkit.tasks.retrieval import read_split

logger = logging.getLogger(__name__)

# XTREME's layer for XLM-R Large: run_tatoeba.sh passes `--specific_layer 13` into the 24
# outputs of the transformer layers (the embedding output is dropped first), i.e. the 14th
# layer's output, hidden_states[14]. (For 12-layer mBERT it used the 8th layer's output.)
_XTREME_LAYER_FRACTION = 14 / 24


def default_layer(num_hidden_layers: int) -> int:
    """The hidden-state index to pool by default: XTREME's 14 of 24 for XLM-R Large, scaled.

    Index 0 is the embedding output and index i the output of transformer layer i, as in
    `output_hidden_states`. 24 layers -> 14 (exactly what XTREME and the paper use);
    12 layers -> 7; 2 layers -> 1.
    """
    if num_hidden_layers < 1:
        raise ConfigError(f"num_hidden_layers must be >= 1, got {num_hidden_layers}")
    return max(1, round(num_hidden_layers * _XTREME_LAYER_FRACTION))


def _encoder_config(encoder):
    """The HF config of a plain model, or of the model inside a wrapper with `.module`.

    A DeepSpeed engine's own `.config` is its DeepSpeed config, hence `.module` first.
    """
    config = getattr(getattr(encoder, "module", encoder), "config", None)
    if not hasattr(config, "num_hidden_layers"):
        raise ConfigError(
            f"{type(encoder).__name__} has no Hugging Face config with num_hidden_layers "
            "(pass the encoder itself, e.g. `engine.module.encoder` for a multi-task model)"
        )
    return config


def _encoder_device(encoder) -> torch.device:
    device = getattr(encoder, "device", None)
    if device is None:
        device = next(encoder.parameters()).device
    return torch.device(device)


def check_layer(encoder, layer: int) -> None:
    """A ConfigError unless `layer` indexes the encoder's hidden states (0 = embeddings)."""
    num_layers = _encoder_config(encoder).num_hidden_layers
    if not 0 <= layer <= num_layers:
        raise ConfigError(f"layer {layer} is outside 0..{num_layers} (0 = embeddings, {num_layers} = last layer)")


def sentence_ids(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text with the tokenizer's special tokens; a text over `max_length` tokens
    keeps its first tokens plus the closing special token (</s>) where the template ends with one
    (counted in the log)."""
    ids = tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
    too_long = sum(len(x) > max_length for x in ids)
    if too_long:
        logger.warning("%d of %d sentences exceed %d tokens and are cut", too_long, len(ids), max_length)
        keep = 1 if not isinstance(layout(tokenizer).single[-1], str) else 0
        ids = [x if len(x) <= max_length else x[: max_length - keep] + x[len(x) - keep :] for x in ids]
    return ids


def embed_batch(encoder, input_ids: torch.Tensor, attention_mask: torch.Tensor, layer: int) -> torch.Tensor:
    """L2-normalised float32 mean of hidden state `layer` over the unmasked positions, per row.

    One forward pass of a padded batch already on the encoder's device; the caller chooses
    the grad mode and train/eval mode.
    """
    hidden = encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    states = hidden.hidden_states[layer].float()
    weights = attention_mask.unsqueeze(-1).to(states.dtype)
    pooled = (states * weights).sum(1) / weights.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1)


def embed_sentences(
    encoder,
    tokenizer,
    texts: Sequence[str],
    layer: int,
    batch_size: int = 32,
    max_length: int = 512,
) -> np.ndarray:
    """Mean-pooled, L2-normalised float32 embeddings of `texts` from hidden state `layer`.

    `encoder` is a Hugging Face encoder, or a DeepSpeed engine wrapping one, called as
    `encoder(input_ids=..., attention_mask=..., output_hidden_states=True)`. Under ZeRO-3 the
    encoder inside a wrapped multi-task model (`engine.module.encoder`) works too, since
    ZeRO-3 gathers parameters in hooks on every submodule. `layer` indexes
    its `hidden_states` (0 = embeddings; see `default_layer`). The mean runs over every
    non-padding position, <s> and </s> included, as in XTREME. Texts are embedded in batches of
    similar token length (longest first, so an out-of-memory error shows up at once) and the
    result is returned in the input order. Texts longer than `max_length` tokens are cut to
    their first `max_length - 1` tokens plus </s> (or, for tokenizers that add no closing token,
their first `max_length`; counted in the log). Under DeepSpeed ZeRO-3
    every rank must call this with the same texts.
    """
    check_layer(encoder, layer)
    if not texts:
        raise DataError("embed_sentences: no texts to embed")
    ids = sentence_ids(tokenizer, texts, max_length)
    order = np.argsort([-len(x) for x in ids], kind="stable")
    device = _encoder_device(encoder)
    out: np.ndarray | None = None
    was_training = getattr(encoder, "training", False)
    encoder.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch = padded_inputs([ids[i] for i in rows], tokenizer.pad_token_id)
                input_ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
                pooled = embed_batch(encoder, input_ids, mask, layer).cpu().numpy()
                if out is None:
                    out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
                out[rows] = pooled
    finally:
        encoder.train(was_training)
    return out


# ---------------------------------------------------------------------------------------------
# Nearest neighbours and margin mining.
# ---------------------------------------------------------------------------------------------


def knn(queries: np.ndarray, database: np.ndarray, k: int, batch_size: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by inner product: (similarities, indices), best first.

    Both arrays are float32 [n, dim] (L2-normalised for cosine). Queries are searched in
    batches, so memory stays at O(batch x k) beyond the index itself.
    """
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    database = np.ascontiguousarray(database, dtype=np.float32)
    if queries.ndim != 2 or database.ndim != 2 or queries.shape[1] != database.shape[1]:
        raise ValueError(f"knn: shapes {queries.shape} and {database.shape} do not match")
    k = min(k, len(database))
    index = faiss.IndexFlatIP(database.shape[1])
    index.add(database)
    sims = np.empty((len(queries), k), dtype=np.float32)
    inds = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), batch_size):
        sims[start : start + batch_size], inds[start : start + batch_size] = index.search(
            queries[start : start + batch_size], k
        )
    return sims, inds


def nearest_targets(sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each source vector, the index of its most similar target vector (Tatoeba)."""
    return knn(sources, targets, 1)[1][:, 0]


@dataclass(frozen=True)
class MinedPairs:
    """Candidate pairs from margin mining: row i pairs source[i] with target[i], best first."""

    source: np.ndarray  # int64 indices into the source vectors
    target: np.ndarray  # int64 indices into the target vectors
    score: np.ndarray  # float64 ratio margins, non-increasing


def mine_pairs(src: np.ndarray, trg: np.ndarray, k: int = 4) -> MinedPairs:
    """Ratio-margin bitext mining ('max' retrieval of LASER/XTREME): see the module docstring.

    `src` and `trg` are L2-normalised float32 embeddings. Returns at most one pair per source
    and per target, sorted by decreasing margin, with no threshold applied.
    """
    fwd_sim, fwd_ind = knn(src, trg, k)
    bwd_sim, bwd_ind = knn(trg, src, k)
    fwd_mean = fwd_sim.mean(1, dtype=np.float64)
    bwd_mean = bwd_sim.mean(1, dtype=np.float64)
    # The neighbour similarities double as the candidates' cosines: no dot product to redo.
    fwd_margin = fwd_sim / ((fwd_mean[:, None] + bwd_mean[fwd_ind]) / 2)
    bwd_margin = bwd_sim / ((bwd_mean[:, None] + fwd_mean[bwd_ind]) / 2)
    fwd_best = fwd_margin.argmax(1)
    bwd_best = bwd_margin.argmax(1)
    n_src, n_trg = len(src), len(trg)
    cand_src = np.concatenate([np.arange(n_src), bwd_ind[np.arange(n_trg), bwd_best]])
    cand_trg = np.concatenate([fwd_ind[np.arange(n_src), fwd_best], np.arange(n_trg)])
    cand_score = np.concatenate([fwd_margin[np.arange(n_src), fwd_best], bwd_margin[np.arange(n_trg), bwd_best]])

    used_src = np.zeros(n_src, dtype=bool)
    used_trg = np.zeros(n_trg, dtype=bool)
    keep = []
    for i in np.argsort(-cand_score, kind="stable"):
        s, t = cand_src[i], cand_trg[i]
        if not used_src[s] and not used_trg[t]:
            used_src[s] = used_trg[t] = True
            keep.append(i)
    keep = np.asarray(keep, dtype=np.int64)
    return MinedPairs(cand_src[keep], cand_trg[keep], cand_score[keep])


def best_threshold(scores: np.ndarray, correct: np.ndarray, num_gold: int) -> float:
    """The margin threshold XTREME tunes on BUCC's gold (`bucc_optimize` in its
    utils_retrieve.py); candidates with score >= threshold are then extracted.

    `scores` are non-increasing, `correct` flags the candidates that are gold pairs. Cutting
    after candidate i keeps the first i + 1; the cut with the highest F1 wins (the first one
    on ties, as XTREME keeps a cut only when F1 strictly improves), and the threshold is the
    midpoint of the last kept and the first dropped score. As in XTREME, every position is a
    cut, including one between two equal scores: its threshold is that score, so the tied
    candidates after the cut are extracted too. Two cases XTREME does not finish are defined
    here: when the best cut keeps every candidate (XTREME indexes past the end) the threshold
    is the last score; with no correct candidate XTREME's initial threshold 0 is returned.
    F1 is computed as 2PR / (P + R), XTREME's expression, so equal F1s tie exactly as there.
    """
    scores = np.asarray(scores, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if num_gold <= 0:
        raise DataError("cannot tune a BUCC threshold without gold pairs")
    if not correct.any():
        return 0.0
    hits = np.cumsum(correct)
    precision = hits / np.arange(1, len(scores) + 1)
    recall = hits / num_gold
    with np.errstate(invalid="ignore"):  # 0/0 before the first hit, which is masked out
        f1 = np.where(hits > 0, 2 * precision * recall / (precision + recall), -1.0)
    best = int(np.argmax(f1))
    if best == len(scores) - 1:
        return float(scores[best])
    return float((scores[best] + scores[best + 1]) / 2)


# ---------------------------------------------------------------------------------------------
# Tasks.
# ---------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """What every language's evaluation shares: the embedding settings and where files go."""

    encoder: object
    tokenizer: object
    layer: int
    batch_size: int
    max_length: int
    data_dir: str | None
    predictions_dir: Path
    gold_dir: Path
    max_examples: int | None
    write: bool
    dev_dir: Path | None  # where dev predictions/ and gold/ go (BUCC's tuning split); None: not kept

    def embed(self, examples: Sequence[RetrievalExample]) -> np.ndarray:
        texts = [e.text for e in examples]
        return embed_sentences(self.encoder, self.tokenizer, texts, self.layer, self.batch_size, self.max_length)

    def read(self, spec, split: str, lang: str):
        return read_split(spec, LoadRequest(split, lang, self.data_dir, self.max_examples))

    def save(self, spec, lang: str, predictions, order=None, gold=None, dev: bool = False) -> None:
        """Predictions under `predictions_dir`, and the gold (when known) under `gold_dir`; with
        `dev`, under `dev_dir`'s predictions/ and gold/ instead (nothing when it is None)."""
        if not self.write or (dev and self.dev_dir is None):
            return
        pred_dir, gold_dir = ((self.dev_dir / "predictions", self.dev_dir / "gold") if dev
                              else (self.predictions_dir, self.gold_dir))
        xtreme_format.write_predictions(pred_dir, spec.xtreme_id, lang, predictions, order)
        if gold is not None:
            xtreme_format.write_gold(gold_dir, spec.xtreme_id, lang, gold)


@dataclass
class RetrievalScores:
    """Per language, in percent: `test` for the languages whose test gold is known, `dev` for the
    selection data (BUCC: the split its threshold was tuned on; Tatoeba has none)."""

    test: dict[str, dict[str, float]]
    dev: dict[str, dict[str, float]]


def _tatoeba(spec, run: _Run, lang: str) -> tuple[dict[str, float], None]:
    split = run.read(spec, "test", lang)
    best = nearest_targets(run.embed(split.sources), run.embed(split.targets))
    predictions = {s.id: int(b) for s, b in zip(split.sources, best)}
    position = {t.id: i for i, t in enumerate(split.targets)}
    gold_of = dict(split.gold)  # Tatoeba: exactly one gold target per source
    golds = {s.id: position[gold_of[s.id]] for s in split.sources}
    run.save(spec, lang, predictions, order=[s.id for s in split.sources], gold=golds)
    return tatoeba(predictions, golds, language=lang), None


def _unified(examples: Sequence[RetrievalExample]) -> tuple[list[RetrievalExample], list[str | None]]:
    """Unique sentences (first occurrence) and, per unique sentence, its id (None if several)."""
    ids_of: dict[str, list[str]] = {}
    firsts: list[RetrievalExample] = []
    for e in examples:
        if e.text not in ids_of:
            ids_of[e.text] = []
            firsts.append(e)
        ids_of[e.text].append(e.id)
    return firsts, [ids_of[e.text][0] if len(ids_of[e.text]) == 1 else None for e in firsts]


def _bucc_candidates(split, run: _Run, k: int) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Mined (source id, target id) pairs of a split and their margins, best first."""
    src, src_ids = _unified(split.sources)
    trg, trg_ids = _unified(split.targets)
    started = time.perf_counter()
    mined = mine_pairs(run.embed(src), run.embed(trg), k)
    pairs, scores, ambiguous = [], [], 0
    for s, t, score in zip(mined.source, mined.target, mined.score):
        if score <= 0:  # XTREME's mine_bitext writes candidates with a margin above 0 only
            continue
        if src_ids[s] is None or trg_ids[t] is None:
            ambiguous += 1
            continue
        pairs.append((src_ids[s], trg_ids[t]))
        scores.append(score)
    logger.info(
        "bucc2018 %s %s: %d/%d unique source/target sentences (of %d/%d), %d candidates, "
        "%d dropped because their text has several ids, %.1f s",
        split.language, split.split, len(src), len(trg), len(split.sources), len(split.targets),
        len(pairs), ambiguous, time.perf_counter() - started,
    )
    return pairs, np.asarray(scores, dtype=np.float64)


def _bucc(spec, run: _Run, lang: str, k: int) -> tuple[dict[str, float] | None, dict[str, float]]:
    """(test metrics, or None without a test gold; dev metrics at the threshold tuned on dev)."""
    dev = run.read(spec, "validation", lang)
    if not dev.gold:
        raise DataError(f"bucc2018 {lang}: {dev.origin} has no gold pairs to tune the mining threshold on")
    dev_pairs, dev_scores = _bucc_candidates(dev, run, k)
    threshold = best_threshold(dev_scores, np.array([p in dev.gold for p in dev_pairs], dtype=bool), len(dev.gold))
    dev_predicted = [p for p, s in zip(dev_pairs, dev_scores) if s >= threshold]
    dev_metrics = bucc(dev_predicted, dev.gold, language=lang)
    run.save(spec, lang, dev_predicted, gold=dev.gold, dev=True)
    logger.info("bucc2018 %s: threshold %.4f tuned on %s (F1 %.2f there)", lang, threshold, dev.origin, dev_metrics["f1"])

    test = run.read(spec, "test", lang)
    test_pairs, test_scores = _bucc_candidates(test, run, k)
    predicted = [p for p, s in zip(test_pairs, test_scores) if s >= threshold]
    run.save(spec, lang, predicted, gold=test.gold)
    if test.gold is None:
        logger.warning("bucc2018 %s: %s has no gold (BUCC's test gold is not public): its predictions "
                       "are a submission, not scored here", lang, test.origin)
        return None, dev_metrics
    return bucc(predicted, test.gold, language=lang), dev_metrics


def evaluate_retrieval(
    task_name: str,
    encoder,
    tokenizer,
    languages: Sequence[str],
    data_dir: str | Path | None,
    layer: int | None,
    predictions_dir: str | Path,
    gold_dir: str | Path,
    *,
    batch_size: int = 32,
    max_length: int = 512,
    k: int = 4,
    max_examples: int | None = None,
    write: bool = True,
    benchmark: str = "xtreme",
    dev_dir: str | Path | None = None,
) -> RetrievalScores:
    """Evaluate `encoder` on a retrieval task, per language, without any training.

    task_name: "tatoeba" or "bucc2018"; languages: codes from the task's lists;
    data_dir: local files (see the task's local_layout; None = the Hub); layer: hidden-state
    index to pool (None = `default_layer`); predictions_dir receives
    `<xtreme_id>/test-<lang>.tsv` in XTREME's format (Tatoeba: the retrieved English line index
    per source line; BUCC: `src_id<TAB>trg_id` pairs) and gold_dir the gold, where known, in the
    same layout. k: neighbourhood of the BUCC margin.
    write: False on every rank but the main one when the encoder is sharded (ZeRO-3): all
    ranks must embed, one writes.
    benchmark: the benchmark `languages` are checked against (`xtreme` or `xtreme_r`).
    dev_dir: receives predictions/ and gold/ of the selection data (BUCC's dev split, mined at
    the threshold tuned on it) in the same layout; None: they are not written.
    Returns the metrics in percent (Tatoeba `accuracy`; BUCC `f1`, `precision`, `recall`) of
    test, for the languages whose test gold is known, and of the dev split (BUCC only).
    """
    spec = get_task(task_name)
    if spec.family != "retrieval":
        raise ConfigError(f"task {task_name!r} is a {spec.family} task, not a retrieval task")
    check_languages(spec.xtreme_id, languages, benchmark)
    if layer is None:
        layer = default_layer(_encoder_config(encoder).num_hidden_layers)
    run = _Run(encoder, tokenizer, layer, batch_size, max_length,
               None if data_dir is None else str(data_dir), Path(predictions_dir), Path(gold_dir), max_examples,
               write, None if dev_dir is None else Path(dev_dir))
    scores = RetrievalScores({}, {})
    for lang in languages:
        started = time.perf_counter()
        test, dev = _tatoeba(spec, run, lang) if task_name == "tatoeba" else _bucc(spec, run, lang, k)
        if test is not None:
            scores.test[lang] = test
        if dev is not None:
            scores.dev[lang] = dev
        logger.info("%s %s (layer %d): test %s, dev %s in %.1f s", task_name, lang, layer, test, dev,
                    time.perf_counter() - started)
    return scores
