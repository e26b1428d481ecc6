"""Every benchmark figure as a ratio against its peer, measured in the same run.

    python -m benchmarks.run            # the full run on the embedded multilingual-e5-small
    python -m benchmarks.run --quick    # a smoke run on a tiny random model (minutes)

Figures (see benchmarks/README.md for the method of each):
  1 training throughput (real tokens/s): our engine vs Hugging Face Trainer, same DeepSpeed config
  2 padding efficiency: our batching vs pad-to-max-length (jiant) and dynamic padding of random batches
  3 per-rank memory of params, grads, optimizer states for ZeRO 0-3, next to DeepSpeed's estimators
  4 zero-shot evaluation throughput over many languages: our predict vs Trainer.predict
  5 retrieval mining: our mine_pairs vs an all-pairs similarity matrix
  6 tokenisation + caching: examples/s cold, speed-up of the cached rerun
  7 model FLOPs utilisation: 6 x non-embedding params x tokens/s over the measured matmul peak
  8 one rank's forward + backward: fp32 sdpa vs eager attention vs bf16 (autocast, bf16 weights), and its op profile
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import common, local

FULL = dict(profiles=("mnli", "squad"), stages=(0, 1, 2, 3), freeze_embeddings=True, mnli_micro=8, squad_micro=4, warmup=3, steps=40, repeats=2, eval_per_language=500,
            eval_batch=32, retrieval_n=100_000, naive_n=10_000, cache_examples=20_000, padding_examples=8000,
            step_batches=3, step_repeats=3, quick=False)
QUICK = dict(profiles=("mnli",), stages=(0, 3), freeze_embeddings=False, mnli_micro=4, squad_micro=2, warmup=1, steps=2, repeats=1, eval_per_language=20,
             eval_batch=8, retrieval_n=4000, naive_n=1000, cache_examples=500, padding_examples=1000,
             step_batches=1, step_repeats=1, quick=True,
             sides=("ours", "hf_grouped", "ours_bf16"))  # the default-batching peer runs the same worker code
FIGURES = ["padding", "caching", "training", "mfu", "step", "memory", "memory_bf16", "eval", "retrieval"]
ZERO = "ds_configs/zero2.json"
RANKS = 2  # common.launch's default
GIB = 2**30


def fig_padding(p, tokenizer, scratch) -> dict:
    out = {}
    for name, make, max_length in (("mnli", common.mnli_like, 128), ("squad", common.squad_like, 384)):
        lengths = local.lengths_of(make(p["padding_examples"], seed=3), tokenizer, max_length)
        micro = p[f"{name}_micro"]
        out[name] = {"micro": micro, "mean_length": sum(lengths) / len(lengths), "max_length": max_length,
                     **local.padding_efficiency(lengths, max_length, micro, ranks=2)}
    return out


def fig_caching(p, tokenizer, scratch) -> dict:
    return local.caching(common.mnli_like(p["cache_examples"], seed=4), tokenizer, 128)


# The sides of figure 1, as (name, train_worker --side, precision). ours_bf16 is our engine in
# DeepSpeed's bf16 (bf16 weights, fp32 master weights), measured against ours in fp32.
SIDES = (("ours", "ours", "fp32"), ("hf_grouped", "hf_grouped", "fp32"), ("hf", "hf", "fp32"),
         ("ours_bf16", "ours", "bf16"))


def native_bf16() -> bool:
    """Whether this machine multiplies bf16 matrices natively (a GPU, or a CPU with AVX512-BF16 or
    AMX, which oneDNN reports); elsewhere PyTorch's bf16 CPU matmul is a slow fallback."""
    import torch

    return torch.cuda.is_available() or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def fig_training(p, model, scratch, results: dict, save) -> dict:
    """Every side of every profile once per repeat, in an order that rotates between repeats, so
    that the machine's load (shared with other jobs) weighs on all sides alike. Without native
    bf16 the bf16 side is left out of the full run: figure 8 measures why (tens of times slower)."""
    out = results.setdefault("training", {})
    wanted = [side for side in SIDES if (side[2] == "fp32" or p["quick"] or native_bf16())
              and side[0] in p.get("sides", [s[0] for s in SIDES])]
    for repeat in range(p["repeats"]):
        for profile in p["profiles"]:
            # The timed steps are one epoch of the training set: every side then times the same
            # length distribution. (A window of a few length-grouped batches sees only long or
            # only short ones, and per-token cost depends on length.)
            examples = p["steps"] * p[f"{profile}_micro"] * RANKS
            sides = wanted[repeat % len(wanted):] + wanted[: repeat % len(wanted)]
            for name, side, precision in sides:
                key = f"{profile}/{name}/{repeat}"
                if key in out:  # measured by an earlier, interrupted run (--save)
                    continue
                out[key] = common.launch("benchmarks.train_worker", [
                    "--side", side, "--profile", profile, "--model", model, "--zero", ZERO,
                    "--precision", precision,
                    "--micro", str(p[f"{profile}_micro"]), "--examples", str(examples),
                    "--warmup", str(p["warmup"]), "--steps", str(p["steps"]), "--cache", str(scratch / "cache"),
                    *(["--freeze-embeddings"] if p["freeze_embeddings"] else []),
                ])
                out[key]["load_1min"] = round(os.getloadavg()[0], 2)
                save()
    return out


