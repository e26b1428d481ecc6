"""The benchmarks (XTREME, XTREME-R) as data: their tasks and per-task language lists, and the
codes data files use for languages.

The lists are the ones google-research/xtreme's `evaluate.py` averages over (XTREME: the
paper's benchmark; XTREME-R: its successor), in that script's order. A task's score is the
mean over exactly the chosen benchmark's list, English included where a list has it (Tatoeba
and BUCC are retrieval into English, so English is not on their lists). The run config's
`benchmark` picks the record (`get_benchmark`); it decides the default evaluation languages
(`evaluation_languages`) and the languages a score averages over (`official_languages`).

Languages are ISO 639-1 codes throughout the toolkit. Some data files and Hub configs name
languages differently; `file_code` maps our code to theirs (Tatoeba's three-letter codes,
the English language names in `udpos.<Name>` configs and UD treebank folders, TyDiQA's
language-name question-id prefixes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from toolkit.errors import ConfigError, DataError
from toolkit.tasks.base import nearest


def _codes(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# XTREME (Hu et al., 2020): evaluate.py's XTREME_TASK2LANGS.
XTREME_LANGUAGES: Mapping[str, tuple[str, ...]] = {
    "xnli": _codes("ar bg de el en es fr hi ru sw th tr ur vi zh"),
    "pawsx": _codes("de en es fr ja ko zh"),
    "udpos": _codes(
        "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr "
        "nl pt ru ta te th tl tr ur vi yo zh"
    ),
    "panx": _codes(
        "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr "
        "it pt es bg ru ja ka ko th sw yo my zh kk tr et fi hu"
    ),
    "xquad": _codes("en es de el ru tr ar vi th zh hi"),
    "mlqa": _codes("en es de ar hi vi zh"),
    "tydiqa": _codes("en ar bn fi id ko ru sw te"),
    "bucc2018": _codes("de fr ru zh"),
    "tatoeba": _codes(
        "ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it "
        "pt es bg ru ja ka ko th sw zh kk tr et fi hu"
    ),
}

# XTREME-R (Ruder et al., 2021): evaluate.py's XTREME_R_TASK2LANGS, in the paper's task order
# (classification, structured prediction, QA, retrieval). It drops PAWS-X and BUCC, adds XCOPA,
# Mewsli-X and LAReQA, and extends UD-POS, PAN-X, Tatoeba and XQuAD. evaluate.py gives LAReQA
# an empty list: its score is not computed from submission files.
XTREME_R_LANGUAGES: Mapping[str, tuple[str, ...]] = {
    "xnli": XTREME_LANGUAGES["xnli"],
    "xcopa": _codes("et ht id it qu sw ta th tr vi zh"),
    "udpos": XTREME_LANGUAGES["udpos"] + _codes("lt pl uk wo ro"),
    "panx": XTREME_LANGUAGES["panx"] + _codes("qu pl uk az lt pa gu ro"),
    "xquad": XTREME_LANGUAGES["xquad"] + ("ro",),
    "mlqa": XTREME_LANGUAGES["mlqa"],
    "tydiqa": XTREME_LANGUAGES["tydiqa"],
    "tatoeba": XTREME_LANGUAGES["tatoeba"] + _codes("az lt pl uk ro"),
    "mewslix": _codes("ar de en es fa ja pl ro ta tr uk"),
    "lareqa": (),
}

# Why the toolkit runs neither of XTREME-R's two trained-retrieval tasks (docs/research/xtreme_r.md
# has the details).
_XTREME_R_NOT_RUN = {
    "mewslix": "Mewsli-X needs a dual encoder fine-tuned with in-batch negatives against a "
               "candidate set of ~1M English Wikipedia entities; its data exists only as the output "
               "of google-research's extraction script (WikiNews and Wikipedia dumps), not on the "
               "Hub or in any file this toolkit can check offline",
    "lareqa": "LAReQA needs a dual encoder fine-tuned on SQuAD with in-batch negatives and a "
              "language-agnostic answer pool (XQuAD-R); XTREME's evaluate.py does not score it "
              "from submissions (its language list is empty)",
}


@dataclass(frozen=True)
class Benchmark:
    """One benchmark as google-research/xtreme's evaluate.py defines it.

    name: the run-config value (`benchmark: xtreme_r`); title: how papers name it;
    evaluate_version: evaluate.py's `--xtreme_version`; languages: every task of the benchmark
    (XTREME id, in the benchmark's task order) -> the languages its score averages over;
    not_run: tasks of the benchmark this toolkit does not run, with the reason.
    """

    name: str
    title: str
    evaluate_version: str
    languages: Mapping[str, tuple[str, ...]]
    not_run: Mapping[str, str] = field(default_factory=dict)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The benchmark's tasks this toolkit runs, in the benchmark's order."""
        return tuple(t for t in self.languages if t not in self.not_run)

    @property
    def average_label(self) -> str:
        return f"{self.title} average"


BENCHMARKS: Mapping[str, Benchmark] = {
    "xtreme": Benchmark("xtreme", "XTREME", "xtreme", XTREME_LANGUAGES),
    "xtreme_r": Benchmark("xtreme_r", "XTREME-R", "xtreme-r", XTREME_R_LANGUAGES, _XTREME_R_NOT_RUN),
}

# Tatoeba file names (`tatoeba.deu-eng.deu`) and google/xtreme's `tatoeba.<code>` configs use
# these codes; the mapping is the one in XTREME's utils_preprocess.py (note pes for Persian,
# cmn for Chinese, swh for Swahili).
TATOEBA_CODES: Mapping[str, str] = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell",
    "es": "spa", "et": "est", "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra",
    "he": "heb", "hi": "hin", "hu": "hun", "id": "ind", "it": "ita", "ja": "jpn",
    "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar",
    "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel",
    "th": "tha", "tl": "tgl", "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn",
    "en": "eng",
    # XTREME-R additions.
    "az": "aze", "lt": "lit", "pl": "pol", "uk": "ukr", "ro": "ron",
}

