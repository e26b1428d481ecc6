"""Scoring a phase's model and recording it: zero-shot evaluation in every language, XTREME's
submission files, TensorBoard scalars, inference cost, and the results.json record
(docs/contracts.md, "results.json")."""

from __future__ import annotations

from pathlib import Path

from toolkit.approaches.corpora import corpora_of
from toolkit.approaches.registry import get_approach
from toolkit.config.deepspeed import effective_learning_rate, resolve_batch
from toolkit.config.schema import RunConfig, to_dict
from toolkit.engine.board import Board, flatten_config
from toolkit.evaluation import efficiency, xtreme_format
from toolkit.evaluation.metrics import scoring_record, summarise
from toolkit.evaluation.retrieval import default_layer, evaluate_retrieval
from toolkit.evaluation.zero_shot import evaluate_set
from toolkit.families.registry import get_family
from toolkit.io import atomic_write_json
from toolkit.models.encoder import load_encoder, load_tokenizer, unpartitioned
from toolkit.models.params import parameter_counts
from toolkit.pipeline import run_dirs, stages
from toolkit.pipeline.inputs import eval_set, local_dir, selection_sets
from toolkit.runtime.distributed import Dist
from toolkit.tasks.provenance import run_provenance
from toolkit.tasks.records import LoadRequest, TaskSpec
from toolkit.tasks.retrieval import read_split


def hparams(cfg: RunConfig) -> dict:
    """The run config flattened for TensorBoard's hparams plugin (one row per run)."""
    return flatten_config(to_dict(cfg))


def model_params(engine) -> dict[str, int]:
    """Parameter counts of the trained model (backbone + heads) of a DeepSpeed engine.

    Under ZeRO-3 each rank holds shards; the counts come from the full sizes DeepSpeed records.
    """
    return parameter_counts(engine.module.encoder, engine.module.heads)


def _score_split(cfg: RunConfig, spec: TaskSpec, sets, engine, tokenizer, dist: Dist, folder: Path,
                 board: Board, tag: str) -> tuple[dict, dict]:
    """Score `sets` ((language, source spec, loader language, split) each); write predictions and
    gold under `folder` in XTREME's layout and `<tag>/<task>/<lang>/<metric>` scalars.
    Returns the metrics and the evaluation features by language."""
    per_lang, features = {}, {}
    for lang, source, load_lang, split in sets:
        evalset = eval_set(cfg, spec, source, split, load_lang, tokenizer, dist)
        result = evaluate_set(engine, evalset, cfg.eval.batch_size, tokenizer.pad_token_id, dist,
                              seqeval=cfg.eval.seqeval)
        per_lang[lang] = result.metrics
        features[lang] = evalset.features
        if dist.is_main:
            order = [e.id for e in evalset.examples]
            xtreme_format.write_predictions(run_dirs.predictions_dir(folder), spec.xtreme_id, lang,
                                            result.predictions, order)
            xtreme_format.write_gold(run_dirs.gold_dir(folder), spec.xtreme_id, lang,
                                     {i: result.golds[i] for i in order})
            for metric, value in result.metrics.items():
                board.scalar(f"{tag}/{spec.name}/{lang}/{metric}", value, 0)
            print(f"{spec.name} {split} {lang}: " + ", ".join(f"{k}={v:.2f}" for k, v in result.metrics.items()),
                  flush=True)
    return per_lang, features


def zero_shot(cfg: RunConfig, spec: TaskSpec, languages, engine, tokenizer, dist: Dist,
              run_dir: Path, board: Board, model_dir: Path, params: dict[str, int]) -> dict:
    """Score the trained model on the target's selection data and on test in one pass; write
    predictions, gold files, scalars and results.json.

    Selection data (`Target.selection`, unless eval.selection is off) goes to `<run>/dev/` and
    results.json `dev`; test to `<run>/predictions`, `<run>/gold` and results.json `metrics`.
    With eval.efficiency, rank 0 then times the exported model in `model_dir` on the test
    features (the other ranks wait) and results.json records it.
    """
    dev = None
    sets = selection_sets(cfg, spec, languages, dist)
    if sets:
        dev_lang, _ = _score_split(cfg, spec, sets, engine, tokenizer, dist, run_dirs.dev_dir(run_dir), board, "dev")
        dev = _dev_record(cfg, spec, dev_lang)
    test_sets = [(lang, spec, lang, cfg.eval.split) for lang in languages]
    per_lang, features = _score_split(cfg, spec, test_sets, engine, tokenizer, dist, run_dir, board, "eval")
    results = _results(cfg, spec, per_lang, dist, params, dev)
    if dist.is_main:
        if cfg.eval.efficiency:
            model = efficiency.load_served_model(model_dir, spec)
            record = efficiency.measure_model(model, spec, features, tokenizer.pad_token_id,
                                              _efficiency_settings(cfg, dist))
            _record_efficiency(results, record, board)
        _write_results(results, run_dir, board)
    dist.barrier()
    return results


def _dev_record(cfg: RunConfig, spec: TaskSpec, per_lang: dict) -> dict:
    """results.json `dev`: the selection data's metrics, their mean and score (same rules as test)."""
    selection = spec.target.selection
    average, score = summarise(spec.xtreme_id, per_lang, cfg.benchmark)
    return {"split": selection.split, "languages": selection.languages, "selection": selection.describe(),
            "metrics": per_lang, "average": average, "score": score}


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