def training_runs(training: dict, profile: str, name: str) -> list[dict]:
    """The repeats of one side of figure 1, in repeat order."""
    runs = [(int(k.rsplit("/", 1)[1]), v) for k, v in training.items() if k.rsplit("/", 1)[0] == f"{profile}/{name}"]
    return [v for _, v in sorted(runs, key=lambda kv: kv[0])]


def ratios(training: dict, profile: str, name: str, peer: str) -> list[float]:
    """Per repeat, tokens/s of side `name` over side `peer` (both measured in that repeat)."""
    return [a["tokens_per_s"] / b["tokens_per_s"]
            for a, b in zip(training_runs(training, profile, name), training_runs(training, profile, peer))]


def fig_mfu(p, model, training: dict) -> dict:
    total, non_embedding = local.non_embedding_params(model)
    peak = local.matmul_peak(threads=2)  # 2 ranks x 1 thread each during training
    out = {"params": total, "non_embedding_params": non_embedding, "matmul_peak_flops": peak}
    for profile in p["profiles"]:
        tps = statistics.median(r["tokens_per_s"] for r in training_runs(training, profile, "ours"))
        out[profile] = {"tokens_per_s": tps, "flops": 6 * non_embedding * tps,
                        "mfu": 6 * non_embedding * tps / peak}
    return out


def fig_step(p, model, tokenizer) -> dict:
    out = {}
    for name, make, max_length in (("mnli", common.mnli_like, 128), ("squad", common.squad_like, 384)):
        if name not in p["profiles"]:
            continue
        lengths = local.lengths_of(make(p["padding_examples"], seed=3), tokenizer, max_length)
        # Without native bf16 a bf16 pass is tens of times slower: its variants are timed on the
        # short MNLI-like batches only, which is enough to show it.
        variants = [v for v in local.STEP_VARIANTS if v[2] == "fp32" or name == "mnli" or native_bf16()]
        out[name] = local.step_variants(model, lengths, p[f"{name}_micro"], p["step_batches"], p["step_repeats"],
                                        variants)
        out[name]["native_bf16"] = native_bf16()
    return out


def fig_memory(p, model, scratch, precision: str = "fp32") -> dict:
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    out = {}
    for stage in p["stages"]:
        out[f"zero{stage}"] = common.launch("benchmarks.memory_worker", [
            "--model", model, "--zero", f"ds_configs/zero{stage}.json", "--precision", precision])
    total = out["zero0"]["params"]
    largest = max(_largest_layer(model), 1)
    out["estimators"] = {
        "zero2_gpu_bytes": estimate_zero2_model_states_mem_needs(total, 2, 1, cpu_offload=False)[1],
        "zero3_gpu_bytes": estimate_zero3_model_states_mem_needs(total, largest, 2, 1, cpu_offload=False,
                                                                 cpu_offload_params=False)[1],
        "largest_layer_params": largest,
    }
    return out


def _largest_layer(model: str) -> int:
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(model, add_pooling_layer=False)
    return max(sum(p.numel() for p in m.parameters(recurse=False)) for m in encoder.modules())


def fig_eval(p, model, scratch) -> dict:
    return common.launch("benchmarks.eval_worker", [
        "--model", model, "--per-language", str(p["eval_per_language"]), "--batch", str(p["eval_batch"]),
        "--cache", str(scratch / "cache")])


