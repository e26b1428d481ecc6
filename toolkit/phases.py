"""The three phases as functions of a RunConfig: intermediate, target, evaluate.

Each phase owns one run folder (see DESIGN.md), skips itself when that folder has DONE,
resumes from its checkpoints otherwise, and writes DONE last.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

from toolkit import corpora, stages
from toolkit.approaches import get_approach
from toolkit.config import RunConfig, effective_learning_rate, resolve_batch, to_dict, to_yaml
from toolkit.data.features import cache_root, featurize_cached, load_examples
from toolkit.engine.distributed import Dist, init_distributed
from toolkit.engine.trainer import PhaseData, build_engine, release_engine, train, write_json_atomic
from toolkit.errors import ConfigError
from toolkit.evaluation import efficiency, xtreme_format
from toolkit.evaluation.metrics import summarise
from toolkit.evaluation.zero_shot import EvalSet, evaluate_set
from toolkit.models.encoder import load_tokenizer, resolve_model_path
from toolkit.models.params import parameter_counts
from toolkit.reporting.tensorboard import Board
from toolkit.tasks.base import TaskSpec, get_task
from toolkit.tasks.languages import check_languages, evaluation_languages


# ---------------------------------------------------------------------------------------------
# Run folders.
# ---------------------------------------------------------------------------------------------


def intermediate_name(cfg: RunConfig) -> str:
    """The intermediate's name in results.json and reports: the stages (`mnli+qqp-then-squad_v2`,
    see `toolkit.stages`) plus the approach's suffix (translated: `-tr.<langs>`, e.g.
    squad-tr.es); 'none' for approach none."""
    approach = get_approach(cfg.approach)
    return stages.folder_name(cfg) + approach.suffix(cfg) if approach.has_intermediate else "none"


def variant_suffix(cfg: RunConfig) -> str:
    """'@<label>.<label>' of the grid axes' values (in axis order), or '' outside a variant."""
    return "@" + ".".join(cfg.variant.values()) if cfg.variant else ""


def intermediate_dir(cfg: RunConfig) -> Path:
    """runs/<experiment>/<approach>/<intermediate name><variant suffix>."""
    return Path(cfg.output_root) / cfg.experiment / cfg.approach / (intermediate_name(cfg) + variant_suffix(cfg))


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


def _done(cfg: RunConfig, run_dir: Path, dist: Dist) -> None:
    """Mark the run finished; then, unless train.keep_checkpoints, free its checkpoints' disk.

    DONE comes first: a run killed while its checkpoints are deleted is still finished.
    """
    if dist.is_main:
        (run_dir / "DONE").write_text("", encoding="utf-8")
        if not cfg.train.keep_checkpoints:
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
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


def _phase_data(cfg: RunConfig, spec: TaskSpec, source: TaskSpec, tokenizer, dist: Dist) -> PhaseData:
    """English training data of `source` under the head of `spec`, selected on `source`'s dev set
    (MNLI dev for XNLI, as in XTREME)."""
    return PhaseData(
        specs={spec.name: spec},
        train={spec.name: _train_features(cfg, spec, source, tokenizer, dist)},
        validation={spec.name: _eval_set(cfg, spec, source, "validation", None, tokenizer, dist)},
    )


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
    if (run_dir / "DONE").exists():
        _start(cfg, run_dir, dist, "intermediate")  # says that it is skipped
        return run_dir
    start = cfg.model.name_or_path
    previous = stages.previous_stage(cfg)
    if previous is not None:  # a chain: the earlier stages first (skipped when already DONE)
        start = str(run_intermediate(previous) / "encoder")
    if not _start(cfg, run_dir, dist, "intermediate"):
        return run_dir
    model_path = dist.broadcast_object(resolve_model_path(start) if dist.is_main else None)
    tokenizer = load_tokenizer(model_path, cfg.model.revision, cfg.model.trust_remote_code)
    entries = stages.last_stage(cfg)
    domain = corpora.corpora_of(cfg)
    specs = {name: configured_task(cfg, name, dist) for name in entries if name not in domain}
    prepared = approach.build(cfg, specs, tokenizer, dist)
    prepared = corpora.add_corpora(cfg, [domain[n] for n in entries if n in domain], prepared, tokenizer, dist)
    _save_config(cfg, run_dir, dist)
    if dist.is_main:  # provenance of a chain's stage: what it trained and what it started from
        write_json_atomic(run_dir / "stage.json", {"stages": stages.stages(cfg), "starts_from": start})
    board = Board(run_dir / "tb" if dist.is_main else None)
    for tag, value in prepared.scalars.items():  # data statistics (e.g. MLM tokens per language)
        board.scalar(tag, value, 0)
    state, engine = train(cfg, dist, run_dir, prepared.data, tokenizer, model_path, run_dir / "encoder", board)
    release_engine(engine)
    board.hparams(_hparams(cfg), {"hparam/validation_score": state.best_score or 0.0})
    board.close()
    _done(cfg, run_dir, dist)
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


