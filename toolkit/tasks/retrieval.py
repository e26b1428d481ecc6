"""Sentence retrieval tasks evaluated without fine-tuning: Tatoeba and BUCC 2018.

Both pair non-English *source* sentences with English *target* sentences. A split is read as
a `RetrievalSplit`: the two sides as `RetrievalExample`s plus the gold alignment as
(source id, target id) pairs. The registered `loader` returns just the examples (sources
first), as every TaskSpec loader does; `read_split` gives the whole record.

Tatoeba (Artetxe & Schwenk 2019, as used by XTREME): up to 1000 sentence pairs per language,
line i of the source file translates line i of the English file. XTREME and the Hub call the
one split differently (XTREME: test, Hub: validation); here it is always `test`. XTREME has 36
languages; XTREME-R adds az, lt, pl, uk and ro (41), which LASER's files have and the Hub's
google/xtreme does not.

BUCC 2018 (Zweigenbaum et al. 2018): comparable corpora of ~10^5 sentences per side, of which
a few percent have a translation on the other side. XTREME tunes the mining threshold on the
`sample` split and reports F1 on the `training` split (its "test"; the official test gold is
hidden). Here: `validation` = sample, `test` = training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import ConfigError, DataError
from toolkit.tasks.records import HubSource, LoadRequest, RetrievalExample, Selection, Target, TaskSpec, revision_of
from toolkit.tasks.io import field, hub_rows, require_file
from toolkit.tasks.languages import codes, file_code, require_google_xtreme

logger = logging.getLogger(__name__)

XTREME_HUB = "google/xtreme"


# Our split name -> file-name infixes tried in order (raw BUCC 2018 names first, then the
# names XTREME's download script renames them to).
_BUCC_FILE_SPLITS = {"validation": ("sample", "dev"), "test": ("training", "test")}


@dataclass(frozen=True)
class RetrievalSplit:
    """One language's retrieval data.

    sources: non-English sentences (side "source"); targets: English sentences (side
    "target"); gold: aligned (source id, target id) pairs, or None when the split's gold is
    hidden (BUCC's test gold in XTREME's layout). `origin` names the files or Hub config.
    """

    task: str
    language: str
    split: str
    sources: tuple[RetrievalExample, ...]
    targets: tuple[RetrievalExample, ...]
    gold: frozenset[tuple[str, str]] | None
    origin: str

    @property
    def examples(self) -> list[RetrievalExample]:
        return [*self.sources, *self.targets]


def read_split(spec: TaskSpec, req: LoadRequest) -> RetrievalSplit:
    """Read one split of a retrieval task (`tatoeba` or `bucc2018`) with its gold alignment."""
    readers = {"tatoeba": read_tatoeba, "bucc2018": read_bucc}
    if spec.name not in readers:
        raise ConfigError(f"{spec.name!r} is not a retrieval task (known: {', '.join(readers)})")
    return readers[spec.name](spec, req)


# ---------------------------------------------------------------------------------------------
# Tatoeba
# ---------------------------------------------------------------------------------------------


def _tatoeba_code(language: str | None) -> str:
    """LASER's three-letter code for an XTREME language ('de' -> 'deu'); English is the target."""
    if language in (None, "en"):
        raise ConfigError(f"tatoeba: the source language must be a non-English language, got {language!r}")
    return file_code("tatoeba", language)


def _text_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 file, each stripped of surrounding white space.

    Only "\n" ends a line: `str.splitlines` would also split inside sentences at U+2028,
    U+0085 and similar characters, which web-crawled corpora contain. No line is skipped:
    line numbers carry the alignment.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not valid UTF-8 ({err.reason})") from err
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.strip() for line in lines]


def _tab_fields(path: Path, names: tuple[str, str], max_rows: int | None = None) -> list[tuple[str, str]]:
    """Rows of exactly two tab-separated, non-empty fields (BUCC's corpus and gold files)."""
    rows = []
    for lineno, line in enumerate(_text_lines(path), 1):
        if max_rows is not None and len(rows) >= max_rows:
            break
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) != 2 or not all(parts):
            raise DataError(
                f"{path} line {lineno}: expected two non-empty tab-separated fields "
                f"({names[0]}<TAB>{names[1]}), found {line!r}"
            )
        rows.append((parts[0], parts[1]))
    return rows


