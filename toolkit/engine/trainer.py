"""The one training loop every phase uses (intermediate, target; every approach).

Read it top to bottom: build the DeepSpeed engine, resume if a checkpoint exists, then per
optimizer step draw a task, take this rank's micro-batches of that task's next global batch,
forward/backward/step; log, validate, checkpoint; finally export the best weights as a
Hugging Face folder that the next phase loads.
"""

from __future__ import annotations

import weakref
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from toolkit.config.schema import RunConfig
from toolkit.config.deepspeed import fill_ds_config, load_ds_config, nvme_offload, resolve_batch
from toolkit.data.batching import TaskStream, planned_steps, rank_micro_batches, task_for_step, task_probabilities
from toolkit.data.features import FeatureTable
from toolkit.runtime.distributed import Dist
from toolkit.errors import ConfigError
from toolkit.io import atomic_write_json
from toolkit.evaluation.metrics import task_score
from toolkit.evaluation.predict import to_device
from toolkit.evaluation.zero_shot import EvalSet, evaluate_set
from toolkit.families.registry import get_family
from toolkit.models.encoder import check_tokenizer_matches, load_encoder
from toolkit.families.multitask import MultiTaskModel, export_model, load_heads, parameter_groups
from toolkit.models.params import largest_parameter
from toolkit.engine.board import Board
from toolkit.engine.checkpoint import CLIENT_KEY, load_checkpoint, prune_checkpoints, save_checkpoint
from toolkit.engine.preemption import Preempted, requested as stop_requested
from toolkit.tasks.records import TaskSpec


@dataclass
class PhaseData:
    """What a phase trains on: the heads to build, training features, validation sets."""

    specs: dict[str, TaskSpec]
    train: dict[str, FeatureTable]
    validation: dict[str, EvalSet] = field(default_factory=dict)
    # Fixed sampling probabilities of some tasks (the mlm approach's share of the steps); the
    # other tasks split the rest by train.sampler, and epochs count over them only.
    shares: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFiles:
    """Where a training run writes (the pipeline's run folder layout decides the paths)."""

    checkpoints: Path  # DeepSpeed checkpoints, `latest`, universal conversions
    ds_config: Path  # the filled DeepSpeed config, as used
    export: Path  # the best weights as a Hugging Face folder


@dataclass
class TrainState:
    """Everything besides weights and optimizer that a resumed run needs (saved in checkpoints)."""

    step: int = 0
    sizes: dict[str, int] = field(default_factory=dict)  # training features per task
    streams: dict[str, int] = field(default_factory=dict)  # global batches consumed per task
    best_tag: str | None = None
    best_score: float | None = None
    last_tag: str | None = None
    validation: list[dict[str, Any]] = field(default_factory=list)


def build_engine(
    cfg: RunConfig, dist: Dist, model_path: str, specs, total_steps: int, heads_from=None, training=True
):
    """DeepSpeed engine around encoder + heads, with the "auto" values of the config filled.

    With `training=False` the engine has no optimizer (evaluation only) but keeps the ZeRO
    stage, so a model too large for one GPU is still sharded.
    """
    import deepspeed
    from transformers import AutoConfig

    model_config = AutoConfig.from_pretrained(
        model_path, revision=cfg.model.revision, trust_remote_code=cfg.model.trust_remote_code
    )
    raw = load_ds_config(cfg.train.deepspeed_config)
    largest = None
    if nvme_offload(raw):
        require_async_io(cfg.train.deepspeed_config)
        largest = largest_parameter(model_config)
    ds_config = fill_ds_config(
        raw, cfg.train, dist.world_size, total_steps, model_config.hidden_size, largest_param=largest
    )
    if not training:
        ds_config = {k: v for k, v in ds_config.items() if k not in ("optimizer", "scheduler")}
        zero = ds_config.get("zero_optimization", {})
        if zero.get("stage", 0) in (1, 2):
            # Stages 1-2 partition optimizer state and gradients only, which evaluation has none
            # of; DeepSpeed refuses them without an optimizer. Stage 3 (sharded weights) stays.
            ds_config["zero_optimization"] = {**zero, "stage": 0}
    encoder = load_encoder(
        model_path, cfg.model.revision, cfg.model.trust_remote_code, ds_config=ds_config
    )
    if cfg.train.freeze_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    torch.manual_seed(cfg.seed)  # identical head initialisation on every rank
    model = MultiTaskModel(encoder, specs)
    if heads_from is not None:
        load_heads(model, heads_from)
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.precision)
    if half is not None and any(hasattr(p, "ds_id") for p in encoder.parameters()):
        # DeepSpeed casts a model to bf16/fp16 only when none of it is ZeRO-3-partitioned yet; the
        # encoder was partitioned in that dtype while loading, the heads are built after it.
        model.heads.to(half)
    engine, _, _, _ = deepspeed.initialize(
        model=model,
        model_parameters=parameter_groups(model, cfg.train.weight_decay) if training else None,
        config=ds_config,
    )
    _LIVE_ENGINES.add(engine)
    return engine, ds_config


