"""Inference cost of a trained model: latency at batch 1 and throughput at the evaluation batch size.

Measured the way the model would be served, not the way it was trained: one device, a plain
PyTorch module (no DeepSpeed engine, no ZeRO partitioning), `torch.inference_mode`, eval mode,
and the run's precision on an accelerator (fp32 on a CPU, where half precision is emulated and
slow). One timed call takes token ids to outputs on the host: collation and padding, the copy
to the device, the forward pass (encoder and head, or the encoder and mean pooling for
retrieval) and the copy of the outputs back. Tokenisation and decoding are left out: they run
on the CPU and do not depend on the encoder. Gold fields (labels, answer positions) are dropped
from the batch, so no loss is computed. The accelerator is synchronised before every clock
reading.

The sample is drawn from the evaluation inputs with a fixed seed, evenly across the evaluated
languages (round-robin over per-language shuffles, so a language with little data gives what it
has and the others fill the rest): every run of a task is timed on the same inputs. An input is
one model input (a feature): an evaluation example, or one window of a long QA context or
sentence.

- latency: `warmup` untimed batch-1 calls, then every sampled input alone; p50, p95, mean (ms).
- throughput: the same inputs in length-sorted batches of the evaluation batch size (as
  `toolkit/evaluation/predict.py` batches them); one untimed pass over the longest batch, then
  all batches timed together; inputs/s and real (unpadded) tokens/s.
"""

from __future__ import annotations

import os
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from toolkit.errors import ConfigError, DataError
from toolkit.families.registry import get_family
from toolkit.families.base import padded_inputs
from toolkit.evaluation.retrieval import check_layer, embed_batch, sentence_ids
from toolkit.families.multitask import MultiTaskModel, load_heads
from toolkit.models.encoder import load_encoder, unpartitioned
from toolkit.tasks.records import TaskSpec

SAMPLE_SEED = 0  # fixed, not the run's seed: every run of a task is timed on the same inputs
# Batch fields that only serve the loss; a served model never sees them.
GOLD_KEYS = ("labels", "start_positions", "end_positions")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Settings:
    """How to measure: sample size, untimed warm-up calls, throughput batch size, device, dtype."""

    examples: int
    warmup: int
    batch_size: int
    device: torch.device
    dtype: torch.dtype

    def __post_init__(self):
        if self.examples < 1:
            raise ConfigError(f"eval.efficiency_examples must be >= 1, got {self.examples}")
        if self.warmup < 0:
            raise ConfigError(f"eval.efficiency_warmup must be >= 0, got {self.warmup}")
        if self.batch_size < 1:
            raise ConfigError(f"eval.batch_size must be >= 1, got {self.batch_size}")


def inference_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype a model of this training precision is served in: fp32 on a CPU, else the precision's."""
    if precision not in DTYPES:
        raise ConfigError(f"train.precision={precision!r} is not one of {', '.join(DTYPES)}")
    return torch.float32 if torch.device(device).type == "cpu" else DTYPES[precision]


def draw_sample(sizes: Mapping[str, int], examples: int, seed: int = SAMPLE_SEED) -> list[tuple[str, int]]:
    """Up to `examples` (language, index) pairs spread evenly over the languages of `sizes`.

    Each language's indices are shuffled with its own generator (seeded by `seed` and the
    language), then languages give one index in turn until the sample is full or every
    language is used up. Deterministic for given sizes and seed.
    """
    queues = {}
    for lang, size in sizes.items():
        order = list(range(size))
        random.Random(f"{seed}/{lang}").shuffle(order)
        queues[lang] = order
    sample: list[tuple[str, int]] = []
    while len(sample) < examples and any(queues.values()):
        for lang, queue in queues.items():
            if queue and len(sample) < examples:
                sample.append((lang, queue.pop()))
    if not sample:
        raise DataError("no evaluation inputs to time (every language is empty)")
    return sample


