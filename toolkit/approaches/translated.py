"""`translated`: the intermediate task(s)' English training data machine-translated into
`approach_args.translate_languages` (the paper's baseline ii; backends in `baselines.translate`),
alone or mixed with the English data."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from baselines.translate import load_provided, make_backend, read_examples_jsonl, translate_examples
from toolkit.approaches.base import Approach, ApproachData, english_examples, english_validation, features
from toolkit.config.schema import RunConfig
from toolkit.data.features import cache_root, examples_fingerprint
from toolkit.engine.trainer import PhaseData
from toolkit.errors import ConfigError, DataError, nearest
from toolkit.families.registry import FAMILIES, get_family
from toolkit.runtime.distributed import Dist
from toolkit.tasks.records import TaskSpec
from toolkit.tasks.registry import get_task

TRANSLATE_BACKENDS = ("apertium", "nllb", "provided")
# Intermediate task -> the XTREME translate-train set that holds its translations.
PROVIDED_SETS = {"mnli": "xnli", "squad": "squad"}
_POLL_SECONDS = 2.0
TRANSLATED_MARK = "-tr."  # starts the folder-name suffix of the translated languages


def translatable_families() -> list[str]:
    """The families whose examples survive machine translation (their records say so)."""
    return [name for name, family in FAMILIES.items() if family.translatable]


def translated_suffix(cfg: RunConfig) -> str:
    """'-tr.<langs>': target languages sorted and '+'-joined, 'en+' first when mixed with English."""
    args = cfg.approach_args
    langs = (["en"] if args.translate_mix else []) + sorted(args.translate_languages)
    return TRANSLATED_MARK + "+".join(langs)


def _cache_dir(cfg: RunConfig) -> Path:
    return cache_root(cfg.data.cache_dir) / "translations"


def _make_backend(cfg: RunConfig, dist: Dist):
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


def translate_task(cfg: RunConfig, spec: TaskSpec, english: list, lang: str, dist: Dist):
    """`english` translated into `lang` by the configured backend: (examples, stats dict).

    Rank 0 translates (resumable through the sentence cache) and writes a JSONL file named by
    the task, language, backend and a hash of the English input; the other ranks wait for it
    and read the same file. A file that exists already is reused as it is. Translation can
    take hours, beyond a collective's timeout, so the others poll the file system.
    """
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


def provided_task(cfg: RunConfig, spec: TaskSpec, lang: str):
    """XTREME's own translate-train examples of `spec` in `lang` (every rank reads the file)."""
    examples, stats = load_provided(
        cfg.approach_args.translate_provided_dir, PROVIDED_SETS[spec.name], lang, spec.labels,
        cfg.data.max_train_examples,
    )
    return examples, {"examples_in": stats.examples + len(stats.dropped_ids),
                      "examples_out": stats.examples, "dropped": len(stats.dropped_ids)}


def build_translated(cfg: RunConfig, specs: dict, tokenizer, dist: Dist) -> ApproachData:
    """Each task trained on its translations (plus the English data with `translate_mix`).

    The translated examples keep the task's name and head; their ids carry `@<lang>`, so
    English and translated examples of one task mix in one training set.
    """
    args = cfg.approach_args
    train, scalars = {}, {}
    for name, spec in specs.items():
        english = english_examples(cfg, spec, "train")
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
        train[name] = features(cfg, spec, examples, tokenizer, dist)
    return ApproachData(PhaseData(specs, train, english_validation(cfg, specs, tokenizer, dist)), scalars)


def check_translated(cfg: RunConfig, tasks: list[str]) -> None:
    """Distinct non-English languages, a known backend, and translatable tasks."""
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
    for name in tasks:
        family = get_task(name).family
        if not get_family(family).translatable:
            raise ConfigError(
                f"approach=translated cannot use intermediate task {name!r}: it is a {family} task, "
                "and machine translation does not keep token-level tags aligned; translatable "
                f"families: {', '.join(translatable_families())}"
            )
        if args.translate_backend == "provided" and name not in PROVIDED_SETS:
            raise ConfigError(
                f"translate_backend=provided: XTREME ships translations for {', '.join(PROVIDED_SETS)} "
                f"only, not {name!r}; use apertium or nllb"
            )
    if args.translate_backend == "provided" and not args.translate_provided_dir:
        raise ConfigError("translate_backend=provided needs approach_args.translate_provided_dir")


TRANSLATED = Approach("translated", "the intermediate task(s)' training data machine-translated",
                      check_translated, build_translated, translated_suffix)
