"""What a phase reads: the run's task specs, their examples and features, evaluation sets, the
languages a target is scored in and the English stages it trains on first."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from toolkit.approaches.base import features
from toolkit.approaches.registry import get_approach
from toolkit.config.schema import RunConfig
from toolkit.data.features import load_examples
from toolkit.engine.trainer import PhaseData
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation.zero_shot import EvalSet
from toolkit.families.registry import get_family
from toolkit.hub import HubSource
from toolkit.pipeline import stages as chain
from toolkit.runtime.distributed import Dist
from toolkit.tasks.benchmarks import check_languages, evaluation_languages
from toolkit.tasks.records import TaskSpec
from toolkit.tasks.registry import get_task, sources_of


def local_dir(cfg: RunConfig, spec: TaskSpec) -> str | None:
    """The task's local data folder (<data_dir>/<task>), or None to read the Hub."""
    return str(Path(cfg.data.data_dir) / spec.name) if cfg.data.data_dir else None


def run_spec(cfg: RunConfig, name: str) -> TaskSpec:
    """The registered spec with the run's settings that need no data: what its family takes from
    the model settings (QA window stride) and its pinned Hub revision (`data.hub_revisions`)."""
    spec = get_task(name)
    settings = get_family(spec.family).run_settings(cfg.model)
    if name in cfg.data.hub_revisions:
        settings = {**settings, "hub_revision": str(cfg.data.hub_revisions[name])}
    if settings:
        spec = dataclasses.replace(spec, extra={**spec.extra, **settings})
    return spec


def configured_task(cfg: RunConfig, name: str, dist: Dist) -> TaskSpec:
    """`run_spec`, plus labels derived from its data (CCG supertags)."""
    spec = run_spec(cfg, name)
    if spec.setup is not None:
        local = local_dir(cfg, spec)
        if dist.is_main:  # rank 0 may write a derived file (CCG's supertags.txt); others read it
            spec = spec.setup(spec, local)
        dist.barrier()
        if not dist.is_main:
            spec = spec.setup(spec, local)
    return spec


def eval_set(cfg: RunConfig, spec: TaskSpec, source: TaskSpec, split: str, lang: str | None,
             tokenizer, dist: Dist) -> EvalSet:
    """Examples of `source` scored with the head and metric of `spec` (they share labels)."""
    examples = load_examples(source, split, lang, cfg.data.data_dir, cfg.data.max_eval_examples)
    return EvalSet(spec, lang or "en", examples, features(cfg, spec, examples, tokenizer, dist))


def selection_sets(cfg: RunConfig, spec: TaskSpec, languages,
                   dist: Dist | None = None) -> list[tuple[str, TaskSpec, str | None, str]]:
    """What a target's selection data is, as (language, source spec, loader language, split):
    each evaluated language's dev set (less those without one, or `eval.selection_languages`),
    or English dev of the task the target trains on; empty when the target has no dev set or
    eval.selection is off. With `dist`, specs are configured for the run; without, as registered."""
    selection = spec.target.selection
    if selection.split is None or not cfg.eval.selection:
        return []
    if selection.languages == "english":
        source = spec
        if spec.train_task:
            source = configured_task(cfg, spec.train_task, dist) if dist is not None else get_task(spec.train_task)
        return [("en", source, None, selection.split)]  # as phase_data validates on it
    chosen = cfg.eval.selection_languages
    if chosen is None:
        chosen = [lang for lang in languages if lang not in selection.without_dev]
    else:
        check_languages(spec.xtreme_id, chosen, cfg.benchmark)
        lacking = [lang for lang in chosen if lang in selection.without_dev]
        if lacking:
            raise ConfigError(f"eval.selection_languages: {spec.name} has no dev set in {', '.join(lacking)}")
    return [(lang, spec, lang, selection.split) for lang in chosen]


def phase_data(cfg: RunConfig, spec: TaskSpec, source: TaskSpec, tokenizer, dist: Dist) -> PhaseData:
    """English training data of `source` under the head of `spec`, selected on `source`'s dev set
    (MNLI dev for XNLI, as in XTREME)."""
    examples = load_examples(source, "train", None, cfg.data.data_dir, cfg.data.max_train_examples)
    return PhaseData(
        specs={spec.name: spec},
        train={spec.name: features(cfg, spec, examples, tokenizer, dist)},
        validation={spec.name: eval_set(cfg, spec, source, "validation", None, tokenizer, dist)},
    )