# UD language names: google/xtreme's `udpos.<Name>` configs and UD's `UD_<Name>-<Treebank>`
# folders. XTREME pools every treebank of a language (files `<code>_<tb>-ud-<split>.conllu`).
UD_LANGUAGE_NAMES: Mapping[str, str] = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "kk": "Kazakh", "ko": "Korean",
    "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian", "ta": "Tamil",
    "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu",
    "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese",
    # XTREME-R additions (taken from UD v2.7 rather than v2.5).
    "lt": "Lithuanian", "pl": "Polish", "uk": "Ukrainian", "wo": "Wolof", "ro": "Romanian",
}

# TyDiQA-GoldP question ids start with the language's English name ("arabic-...").
TYDIQA_LANGUAGE_NAMES: Mapping[str, str] = {
    "ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish", "id": "indonesian",
    "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu",
}

FILE_CODES: Mapping[str, Mapping[str, str]] = {
    "tatoeba": TATOEBA_CODES,
    "udpos": UD_LANGUAGE_NAMES,
    "tydiqa": TYDIQA_LANGUAGE_NAMES,
}


def get_benchmark(name: str) -> Benchmark:
    """The benchmark record named `name` ('xtreme' or 'xtreme_r')."""
    if name not in BENCHMARKS:
        raise ConfigError(
            f"unknown benchmark {name!r}{nearest(name, sorted(BENCHMARKS))}; "
            f"expected one of {', '.join(BENCHMARKS)}"
        )
    return BENCHMARKS[name]


def official_languages(task: str, benchmark: str = "xtreme") -> tuple[str, ...]:
    """The languages a benchmark averages a task's score over, e.g. 15 for XTREME's 'xnli'."""
    bench = get_benchmark(benchmark)
    if task in bench.not_run:
        raise ConfigError(f"{bench.title} task {task!r} is not run by this toolkit: {bench.not_run[task]}")
    if task not in bench.languages:
        raise ConfigError(
            f"{task!r} is not part of {bench.title}{nearest(task, bench.tasks)}; "
            f"{bench.title} tasks: {', '.join(bench.tasks)} (benchmark={bench.name})"
        )
    return bench.languages[task]


