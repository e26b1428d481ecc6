"""The three phases as functions of a RunConfig: intermediate, target, evaluate.

Each phase owns one run folder (see DESIGN.md), skips itself when that folder has DONE,
resumes from its checkpoints otherwise, and writes DONE last.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from xstilts.approaches import get_approach
from xstilts.config import RunConfig, to_dict, to_yaml
from xstilts.data.features import cache_root, featurize_cached, load_examples
from xstilts.engine.distributed import Dist, init_distributed
from xstilts.engine.trainer import PhaseData, build_engine, train, write_json_atomic
from xstilts.errors import ConfigError
from xstilts.evaluation import xtreme_format
from xstilts.evaluation.metrics import summarise
from xstilts.evaluation.zero_shot import EvalSet, evaluate_set
from xstilts.models.encoder import load_tokenizer, resolve_model_path
from xstilts.models.params import parameter_counts
from xstilts.reporting.tensorboard import Board
from xstilts.tasks.base import TaskSpec, get_task, split_task_names
from xstilts.tasks.languages import check_languages


# ---------------------------------------------------------------------------------------------
# Run folders.
# ---------------------------------------------------------------------------------------------


def intermediate_name(cfg: RunConfig) -> str:
    """The `<intermediate>` folder name: '+'-joined task names plus the approach's suffix
    (translated: `-tr.<langs>`, e.g. squad-tr.es); 'none' for approach none."""
    approach = get_approach(cfg.approach)
    if not approach.has_intermediate:
        return "none"
    return "+".join(split_task_names(cfg.intermediate)) + approach.suffix(cfg)


def intermediate_dir(cfg: RunConfig) -> Path:
    return Path(cfg.output_root) / cfg.experiment / cfg.approach / intermediate_name(cfg)


def target_dir(cfg: RunConfig) -> Path:
    return intermediate_dir(cfg) / cfg.target / f"seed{cfg.seed}"


def _start(cfg: RunConfig, run_dir: Path, dist: Dist, phase: str) -> bool:
    """Print the merged config; False when the run is already DONE (skip it)."""
    if (run_dir / "DONE").exists():
        if dist.is_main:
            print(f"{phase}: {run_dir} is DONE, skipping", flush=True)
        return False
    if dist.is_main:
        print(f"{phase} config:\n{to_yaml(cfg)}", flush=True)
    return True


def _save_config(cfg: RunConfig, run_dir: Path, dist: Dist) -> None:
    """Create the run folder with its config.yaml: only once the inputs have loaded, so that bad
    data or options leave no half-made run behind."""
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = run_dir / ".config.yaml.tmp"
        tmp.write_text(to_yaml(cfg), encoding="utf-8")
        os.replace(tmp, run_dir / "config.yaml")
    dist.barrier()


def _done(run_dir: Path, dist: Dist) -> None:
    if dist.is_main:
        (run_dir / "DONE").write_text("", encoding="utf-8")
    dist.barrier()


# ---------------------------------------------------------------------------------------------
# Data.
# ---------------------------------------------------------------------------------------------


def configured_task(cfg: RunConfig, name: str, dist: Dist) -> TaskSpec:
    """The registered spec with this run's settings applied (QA window stride, data-derived labels)."""
    spec = get_task(name)
    if spec.family == "span_qa":
        spec = dataclasses.replace(spec, extra={**spec.extra, "doc_stride": cfg.model.doc_stride})
    if spec.setup is not None:
        local = str(Path(cfg.data.data_dir) / spec.name) if cfg.data.data_dir else None
        if dist.is_main:  # rank 0 may write a derived file (CCG's supertags.txt); others read it
            spec = spec.setup(spec, local)
        dist.barrier()
        if not dist.is_main:
            spec = spec.setup(spec, local)
    return spec


def _features(cfg: RunConfig, spec: TaskSpec, examples, tokenizer, dist: Dist):
    return featurize_cached(
        spec, examples, tokenizer, cfg.model.max_seq_length, cache_root(cfg.data.cache_dir),
        rank=dist.rank, barrier=dist.barrier,
    )


def _eval_set(cfg: RunConfig, spec: TaskSpec, source: TaskSpec, split: str, lang: str | None,
              tokenizer, dist: Dist) -> EvalSet:
    """Examples of `source` scored with the head and metric of `spec` (they share labels)."""
    examples = load_examples(source, split, lang, cfg.data.data_dir, cfg.data.max_eval_examples)
    return EvalSet(spec, lang or "en", examples, _features(cfg, spec, examples, tokenizer, dist))


def _train_features(cfg: RunConfig, spec: TaskSpec, source: TaskSpec, tokenizer, dist: Dist):
    examples = load_examples(source, "train", None, cfg.data.data_dir, cfg.data.max_train_examples)
    return _features(cfg, spec, examples, tokenizer, dist)


