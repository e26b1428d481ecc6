"""What the task heads need to know about a backbone, derived from its Hugging Face config.

The toolkit trains any `AutoModel` backbone: bidirectional encoders (XLM-R base to XXL,
mDeBERTa-v3, BERT-style models) and causal decoder LLMs (Llama, Qwen2, Gemma, Mistral ...).
They differ in two ways that matter to a head, and both are recorded here as data:

- pooling: a bidirectional encoder summarises a sequence in its first token (<s>/[CLS]);
  a causal decoder's only token that has seen the whole sequence is its last non-padding
  one, which is where transformers' `*ForSequenceClassification` decoders pool;
- classifier dropout: the config's own setting where it has one (`classifier_dropout`,
  DeBERTa's `cls_dropout`, then the hidden dropout), else the kind's default (0.1 for
  encoders as in RoBERTa, none for decoder LLMs, which are pretrained without dropout).

Causal backbones cannot do masked-LM training; the mlm family checks `masked_lm`.

The kind is found in transformers' own registries: a model type with a masked-LM class is a
bidirectional encoder (unless its config says `is_decoder`), one with only a causal-LM class
is a decoder. Model code from the Hub (`trust_remote_code`) is judged by the architectures its
config names (`...ForMaskedLM` / `...ForCausalLM`). Anything else (encoder-decoder models such
as T5) is refused with a clear error.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import torch

from toolkit.errors import ConfigError


def first_token(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The state of position 0 (<s> / [CLS]) of every row."""
    return hidden[:, 0]


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Per row, the position of the last non-padding token (left or right padding alike)."""
    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device)
    return (positions * attention_mask.to(positions.dtype)).argmax(-1)


def last_token(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The state of each row's last non-padding token (what decoder classifiers pool)."""
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, last_token_index(attention_mask)]


POOLERS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "first": first_token,
    "last": last_token,
}


@dataclass(frozen=True)
class BackboneKind:
    """How heads use one kind of backbone."""

    name: str
    pooling: str  # a key of POOLERS
    masked_lm: bool  # can be trained with the mlm family
    default_dropout: float  # classifier dropout when the config names none


KINDS = {
    "bidirectional": BackboneKind("bidirectional", pooling="first", masked_lm=True, default_dropout=0.1),
    "causal": BackboneKind("causal", pooling="last", masked_lm=False, default_dropout=0.0),
}

# Config attributes that hold the classifier dropout, most specific first.
DROPOUT_KEYS = ("classifier_dropout", "cls_dropout", "hidden_dropout_prob", "hidden_dropout")


@dataclass(frozen=True)
class Backbone:
    """One loaded backbone as the heads see it."""

    model_type: str
    kind: BackboneKind
    hidden_size: int
    dropout: float

    @property
    def pooling(self) -> str:
        return self.kind.pooling

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One vector per sequence: [batch, length, hidden] -> [batch, hidden]."""
        return POOLERS[self.kind.pooling](hidden, attention_mask)


def backbone_kind(config) -> BackboneKind:
    """'bidirectional' or 'causal', from the config and transformers' model registries."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = getattr(config, "model_type", None)
    if getattr(config, "is_encoder_decoder", False):
        raise ConfigError(
            f"model type {model_type!r} is an encoder-decoder model; xstilts trains encoders and "
            "decoder-only LLMs (AutoModel backbones with one stack)"
        )
    if getattr(config, "is_decoder", False):
        return KINDS["causal"]
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return KINDS["bidirectional"]
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return KINDS["causal"]
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith("ForMaskedLM") for a in architectures):
        return KINDS["bidirectional"]
    if any(a.endswith("ForCausalLM") for a in architectures):
        return KINDS["causal"]
    raise ConfigError(
        f"model type {model_type!r} is neither a masked-LM encoder nor a causal decoder in "
        "transformers' registries, so xstilts does not know how to pool it"
    )


def backbone_of(config) -> Backbone:
    """The Backbone record of a Hugging Face config (see the module docstring)."""
    kind = backbone_kind(config)
    dropout = next(
        (float(getattr(config, k)) for k in DROPOUT_KEYS if getattr(config, k, None) is not None),
        kind.default_dropout,
    )
    return Backbone(config.model_type, kind, int(config.hidden_size), dropout)


def model_class(config):
    """The `AutoModel` class for `config` (the bare backbone, no task head)."""
    from transformers import AutoModel

    try:
        return AutoModel._model_mapping[type(config)]
    except KeyError:
        raise ConfigError(f"transformers has no AutoModel class for model type {config.model_type!r}") from None


def init_kwargs(cls) -> dict:
    """Constructor options for a bare backbone: no pooler where the class has one.

    Our heads never use the pooler, and parameters without gradients would only cost memory.
    """
    return {"add_pooling_layer": False} if "add_pooling_layer" in inspect.signature(cls.__init__).parameters else {}
