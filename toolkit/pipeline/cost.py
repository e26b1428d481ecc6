"""The inference-cost comparison of an experiment's finished target runs, measured interleaved.

Each target run can time its own model right after it is scored (`eval.efficiency`), but runs
of a grid finish minutes apart, and on a shared machine two timings minutes apart differ by more
than two models of the same architecture do. Here every target task's models (one per approach,
intermediate, variant and seed) are loaded together and timed in rounds on the same inputs
(`toolkit.evaluation.efficiency.compare`), against the `none` run of the task: the report's
inference-cost table is this file, `<experiment>/inference_cost.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from toolkit.config.schema import RunConfig
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation import efficiency
from toolkit.evaluation.retrieval import default_layer
from toolkit.families.registry import get_family
from toolkit.io import atomic_write_json
from toolkit.models.encoder import load_encoder, load_tokenizer, resolve_model_path, unpartitioned
from toolkit.pipeline import run_dirs
from toolkit.pipeline.inputs import configured_task, eval_set, local_dir, target_languages
from toolkit.pipeline.target import encoder_for_target
from toolkit.runtime.distributed import Dist
from toolkit.tasks.records import LoadRequest
from toolkit.tasks.retrieval import read_split


def label(cfg: RunConfig, seeds: int) -> str:
    """A model's name in the comparison: its report row, plus the seed when a task has several."""
    row = run_dirs.report_row_name(cfg.approach, run_dirs.intermediate_name(cfg), cfg.variant)
    return row + (f"/seed{cfg.seed}" if seeds > 1 else "")


def _settings(cfg: RunConfig, dist: Dist) -> efficiency.Settings:
    return efficiency.Settings(
        examples=cfg.eval.efficiency_examples, warmup=cfg.eval.efficiency_warmup,
        batch_size=cfg.eval.batch_size, device=dist.device,
        dtype=efficiency.inference_dtype(cfg.train.precision, dist.device),
    )


def _group(cfgs: list[RunConfig]) -> dict[str, list[RunConfig]]:
    """Finished target runs by target task, the `none` run (lowest seed) first: the reference."""
    groups: dict[str, list[RunConfig]] = {}
    for cfg in cfgs:
        if run_dirs.is_done(run_dirs.target_dir(cfg)):
            groups.setdefault(cfg.target, []).append(cfg)
    return {task: sorted(group, key=lambda c: (not run_dirs.is_control(c.approach), c.seed))
            for task, group in groups.items()}


def _trainable_runners(group: list[RunConfig], dist: Dist, settings: efficiency.Settings, seeds: int):
    """Inputs and runners of a fine-tuned target: every run's exported model on the reference's
    evaluation features (featurised on every rank, which the feature cache's barrier needs)."""
    ref = group[0]
    for cfg in group:
        if not (run_dirs.model_dir(run_dirs.target_dir(cfg)) / "config.json").is_file():
            raise DataError(f"{run_dirs.model_dir(run_dirs.target_dir(cfg))} holds no exported model")
    spec = configured_task(ref, ref.target, dist)
    model_dir = run_dirs.model_dir(run_dirs.target_dir(ref))
    tokenizer = load_tokenizer(str(model_dir))
    features = {lang: eval_set(ref, spec, spec, ref.eval.split, lang, tokenizer, dist).features
                for lang in target_languages(ref, spec)}
    if not dist.is_main:
        return None
    sample, inputs = efficiency.model_inputs(features, settings.examples)
    runners = {label(cfg, seeds): efficiency.model_runner(
        efficiency.load_served_model(run_dirs.model_dir(run_dirs.target_dir(cfg)), spec), spec,
        tokenizer.pad_token_id, settings) for cfg in group}
    return sample, inputs, [f["length"] for f in inputs], runners, f"encoder + {spec.family} head"


