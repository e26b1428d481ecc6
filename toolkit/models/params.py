"""Parameter counts: of a trained model (also under ZeRO-3) and of a config (without weights).

The split follows Kaplan et al. (2020): `embedding` is the lookup tables of the backbone
(every `nn.Embedding`: words, absolute or relative positions, token types), which cost no
multiply-adds per token; `non_embedding` is the rest of the backbone (attention, feed-forward,
norms, biases); `heads` is the task heads' own parameters (a head's weight that *is* a backbone
parameter, such as the tied MLM decoder, counts once, in the backbone); `total` is their sum.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from toolkit.models.backbone import init_kwargs, model_class

def numel(param: nn.Parameter) -> int:
    """Elements of a parameter; under ZeRO-3 the full count (`ds_numel`), not this rank's shard."""
    return int(getattr(param, "ds_numel", param.numel()))


def _unique(params: Iterable[nn.Parameter], seen: set[int]) -> int:
    total = 0
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            total += numel(p)
    return total


def parameter_counts(backbone: nn.Module, heads: nn.Module | None = None) -> dict[str, int]:
    """{"total", "embedding", "non_embedding", "heads"} of a backbone plus optional heads.

    Works on partitioned ZeRO-3 modules (counts come from `ds_numel`, so no gathering and no
    collective call is needed) and on meta-device modules.
    """
    seen: set[int] = set()
    tables = (m.weight for m in backbone.modules() if isinstance(m, nn.Embedding))
    embedding = _unique(tables, seen)
    non_embedding = _unique(backbone.parameters(), seen)
    head = _unique(heads.parameters(), seen) if heads is not None else 0
    return {"total": embedding + non_embedding + head, "embedding": embedding,
            "non_embedding": non_embedding, "heads": head}


def meta_backbone(config) -> nn.Module:
    """The bare backbone `config` describes, on the meta device: shapes only, no memory.

    Built through the class itself, not `from_config`, which would follow an active ZeRO-3
    context and try to partition meta tensors.
    """
    cls = model_class(config)
    with torch.device("meta"):
        return cls(config, **init_kwargs(cls))


def config_parameter_counts(config) -> dict[str, int]:
    """The parameter counts of the bare backbone `config` describes (see `meta_backbone`).

    Exact for any architecture transformers implements (grouped-query attention, gated MLPs,
    relative-position tables ...), and instant: no weights are allocated or downloaded.
    """
    return parameter_counts(meta_backbone(config))


def largest_parameter(config) -> int:
    """Elements of the backbone's largest single parameter (usually the word embeddings)."""
    return max(p.numel() for p in meta_backbone(config).parameters())