def target_languages(cfg: RunConfig, spec: TaskSpec) -> tuple[str, ...]:
    """The languages a target is evaluated in: `eval.languages`, else the benchmark's list."""
    if spec.xtreme_id is None:
        raise ConfigError(f"target: {spec.name!r} is not an XTREME target task (of XTREME or XTREME-R)")
    langs = cfg.eval.languages or evaluation_languages(spec.xtreme_id, cfg.benchmark)
    return check_languages(spec.xtreme_id, langs, cfg.benchmark)


def target_stages(cfg: RunConfig, spec: TaskSpec, dist: Dist | None = None) -> list[TaskSpec]:
    """The English tasks the target phase fine-tunes on before the target's own training set:
    `target_stages` of the config, else the target's recipe (`TaskSpec.train_stages`).

    A stage trains the target's own head (XTREME-R carries its SocialIQA head over to COPA),
    so it must be of the target's family and, where the family has labels, share them.
    With `dist`, specs are configured for the run (data-derived labels); without, as registered.
    """
    names = spec.train_stages if cfg.target_stages is None else cfg.target_stages
    stages = []
    for name in names:
        stage = configured_task(cfg, name, dist) if dist is not None else get_task(name)
        if stage.family != spec.family or stage.labels != spec.labels:
            found = f"a {stage.family} task" + (f" with labels {list(stage.labels)}" if stage.labels else "")
            raise ConfigError(
                f"target_stages: {name!r} is {found}, but the stages of target {spec.name!r} train its "
                f"{spec.family} head" + (f" with labels {list(spec.labels)}" if spec.labels else "")
            )
        stages.append(stage)
    return stages


def _check_benchmark(cfg: RunConfig, run_dir: Path) -> None:
    """Refuse to reuse a run folder scored under another benchmark (its languages and average
    differ, and a DONE cell would silently be skipped)."""
    path = run_dir / "results.json"
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
            board = Board(stage_dir / "tb" if dist.is_main else None)
            _, engine = train(cfg, dist, stage_dir, data, tokenizer, model_path, stage_dir / "model", board, heads_from)
            release_engine(engine)
            board.close()
            _done(cfg, stage_dir, dist)
        model_path = heads_from = str(stage_dir / "model")
    return model_path, heads_from


def run_target(cfg: RunConfig) -> Path:
    """Phase 3: fine-tune on the target task's English data (after its stages, if any), then
    evaluate zero-shot."""
    dist = init_distributed(cfg.train.collective_timeout_minutes)
    spec = configured_task(cfg, cfg.target, dist)
    languages = target_languages(cfg, spec)
    stages = target_stages(cfg, spec, dist)
    if stages and spec.family == "retrieval":
        raise ConfigError(f"target={spec.name!r} is evaluated without training: it takes no target_stages")
    run_dir = target_dir(cfg)
    _check_benchmark(cfg, run_dir)
    if not _start(cfg, run_dir, dist, "target"):
        return run_dir
    start = encoder_for_target(cfg)
    model_path = dist.broadcast_object(resolve_model_path(start) if dist.is_main else None)
    if spec.family == "retrieval":  # BUCC, Tatoeba: no training data; the encoder is scored as is
        _save_config(cfg, run_dir, dist)
        retrieval(cfg, spec, languages, model_path, dist, run_dir)
        _done(cfg, run_dir, dist)
        return run_dir
    tokenizer = load_tokenizer(model_path, cfg.model.revision, cfg.model.trust_remote_code)
    source = configured_task(cfg, spec.train_task, dist) if spec.train_task else spec
    # Every stage's data loads before the run folder appears (bad data leaves nothing behind).
    stage_data = []
    for k, stage in enumerate(stages, 1):
        stage_dir = run_dir / "stages" / f"{k}-{stage.name}"
        done = (stage_dir / "DONE").exists()
        stage_data.append((stage_dir, None if done else _phase_data(cfg, spec, stage, tokenizer, dist)))
    data = _phase_data(cfg, spec, source, tokenizer, dist)
    _save_config(cfg, run_dir, dist)
    model_path, heads_from = _train_stages(cfg, spec, stage_data, model_path, tokenizer, dist)
    board = Board(run_dir / "tb" if dist.is_main else None)
    state, engine = train(cfg, dist, run_dir, data, tokenizer, model_path, run_dir / "model", board, heads_from)
    results = zero_shot(cfg, spec, languages, engine, tokenizer, dist, run_dir, board, run_dir / "model",
                        model_params(engine))
    release_engine(engine)
    board.hparams(_hparams(cfg), {"hparam/score": results["score"]})
    board.close()
    _done(cfg, run_dir, dist)
    return run_dir


