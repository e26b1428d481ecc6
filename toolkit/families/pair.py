"""Sentence-pair (or single-sentence) classification: NLI, paraphrase detection."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from toolkit.families.base import classification_output, Family, HeadOutput, encoder_inputs
from toolkit.families.layout import layout
from toolkit.models.backbone import Backbone, backbone_of
from toolkit.tasks.records import PairExample, TaskSpec

logger = logging.getLogger(__name__)


def featurize(
    spec: TaskSpec, examples: Sequence[PairExample], tokenizer, max_length: int
) -> list[dict[str, Any]]:
    """Tokenise each pair with the tokenizer's pair template (XLM-R: `<s> a </s></s> b </s>`),
    truncating the longer text first.

    Truncation is the standard treatment for classification (the label belongs to the pair,
    not to a span), so unlike tagging and QA nothing needs windowing here. Tokenizers whose
    template puts nothing between the texts (decoder LLMs) get their separator token before
    the second text (see `toolkit.families.layout`).
    """
    pairs = examples and examples[0].text_b is not None
    separator = layout(tokenizer).separator_text
    enc = tokenizer(
        [e.text_a for e in examples],
        [separator + e.text_b for e in examples] if pairs else None,
        truncation="longest_first",
        max_length=max_length,
    )
    # Counting truncations exactly would mean tokenising twice; a pair that fills the limit
    # exactly is rare, so "at the limit" is reported as truncated.
    cut = sum(len(ids) >= max_length for ids in enc["input_ids"])
    if cut:
        logger.warning("%s: %d of %d examples reach model.max_seq_length=%d tokens and were truncated",
                       spec.name, cut, len(examples), max_length)
    return [
        {"input_ids": ids, "label": e.label, "example_index": i, "length": len(ids)}
        for i, (e, ids) in enumerate(zip(examples, enc["input_ids"]))
    ]


def collate(features: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    batch = encoder_inputs(features, pad_id)
    batch["labels"] = torch.tensor([f["label"] for f in features], dtype=torch.long)
    return batch


class PairClassificationHead(nn.Module):
    """RoBERTa's classification head on the pooled state (the <s> token of an encoder, the last
    token of a decoder): dropout -> dense+tanh -> dropout -> labels."""

    def __init__(self, backbone: Backbone, num_labels: int):
        super().__init__()
        self.backbone = backbone
        self.dense = nn.Linear(backbone.hidden_size, backbone.hidden_size)
        self.dropout = nn.Dropout(backbone.dropout)
        self.out_proj = nn.Linear(backbone.hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> HeadOutput:
        x = self.dropout(self.backbone.pool(hidden, batch["attention_mask"]))
        x = torch.tanh(self.dense(x))
        logits = self.out_proj(self.dropout(x))
        return classification_output(logits, batch.get("labels"))


def make_head(spec: TaskSpec, encoder) -> nn.Module:
    return PairClassificationHead(backbone_of(encoder.config), spec.num_labels)


def decode(spec: TaskSpec, examples, features, outputs: dict[str, np.ndarray]) -> dict[str, str]:
    """The arg-max label name per example (one feature per example in this family)."""
    best = outputs["logits"].argmax(-1)
    return {examples[f["example_index"]].id: spec.labels[int(b)] for f, b in zip(features, best)}


def gold(spec: TaskSpec, example: PairExample) -> str | None:
    return spec.labels[example.label] if example.label >= 0 else None


FAMILY = Family("pair_classification", featurize, collate, make_head, decode, gold, translatable=True, mean_tokens=64)
