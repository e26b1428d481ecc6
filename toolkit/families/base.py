"""The `Family` record: how a kind of task becomes features, which head it trains, how outputs
decode, and the facts about the kind that the rest of the toolkit asks instead of testing names.

jiant's idea, kept small: a task is examples + featurisation + head. Each family module
defines one `Family` record; `toolkit.families.registry.get_family(name)` finds it. A new
family is a new module and one line in the registry.

Contracts every family keeps (the engine and the evaluation loop rely on them):
- `featurize(spec, examples, tokenizer, max_length)` returns a list of feature dicts, each with
  `input_ids` (list[int], or list of lists for multiple choice), `example_index` (position of
  its example in `examples`; several features may share one when a long input is windowed)
  and `length` (the padded length it needs: the longest sequence in the feature).
  Nothing is silently truncated away: long inputs are windowed or the error says why.
- `collate(features, pad_id)` pads to the longest feature of the batch (dynamic padding) and
  returns tensors: `input_ids`, `attention_mask` plus the family's own fields (labels ...).
- `make_head(spec, encoder)` builds the task head; `head(hidden_states, batch)` returns a
  `HeadOutput` whose `outputs` are per-feature tensors (first dimension = features).
- `decode(spec, examples, features, outputs)` turns per-feature outputs (numpy arrays, in
  feature order) into one prediction per example id, in the form the task's metric expects.
- `gold(spec, example)` gives that example's gold answer in the same form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from toolkit.config.schema import ModelArgs
from toolkit.tasks.records import TaskSpec


class HeadOutput(dict):
    """What a head returns: the mean training loss (None without labels) and per-feature outputs.

    A dict rather than a dataclass: ZeRO-3 finds the tensors a module returns only inside
    tuples, lists and dicts, and tensors it cannot see skip its backward hooks (the head's
    partitioned weights are then missing in the backward pass).
    """

    def __init__(self, loss: torch.Tensor | None, outputs: dict[str, torch.Tensor]):
        super().__init__(loss=loss, outputs=outputs)

    @property
    def loss(self) -> torch.Tensor | None:
        return self["loss"]

    @property
    def outputs(self) -> dict[str, torch.Tensor]:
        return self["outputs"]


def _one_input(spec: TaskSpec) -> int:
    return 1


def _no_settings(model: ModelArgs) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Family:
    """One task family.

    featurize, collate, make_head, decode, gold: the contracts above (None for a family that
    is never fine-tuned).
    trainable: False for families scored on the encoder as it is, without a head or training
        data (retrieval: BUCC, Tatoeba); the pipeline then runs their own evaluation.
    translatable: machine translation keeps the family's examples valid (token-level tags
        would not stay aligned), so the `translated` approach may use its tasks.
    mean_tokens: assumed mean tokens of one input, for `plan`'s compute estimate; None: the
        inputs are windows that fill model.max_seq_length (span QA, MLM).
    inputs_per_example: encoder inputs one example costs (multiple choice: one per choice;
        retrieval: both sentences of a pair).
    run_settings: what the run's model settings add to a task's `extra` (span QA: the window
        stride), applied once per run when the task is configured.
    """

    name: str
    featurize: Callable[..., list[dict[str, Any]]] | None
    collate: Callable[[list[dict[str, Any]], int], dict[str, torch.Tensor]] | None
    make_head: Callable[..., torch.nn.Module] | None
    decode: Callable[..., dict[str, Any]] | None
    gold: Callable[..., Any] | None
    trainable: bool = True
    translatable: bool = False
    mean_tokens: int | None = None
    inputs_per_example: Callable[[TaskSpec], int] = _one_input
    run_settings: Callable[[ModelArgs], dict[str, Any]] = _no_settings

    def tokens_per_example(self, spec: TaskSpec, max_seq_length: int) -> int:
        """Assumed encoder tokens one example of `spec` costs (the compute plan's unit)."""
        mean = max_seq_length if self.mean_tokens is None else min(self.mean_tokens, max_seq_length)
        return mean * self.inputs_per_example(spec)


def pad_2d(rows: Sequence[Sequence[int]], pad: int) -> torch.Tensor:
    """Right-pad integer rows to the longest one (dynamic padding)."""
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
    return out


def padded_inputs(rows: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """`input_ids` right-padded with `pad_id`, and an `attention_mask` that covers each row's length.

    The mask comes from the lengths, not from comparing ids with `pad_id`: decoder LLMs often
    pad with their eos token, which also occurs inside real inputs (as a pair separator).
    """
    ids = pad_2d(rows, pad_id)
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).long()
    return {"input_ids": ids, "attention_mask": mask}


def encoder_inputs(features: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """`input_ids` and `attention_mask` for a batch of single-sequence features."""
    return padded_inputs([f["input_ids"] for f in features], pad_id)


def classification_output(logits: torch.Tensor, labels: torch.Tensor | None) -> HeadOutput:
    """Cross-entropy over `logits` (classes or choices) where labels are given (-1: none), and
    the logits as the per-feature output."""
    loss = None
    if labels is not None and bool((labels >= 0).any()):
        loss = torch.nn.functional.cross_entropy(logits.float(), labels, ignore_index=-1)
    return HeadOutput(loss=loss, outputs={"logits": logits})
