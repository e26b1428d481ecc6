"""Forward passes over an evaluation set: length-sorted batches shared across ranks.

Under ZeRO-3 every rank must run the same number of forward passes (each pass gathers
parameters collectively), so ranks with fewer batches repeat one and discard its output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from toolkit.data.features import FeatureTable
from toolkit.runtime.distributed import Dist
from toolkit.families.registry import get_family
from toolkit.tasks.records import TaskSpec

PAD_VALUE = -1e9  # pads per-token outputs: never the arg-max, never a chosen span


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _features_reader(features) -> tuple[Sequence[int], Callable[[Sequence[int]], list[dict[str, Any]]]]:
    """Lengths of `features` and a batch reader: one Arrow read per batch for a FeatureTable,
    plain indexing for a list (e.g. MLM validation features with frozen masks)."""
    if isinstance(features, FeatureTable):
        return features.column("length"), features.rows
    return [f["length"] for f in features], lambda idx: [features[i] for i in idx]


def _assemble(parts: list[list[tuple[np.ndarray, dict[str, np.ndarray]]]], n: int) -> dict[str, np.ndarray]:
    """Scatter every rank's batch outputs into per-feature arrays in feature order.

    Per-token outputs have their batch's width; they are padded to the widest batch with
    PAD_VALUE.
    """
    batches = [b for part in parts for b in part]
    if not batches:
        return {}
    out = {}
    for key in batches[0][1]:
        shape = tuple(max(arrays[key].shape[d] for _, arrays in batches) for d in range(1, batches[0][1][key].ndim))
        stacked = np.full((n,) + shape, PAD_VALUE, dtype=np.float32)
        for idx, arrays in batches:
            a = arrays[key]
            stacked[(idx,) + tuple(slice(0, s) for s in a.shape[1:])] = a
        out[key] = stacked
    return out


@torch.inference_mode()
def predict(model, spec: TaskSpec, features, batch_size: int, pad_id: int, dist: Dist) -> dict[str, np.ndarray]:
    """Per-feature head outputs for `features` (a FeatureTable or a list), in feature order, on every rank.

    `model(task, batch)` may be a DeepSpeed engine or a plain `MultiTaskModel`. Outputs are
    stacked float32 arrays; per-token outputs are padded to the longest feature with PAD_VALUE.
    Batches hold features of similar length (longest first), so they carry little padding;
    each rank sends one array per batch and output, not one object per feature.
    """
    family = get_family(spec.family)
    lengths, take = _features_reader(features)
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    mine = batches[dist.rank :: dist.world_size]
    rounds = math.ceil(len(batches) / dist.world_size)
    was_training = model.training
    model.eval()
    local: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
    for r in range(rounds):
        real = r < len(mine)
        idx = mine[r] if real else batches[0]
        batch = to_device(family.collate(take(idx), pad_id), dist.device)
        out = model(spec.name, batch).outputs
        if real:
            local.append((idx, {k: v.float().cpu().numpy() for k, v in out.items()}))
    if was_training:
        model.train()
    return _assemble(dist.all_gather_object(local), len(features))
