"""Sentence-pair classification tasks besides MNLI/XNLI: QQP, SNLI, ANLI, ANLI+ and PAWS-X.

All NLI tasks use MNLI's label names and order (`toolkit.tasks.nli.NLI_LABELS`), so a model
trained on one reads the others. The published Hub features agree on the ids: GLUE mnli,
`stanfordnlp/snli` and `facebook/anli` all declare ClassLabel(entailment=0, neutral=1,
contradiction=2); local files giving label names are mapped by name.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from toolkit.errors import DataError
from toolkit.tasks.languages import codes
from toolkit.tasks.records import HubSource, LoadRequest, PairExample, Target, TaskSpec, revision_of
from toolkit.tasks.io import field, hub_rows, jsonl_rows, label_index, tsv_rows
from toolkit.tasks.multiple_choice import build, is_unlabelled, local_file, unique_ids
from toolkit.tasks.nli import MNLI, NLI_COLUMNS, NLI_LABELS, mnli_sources

log = logging.getLogger(__name__)

Rows = Iterable[tuple[str, dict]]

QQP_LABELS = ("not_duplicate", "duplicate")  # GLUE qqp ClassLabel names, ids 0 and 1
PAWSX_LABELS = ("0", "1")  # as XTREME writes PAWS-X labels: 1 = paraphrase
PAWSX_LANGUAGES = ("en", "de", "es", "fr", "ja", "ko", "zh")


def pair_label(row: dict, name: str, labels: tuple[str, ...], where: str, split: str) -> int:
    """A label id (given as id or name); unlabelled rows (-1, '', absent) only in the test split."""
    if is_unlabelled(row, name):
        if split == "test":
            return -1
        raise DataError(f"{where}: field {name!r} is missing or empty; {split} rows need a gold label")
    return label_index(row[name], labels, where, name)


class EmptyTexts:
    """Accepts empty text fields but records where, for corpora that really contain some.

    GLUE QQP train has two questions that are empty strings (huggingface/datasets#277) and the
    paper's 363,846 counts them; crowd-written SNLI is treated the same way. Rows whose texts
    are *all* empty are still errors.
    """

    def __init__(self, task: str):
        self.task = task
        self.seen: list[str] = []

    def pair(self, row: dict, where: str, a: str, b: str) -> tuple[str, str]:
        text_a = field(row, a, where, allow_empty=True)
        text_b = field(row, b, where, allow_empty=True)
        if not text_a.strip() and not text_b.strip():
            raise DataError(f"{where}: fields {a!r} and {b!r} are both empty")
        if not text_a.strip() or not text_b.strip():
            self.seen.append(where)
        return text_a, text_b

    def report(self) -> None:
        if self.seen:
            log.warning(
                "%s: kept %d rows with one empty text (first: %s)", self.task, len(self.seen), self.seen[0]
            )


# ---------------------------------------------------------------------------------------------
# QQP.
# ---------------------------------------------------------------------------------------------


def qqp_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """nyu-mll/glue `qqp`: train, validation, test (test labels -1)."""
    columns = (("question1", "string"), ("question2", "string"), ("label", "class_label"), ("idx", "int"))
    return (HubSource("nyu-mll/glue", "qqp", req.split, "main", columns=columns).at(revision_of(spec, req)),)


def load_qqp(spec: TaskSpec, req: LoadRequest) -> list[PairExample]:
    """QQP from `nyu-mll/glue` (qqp) or local files: Hub-schema `<split>.jsonl`
    (question1, question2, label, idx) or GLUE's `train.tsv` / `dev.tsv` (question1,
    question2, is_duplicate) and the unlabelled `test.tsv`."""
    empties = EmptyTexts("qqp")
    if req.data_dir is None:
        rows: Rows = hub_rows(qqp_sources(spec, req)[0], req.max_examples)
    else:
        glue = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}[req.split]
        path = local_file(req.data_dir, [f"{req.split}.jsonl", glue], f"qqp {req.split}")
        if path.suffix == ".jsonl":
            rows = jsonl_rows(path, req.max_examples)
        else:
            rows = tsv_rows(path, max_examples=req.max_examples)

    def make(row: dict, where: str, i: int) -> PairExample:
        a, b = empties.pair(row, where, "question1", "question2")
        label = "label" if "label" in row or "is_duplicate" not in row else "is_duplicate"
        return PairExample(id=f"qqp-{req.split}-{row.get('idx', row.get('id', i))}", text_a=a, text_b=b,
                           label=pair_label(row, label, QQP_LABELS, where, req.split))

    examples = build(rows, make)
    empties.report()
    return examples


# ---------------------------------------------------------------------------------------------
# SNLI.
# ---------------------------------------------------------------------------------------------


_SNLI_HUB_FIELDS = ("premise", "hypothesis", "label")


def snli_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """stanfordnlp/snli, its only config `plain_text`: train, validation, test."""
    return (HubSource("stanfordnlp/snli", "plain_text", req.split, "main", columns=NLI_COLUMNS).at(revision_of(spec, req)),)

_SNLI_OFFICIAL_FIELDS = ("sentence1", "sentence2", "gold_label")


def load_snli(spec: TaskSpec, req: LoadRequest) -> list[PairExample]:
    """SNLI from `stanfordnlp/snli` or local files: Hub-schema `<split>.jsonl` (premise,
    hypothesis, label) or the official `snli_1.0_{train,dev,test}.jsonl` (sentence1,
    sentence2, gold_label).

    Pairs without annotator consensus (Hub label -1, official gold_label "-") are dropped and
    counted: 785 in train, leaving the 549,367 that ANLI+ uses.
    """
    empties = EmptyTexts("snli")
    if req.data_dir is None:
        rows: Rows = hub_rows(snli_sources(spec, req)[0])
    else:
        official = {"train": "snli_1.0_train.jsonl", "validation": "snli_1.0_dev.jsonl",
                    "test": "snli_1.0_test.jsonl"}
        names = [f"{req.split}.jsonl", official[req.split]]
        rows = jsonl_rows(local_file(req.data_dir, names, f"snli {req.split}"))
    kept, dropped = [], 0
    for i, (where, row) in enumerate(rows):
        if req.max_examples is not None and len(kept) >= req.max_examples:
            break
        # Hub schema: premise/hypothesis/label; the official jsonl: sentence1/sentence2/gold_label
        a, b, label = _SNLI_HUB_FIELDS if "premise" in row else _SNLI_OFFICIAL_FIELDS
        if is_unlabelled(row, label) or str(row[label]).strip() == "-":
            dropped += 1
            continue
        text_a, text_b = empties.pair(row, where, a, b)
        kept.append(PairExample(f"snli-{req.split}-{i}", text_a, text_b,
                                label_index(row[label], NLI_LABELS, where, label)))
    if dropped:
        log.warning("snli %s: dropped %d pairs without a gold label (kept %d)", req.split, dropped, len(kept))
    empties.report()
    return unique_ids(kept)


# ---------------------------------------------------------------------------------------------
# ANLI (and ANLI+).
# ---------------------------------------------------------------------------------------------

_ANLI_SPLITS = {"train": "train", "validation": "dev", "test": "test"}
_ANLI_LETTERS = {"e": "entailment", "n": "neutral", "c": "contradiction"}  # official jsonl labels
_ANLI_COLUMNS = (("uid", "string"),) + NLI_COLUMNS


def anli_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """facebook/anli `plain_text`, splits `<train|dev|test>_r<k>` for the spec's rounds."""
    return tuple(HubSource("facebook/anli", "plain_text", f"{_ANLI_SPLITS[req.split]}_r{rnd}", "main",
                           columns=_ANLI_COLUMNS).at(revision_of(spec, req)) for rnd in spec.extra["rounds"])


