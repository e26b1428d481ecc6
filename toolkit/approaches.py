"""The intermediate-phase approaches: what each one feeds the one training engine.

The paper compares four ways to get the encoder that the (shared) target phase starts from.
They differ only in the data of the intermediate phase, so an approach is a small record:
its config-time checks, the suffix it adds to the run folder name, and `build`, which turns
(cfg, specs, tokenizer, dist) into the `PhaseData` that `engine.trainer.train` consumes.

- `english`: the intermediate task(s) on their English training data.
- `mlm`: the same, plus continued multilingual MLM (`baselines.mlm`) as one more task of the
  multi-task mix, with a fixed share of the optimizer steps (`approach_args.mlm_share`).
- `translated`: the intermediate task(s)' English training data machine-translated into
  `approach_args.translate_languages` (`baselines.translate`), alone or mixed with English.
- `none`: no intermediate phase; the target phase starts from the pretrained encoder.

Validation is always the English dev set of the intermediate task(s), so model selection is
the same for every approach. This module imports nothing heavy at import time: `config`
reads the approach names from it before DeepSpeed or torch are loaded.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from toolkit.errors import ConfigError, DataError
from toolkit.tasks.base import get_task, nearest

if TYPE_CHECKING:
    from toolkit.config import RunConfig
    from toolkit.engine.distributed import Dist
    from toolkit.engine.trainer import PhaseData
    from toolkit.tasks.base import TaskSpec

log = logging.getLogger(__name__)

MLM_TASK = "mlm"  # the name of the MLM task (and head) in the mix
TRANSLATABLE_FAMILIES = ("pair_classification", "multiple_choice", "span_qa")
TRANSLATE_BACKENDS = ("apertium", "nllb", "provided")
# Intermediate task -> the XTREME translate-train set that holds its translations.
PROVIDED_SETS = {"mnli": "xnli", "squad": "squad"}
_POLL_SECONDS = 2.0


@dataclass
class ApproachData:
    """What an approach's `build` returns: the phase's data, plus data statistics to log once
    (TensorBoard scalars at step 0, e.g. `data/mlm/<lang>/tokens`)."""

    data: "PhaseData"
    scalars: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Approach:
    """One approach. `build` is None exactly when the approach has no intermediate phase."""

    name: str
    description: str
    check: Callable[["RunConfig"], None]  # config-time checks: no data, no model
    build: Callable[["RunConfig", dict, Any, "Dist"], ApproachData] | None
    suffix: Callable[["RunConfig"], str] = lambda cfg: ""  # appended to the <intermediate> folder

    @property
    def has_intermediate(self) -> bool:
        return self.build is not None


# ---------------------------------------------------------------------------------------------
# Shared pieces: English data, features.
# ---------------------------------------------------------------------------------------------


def task_names(cfg: "RunConfig") -> list[str]:
    """The registered intermediate tasks of every stage of `cfg` (its domain corpora left out)."""
    from toolkit import stages

    return stages.task_names(cfg)


def _features(cfg: "RunConfig", spec: "TaskSpec", examples, tokenizer, dist: "Dist"):
    from toolkit.data.features import cache_root, featurize_cached

    return featurize_cached(
        spec, examples, tokenizer, cfg.model.max_seq_length, cache_root(cfg.data.cache_dir),
        rank=dist.rank, barrier=dist.barrier,
    )


def _english(cfg: "RunConfig", spec: "TaskSpec", split: str) -> list:
    from toolkit.data.features import load_examples

    cap = cfg.data.max_train_examples if split == "train" else cfg.data.max_eval_examples
    return load_examples(spec, split, None, cfg.data.data_dir, cap)


def english_validation(cfg: "RunConfig", specs: dict, tokenizer, dist: "Dist") -> dict:
    """Every task's English dev set: the model-selection data of every approach."""
    from toolkit.evaluation.zero_shot import EvalSet

    out = {}
    for name, spec in specs.items():
        examples = _english(cfg, spec, "validation")
        out[name] = EvalSet(spec, "en", examples, _features(cfg, spec, examples, tokenizer, dist))
    return out


