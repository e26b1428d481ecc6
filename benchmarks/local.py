"""The single-process figures: padding efficiency, tokenisation + caching, matmul peak."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from toolkit.data.batching import global_batches, rank_micro_batches
from toolkit.data.features import featurize_cached
from toolkit.families.registry import get_family
from toolkit.tasks.registry import get_task


def lengths_of(examples, tokenizer, max_length: int) -> list[int]:
    spec = get_task("mnli")
    return [f["length"] for f in get_family(spec.family).featurize(spec, examples, tokenizer, max_length)]


def padding_efficiency(lengths: list[int], max_length: int, micro: int, ranks: int, seed: int = 1) -> dict:
    """Real / processed tokens for one epoch under three padding policies (micro batch `micro`).

    ours: length-grouped global batches cut into per-rank micro-batches (the engine's order);
    dynamic: random batches padded to their longest (Trainer's default order and collator);
    max_length: every sequence padded to `max_length` (jiant's policy).
    """
    lengths = np.asarray(lengths)
    real = int(lengths.sum())
    ours = 0
    for batch in global_batches(lengths, micro * ranks, seed, 0, group_by_length=True):
        for rank in range(ranks):
            for mb in rank_micro_batches(batch, lengths, ranks, rank, 1):
                ours += len(mb) * int(lengths[mb].max())
    order = np.random.default_rng(seed).permutation(len(lengths))
    used = order[: len(order) // micro * micro].reshape(-1, micro)
    dynamic = int((lengths[used].max(1) * micro).sum())
    real_used = int(lengths[used].sum())
    return {
        "ours": real / ours,
        "dynamic": real_used / dynamic,
        "pad_to_max": real / (len(lengths) * max_length),
    }


def caching(examples, tokenizer, max_length: int) -> dict:
    """Examples/s of featurize_cached on a cold cache, and the cached rerun's speed-up."""
    spec = get_task("mnli")
    folder = Path(tempfile.mkdtemp(prefix="xstilts-bench-cache-"))
    try:
        start = time.perf_counter()
        featurize_cached(spec, examples, tokenizer, max_length, folder)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        table = featurize_cached(spec, examples, tokenizer, max_length, folder)
        sum(table.column("length"))  # touch the cached data, as training does
        warm = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    n = len(examples)
    return {"examples": n, "cold_s": cold, "warm_s": warm, "cold_ex_per_s": n / cold,
            "warm_ex_per_s": n / warm, "speedup": cold / warm}


def matmul_peak(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of an fp32 n x n matmul on `threads` threads (the machine's practical peak)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.matmul(a, b)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.matmul(a, b)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return 2 * n**3 / best


def non_embedding_params(model_path: str) -> tuple[int, int]:
    """(all parameters, parameters outside the embedding tables) of an encoder folder."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_path, add_pooling_layer=False)
    total = sum(p.numel() for p in model.parameters())
    emb = sum(p.numel() for n, p in model.named_parameters() if "embeddings." in n and "LayerNorm" not in n)
    return total, total - emb