def _hparams(cfg: RunConfig) -> dict:
    flat = {}
    for section, values in to_dict(cfg).items():
        if isinstance(values, dict):
            flat.update({f"{section}.{k}": v for k, v in values.items()})
        else:
            flat[section] = values
    return flat


# ---------------------------------------------------------------------------------------------
# Phases.
# ---------------------------------------------------------------------------------------------


def run_intermediate(cfg: RunConfig) -> Path:
    """Phase 2: train the encoder on what the approach feeds it; export `encoder/`."""
    dist = init_distributed(cfg.train.collective_timeout_minutes)
    run_dir = intermediate_dir(cfg)
    approach = get_approach(cfg.approach)
    if not approach.has_intermediate:
        if dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            print(f"approach {cfg.approach}: no intermediate phase; the target phase starts from "
                  f"{cfg.model.name_or_path}", flush=True)
        return run_dir
    if not _start(cfg, run_dir, dist, "intermediate"):
        return run_dir
    model_path = resolve_model_path(cfg.model.name_or_path) if dist.is_main else None
    model_path = dist.broadcast_object(model_path)
    tokenizer = load_tokenizer(model_path, cfg.model.revision, cfg.model.trust_remote_code)
    specs = {name: configured_task(cfg, name, dist) for name in split_task_names(cfg.intermediate)}
    prepared = approach.build(cfg, specs, tokenizer, dist)
    _save_config(cfg, run_dir, dist)
    board = Board(run_dir / "tb" if dist.is_main else None)
    for tag, value in prepared.scalars.items():  # data statistics (e.g. MLM tokens per language)
        board.scalar(tag, value, 0)
    state, _ = train(cfg, dist, run_dir, prepared.data, tokenizer, model_path, run_dir / "encoder", board)
    board.hparams(_hparams(cfg), {"hparam/validation_score": state.best_score or 0.0})
    board.close()
    _done(run_dir, dist)
    return run_dir


def encoder_for_target(cfg: RunConfig) -> str:
    """The encoder the target phase starts from: pretrained for `none`, else phase 2's export."""
    if cfg.approach == "none":
        return cfg.model.name_or_path
    inter = intermediate_dir(cfg)
    if not (inter / "DONE").exists():
        raise ConfigError(
            f"{inter} has no finished intermediate run (no DONE): run run_scripts/intermediate.sh "
            "with the same experiment, approach and intermediate first"
        )
    return str(inter / "encoder")


def run_target(cfg: RunConfig) -> Path:
    """Phase 3: fine-tune on the target task's English data, then evaluate zero-shot."""
    dist = init_distributed(cfg.train.collective_timeout_minutes)
    spec = configured_task(cfg, cfg.target, dist)
    if spec.xtreme_id is None:
        raise ConfigError(f"target={cfg.target!r} is not an XTREME target task")
    languages = check_languages(spec.xtreme_id, cfg.eval.languages or spec.languages)
    run_dir = target_dir(cfg)
    if not _start(cfg, run_dir, dist, "target"):
        return run_dir
    start = encoder_for_target(cfg)
    model_path = dist.broadcast_object(resolve_model_path(start) if dist.is_main else None)
    if spec.family == "retrieval":  # BUCC, Tatoeba: no training data; the encoder is scored as is
        _save_config(cfg, run_dir, dist)
        retrieval(cfg, spec, languages, model_path, dist, run_dir)
        _done(run_dir, dist)
        return run_dir
    tokenizer = load_tokenizer(model_path, cfg.model.revision, cfg.model.trust_remote_code)
    source = configured_task(cfg, spec.train_task, dist) if spec.train_task else spec
    data = PhaseData(
        specs={spec.name: spec},
        train={spec.name: _train_features(cfg, spec, source, tokenizer, dist)},
        # Model selection on English dev data of what was trained on (MNLI dev for XNLI, as in XTREME).
        validation={spec.name: _eval_set(cfg, spec, source, "validation", None, tokenizer, dist)},
    )
    _save_config(cfg, run_dir, dist)
    board = Board(run_dir / "tb" if dist.is_main else None)
    state, engine = train(cfg, dist, run_dir, data, tokenizer, model_path, run_dir / "model", board)
    results = zero_shot(cfg, spec, languages, engine, tokenizer, dist, run_dir, board, model_params(engine))
    board.hparams(_hparams(cfg), {"hparam/score": results["score"]})
    board.close()
    _done(run_dir, dist)
    return run_dir


