"""Language codes: the ISO 639-1 codes the toolkit uses, and what data files call them.

Languages are ISO 639-1 codes throughout the toolkit. Some data files and Hub configs name
languages differently; `file_code` maps our code to theirs (Tatoeba's three-letter codes,
the English language names in `udpos.<Name>` configs and UD treebank folders, TyDiQA's
language-name question-id prefixes). Which languages a benchmark scores a task in is part of
the task's own record (`TaskSpec.target`); `toolkit.tasks.benchmarks` gathers them.
"""

from __future__ import annotations

from typing import Mapping, TYPE_CHECKING

from toolkit.errors import ConfigError, DataError, nearest

if TYPE_CHECKING:
    from toolkit.tasks.records import TaskSpec


def codes(text: str) -> tuple[str, ...]:
    """'de en es' -> ('de', 'en', 'es'): language lists written the way papers print them."""
    return tuple(text.split())


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


def require_google_xtreme(spec: "TaskSpec", lang: str) -> None:
    """A DataError unless the Hub's `google/xtreme` holds target `spec` in `lang`.

    That dataset was built for XTREME and has XTREME's languages only: XTREME-R's additions
    (Romanian XQuAD, Polish Tatoeba ...) are read from local files instead.
    """
    xtreme = spec.target.benchmarks.get("xtreme", ()) if spec.target else ()
    if lang not in xtreme:
        raise DataError(
            f"{spec.name} {lang!r}: the Hub's google/xtreme has only XTREME's {spec.name} languages "
            f"({', '.join(xtreme)}); read {lang!r} from local files (data.data_dir): {spec.local_layout}"
        )
