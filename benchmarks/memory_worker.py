"""Per-rank memory of model states under one ZeRO stage, measured on every rank.

After one full step (so that lazily created optimizer states exist) and the backward pass of
a second one (so that gradients are live), every tensor the engine holds is walked: module
parameters (or their ZeRO-3 shards), DeepSpeed's flat parameter and gradient buffers, the
fp32 master partitions, and the inner optimizer's states. Storages are counted once each
(many parameters are views into one flat buffer), as numel x element size of the storage.
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

import torch

from benchmarks.common import mnli_like
from toolkit.config.schema import RunConfig
from toolkit.runtime.distributed import init_distributed, leave_process_group
from toolkit.engine.trainer import build_engine
from toolkit.families.registry import get_family
from toolkit.models.encoder import load_tokenizer
from toolkit.tasks.registry import get_task


def _tensors(obj, depth: int = 0):
    """Tensors reachable from `obj` through lists, tuples, dicts (a few levels deep)."""
    if torch.is_tensor(obj):
        yield obj
    elif depth < 4 and isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _tensors(x, depth + 1)
    elif depth < 4 and isinstance(obj, dict):
        for x in obj.values():
            yield from _tensors(x, depth + 1)


class StorageCounter:
    """Bytes per category, each storage counted once (in the first category that claims it)."""

    def __init__(self):
        self.seen: set[int] = set()
        self.bytes: dict[str, int] = {"params": 0, "grads": 0, "optimizer": 0}

    def add(self, category: str, tensor) -> None:
        if tensor is None or not torch.is_tensor(tensor) or tensor.numel() == 0:
            return
        storage = tensor.untyped_storage()
        if storage.data_ptr() in self.seen or storage.nbytes() == 0:
            return
        self.seen.add(storage.data_ptr())
        self.bytes[category] += storage.nbytes()


def measure(engine) -> dict[str, int]:
    counter = StorageCounter()
    zero_opt = engine.optimizer
    inner = getattr(zero_opt, "optimizer", zero_opt)
    for state in inner.state.values():  # Adam moments (and step counters)
        for t in _tensors(state):
            counter.add("optimizer", t)
    params = list(engine.module.parameters())
    for p in params:  # gradients first: a ZeRO-2/3 grad can be a view into a flat buffer
        counter.add("grads", p.grad)
    for group in inner.param_groups:
        for p in group["params"]:
            counter.add("grads", p.grad)
    for name, value in vars(zero_opt).items():
        if "grad" in name.lower():
            for t in _tensors(value):
                counter.add("grads", t)
    for p in params:
        counter.add("params", getattr(p, "ds_tensor", None))
        if not hasattr(p, "ds_tensor"):
            counter.add("params", p.data)
    for group in inner.param_groups:  # fp32 master partitions
        for p in group["params"]:
            counter.add("params", p.data)
    for name, value in vars(zero_opt).items():
        if "group" in name.lower() or "flat" in name.lower() or "partition" in name.lower():
            for t in _tensors(value):
                counter.add("params", t)
    return counter.bytes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--zero", required=True)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    dist = init_distributed()
    cfg = RunConfig()
    cfg.model.name_or_path = args.model
    cfg.train.micro_batch_size, cfg.train.gradient_accumulation_steps = 2, 1
    cfg.train.deepspeed_config = args.zero
    cfg.train.precision = args.precision
    spec = get_task("mnli")
    engine, _ = build_engine(cfg, dist, args.model, {"mnli": spec}, total_steps=10)
    tokenizer = load_tokenizer(args.model)
    family = get_family(spec.family)
    feats = family.featurize(spec, mnli_like(4, seed=dist.rank), tokenizer, 64)
    batch = family.collate(feats[:2], tokenizer.pad_token_id)
    engine.backward(engine("mnli", batch).loss)
    engine.step()
    engine.backward(engine("mnli", batch).loss)
    held = measure(engine)
    engine.step()
    numel = sum(getattr(p, "ds_numel", p.numel()) for p in engine.module.parameters())
    per_rank = dist.all_gather_object({**held, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
    if dist.is_main:
        Path(args.out).write_text(json.dumps({"zero": args.zero, "precision": args.precision, "params": numel, "ranks": per_rank}))


if __name__ == "__main__":
    main()
    leave_process_group()  # a rank exiting with live gloo work can abort after its work is done