def anli_plus_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """ANLI's rounds, and for train MNLI's and SNLI's training sets too (see `load_anli_plus`);
    a pinned revision applies to the ANLI rounds only (MNLI and SNLI are other repositories)."""
    anli = anli_sources(ANLI, LoadRequest(req.split, revision=revision_of(spec, req)))
    if req.split != "train":
        return anli
    return anli + mnli_sources(MNLI, LoadRequest("train")) + snli_sources(SNLI, LoadRequest("train"))



def _anli_round(req: LoadRequest, rnd: int, source: HubSource, max_examples: int | None) -> list[PairExample]:
    """One ANLI round: Hub split `<split>_r<k>`, or local `<split>_r<k>.jsonl` (Hub schema:
    uid, premise, hypothesis, label) or the official `R<k>/<split>.jsonl` (uid, context,
    hypothesis, label as e/n/c)."""
    split = f"{_ANLI_SPLITS[req.split]}_r{rnd}"
    if req.data_dir is None:
        rows: Rows = hub_rows(source, max_examples)
    else:
        names = [f"{split}.jsonl", f"R{rnd}/{_ANLI_SPLITS[req.split]}.jsonl"]
        rows = jsonl_rows(local_file(req.data_dir, names, f"anli round {rnd} {req.split}"), max_examples)

    def make(row: dict, where: str, i: int) -> PairExample:
        premise = "premise" if "premise" in row else "context"
        label = row.get("label")
        if isinstance(label, str) and label in _ANLI_LETTERS:
            row = {**row, "label": _ANLI_LETTERS[label]}
        return PairExample(
            id=f"anli-r{rnd}-{field(row, 'uid', where)}",
            text_a=field(row, premise, where),
            text_b=field(row, "hypothesis", where),
            label=pair_label(row, "label", NLI_LABELS, where, req.split),
        )

    return build(rows, make)


