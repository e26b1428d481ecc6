"""Masked language modelling (the paper's baseline i: continued multilingual MLM).

Featurising: each text is tokenised on its own and cut into `<s> ... </s>` windows of at most
`max_length` tokens, without overlap (every token is a prediction target once per epoch). A
long text is cut into near-equal windows rather than full ones plus a stub, so no window is
left with almost no context. Texts are not packed across documents: every feature belongs
to exactly one text, so `example_index` and `language` stay exact, no window attends across
two documents, and Wikipedia articles are long enough that most windows are full anyway
(length grouping batches the short last windows together).

Masking happens in `collate`, so every epoch sees fresh masks: 15% of the non-special tokens
are chosen; of those 80% become `<mask>`, 10% a random non-special token, 10% stay as they
are (BERT/XLM-R). Labels are -100 everywhere else. The draws use torch's global RNG, which the
engine reseeds from (seed, step, rank) before each micro-batch, so a resumed run repeats its
masks exactly. `collate(features, pad_id)` cannot see the tokenizer, so `featurize` stores the
three integers masking needs in every feature (`mask_id`, `vocab_size`, `special_ids`):
features are the one thing that flows from the tokenizer to the collator, and the feature
cache is keyed by tokenizer, so cached features always carry their own tokenizer's ids.

Validation should score the same masks at every step, or checkpoints are compared on
different questions: `freeze_masks` draws one fixed mask per feature (its own seeded
generator), and `collate` uses features that already carry `labels` as they are.

The head is XLM-R's LM head (dense -> GELU -> LayerNorm -> decoder + bias) with the decoder
weight *being* the encoder's word-embedding Parameter, as in `XLMRobertaForMaskedLM`; that is
also what ZeRO-3 needs (one partitioned Parameter, gathered by whichever module runs).
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn


from toolkit.errors import ConfigError, DataError
from toolkit.families.base import Family, HeadOutput, encoder_inputs, pad_2d
from toolkit.families.layout import layout
from toolkit.models.backbone import backbone_of
from toolkit.tasks.records import TaskSpec, TextExample

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label of every position that is not a prediction target
MASK_PROBABILITY = 0.15
MASK_TOKEN_SHARE = 0.8  # of the chosen tokens: replaced by <mask>
RANDOM_TOKEN_SHARE = 0.1  # ... by a random token; the remaining 10% are left unchanged
_TOKENIZE_CHUNK = 1000  # texts per tokenizer call: bounds the memory of the batch encodings


# ---------------------------------------------------------------------------------------------
# Features and masking.
# ---------------------------------------------------------------------------------------------


def featurize(
    spec: TaskSpec, examples: Sequence[TextExample], tokenizer, max_length: int
) -> list[dict[str, Any]]:
    """Non-overlapping `<s> ... </s>` windows of each text (see the module docstring).

    Each feature has `input_ids`, `example_index`, `length`, `language`, and the masking
    constants `mask_id`, `vocab_size` (len(tokenizer)) and `special_ids`.
    """
    template = layout(tokenizer)
    budget = max_length - template.special_count()
    if budget < 1:
        raise ConfigError(f"max_length {max_length} leaves no room for text after special tokens")
    if tokenizer.mask_token_id is None:
        raise ConfigError(f"task {spec.name!r}: the tokenizer has no mask token, so it cannot do MLM")
    constants = {
        "mask_id": int(tokenizer.mask_token_id),
        "vocab_size": len(tokenizer),
        "special_ids": sorted({int(i) for i in tokenizer.all_special_ids}),
    }
    features: list[dict[str, Any]] = []
    for start in range(0, len(examples), _TOKENIZE_CHUNK):
        chunk = examples[start : start + _TOKENIZE_CHUNK]
        # verbose=False: texts longer than the model's maximum are expected here (we window them).
        encoded = tokenizer([e.text for e in chunk], add_special_tokens=False, verbose=False)
        for offset, (example, ids) in enumerate(zip(chunk, encoded["input_ids"])):
            if not ids:
                raise DataError(f"{spec.name} text {example.id!r} ({example.language}) has no tokens")
            n_windows = math.ceil(len(ids) / budget)
            cuts = [len(ids) * w // n_windows for w in range(n_windows + 1)]  # sizes differ by <= 1
            for w in range(n_windows):
                window = template.build(ids[cuts[w] : cuts[w + 1]])
                features.append({
                    "input_ids": window,
                    "example_index": start + offset,
                    "length": len(window),
                    "language": example.language,
                    **constants,
                })
    counts = token_counts(features)
    logger.info(
        "%s: %d texts -> %d windows of <= %d tokens; text tokens per language: %s",
        spec.name, len(examples), len(features), max_length,
        ", ".join(f"{lang} {n:,}" for lang, n in sorted(counts.items())),
    )
    return features


def token_counts(features: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Text tokens (special tokens excluded) per language of MLM features."""
    counts: Counter = Counter()
    for f in features:
        specials = set(f["special_ids"])
        counts[f["language"]] += sum(1 for t in f["input_ids"] if t not in specials)
    return dict(counts)


