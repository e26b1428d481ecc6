"""Extractive span QA (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP): windows, start/end head, n-best decoding.

Featurisation follows BERT/XTREME: the question (at most `max_query_length` tokens) is paired
with overlapping windows of the context; consecutive windows start `doc_stride` context tokens
apart. A window that does not contain the whole gold answer (and every window of an
unanswerable question) is labelled with position 0, the <s> token, as "no answer here".
Tokenizers whose pair template puts nothing between question and context (decoder LLMs) get
their separator token after the question. A decoder's position 0 is its first token (<bos>,
or the question's first token), as in transformers' `*ForQuestionAnswering` with `run_qa.py`;
being causal, that state sees no context, so a decoder's no-answer score is a learned bias
rather than a judgement of the window (it matters for SQuAD v2.0 only).

Decoding looks at every window of an example: the `n_best_size` best start and end positions
among the window's context tokens, end >= start, at most `max_answer_length` tokens; the
best-scoring span's characters are cut from the context through the tokenizer's offsets.
For SQuAD v2.0 (`version_2_with_negative`) the answer is "" when the null score (the lowest
start+end logit of <s> over the windows) beats the best span by more than
`null_score_diff_threshold`.

Tunables live in `TaskSpec.extra` (defaults in `DEFAULTS`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from toolkit.errors import ConfigError, DataError
from toolkit.families.base import Family, HeadOutput, encoder_inputs
from toolkit.families.layout import layout
from toolkit.models.backbone import backbone_of
from toolkit.tasks.records import SpanQAExample, TaskSpec

logger = logging.getLogger(__name__)

DEFAULTS = {
    "doc_stride": 128,  # context tokens between the starts of consecutive windows
    "max_query_length": 64,  # longer questions keep their first tokens (as XTREME)
    "max_answer_length": 30,  # tokens
    "n_best_size": 20,
    "version_2_with_negative": False,
    "null_score_diff_threshold": 0.0,
}


def _option(spec: TaskSpec, name: str):
    return spec.extra.get(name, DEFAULTS[name])


def _truncate_questions(questions: list[str], tokenizer, max_query_length: int) -> tuple[list[str], int]:
    """Cut questions longer than `max_query_length` tokens at the end of their last kept token.

    Returns the (possibly shortened) questions and how many were shortened. Leading spaces
    are dropped first: a few SQuAD questions start with long runs of them.
    """
    questions = [q.lstrip() for q in questions]
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    cut = 0
    for i, offsets in enumerate(enc["offset_mapping"]):
        if len(offsets) > max_query_length:
            questions[i] = questions[i][: offsets[max_query_length - 1][1]]
            cut += 1
    return questions, cut


def _answer_positions(
    example: SpanQAExample, offsets: list, context_start: int, context_end: int
) -> tuple[int, int]:
    """Token positions of the first gold answer in this window, or (0, 0) when it is not inside."""
    if example.is_impossible:
        return 0, 0
    answer = example.answers[0]
    start_char, end_char = answer.start, answer.start + len(answer.text)
    if offsets[context_start][0] > start_char or offsets[context_end][1] < end_char:
        return 0, 0
    start = context_start
    while start <= context_end and offsets[start][0] <= start_char:
        start += 1
    end = context_end
    while end >= context_start and offsets[end][1] >= end_char:
        end -= 1
    return start - 1, end + 1


def featurize(
    spec: TaskSpec, examples: Sequence[SpanQAExample], tokenizer, max_length: int
) -> list[dict[str, Any]]:
    """Windows of `<s> question </s></s> context-window </s>`, in example order.

    Each feature has `input_ids`, `example_index`, `length`, `start_position`/`end_position`
    (the first gold answer's tokens, 0 = no answer in this window) and `offsets`: per token,
    its (start, end) characters in the context, or None for question and special tokens.
    """
    doc_stride = int(_option(spec, "doc_stride"))
    if doc_stride < 1:
        raise ConfigError(f"task {spec.name}: doc_stride must be >= 1, got {doc_stride}")
    max_query_length = int(_option(spec, "max_query_length"))
    questions, cut = _truncate_questions([e.question for e in examples], tokenizer, max_query_length)
    if cut:
        logger.warning(
            "%s: %d of %d questions are longer than max_query_length=%d tokens and were cut",
            spec.name, cut, len(examples), max_query_length,
        )
    separator = layout(tokenizer).separator_text
    questions = [q + separator for q in questions]
    q_lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    n_special = tokenizer.num_special_tokens_to_add(pair=True)

    # The tokenizer's `stride` is the overlap between windows, and a window's context length
    # depends on the question's length, so examples are tokenized in groups of equal question
    # length with overlap = room for context - doc_stride (XTREME's window step).
    groups: dict[int, list[int]] = defaultdict(list)
    for i, q_len in enumerate(q_lengths):
        groups[q_len].append(i)
    features: list[dict[str, Any]] = []
    for q_len, indices in groups.items():
        room = max_length - n_special - q_len
        if room < 1:
            raise ConfigError(
                f"task {spec.name}: max_length {max_length} leaves no room for the context after a "
                f"{q_len}-token question (example {examples[indices[0]].id!r}); raise max_length "
                "or lower max_query_length"
            )
        enc = tokenizer(
            [questions[i] for i in indices],
            [examples[i].context for i in indices],
            truncation="only_second",
            max_length=max_length,
            stride=max(0, room - doc_stride),
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        for w, ids in enumerate(enc["input_ids"]):
            example_index = indices[enc["overflow_to_sample_mapping"][w]]
            sequence_ids = enc.sequence_ids(w)
            offsets = [
                tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][w], sequence_ids)
            ]
            context = [k for k, s in enumerate(sequence_ids) if s == 1]
            if not context:
                raise DataError(
                    f"task {spec.name}: example {examples[example_index].id!r}: the tokenizer "
                    "turns its context into no tokens"
                )
            start, end = _answer_positions(
                examples[example_index], enc["offset_mapping"][w], context[0], context[-1]
            )
            features.append({
                "input_ids": ids,
                "example_index": example_index,
                "length": len(ids),
                "start_position": start,
                "end_position": end,
                "offsets": offsets,
            })
    # Stable sort: windows of one example stay in context order.
    features.sort(key=lambda f: f["example_index"])
    return features


def collate(features: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    batch = encoder_inputs(features, pad_id)
    batch["start_positions"] = torch.tensor([f["start_position"] for f in features], dtype=torch.long)
    batch["end_positions"] = torch.tensor([f["end_position"] for f in features], dtype=torch.long)
    return batch


class SpanQAHead(nn.Module):
    """A linear layer giving each token a start and an end logit (as XLMRobertaForQuestionAnswering)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.qa_outputs = nn.Linear(hidden_size, 2)

    def forward(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> HeadOutput:
        logits = self.qa_outputs(hidden).float()
        # Padding can never be an answer: keep it out of the softmax and out of decoding.
        padding = batch["attention_mask"] == 0
        logits = logits.masked_fill(padding.unsqueeze(-1), torch.finfo(logits.dtype).min)
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        loss = None
        if "start_positions" in batch:
            loss = (
                nn.functional.cross_entropy(start_logits, batch["start_positions"])
                + nn.functional.cross_entropy(end_logits, batch["end_positions"])
            ) / 2
        return HeadOutput(loss=loss, outputs={"start_logits": start_logits, "end_logits": end_logits})


def make_head(spec: TaskSpec, encoder) -> nn.Module:
    return SpanQAHead(backbone_of(encoder.config).hidden_size)


def _best_span(start_logits, end_logits, offsets, n_best: int, max_answer_length: int):
    """(score, first token, last token) of the best valid span in one window, or None."""
    context = np.array([k for k, o in enumerate(offsets) if o is not None])
    start_logits = np.asarray(start_logits, dtype=np.float64)[: len(offsets)]
    end_logits = np.asarray(end_logits, dtype=np.float64)[: len(offsets)]
    starts = context[np.argsort(-start_logits[context], kind="stable")[:n_best]]
    ends = context[np.argsort(-end_logits[context], kind="stable")[:n_best]]
    length = ends[None, :] - starts[:, None]
    scores = start_logits[starts][:, None] + end_logits[ends][None, :]
    scores = np.where((length >= 0) & (length < max_answer_length), scores, -np.inf)
    i, j = np.unravel_index(np.argmax(scores), scores.shape)
    if not np.isfinite(scores[i, j]):
        return None
    return float(scores[i, j]), int(starts[i]), int(ends[j])


def decode(
    spec: TaskSpec,
    examples: Sequence[SpanQAExample],
    features: Sequence[dict[str, Any]],
    outputs: dict[str, Any],
    null_score_diff_threshold: float | None = None,
) -> dict[str, str]:
    """The answer text per example id ("" = no answer), from per-window start/end logits.

    `outputs["start_logits"]` / `["end_logits"]` hold one row per feature (a 2-D array padded
    to any width, or a list of 1-D arrays). `null_score_diff_threshold` overrides the task's.
    """
    n_best = int(_option(spec, "n_best_size"))
    max_answer_length = int(_option(spec, "max_answer_length"))
    with_negative = bool(_option(spec, "version_2_with_negative"))
    threshold = float(
        _option(spec, "null_score_diff_threshold")
        if null_score_diff_threshold is None
        else null_score_diff_threshold
    )
    best: dict[int, tuple[float, int, int, int]] = {}  # example -> (score, feature, start, end)
    null: dict[int, float] = {}
    for k, feature in enumerate(features):
        ex = feature["example_index"]
        s, e = outputs["start_logits"][k], outputs["end_logits"][k]
        null[ex] = min(null.get(ex, np.inf), float(s[0]) + float(e[0]))
        span = _best_span(s, e, feature["offsets"], n_best, max_answer_length)
        if span is not None and (ex not in best or span[0] > best[ex][0]):
            best[ex] = (span[0], k, span[1], span[2])

    predictions = {}
    for ex in sorted(null):
        example = examples[ex]
        if ex not in best or (with_negative and null[ex] - best[ex][0] > threshold):
            predictions[example.id] = ""
            continue
        _, k, start, end = best[ex]
        offsets = features[k]["offsets"]
        predictions[example.id] = example.context[offsets[start][0] : offsets[end][1]].strip()
    return predictions


def gold(spec: TaskSpec, example: SpanQAExample) -> list[str]:
    """Every gold answer text; [] for an unanswerable question."""
    return [a.text for a in example.answers]


FAMILY = Family(
    "span_qa", featurize, collate, make_head, decode, gold, translatable=True,
    run_settings=lambda model: {"doc_stride": model.doc_stride},  # windows fill max_seq_length
)