def load_anli(spec: TaskSpec, req: LoadRequest) -> list[PairExample]:
    """The rounds in `spec.extra["rounds"]` of ANLI, concatenated in round order."""
    out: list[PairExample] = []
    for rnd, source in zip(spec.extra["rounds"], anli_sources(spec, req)):
        remaining = None if req.max_examples is None else req.max_examples - len(out)
        if remaining == 0:
            break
        out += _anli_round(req, rnd, source, remaining)
    return out


def load_anli_plus(spec: TaskSpec, req: LoadRequest) -> list[PairExample]:
    """ANLI+ = ANLI r1-r3 + MNLI + SNLI training sets under one 3-way NLI head.

    Validation and test are ANLI's dev and test sets of all three rounds (the hardest part of
    the mix, and the only one with its own held-out sets here). Local data: `<data_dir>/anli`,
    `<data_dir>/mnli` and `<data_dir>/snli`, each in its task's own local layout.
    """
    sub = (lambda name: None) if req.data_dir is None else (lambda name: str(Path(req.data_dir) / name))
    out = load_anli(ANLI, LoadRequest(req.split, data_dir=sub("anli"), max_examples=req.max_examples,
                                      revision=revision_of(spec, req)))
    if req.split != "train":
        return out
    for task, loader in [(MNLI, MNLI.loader), (SNLI, load_snli)]:
        remaining = None if req.max_examples is None else req.max_examples - len(out)
        if remaining == 0:
            break
        out += loader(task, LoadRequest("train", data_dir=sub(task.name), max_examples=remaining))
    return out


# ---------------------------------------------------------------------------------------------
# PAWS-X.
# ---------------------------------------------------------------------------------------------


def _pawsx_local_file(root: Path, split: str, lang: str) -> tuple[Path, bool]:
    """(file, has_header): XTREME's `<split>-<lang>.tsv` (no header; dev for validation), or the
    official `<lang>/{train|translated_train,dev_2k,test_2k}.tsv` with an id/sentence1/
    sentence2/label header (also accepted as `<lang>/{dev,test}.tsv`)."""
    xsplit = "dev" if split == "validation" else split
    official = {
        "train": ["train.tsv" if lang == "en" else "translated_train.tsv"],
        "validation": ["dev_2k.tsv", "dev.tsv"],
        "test": ["test_2k.tsv", "test.tsv"],
    }[split]
    names = [f"{xsplit}-{lang}.tsv", *(f"{lang}/{n}" for n in official)]
    path = local_file(root, names, f"pawsx {lang} {split}")
    return path, path != root / names[0]


def pawsx_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """`spec.extra["hub_path"]` with config `spec.extra["hub_config"]` for the language; label
    is a ClassLabel on google-research-datasets/paws-x and a string on google/xtreme."""
    lang = req.language or "en"
    if lang not in spec.languages:
        raise DataError(f"pawsx has no language {lang!r}; it has {', '.join(spec.languages)}")
    columns = (("sentence1", "string"), ("sentence2", "string"), ("label", "class_label|string|int"))
    config = str(spec.extra["hub_config"]).format(lang=lang)
    return (HubSource(str(spec.extra["hub_path"]), config, req.split, "main", columns=columns).at(revision_of(spec, req)),)


def load_pawsx(spec: TaskSpec, req: LoadRequest) -> list[PairExample]:
    """PAWS-X in one language from the Hub or local files.

    Hub: `spec.extra["hub_path"]` with config `spec.extra["hub_config"]` formatted with the
    language: `google-research-datasets/paws-x` / `{lang}` (label ClassLabel 0/1, as here) or
    `google/xtreme` / `PAWS-X.{lang}` (label as the string "0"/"1"); both have sentence1 and
    sentence2. Training data is English unless asked otherwise (machine-translated elsewhere).
    """
    lang = req.language or "en"
    if lang not in spec.languages:
        raise DataError(f"pawsx has no language {lang!r}; it has {', '.join(spec.languages)}")
    if req.data_dir is None:
        rows: Rows = hub_rows(pawsx_sources(spec, req)[0], req.max_examples)
    else:
        path, header = _pawsx_local_file(Path(req.data_dir), req.split, lang)
        columns = None if header else ["sentence1", "sentence2", "label"]
        rows = tsv_rows(path, columns, req.max_examples)

    def make(row: dict, where: str, i: int) -> PairExample:
        return PairExample(
            id=f"pawsx-{lang}-{req.split}-{i}",
            text_a=field(row, "sentence1", where),
            text_b=field(row, "sentence2", where),
            label=pair_label(row, "label", PAWSX_LABELS, where, req.split),
        )

    return build(rows, make)