def _synchronize(device: torch.device) -> None:
    if device.type != "cpu":
        from deepspeed.accelerator import get_accelerator

        get_accelerator().synchronize()


def _cpu_model() -> str:
    try:  # Linux names the CPU model here; platform.processor() is often empty there
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"{_cpu_model()} ({os.cpu_count()} logical cores)"
    return str(device)


def time_inputs(
    inputs: Sequence[Any], lengths: Sequence[int], run: Callable[[list[Any]], int], settings: Settings
) -> dict[str, Any]:
    """Latency at batch 1 and throughput at `settings.batch_size` of `run` over `inputs`.

    `run(batch)` runs one batch of inputs to host outputs and returns its real token count;
    `lengths` (one per input) sort the throughput batches. Returns the `latency_ms` and
    `throughput` parts of the record (see the module docstring).
    """
    device = settings.device
    for i in range(settings.warmup):
        run([inputs[i % len(inputs)]])
    latencies = []
    for item in inputs:
        _synchronize(device)
        started = time.perf_counter()
        run([item])
        _synchronize(device)
        latencies.append((time.perf_counter() - started) * 1000.0)

    order = sorted(range(len(inputs)), key=lambda i: -lengths[i])
    batches = [[inputs[i] for i in order[s : s + settings.batch_size]]
               for s in range(0, len(order), settings.batch_size)]
    run(batches[0])  # allocations for the largest batch happen here, not in the timed pass
    _synchronize(device)
    started = time.perf_counter()
    tokens = sum(run(batch) for batch in batches)
    _synchronize(device)
    seconds = time.perf_counter() - started
    p50, p95 = np.percentile(latencies, [50, 95])
    return {
        "latency_ms": {"batch_size": 1, "p50": float(p50), "p95": float(p95),
                       "mean": float(np.mean(latencies))},
        "throughput": {"batch_size": settings.batch_size, "batches": len(batches),
                       "examples_per_s": len(inputs) / seconds, "tokens_per_s": tokens / seconds,
                       "tokens": tokens, "seconds": seconds},
    }


def _record(module: torch.nn.Module, description: str, sample: list[tuple[str, int]], settings: Settings,
            timings: dict[str, Any], lengths: Sequence[int]) -> dict[str, Any]:
    languages: dict[str, int] = {}
    for lang, _ in sample:
        languages[lang] = languages.get(lang, 0) + 1
    return {
        "model": description,
        "parameters": sum(p.numel() for p in module.parameters()),
        "device": str(settings.device),
        "device_name": device_name(settings.device),
        "dtype": str(settings.dtype).removeprefix("torch."),
        "torch_threads": torch.get_num_threads(),
        "sample": {"examples": len(sample), "seed": SAMPLE_SEED, "warmup": settings.warmup,
                   "languages": languages, "mean_length": float(np.mean(lengths))},
        **timings,
    }


def _prepare(module: torch.nn.Module, settings: Settings) -> torch.nn.Module:
    return module.to(device=settings.device, dtype=settings.dtype).eval()


def model_runner(model, spec: TaskSpec, pad_id: int, settings: Settings) -> Callable[[list[dict]], int]:
    """One timed call of a `MultiTaskModel` (moved to the settings' device and dtype, eval mode):
    features -> collated, served inputs -> host outputs; returns the batch's real tokens."""
    family = get_family(spec.family)
    model = _prepare(model, settings)

    def run(batch: list[dict]) -> int:
        collated = family.collate(batch, pad_id)
        tokens = int(collated["attention_mask"].sum())
        served = {k: v.to(settings.device) for k, v in collated.items() if k not in GOLD_KEYS}
        for value in model(spec.name, served).outputs.values():
            value.float().cpu()
        return tokens

    return run