def _retrieval_runners(group: list[RunConfig], dist: Dist, settings: efficiency.Settings, seeds: int):
    """Inputs and runners of a retrieval target: every run's encoder embedding the reference's
    test sentences (rank 0 only, as retrieval scoring is)."""
    if not dist.is_main:
        return None
    ref = group[0]
    spec = configured_task(ref, ref.target, dist)
    tokenizer = load_tokenizer(resolve_model_path(encoder_for_target(ref)))
    texts = {}
    for lang in target_languages(ref, spec):
        split = read_split(spec, LoadRequest("test", lang, local_dir(ref, spec), ref.data.max_eval_examples))
        texts[lang] = [e.text for e in (*split.sources, *split.targets)]
    sample, inputs = efficiency.sentence_inputs(tokenizer, texts, ref.model.max_seq_length, settings.examples)
    runners = {}
    layer = ref.eval.retrieval_layer
    for cfg in group:
        with unpartitioned():  # rank 0 alone loads it
            encoder = load_encoder(resolve_model_path(encoder_for_target(cfg)))
        which = default_layer(encoder.config.num_hidden_layers) if layer is None else layer
        runners[label(cfg, seeds)] = efficiency.encoder_runner(encoder, tokenizer.pad_token_id, which, settings)
    return sample, inputs, [len(ids) for ids in inputs], runners, "encoder, mean-pooled hidden state"


def compare_runs(cfgs: list[RunConfig], dist: Dist, path: Path) -> dict | None:
    """Time every finished target run of `cfgs` against its task's `none` run, interleaved, and
    write the comparison to `path` (rank 0; returned there, None on the other ranks).

    The reference run's settings (eval.efficiency_examples, eval.efficiency_warmup,
    eval.batch_size, eval.cost_rounds) apply to its whole task.
    """
    out = {}
    for task, group in _group(cfgs).items():
        if group[0].eval.cost_rounds == 0:
            continue
        ref = group[0]
        settings = _settings(ref, dist)
        seeds = len({c.seed for c in group})
        spec = configured_task(ref, task, dist)
        build = _trainable_runners if get_family(spec.family).trainable else _retrieval_runners
        try:
            built = build(group, dist, settings, seeds)
            if built is None:
                continue
            sample, inputs, lengths, runners, model = built
            reference = label(ref, seeds)
            compared = efficiency.compare(runners, inputs, lengths, settings, ref.eval.cost_rounds, reference)
        except (OSError, ConfigError, DataError) as err:  # e.g. a run folder without its model/ (every rank)
            print(f"inference cost {task}: not compared ({type(err).__name__}: {err})", flush=True)
            continue
        scores = {label(c, seeds): json.loads(run_dirs.results_path(run_dirs.target_dir(c)).read_text(
            encoding="utf-8"))["score"] for c in group}
        out[task] = {
            "model": model, "reference": reference, "rounds": ref.eval.cost_rounds,
            "device": str(settings.device), "device_name": efficiency.device_name(settings.device),
            "dtype": str(settings.dtype).removeprefix("torch."), "torch_threads": torch.get_num_threads(),
            "batch_size": settings.batch_size, "examples": len(inputs), "warmup": settings.warmup,
            "languages": sorted({lang for lang, _ in sample}),
            "models": {name: {"score": scores[name], **record} for name, record in compared.items()},
        }
    if dist.is_main:
        atomic_write_json(path, out)
        for task, entry in out.items():
            print(summary(task, entry), flush=True)
    dist.barrier()
    return out if dist.is_main else None


def summary(task: str, entry: dict) -> str:
    """The log lines of one task's comparison."""
    lines = [f"inference cost {task} ({entry['examples']} inputs x {entry['rounds']} interleaved rounds, "
             f"{entry['device_name']}, {entry['dtype']}):"]
    for name, m in entry["models"].items():
        lat, thr = m["latency_p50_ms"], m["examples_per_s"]
        lines.append(f"  {name}: p50 {lat['mean']:.2f} ms [{lat['ci95'][0]:.2f}, {lat['ci95'][1]:.2f}] "
                     f"({lat['verdict']}); {thr['mean']:.1f} inputs/s ({thr['verdict']})")
    return "\n".join(lines)
