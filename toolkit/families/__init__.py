"""Task families: how a kind of task becomes features, which head it trains, how outputs decode.

jiant's idea, kept small: a task is examples + featurisation + head. Each family module
defines one `Family` record; `get_family(name)` finds it. A new family is a new module and
one line in `_FAMILY_MODULES`.

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

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from toolkit.errors import ConfigError


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


@dataclass(frozen=True)
class Family:
    """One task family: featuriser, collator, head factory, decoder and gold extractor."""

    name: str
    featurize: Callable[..., list[dict[str, Any]]]
    collate: Callable[[list[dict[str, Any]], int], dict[str, torch.Tensor]]
    make_head: Callable[..., torch.nn.Module]
    decode: Callable[..., dict[str, Any]]
    gold: Callable[..., Any]


_FAMILY_MODULES = {
    "pair_classification": "toolkit.families.pair",
    "multiple_choice": "toolkit.families.multiple_choice",
    "span_qa": "toolkit.families.span_qa",
    "tagging": "toolkit.families.tagging",
    "mlm": "toolkit.families.mlm",
}


def get_family(name: str) -> Family:
    """The Family record for `name` (imported on first use)."""
    if name not in _FAMILY_MODULES:
        raise ConfigError(f"unknown task family {name!r}; known: {', '.join(_FAMILY_MODULES)}")
    return importlib.import_module(_FAMILY_MODULES[name]).FAMILY


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