_PAIR_COLUMNS = (("source_sentence", "string"), ("target_sentence", "string"))


def tatoeba_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """google/xtreme `tatoeba.<xxx>`, its one split `validation` (our test)."""
    if req.split != "test":
        raise DataError(
            f"tatoeba has a single evaluation split, 'test' (the Hub calls it 'validation'); "
            f"got split {req.split!r}"
        )
    code = _tatoeba_code(req.language)
    require_google_xtreme(spec, req.language)
    return (HubSource(XTREME_HUB, f"tatoeba.{code}", "validation", "main", columns=_PAIR_COLUMNS).at(revision_of(spec, req)),)


def bucc_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """google/xtreme `bucc18.<lang>`: validation (BUCC sample) and test (BUCC training); the
    sentence ids are in `source_lang` / `target_lang`."""
    if req.language not in spec.languages:
        raise ConfigError(f"bucc2018: unknown language {req.language!r}; known: {', '.join(spec.languages)}")
    if req.split not in _BUCC_FILE_SPLITS:
        raise DataError(f"bucc2018 has splits validation (BUCC sample) and test (BUCC training); got {req.split!r}")
    columns = _PAIR_COLUMNS + (("source_lang", "string"), ("target_lang", "string"))
    return (HubSource(XTREME_HUB, f"bucc18.{req.language}", req.split, "main", columns=columns).at(revision_of(spec, req)),)


def read_tatoeba(spec: TaskSpec, req: LoadRequest) -> RetrievalSplit:
    """Tatoeba for one language, from LASER's files or from the Hub.

    Local (`req.data_dir`): LASER's `tatoeba.<xxx>-eng.<xxx>` and `tatoeba.<xxx>-eng.eng`
    (the files XTREME's download script fetches), one sentence per line, line i aligned.
    Hub: `google/xtreme` config `tatoeba.<xxx>`, split `validation` (its only split), fields
    source_sentence / target_sentence / source_lang / target_lang.
    Ids are line numbers ("0", "1", ...) on both sides, so the gold pairs are (i, i).
    """
    if req.split != "test":
        raise DataError(
            f"tatoeba has a single evaluation split, 'test' (the Hub calls it 'validation'); "
            f"got split {req.split!r}"
        )
    code = _tatoeba_code(req.language)
    if req.data_dir is None:
        source = tatoeba_sources(spec, req)[0]
        src, trg = [], []
        # Row i is pair i. `source_lang` is not checked: google/xtreme's script filled it with a
        # piece of its cache path, not a language code (docs/data_sources.md, tatoeba).
        for where, row in hub_rows(source, req.max_examples):
            src.append(field(row, "source_sentence", where).strip())
            trg.append(field(row, "target_sentence", where).strip())
        origin = f"{source.path}[{source.name}]/{source.split}"
    else:
        root = Path(req.data_dir)
        src_path = require_file(root / f"tatoeba.{code}-eng.{code}", f"tatoeba {req.language} source side")
        trg_path = require_file(root / f"tatoeba.{code}-eng.eng", f"tatoeba {req.language} English side")
        src, trg = _text_lines(src_path), _text_lines(trg_path)
        if len(src) != len(trg):
            raise DataError(
                f"{src_path} has {len(src)} lines but {trg_path} has {len(trg)}: "
                "line i of one must translate line i of the other"
            )
        for path, lines in ((src_path, src), (trg_path, trg)):
            for i, line in enumerate(lines):
                if not line:
                    raise DataError(f"{path} line {i + 1}: empty sentence")
        if req.max_examples is not None:
            src, trg = src[: req.max_examples], trg[: req.max_examples]
        origin = str(root / f"tatoeba.{code}-eng.{{{code},eng}}")
    return RetrievalSplit(
        task=spec.name,
        language=req.language,
        split=req.split,
        sources=tuple(RetrievalExample(str(i), s, "source") for i, s in enumerate(src)),
        targets=tuple(RetrievalExample(str(i), t, "target") for i, t in enumerate(trg)),
        gold=frozenset((str(i), str(i)) for i in range(len(src))),
        origin=origin,
    )


