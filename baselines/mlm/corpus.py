"""The multilingual text behind the `mlm` task: Wikipedia from the Hub, or local text files.

- `load_corpus` reads up to a character budget per language, from `wikimedia/wikipedia`
  (config `<dump>.<lang>`, field `text`, streamed) or from `<data_dir>/<lang>.txt` (one
  document or paragraph per line).
- `language_probabilities` and `mix_languages` rebalance languages as XLM-R does: language i
  is sampled with probability p_i proportional to n_i^alpha (alpha = 0.3), which upsamples
  small languages and downsamples large ones. Sizes n_i are characters.
- `mlm_task` builds the `mlm` TaskSpec (family "mlm") that the mlm approach adds to its mix;
  its loader returns the mixed corpus as its train split and a held-out ~1% of the texts as
  its validation split. It is not in the task registry: only the approach adds it.

Note on sizes: n_i is what was read. With the Hub, large Wikipedias hit the per-language
budget, so alpha reweights only languages whose Wikipedia is smaller than the budget; raise
`max_chars_per_language` to let the natural sizes show through.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from toolkit.errors import ConfigError, DataError
from toolkit.tasks.records import LoadRequest, TaskSpec, TextExample
from toolkit.tasks.io import field
from toolkit.tasks.benchmarks import all_languages

logger = logging.getLogger(__name__)

HUB_ID = "wikimedia/wikipedia"
DEFAULT_DUMP = "20231101"
DEFAULT_ALPHA = 0.3  # XLM-R's language sampling exponent
DEFAULT_CHARS_PER_LANGUAGE = 2_000_000  # about 0.5M tokens for a Latin-script language
SHUFFLE_BUFFER = 10_000  # articles held by the streaming shuffle
VALIDATION_PERCENT = 1  # share of the texts held out for validation (by a hash of their id)
# Every language XTREME evaluates on: the languages the MLM baseline keeps the encoder fluent in.
MLM_LANGUAGES = all_languages("xtreme")
SOURCES = ("hub", "local")


# ---------------------------------------------------------------------------------------------
# Reading.
# ---------------------------------------------------------------------------------------------


def read_local(path: str | Path, language: str, max_chars: int) -> list[TextExample]:
    """Lines of a UTF-8 text file as texts (ids `<lang>-<line number>`), up to `max_chars`.

    Blank lines are skipped (they separate documents, they are not documents). Reading stops
    after the text that reaches the budget, so the last one is whole. A missing file, or one
    without any text, is a DataError.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"mlm corpus for language {language!r}: expected a text file at {path} "
            "(one document or paragraph per line), found none"
        )
    texts: list[TextExample] = []
    chars = blank = lineno = 0
    with path.open("rb") as handle:  # bytes, decoded line by line: errors name their line
        for lineno, raw in enumerate(handle, 1):
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as err:
                raise DataError(f"{path}: line {lineno} is not valid UTF-8 ({err.reason})") from err
            if not text:
                blank += 1
                continue
            texts.append(TextExample(f"{language}-{lineno}", text, language))
            chars += len(text)
            if chars >= max_chars:
                break
    if not texts:
        raise DataError(f"{path}: no text for language {language!r} (the file is empty or blank)")
    logger.info(
        "mlm %s: %d texts, %d characters from %s (lines 1-%d, %d blank lines skipped%s)",
        language, len(texts), chars, path, lineno, blank,
        "; stopped at the character budget" if chars >= max_chars else "",
    )
    return texts


@dataclass(frozen=True)
class HubText:
    """Text in a Hub dataset: `load_dataset(path, config.format(lang=...), split=split)[text_field]`.

    `config` may hold `{lang}` (one config per language, as Wikipedia's `<dump>.<lang>`); rows
    without an `id` field are named by their position in the (shuffled) stream.
    """

    path: str
    config: str | None
    split: str = "train"
    text_field: str = "text"
    revision: str = "main"


WIKIPEDIA = HubText(HUB_ID, DEFAULT_DUMP + ".{lang}")