def _results(cfg: RunConfig, spec: TaskSpec, per_lang: dict, dist: Dist, params: dict[str, int],
             dev: dict | None) -> dict:
    """The results.json record: per-language test metrics, their mean and the task score, both
    over the benchmark's languages for the task (`benchmark` names it; all None when the test
    gold is not available, e.g. BUCC's), the same for the selection data (`dev`, or None), plus
    what the research axes compare on (grid variant, domain corpora, batch size and learning
    rate) and the parameter counts of the model that was scored (see toolkit.models.params)."""
    scored = bool(per_lang)
    average, score = summarise(spec.xtreme_id, per_lang, cfg.benchmark) if scored else (None, None)
    results = {
        "task": spec.name, "approach": cfg.approach, "intermediate": run_dirs.intermediate_name(cfg),
        "variant": dict(cfg.variant), "seed": cfg.seed, "benchmark": cfg.benchmark, "metrics": per_lang,
        "average": average, "score": score,
        "test": {"split": cfg.eval.split, "scored": scored,
                 "note": "" if scored else "no test gold (not public): predictions/ is a submission to score elsewhere"},
        "dev": dev, "params": params,
        "scoring": scoring_record(spec.metric, cfg.eval.seqeval),
    }
    if get_approach(cfg.approach).has_intermediate:
        used = {n for stage in stages.stages(cfg) for n in stage}
        results["corpora"] = [{"name": c.name, "domain": c.domain, "use": c.use, "share": c.share}
                              for c in corpora_of(cfg).values() if c.name in used]
    if get_family(spec.family).trainable:
        total, _, _ = resolve_batch(cfg.train, dist.world_size)
        results["training"] = {"train_batch_size": total,
                               "learning_rate": effective_learning_rate(cfg.train, total),
                               "lr_scaling": cfg.train.lr_scaling}
    results["provenance"] = run_provenance(cfg.model.name_or_path, cfg.model.revision, cfg.data.data_dir)
    return results


def _write_results(results: dict, run_dir: Path, board: Board) -> None:
    task = results["task"]
    if results["score"] is not None:
        board.scalar(f"eval/{task}/score", results["score"], 0)
    if results["dev"]:
        board.scalar(f"dev/{task}/score", results["dev"]["score"], 0)
    atomic_write_json(run_dirs.results_path(run_dir), results)
    dev = f", dev {results['dev']['score']:.2f}" if results["dev"] else ""
    test = "not scored (no test gold)" if results["score"] is None else f"{results['score']:.2f}"
    print(f"{task} score: {test}{dev}", flush=True)


def score_metrics(results: dict) -> dict[str, float]:
    """The hparams plugin's metrics of a target run: test and dev scores (those it has)."""
    out = {}
    if results["score"] is not None:
        out["hparam/score"] = results["score"]
    if results["dev"]:
        out["hparam/dev_score"] = results["dev"]["score"]
    return out


def score_untrained(cfg: RunConfig, spec: TaskSpec, languages, model_path: str, dist: Dist, run_dir: Path) -> dict:
    """A target whose family is not trained (BUCC, Tatoeba: retrieval) scored on the encoder as it
    is: mean-pooled hidden states of one layer, nearest neighbours.

    Rank 0 does the work on one device (inference of even XLM-R XL fits one GPU); the other
    ranks wait, so the command behaves the same under any launcher.
    """
    results = None
    if dist.is_main:
        tokenizer = load_tokenizer(model_path, cfg.model.revision, cfg.model.trust_remote_code)
        with unpartitioned():  # rank 0 alone loads it
            encoder = load_encoder(model_path, cfg.model.revision, cfg.model.trust_remote_code).to(dist.device)
        data_dir = local_dir(cfg, spec)
        scores = evaluate_retrieval(
            spec.name, encoder, tokenizer, languages, data_dir, cfg.eval.retrieval_layer,
            run_dirs.predictions_dir(run_dir), run_dirs.gold_dir(run_dir),
            batch_size=cfg.eval.batch_size, max_length=cfg.model.max_seq_length,
            max_examples=cfg.data.max_eval_examples, benchmark=cfg.benchmark,
            dev_dir=run_dirs.dev_dir(run_dir) if cfg.eval.selection else None,
        )
        board = Board(run_dirs.board_dir(run_dir))
        for tag, split in (("eval", scores.test), ("dev", scores.dev)):
            for lang, metrics in split.items():
                for metric, value in metrics.items():
                    board.scalar(f"{tag}/{spec.name}/{lang}/{metric}", value, 0)
        dev = _dev_record(cfg, spec, scores.dev) if cfg.eval.selection and scores.dev else None
        results = _results(cfg, spec, scores.test, dist, parameter_counts(encoder), dev)
        if cfg.eval.efficiency:
            texts = _retrieval_texts(spec, languages, data_dir, cfg.data.max_eval_examples)
            layer = cfg.eval.retrieval_layer
            if layer is None:
                layer = default_layer(encoder.config.num_hidden_layers)
            record = efficiency.measure_encoder(encoder, tokenizer, texts, layer, cfg.model.max_seq_length,
                                                _efficiency_settings(cfg, dist))
            _record_efficiency(results, record, board)
        _write_results(results, run_dir, board)
        board.hparams(hparams(cfg), score_metrics(results))
        board.close()
    dist.barrier()
    return dist.broadcast_object(results)


def _retrieval_texts(spec: TaskSpec, languages, data_dir: str | None, max_examples: int | None) -> dict:
    """Per language, the sentences its evaluation embedded (test sources and targets)."""
    texts = {}
    for lang in languages:
        split = read_split(spec, LoadRequest("test", lang, data_dir, max_examples))
        texts[lang] = [e.text for e in (*split.sources, *split.targets)]
    return texts