@lru_cache(maxsize=8)
def _random_candidates(vocab_size: int, special_ids: tuple[int, ...]) -> torch.Tensor:
    """Every non-special token id: what the '10% random token' replacement draws from."""
    keep = torch.ones(vocab_size, dtype=torch.bool)
    keep[[i for i in special_ids if i < vocab_size]] = False
    return keep.nonzero().squeeze(1)


def mask_tokens(
    input_ids: torch.Tensor,
    special_ids: Sequence[int],
    mask_id: int,
    vocab_size: int,
    pad_id: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of a (batch, length) id tensor: (masked input ids, labels).

    Special tokens and padding are never chosen. Random draws come from `generator`, or
    from torch's global RNG when it is None (training: reseeded by the engine every step).
    """
    protected = torch.tensor(sorted(set(special_ids) | {pad_id}), dtype=input_ids.dtype)
    maskable = ~torch.isin(input_ids, protected)
    chosen = (torch.rand(input_ids.shape, generator=generator) < MASK_PROBABILITY) & maskable
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    # One uniform draw per position decides what happens to a chosen token.
    action = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (action < MASK_TOKEN_SHARE)
    to_random = chosen & (action >= MASK_TOKEN_SHARE) & (action < MASK_TOKEN_SHARE + RANDOM_TOKEN_SHARE)
    candidates = _random_candidates(vocab_size, tuple(sorted(special_ids)))
    random_ids = candidates[torch.randint(len(candidates), input_ids.shape, generator=generator)]
    masked = input_ids.clone()
    masked[to_mask] = mask_id
    masked[to_random] = random_ids[to_random]
    return masked, labels


def collate(features: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad, then mask freshly (or use the fixed masks of features from `freeze_masks`)."""
    frozen = ["labels" in f for f in features]
    if any(frozen) and not all(frozen):
        raise ConfigError("an MLM batch mixes features with fixed masks (freeze_masks) and without")
    batch = encoder_inputs(features, pad_id)
    if all(frozen):
        batch["labels"] = pad_2d([f["labels"] for f in features], IGNORE_INDEX)
        return batch
    first = features[0]
    batch["input_ids"], batch["labels"] = mask_tokens(
        batch["input_ids"], first["special_ids"], first["mask_id"], first["vocab_size"], pad_id
    )
    return batch


def freeze_masks(features: Sequence[dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Copies of `features` with one fixed mask each (masked `input_ids` plus `labels`).

    For validation sets: every evaluation then scores the same masked tokens. The masks
    depend only on `seed` and the features, not on torch's global RNG.
    """
    generator = torch.Generator().manual_seed(seed)
    out = []
    for f in features:
        ids = torch.tensor([f["input_ids"]], dtype=torch.long)
        # No padding inside one feature: -1 stands for "no pad id" and matches no token.
        masked, labels = mask_tokens(ids, f["special_ids"], f["mask_id"], f["vocab_size"], -1, generator)
        out.append({**f, "input_ids": masked[0].tolist(), "labels": labels[0].tolist()})
    return out


# ---------------------------------------------------------------------------------------------
# Head.
# ---------------------------------------------------------------------------------------------


class MaskedLMHead(nn.Module):
    """XLM-R's LM head; `decoder.weight` is the encoder's word-embedding Parameter itself.

    Logits are computed only at the masked positions (about 15% of them): over a 250k-token
    vocabulary the full (batch, length, vocab) logits would dominate memory and time.
    """

    def __init__(self, word_embeddings: nn.Embedding, hidden_size: int, vocab_size: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.layer_norm = nn.LayerNorm(hidden_size, eps=eps)
        # Built on the meta device (no vocab x hidden allocation), then tied: the same
        # Parameter object as the embeddings, never a copy, as XLMRobertaForMaskedLM does.
        self.decoder = nn.Linear(hidden_size, vocab_size, device="meta")
        self.decoder.weight = word_embeddings.weight
        self.decoder.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> HeadOutput:
        labels = batch["labels"]
        selected = labels != IGNORE_INDEX
        x = self.dense(hidden[selected])
        x = self.layer_norm(nn.functional.gelu(x))
        logits = self.decoder(x)  # always called, even on no rows: ZeRO-3 ranks must agree
        targets = labels[selected]
        if targets.numel():
            loss = nn.functional.cross_entropy(logits.float(), targets)
        else:  # a batch of very short texts can draw no mask: zero loss, graph kept
            loss = logits.sum() * 0.0
        predicted = torch.full_like(labels, IGNORE_INDEX)
        predicted[selected] = logits.argmax(-1)
        return HeadOutput(loss=loss, outputs={"predicted": predicted, "labels": labels})


# Our parameter name -> a checkpoint's names for it (first found wins): XLM-R and XLM-R XL
# (`lm_head.*`; the bias is tied, either name may be saved), DeBERTa-v3 / mDeBERTa as Microsoft
# released them (`lm_predictions.lm_head.*`), BERT and transformers' DebertaV2ForMaskedLM
# (`cls.predictions.*`). The three layouts are the same transform -> norm -> tied decoder.
_HEAD_KEYS = {
    "dense.weight": ("lm_head.dense.weight", "lm_predictions.lm_head.dense.weight",
                     "cls.predictions.transform.dense.weight"),
    "dense.bias": ("lm_head.dense.bias", "lm_predictions.lm_head.dense.bias",
                   "cls.predictions.transform.dense.bias"),
    "layer_norm.weight": ("lm_head.layer_norm.weight", "lm_predictions.lm_head.LayerNorm.weight",
                          "cls.predictions.transform.LayerNorm.weight"),
    "layer_norm.bias": ("lm_head.layer_norm.bias", "lm_predictions.lm_head.LayerNorm.bias",
                        "cls.predictions.transform.LayerNorm.bias"),
    "decoder.bias": ("lm_head.bias", "lm_head.decoder.bias", "lm_predictions.lm_head.bias",
                     "cls.predictions.bias"),
}


def _weight_files(model_path: str, revision: str | None) -> list[Path]:
    """The checkpoint's weight files: safetensors first, else PyTorch; single or sharded.

    A Hub id is looked up in the local Hugging Face cache only (the encoder's loading put
    the files there); nothing is downloaded here.
    """
    import json

    def locate(name: str) -> Path | None:
        if Path(model_path).is_dir():
            path = Path(model_path) / name
            return path if path.is_file() else None
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model_path, name, revision=revision)
        return Path(found) if isinstance(found, str) else None

    for single, index in (
        ("model.safetensors", "model.safetensors.index.json"),
        ("pytorch_model.bin", "pytorch_model.bin.index.json"),
    ):
        if (path := locate(single)) is not None:
            return [path]
        if (index_path := locate(index)) is not None:
            shards = sorted(set(json.loads(index_path.read_text(encoding="utf-8"))["weight_map"].values()))
            paths = [locate(s) for s in shards]
            if any(p is None for p in paths):
                raise DataError(f"{index_path}: some of its shards are missing ({', '.join(shards)})")
            return paths
    return []


def _read_tensors(path: Path, wanted: set[str]) -> dict[str, torch.Tensor]:
    """The tensors named in `wanted` that `path` holds (safetensors read lazily, key by key)."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys() if k in wanted}
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return {k: v for k, v in state.items() if k in wanted}


def load_pretrained_lm_head(head: MaskedLMHead, model_path: str, revision: str | None = None) -> bool:
    """Copy a checkpoint's `lm_head.*` weights (XLMRobertaForMaskedLM layout) into `head`.

    Returns False when the checkpoint has no LM head (a bare encoder such as the embedded
    one): the head keeps its fresh initialisation. A checkpoint with only part of the head,
    or with other shapes, is a DataError. The decoder weight is not read: it is the encoder's
    word embedding, already loaded with the encoder.
    """
    files = _weight_files(model_path, revision) if model_path else []
    wanted = {name for names in _HEAD_KEYS.values() for name in names}
    found: dict[str, torch.Tensor] = {}
    for path in files:
        found.update(_read_tensors(path, wanted))
    if not found:
        return False
    where = f"{model_path} ({', '.join(p.name for p in files)})"
    params = dict(head.named_parameters())
    with torch.no_grad():
        for ours, theirs in _HEAD_KEYS.items():
            key = next((k for k in theirs if k in found), None)
            if key is None:
                raise DataError(f"{where}: has LM-head weights but not {' or '.join(theirs)}")
            if found[key].shape != params[ours].shape:
                raise DataError(
                    f"{where}: {key} has shape {tuple(found[key].shape)}, the head expects "
                    f"{tuple(params[ours].shape)}"
                )
            params[ours].copy_(found[key].to(params[ours].dtype))
    return True


def make_head(spec: TaskSpec, encoder) -> nn.Module:
    """The LM head tied to `encoder`'s embeddings, with the checkpoint's LM-head weights if any."""
    cfg = encoder.config
    if not backbone_of(cfg).kind.masked_lm:
        raise ConfigError(
            f"task {spec.name!r} is masked language modelling, which needs a bidirectional encoder; "
            f"{getattr(encoder, 'name_or_path', '') or 'the model'} is a causal decoder ({cfg.model_type}). "
            "Use another approach than mlm with decoder LLMs."
        )
    head = MaskedLMHead(encoder.get_input_embeddings(), cfg.hidden_size, cfg.vocab_size, cfg.layer_norm_eps)
    source = getattr(encoder, "name_or_path", "") or ""
    if load_pretrained_lm_head(head, source, getattr(cfg, "_commit_hash", None)):
        logger.info("%s: LM head initialised from the pretrained weights of %s", spec.name, source)
    else:
        logger.info(
            "%s: %s has no pretrained LM head (lm_head.*): the LM head starts freshly initialised",
            spec.name, source or "the encoder",
        )
    return head


# ---------------------------------------------------------------------------------------------
# Decoding and scoring.
# ---------------------------------------------------------------------------------------------


def decode(spec: TaskSpec, examples, features, outputs: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per text: {"predicted": [...], "labels": [...]}, the masked positions of all its windows.

    The gold tokens travel with the predictions because masks are drawn at collate time:
    the example alone cannot tell which tokens were masked (see `gold`).
    """
    result: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"predicted": [], "labels": []})
    for f, predicted, labels in zip(features, outputs["predicted"], outputs["labels"]):
        at = labels >= 0  # -100 off the masks, a large negative value past the feature's end
        entry = result[examples[f["example_index"]].id]
        entry["predicted"].extend(int(p) for p in predicted[at])
        entry["labels"].extend(int(t) for t in labels[at])
    return dict(result)


def gold(spec: TaskSpec, example: TextExample) -> None:
    """None: the masked tokens are the gold and come with `decode`'s predictions."""
    return None


FAMILY = Family("mlm", featurize, collate, make_head, decode, gold)  # windows fill max_seq_length