# XTREME's language lists (evaluate.py's XTREME_TASK2LANGS); XTREME-R extends some.
XTREME_TATOEBA = codes("ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw zh kk tr et fi hu")


# ---------------------------------------------------------------------------------------------
# BUCC 2018
# ---------------------------------------------------------------------------------------------


def _bucc_sentences(path: Path, max_examples: int | None) -> list[tuple[str, str]]:
    """(id, sentence) rows of a BUCC corpus file (`id<TAB>sentence`); ids must be unique."""
    rows = _tab_fields(path, ("id", "sentence"), max_examples)
    seen: set[str] = set()
    for lineno, (sid, _) in enumerate(rows, 1):
        if sid in seen:
            raise DataError(f"{path} line {lineno}: duplicate sentence id {sid!r}")
        seen.add(sid)
    return rows


def _bucc_gold(path: Path, src_ids: set[str], trg_ids: set[str], capped: bool) -> frozenset:
    """Gold pairs from `id<TAB>id` lines; ids must exist unless the corpora were capped."""
    gold, dropped = set(), 0
    for lineno, (s, t) in enumerate(_tab_fields(path, ("source_id", "target_id")), 1):
        if s in src_ids and t in trg_ids:
            gold.add((s, t))
        elif capped:
            dropped += 1
        else:
            raise DataError(f"{path} line {lineno}: gold pair ({s}, {t}) names an id missing from the corpora")
    if dropped:
        logger.info("%s: %d gold pairs fall outside the capped corpora and are left out", path, dropped)
    return frozenset(gold)


def _bucc_local(req: LoadRequest) -> tuple[list, list, frozenset | None, str]:
    root, lang = Path(req.data_dir), req.language
    for infix in _BUCC_FILE_SPLITS[req.split]:
        prefix = root / f"{lang}-en.{infix}"
        if Path(f"{prefix}.{lang}").exists():
            break
    else:
        tried = ", ".join(f"{lang}-en.{i}.{{{lang},en}}" for i in _BUCC_FILE_SPLITS[req.split])
        raise DataError(f"bucc2018 {lang} {req.split}: expected {tried} in {root}, found neither")
    src = _bucc_sentences(require_file(f"{prefix}.{lang}", f"bucc2018 {lang} source"), req.max_examples)
    trg = _bucc_sentences(require_file(f"{prefix}.en", f"bucc2018 {lang} English"), req.max_examples)
    gold_path = Path(f"{prefix}.gold")
    gold = None
    if gold_path.exists():
        gold = _bucc_gold(
            require_file(gold_path, f"bucc2018 {lang} gold"),
            {i for i, _ in src}, {i for i, _ in trg}, capped=req.max_examples is not None,
        )
    return src, trg, gold, f"{prefix}.{{{lang},en,gold}}"


def _bucc_hub(spec: TaskSpec, req: LoadRequest) -> tuple[list, list, frozenset, str]:
    """The Hub's bucc18 configs hold only the gold pairs (the ids sit in *_lang fields)."""
    source = bucc_sources(spec, req)[0]
    src: dict[str, str] = {}
    trg: dict[str, str] = {}
    gold = set()
    for where, row in hub_rows(source, req.max_examples):
        pair = []
        for side, text_key, id_key in ((src, "source_sentence", "source_lang"),
                                       (trg, "target_sentence", "target_lang")):
            sid, text = field(row, id_key, where).strip(), field(row, text_key, where).strip()
            if side.setdefault(sid, text) != text:
                raise DataError(f"{where}: id {sid!r} appears with two different sentences")
            pair.append(sid)
        gold.add(tuple(pair))
    logger.warning(
        "bucc2018 %s from the Hub: %s holds only the %d gold-aligned sentences, without the "
        "unaligned rest of the corpora, so mining is far easier than in BUCC 2018 and its F1 "
        "is not comparable to published BUCC results; use the BUCC 2018 files for those",
        req.language, XTREME_HUB, len(gold),
    )
    return list(src.items()), list(trg.items()), frozenset(gold), f"{source.path}[{source.name}]/{source.split}"


