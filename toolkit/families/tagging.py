"""Token tagging (UD-POS, PAN-X NER, CCG supertagging): one tag per word.

Words are tokenised together (`is_split_into_words=True`) and each word's tag is learned and
predicted at one sub-word only (the other sub-words get label -100), as in XTREME and BERT's
NER recipe: the first one, except that a bare word-boundary piece is skipped. XLM-R's
SentencePiece splits most CJK words into a lone "▁" followed by the characters (85% of Chinese
UD words), so "the first sub-word" would be the same "▁" embedding for nearly every word, and
the tag would have to be read from context alone; XTREME's `utils_tag.py` labels that "▁".
Byte-level BPE tokenizers (decoder LLMs) would tokenise each word as if it
began the text; every word after the first gets its leading space back, as in running text.
With a causal decoder each word is tagged from its left context only, as transformers'
decoder `*ForTokenClassification` models do.

Long sentences are never cut: a sentence whose sub-words do not fit in `max_length` is split
into overlapping windows of whole words (stride about half a window). Each word is *owned* by
exactly one window, the one where it has the most context on both sides (BERT's "max context"
rule for SQuAD), and only there does it carry a label and yield a prediction. So every word
is trained on once and predicted once.

Two corner cases keep "one prediction per word" true:
- a word that tokenises to no sub-word at all (an empty string, some control characters) is
  represented by `<unk>`, as XTREME's `utils_tag.py` does (byte-level tokenizers have no
  `<unk>`: such a word is represented by a space);
- a single word longer than a whole window keeps its first sub-words only (its prediction
  comes from the first one anyway); such words are counted and logged.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from toolkit.errors import ConfigError, DataError
from toolkit.families.base import Family, HeadOutput, encoder_inputs, pad_2d
from toolkit.families.layout import layout
from toolkit.models.backbone import backbone_of
from toolkit.tasks.records import TaggingExample, TaskSpec

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label of unlabelled sub-words, special tokens, padding and unowned words


def label_index(spec: TaskSpec) -> dict[str, int]:
    """Tag name -> label id for `spec` (a ConfigError when the task has no label set yet)."""
    if not spec.labels:
        raise ConfigError(
            f"task {spec.name!r} has no label set yet; for tasks whose labels come from the "
            "training data call toolkit.tasks.tagging.resolve_labels(spec, data_dir) first"
        )
    return {tag: i for i, tag in enumerate(spec.labels)}


def label_ids(spec: TaskSpec, example: TaggingExample, index: dict[str, int]) -> list[int]:
    """The tag id of every word of `example` (all IGNORE_INDEX when it is unlabelled).

    A tag outside `index` is a DataError naming the example, unless the task declares a
    catch-all label (`spec.extra["catch_all"]`, used for CCG's rare supertags).
    """
    if not example.tags:
        return [IGNORE_INDEX] * len(example.tokens)
    if len(example.tags) != len(example.tokens):
        raise DataError(
            f"{spec.name} example {example.id!r}: {len(example.tokens)} tokens but "
            f"{len(example.tags)} tags"
        )
    catch_all = spec.extra.get("catch_all")
    out = []
    for position, tag in enumerate(example.tags):
        if tag in index:
            out.append(index[tag])
        elif catch_all is not None:
            out.append(index[catch_all])
        else:
            raise DataError(
                f"{spec.name} example {example.id!r} word {position} ({example.tokens[position]!r}): "
                f"tag {tag!r} is not one of the task's labels ({', '.join(spec.labels)})"
            )
    return out


def word_pieces(examples: Sequence[TaggingExample], tokenizer) -> list[list[list[int]]]:
    """Sub-word ids per word per example; a word with no sub-word becomes `<unk>` (or a space)."""
    words = [list(e.tokens) for e in examples]
    if layout(tokenizer).space_before_words:
        words = [w[:1] + [" " + t for t in w[1:]] for w in words]
    enc = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
    out = []
    for i, e in enumerate(examples):
        pieces: list[list[int]] = [[] for _ in e.tokens]
        for token_id, word in zip(enc["input_ids"][i], enc.word_ids(i)):
            if word is not None:
                pieces[word].append(token_id)
        for p in pieces:
            if not p:
                p.extend(_empty_word(tokenizer))
        out.append(pieces)
    return out


def boundary_piece(tokenizer) -> int | None:
    """The id of a lone word-boundary piece ("▁" in SentencePiece vocabularies), if there is one."""
    piece = tokenizer.convert_tokens_to_ids("▁")
    return None if piece is None or piece == tokenizer.unk_token_id else piece


def label_position(pieces: Sequence[int], boundary: int | None) -> int:
    """Which sub-word of a word carries its tag: the first that is not a bare boundary piece."""
    for k, piece in enumerate(pieces):
        if piece != boundary:
            return k
    return 0


def _empty_word(tokenizer) -> list[int]:
    if tokenizer.unk_token_id is not None:
        return [tokenizer.unk_token_id]
    return tokenizer(" ", add_special_tokens=False)["input_ids"][:1] or [tokenizer.eos_token_id]


def windows(lengths: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Overlapping [start, end) word ranges whose sub-word counts fit in `budget`.

    Consecutive windows overlap by about half a window, never leave a gap, and always advance;
    a word longer than the budget gets a window of its own.
    """
    prefix = np.concatenate([[0], np.cumsum(lengths)])
    n = len(lengths)
    out: list[tuple[int, int]] = []
    start = 0
    while True:
        end = int(np.searchsorted(prefix, prefix[start] + budget, side="right")) - 1
        end = max(end, start + 1)
        out.append((start, end))
        if end >= n:
            return out
        half = int(np.searchsorted(prefix, prefix[start] + budget // 2, side="left"))
        start = min(max(half, start + 1), end)


def owners(spans: Sequence[tuple[int, int]], n_words: int) -> list[int]:
    """For each word, the index of the window that gives it the most context on both sides.

    A window edge that is also the sentence edge counts as unlimited context.
    """
    best = [-1] * n_words
    best_score = [-1.0] * n_words
    for w, (start, end) in enumerate(spans):
        for i in range(start, end):
            left = np.inf if start == 0 else i - start
            right = np.inf if end == n_words else end - 1 - i
            score = min(left, right)
            if score > best_score[i]:
                best[i], best_score[i] = w, score
    return best


def featurize(
    spec: TaskSpec, examples: Sequence[TaggingExample], tokenizer, max_length: int
) -> list[dict[str, Any]]:
    """Features of `<s> pieces </s>` windows with per-position labels and word indices.

    Each feature has `input_ids`, `labels` (tag index at the labelled sub-word of each word the
    window owns, see `label_position`; IGNORE_INDEX elsewhere), `word_index` (that word's position in the sentence
    at the same places, -1 elsewhere), `example_index` and `length`.
    """
    template = layout(tokenizer)
    budget = max_length - template.special_count()
    if budget < 1:
        raise ConfigError(f"max_length {max_length} leaves no room for words after special tokens")
    offset = template.prefix_length  # special tokens before the words (1 for XLM-R's <s>)
    index = label_index(spec)
    boundary = boundary_piece(tokenizer)
    for example in examples:
        if not example.tokens:
            raise DataError(f"{spec.name} example {example.id!r} has no tokens")
    features: list[dict[str, Any]] = []
    clipped = 0
    for ex_index, (example, pieces) in enumerate(zip(examples, word_pieces(examples, tokenizer))):
        tags = label_ids(spec, example, index)
        for word, p in enumerate(pieces):
            if len(p) > budget:
                pieces[word] = p[:budget]
                clipped += 1
        spans = windows([len(p) for p in pieces], budget)
        owner = owners(spans, len(pieces))
        for w, (start, end) in enumerate(spans):
            ids: list[int] = []
            labels: list[int] = []
            word_index: list[int] = []
            for i in range(start, end):
                mine = owner[i] == w
                at = label_position(pieces[i], boundary)
                ids.extend(pieces[i])
                for k in range(len(pieces[i])):
                    labels.append(tags[i] if mine and k == at else IGNORE_INDEX)
                    word_index.append(i if mine and k == at else -1)
            input_ids = template.build(ids)
            suffix = len(input_ids) - offset - len(ids)
            features.append({
                "input_ids": input_ids,
                "labels": [IGNORE_INDEX] * offset + labels + [IGNORE_INDEX] * suffix,
                "word_index": [-1] * offset + word_index + [-1] * suffix,
                "example_index": ex_index,
                "length": len(input_ids),
            })
    if clipped:
        logger.warning(
            "%s: %d word(s) had more than %d sub-words and keep only their first %d "
            "(their tag is still predicted from one of those)",
            spec.name, clipped, budget, budget,
        )
    return features


def collate(features: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding; labels are padded with IGNORE_INDEX."""
    batch = encoder_inputs(features, pad_id)
    batch["labels"] = pad_2d([f["labels"] for f in features], IGNORE_INDEX)
    return batch


class TaggingHead(nn.Module):
    """Dropout + one linear layer over every position's hidden state."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> HeadOutput:
        logits = self.classifier(self.dropout(hidden))
        labels = batch.get("labels")
        loss = None
        if labels is not None and bool((labels != IGNORE_INDEX).any()):
            loss = nn.functional.cross_entropy(
                logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX
            )
        # Arg-max ids, not logits: CCG has over a thousand labels, and evaluation keeps every
        # feature's outputs in memory.
        return HeadOutput(loss=loss, outputs={"predictions": logits.argmax(-1)})


def make_head(spec: TaskSpec, encoder) -> nn.Module:
    label_index(spec)  # a task whose labels come from its data must have them resolved
    backbone = backbone_of(encoder.config)
    return TaggingHead(backbone.hidden_size, spec.num_labels, backbone.dropout)


def decode(
    spec: TaskSpec, examples: Sequence[TaggingExample], features, outputs: dict[str, Any]
) -> dict[str, list[str]]:
    """One tag string per word for every example, read at each word's owning window."""
    predicted: list[list[str | None]] = [[None] * len(e.tokens) for e in examples]
    for k, f in enumerate(features):
        row = np.asarray(outputs["predictions"][k])
        tags = predicted[f["example_index"]]
        for position, word in enumerate(f["word_index"]):
            if word >= 0:
                tags[word] = spec.labels[int(row[position])]
    result = {}
    for e, tags in zip(examples, predicted):
        missing = [i for i, t in enumerate(tags) if t is None]
        if missing:
            raise DataError(
                f"{spec.name} example {e.id!r}: no prediction for words {missing[:10]}; "
                "were its features dropped between featurize and decode?"
            )
        result[e.id] = tags
    return result


def gold(spec: TaskSpec, example: TaggingExample) -> list[str] | None:
    """The gold tag strings, or None when the split has no labels."""
    return list(example.tags) if example.tags else None


FAMILY = Family("tagging", featurize, collate, make_head, decode, gold, mean_tokens=48)