def stream_hub(hub: HubText, language: str, max_chars: int, seed: int = 0) -> list[TextExample]:
    """Texts of one language from a Hub dataset (streamed, nothing downloaded in full).

    The stream is shuffled (`seed`: shard order and a buffer of SHUFFLE_BUFFER rows) so the
    sample is not just the first rows of the first shard. Ids are `<lang>-<id>`.
    """
    import datasets

    config = hub.config.format(lang=language) if hub.config else None
    name = f"{hub.path}[{config}]/{hub.split}"
    texts: list[TextExample] = []
    chars = empty = 0
    row = -1
    try:
        stream = datasets.load_dataset(hub.path, config, split=hub.split, revision=hub.revision, streaming=True)
        for row, record in enumerate(stream.shuffle(seed=seed, buffer_size=SHUFFLE_BUFFER)):
            where = f"{name} row {row}"
            text = field(record, hub.text_field, where, allow_empty=True).strip()
            if not text:
                empty += 1
                continue
            texts.append(TextExample(f"{language}-{record.get('id', row)}", text, language))
            chars += len(text)
            if chars >= max_chars:
                break
    except DataError:
        raise
    except Exception as err:  # the Hub's errors do not say which language asked
        raise DataError(f"could not stream Hub dataset {name} (after row {row}): {err}") from err
    if not texts:
        raise DataError(f"Hub dataset {name} has no text in field {hub.text_field!r}")
    logger.info("mlm %s: %d texts, %d characters from %s (%d empty rows skipped)",
                language, len(texts), chars, name, empty)
    return texts


def load_corpus(
    languages: Sequence[str],
    source: str,
    data_dir: str | Path | None = None,
    max_chars_per_language: int = DEFAULT_CHARS_PER_LANGUAGE,
    seed: int = 0,
    hub: HubText = WIKIPEDIA,
) -> list[TextExample]:
    """Texts of every language, up to `max_chars_per_language` characters each.

    source "hub": the `hub` dataset (default Wikipedia, config `<dump>.<lang>`; seed shuffles
    the stream). source "local": `<data_dir>/<lang>.txt`, read in file order.
    """
    if source not in SOURCES:
        raise ConfigError(f"mlm corpus source {source!r} is not one of {', '.join(SOURCES)}")
    if not languages:
        raise ConfigError("mlm corpus: no languages given")
    if max_chars_per_language < 1:
        raise ConfigError(f"max_chars_per_language must be >= 1, got {max_chars_per_language}")
    if source == "local" and data_dir is None:
        raise ConfigError("mlm corpus source 'local' needs data_dir (holding <lang>.txt files)")
    texts: list[TextExample] = []
    for lang in languages:
        if source == "local":
            texts += read_local(Path(data_dir) / f"{lang}.txt", lang, max_chars_per_language)
        else:
            texts += stream_hub(hub, lang, max_chars_per_language, seed)
    return texts


# ---------------------------------------------------------------------------------------------
# Language sampling.
# ---------------------------------------------------------------------------------------------


def language_probabilities(sizes: Mapping[str, float], alpha: float = DEFAULT_ALPHA) -> dict[str, float]:
    """p_i = n_i^alpha / sum_j n_j^alpha: alpha 1 is proportional, 0 uniform (XLM-R: 0.3)."""
    if not sizes:
        raise ConfigError("language_probabilities: no languages")
    if alpha < 0:
        raise ConfigError(f"language sampling alpha must be >= 0, got {alpha}")
    bad = {lang: n for lang, n in sizes.items() if not n > 0}
    if bad:
        raise DataError(f"language_probabilities: sizes must be positive, got {bad}")
    weights = {lang: float(n) ** alpha for lang, n in sizes.items()}
    total = sum(weights.values())
    return {lang: w / total for lang, w in weights.items()}


def mix_languages(
    texts: Sequence[TextExample],
    alpha: float = DEFAULT_ALPHA,
    total_chars: int | None = None,
    seed: int = 0,
) -> list[TextExample]:
    """A corpus of about `total_chars` characters (default: as many as `texts`) whose
    languages have the shares `language_probabilities` gives, in a seeded random order.

    Each language's texts are drawn without replacement in a seeded order; a language whose
    share exceeds what it has goes round again (repeats get ids `<id>#<round>`), one with a
    smaller share keeps a random subset. Shares are met to within one text.
    """
    by_language: dict[str, list[TextExample]] = defaultdict(list)
    for t in texts:
        by_language[t.language].append(t)
    sizes = {lang: sum(len(t.text) for t in group) for lang, group in by_language.items()}
    probs = language_probabilities(sizes, alpha)
    total = sum(sizes.values()) if total_chars is None else total_chars
    rng = np.random.default_rng(seed)
    mixed: list[TextExample] = []
    for lang, group in by_language.items():
        budget = probs[lang] * total
        taken = 0
        rounds = 0
        while taken < budget:
            for i in rng.permutation(len(group)):
                t = group[i]
                mixed.append(t if rounds == 0 else replace(t, id=f"{t.id}#{rounds}"))
                taken += len(t.text)
                if taken >= budget:
                    break
            rounds += 1
        logger.info(
            "mlm %s: p=%.4f, %d characters read -> %d in the mix (x%.2f)",
            lang, probs[lang], sizes[lang], taken, taken / sizes[lang],
        )
    return [mixed[i] for i in rng.permutation(len(mixed))]