def build_english(cfg: "RunConfig", specs: dict, tokenizer, dist: "Dist") -> ApproachData:
    """The intermediate task(s) on their English training data."""
    from toolkit.engine.trainer import PhaseData

    train = {n: _features(cfg, s, _english(cfg, s, "train"), tokenizer, dist) for n, s in specs.items()}
    return ApproachData(PhaseData(specs, train, english_validation(cfg, specs, tokenizer, dist)))


def _check_english(cfg: "RunConfig") -> None:
    task_names(cfg)  # unknown task names fail here, naming the nearest ones


# ---------------------------------------------------------------------------------------------
# mlm.
# ---------------------------------------------------------------------------------------------


def mlm_spec(cfg: "RunConfig") -> "TaskSpec":
    """The MLM TaskSpec of this run: its languages, alpha and per-language character budget."""
    from baselines.mlm.corpus import MLM_LANGUAGES, mlm_task

    args = cfg.approach_args
    return mlm_task(
        name=MLM_TASK, languages=tuple(args.mlm_languages or MLM_LANGUAGES), alpha=args.mlm_alpha,
        max_chars_per_language=args.mlm_max_chars_per_language,
    )


def mlm_token_counts(features, num_special: int) -> dict[str, int]:
    """Text tokens per language of MLM features (each window's length minus its specials)."""
    counts: dict[str, int] = {}
    for lang, length in zip(features.column("language"), features.column("length")):
        counts[lang] = counts.get(lang, 0) + int(length) - num_special
    return counts


def _require_masked_lm(cfg: "RunConfig") -> None:
    """Refuse a causal decoder before the corpus is read and tokenised (the MLM head would)."""
    from transformers import AutoConfig

    from toolkit.models.backbone import backbone_kind
    from toolkit.models.encoder import resolve_model_path

    config = AutoConfig.from_pretrained(resolve_model_path(cfg.model.name_or_path), revision=cfg.model.revision,
                                        trust_remote_code=cfg.model.trust_remote_code)
    if not backbone_kind(config).masked_lm:
        raise ConfigError(
            f"approach=mlm adds masked language modelling, which needs a bidirectional encoder; "
            f"model.name_or_path={cfg.model.name_or_path} is a causal decoder ({config.model_type})"
        )


def build_mlm(cfg: "RunConfig", specs: dict, tokenizer, dist: "Dist") -> ApproachData:
    """English intermediate task(s) plus the MLM task, which gets `mlm_share` of the steps.

    The corpus is read on every rank (local files, or a seeded Hub stream: the same texts
    everywhere), as the feature cache is keyed by the examples themselves. MLM has no
    validation set here: model selection stays on the English dev sets, as for `english`.
    """
    from toolkit.engine.trainer import PhaseData
    from toolkit.families.layout import layout
    from toolkit.tasks.base import LoadRequest

    _require_masked_lm(cfg)
    english = build_english(cfg, specs, tokenizer, dist).data
    spec = mlm_spec(cfg)
    corpus = cfg.approach_args.mlm_corpus
    texts = spec.loader(spec, LoadRequest("train", None, None if corpus == "hub" else corpus,
                                          cfg.data.max_train_examples))
    features = _features(cfg, spec, texts, tokenizer, dist)
    counts = mlm_token_counts(features, layout(tokenizer).special_count())
    if dist.is_main:
        print("mlm corpus: " + ", ".join(f"{lang} {n:,} tokens" for lang, n in sorted(counts.items())),
              flush=True)
    data = PhaseData(
        specs={**english.specs, MLM_TASK: spec},
        train={**english.train, MLM_TASK: features},
        validation=english.validation,
        shares={MLM_TASK: cfg.approach_args.mlm_share},
    )
    return ApproachData(data, {f"data/mlm/{lang}/tokens": float(n) for lang, n in counts.items()})