def known_languages(task: str) -> tuple[str, ...]:
    """Every language any benchmark lists for `task`, the first benchmark's order first: what the
    task can be evaluated in (e.g. XQuAD's 11 XTREME languages, then XTREME-R's Romanian)."""
    out: list[str] = []
    for bench in BENCHMARKS.values():
        if task not in bench.not_run:
            out += [lang for lang in bench.languages.get(task, ()) if lang not in out]
    if not out:
        every = sorted({t for b in BENCHMARKS.values() for t in b.tasks})
        raise ConfigError(f"{task!r} is not a benchmark task{nearest(task, every)}; known: {', '.join(every)}")
    return tuple(out)


def evaluation_languages(task: str, benchmark: str = "xtreme") -> tuple[str, ...]:
    """The languages a target is evaluated in by default: the benchmark's list, English first."""
    official = official_languages(task, benchmark)
    return tuple(sorted(official, key=lambda lang: lang != "en"))


def check_languages(task: str, langs: Iterable[str], benchmark: str = "xtreme") -> tuple[str, ...]:
    """Return `langs` (in the given order) after checking them for a benchmark's task.

    Each code must be one the task has under some benchmark (Romanian XQuAD may be evaluated
    under XTREME too; it is just not averaged), and at least one must count toward the chosen
    benchmark's score. Unknown codes raise one ConfigError naming every bad code with the
    nearest valid ones; a dataset's own code (e.g. Tatoeba's 'deu', UD's 'German') gets the
    code to use.
    """
    official = official_languages(task, benchmark)
    valid = known_languages(task)
    langs = tuple(langs)
    problems = []
    for lang in langs:
        if lang in valid:
            continue
        hint = nearest(lang, valid)
        for code, other in FILE_CODES.get(task, {}).items():
            if other.lower() == str(lang).lower() and code in valid:
                hint = f" ({lang!r} is the file code of {code!r}; use {code!r})"
        problems.append(f"{lang!r}{hint}")
    duplicates = sorted({lang for lang in langs if langs.count(lang) > 1})
    if duplicates:
        problems.append(f"listed more than once: {', '.join(duplicates)}")
    title = get_benchmark(benchmark).title
    if problems:
        counted = "" if valid == official else f" ({title} averages over {', '.join(official)})"
        raise ConfigError(
            f"bad languages for {title} task {task!r}: {'; '.join(problems)}. "
            f"Valid languages: {', '.join(valid)}{counted}"
        )
    if langs and not set(langs) & set(official):
        raise ConfigError(
            f"none of the languages {', '.join(langs)} counts toward the {title} score of {task!r}; "
            f"it averages over {', '.join(official)}"
        )
    return langs


def require_google_xtreme(task: str, lang: str, local_layout: str) -> None:
    """A DataError unless the Hub's `google/xtreme` holds `task` in `lang`.

    That dataset was built for XTREME and has XTREME's languages only: XTREME-R's additions
    (Romanian XQuAD, Polish Tatoeba ...) are read from local files instead.
    """
    if lang not in XTREME_LANGUAGES.get(task, ()):
        raise DataError(
            f"{task} {lang!r}: the Hub's google/xtreme has only XTREME's {task} languages "
            f"({', '.join(XTREME_LANGUAGES.get(task, ()))}); read {lang!r} from local files "
            f"(data.data_dir): {local_layout}"
        )


def file_code(task: str, lang: str) -> str:
    """The code a task's data files use for `lang`: 'deu' for Tatoeba de, 'German' for UD-POS
    de, 'arabic' for TyDiQA ar; tasks whose files use ISO 639-1 codes return `lang` itself."""
    codes = FILE_CODES.get(task)
    if codes is None:
        return lang
    if lang not in codes:
        raise ConfigError(
            f"no {task} file code for language {lang!r}{nearest(lang, sorted(codes))}; "
            f"known: {', '.join(sorted(codes))}"
        )
    return codes[lang]