# Engines built in this process and not yet released. DeepSpeed's gradient hooks sit on C++
# autograd nodes and point back at their engine, a cycle Python's garbage collector cannot see:
# an engine dropped without `destroy()` keeps its weights, gradients and optimizer states for
# the life of the process (1.8 GB per grid cell on the embedded encoder).
_LIVE_ENGINES: weakref.WeakSet = weakref.WeakSet()


def release_engine(engine) -> None:
    """Free an engine's weights, gradients and optimizer states once its phase is done with it."""
    engine.destroy()
    _LIVE_ENGINES.discard(engine)


def release_all_engines() -> None:
    """Release every engine still alive, e.g. the one a failed grid cell left behind."""
    for engine in list(_LIVE_ENGINES):
        release_engine(engine)


def require_async_io(source: str) -> None:
    """NVMe offload reads and writes through DeepSpeed's async_io op, built against libaio."""
    from deepspeed.accelerator import get_accelerator

    if not get_accelerator().create_op_builder("AsyncIOBuilder").is_compatible(verbose=False):
        raise ConfigError(
            f"{source} offloads to NVMe, which needs DeepSpeed's async_io op, and it cannot be built here: "
            "install libaio (Debian/Ubuntu: apt-get install libaio-dev) and check with `ds_report`, "
            "or use ds_configs/zero3_offload.json (CPU memory) instead"
        )


def validate(engine, data: PhaseData, cfg: RunConfig, pad_id: int, dist: Dist) -> dict[str, Any]:
    """Score every task's validation set; `score` is the mean task score (best-model criterion)."""
    per_task = {}
    for name, evalset in data.validation.items():
        result = evaluate_set(engine, evalset, cfg.eval.batch_size, pad_id, dist, seqeval=cfg.eval.seqeval)
        per_task[name] = {
            "metrics": result.metrics,
            "score": task_score(evalset.spec.metric, result.metrics),
        }
    score = sum(t["score"] for t in per_task.values()) / len(per_task) if per_task else None
    return {"tasks": per_task, "score": score}


def _checkpoint_unused(cfg: RunConfig, state: TrainState, steps: int, tag: str) -> bool:
    """Whether the checkpoint of this validation would never be read: the last step's, when the
    live weights are the ones exported (they are the best, or nothing was scored) and the run's
    checkpoints are deleted once it is DONE. Writing it costs weights plus optimizer states
    (0.7 GB per run of the embedded encoder); a run killed before DONE resumes from the
    previous checkpoint and repeats its last steps exactly."""
    return state.step == steps and not cfg.train.keep_checkpoints and state.best_tag in (tag, None)