# ---------------------------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------------------------

QQP = TaskSpec(
    name="qqp",
    family="pair_classification",
    description="Quora Question Pairs: are two questions duplicates?",
    metric="accuracy",
    loader=load_qqp,
    labels=QQP_LABELS,
    train_size=363_846,
    hub="nyu-mll/glue (qqp)",
    hub_sources=qqp_sources,
    local_layout="<dir>/{train,validation,test}.jsonl (Hub schema) or GLUE's train.tsv / dev.tsv / test.tsv",
)

SNLI = TaskSpec(
    name="snli",
    family="pair_classification",
    description="Stanford NLI: 3-way entailment on image-caption premises (no-consensus pairs dropped)",
    metric="accuracy",
    loader=load_snli,
    labels=NLI_LABELS,
    train_size=549_367,
    hub="stanfordnlp/snli (plain_text)",
    hub_sources=snli_sources,
    local_layout="<dir>/{train,validation,test}.jsonl (Hub schema) or snli_1.0_{train,dev,test}.jsonl",
)

_ANLI_LAYOUT = "<dir>/{train,dev,test}_r<k>.jsonl (Hub schema) or the official R<k>/{train,dev,test}.jsonl"

ANLI = TaskSpec(
    name="anli",
    family="pair_classification",
    description="Adversarial NLI, rounds 1-3 concatenated (validation/test: dev/test of all rounds)",
    metric="accuracy",
    loader=load_anli,
    labels=NLI_LABELS,
    train_size=162_865,
    hub="facebook/anli (plain_text; splits <split>_r1..r3)",
    hub_sources=anli_sources,
    local_layout=_ANLI_LAYOUT,
    extra={"rounds": (1, 2, 3)},
)

ANLI_ROUNDS = tuple(
    TaskSpec(
        name=f"anli_r{_rnd}",
        family="pair_classification",
        description=f"Adversarial NLI, round {_rnd} only",
        metric="accuracy",
        loader=load_anli,
        labels=NLI_LABELS,
        train_size=_size,
        hub=f"facebook/anli (plain_text; splits <split>_r{_rnd})",
        hub_sources=anli_sources,
        local_layout=_ANLI_LAYOUT,
        extra={"rounds": (_rnd,)},
    )
    for _rnd, _size in [(1, 16_946), (2, 45_460), (3, 100_459)]
)

ANLI_PLUS = TaskSpec(
    name="anli_plus",
    family="pair_classification",
    description="ANLI+: ANLI r1-r3 + MNLI + SNLI training sets, one 3-way NLI head; "
                "validated on ANLI dev r1-r3",
    metric="accuracy",
    loader=load_anli_plus,
    labels=NLI_LABELS,
    train_size=1_104_934,
    hub="facebook/anli + nyu-mll/glue (mnli) + stanfordnlp/snli",
    hub_sources=anli_plus_sources,
    local_layout="<dir>/anli, <dir>/mnli, <dir>/snli, each in its own task's layout",
)

PAWSX = TaskSpec(
    name="pawsx",
    family="pair_classification",
    description="PAWS-X: adversarial paraphrase identification in 7 languages (English train)",
    metric="accuracy",
    loader=load_pawsx,
    target=Target(
        xtreme_id="pawsx",
        file_format="classification",
        benchmarks={"xtreme": codes("de en es fr ja ko zh")},
        eval_examples_per_language=2_000,
    ),
    labels=PAWSX_LABELS,
    languages=PAWSX_LANGUAGES,
    train_size=49_401,
    hub="google-research-datasets/paws-x (<lang>); also google/xtreme (PAWS-X.<lang>)",
    hub_sources=pawsx_sources,
    local_layout="XTREME's <dir>/{train,dev,test}-<lang>.tsv (sentence1, sentence2, label; no header) "
                 "or the official <dir>/<lang>/{train|translated_train,dev_2k,test_2k}.tsv",
    extra={"hub_path": "google-research-datasets/paws-x", "hub_config": "{lang}"},
)

TASKS = (QQP, SNLI, ANLI, *ANLI_ROUNDS, ANLI_PLUS, PAWSX)
