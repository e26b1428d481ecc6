"""Multiple-choice intermediate tasks: HellaSwag, CosmosQA, SocialIQA, CommonsenseQA.

Every loader reads the Hub dataset its TaskSpec names (`hub`), or local files: `<data_dir>/<split>.jsonl`
in the Hub's own schema (split = train / validation / test), or the task's official release
files. Test splits without gold labels load with label -1; a missing label anywhere else is an
error.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from toolkit.errors import ConfigError, DataError
from toolkit.hub import PARQUET_EXPORT
from toolkit.tasks.records import HubSource, LoadRequest, MultipleChoiceExample, TaskSpec, revision_of
from toolkit.tasks.io import field, hub_rows, jsonl_rows, require_file

Rows = Iterable[tuple[str, dict]]


# ---------------------------------------------------------------------------------------------
# Shared helpers (also used by toolkit.tasks.classification).
# ---------------------------------------------------------------------------------------------


def local_file(root: str | Path, names: Sequence[str], what: str) -> Path:
    """The first of `names` that exists under `root`; a DataError listing them all otherwise."""
    root = Path(root)
    for name in names:
        if (root / name).exists():
            return require_file(root / name, what)
    raise DataError(f"{what}: expected one of {', '.join(names)} in {root}, found none")


def is_unlabelled(row: dict, name: str) -> bool:
    """True when a row carries no gold label: field absent, None, '' or -1 (hidden test labels)."""
    value = row.get(name)
    return value is None or (isinstance(value, str) and not value.strip()) or str(value).strip() == "-1"


def choice_label(row: dict, name: str, num_choices: int, where: str, split: str, first: int = 0) -> int:
    """The gold choice index (0-based) of a row whose label counts from `first`.

    Unlabelled rows are accepted in the test split only (label -1).
    """
    if is_unlabelled(row, name):
        if split == "test":
            return -1
        raise DataError(f"{where}: field {name!r} is missing or empty; {split} rows need a gold label")
    idx = field(row, name, where, kind=int) - first
    if not 0 <= idx < num_choices:
        raise DataError(
            f"{where}: field {name!r} = {row[name]!r} is outside {first}..{first + num_choices - 1}"
        )
    return idx


def text_list(values: Any, n: int, where: str, name: str) -> tuple[str, ...]:
    """A list field holding exactly `n` non-empty strings."""
    if not isinstance(values, (list, tuple)):
        raise DataError(f"{where}: field {name!r} must be a list of {n} strings, got {type(values).__name__}")
    if len(values) != n:
        raise DataError(f"{where}: field {name!r} has {len(values)} entries, expected {n}")
    return tuple(field({name: v}, name, f"{where} {name}[{i}]") for i, v in enumerate(values))


def csv_rows(path: Path, max_examples: int | None = None) -> Iterator[tuple[str, dict]]:
    """Rows of a comma-separated file with a header (quoted fields may span lines)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            for n, row in enumerate(reader):
                if max_examples is not None and n >= max_examples:
                    return
                if None in row:  # DictReader's key for fields beyond the header
                    raise DataError(f"{path} line {reader.line_num}: more fields than the header has")
                yield f"{path} line {reader.line_num}", row
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not valid UTF-8 ({err.reason})") from err
    except csv.Error as err:
        raise DataError(f"{path}: malformed CSV ({err})") from err


def unique_ids(examples: list) -> list:
    """The examples, after checking that no two share an id (predictions are keyed by id)."""
    seen: set[str] = set()
    for ex in examples:
        if ex.id in seen:
            raise DataError(f"duplicate example id {ex.id!r}: ids must be unique within a split")
        seen.add(ex.id)
    return examples


def build(rows: Rows, make: Callable[[dict, str, int], Any]) -> list:
    """Examples from (location, row) pairs; `make(row, where, index)` validates and builds one."""
    return unique_ids([make(row, where, i) for i, (where, row) in enumerate(rows)])


