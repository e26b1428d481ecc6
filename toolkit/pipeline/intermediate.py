"""Phase 2, the intermediate phase: train the encoder on what the approach feeds it (and the
stage's domain corpora), export `encoder/`. A `>` chain runs its earlier stages first."""

from __future__ import annotations

from pathlib import Path

from toolkit.approaches.corpora import add_corpora, corpora_of
from toolkit.approaches.registry import get_approach
from toolkit.config.schema import RunConfig
from toolkit.engine.board import Board
from toolkit.engine.trainer import release_engine, train
from toolkit.io import atomic_write_json
from toolkit.models.encoder import load_tokenizer, resolve_model_path
from toolkit.pipeline import run_dirs, stages
from toolkit.pipeline.checks import check_inputs
from toolkit.pipeline.inputs import configured_task
from toolkit.pipeline.results import hparams
from toolkit.runtime.distributed import init_distributed


def run_intermediate(cfg: RunConfig) -> Path:
    """Phase 2: train the encoder on what the approach feeds it; export `encoder/`."""
    if not run_dirs.is_done(run_dirs.intermediate_dir(cfg)):  # a finished run is skipped: nothing to check
        check_inputs(cfg, "intermediate")
    dist = init_distributed(cfg.train.collective_timeout_minutes)
    run_dir = run_dirs.intermediate_dir(cfg)
    approach = get_approach(cfg.approach)
    if not approach.has_intermediate:
        if dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            print(f"approach {cfg.approach}: no intermediate phase; the target phase starts from "
                  f"{cfg.model.name_or_path}", flush=True)
        return run_dir
    if run_dirs.is_done(run_dir):
        run_dirs.start(cfg, run_dir, dist, "intermediate")  # says that it is skipped
        return run_dir
    start = cfg.model.name_or_path
    previous = stages.previous_stage(cfg)
    if previous is not None:  # a chain: the earlier stages first (skipped when already DONE)
        start = str(run_dirs.encoder_dir(run_intermediate(previous)))
    if not run_dirs.start(cfg, run_dir, dist, "intermediate"):
        return run_dir
    model_path = dist.broadcast_object(resolve_model_path(start) if dist.is_main else None)
    tokenizer = load_tokenizer(model_path, cfg.model.revision, cfg.model.trust_remote_code)
    entries = stages.last_stage(cfg)
    domain = corpora_of(cfg)
    specs = {name: configured_task(cfg, name, dist) for name in entries if name not in domain}
    prepared = approach.build(cfg, specs, tokenizer, dist)
    prepared = add_corpora(cfg, [domain[n] for n in entries if n in domain], prepared, tokenizer, dist)
    run_dirs.save_config(cfg, run_dir, dist)
    if dist.is_main:  # provenance of a chain's stage: what it trained and what it started from
        atomic_write_json(run_dirs.stage_record(run_dir), {"stages": stages.stages(cfg), "starts_from": start})
    board = Board(run_dirs.board_dir(run_dir) if dist.is_main else None)
    for tag, value in prepared.scalars.items():  # data statistics (e.g. MLM tokens per language)
        board.scalar(tag, value, 0)
    files = run_dirs.train_files(run_dir, run_dirs.encoder_dir(run_dir))
    state, engine = train(cfg, dist, files, prepared.data, tokenizer, model_path, board)
    release_engine(engine)
    board.hparams(hparams(cfg), {"hparam/validation_score": state.best_score or 0.0})
    board.close()
    run_dirs.mark_done(cfg, run_dir, dist)
    return run_dir
