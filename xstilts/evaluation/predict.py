"""Forward passes over an evaluation set: length-sorted batches shared across ranks.

Under ZeRO-3 every rank must run the same number of forward passes (each pass gathers
parameters collectively), so ranks with fewer batches repeat one and discard its output.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from xstilts.engine.distributed import Dist
from xstilts.families import get_family
from xstilts.tasks.base import TaskSpec

PAD_VALUE = -1e9  # pads per-token outputs: never the arg-max, never a chosen span


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    """Stack per-feature arrays, padding ragged trailing axes with PAD_VALUE."""
    shape = tuple(max(r.shape[d] for r in rows) for d in range(rows[0].ndim))
    out = np.full((len(rows),) + shape, PAD_VALUE, dtype=np.float32)
    for i, r in enumerate(rows):
        out[(i,) + tuple(slice(0, s) for s in r.shape)] = r
    return out


@torch.inference_mode()
def predict(
    model, spec: TaskSpec, features: list[dict[str, Any]], batch_size: int, pad_id: int, dist: Dist
) -> dict[str, np.ndarray]:
    """Per-feature head outputs for `features`, in feature order, on every rank.

    `model(task, batch)` may be a DeepSpeed engine or a plain `MultiTaskModel`. Outputs are
    stacked float32 arrays; per-token outputs are padded to the longest feature with PAD_VALUE.
    """
    family = get_family(spec.family)
    lengths = features.column("length") if hasattr(features, "column") else [f["length"] for f in features]
    order = sorted(range(len(features)), key=lambda i: -lengths[i])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    mine = batches[dist.rank :: dist.world_size]
    rounds = math.ceil(len(batches) / dist.world_size)
    was_training = model.training
    model.eval()
    local: list[tuple[int, dict[str, np.ndarray]]] = []
    for r in range(rounds):
        real = r < len(mine)
        idx = mine[r] if real else batches[0]
        rows = features.rows(idx) if hasattr(features, "rows") else [features[i] for i in idx]
        batch = to_device(family.collate(rows, pad_id), dist.device)
        out = model(spec.name, batch).outputs
        if not real:
            continue
        arrays = {k: v.float().cpu().numpy() for k, v in out.items()}
        for j, i in enumerate(idx):
            local.append((i, {k: a[j] for k, a in arrays.items()}))
    if was_training:
        model.train()
    rows: list[dict[str, np.ndarray] | None] = [None] * len(features)
    for part in dist.all_gather_object(local):
        for i, arrays in part:
            rows[i] = arrays
    keys = rows[0].keys() if rows else []
    return {k: _stack([row[k] for row in rows]) for k in keys}
