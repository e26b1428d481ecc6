"""XTREME's official language lists per task, and the codes its data files use.

The lists are the ones google-research/xtreme's `evaluate.py` averages over (XTREME: the
paper's benchmark; XTREME-R: its successor), in that script's order. A task's XTREME score is
the mean over exactly these languages, English included where a list has it (Tatoeba and BUCC
are retrieval into English, so English is not on their lists).

Languages are ISO 639-1 codes throughout the toolkit. Some data files and Hub configs name
languages differently; `file_code` maps our code to theirs (Tatoeba's three-letter codes,
the English language names in `udpos.<Name>` configs and UD treebank folders, TyDiQA's
language-name question-id prefixes).
"""

from __future__ import annotations

from typing import Iterable, Mapping

from xstilts.errors import ConfigError
from xstilts.tasks.base import nearest


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

# XTREME-R (Ruder et al., 2021): evaluate.py's XTREME_R_TASK2LANGS. It drops PAWS-X and BUCC,
# adds XCOPA and Mewsli-X, and extends UD-POS, PAN-X, Tatoeba and XQuAD. (LAReQA is also part
# of XTREME-R, but evaluate.py has an empty list for it: it is not scored from submissions.)
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
}

LANGUAGE_LISTS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "xtreme": XTREME_LANGUAGES,
    "xtreme-r": XTREME_R_LANGUAGES,
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


def _task_list(task: str, version: str) -> tuple[str, ...]:
    if version not in LANGUAGE_LISTS:
        raise ConfigError(
            f"unknown XTREME version {version!r}; expected one of {', '.join(LANGUAGE_LISTS)}"
        )
    lists = LANGUAGE_LISTS[version]
    if task not in lists:
        raise ConfigError(
            f"{task!r} is not a {version} task{nearest(task, sorted(lists))}; "
            f"{version} tasks: {', '.join(lists)}"
        )
    return lists[task]


def official_languages(task: str, version: str = "xtreme") -> tuple[str, ...]:
    """The languages XTREME (or XTREME-R) averages a task's score over, e.g. 15 for 'xnli'."""
    return _task_list(task, version)


def check_languages(task: str, langs: Iterable[str], version: str = "xtreme") -> tuple[str, ...]:
    """Return `langs` (in the given order) after checking each is on the task's official list.

    Unknown codes raise one ConfigError naming every bad code with the nearest valid ones;
    a dataset's own code (e.g. Tatoeba's 'deu', UD's 'German') gets the XTREME code to use.
    """
    valid = _task_list(task, version)
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
    if problems:
        raise ConfigError(
            f"bad languages for {version} task {task!r}: {'; '.join(problems)}. "
            f"Valid languages: {', '.join(valid)}"
        )
    return langs


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