def target_languages(cfg: RunConfig, spec: TaskSpec) -> tuple[str, ...]:
    """The languages a target is evaluated in: `eval.languages`, else the benchmark's list."""
    if spec.target is None:
        raise ConfigError(f"target: {spec.name!r} is not an XTREME target task (of XTREME or XTREME-R)")
    langs = cfg.eval.languages or evaluation_languages(spec.xtreme_id, cfg.benchmark)
    return check_languages(spec.xtreme_id, langs, cfg.benchmark)


def target_stages(cfg: RunConfig, spec: TaskSpec, dist: Dist | None = None) -> list[TaskSpec]:
    """The English tasks the target phase fine-tunes on before the target's own training set:
    `target_stages` of the config, else the target's recipe (`Target.train_stages`).

    A stage trains the target's own head (XTREME-R carries its SocialIQA head over to COPA),
    so it must be of the target's family and, where the family has labels, share them; a
    target that is not trained (retrieval) takes none. With `dist`, specs are configured for the
    run (data-derived labels); without, as registered.
    """
    names = spec.train_stages if cfg.target_stages is None else cfg.target_stages
    if names and not get_family(spec.family).trainable:
        raise ConfigError(f"target={spec.name!r} is evaluated without training: it takes no target_stages")
    out = []
    for name in names:
        stage = configured_task(cfg, name, dist) if dist is not None else get_task(name)
        if stage.family != spec.family or stage.labels != spec.labels:
            found = f"a {stage.family} task" + (f" with labels {list(stage.labels)}" if stage.labels else "")
            raise ConfigError(
                f"target_stages: {name!r} is {found}, but the stages of target {spec.name!r} train its "
                f"{spec.family} head" + (f" with labels {list(spec.labels)}" if spec.labels else "")
            )
        out.append(stage)
    return out


# ---------------------------------------------------------------------------------------------
# What a phase will read, before it reads it (pre-flight checks and `prepare`).
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    """One load a phase makes: a task's split, in a language (None: English-only tasks)."""

    task: str
    split: str
    language: str | None = None
    required: bool = True  # False: read when the task has it (BUCC's threshold split)


def phase_reads(cfg: RunConfig, phase: str) -> list[Read]:
    """Every load the `intermediate`, `target` or `evaluate` phase of `cfg` makes, in order.

    Intermediate: each task of every stage of the chain (a chain runs its earlier stages
    first), train and validation. Target: its training stages and its English training task,
    train and validation, then the evaluation split in every target language and its selection
    split; a target that is not trained (retrieval) reads the evaluation split and, where it has
    one, validation.
    """
    if phase == "intermediate":
        if not get_approach(cfg.approach).has_intermediate:
            return []
        return [Read(name, split) for name in chain.task_names(cfg) for split in ("train", "validation")]
    spec = get_task(cfg.target)
    reads = []
    trainable = get_family(spec.family).trainable
    if phase == "target" and trainable:
        for stage in target_stages(cfg, spec):
            reads += [Read(stage.name, "train"), Read(stage.name, "validation")]
        source = spec.train_task or spec.name
        reads += [Read(source, "train"), Read(source, "validation")]
    languages = target_languages(cfg, spec)
    for lang in languages:
        if not trainable and cfg.eval.split != "validation":
            reads.append(Read(spec.name, "validation", lang, required=False))
        reads.append(Read(spec.name, cfg.eval.split, lang))
    if trainable:  # the selection split, scored in the same pass (Target.selection)
        reads += [Read(source.name, split, loader_lang)
                  for _, source, loader_lang, split in selection_sets(cfg, spec, languages)]
    return reads


def hub_inputs(cfg: RunConfig, phase: str) -> list[tuple[Read, HubSource]]:
    """(read, Hub split) for every Hub split the phase reads, each once; nothing when the run
    reads local files (`data.data_dir`). A read the task cannot make on the Hub (a missing
    split or language, a local-only task) raises its ConfigError or DataError, unless optional."""
    if cfg.data.data_dir:
        return []
    out, seen = [], set()
    for read in phase_reads(cfg, phase):
        spec = run_spec(cfg, read.task)
        if spec.hub_sources is None:
            raise ConfigError(
                f"{read.task}: has no Hub source, only local files; set data.data_dir "
                f"(expected layout: {spec.local_layout})"
            )
        try:
            sources = sources_of(spec, read.split, read.language)
        except (ConfigError, DataError):
            if read.required:
                raise
            continue
        for source in sources:
            if source not in seen:
                seen.add(source)
                out.append((read, source))
    return out