def _rows(spec: TaskSpec, req: LoadRequest, official: dict[str, Sequence[str]]) -> Rows:
    """Hub rows (the spec's `hub_sources`), or local rows from `<split>.jsonl` (Hub schema) or
    the official file names."""
    if req.data_dir is None:
        return hub_rows(spec.hub_sources(spec, req)[0], req.max_examples)
    names = [f"{req.split}.jsonl", *official.get(req.split, ())]
    path = local_file(req.data_dir, names, f"{spec.name} {req.split}")
    if path.suffix == ".csv":
        return csv_rows(path, req.max_examples)
    return jsonl_rows(path, req.max_examples)


def _num_choices(spec: TaskSpec) -> int:
    return int(spec.extra["num_choices"])


# ---------------------------------------------------------------------------------------------
# HellaSwag.
# ---------------------------------------------------------------------------------------------


def hellaswag_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """Rowan/hellaswag (one config): train, validation, test (test labels are empty strings)."""
    columns = (("ind", "int"), ("ctx_a", "string"), ("ctx_b", "string"), ("endings", "list[string]"),
               ("label", "string|int"))
    return (HubSource("Rowan/hellaswag", None, req.split, "main", columns=columns).at(revision_of(spec, req)),)


def load_hellaswag(spec: TaskSpec, req: LoadRequest) -> list[MultipleChoiceExample]:
    """HellaSwag from `Rowan/hellaswag` or local files (Hub-schema JSONL or the official
    `hellaswag_{train,val,test}.jsonl`, whose label is an int rather than a string).

    As in jiant, the context is `ctx_a` and each choice is `ctx_b` followed by the ending, so
    the sentence the endings complete stays whole on the choice side.
    """
    n = _num_choices(spec)
    official = {"train": ["hellaswag_train.jsonl"], "validation": ["hellaswag_val.jsonl"],
                "test": ["hellaswag_test.jsonl"]}
    rows = _rows(spec, req, official)

    def make(row: dict, where: str, i: int) -> MultipleChoiceExample:
        ctx_b = field(row, "ctx_b", where, allow_empty=True).strip()
        endings = text_list(row.get("endings"), n, where, "endings")
        return MultipleChoiceExample(
            id=f"hellaswag-{req.split}-{field(row, 'ind', where, kind=int)}",
            context=field(row, "ctx_a", where),
            question="",
            choices=tuple(f"{ctx_b} {e}".strip() for e in endings),
            label=choice_label(row, "label", n, where, req.split),
        )

    return build(rows, make)


# ---------------------------------------------------------------------------------------------
# CosmosQA.
# ---------------------------------------------------------------------------------------------


def cosmosqa_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """allenai/cosmos_qa's main branch holds only its loading script, so the Hub's Parquet
    export (`default/<split>/0000.parquet`) is read: train, validation, test (labels -1)."""
    columns = (("id", "string"), ("context", "string"), ("question", "string"),
               *((f"answer{k}", "string") for k in range(4)), ("label", "int|class_label"))
    return (HubSource("allenai/cosmos_qa", None, req.split, PARQUET_EXPORT, data_dir="default",
                      columns=columns).at(revision_of(spec, req)),)


def load_cosmosqa(spec: TaskSpec, req: LoadRequest) -> list[MultipleChoiceExample]:
    """CosmosQA from `allenai/cosmos_qa` or local files: Hub-schema JSONL, or the official
    `train.csv` / `valid.csv` (id, context, question, answer0..answer3, label) and the
    unlabelled `test.jsonl`."""
    n = _num_choices(spec)
    official = {"train": ["train.csv"], "validation": ["valid.csv"], "test": ["test.jsonl"]}
    rows = _rows(spec, req, official)

    def make(row: dict, where: str, i: int) -> MultipleChoiceExample:
        return MultipleChoiceExample(
            id=field(row, "id", where),
            context=field(row, "context", where),
            question=field(row, "question", where),
            choices=tuple(field(row, f"answer{k}", where) for k in range(n)),
            label=choice_label(row, "label", n, where, req.split),
        )

    return build(rows, make)


# ---------------------------------------------------------------------------------------------
# SocialIQA.
# ---------------------------------------------------------------------------------------------