# ---------------------------------------------------------------------------------------------
# The task.
# ---------------------------------------------------------------------------------------------


def is_heldout(text_id: str, percent: float) -> bool:
    """Whether a text belongs to the validation split: a stable hash of its id, not its position."""
    return zlib.crc32(text_id.encode("utf-8")) % 10_000 < percent * 100


@lru_cache(maxsize=2)
def _cached_corpus(languages: tuple[str, ...], source: str, data_dir: str | None,
                   max_chars: int, seed: int, hub: HubText) -> tuple[TextExample, ...]:
    # Train and validation of one run read the same corpus: stream it once per process.
    return tuple(load_corpus(languages, source, data_dir, max_chars, seed, hub))


def load_mlm(spec: TaskSpec, req: LoadRequest) -> list[TextExample]:
    """The `mlm` task's splits: train = the language-mixed corpus, validation = held-out texts.

    Settings come from `spec.languages` and `spec.extra` (see `mlm_task`); `req.language`
    restricts to one language (e.g. per-language validation). Local data: `req.data_dir`
    holds `<lang>.txt` files.
    """
    if req.split not in ("train", "validation"):
        raise ConfigError(f"task {spec.name!r} has train and validation splits only, not {req.split!r}")
    languages = (req.language,) if req.language else tuple(spec.languages)
    extra = spec.extra
    source = "local" if req.data_dir else "hub"
    corpus = _cached_corpus(
        languages, source, req.data_dir, int(extra["max_chars_per_language"]),
        int(extra["corpus_seed"]), extra["hub"],
    )
    percent = float(extra["validation_percent"])
    if req.split == "validation":
        texts = [t for t in corpus if is_heldout(t.id, percent)]
        if not texts:
            raise DataError(
                f"task {spec.name!r}: no text of {', '.join(languages)} falls in the {percent}% "
                "held out for validation; read more text (max_chars_per_language)"
            )
        rng = np.random.default_rng(int(extra["corpus_seed"]))
        texts = [texts[i] for i in rng.permutation(len(texts))]  # a capped set keeps every language
    else:
        train = [t for t in corpus if not is_heldout(t.id, percent)]
        texts = mix_languages(train, float(extra["alpha"]), seed=int(extra["corpus_seed"]))
    return texts if req.max_examples is None else texts[: req.max_examples]


def mlm_task(
    name: str = "mlm",
    languages: Sequence[str] = MLM_LANGUAGES,
    alpha: float = DEFAULT_ALPHA,
    max_chars_per_language: int = DEFAULT_CHARS_PER_LANGUAGE,
    dump: str = DEFAULT_DUMP,
    validation_percent: float = VALIDATION_PERCENT,
    corpus_seed: int = 0,
    hub: HubText | None = None,
    description: str | None = None,
) -> TaskSpec:
    """A TaskSpec for continued multilingual MLM over `languages` (not in the registry; see `MLM`).

    The Hub text is Wikipedia's `dump` unless `hub` names another dataset (domain corpora).
    """
    hub = hub or HubText(HUB_ID, dump + ".{lang}")
    language_probabilities({lang: 1 for lang in languages}, alpha)  # checks alpha and the list
    return TaskSpec(
        name=name,
        family="mlm",
        description=description or (
            f"Continued multilingual masked language modelling (the paper's baseline i) on "
            f"{len(languages)} languages, sampled with alpha={alpha}"
        ),
        metric="mlm_accuracy",
        loader=load_mlm,
        languages=tuple(languages),
        hub=f"{hub.path} ({hub.config})",
        local_layout="<data_dir>/mlm/<lang>.txt: UTF-8, one document or paragraph per line",
        extra={
            "alpha": alpha,
            "max_chars_per_language": max_chars_per_language,
            "hub": hub,
            "validation_percent": validation_percent,
            "corpus_seed": corpus_seed,
        },
    )


MLM = mlm_task()  # the default: every XTREME language, XLM-R's alpha