def encoder_runner(encoder, pad_id: int, layer: int, settings: Settings) -> Callable[[list[list[int]]], int]:
    """One timed call of a bare encoder embedding sentences as retrieval does (mean-pooled hidden
    state `layer`, L2-normalised): token ids -> host embeddings; returns the batch's real tokens."""
    check_layer(encoder, layer)
    encoder = _prepare(encoder, settings)

    def run(batch: list[list[int]]) -> int:
        padded = padded_inputs(batch, pad_id)
        mask = padded["attention_mask"]
        embed_batch(encoder, padded["input_ids"].to(settings.device), mask.to(settings.device), layer).cpu()
        return int(mask.sum())

    return run


def model_inputs(features: Mapping[str, Sequence[dict]], examples: int) -> tuple[list[tuple[str, int]], list[dict]]:
    """The timed sample of a trainable task: (language, index) pairs and their features."""
    sample = draw_sample({lang: len(f) for lang, f in features.items()}, examples)
    return sample, [features[lang][i] for lang, i in sample]


def sentence_inputs(tokenizer, texts: Mapping[str, Sequence[str]], max_length: int,
                    examples: int) -> tuple[list[tuple[str, int]], list[list[int]]]:
    """The timed sample of a retrieval task: (language, index) pairs and their token ids."""
    sample = draw_sample({lang: len(t) for lang, t in texts.items()}, examples)
    return sample, sentence_ids(tokenizer, [texts[lang][i] for lang, i in sample], max_length)


@torch.inference_mode()
def measure_model(model, spec: TaskSpec, features: Mapping[str, Sequence[dict]], pad_id: int,
                  settings: Settings) -> dict[str, Any]:
    """The efficiency record of a `MultiTaskModel` on `spec`'s evaluation features per language.

    The model is moved to `settings.device` and `settings.dtype` and left in eval mode.
    """
    run = model_runner(model, spec, pad_id, settings)
    sample, inputs = model_inputs(features, settings.examples)
    lengths = [f["length"] for f in inputs]
    timings = time_inputs(inputs, lengths, run, settings)
    return _record(model, f"encoder + {spec.family} head", sample, settings, timings, lengths)


@torch.inference_mode()
def measure_encoder(encoder, tokenizer, texts: Mapping[str, Sequence[str]], layer: int, max_length: int,
                    settings: Settings) -> dict[str, Any]:
    """The efficiency record of a bare encoder embedding sentences (retrieval: BUCC, Tatoeba).

    A call embeds sentences as retrieval does: mean-pooled hidden state `layer`, L2-normalised.
    """
    run = encoder_runner(encoder, tokenizer.pad_token_id, layer, settings)
    sample, inputs = sentence_inputs(tokenizer, texts, max_length, settings.examples)
    lengths = [len(ids) for ids in inputs]
    timings = time_inputs(inputs, lengths, run, settings)
    return _record(encoder, f"encoder, mean-pooled hidden state {layer}", sample, settings, timings, lengths)


def load_served_model(model_dir: str | Path, spec: TaskSpec):
    """A target run's exported `model/` folder as a plain `MultiTaskModel` (encoder + `spec`'s head)."""
    with unpartitioned():  # rank 0 alone loads it, also while a ZeRO-3 engine is live
        model = MultiTaskModel(load_encoder(str(model_dir)), {spec.name: spec})
    load_heads(model, model_dir)
    return model