def run_evaluate(cfg: RunConfig) -> Path:
    """Re-score a finished target run's `model/` zero-shot (e.g. on more languages)."""
    dist = init_distributed(cfg.train.collective_timeout_minutes)
    spec = configured_task(cfg, cfg.target, dist)
    languages = check_languages(spec.xtreme_id, cfg.eval.languages or spec.languages)
    run_dir = target_dir(cfg)
    if spec.family == "retrieval":
        model_path = dist.broadcast_object(resolve_model_path(encoder_for_target(cfg)) if dist.is_main else None)
        retrieval(cfg, spec, languages, model_path, dist, run_dir)
        return run_dir
    model_dir = run_dir / "model"
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"{model_dir} holds no trained model: run run_scripts/target.sh first")
    tokenizer = load_tokenizer(str(model_dir))
    engine, _ = build_engine(cfg, dist, str(model_dir), {spec.name: spec}, total_steps=1,
                             heads_from=model_dir, training=False)
    board = Board(run_dir / "tb" if dist.is_main else None)
    zero_shot(cfg, spec, languages, engine, tokenizer, dist, run_dir, board, model_params(engine))
    board.close()
    return run_dir


def model_params(engine) -> dict[str, int]:
    """Parameter counts of the trained model (backbone + heads) of a DeepSpeed engine.

    Under ZeRO-3 each rank holds shards; the counts come from the full sizes DeepSpeed records.
    """
    return parameter_counts(engine.module.encoder, engine.module.heads)


def zero_shot(cfg: RunConfig, spec: TaskSpec, languages, engine, tokenizer, dist: Dist,
              run_dir: Path, board: Board, params: dict[str, int]) -> dict:
    """Evaluate every language; write predictions, gold files, scalars and results.json."""
    per_lang = {}
    for lang in languages:
        evalset = _eval_set(cfg, spec, spec, cfg.eval.split, lang, tokenizer, dist)
        result = evaluate_set(engine, evalset, cfg.eval.batch_size, tokenizer.pad_token_id, dist)
        per_lang[lang] = result.metrics
        if dist.is_main:
            order = [e.id for e in evalset.examples]
            xtreme_format.write_predictions(run_dir / "predictions", spec.xtreme_id, lang,
                                            result.predictions, order)
            xtreme_format.write_gold(run_dir / "gold", spec.xtreme_id, lang,
                                     {i: result.golds[i] for i in order})
            for metric, value in result.metrics.items():
                board.scalar(f"eval/{spec.name}/{lang}/{metric}", value, 0)
            print(f"{spec.name} {lang}: " + ", ".join(f"{k}={v:.2f}" for k, v in result.metrics.items()),
                  flush=True)
    results = _results(cfg, spec, per_lang, params)
    if dist.is_main:
        _write_results(results, run_dir, board)
    dist.barrier()
    return results


def _results(cfg: RunConfig, spec: TaskSpec, per_lang: dict, params: dict[str, int]) -> dict:
    """The results.json record: per-language metrics, their mean, the XTREME task score, and the
    parameter counts of the model that was scored (see xstilts.models.params)."""
    average, score = summarise(spec.xtreme_id, per_lang)
    return {
        "task": spec.name, "approach": cfg.approach, "intermediate": intermediate_name(cfg),
        "seed": cfg.seed, "metrics": per_lang, "average": average, "score": score, "params": params,
    }


def _write_results(results: dict, run_dir: Path, board: Board) -> None:
    board.scalar(f"eval/{results['task']}/score", results["score"], 0)
    write_json_atomic(run_dir / "results.json", results)
    print(f"{results['task']} score: {results['score']:.2f}", flush=True)


def retrieval(cfg: RunConfig, spec: TaskSpec, languages, model_path: str, dist: Dist, run_dir: Path) -> dict:
    """BUCC/Tatoeba on an encoder without fine-tuning: mean-pooled middle layer, nearest neighbours.

    Rank 0 does the work on one device (inference of even XLM-R XL fits one GPU); the other
    ranks wait, so the command behaves the same under any launcher.
    """
    from xstilts.evaluation.retrieval import evaluate_retrieval
    from xstilts.models.encoder import load_encoder

    results = None
    if dist.is_main:
        tokenizer = load_tokenizer(model_path, cfg.model.revision, cfg.model.trust_remote_code)
        encoder = load_encoder(model_path, cfg.model.revision, cfg.model.trust_remote_code).to(dist.device)
        data_dir = str(Path(cfg.data.data_dir) / spec.name) if cfg.data.data_dir else None
        per_lang = evaluate_retrieval(
            spec.name, encoder, tokenizer, languages, data_dir, cfg.eval.retrieval_layer, run_dir,
            batch_size=cfg.eval.batch_size, max_length=cfg.model.max_seq_length,
            max_examples=cfg.data.max_eval_examples,
        )
        board = Board(run_dir / "tb")
        for lang, metrics in per_lang.items():
            for metric, value in metrics.items():
                board.scalar(f"eval/{spec.name}/{lang}/{metric}", value, 0)
        results = _results(cfg, spec, per_lang, parameter_counts(encoder))
        _write_results(results, run_dir, board)
        board.hparams(_hparams(cfg), {"hparam/score": results["score"]})
        board.close()
    dist.barrier()
    return dist.broadcast_object(results)
