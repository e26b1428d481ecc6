"""MNLI (intermediate task, and XNLI's English training set) and XNLI (target task)."""

from __future__ import annotations

from pathlib import Path

from toolkit.errors import DataError
from toolkit.tasks.languages import codes
from toolkit.tasks.records import HubSource, LoadRequest, PairExample, Target, TaskSpec, revision_of
from toolkit.tasks.io import field, hub_rows, jsonl_rows, label_index, require_file, tsv_rows

NLI_LABELS = ("entailment", "neutral", "contradiction")  # GLUE/XNLI/SNLI/ANLI ids 0, 1, 2

XNLI_LANGUAGES = (
    "en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh",
)  # fmt: skip

_MNLI_SPLITS = {"train": "train", "validation": "validation_matched", "test": "validation_mismatched"}

# The columns the loaders read, as the Hub declares them (nyu-mll/glue mnli, facebook/xnli).
NLI_COLUMNS = (("premise", "string"), ("hypothesis", "string"), ("label", "class_label"))


def mnli_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """nyu-mll/glue `mnli`: train, validation_matched (our validation), validation_mismatched
    (our test; GLUE's test labels are hidden)."""
    return (HubSource("nyu-mll/glue", "mnli", _MNLI_SPLITS[req.split], "main",
                      columns=NLI_COLUMNS + (("idx", "int"),)).at(revision_of(spec, req)),)


def xnli_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """facebook/xnli, one config per language; validation and test (English train is MNLI)."""
    if req.split == "train":
        raise DataError("xnli has no training split of its own: its English training set is mnli")
    return (HubSource("facebook/xnli", req.language or "en", req.split, "main", columns=NLI_COLUMNS).at(revision_of(spec, req)),)


def pair_example(
    row: dict, where: str, ex_id: str, a: str, b: str, label: str, labels=NLI_LABELS
) -> PairExample:
    """A PairExample from a row, with every field checked."""
    return PairExample(
        id=ex_id,
        text_a=field(row, a, where),
        text_b=field(row, b, where),
        label=label_index(field(row, label, where, kind=object), labels, where, label),
    )


def load_mnli(spec: TaskSpec, req: LoadRequest) -> list[PairExample]:
    """MNLI from `nyu-mll/glue` (mnli) or local files.

    Splits: train; validation = matched dev; test = mismatched dev (GLUE's test labels are
    hidden). Local: `<data_dir>/<split>.jsonl` in the Hub schema, or GLUE's own TSV files
    (`train.tsv`, `dev_matched.tsv`, `dev_mismatched.tsv` with sentence1/sentence2/gold_label).
    """
    if req.data_dir is None:
        rows = hub_rows(mnli_sources(spec, req)[0], req.max_examples)
        return [pair_example(r, w, f"mnli-{req.split}-{r.get('idx', i)}", "premise", "hypothesis", "label")
                for i, (w, r) in enumerate(rows)]
    root = Path(req.data_dir)
    jsonl = root / f"{req.split}.jsonl"
    if jsonl.exists():
        rows = jsonl_rows(require_file(jsonl, "mnli"), req.max_examples)
        return [pair_example(r, w, f"mnli-{req.split}-{i}", "premise", "hypothesis", "label")
                for i, (w, r) in enumerate(rows)]
    glue_name = {"train": "train.tsv", "validation": "dev_matched.tsv", "test": "dev_mismatched.tsv"}
    path = require_file(root / glue_name[req.split], f"mnli {req.split} ({jsonl.name} or GLUE tsv)")
    rows = tsv_rows(path, max_examples=req.max_examples)
    return [pair_example(r, w, f"mnli-{req.split}-{i}", "sentence1", "sentence2", "gold_label")
            for i, (w, r) in enumerate(rows)]


def load_xnli(spec: TaskSpec, req: LoadRequest) -> list[PairExample]:
    """XNLI in one language from `facebook/xnli` or local files.

    English training data is MNLI (the target phase reads `train_task`); validation and test
    exist for every language. Local layouts: XTREME's `<data_dir>/<split>-<lang>.tsv`
    (premise, hypothesis, label; no header; `dev` for validation), or XNLI-1.0's
    `<data_dir>/xnli.<dev|test>.tsv` (header with language, gold_label, sentence1, sentence2).
    """
    lang = req.language or "en"
    if req.split == "train":
        raise DataError("xnli has no training split of its own: its English training set is mnli")
    if req.data_dir is None:
        rows = hub_rows(xnli_sources(spec, req)[0], req.max_examples)
        return [pair_example(r, w, f"xnli-{lang}-{req.split}-{i}", "premise", "hypothesis", "label")
                for i, (w, r) in enumerate(rows)]
    root = Path(req.data_dir)
    split = "dev" if req.split == "validation" else req.split
    xtreme = root / f"{split}-{lang}.tsv"
    if xtreme.exists():
        path = require_file(xtreme, f"xnli {lang} {req.split}")
        rows = tsv_rows(path, ["premise", "hypothesis", "label"], req.max_examples)
        return [pair_example(r, w, f"xnli-{lang}-{req.split}-{i}", "premise", "hypothesis", "label")
                for i, (w, r) in enumerate(rows)]
    original = require_file(root / f"xnli.{split}.tsv", f"xnli {lang} {req.split} ({xtreme.name} or XNLI-1.0 tsv)")
    out = []
    for w, r in tsv_rows(original):
        if r.get("language") != lang:
            continue
        if req.max_examples is not None and len(out) >= req.max_examples:
            break
        out.append(pair_example(r, w, f"xnli-{lang}-{req.split}-{len(out)}", "sentence1", "sentence2", "gold_label"))
    if not out:
        raise DataError(f"{original}: no rows with language {lang!r}")
    return out


# XTREME's language lists (evaluate.py's XTREME_TASK2LANGS); XTREME-R extends some.
XTREME_XNLI = codes("ar bg de el en es fr hi ru sw th tr ur vi zh")


MNLI = TaskSpec(
    name="mnli",
    family="pair_classification",
    description="Multi-Genre NLI: 3-way entailment between a premise and a hypothesis",
    metric="accuracy",
    loader=load_mnli,
    labels=NLI_LABELS,
    train_size=392_702,
    hub="nyu-mll/glue (mnli)",
    hub_sources=mnli_sources,
    local_layout="<dir>/{train,validation,test}.jsonl (premise, hypothesis, label) or GLUE's "
                 "train.tsv / dev_matched.tsv / dev_mismatched.tsv",
)

XNLI = TaskSpec(
    name="xnli",
    family="pair_classification",
    description="Cross-lingual NLI: MNLI-style pairs in 15 languages (English train = MNLI)",
    metric="accuracy",
    loader=load_xnli,
    target=Target(
        xtreme_id="xnli",
        file_format="classification",
        benchmarks={"xtreme": XTREME_XNLI, "xtreme_r": XTREME_XNLI},
        eval_examples_per_language=5_010,
        train_task="mnli",
    ),
    labels=NLI_LABELS,
    languages=XNLI_LANGUAGES,
    hub="facebook/xnli (<lang>)",
    hub_sources=xnli_sources,
    local_layout="<dir>/{dev,test}-<lang>.tsv (premise<TAB>hypothesis<TAB>label) or XNLI-1.0's xnli.{dev,test}.tsv",
)

TASKS = (MNLI, XNLI)
