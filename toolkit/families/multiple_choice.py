"""Multiple choice: score every (context + question, choice) pair, pick the best one.

Each example becomes one feature holding one token sequence per choice, laid out by the
tokenizer's pair template: `<s> context question </s></s> choice </s>` for XLM-R. The collator
stacks a batch into [batch * choices, length] so the encoder sees ordinary sequences; the head
scores each sequence's pooled state (<s> for an encoder, the last token for a decoder) and
reshapes the scores back to [batch, choices] for a softmax over choices (the standard
BERT/RoBERTa multiple-choice recipe).
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from toolkit.errors import ConfigError, DataError
from toolkit.families.base import classification_output, Family, HeadOutput, padded_inputs
from toolkit.families.layout import layout
from toolkit.models.backbone import Backbone, backbone_of
from toolkit.tasks.records import MultipleChoiceExample, TaskSpec

log = logging.getLogger(__name__)


def _fit(context: list[int], question: list[int], choice: list[int], budget: int):
    """Shorten (context, question, choice) to `budget` tokens in total, context first.

    The context is cut from its end (keeping its start and the question next to the choice),
    then the question, then the choice: the choice is what is being scored, so it goes last.
    """
    excess = len(context) + len(question) + len(choice) - budget
    parts = [context, question, choice]
    for i, part in enumerate(parts):
        if excess <= 0:
            break
        cut = min(excess, len(part))
        parts[i] = part[: len(part) - cut]
        excess -= cut
    return parts


def featurize(
    spec: TaskSpec, examples: Sequence[MultipleChoiceExample], tokenizer, max_length: int
) -> list[dict[str, Any]]:
    """One feature per example: `input_ids` is a list of token-id lists, one per choice.

    Over-long inputs are truncated (context first, see `_fit`) and the number of truncated
    sequences is logged: like classification, the label belongs to the whole input, so there
    is nothing to window over.
    """
    template = layout(tokenizer)
    budget = max_length - template.special_count(pair=True)
    if budget < 1:
        raise ConfigError(f"max_length={max_length} leaves no room for text between special tokens")

    def encode(texts: list[str]) -> list[list[int]]:
        return tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []

    contexts = encode([e.context for e in examples])
    questions = encode([e.question for e in examples])
    flat_choices = encode([c for e in examples for c in e.choices])

    features, truncated, pos = [], 0, 0
    for i, e in enumerate(examples):
        sequences = []
        for choice in flat_choices[pos : pos + len(e.choices)]:
            ctx, q, ch = _fit(contexts[i], questions[i], choice, budget)
            truncated += len(ctx) + len(q) + len(ch) < len(contexts[i]) + len(questions[i]) + len(choice)
            sequences.append(template.build(ctx + q, ch))
        pos += len(e.choices)
        features.append(
            {
                "input_ids": sequences,
                "label": e.label,
                "example_index": i,
                "length": max(len(s) for s in sequences),
            }
        )
    if truncated:
        n_seq = sum(len(e.choices) for e in examples)
        log.warning(
            "%s: truncated %d of %d choice sequences to %d tokens", spec.name, truncated, n_seq, max_length
        )
    return features


def collate(features: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to [B, C, T] and flatten to [B*C, T]; `num_choices` (C) travels with the batch."""
    counts = {len(f["input_ids"]) for f in features}
    if len(counts) != 1:
        raise DataError(
            f"a multiple-choice batch mixes examples with {sorted(counts)} choices; "
            "every example of a task must have the same number of choices"
        )
    return {
        **padded_inputs([seq for f in features for seq in f["input_ids"]], pad_id),
        "labels": torch.tensor([f["label"] for f in features], dtype=torch.long),
        "num_choices": torch.tensor(counts.pop(), dtype=torch.long),
    }


class MultipleChoiceHead(nn.Module):
    """Pooled state -> dropout -> Linear(hidden, 1): one score per choice, softmax over choices."""

    def __init__(self, backbone: Backbone):
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(backbone.dropout)
        self.scorer = nn.Linear(backbone.hidden_size, 1)

    def forward(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> HeadOutput:
        num_choices = int(batch["num_choices"])
        pooled = self.backbone.pool(hidden, batch["attention_mask"])
        logits = self.scorer(self.dropout(pooled)).view(-1, num_choices)
        return classification_output(logits, batch.get("labels"))


def make_head(spec: TaskSpec, encoder) -> nn.Module:
    return MultipleChoiceHead(backbone_of(encoder.config))


def decode(spec: TaskSpec, examples, features, outputs: dict[str, np.ndarray]) -> dict[str, int]:
    """The index of the best-scoring choice per example (one feature per example)."""
    best = outputs["logits"].argmax(-1)
    return {examples[f["example_index"]].id: int(b) for f, b in zip(features, best)}


def gold(spec: TaskSpec, example: MultipleChoiceExample) -> int | None:
    return example.label if example.label >= 0 else None


FAMILY = Family(
    "multiple_choice", featurize, collate, make_head, decode, gold, translatable=True,
    mean_tokens=96, inputs_per_example=lambda spec: int(spec.extra.get("num_choices", 4)),
)