def run_evaluate(cfg: RunConfig) -> Path:
    """Re-score a finished target run's `model/` zero-shot (e.g. on more languages)."""
    dist = init_distributed(cfg.train.collective_timeout_minutes)
    spec = configured_task(cfg, cfg.target, dist)
    languages = target_languages(cfg, spec)
    run_dir = target_dir(cfg)
    _check_benchmark(cfg, run_dir)
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
    zero_shot(cfg, spec, languages, engine, tokenizer, dist, run_dir, board, model_dir, model_params(engine))
    release_engine(engine)
    board.close()
    return run_dir


def model_params(engine) -> dict[str, int]:
    """Parameter counts of the trained model (backbone + heads) of a DeepSpeed engine.

    Under ZeRO-3 each rank holds shards; the counts come from the full sizes DeepSpeed records.
    """
    return parameter_counts(engine.module.encoder, engine.module.heads)


def zero_shot(cfg: RunConfig, spec: TaskSpec, languages, engine, tokenizer, dist: Dist,
              run_dir: Path, board: Board, model_dir: Path, params: dict[str, int]) -> dict:
    """Evaluate every language; write predictions, gold files, scalars and results.json.

    With eval.efficiency, rank 0 then times the exported model in `model_dir` on the same
    evaluation features (the other ranks wait) and results.json records it.
    """
    per_lang, features = {}, {}
    for lang in languages:
        evalset = _eval_set(cfg, spec, spec, cfg.eval.split, lang, tokenizer, dist)
        result = evaluate_set(engine, evalset, cfg.eval.batch_size, tokenizer.pad_token_id, dist)
        per_lang[lang] = result.metrics
        features[lang] = evalset.features
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
    results = _results(cfg, spec, per_lang, dist, params)
    if dist.is_main:
        if cfg.eval.efficiency:
            model = efficiency.load_served_model(model_dir, spec)
            record = efficiency.measure_model(model, spec, features, tokenizer.pad_token_id,
                                              _efficiency_settings(cfg, dist))
            _record_efficiency(results, record, board)
        _write_results(results, run_dir, board)
    dist.barrier()
    return results


def _efficiency_settings(cfg: RunConfig, dist: Dist) -> efficiency.Settings:
    return efficiency.Settings(
        examples=cfg.eval.efficiency_examples, warmup=cfg.eval.efficiency_warmup,
        batch_size=cfg.eval.batch_size, device=dist.device,
        dtype=efficiency.inference_dtype(cfg.train.precision, dist.device),
    )


def _record_efficiency(results: dict, record: dict, board: Board) -> None:
    """Put an efficiency record into results, TensorBoard and the log (rank 0)."""
    results["efficiency"] = record
    for tag, value in efficiency.scalars(results["task"], record).items():
        board.scalar(tag, value, 0)
    print(efficiency.summary(results["task"], record), flush=True)


