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


# The variants of the step benchmark (figure 8): (name, attention implementation, precision).
# "autocast": fp32 weights, bf16 compute inside torch.autocast; "bf16 weights": the model cast to
# bf16, as DeepSpeed's bf16 mode holds it (its fp32 master copy is the optimizer's, not timed here).
STEP_VARIANTS = (("fp32 sdpa", "sdpa", "fp32"), ("fp32 eager", "eager", "fp32"),
                 ("bf16 autocast", "sdpa", "autocast"), ("bf16 weights", "sdpa", "bf16"))
GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_scaled_dot_product_flash_attention_for_cpu",
            "aten::_scaled_dot_product_flash_attention_for_cpu_backward")


def _batches(lengths, micro: int, vocab: int, count: int, seed: int = 5) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`count` micro-batches as our engine makes them (length-grouped): ids and attention masks."""
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths)
    out = []
    for batch in list(global_batches(lengths, micro, seed, 0, group_by_length=True))[:count]:
        longest = int(lengths[batch].max())
        ids = torch.from_numpy(rng.integers(5, vocab, size=(len(batch), longest)))
        mask = (torch.arange(longest)[None, :] < torch.from_numpy(lengths[batch])[:, None]).long()
        out.append((ids, mask))
    return out


def step_variants(model_path: str, lengths, micro: int, batches: int, repeats: int,
                  variants=STEP_VARIANTS) -> dict:
    """Forward + backward tokens/s of the encoder (frozen embeddings, train mode, 1 thread) in each
    STEP_VARIANTS entry, interleaved over `repeats` rounds on the same micro-batches; and the op
    profile of the fp32 sdpa step (share of time in matrix products)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one rank's share of the 2 cores
    try:
        return _step_variants(model_path, lengths, micro, batches, repeats, list(variants))
    finally:
        torch.set_num_threads(threads)


def _step_variants(model_path: str, lengths, micro: int, batches: int, repeats: int, variants) -> dict:
    from transformers import AutoModel

    torch.manual_seed(0)
    models = {}
    for name, attention, precision in variants:
        model = AutoModel.from_pretrained(model_path, add_pooling_layer=False, attn_implementation=attention)
        model.get_input_embeddings().weight.requires_grad_(False)
        models[name] = (model.to(torch.bfloat16) if precision == "bf16" else model).train()
    data = _batches(lengths, micro, models["fp32 sdpa"].config.vocab_size, batches)
    real = sum(int(m.sum()) for _, m in data)

    def one_pass(name: str) -> float:
        model, precision = models[name], dict((n, p) for n, _, p in variants)[name]
        started = time.perf_counter()
        for ids, mask in data:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "autocast"):
                hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
            hidden.float().pow(2).mean().backward()
        return time.perf_counter() - started

    names = [n for n, _, _ in variants]
    for name in names:  # untimed warm-up of each
        one_pass(name)
    seconds = {n: [] for n in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            seconds[name].append(one_pass(name))
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        one_pass("fp32 sdpa")
    ops = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ops)
    top = sorted(ops, key=lambda e: -e.self_cpu_time_total)[:10]
    return {
        "micro": micro, "batches": batches, "real_tokens": real, "repeats": repeats,
        "tokens_per_s": {n: [real / s for s in seconds[n]] for n in names},
        "gemm_share": sum(e.self_cpu_time_total for e in ops if e.key in GEMM_OPS) / total,
        "top_ops": [(e.key, e.self_cpu_time_total / total) for e in top],
        "profiled_seconds": total / 1e6,
    }