def _check_mlm(cfg: "RunConfig") -> None:
    if MLM_TASK in task_names(cfg):
        raise ConfigError(
            f"intermediate={cfg.intermediate!r}: approach=mlm adds the {MLM_TASK!r} task itself; "
            "list only the English intermediate task(s)"
        )
    _check_english(cfg)
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


# ---------------------------------------------------------------------------------------------
# translated.
# ---------------------------------------------------------------------------------------------


def translated_suffix(cfg: "RunConfig") -> str:
    """'-tr.<langs>': target languages sorted and '+'-joined, 'en+' first when mixed with English."""
    args = cfg.approach_args
    langs = (["en"] if args.translate_mix else []) + sorted(args.translate_languages)
    return "-tr." + "+".join(langs)


def _cache_dir(cfg: "RunConfig") -> Path:
    from toolkit.data.features import cache_root

    return cache_root(cfg.data.cache_dir) / "translations"


def _make_backend(cfg: "RunConfig", dist: "Dist"):
    from baselines.translate import make_backend

    args = cfg.approach_args
    if args.translate_backend == "nllb":
        options = {"device": str(dist.device)}
        if args.translate_model:
            options["model"] = args.translate_model
        return make_backend("nllb", **options)
    return make_backend(args.translate_backend)


def _wait_for(path: Path, failed: Path) -> None:
    """Wait (without a collective, which times out) until rank 0 wrote `path` or `failed`."""
    while not path.exists():
        if failed.exists():
            raise DataError(f"rank 0 could not translate: {failed.read_text(encoding='utf-8')}")
        time.sleep(_POLL_SECONDS)


def translate_task(cfg: "RunConfig", spec: "TaskSpec", english: list, lang: str, dist: "Dist"):
    """`english` translated into `lang` by the configured backend: (examples, stats dict).

    Rank 0 translates (resumable through the sentence cache) and writes a JSONL file named by
    the task, language, backend and a hash of the English input; the other ranks wait for it
    and read the same file. A file that exists already is reused as it is. Translation can
    take hours, beyond a collective's timeout, so the others poll the file system.
    """
    import json

    from baselines.translate import read_examples_jsonl, translate_examples
    from toolkit.data.features import examples_fingerprint

    args = cfg.approach_args
    key = hashlib.sha256(
        f"{args.translate_backend}|{args.translate_model}|{examples_fingerprint(english)}".encode()
    ).hexdigest()[:16]
    out = _cache_dir(cfg) / f"{spec.name}.{lang}.{args.translate_backend}.{key}.jsonl"
    stats_path = out.with_name(out.stem + ".stats.json")  # translate_examples writes it last
    failed = out.with_name(out.name + ".failed")
    if dist.is_main:
        failed.unlink(missing_ok=True)  # a failure of an earlier attempt
    dist.barrier()
    if dist.is_main and not stats_path.exists():
        try:
            cache = Path(args.translate_cache) if args.translate_cache else _cache_dir(cfg) / "cache.sqlite"
            translate_examples(english, _make_backend(cfg, dist), lang, cache, output_path=out)
        except Exception as err:
            failed.parent.mkdir(parents=True, exist_ok=True)
            failed.write_text(f"{spec.name} -> {lang}: {err}", encoding="utf-8")
            raise
    _wait_for(stats_path, failed)
    dist.barrier()
    return list(read_examples_jsonl(out)), json.loads(stats_path.read_text(encoding="utf-8"))


def provided_task(cfg: "RunConfig", spec: "TaskSpec", lang: str):
    """XTREME's own translate-train examples of `spec` in `lang` (every rank reads the file)."""
    from baselines.translate import load_provided

    examples, stats = load_provided(
        cfg.approach_args.translate_provided_dir, PROVIDED_SETS[spec.name], lang, spec.labels,
        cfg.data.max_train_examples,
    )
    return examples, {"examples_in": stats.examples + len(stats.dropped_ids),
                      "examples_out": stats.examples, "dropped": len(stats.dropped_ids)}