def _results(cfg: RunConfig, spec: TaskSpec, per_lang: dict, dist: Dist, params: dict[str, int]) -> dict:
    """The results.json record: per-language metrics, their mean and the task score, both over
    the benchmark's languages for the task (`benchmark` names it), plus what the research axes
    compare on (grid variant, domain corpora, batch size and learning rate) and the parameter
    counts of the model that was scored (see toolkit.models.params)."""
    average, score = summarise(spec.xtreme_id, per_lang, cfg.benchmark)
    results = {
        "task": spec.name, "approach": cfg.approach, "intermediate": intermediate_name(cfg),
        "variant": dict(cfg.variant), "seed": cfg.seed, "benchmark": cfg.benchmark, "metrics": per_lang,
        "average": average,
        "score": score, "params": params,
    }
    if get_approach(cfg.approach).has_intermediate:
        used = {n for stage in stages.stages(cfg) for n in stage}
        results["corpora"] = [{"name": c.name, "domain": c.domain, "use": c.use, "share": c.share}
                              for c in corpora.corpora_of(cfg).values() if c.name in used]
    if spec.family != "retrieval":
        total, _, _ = resolve_batch(cfg.train, dist.world_size)
        results["training"] = {"train_batch_size": total,
                               "learning_rate": effective_learning_rate(cfg.train, total),
                               "lr_scaling": cfg.train.lr_scaling}
    return results


def _write_results(results: dict, run_dir: Path, board: Board) -> None:
    board.scalar(f"eval/{results['task']}/score", results["score"], 0)
    write_json_atomic(run_dir / "results.json", results)
    print(f"{results['task']} score: {results['score']:.2f}", flush=True)


def retrieval(cfg: RunConfig, spec: TaskSpec, languages, model_path: str, dist: Dist, run_dir: Path) -> dict:
    """BUCC/Tatoeba on an encoder without fine-tuning: mean-pooled middle layer, nearest neighbours.

    Rank 0 does the work on one device (inference of even XLM-R XL fits one GPU); the other
    ranks wait, so the command behaves the same under any launcher.
    """
    from toolkit.evaluation.retrieval import default_layer, evaluate_retrieval
    from toolkit.models.encoder import load_encoder, unpartitioned

    results = None
    if dist.is_main:
        tokenizer = load_tokenizer(model_path, cfg.model.revision, cfg.model.trust_remote_code)
        with unpartitioned():  # rank 0 alone loads it
            encoder = load_encoder(model_path, cfg.model.revision, cfg.model.trust_remote_code).to(dist.device)
        data_dir = str(Path(cfg.data.data_dir) / spec.name) if cfg.data.data_dir else None
        per_lang = evaluate_retrieval(
            spec.name, encoder, tokenizer, languages, data_dir, cfg.eval.retrieval_layer, run_dir,
            batch_size=cfg.eval.batch_size, max_length=cfg.model.max_seq_length,
            max_examples=cfg.data.max_eval_examples, benchmark=cfg.benchmark,
        )
        board = Board(run_dir / "tb")
        for lang, metrics in per_lang.items():
            for metric, value in metrics.items():
                board.scalar(f"eval/{spec.name}/{lang}/{metric}", value, 0)
        results = _results(cfg, spec, per_lang, dist, parameter_counts(encoder))
        if cfg.eval.efficiency:
            texts = _retrieval_texts(spec, languages, data_dir, cfg.data.max_eval_examples)
            layer = cfg.eval.retrieval_layer
            if layer is None:
                layer = default_layer(encoder.config.num_hidden_layers)
            record = efficiency.measure_encoder(encoder, tokenizer, texts, layer, cfg.model.max_seq_length,
                                                _efficiency_settings(cfg, dist))
            _record_efficiency(results, record, board)
        _write_results(results, run_dir, board)
        board.hparams(_hparams(cfg), {"hparam/score": results["score"]})
        board.close()
    dist.barrier()
    return dist.broadcast_object(results)


def _retrieval_texts(spec: TaskSpec, languages, data_dir: str | None, max_examples: int | None) -> dict:
    """Per language, the sentences its evaluation embedded (test sources and targets)."""
    from toolkit.tasks.base import LoadRequest
    from toolkit.tasks.retrieval_tasks import read_split

    texts = {}
    for lang in languages:
        split = read_split(spec, LoadRequest("test", lang, data_dir, max_examples))
        texts[lang] = [e.text for e in (*split.sources, *split.targets)]
    return texts