def train(
    cfg: RunConfig,
    dist: Dist,
    files: RunFiles,
    data: PhaseData,
    tokenizer,
    model_path: str,
    board: Board,
    heads_from: str | Path | None = None,
) -> tuple[TrainState, Any]:
    """Train `data` on the encoder at `model_path`; export the best weights to `files.export`.

    heads_from: a model folder written by xstilts whose heads (same task names) start the
    training instead of new ones (a target's earlier training stage).
    Returns the final state and the engine, which holds the best weights (for evaluation).
    """
    tasks = list(data.train)
    lengths = {t: feats.column("length") for t, feats in data.train.items()}
    sizes = {t: len(f) for t, f in data.train.items()}
    total, _, accum = resolve_batch(cfg.train, dist.world_size)
    steps = planned_steps(sizes, total, cfg.train.num_epochs, cfg.train.max_steps, data.shares)
    engine, ds_config = build_engine(cfg, dist, model_path, data.specs, steps, heads_from=heads_from)
    check_tokenizer_matches(tokenizer, engine.module.encoder, cfg.model.name_or_path)
    if dist.is_main:
        atomic_write_json(files.ds_config, ds_config)

    streams = {
        t: TaskStream(lengths[t], total, cfg.seed + zlib.crc32(t.encode()), cfg.train.length_grouping)
        for t in tasks
    }
    probs = task_probabilities(
        sizes, cfg.train.sampler, cfg.train.sampler_temperature, cfg.train.sampler_cap, data.shares
    )
    state = TrainState(sizes=sizes)
    if dist.is_main and len(tasks) > 1:
        print("task sampling: " + ", ".join(f"{t} {p:.3f} ({sizes[t]} features)" for t, p in probs.items()), flush=True)
    ckpt_dir = files.checkpoints
    if (ckpt_dir / "latest").is_file():
        client = load_checkpoint(engine, ckpt_dir, dist)
        state = TrainState(**client[CLIENT_KEY])
        if dist.is_main:
            print(f"resumed from {ckpt_dir / state.last_tag} at step {state.step}/{steps}", flush=True)
    for t, position in state.streams.items():
        streams[t].position = position

    pad_id = tokenizer.pad_token_id
    families = {t: get_family(data.specs[t].family) for t in tasks}
    loss_sum = torch.zeros(len(tasks), device=dist.device)  # summed on device: no host sync per step
    loss_count = torch.zeros(len(tasks), device=dist.device)
    engine.train()
    bar = tqdm(total=steps, initial=state.step, disable=not dist.is_main, desc=f"train {'+'.join(tasks)}")
    while state.step < steps:
        task = task_for_step(tasks, probs, cfg.seed, state.step)
        k = tasks.index(task)
        global_batch = streams[task].next()
        for micro in rank_micro_batches(global_batch, lengths[task], dist.world_size, dist.rank, accum):
            # Dropout masks depend only on (seed, step, rank): a resumed run repeats them exactly.
            torch.manual_seed(cfg.seed * 1_000_003 + state.step * 1_009 + dist.rank)
            batch = to_device(families[task].collate(data.train[task].rows(micro), pad_id), dist.device)
            loss = engine(task, batch).loss
            engine.backward(loss)
            engine.step()
            loss_sum[k] += loss.detach().float()
            loss_count[k] += 1
        state.step += 1
        state.streams = {t: s.position for t, s in streams.items()}
        bar.update(1)

        if state.step % cfg.train.log_every == 0 or state.step == steps:
            if dist.world_size > 1:
                torch.distributed.all_reduce(loss_sum)
                torch.distributed.all_reduce(loss_count)
            sums, counts = loss_sum.tolist(), loss_count.tolist()
            mean = sum(sums) / max(sum(counts), 1)
            board.scalar("train/loss", mean, state.step)
            board.scalar("train/lr", engine.get_lr()[0], state.step)
            if len(tasks) > 1:
                for t, s, c in zip(tasks, sums, counts):
                    if c:
                        board.scalar(f"train/{t}/loss", s / c, state.step)
            bar.set_postfix(loss=f"{mean:.4f}")
            loss_sum.zero_()
            loss_count.zero_()

        if state.step % cfg.train.eval_every == 0 or state.step == steps:
            result = validate(engine, data, cfg, pad_id, dist)
            for t, r in result["tasks"].items():
                for metric, value in r["metrics"].items():
                    board.scalar(f"eval/{t}/en/{metric}", value, state.step)
                board.scalar(f"eval/{t}/score", r["score"], state.step)
            tag = f"step{state.step}"
            if result["score"] is not None and (state.best_score is None or result["score"] > state.best_score):
                state.best_tag, state.best_score = tag, result["score"]
            state.validation.append({"step": state.step, **result})
            saved = not _checkpoint_unused(cfg, state, steps, tag)
            if saved:
                state.last_tag = tag
                save_checkpoint(engine, ckpt_dir, tag, vars(state), dist)
            if dist.is_main:
                if saved:
                    prune_checkpoints(ckpt_dir, cfg.train.max_checkpoints, {state.best_tag or ""})
                if result["score"] is not None:
                    print(f"step {state.step}: validation score {result['score']:.2f}", flush=True)
            dist.barrier()

        # The scheduler's warning signal (toolkit.engine.preemption), asked at logging steps only.
        if state.step % cfg.train.log_every == 0 and state.step < steps and stop_requested(dist):
            tag = f"step{state.step}"
            if state.last_tag != tag:  # not already saved by the validation just above
                state.last_tag = tag
                save_checkpoint(engine, ckpt_dir, tag, vars(state), dist)
            board.close()  # the run's process ends here; flush what it logged
            raise Preempted(state.step, str(ckpt_dir / tag))
    bar.close()

    if state.best_tag and state.best_tag != f"step{state.step}":
        # A full load: under ZeRO-3 the weights live in the optimizer's fp32 partitions, so a
        # module-only load would silently keep the last weights instead of the best.
        load_checkpoint(engine, ckpt_dir, dist, state.best_tag)
    export_model(engine.module, tokenizer, files.export, dist.is_main)
    dist.barrier()
    return state, engine
