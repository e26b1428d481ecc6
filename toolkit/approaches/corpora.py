"""Domain corpora: named multilingual data that an intermediate stage mixes in beside its tasks.

A run's `data.corpora` is a list of mappings; `intermediate` names them like tasks
(`squad+biomed`, or `biomed>squad` to adapt to the domain first). Each corpus is used one of
two ways (`use`):

- `mlm`: domain text for masked language modelling, from local `<lang>.txt` files or a Hub
  dataset (`source: hub:<id>`, with `hub_config` (may hold `{lang}`), `hub_split`,
  `text_field`); languages are rebalanced with `alpha` as in the `mlm` approach.
- `translated`: domain task data in the local layout of a registered `task` (e.g. biomedical
  NLI in MNLI's layout), machine-translated into `languages` by the run's
  `approach_args.translate_backend`, optionally kept in English too. It trains its own head.

`share` fixes the corpus's share of the optimizer steps; the stage's tasks split the rest by
`train.sampler`. Without a share, or in a stage made of corpora only, it is sampled by
`train.sampler` like a task. No corpus has a validation set: model selection stays on the
English dev sets of the stage's tasks (a corpus-only stage exports its last weights).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from baselines.mlm.corpus import HubText, mlm_task
from toolkit.approaches.base import ApproachData, features
from toolkit.approaches.translated import translatable_families, translate_task
from toolkit.config.schema import RunConfig
from toolkit.data.features import load_examples
from toolkit.engine.trainer import PhaseData
from toolkit.errors import ConfigError, DataError, nearest
from toolkit.families.registry import get_family
from toolkit.runtime.distributed import Dist
from toolkit.tasks.records import LoadRequest, TaskSpec
from toolkit.tasks.registry import get_task

HUB_PREFIX = "hub:"


@dataclass(frozen=True)
class Corpus:
    """One entry of `data.corpora` (see the module docstring for the fields' meaning)."""

    name: str
    domain: str
    use: str
    source: str
    languages: tuple[str, ...]
    share: float | None = None
    hub_config: str | None = None
    hub_split: str = "train"
    text_field: str = "text"
    alpha: float = 0.3
    max_chars_per_language: int = 2_000_000
    task: str | None = None
    keep_english: bool = False

    @property
    def hub_id(self) -> str | None:
        return self.source[len(HUB_PREFIX):] if self.source.startswith(HUB_PREFIX) else None


@dataclass(frozen=True)
class Use:
    """How a corpus enters the mix: `check` at config time, `build` -> (spec, features, stats)."""

    name: str
    check: Callable[[Corpus, str], None]
    build: Callable[[RunConfig, Corpus, Any, Dist], tuple[TaskSpec, Any, dict[str, float]]]


FIELDS = tuple(f.name for f in dataclasses.fields(Corpus))
REQUIRED = ("name", "domain", "use", "source", "languages")


def parse_corpus(raw: Any, where: str) -> Corpus:
    """A checked Corpus from one `data.corpora` mapping; errors name the entry and the field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with {', '.join(REQUIRED)}, got {raw!r}")
    for key in raw:
        if key not in FIELDS:
            raise ConfigError(f"{where}: unknown field {key!r}{nearest(str(key), FIELDS)}; fields: {', '.join(FIELDS)}")
    missing = [k for k in REQUIRED if raw.get(k) in (None, "", [])]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    values = dict(raw)
    langs = values["languages"]
    if isinstance(langs, str):
        langs = [x.strip() for x in langs.split(",") if x.strip()]
    if not isinstance(langs, list) or not all(isinstance(x, str) for x in langs):
        raise ConfigError(f"{where}: languages must be a list of language codes, got {langs!r}")
    values["languages"] = tuple(langs)
    for key in ("name", "domain", "use", "source"):
        values[key] = str(values[key])
    corpus = Corpus(**values)
    if corpus.use not in USES:
        raise ConfigError(f"{where}: use={corpus.use!r} is not one of {', '.join(USES)}{nearest(corpus.use, list(USES))}")
    if corpus.share is not None and not (isinstance(corpus.share, (int, float)) and 0 < corpus.share < 1):
        raise ConfigError(f"{where}: share must be in (0, 1), got {corpus.share!r}")
    try:
        get_task(corpus.name)
    except ConfigError:
        pass
    else:
        raise ConfigError(f"{where}: name {corpus.name!r} is a registered task; give the corpus another name")
    USES[corpus.use].check(corpus, where)
    return corpus


def corpora_of(cfg: RunConfig) -> dict[str, Corpus]:
    """The run's corpora by name, checked (duplicate names are an error)."""
    out: dict[str, Corpus] = {}
    for i, raw in enumerate(cfg.data.corpora):
        corpus = parse_corpus(raw, f"data.corpora[{i}]")
        if corpus.name in out:
            raise ConfigError(f"data.corpora[{i}]: a corpus named {corpus.name!r} is listed twice")
        out[corpus.name] = corpus
    return out


def add_corpora(cfg: RunConfig, chosen: list[Corpus], prepared: ApproachData, tokenizer,
                dist: Dist) -> ApproachData:
    """`prepared` (the approach's data for the stage's tasks) plus the stage's corpora."""
    if not chosen:
        return prepared
    data = prepared.data
    specs, train, shares, scalars = dict(data.specs), dict(data.train), dict(data.shares), dict(prepared.scalars)
    for corpus in chosen:
        spec, examples, stats = USES[corpus.use].build(cfg, corpus, tokenizer, dist)
        specs[corpus.name] = spec
        train[corpus.name] = features(cfg, spec, examples, tokenizer, dist)
        if corpus.share is not None:
            shares[corpus.name] = float(corpus.share)
        scalars.update({f"data/corpus/{corpus.name}/{k}": v for k, v in stats.items()})
        if dist.is_main:
            print(f"corpus {corpus.name} ({corpus.domain}, {corpus.use}): {len(examples)} examples"
                  + (f", share {corpus.share}" if corpus.share else ""), flush=True)
    if set(shares) == set(train):  # nothing left to split the rest: the shares are relative weights
        shares = {}
    elif sum(shares.values()) >= 1:
        raise ConfigError(f"fixed shares {shares} (approach_args.mlm_share and data.corpora shares) "
                          "must sum below 1, leaving steps for the stage's tasks")
    return ApproachData(PhaseData(specs, train, data.validation, shares), scalars)


# ---------------------------------------------------------------------------------------------
# use: mlm
# ---------------------------------------------------------------------------------------------


def _check_mlm(corpus: Corpus, where: str) -> None:
    if corpus.hub_id is None and not Path(corpus.source).is_dir():
        raise ConfigError(f"{where}: source {corpus.source!r} is neither hub:<dataset id> nor a folder of "
                          "<lang>.txt files")
    if corpus.alpha < 0 or corpus.max_chars_per_language < 1:
        raise ConfigError(f"{where}: alpha must be >= 0 and max_chars_per_language >= 1")


def _build_mlm(cfg: RunConfig, corpus: Corpus, tokenizer, dist: Dist):
    hub = HubText(corpus.hub_id, corpus.hub_config, corpus.hub_split, corpus.text_field) if corpus.hub_id else None
    spec = mlm_task(name=corpus.name, languages=corpus.languages, alpha=corpus.alpha,
                    max_chars_per_language=corpus.max_chars_per_language, hub=hub,
                    description=f"masked language modelling on the {corpus.domain} corpus {corpus.name}")
    local = None if corpus.hub_id else corpus.source
    texts = spec.loader(spec, LoadRequest("train", None, local, cfg.data.max_train_examples))
    counts: dict[str, int] = {}
    for t in texts:
        counts[t.language] = counts.get(t.language, 0) + len(t.text)
    return spec, texts, {f"{lang}/characters": float(n) for lang, n in counts.items()}


# ---------------------------------------------------------------------------------------------
# use: translated
# ---------------------------------------------------------------------------------------------


def _check_translated(corpus: Corpus, where: str) -> None:
    if not corpus.task:
        raise ConfigError(f"{where}: use=translated needs task (the registered task whose layout the data follows)")
    family = get_task(corpus.task).family
    if not get_family(family).translatable:
        raise ConfigError(f"{where}: task {corpus.task!r} is a {family} task; translatable families: "
                          f"{', '.join(translatable_families())}")
    if corpus.hub_id is not None or not (Path(corpus.source) / corpus.task).is_dir():
        raise ConfigError(f"{where}: use=translated reads local task data: source must be a folder holding "
                          f"{corpus.task}/ in that task's layout (`python -m toolkit tasks`), got {corpus.source!r}")
    if "en" in corpus.languages:
        raise ConfigError(f"{where}: languages are the translation targets; keep English with keep_english: true")


def _build_translated(cfg: RunConfig, corpus: Corpus, tokenizer, dist: Dist):
    base = get_task(corpus.task)
    # Its own head: a domain's labels mean the same as the task's, but its text distribution does not.
    spec = dataclasses.replace(base, name=corpus.name,
                               description=f"{corpus.domain} {base.name} data ({corpus.name}), machine-translated")
    english = load_examples(base, "train", None, corpus.source, cfg.data.max_train_examples)
    examples = list(english) if corpus.keep_english else []
    stats: dict[str, float] = {}
    for lang in corpus.languages:
        translated, info = translate_task(cfg, spec, english, lang, dist)
        if not translated:
            raise DataError(f"corpus {corpus.name}: no example survived translation into {lang} ({info})")
        examples += translated
        stats[f"{lang}/examples"] = float(len(translated))
    return spec, examples, stats


USES = {
    "mlm": Use("mlm", _check_mlm, _build_mlm),
    "translated": Use("translated", _check_translated, _build_translated),
}
