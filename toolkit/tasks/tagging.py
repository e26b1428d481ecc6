"""Tagging tasks: UD-POS and PAN-X (XTREME targets) and CCG supertagging (intermediate).

UD-POS (XTREME `udpos`): Universal Dependencies v2.5, the 17 UPOS tags, 33 languages (XTREME-R
adds lt, pl, uk, wo, ro from UD v2.7: local files only), every treebank of a language pooled. Sources: the Hub's `google/xtreme` `udpos.<Language>`
configs; XTREME's preprocessed `udpos/{train,dev,test}-<lang>.tsv`; or raw UD CoNLL-U files
(`UD_<Language>-<Treebank>/<lang>_<tb>-ud-<split>.conllu`), turned into XTREME's tokens as
its download script does (`conllu_to_conll.py --replace_subtokens_with_fused_forms`, then
`utils_preprocess.py`): files picked by their `<lang>_` prefix and concatenated in file-name
order; a multiword token (`3-4 au`) becomes one token with its surface form, tagged with the
UPOS of its head word (`fused_tag`); empty nodes (`5.1`) are skipped; spaces and zero-width
non-joiners are removed inside words; sentences whose text is withheld (all or all but one
FORM is `_`, e.g. Arabic-NYUAD) are dropped and counted. So the French, German and Spanish
GSD test sets have 279, 274 and 267 tokens fewer than their syntactic words, token for token
XTREME's. The Hub's `udpos.<Language>` configs keep the syntactic words instead.

PAN-X (XTREME `panx`): WikiANN NER with Rahimi et al.'s splits, BIO tags over PER/ORG/LOC,
40 languages (XTREME-R: 48). Sources: `google/xtreme` `PAN-X.<lang>` (default) or `unimelb-nlp/wikiann`
`<lang>` (set `extra["hub_id"]`); XTREME's `panx/{train,dev,test}-<lang>.tsv`. Raw WikiANN
files prefix every token with `<lang>:`, which XTREME's preprocessing strips; a file whose
tokens all carry that prefix is stripped the same way.

Both are scored with seqeval's F1, as XTREME's `evaluate.py` scores both (for UPOS tags this
is close to, not equal to, accuracy).

CCG (intermediate): CCGbank supertagging, word-level accuracy. CCGbank is licensed
(LDC2005T13), so it is read from local files only: the LDC release's AUTO derivations
(train = sections 02-21, validation = 00, test = 23) or `{train,dev,test}.tsv` with one
`word<TAB>supertag` per line. The paper used jiant's copy (38,015 training sentences; the
standard 02-21 split has 39,604 in the LDC release) and jiant's full inventory of 1,363
supertags, with no frequency cut-off. Here the label set is built from the training split:
supertags seen at least `min_count` times (default 1, i.e. jiant's choice), plus a catch-all
that any other tag maps to for the loss. The gold strings are kept, so a catch-all prediction
never counts as correct. `resolve_labels` builds the set once and stores it in
`supertags.txt` beside the data, so training and evaluation use the same one.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from toolkit.errors import ConfigError, DataError
from toolkit.io import atomic_write_text
from toolkit.tasks.records import HubSource, LoadRequest, TaggingExample, Selection, Target, TaskSpec, revision_of
from toolkit.tasks.io import hub_split, require_file
from toolkit.tasks.languages import codes, file_code, require_google_xtreme

logger = logging.getLogger(__name__)

# UD v2's 17 universal POS tags, in the order of google/xtreme's ClassLabel.
UPOS_TAGS = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
    "PUNCT", "SCONJ", "SYM", "VERB", "X",
)  # fmt: skip

# WikiANN's BIO tags, in the order of google/xtreme's and unimelb-nlp/wikiann's ClassLabel.
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

XTREME_HUB = "google/xtreme"
# Hub id -> config name pattern for PAN-X.
PANX_HUB_CONFIGS = {"google/xtreme": "PAN-X.{lang}", "unimelb-nlp/wikiann": "{lang}"}

# Our split names -> the names in XTREME's file layout and UD's file names.
_FILE_SPLITS = {"train": "train", "validation": "dev", "test": "test"}

# CCGbank's standard sections per split (Hockenmaier & Steedman 2007).
CCG_SECTIONS = {
    "train": tuple(f"{s:02d}" for s in range(2, 22)),
    "validation": ("00",),
    "test": ("23",),
}
CCG_CATCH_ALL = "<rare>"
CCG_LABELS_FILE = "supertags.txt"

Sentence = tuple[tuple[str, ...], tuple[str, ...]]  # (tokens, tags); tags empty if unlabelled


def _english_first(langs: Sequence[str]) -> tuple[str, ...]:
    return ("en",) + tuple(lang for lang in langs if lang != "en")


def _task_dir(data_dir: str, name: str) -> Path:
    """`<data_dir>/<name>` when it exists (XTREME's download root), else `data_dir` itself."""
    root = Path(data_dir)
    return root / name if (root / name).is_dir() else root


def _file_split(split: str) -> str:
    if split not in _FILE_SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of {', '.join(_FILE_SPLITS)}")
    return _FILE_SPLITS[split]


def _examples(sentences: Iterable[Sentence], prefix: str) -> list[TaggingExample]:
    return [TaggingExample(f"{prefix}-{i}", tokens, tags) for i, (tokens, tags) in enumerate(sentences)]


def _capped(sentences: list[Sentence], max_examples: int | None) -> list[Sentence]:
    return sentences if max_examples is None else sentences[:max_examples]


# ---------------------------------------------------------------------------------------------
# File readers.
# ---------------------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    """The file's lines. Only \\n (and \\r\\n) end a line: str.splitlines() would also split
    at U+0085 or U+2028, which occur inside tokens of web text."""
    try:
        return [line.rstrip("\r") for line in path.read_text(encoding="utf-8").split("\n")]
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not valid UTF-8 ({err.reason})") from err


def read_token_tsv(path: Path, strip_prefix: str | None = None) -> list[Sentence]:
    """Sentences of a `token<TAB>tag` file (blank line between sentences).

    Lines with a token only (XTREME's test files, whose labels are withheld) make unlabelled
    sentences. With `strip_prefix` (e.g. "de:"), a file whose every token starts with it has
    it removed; a file where only some tokens do is left as it is.
    """
    lines = _lines(path)
    if strip_prefix and all(
        line.startswith(strip_prefix) for line in lines if line.strip()
    ) and any(line.strip() for line in lines):
        lines = [line[len(strip_prefix):] if line.strip() else line for line in lines]
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    width = None
    for lineno, line in enumerate(lines + [""], 1):
        if not line.strip():
            if tokens:
                sentences.append((tuple(tokens), tuple(tags)))
                tokens, tags, width = [], [], None
            continue
        fields = line.split("\t")
        if len(fields) > 2:
            raise DataError(
                f"{path} line {lineno}: expected 'token<TAB>tag' or a token alone, "
                f"found {len(fields)} tab-separated fields"
            )
        if width is not None and len(fields) != width:
            raise DataError(
                f"{path} line {lineno}: this sentence mixes tagged and untagged lines"
            )
        width = len(fields)
        tokens.append(fields[0])
        if len(fields) == 2:
            if not fields[1].strip():
                raise DataError(f"{path} line {lineno}: empty tag for token {fields[0]!r}")
            tags.append(fields[1].strip())
    return sentences


def _withheld(forms: list[str]) -> bool:
    """XTREME's test for treebanks that ship without text: all or all but one FORM is '_'."""
    empty = sum(form == "_" for form in forms)
    return empty > 0 and empty >= len(forms) - 1


# The POS ranking XTREME's UD converter (ud-conversion-tools, conllu_to_conll.py) uses to pick
# the head of a multiword token when several of its words are equally high in the tree: the
# first listed UPOS wins. Keyed by the file's language prefix; the rest use "default".
FUSED_HEAD_PRECEDENCE = {
    "default": ("VERB", "NOUN", "PROPN", "PRON", "ADJ", "NUM", "ADV", "INTJ", "AUX", "ADP", "DET",
                "PART", "CCONJ", "SCONJ", "X", "PUNCT"),
    "es": ("VERB", "AUX", "PRON", "ADP", "DET"),
    "fr": ("VERB", "AUX", "PRON", "NOUN", "ADJ", "ADV", "ADP", "DET", "PART", "SCONJ", "CONJ"),
    "it": ("VERB", "AUX", "ADV", "PRON", "ADP", "DET", "INTJ"),
}


@dataclasses.dataclass
class UDWord:
    """One syntactic word of a CoNLL-U sentence: its form, UPOS and the words it depends on."""

    form: str
    upos: str
    parents: set[int]  # HEAD plus the integer heads of the enhanced DEPS column


def _ancestors(words: dict[int, UDWord], word: int) -> int:
    """How many nodes (the root 0 included) reach `word` through dependency arcs."""
    seen: set[int] = set()
    todo = list(words[word].parents)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(words[node].parents if node in words else ())
    return len(seen)


def fused_tag(words: dict[int, UDWord], span: range, language: str) -> str:
    """The UPOS XTREME gives a multiword token: that of the span's word with the fewest
    ancestors (basic and enhanced arcs, as the converter builds its graph); among equally
    high words, the first of the best-ranked UPOS in `FUSED_HEAD_PRECEDENCE`.

    A UPOS missing from the language's ranking (XTREME's converter stops with an error there)
    ranks after all listed ones.
    """
    depth = {i: _ancestors(words, i) for i in span}
    highest = [i for i in span if depth[i] == min(depth.values())]
    ranking = FUSED_HEAD_PRECEDENCE.get(language, FUSED_HEAD_PRECEDENCE["default"])
    rank = {upos: r for r, upos in reversed(list(enumerate(ranking)))}
    return words[min(highest, key=lambda i: rank.get(words[i].upos, len(ranking)))].upos


def _heads(column: str, path: Path, lineno: int) -> set[int]:
    """Integer heads of a HEAD or DEPS field ('_' and empty-node heads such as 8.1 have none)."""
    heads = set()
    for entry in column.split("|"):
        head = entry.split(":", 1)[0]
        if head.isdigit():
            heads.add(int(head))
        elif head != "_" and not re.fullmatch(r"\d+\.\d+", head):
            raise DataError(f"{path} line {lineno}: head {head!r} is not a word id")
    return heads


def _fused_sentence(words: dict[int, UDWord], fused: dict[int, tuple[int, str]], language: str,
                    path: Path) -> Sentence:
    """XTREME's tokens of one sentence: each multiword token's surface form with `fused_tag`,
    the other words as they are (forms as written: `read_conllu` cleans them)."""
    forms, tags = [], []
    word = 1
    while word <= len(words):
        if word not in words:
            raise DataError(f"{path}: word ids must run 1..n within a sentence; {word} is missing")
        if word in fused:
            last, form = fused[word]
            forms.append(form)
            tags.append(fused_tag(words, range(word, last + 1), language))
            word = last + 1
        else:
            forms.append(words[word].form)
            tags.append(words[word].upos)
            word += 1
    return tuple(forms), tuple(tags)


def read_conllu(path: Path, tagset: Sequence[str] = UPOS_TAGS,
                language: str | None = None) -> tuple[list[Sentence], int]:
    """(sentences, number dropped for withheld text) of a CoNLL-U file, in XTREME's tokens.

    Multiword tokens keep their surface form (see `fused_tag`), empty nodes are skipped, and
    spaces and U+200C inside a FORM are removed, as XTREME's preprocessing does. `language`
    picks the head ranking of multiword tokens (default: the file name's `<lang>_` prefix).
    """
    language = language or path.name.split("_", 1)[0]
    sentences: list[Sentence] = []
    dropped = 0
    words: dict[int, UDWord] = {}
    fused: dict[int, tuple[int, str]] = {}  # first word id -> (last word id, surface form)
    for lineno, line in enumerate(_lines(path) + [""], 1):
        if not line.strip():
            if words:
                for first, (last, _) in fused.items():
                    if not all(i in words for i in range(first, last + 1)):
                        raise DataError(f"{path}: multiword token {first}-{last} lacks some of its words")
                forms, tags = _fused_sentence(words, fused, language, path)
                if _withheld(list(forms)):  # on the forms as written, as XTREME tests them
                    dropped += 1
                else:
                    sentences.append((tuple(f.replace("\u200c", "").replace(" ", "") for f in forms), tags))
            words, fused = {}, {}
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise DataError(f"{path} line {lineno}: expected 10 tab-separated CoNLL-U columns, found {len(cols)}")
        if "." in cols[0]:
            continue
        if "-" in cols[0]:
            first, _, last = cols[0].partition("-")
            if not (first.isdigit() and last.isdigit() and int(first) < int(last)):
                raise DataError(f"{path} line {lineno}: {cols[0]!r} is not a multiword range such as 3-4")
            fused[int(first)] = (int(last), cols[1])
            continue
        if not cols[0].isdigit():
            raise DataError(f"{path} line {lineno}: ID {cols[0]!r} is not a word id")
        if cols[3] not in tagset:
            raise DataError(
                f"{path} line {lineno}: UPOS {cols[3]!r} of word {cols[1]!r} is not one of "
                f"the 17 UD tags ({', '.join(tagset)})"
            )
        parents = _heads(cols[6], path, lineno) | _heads(cols[8], path, lineno)
        words[int(cols[0])] = UDWord(cols[1], cols[3], parents)
    return sentences, dropped


_AUTO_LEAF = re.compile(r"<L (\S+) (\S+) (\S+) (\S+) (\S+)>")


def read_auto(path: Path) -> list[tuple[str, Sentence]]:
    """(sentence id, (words, supertags)) for each derivation of a CCGbank AUTO file.

    Each derivation is an `ID=wsj_0001.1 ...` line followed by its tree, whose leaves read
    `(<L category modified-POS original-POS word predicate-argument-category>)`.
    """
    out = []
    sentence_id = None
    for lineno, line in enumerate(_lines(path), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("ID="):
            sentence_id = line.split()[0][3:]
            continue
        leaves = _AUTO_LEAF.findall(line)
        if not leaves:
            raise DataError(f"{path} line {lineno}: a derivation without any '(<L ...>)' leaf")
        if sentence_id is None:
            raise DataError(f"{path} line {lineno}: derivation without a preceding 'ID=' line")
        out.append((sentence_id, (tuple(leaf[3] for leaf in leaves), tuple(leaf[0] for leaf in leaves))))
        sentence_id = None
    return out


# ---------------------------------------------------------------------------------------------
# Hub reader.
# ---------------------------------------------------------------------------------------------


def hub_sentences(
    source: HubSource, tag_field: str, max_examples: int | None
) -> list[Sentence]:
    """Sentences of a Hub token-classification split (`tokens` + a ClassLabel sequence).

    Tag ids are turned into names with the dataset's own ClassLabel, so a reordered label
    list on the Hub cannot silently permute the tags.
    """
    where = f"{source.path}[{source.name}]/{source.split}"
    ds, record = hub_split(source)
    for name in ("tokens", tag_field):
        if name not in ds.features:
            raise DataError(f"{where}: missing field {name!r} (has: {', '.join(ds.features)})")
    names = getattr(getattr(ds.features[tag_field], "feature", None), "names", None)
    if names is None:
        raise DataError(f"{where}: field {tag_field!r} is not a sequence of class labels")
    if max_examples is not None:
        ds = ds.select(range(min(max_examples, len(ds))))
    out = []
    for i, row in enumerate(ds):
        record.add(row)
        tokens, ids = row["tokens"], row[tag_field]
        if len(tokens) != len(ids):
            raise DataError(f"{where} row {i}: {len(tokens)} tokens but {len(ids)} {tag_field}")
        out.append((tuple(tokens), tuple(names[t] for t in ids)))
    return out


# google/xtreme's udpos configs without a train or validation split (its script's
# UdposParser): Kazakh has train and test; Tagalog, Thai and Yoruba have test only.
UDPOS_HUB_SPLITS = {"kk": ("train", "test"), "tl": ("test",), "th": ("test",), "yo": ("test",)}


def udpos_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """google/xtreme `udpos.<Language>` (`tokens`, `pos_tags`)."""
    lang = req.language or "en"
    require_google_xtreme(spec, lang)
    has = UDPOS_HUB_SPLITS.get(lang, ("train", "validation", "test"))
    if req.split not in has:
        raise ConfigError(
            f"udpos {lang!r}: google/xtreme's udpos.{file_code('udpos', lang)} has no {req.split} split "
            f"(only {', '.join(has)}); evaluate it on test, or read UD files locally (data.data_dir)"
        )
    columns = (("tokens", "list[string]"), ("pos_tags", "list[class_label]"))
    return (HubSource(XTREME_HUB, f"udpos.{file_code('udpos', lang)}", req.split, "main",
                      columns=columns).at(revision_of(spec, req)),)


def panx_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """PAN-X from google/xtreme (`PAN-X.<lang>`, XTREME's 40 languages) or unimelb-nlp/wikiann
    (`<lang>`, the same Rahimi et al. splits, for XTREME-R's extra languages)."""
    lang = req.language or "en"
    hub_id = str(spec.extra.get("hub_id", XTREME_HUB))
    if hub_id == XTREME_HUB and lang in spec.target.languages and lang not in spec.target.benchmarks["xtreme"]:
        hub_id = "unimelb-nlp/wikiann"
    if hub_id not in PANX_HUB_CONFIGS:
        raise ConfigError(f"panx: unknown Hub dataset {hub_id!r}; known: {', '.join(PANX_HUB_CONFIGS)}")
    columns = (("tokens", "list[string]"), ("ner_tags", "list[class_label]"))
    return (HubSource(hub_id, PANX_HUB_CONFIGS[hub_id].format(lang=lang), req.split, "main",
                      columns=columns).at(revision_of(spec, req)),)


# ---------------------------------------------------------------------------------------------
# Loaders.
# ---------------------------------------------------------------------------------------------


def load_udpos(spec: TaskSpec, req: LoadRequest) -> list[TaggingExample]:
    """UD-POS in one language: Hub `google/xtreme` `udpos.<Language>`, XTREME tsv or CoNLL-U."""
    lang = req.language or "en"
    prefix = f"udpos-{lang}-{req.split}"
    if req.data_dir is None:
        return _examples(hub_sentences(udpos_sources(spec, req)[0], "pos_tags", req.max_examples), prefix)
    root = _task_dir(req.data_dir, "udpos")
    split = _file_split(req.split)
    tsv = root / f"{split}-{lang}.tsv"
    if tsv.exists():
        return _examples(_capped(read_token_tsv(require_file(tsv, "udpos")), req.max_examples), prefix)
    files = sorted(root.glob(f"**/{lang}_*-ud-{split}*.conllu"), key=lambda p: (p.name, str(p)))
    if not files:
        raise DataError(
            f"udpos {lang} {req.split}: found neither {tsv} (XTREME layout) nor any "
            f"{root}/UD_*/{lang}_*-ud-{split}*.conllu (UD treebanks)"
        )
    sentences: list[Sentence] = []
    for path in files:
        read, dropped = read_conllu(path)
        if dropped:
            logger.warning("%s: dropped %d sentence(s) whose text is withheld ('_' forms)", path, dropped)
        sentences.extend(read)
        if req.max_examples is not None and len(sentences) >= req.max_examples:
            break
    return _examples(_capped(sentences, req.max_examples), prefix)


def load_panx(spec: TaskSpec, req: LoadRequest) -> list[TaggingExample]:
    """PAN-X in one language: Hub (`google/xtreme` or `unimelb-nlp/wikiann`) or XTREME tsv.

    google/xtreme has XTREME's 40 languages only; XTREME-R's additions come from
    `unimelb-nlp/wikiann`, which holds the same Rahimi et al. splits for every language.
    """
    lang = req.language or "en"
    prefix = f"panx-{lang}-{req.split}"
    if req.data_dir is None:
        return _examples(hub_sentences(panx_sources(spec, req)[0], "ner_tags", req.max_examples), prefix)
    root = _task_dir(req.data_dir, "panx")
    path = require_file(root / f"{_file_split(req.split)}-{lang}.tsv", "panx (XTREME layout)")
    sentences = read_token_tsv(path, strip_prefix=f"{lang}:")
    return _examples(_capped(sentences, req.max_examples), prefix)


def _auto_root(root: Path) -> Path | None:
    for candidate in (root / "data" / "AUTO", root / "AUTO", root):
        if (candidate / "00").is_dir() or (candidate / "02").is_dir():
            return candidate
    return None


def load_ccg(spec: TaskSpec, req: LoadRequest) -> list[TaggingExample]:
    """CCGbank supertags from local files: `{train,dev,test}.tsv` or the AUTO derivations."""
    if req.data_dir is None:
        raise ConfigError(
            "ccg: CCGbank is licensed (LDC2005T13) and not on the Hugging Face Hub; obtain it "
            f"from the LDC and pass its folder as data_dir. Expected layout: {spec.local_layout}"
        )
    root = _task_dir(req.data_dir, "ccg")
    split = _file_split(req.split)
    tsv = root / f"{split}.tsv"
    if tsv.exists():
        sentences = read_token_tsv(require_file(tsv, "ccg"))
        if any(not tags for _, tags in sentences):
            raise DataError(f"{tsv}: every line needs 'word<TAB>supertag'")
        return _examples(_capped(sentences, req.max_examples), f"ccg-{req.split}")
    auto = _auto_root(root)
    if auto is None:
        raise DataError(f"ccg {req.split}: found neither {tsv} nor CCGbank AUTO sections under {root}")
    examples: list[TaggingExample] = []
    for section in CCG_SECTIONS[req.split]:
        files = sorted((auto / section).glob("*.auto"))
        if not files:
            raise DataError(f"ccg {req.split}: no *.auto files in {auto / section}")
        for path in files:
            examples.extend(TaggingExample(i, words, tags) for i, (words, tags) in read_auto(path))
            if req.max_examples is not None and len(examples) >= req.max_examples:
                return examples[: req.max_examples]
    return examples


# ---------------------------------------------------------------------------------------------
# Labels built from the training data (CCG).
# ---------------------------------------------------------------------------------------------


def build_supertag_labels(
    examples: Iterable[TaggingExample], min_count: int = 1, catch_all: str = CCG_CATCH_ALL
) -> tuple[str, ...]:
    """Tags seen at least `min_count` times, most frequent first (ties by name), then `catch_all`."""
    counts = Counter(tag for e in examples for tag in e.tags)
    if not counts:
        raise DataError("cannot build a supertag set: the training split has no tags")
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    logger.info(
        "supertags: %d of %d kept (seen >= %d times); %d training words map to %r",
        len(kept), len(counts), min_count,
        sum(c for t, c in counts.items() if c < min_count), catch_all,
    )
    return tuple(kept) + (catch_all,
)


def resolve_labels(
    spec: TaskSpec, data_dir: str | None, labels_path: str | Path | None = None
) -> TaskSpec:
    """`spec` with its label set filled in, for tasks whose labels come from training data.

    Specs that already have labels are returned unchanged. Otherwise the set is read from
    `labels_path` (default: `supertags.txt` in the task's data folder) when that file exists,
    or built from the training split with `build_supertag_labels` and written there, so every
    later run (training or evaluation) uses the same label ids.
    """
    if spec.labels:
        return spec
    catch_all = spec.extra.get("catch_all")
    if catch_all is None:
        raise ConfigError(f"task {spec.name!r} has neither labels nor a data-derived label set")
    if data_dir is None and labels_path is None:
        raise ConfigError(f"{spec.name}: its label set comes from local training data; give data_dir")
    path = Path(labels_path) if labels_path else _task_dir(data_dir, spec.name) / CCG_LABELS_FILE
    if path.is_file():
        labels = tuple(line for line in _lines(path) if line)
        if not labels or labels[-1] != catch_all or len(set(labels)) != len(labels):
            raise DataError(
                f"{path}: expected one distinct label per line ending with {catch_all!r}"
            )
        return dataclasses.replace(spec, labels=labels)
    train = spec.loader(spec, LoadRequest("train", data_dir=data_dir))
    labels = build_supertag_labels(train, int(spec.extra.get("min_count", 1)), catch_all)
    # A private temporary name per process: every rank may build the (identical) set at once.
    try:
        atomic_write_text(path, "\n".join(labels) + "\n")
    except OSError as err:
        raise ConfigError(
            f"{spec.name}: cannot store the label set at {path} ({err}); pass a writable labels_path"
        ) from err
    return dataclasses.replace(spec, labels=labels)


# XTREME's language lists (evaluate.py's XTREME_TASK2LANGS); XTREME-R extends some.
XTREME_UDPOS = codes("af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh")
XTREME_PANX = codes("ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw yo my zh kk tr et fi hu")


# ---------------------------------------------------------------------------------------------
# Registration.
# ---------------------------------------------------------------------------------------------

UDPOS = TaskSpec(
    name="udpos",
    family="tagging",
    description="Universal Dependencies v2.5 part-of-speech tagging (17 UPOS tags)",
    metric="seqeval",
    loader=load_udpos,
    target=Target(
        xtreme_id="udpos",
        file_format="tagging",
        benchmarks={"xtreme": XTREME_UDPOS, "xtreme_r": XTREME_UDPOS + codes("lt pl uk wo ro")},
        eval_examples_per_language=1_500,
        # google/xtreme's udpos configs: Kazakh has no validation split; Tagalog, Thai, Yoruba only test
        selection=Selection(without_dev=codes("kk tl th yo")),
    ),
    labels=UPOS_TAGS,
    train_size=21_253,
    hub="google/xtreme (udpos.<Language>, e.g. udpos.German; kk has no validation, tl/th/yo test only)",
    hub_sources=udpos_sources,
    local_layout="<dir>/udpos/{train,dev,test}-<lang>.tsv (token<TAB>tag, blank line between "
                 "sentences) or <dir>/udpos/UD_<Language>-<TB>/<lang>_<tb>-ud-{train,dev,test}.conllu",
)

PANX = TaskSpec(
    name="panx",
    family="tagging",
    description="PAN-X / WikiANN named entities (BIO over PER, ORG, LOC)",
    metric="seqeval",
    loader=load_panx,
    target=Target(
        xtreme_id="panx",
        file_format="tagging",
        benchmarks={"xtreme": XTREME_PANX, "xtreme_r": XTREME_PANX + codes("qu pl uk az lt pa gu ro")},
        eval_examples_per_language=10_000,
    ),
    labels=PANX_TAGS,
    train_size=20_000,
    hub="google/xtreme (PAN-X.<lang>) or unimelb-nlp/wikiann (<lang>) via extra['hub_id']",
    hub_sources=panx_sources,
    local_layout="<dir>/panx/{train,dev,test}-<lang>.tsv (token<TAB>tag, blank line between sentences)",
    extra={"hub_id": XTREME_HUB},
)

CCG = TaskSpec(
    name="ccg",
    family="tagging",
    description="CCGbank supertagging (licensed, LDC2005T13: local files only)",
    metric="tagging_accuracy",
    loader=load_ccg,
    train_size=38_015,
    hub="",
    local_layout="<dir>/ccg/{train,dev,test}.tsv (word<TAB>supertag, blank line between "
                 "sentences) or the LDC release with <dir>/data/AUTO/<section>/wsj_*.auto "
                 "(train 02-21, dev 00, test 23); supertags.txt is written there on first use",
    extra={"catch_all": CCG_CATCH_ALL, "min_count": 1},
    setup=resolve_labels,
)

TASKS = (UDPOS, PANX, CCG)
