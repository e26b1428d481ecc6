"""On paper: the compute and memory of the paper's full grid on XLM-R Large.

    python -m benchmarks.paper_grid

Prints markdown tables (used in docs/performance.md): tokens and FLOPs per phase, GPU-hours
on A100 and H100 at a stated model FLOPs utilisation, and per-GPU model-state memory per ZeRO
stage on 8 GPUs next to DeepSpeed's own estimators. Every assumption is a named constant here.
"""

from __future__ import annotations

# XLM-R Large: 24 layers, hidden 1024, 250,002-piece vocabulary.
LAYERS, HIDDEN, VOCAB, POSITIONS = 24, 1024, 250_002, 514
EMBEDDING_PARAMS = (VOCAB + POSITIONS + 1) * HIDDEN
LAYER_PARAMS = 12 * HIDDEN * HIDDEN + 13 * HIDDEN  # attention 4h^2 + FFN 8h^2, biases and norms
NON_EMBEDDING_PARAMS = LAYERS * LAYER_PARAMS
TOTAL_PARAMS = EMBEDDING_PARAMS + NON_EMBEDDING_PARAMS

# Intermediate tasks: (train examples as in the paper, real XLM-R tokens per example, assumed).
# Multiple-choice tasks count every choice's sequence; QA counts 384-token windows' real tokens.
INTERMEDIATE = {
    "anli+": (1_104_934, 45), "mnli": (392_702, 40), "qqp": (363_846, 30), "squad_v2": (130_319, 200),
    "hellaswag": (39_905, 4 * 80), "ccg": (38_015, 35), "cosmosqa": (25_588, 4 * 110),
    "socialiqa": (33_410, 3 * 40), "commonsenseqa": (9_741, 5 * 25),
}
INTERMEDIATE_EPOCHS = 2  # configs/xlmr_large/intermediate.yaml
# Target tasks with training data: (English train examples, tokens/example, eval languages,
# eval examples per language, tokens per eval example). XQuAD and MLQA both train on SQuAD v1.1.
TARGET = {
    "xnli": (392_702, 40, 15, 5_010, 45), "pawsx": (49_401, 55, 7, 2_000, 60),
    "udpos": (21_253, 30, 33, 1_500, 30), "panx": (20_000, 20, 40, 5_000, 20),
    "xquad": (87_599, 190, 11, 1_190, 200), "mlqa": (87_599, 190, 7, 5_000, 220),
    "tydiqa": (3_696, 250, 9, 1_000, 250),
}
TARGET_EPOCHS = 3  # configs/xlmr_large/target.yaml
SEEDS = 3
PADDING_EFFICIENCY = 0.98  # measured for our batching (benchmarks figure 2)
# The grid: approach -> list of (intermediate task set, data multiplier).
# english: each of the 9 tasks, plus one 9-task multi-task run; mlm: each task mixed 1:1 (in
# tokens) with multilingual MLM; translated: MNLI translated into XNLI's 14 other languages and
# mixed with the English data (15 x MNLI); none: no intermediate phase.
GRID = {
    "english": [([t], 1.0) for t in INTERMEDIATE] + [(list(INTERMEDIATE), 1.0)],
    "mlm": [([t], 2.0) for t in INTERMEDIATE],
    "translated": [(["mnli"], 15.0)],
    "none": [],
}
GPUS = {"A100": 312e12, "H100": 989e12}  # dense bf16 peak FLOP/s (SXM)
MFU = 0.35  # stated utilisation for the GPU-hour estimate


def intermediate_tokens() -> dict[str, float]:
    out = {}
    for approach, runs in GRID.items():
        total = 0.0
        for tasks, multiplier in runs:
            total += sum(INTERMEDIATE[t][0] * INTERMEDIATE[t][1] for t in tasks) * multiplier
        out[approach] = total * INTERMEDIATE_EPOCHS / PADDING_EFFICIENCY
    return out


def encoders() -> int:
    """Encoders the target phase starts from: one per intermediate run, plus XLM-R itself."""
    return sum(len(runs) for runs in GRID.values()) + 1


def target_tokens() -> tuple[float, float]:
    """(training tokens, evaluation tokens) of all target runs of the grid."""
    train = sum(n * tok for n, tok, *_ in TARGET.values()) * TARGET_EPOCHS / PADDING_EFFICIENCY
    evaluate = sum(langs * n * tok for _, _, langs, n, tok in TARGET.values()) / PADDING_EFFICIENCY
    runs = encoders() * SEEDS
    return train * runs, evaluate * runs


def compute_table() -> str:
    rows = []
    for approach, tokens in intermediate_tokens().items():
        rows.append((f"intermediate: {approach} ({len(GRID[approach])} runs)", tokens, 6))
    train, evaluate = target_tokens()
    runs = encoders() * SEEDS
    rows.append((f"target training ({runs} encoder x seed cells x 7 tasks)", train, 6))
    rows.append(("zero-shot evaluation (forward only)", evaluate, 2))
    lines = ["| phase | tokens | FLOPs | A100 GPU-h | H100 GPU-h |", "|---|---:|---:|---:|---:|"]
    total_flops = 0.0
    for name, tokens, factor in rows:
        flops = factor * NON_EMBEDDING_PARAMS * tokens
        total_flops += flops
        hours = [flops / (peak * MFU) / 3600 for peak in GPUS.values()]
        lines.append(f"| {name} | {tokens:.3g} | {flops:.3g} | {hours[0]:,.0f} | {hours[1]:,.0f} |")
    hours = [total_flops / (peak * MFU) / 3600 for peak in GPUS.values()]
    lines.append(f"| **total** | | {total_flops:.3g} | {hours[0]:,.0f} | {hours[1]:,.0f} |")
    return "\n".join(lines)


def memory_table(gpus: int = 8) -> str:
    """Model-state bytes per GPU (bf16 params/grads, fp32 master + Adam moments), per ZeRO stage."""
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    p = TOTAL_PARAMS
    ours = {  # 2 (bf16 params) + 2 (bf16 grads) + 12 (fp32 master, m, v) bytes per parameter
        0: 16 * p, 1: 4 * p + 12 * p / gpus, 2: 2 * p + 14 * p / gpus, 3: 16 * p / gpus,
    }
    z2 = estimate_zero2_model_states_mem_needs(p, gpus, 1, cpu_offload=False)[1]
    z3 = estimate_zero3_model_states_mem_needs(p, EMBEDDING_PARAMS, gpus, 1, cpu_offload=False,
                                               cpu_offload_params=False)[1]
    estimator = {2: z2, 3: z3}
    lines = ["| ZeRO stage | model states per GPU (formula) | DeepSpeed estimator |", "|---|---:|---:|"]
    for stage, value in ours.items():
        est = f"{estimator[stage] / 2**30:.2f} GiB" if stage in estimator else "(no estimator)"
        lines.append(f"| {stage} | {value / 2**30:.2f} GiB | {est} |")
    return "\n".join(lines)


def main() -> None:
    print(f"XLM-R Large: {TOTAL_PARAMS / 1e6:.0f}M parameters, {NON_EMBEDDING_PARAMS / 1e6:.0f}M outside "
          f"the embeddings; FLOPs = 6 x {NON_EMBEDDING_PARAMS / 1e6:.0f}M x tokens (training), "
          f"2 x ... (evaluation); MFU {MFU:.0%}\n")
    print(compute_table())
    print()
    print(memory_table())


if __name__ == "__main__":
    main()