def fig_retrieval(p, model, scratch) -> dict:
    ours = common.run_python("benchmarks.retrieval_bench", ["--method", "ours", "--n", str(p["retrieval_n"])])
    naive = common.run_python("benchmarks.retrieval_bench", ["--method", "naive", "--n", str(p["naive_n"])])
    return {"ours": ours, "naive": naive}


def report(results: dict) -> str:
    """The table printed at the end (and pasted into docs/performance.md)."""
    lines = [f"machine: {json.dumps(results.get('machine', {}))}"]
    add = lines.append
    if "training" in results:
        t = results["training"]
        for profile in ("mnli", "squad"):
            if not training_runs(t, profile, "ours"):
                continue
            tps = {name: [r["tokens_per_s"] for r in training_runs(t, profile, name)] for name, _, _ in SIDES}
            loads = [r["load_1min"] for name, _, _ in SIDES for r in training_runs(t, profile, name)]
            def median(name: str, missing: str = "not run") -> str:
                return f"{statistics.median(tps[name]):.0f}" if tps[name] else missing

            add(f"1 training {profile}-like, real tokens/s (median of {len(tps['ours'])} interleaved repeats, "
                f"1-min load {min(loads):.1f}-{max(loads):.1f}): ours {median('ours')}, "
                f"HF Trainer group_by_length {median('hf_grouped')}, HF Trainer default {median('hf')}, "
                f"ours bf16 {median('ours_bf16', 'not run (no native bf16)')}")
            for peer, label, goal in (("hf_grouped", "HF Trainer group_by_length (best peer)", " (goal >= 1.3x)"),
                                      ("hf", "HF Trainer default", ""), ("ours", "ours fp32", "")):
                name = "ours_bf16" if peer == "ours" else "ours"
                r = ratios(t, profile, name, peer)
                if r:
                    add(f"1   {name} / {label}: {statistics.median(r):.2f}x (repeats {', '.join(f'{x:.2f}' for x in r)}){goal}")
    if "padding" in results:
        for profile, r in results["padding"].items():
            add(f"2 padding {profile}-like (mean {r['mean_length']:.0f} tokens, micro {r['micro']}): ours "
                f"{r['ours']:.3f} vs dynamic random {r['dynamic']:.3f} ({r['ours'] / r['dynamic']:.2f}x) "
                f"vs pad-to-max {r['pad_to_max']:.3f} ({r['ours'] / r['pad_to_max']:.2f}x) (goal >= 0.9)")
    for key in ("memory", "memory_bf16"):
        if key not in results:
            continue
        m = results[key]
        base = _state_bytes(m["zero0"]["ranks"][0])
        precision = m["zero0"].get("precision", "fp32")
        for stage in (s for s in range(4) if f"zero{s}" in m):
            r = m[f"zero{stage}"]["ranks"][0]
            add(f"3 memory {precision} ZeRO-{stage} rank 0: params {r['params'] / GIB:.3f} + grads {r['grads'] / GIB:.3f} + "
                f"optimizer {r['optimizer'] / GIB:.3f} = {_state_bytes(r) / GIB:.3f} GiB "
                f"({_state_bytes(r) / base:.2f}x of ZeRO-0)")
        e = m["estimators"]
        add(f"3 DeepSpeed estimators (mixed precision, 2 GPUs): ZeRO-2 {e['zero2_gpu_bytes'] / GIB:.3f} GiB, "
            f"ZeRO-3 {e['zero3_gpu_bytes'] / GIB:.3f} GiB per GPU (goal: ZeRO-3 <= 0.55x of ZeRO-0)")
    if "eval" in results:
        e = results["eval"]
        add(f"4 zero-shot eval, {e['languages']} languages, {e['examples']} examples: ours "
            f"{e['ours_ex_per_s']:.1f} ex/s vs Trainer.predict {e['hf_ex_per_s']:.1f} ex/s = "
            f"{e['ours_ex_per_s'] / e['hf_ex_per_s']:.2f}x (goal >= 1.5x)")
    if "retrieval" in results:
        o, n = results["retrieval"]["ours"], results["retrieval"]["naive"]
        scale = (o["n"] / n["n"]) ** 2
        naive_matrix = 4 * o["n"] ** 2
        add(f"5 retrieval {o['n']}x{o['n']} dim {o['dim']}: ours {o['seconds']:.1f} s, peak RSS "
            f"{o['peak_rss'] / GIB:.2f} GiB; naive measured at {n['n']}x{n['n']}: {n['seconds']:.1f} s, "
            f"{n['peak_rss'] / GIB:.2f} GiB -> extrapolated x{scale:.0f}: {n['seconds'] * scale:.0f} s and "
            f">= {naive_matrix / GIB:.1f} GiB for the fp32 matrix alone = "
            f"{n['seconds'] * scale / o['seconds']:.2f}x ours' time")
    if "caching" in results:
        c = results["caching"]
        add(f"6 featurize_cached {c['examples']} MNLI-like pairs: cold {c['cold_ex_per_s']:.0f} ex/s, cached "
            f"{c['warm_ex_per_s']:.0f} ex/s = {c['speedup']:.1f}x speed-up")
    if "mfu" in results:
        f = results["mfu"]
        for profile in (k for k in ("mnli", "squad") if k in f):  # the median tokens/s of figure 1
            r = f[profile]
            add(f"7 MFU {profile}-like: 6 x {f['non_embedding_params'] / 1e6:.1f}M non-embedding params x "
                f"{r['tokens_per_s']:.0f} tokens/s = {r['flops'] / 1e9:.2f} GFLOP/s over matmul peak "
                f"{f['matmul_peak_flops'] / 1e9:.1f} GFLOP/s (2 threads) = {100 * r['mfu']:.1f}%")
    if "step" in results:
        for profile, r in results["step"].items():
            tps = {n: statistics.median(v) for n, v in r["tokens_per_s"].items()}
            base = tps["fp32 sdpa"]
            add(f"8 step {profile}-like (1 thread, micro {r['micro']}, {r['batches']} batches, native bf16: "
                f"{r['native_bf16']}, median of "
                f"{r['repeats']} interleaved repeats), real tokens/s: " + ", ".join(
                    f"{n} {v:.0f} ({v / base:.2f}x)" for n, v in tps.items()))
            add(f"8   fp32 sdpa profile: {100 * r['gemm_share']:.0f}% of op time in matrix products; top ops "
                + ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["top_ops"][:6]))
    return "\n".join(lines)


