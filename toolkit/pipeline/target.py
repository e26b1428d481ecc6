"""Phase 3, the target phase: fine-tune on a target task's English data (after its training
stages, if any) from the intermediate phase's encoder, then evaluate zero-shot in every
language; and `evaluate`, which re-scores a finished target run."""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.approaches.registry import get_approach
from toolkit.config.schema import RunConfig
from toolkit.engine.board import Board
from toolkit.engine.trainer import PhaseData, build_engine, release_engine, train
from toolkit.errors import ConfigError
from toolkit.families.registry import get_family
from toolkit.models.encoder import load_tokenizer, resolve_model_path
from toolkit.pipeline import run_dirs
from toolkit.pipeline.checks import check_inputs
from toolkit.pipeline.inputs import configured_task, phase_data, target_languages, target_stages
from toolkit.pipeline.results import hparams, model_params, score_metrics, score_untrained, zero_shot
from toolkit.runtime.distributed import Dist, init_distributed
from toolkit.tasks import provenance
from toolkit.tasks.records import TaskSpec


def encoder_for_target(cfg: RunConfig) -> str:
    """The encoder the target phase starts from: pretrained for `none`, else phase 2's export."""
    if not get_approach(cfg.approach).has_intermediate:
        return cfg.model.name_or_path
    inter = run_dirs.intermediate_dir(cfg)
    if not run_dirs.is_done(inter):
        raise ConfigError(
            f"{inter} has no finished intermediate run (no DONE): run run_scripts/intermediate.sh "
            "with the same experiment, approach and intermediate first"
        )
    return str(run_dirs.encoder_dir(inter))


def _check_benchmark(cfg: RunConfig, run_dir: Path) -> None:
    """Refuse to reuse a run folder scored under another benchmark (its languages and average
    differ, and a DONE cell would silently be skipped)."""
    path = run_dirs.results_path(run_dir)
    if path.is_file():
        recorded = json.loads(path.read_text(encoding="utf-8")).get("benchmark", "xtreme")
        if recorded != cfg.benchmark:
            raise ConfigError(
                f"{run_dir} holds results for benchmark={recorded}, not {cfg.benchmark}: use another "
                "experiment name (or output_root) for each benchmark"
            )


def _train_stages(cfg: RunConfig, spec: TaskSpec, stages: list[tuple[Path, PhaseData | None]],
                  model_path: str, tokenizer, dist: Dist) -> tuple[str, str | None]:
    """Fine-tune on each stage in turn, each from the previous one's export (head included).

    A stage lives in `<run>/stages/<k>-<task>/` (checkpoints, tb, model, DONE), so an
    interrupted stage resumes and a finished one is skipped. Returns the model folder the
    target's own training starts from and the folder its head comes from (None: a new head).
    """
    heads_from = None
    for stage_dir, data in stages:
        if data is not None:
            if dist.is_main:
                print(f"target {spec.name}: training stage {stage_dir.name}", flush=True)
                stage_dir.mkdir(parents=True, exist_ok=True)
            dist.barrier()
            board = Board(run_dirs.board_dir(stage_dir) if dist.is_main else None)
            files = run_dirs.train_files(stage_dir, run_dirs.model_dir(stage_dir))
            _, engine = train(cfg, dist, files, data, tokenizer, model_path, board, heads_from)
            release_engine(engine)
            board.close()
            run_dirs.mark_done(cfg, stage_dir, dist)
        model_path = heads_from = str(run_dirs.model_dir(stage_dir))
    return model_path, heads_from


def run_target(cfg: RunConfig) -> Path:
    """Phase 3: fine-tune on the target task's English data (after its stages, if any), then
    evaluate zero-shot; results.json records the Hub splits read inside (provenance)."""
    with provenance.recording():
        return _run_target(cfg)


def _run_target(cfg: RunConfig) -> Path:
    if not run_dirs.is_done(run_dirs.target_dir(cfg)):  # a finished run is skipped: nothing to check
        check_inputs(cfg, "target")
    dist = init_distributed(cfg.train.collective_timeout_minutes)
    spec = configured_task(cfg, cfg.target, dist)
    languages = target_languages(cfg, spec)
    stages = target_stages(cfg, spec, dist)
    run_dir = run_dirs.target_dir(cfg)
    _check_benchmark(cfg, run_dir)
    if not run_dirs.start(cfg, run_dir, dist, "target"):
        return run_dir
    start = encoder_for_target(cfg)
    model_path = dist.broadcast_object(resolve_model_path(start) if dist.is_main else None)
    if not get_family(spec.family).trainable:  # BUCC, Tatoeba: no training data; the encoder as it is
        run_dirs.save_config(cfg, run_dir, dist)
        score_untrained(cfg, spec, languages, model_path, dist, run_dir)
        run_dirs.mark_done(cfg, run_dir, dist)
        return run_dir
    tokenizer = load_tokenizer(model_path, cfg.model.revision, cfg.model.trust_remote_code)
    source = configured_task(cfg, spec.train_task, dist) if spec.train_task else spec
    # Every stage's data loads before the run folder appears (bad data leaves nothing behind).
    stage_data = []
    for k, stage in enumerate(stages, 1):
        stage_dir = run_dirs.stage_dir(run_dir, k, stage.name)
        done = run_dirs.is_done(stage_dir)
        stage_data.append((stage_dir, None if done else phase_data(cfg, spec, stage, tokenizer, dist)))
    data = phase_data(cfg, spec, source, tokenizer, dist)
    run_dirs.save_config(cfg, run_dir, dist)
    model_path, heads_from = _train_stages(cfg, spec, stage_data, model_path, tokenizer, dist)
    board = Board(run_dirs.board_dir(run_dir) if dist.is_main else None)
    exported = run_dirs.model_dir(run_dir)
    _, engine = train(cfg, dist, run_dirs.train_files(run_dir, exported), data, tokenizer, model_path, board, heads_from)
    results = zero_shot(cfg, spec, languages, engine, tokenizer, dist, run_dir, board, exported, model_params(engine))
    release_engine(engine)
    board.hparams(hparams(cfg), score_metrics(results))
    board.close()
    run_dirs.mark_done(cfg, run_dir, dist)
    return run_dir


def run_evaluate(cfg: RunConfig) -> Path:
    """Re-score a finished target run's `model/` zero-shot (e.g. on more languages)."""
    with provenance.recording():
        return _run_evaluate(cfg)


def _run_evaluate(cfg: RunConfig) -> Path:
    check_inputs(cfg, "evaluate")
    dist = init_distributed(cfg.train.collective_timeout_minutes)
    spec = configured_task(cfg, cfg.target, dist)
    languages = target_languages(cfg, spec)
    run_dir = run_dirs.target_dir(cfg)
    _check_benchmark(cfg, run_dir)
    if not get_family(spec.family).trainable:
        model_path = dist.broadcast_object(resolve_model_path(encoder_for_target(cfg)) if dist.is_main else None)
        score_untrained(cfg, spec, languages, model_path, dist, run_dir)
        return run_dir
    model_dir = run_dirs.model_dir(run_dir)
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"{model_dir} holds no trained model: run run_scripts/target.sh first")
    tokenizer = load_tokenizer(str(model_dir))
    engine, _ = build_engine(cfg, dist, str(model_dir), {spec.name: spec}, total_steps=1,
                             heads_from=model_dir, training=False)
    board = Board(run_dirs.board_dir(run_dir) if dist.is_main else None)
    zero_shot(cfg, spec, languages, engine, tokenizer, dist, run_dir, board, model_dir, model_params(engine))
    release_engine(engine)
    board.close()
    return run_dir