def read_bucc(spec: TaskSpec, req: LoadRequest) -> RetrievalSplit:
    """BUCC 2018 for one language pair (`<lang>-en`), from the BUCC files or from the Hub.

    Local: `<lang>-en.<split>.<lang>` and `<lang>-en.<split>.en` with `id<TAB>sentence` lines,
    and `<lang>-en.<split>.gold` with `source_id<TAB>target_id` lines, where <split> is
    `sample` (or XTREME's name `dev`) for validation and `training` (or XTREME's `test`) for
    test. A missing gold file means hidden gold (gold = None). `max_examples` caps each side;
    gold pairs outside the cap are counted and left out.
    Hub: `google/xtreme` config `bucc18.<lang>`, splits validation / test; gold pairs only.
    """
    if req.language not in BUCC2018.languages:
        raise ConfigError(f"bucc2018: unknown language {req.language!r}; known: {', '.join(BUCC2018.languages)}")
    if req.split not in _BUCC_FILE_SPLITS:
        raise DataError(f"bucc2018 has splits validation (BUCC sample) and test (BUCC training); got {req.split!r}")
    src, trg, gold, origin = _bucc_hub(spec, req) if req.data_dir is None else _bucc_local(req)
    return RetrievalSplit(
        task=spec.name,
        language=req.language,
        split=req.split,
        sources=tuple(RetrievalExample(i, s, "source") for i, s in src),
        targets=tuple(RetrievalExample(i, t, "target") for i, t in trg),
        gold=gold,
        origin=origin,
    )


def load_tatoeba(spec: TaskSpec, req: LoadRequest) -> list[RetrievalExample]:
    """Registry loader: the split's examples, sources first (gold: see `read_tatoeba`)."""
    return read_tatoeba(spec, req).examples


def load_bucc(spec: TaskSpec, req: LoadRequest) -> list[RetrievalExample]:
    """Registry loader: the split's examples, sources first (gold: see `read_bucc`)."""
    return read_bucc(spec, req).examples


TATOEBA = TaskSpec(
    name="tatoeba",
    family="retrieval",
    description="Tatoeba: retrieve the English translation of each sentence among ~1000 (accuracy)",
    metric="tatoeba",
    loader=load_tatoeba,
    target=Target(
        xtreme_id="tatoeba",
        file_format="tatoeba",
        benchmarks={"xtreme": XTREME_TATOEBA, "xtreme_r": XTREME_TATOEBA + codes("az lt pl uk ro")},
        eval_examples_per_language=1_000,
        selection=Selection(split=None),  # XTREME's Tatoeba is one split, its test
    ),
    hub=f"{XTREME_HUB} (tatoeba.<xxx>, split validation; XTREME's 36 languages only, XTREME-R's 5 more "
        "from LASER's files)",
    hub_sources=tatoeba_sources,
    local_layout="<dir>/tatoeba.<xxx>-eng.<xxx> and tatoeba.<xxx>-eng.eng (LASER data/tatoeba/v1), line i aligned",
)

BUCC2018 = TaskSpec(
    name="bucc2018",
    family="retrieval",
    description="BUCC 2018: mine translation pairs from comparable corpora with margin scoring (F1)",
    metric="bucc",
    loader=load_bucc,
    target=Target(
        xtreme_id="bucc2018",
        file_format="bucc",
        benchmarks={"xtreme": codes("de fr ru zh")},
        eval_examples_per_language=20_000,
        # BUCC's "sample" (dev) gold tunes the mining threshold; its test gold was never released
        selection=Selection(caveat="BUCC's dev F1 is measured at the margin threshold tuned on it"),
        test_labels_public=False,
    ),
    hub=f"{XTREME_HUB} (bucc18.<lang>; gold pairs only, not comparable to BUCC results)",
    hub_sources=bucc_sources,
    local_layout="<dir>/<lang>-en.{sample,training}.{<lang>,en} (id<TAB>sentence) and "
                 "<lang>-en.{sample,training}.gold (id<TAB>id); XTREME's dev/test names also accepted",
)

TASKS = (BUCC2018, TATOEBA)