def _interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of `values` and its two-sided Student-t confidence interval (a point for one value)."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, mean, mean
    from scipy.stats import t  # heavy: only the comparison needs it

    half = float(t.ppf(0.5 + confidence / 2, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


@torch.inference_mode()
def compare(runners: Mapping[str, Callable[[list[Any]], int]], inputs: Sequence[Any], lengths: Sequence[int],
            settings: Settings, rounds: int, reference: str) -> dict[str, dict[str, Any]]:
    """Several models timed on the same inputs, interleaved, with 95% confidence intervals.

    Timings of one model taken minutes apart on a shared machine differ by more than models of
    the same architecture do, so every round times each model once (latency of every input at
    batch 1, then the length-sorted batched pass), in an order that rotates from round to round;
    a model's number is the mean over rounds of its round's p50 (or inputs/s). Against
    `reference` each round gives a ratio measured under that round's conditions; the mean ratio
    and its interval say whether a model costs more: "no difference" when the interval holds 1.
    """
    if rounds < 1:
        raise ConfigError(f"a comparison needs at least one round, got {rounds}")
    if reference not in runners:
        raise ConfigError(f"reference model {reference!r} is not among {', '.join(runners)}")
    names = list(runners)
    order = sorted(range(len(inputs)), key=lambda i: -lengths[i])
    batches = [[inputs[i] for i in order[s : s + settings.batch_size]]
               for s in range(0, len(order), settings.batch_size)]
    p50 = {n: [] for n in names}
    per_s = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            run = runners[name]
            for i in range(settings.warmup):  # the caches the previous model left are another model's
                run([inputs[i % len(inputs)]])
            latencies = []
            for item in inputs:
                _synchronize(settings.device)
                started = time.perf_counter()
                run([item])
                _synchronize(settings.device)
                latencies.append((time.perf_counter() - started) * 1000.0)
            p50[name].append(float(np.percentile(latencies, 50)))
            _synchronize(settings.device)
            started = time.perf_counter()
            for batch in batches:
                run(batch)
            _synchronize(settings.device)
            per_s[name].append(len(inputs) / (time.perf_counter() - started))
    return summarise_rounds({"latency_p50_ms": p50, "examples_per_s": per_s}, reference)


# How to read a ratio to the reference: below 1 is faster for latency, above 1 for throughput.
FASTER_BELOW_ONE = {"latency_p50_ms": True, "examples_per_s": False}


def summarise_rounds(values: Mapping[str, Mapping[str, Sequence[float]]], reference: str) -> dict[str, dict]:
    """Per model and number (`values[number][model]`: one value per round), the mean with its 95%
    interval, and the mean of the per-round ratios to `reference` with its interval and verdict:
    "reference", "no difference" (the interval holds 1), "faster" or "slower"."""
    out: dict[str, dict] = {}
    for key, per_model in values.items():
        for name, series in per_model.items():
            mean, low, high = _interval(series)
            ratio, ratio_low, ratio_high = _interval([a / b for a, b in zip(series, per_model[reference])])
            if name == reference:
                verdict = "reference"
            elif ratio_low <= 1.0 <= ratio_high:
                verdict = "no difference"
            else:
                verdict = "faster" if (ratio < 1.0) == FASTER_BELOW_ONE[key] else "slower"
            out.setdefault(name, {})[key] = {
                "mean": mean, "ci95": [low, high], "rounds": list(series), "ratio_to_reference": ratio,
                "ratio_ci95": [ratio_low, ratio_high], "verdict": verdict}
    return out


# A record's headline numbers, name -> (section, key): the TensorBoard tags and report columns.
NUMBERS = {
    "latency_p50_ms": ("latency_ms", "p50"),
    "latency_p95_ms": ("latency_ms", "p95"),
    "latency_mean_ms": ("latency_ms", "mean"),
    "examples_per_s": ("throughput", "examples_per_s"),
    "tokens_per_s": ("throughput", "tokens_per_s"),
}


def scalars(task: str, record: Mapping[str, Any]) -> dict[str, float]:
    """TensorBoard scalars `efficiency/<task>/<name>` of a record."""
    return {f"efficiency/{task}/{name}": record[section][key] for name, (section, key) in NUMBERS.items()}


def summary(task: str, record: Mapping[str, Any]) -> str:
    """One line for the log."""
    lat, thr = record["latency_ms"], record["throughput"]
    return (f"{task} inference on {record['device']} ({record['dtype']}, {record['torch_threads']} threads, "
            f"{record['sample']['examples']} inputs): batch 1 p50 {lat['p50']:.2f} ms, p95 {lat['p95']:.2f} ms; "
            f"batch {thr['batch_size']} {thr['examples_per_s']:.1f} inputs/s, {thr['tokens_per_s']:.0f} tokens/s")