def save(path: Path | None, results: dict) -> None:
    if path:
        path.write_text(json.dumps(results, indent=1))


def _state_bytes(rank: dict) -> int:
    return rank["params"] + rank["grads"] + rank["optimizer"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model, small sizes: checks that it runs")
    parser.add_argument("--only", nargs="+", choices=FIGURES, help="run only these figures")
    parser.add_argument("--save", type=Path, help="merge the results into this JSON file (kept across runs)")
    parser.add_argument("--retrieval-n", type=int, help="sentences per side for figure 5 (default 100000)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats of figure 1 (default 2)")
    parser.add_argument("--sides", nargs="+", choices=[s[0] for s in SIDES],
                        help="figure 1: only these sides (with --save, the others keep their saved results)")
    args = parser.parse_args()
    p = dict(QUICK if args.quick else FULL)
    if args.retrieval_n:
        p["retrieval_n"] = args.retrieval_n
    if args.repeats:
        p["repeats"] = args.repeats
    if args.sides:
        p["sides"] = args.sides
    wanted = args.only or FIGURES
    results = json.loads(args.save.read_text()) if args.save and args.save.exists() else {}
    results["machine"] = common.machine()
    scratch = Path(tempfile.mkdtemp(prefix="xstilts-bench-"))
    model = common.model_dir(args.quick, scratch)
    from toolkit.models.encoder import load_tokenizer

    tokenizer = load_tokenizer(model)
    for name in wanted:
        start = time.perf_counter()
        if name == "padding":
            results[name] = fig_padding(p, tokenizer, scratch)
        elif name == "caching":
            results[name] = fig_caching(p, tokenizer, scratch)
        elif name == "training":
            results[name] = fig_training(p, model, scratch, results, lambda: save(args.save, results))
        elif name == "mfu":
            results[name] = fig_mfu(p, model, results["training"])
        elif name == "step":
            results[name] = fig_step(p, model, tokenizer)
        elif name == "memory":
            results[name] = fig_memory(p, model, scratch)
        elif name == "memory_bf16":
            if args.quick:  # the fp32 figure already exercises the code path
                continue
            results[name] = fig_memory(p, model, scratch, "bf16")
        elif name == "eval":
            results[name] = fig_eval(p, model, scratch)
        elif name == "retrieval":
            results[name] = fig_retrieval(p, model, scratch)
        print(f"[{name} done in {time.perf_counter() - start:.0f} s]", flush=True)
        save(args.save, results)
    print(report(results))


if __name__ == "__main__":
    main()