def build_translated(cfg: "RunConfig", specs: dict, tokenizer, dist: "Dist") -> ApproachData:
    """Each task trained on its translations (plus the English data with `translate_mix`).

    The translated examples keep the task's name and head; their ids carry `@<lang>`, so
    English and translated examples of one task mix in one training set.
    """
    from toolkit.engine.trainer import PhaseData

    args = cfg.approach_args
    train, scalars = {}, {}
    for name, spec in specs.items():
        english = _english(cfg, spec, "train")
        examples = list(english) if args.translate_mix else []
        for lang in args.translate_languages:
            if args.translate_backend == "provided":
                translated, stats = provided_task(cfg, spec, lang)
            else:
                translated, stats = translate_task(cfg, spec, english, lang, dist)
            if not translated:
                raise DataError(f"{name}: no example survived translation into {lang} ({stats})")
            examples += translated
            logged = ["examples_out", "dropped"] + (["span_recovery_rate"] if stats.get("qa_with_answer") else [])
            for k in logged:
                scalars[f"data/translated/{name}/{lang}/{k}"] = float(stats[k])
            if dist.is_main:
                print(f"translated {name} -> {lang} ({args.translate_backend}): "
                      f"{stats['examples_out']} of {stats['examples_in']} examples kept", flush=True)
        train[name] = _features(cfg, spec, examples, tokenizer, dist)
    return ApproachData(PhaseData(specs, train, english_validation(cfg, specs, tokenizer, dist)), scalars)


def _check_translated(cfg: "RunConfig") -> None:
    args = cfg.approach_args
    langs = list(args.translate_languages)
    if not langs:
        raise ConfigError("approach=translated needs approach_args.translate_languages (e.g. es or de,es)")
    if "en" in langs or len(set(langs)) != len(langs):
        raise ConfigError(
            f"approach_args.translate_languages={langs}: give distinct non-English languages "
            "(the English data is added with approach_args.translate_mix=true)"
        )
    if args.translate_backend not in TRANSLATE_BACKENDS:
        raise ConfigError(
            f"approach_args.translate_backend={args.translate_backend!r} is not one of "
            f"{', '.join(TRANSLATE_BACKENDS)}{nearest(args.translate_backend, TRANSLATE_BACKENDS)}"
        )
    for name in task_names(cfg):
        family = get_task(name).family
        if family not in TRANSLATABLE_FAMILIES:
            raise ConfigError(
                f"approach=translated cannot use intermediate task {name!r}: it is a {family} task, "
                "and machine translation does not keep token-level tags aligned; translatable "
                f"families: {', '.join(TRANSLATABLE_FAMILIES)}"
            )
        if args.translate_backend == "provided" and name not in PROVIDED_SETS:
            raise ConfigError(
                f"translate_backend=provided: XTREME ships translations for {', '.join(PROVIDED_SETS)} "
                f"only, not {name!r}; use apertium or nllb"
            )
    if args.translate_backend == "provided" and not args.translate_provided_dir:
        raise ConfigError("translate_backend=provided needs approach_args.translate_provided_dir")


# ---------------------------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------------------------

APPROACH_LIST = (
    Approach("english", "fine-tune on the English intermediate task(s)", _check_english, build_english),
    Approach("mlm", "English intermediate task(s) plus continued multilingual MLM in the mix",
             _check_mlm, build_mlm),
    Approach("translated", "the intermediate task(s)' training data machine-translated",
             _check_translated, build_translated, translated_suffix),
    Approach("none", "no intermediate phase: the target phase starts from the pretrained encoder",
             lambda cfg: None, None),
)
APPROACHES = {a.name: a for a in APPROACH_LIST}


def get_approach(name: str) -> Approach:
    """The approach called `name`; an unknown name is a ConfigError naming the nearest ones."""
    if name not in APPROACHES:
        raise ConfigError(
            f"approach={name!r} is not one of {', '.join(APPROACHES)}{nearest(name, list(APPROACHES))}"
        )
    return APPROACHES[name]