def _socialiqa_local_rows(spec: TaskSpec, req: LoadRequest) -> Rows:
    """Hub-schema `<split>.jsonl`, or the official `{train,dev}.jsonl` + `{train,dev}-labels.lst`.

    The official release keeps labels ("1".."3", one per line) in a separate file; they are
    merged into the rows here, and the two files must have the same number of rows.
    """
    stem = {"train": "train", "validation": "dev", "test": "test"}[req.split]
    names = [f"{req.split}.jsonl"] if stem == req.split else [f"{req.split}.jsonl", f"{stem}.jsonl"]
    path = local_file(req.data_dir, names, f"{spec.name} {req.split}")
    rows = list(jsonl_rows(path, req.max_examples))
    labels_path = Path(req.data_dir) / f"{stem}-labels.lst"
    if not labels_path.exists() or any("label" in r for _, r in rows):
        return rows
    text = require_file(labels_path, spec.name).read_text(encoding="utf-8")
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if req.max_examples is None and len(labels) != len(rows):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(rows)} rows in {path}")
    if len(labels) < len(rows):
        raise DataError(f"{labels_path}: only {len(labels)} labels for the first {len(rows)} rows of {path}")
    return [(f"{where} (label: {labels_path} line {k + 1})", {**row, "label": labels[k]})
            for k, (where, row) in enumerate(rows)]


def socialiqa_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """`spec.extra["hub_path"]` (lighteval/siqa): train and validation only, as SocialIQA never
    published test labels; the paper's protocol scores its dev set, our validation."""
    if req.split == "test":
        raise ConfigError(
            f"socialiqa on the Hub ({spec.extra['hub_path']}) has no test split (SocialIQA's test labels "
            "were never published): evaluate on split validation, or give local files (data.data_dir)"
        )
    columns = (("context", "string"), ("question", "string"), ("answerA", "string"), ("answerB", "string"),
               ("answerC", "string"), ("label", "string|int"))
    return (HubSource(str(spec.extra["hub_path"]), None, req.split, "main", columns=columns).at(revision_of(spec, req)),)


def load_socialiqa(spec: TaskSpec, req: LoadRequest) -> list[MultipleChoiceExample]:
    """SocialIQA from the Hub (label "1".."3" as a string) or local files.

    The Hub copy is `spec.extra["hub_path"]`: `allenai/social_i_qa` still ships only a loading
    script, which `datasets` >= 4 refuses to run, so the default is `lighteval/siqa`, a parquet
    copy with the same fields and splits (lm-evaluation-harness made the same switch).
    """
    n = _num_choices(spec)
    if req.data_dir is None:
        rows = hub_rows(socialiqa_sources(spec, req)[0], req.max_examples)
    else:
        rows = _socialiqa_local_rows(spec, req)

    def make(row: dict, where: str, i: int) -> MultipleChoiceExample:
        return MultipleChoiceExample(
            id=f"socialiqa-{req.split}-{i}",  # the release has no ids: row order is the id
            context=field(row, "context", where),
            question=field(row, "question", where),
            choices=tuple(field(row, f"answer{k}", where) for k in "ABC"[:n]),
            label=choice_label(row, "label", n, where, req.split, first=1),
        )

    return build(rows, make)


# ---------------------------------------------------------------------------------------------
# CommonsenseQA.
# ---------------------------------------------------------------------------------------------


def _csqa_parts(row: dict, where: str) -> tuple[str, list, list]:
    """(question, choice labels, choice texts) from a Hub row or an official nested row.

    Hub: `question` is a string and `choices` is {"label": [...], "text": [...]}.
    Official: `question` is {"stem", "choices": [{"label", "text"}, ...], "question_concept"}.
    """
    q = row.get("question")
    if isinstance(q, dict):
        choices = q.get("choices")
        if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
            raise DataError(f"{where}: field 'question.choices' must be a list of {{label, text}} objects")
        return (field(q, "stem", f"{where} question"), [c.get("label") for c in choices],
                [c.get("text") for c in choices])
    choices = row.get("choices")
    if not isinstance(choices, dict):
        raise DataError(f"{where}: field 'choices' must be an object with 'label' and 'text' lists")
    return field(row, "question", where), choices.get("label"), choices.get("text")


