"""Language codes: XTREME's two-letter codes and what each backend calls the same language."""

from __future__ import annotations

from toolkit.errors import ConfigError

# XTREME code -> FLORES-200 code used by NLLB-200 (every XTREME language plus a few extras).
NLLB_CODES = {
    "af": "afr_Latn", "ar": "arb_Arab", "bg": "bul_Cyrl", "bn": "ben_Beng", "ca": "cat_Latn",
    "de": "deu_Latn", "el": "ell_Grek", "en": "eng_Latn", "es": "spa_Latn", "et": "est_Latn",
    "eu": "eus_Latn", "fa": "pes_Arab", "fi": "fin_Latn", "fr": "fra_Latn", "gl": "glg_Latn",
    "he": "heb_Hebr", "hi": "hin_Deva", "hu": "hun_Latn", "id": "ind_Latn", "it": "ita_Latn",
    "ja": "jpn_Jpan", "jv": "jav_Latn", "ka": "kat_Geor", "kk": "kaz_Cyrl", "ko": "kor_Hang",
    "ml": "mal_Mlym", "mr": "mar_Deva", "ms": "zsm_Latn", "my": "mya_Mymr", "nl": "nld_Latn",
    "pt": "por_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl", "sw": "swh_Latn", "ta": "tam_Taml",
    "te": "tel_Telu", "th": "tha_Thai", "tl": "tgl_Latn", "tr": "tur_Latn", "uk": "ukr_Cyrl",
    "ur": "urd_Arab", "vi": "vie_Latn", "yo": "yor_Latn", "zh": "zho_Hans",
}  # fmt: skip

# ISO 639-1 <-> 639-3 for the languages Apertium modes name either way (eng-spa, es-pt ...).
ISO3 = {
    "en": "eng", "es": "spa", "pt": "por", "fr": "fra", "ca": "cat", "gl": "glg", "it": "ita",
    "ro": "ron", "eo": "epo", "eu": "eus", "oc": "oci", "an": "arg", "ast": "ast", "de": "deu",
    "nl": "nld", "af": "afr", "ru": "rus", "uk": "ukr", "bg": "bul", "mk": "mkd", "is": "isl",
    "sv": "swe", "da": "dan", "hi": "hin", "ur": "urd", "id": "ind", "ms": "zlm", "br": "bre",
}  # fmt: skip
_FROM_ISO3 = {v: k for k, v in ISO3.items()}

# Debian packages that provide the Apertium modes this toolkit can use for English -> X
# (`apt-cache search apertium` lists them): a direct English pair, or a Spanish pair to pivot.
DEBIAN_ENGLISH_PAIRS = {"es": "apertium-eng-spa", "ca": "apertium-eng-cat", "gl": "apertium-en-gl"}
DEBIAN_SPANISH_PAIRS = {
    "pt": "apertium-es-pt", "fr": "apertium-fr-es", "ca": "apertium-spa-cat",
    "it": "apertium-spa-ita", "ro": "apertium-es-ro", "gl": "apertium-es-gl",
    "ast": "apertium-spa-ast", "an": "apertium-spa-arg", "oc": "apertium-oc-es",
    "eo": "apertium-eo-es", "eu": "apertium-eu-es",
}  # fmt: skip


def nllb_code(lang: str) -> str:
    """The FLORES-200 code for an XTREME code ("de" -> "deu_Latn"); FLORES codes pass through."""
    if "_" in lang:
        return lang
    if lang not in NLLB_CODES:
        raise ConfigError(
            f"no NLLB language code known for {lang!r}; give the FLORES-200 code itself "
            f"(e.g. 'deu_Latn') or one of: {', '.join(sorted(NLLB_CODES))}"
        )
    return NLLB_CODES[lang]


def iso1(code: str) -> str:
    """Two-letter code of an Apertium language name ("spa" -> "es"); unknown names unchanged."""
    return _FROM_ISO3.get(code, code)
