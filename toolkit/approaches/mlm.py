"""`mlm`: the English intermediate task(s) plus continued multilingual MLM in the same mix
(the paper's baseline i; the corpus is `baselines.mlm`), with a fixed share of the steps."""

from __future__ import annotations

from pathlib import Path

from baselines.mlm.corpus import MLM_LANGUAGES, mlm_task
from toolkit.approaches.base import Approach, ApproachData, features
from toolkit.approaches.english import build_english
from toolkit.config.schema import RunConfig
from toolkit.engine.trainer import PhaseData
from toolkit.errors import ConfigError
from toolkit.families.layout import layout
from toolkit.models.backbone import backbone_kind
from toolkit.models.encoder import resolve_model_path
from toolkit.runtime.distributed import Dist
from toolkit.tasks.records import LoadRequest, TaskSpec

MLM_TASK = "mlm"  # the name of the MLM task (and head) in the mix


def mlm_spec(cfg: RunConfig) -> TaskSpec:
    """The MLM TaskSpec of this run: its languages, alpha and per-language character budget."""
    args = cfg.approach_args
    return mlm_task(
        name=MLM_TASK, languages=tuple(args.mlm_languages or MLM_LANGUAGES), alpha=args.mlm_alpha,
        max_chars_per_language=args.mlm_max_chars_per_language,
    )


def mlm_token_counts(table, num_special: int) -> dict[str, int]:
    """Text tokens per language of MLM features (each window's length minus its specials)."""
    counts: dict[str, int] = {}
    for lang, length in zip(table.column("language"), table.column("length")):
        counts[lang] = counts.get(lang, 0) + int(length) - num_special
    return counts


def _require_masked_lm(cfg: RunConfig) -> None:
    """Refuse a causal decoder before the corpus is read and tokenised (the MLM head would)."""
    from transformers import AutoConfig  # heavy: transformers' model registry

    config = AutoConfig.from_pretrained(resolve_model_path(cfg.model.name_or_path), revision=cfg.model.revision,
                                        trust_remote_code=cfg.model.trust_remote_code)
    if not backbone_kind(config).masked_lm:
        raise ConfigError(
            f"approach=mlm adds masked language modelling, which needs a bidirectional encoder; "
            f"model.name_or_path={cfg.model.name_or_path} is a causal decoder ({config.model_type})"
        )


def build_mlm(cfg: RunConfig, specs: dict, tokenizer, dist: Dist) -> ApproachData:
    """English intermediate task(s) plus the MLM task, which gets `mlm_share` of the steps.

    The corpus is read on every rank (local files, or a seeded Hub stream: the same texts
    everywhere), as the feature cache is keyed by the examples themselves. MLM has no
    validation set here: model selection stays on the English dev sets, as for `english`.
    """
    _require_masked_lm(cfg)
    english = build_english(cfg, specs, tokenizer, dist).data
    spec = mlm_spec(cfg)
    corpus = cfg.approach_args.mlm_corpus
    texts = spec.loader(spec, LoadRequest("train", None, None if corpus == "hub" else corpus,
                                          cfg.data.max_train_examples))
    mlm_features = features(cfg, spec, texts, tokenizer, dist)
    counts = mlm_token_counts(mlm_features, layout(tokenizer).special_count())
    if dist.is_main:
        print("mlm corpus: " + ", ".join(f"{lang} {n:,} tokens" for lang, n in sorted(counts.items())),
              flush=True)
    data = PhaseData(
        specs={**english.specs, MLM_TASK: spec},
        train={**english.train, MLM_TASK: mlm_features},
        validation=english.validation,
        shares={MLM_TASK: cfg.approach_args.mlm_share},
    )
    return ApproachData(data, {f"data/mlm/{lang}/tokens": float(n) for lang, n in counts.items()})


def check_mlm(cfg: RunConfig, tasks: list[str]) -> None:
    """The mlm options: a share in (0, 1), alpha >= 0, a Hub or folder corpus."""
    args = cfg.approach_args
    if not 0 < args.mlm_share < 1:
        raise ConfigError(f"approach_args.mlm_share must be in (0, 1), got {args.mlm_share}")
    if args.mlm_alpha < 0:
        raise ConfigError(f"approach_args.mlm_alpha must be >= 0, got {args.mlm_alpha}")
    if args.mlm_max_chars_per_language < 1:
        raise ConfigError(
            f"approach_args.mlm_max_chars_per_language must be >= 1, got {args.mlm_max_chars_per_language}"
        )
    if args.mlm_languages is not None and not args.mlm_languages:
        raise ConfigError("approach_args.mlm_languages is empty: give languages, or leave it unset for all")
    if args.mlm_corpus != "hub" and not Path(args.mlm_corpus).is_dir():
        raise ConfigError(
            f"approach_args.mlm_corpus={args.mlm_corpus!r} is neither 'hub' nor a folder "
            "(a local corpus is a folder of <lang>.txt files, one document per line)"
        )


MLM = Approach("mlm", "English intermediate task(s) plus continued multilingual MLM in the mix", check_mlm, build_mlm)