def commonsenseqa_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """tau/commonsense_qa: train, validation, test (test answerKey empty)."""
    columns = (("id", "string"), ("question", "string"), ("choices", "struct|list[struct]"), ("answerKey", "string"))
    return (HubSource("tau/commonsense_qa", None, req.split, "main", columns=columns).at(revision_of(spec, req)),)


def load_commonsenseqa(spec: TaskSpec, req: LoadRequest) -> list[MultipleChoiceExample]:
    """CommonsenseQA from `tau/commonsense_qa` or local files (Hub-schema JSONL or the official
    `{train,dev}_rand_split.jsonl` / `test_rand_split_no_answers.jsonl`). The test split has no
    answerKey."""
    n = _num_choices(spec)
    official = {"train": ["train_rand_split.jsonl"], "validation": ["dev_rand_split.jsonl"],
                "test": ["test_rand_split_no_answers.jsonl"]}
    rows = _rows(spec, req, official)

    def make(row: dict, where: str, i: int) -> MultipleChoiceExample:
        question, keys, texts = _csqa_parts(row, where)
        keys = text_list(keys, n, where, "choices.label")
        texts = text_list(texts, n, where, "choices.text")
        if is_unlabelled(row, "answerKey"):
            if req.split != "test":
                raise DataError(f"{where}: field 'answerKey' is missing or empty; {req.split} rows need one")
            label = -1
        elif row["answerKey"] not in keys:
            raise DataError(f"{where}: answerKey {row['answerKey']!r} is not one of the choice labels {keys}")
        else:
            label = keys.index(row["answerKey"])
        return MultipleChoiceExample(id=field(row, "id", where), context="", question=question,
                                     choices=texts, label=label)

    return build(rows, make)


# ---------------------------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------------------------


HELLASWAG = TaskSpec(
    name="hellaswag",
    family="multiple_choice",
    description="HellaSwag: pick the plausible continuation of a video/WikiHow context (4 endings)",
    metric="accuracy",
    loader=load_hellaswag,
    train_size=39_905,
    hub="Rowan/hellaswag",
    hub_sources=hellaswag_sources,
    local_layout="<dir>/{train,validation,test}.jsonl (Hub schema) or hellaswag_{train,val,test}.jsonl",
    extra={"num_choices": 4},
)

COSMOSQA = TaskSpec(
    name="cosmosqa",
    family="multiple_choice",
    description="CosmosQA: commonsense reading comprehension, 4 answers per question",
    metric="accuracy",
    loader=load_cosmosqa,
    train_size=25_588,
    hub="allenai/cosmos_qa (its Parquet export, refs/convert/parquet: main holds only a script)",
    hub_sources=cosmosqa_sources,
    local_layout="<dir>/{train,validation,test}.jsonl (Hub schema) or the official train.csv, "
                 "valid.csv, test.jsonl",
    extra={"num_choices": 4},
)

SOCIALIQA = TaskSpec(
    name="socialiqa",
    family="multiple_choice",
    description="SocialIQA: commonsense about social situations, 3 answers per question",
    metric="accuracy",
    loader=load_socialiqa,
    train_size=33_410,
    hub="lighteval/siqa (parquet copy of allenai/social_i_qa; train and validation only)",
    hub_sources=socialiqa_sources,
    local_layout="<dir>/{train,validation,test}.jsonl (Hub schema) or the official "
                 "{train,dev}.jsonl + {train,dev}-labels.lst",
    extra={"num_choices": 3, "hub_path": "lighteval/siqa"},
)

COMMONSENSEQA = TaskSpec(
    name="commonsenseqa",
    family="multiple_choice",
    description="CommonsenseQA: ConceptNet-based commonsense questions, 5 answers each",
    metric="accuracy",
    loader=load_commonsenseqa,
    train_size=9_741,
    hub="tau/commonsense_qa",
    hub_sources=commonsenseqa_sources,
    local_layout="<dir>/{train,validation,test}.jsonl (Hub schema) or the official "
                 "{train,dev}_rand_split.jsonl, test_rand_split_no_answers.jsonl",
    extra={"num_choices": 5},
)

TASKS = (HELLASWAG, COSMOSQA, SOCIALIQA, COMMONSENSEQA)
