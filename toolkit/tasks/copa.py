"""COPA (English) and XCOPA (XTREME-R's causal commonsense target task).

COPA (Roemmele et al., 2011) asks which of two alternatives is the cause (or the effect) of a
premise. XCOPA (Ponti et al., 2020) is COPA's validation and test sets translated into 11
languages; it has no training data of its own. XTREME-R (`scripts/train_xcopa.sh`) fine-tunes
on English SocialIQA first, then on COPA's English training set, and predicts XCOPA's test
set zero-shot: here `xcopa` has `train_task="copa"` and `train_stages=("socialiqa",)`.

Both datasets share one row schema (the Hub's and the official files'): premise, choice1,
choice2, question ("cause" or "effect"), label (0: choice1, 1: choice2), idx; XCOPA adds
`changed`. As XTREME-R feeds them, the first segment is `<premise> What was the <question>?`
(in English for every language, as XCOPA keeps the question field in English) and each choice
is the second segment.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.errors import ConfigError, DataError
from toolkit.hub import PARQUET_EXPORT
from toolkit.tasks.records import HubSource, LoadRequest, MultipleChoiceExample, Target, TaskSpec, revision_of
from toolkit.tasks.io import field, hub_rows, jsonl_rows
from toolkit.tasks.languages import codes
from toolkit.tasks.multiple_choice import Rows, build, choice_label, local_file

# The question XTREME-R's run_xcopa.py appends to the premise, per COPA question type.
COPA_QUESTIONS = {"cause": "What was the cause?", "effect": "What was the effect?"}

# XTREME's download script overwrites every XCOPA test label with 0 ("to prevent accidental
# cheating"); a test file this long whose labels are all 0 is that placeholder, not gold.
_PLACEHOLDER_ROWS = 50


def copa_example(row: dict, where: str, ex_id: str, split: str) -> MultipleChoiceExample:
    """One COPA-schema row as a two-choice example; test rows may lack the label."""
    question = field(row, "question", where)
    if question not in COPA_QUESTIONS:
        raise DataError(
            f"{where}: field 'question' = {question!r}; expected one of {', '.join(COPA_QUESTIONS)}"
        )
    return MultipleChoiceExample(
        id=ex_id,
        context=field(row, "premise", where),
        question=COPA_QUESTIONS[question],
        choices=(field(row, "choice1", where), field(row, "choice2", where)),
        label=choice_label(row, "label", 2, where, split),
    )


def _check_not_placeholder(examples: list[MultipleChoiceExample], source: str) -> None:
    if len(examples) >= _PLACEHOLDER_ROWS and all(e.label == 0 for e in examples):
        raise DataError(
            f"{source}: all {len(examples)} test labels are 0, the placeholder XTREME's download "
            "script writes over XCOPA's test labels; score the gold files of cambridgeltl/xcopa "
            "(data/<lang>/test.<lang>.jsonl, or the Hub) instead"
        )


# The COPA columns the loaders read (aps/super_glue copa: label a ClassLabel; xcopa: an int).
_COPA_COLUMNS = (("premise", "string"), ("choice1", "string"), ("choice2", "string"),
                 ("question", "string"), ("idx", "int"))


# ---------------------------------------------------------------------------------------------
# COPA (English).
# ---------------------------------------------------------------------------------------------


def copa_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """aps/super_glue's COPA from the Hub's Parquet export (`copa/<split>/0000.parquet`): the
    export is certain to exist, while main may still hold only the loading script."""
    columns = _COPA_COLUMNS + (("label", "class_label|int"),)
    return (HubSource(str(spec.extra["hub_path"]), None, req.split, PARQUET_EXPORT, data_dir="copa",
                      columns=columns).at(revision_of(spec, req)),)

_COPA_FILES = {
    "train": ["train.jsonl", "train-en.jsonl"],
    "validation": ["validation.jsonl", "val.jsonl", "val-en.jsonl"],
    "test": ["test.jsonl", "test-en.jsonl"],
}


def load_copa(spec: TaskSpec, req: LoadRequest) -> list[MultipleChoiceExample]:
    """English COPA from the Hub (`spec.extra["hub_path"]`, config `copa`) or local files.

    Local: `<dir>/{train,validation,test}.jsonl` (Hub schema), SuperGLUE's COPA.zip files
    `train.jsonl`, `val.jsonl`, `test.jsonl`, or XTREME's renamed `{train,val,test}-en.jsonl`.
    SuperGLUE's test set has no labels (label -1 here).
    """
    if req.data_dir is None:
        rows: Rows = hub_rows(copa_sources(spec, req)[0], req.max_examples)
    else:
        path = local_file(req.data_dir, _COPA_FILES[req.split], f"copa {req.split}")
        rows = jsonl_rows(path, req.max_examples)
    return build(rows, lambda row, where, i: copa_example(
        row, where, f"copa-{req.split}-{field(row, 'idx', where, kind=int)}", req.split))


# ---------------------------------------------------------------------------------------------
# XCOPA.
# ---------------------------------------------------------------------------------------------

_XCOPA_FILE_SPLITS = {"validation": "val", "test": "test"}


def _xcopa_local(root: Path, split: str, lang: str) -> Path:
    """cambridgeltl/xcopa's `data/<lang>/<split>.<lang>.jsonl` (the folder `data/` optional),
    or XTREME's renamed `<split>-<lang>.jsonl`; <split> is `val` or `test`."""
    name = _XCOPA_FILE_SPLITS[split]
    candidates = [f"data/{lang}/{name}.{lang}.jsonl", f"{lang}/{name}.{lang}.jsonl", f"{name}-{lang}.jsonl"]
    return local_file(root, candidates, f"xcopa {lang} {split}")


def xcopa_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """cambridgeltl/xcopa, config `<lang>`, splits validation and test (gold labels, ints)."""
    lang = req.language
    if lang not in spec.languages:
        raise ConfigError(
            f"xcopa has no language {lang!r}; its languages: {', '.join(spec.languages)} "
            f"(English COPA is the task {spec.train_task!r})"
        )
    if req.split not in _XCOPA_FILE_SPLITS:
        raise ConfigError(
            f"xcopa has splits validation and test, not {req.split!r}; its English training set is "
            f"the task {spec.train_task!r}"
        )
    columns = _COPA_COLUMNS + (("label", "int|class_label"),)
    return (HubSource(str(spec.extra["hub_path"]), lang, req.split, "main", columns=columns).at(revision_of(spec, req)),)


def load_xcopa(spec: TaskSpec, req: LoadRequest) -> list[MultipleChoiceExample]:
    """XCOPA in one language: `validation` (100 examples) or `test` (500).

    Hub: `cambridgeltl/xcopa`, config `<lang>` (splits validation, test). Local: the files of
    github.com/cambridgeltl/xcopa or of XTREME's download script (see `_xcopa_local`); a test
    file with XTREME's placeholder labels (all 0) is refused. The English training and
    validation data is COPA (`spec.train_task`).
    """
    lang = req.language
    sources = xcopa_sources(spec, req)  # checks the language and split for local files too
    if req.data_dir is None:
        source = sources[0]
        rows: Rows = hub_rows(source, req.max_examples)
        origin = f"{source.path}[{lang}]/{req.split}"
    else:
        path = _xcopa_local(Path(req.data_dir), req.split, lang)
        rows = jsonl_rows(path, req.max_examples)
        origin = str(path)
    examples = build(rows, lambda row, where, i: copa_example(
        row, where, f"xcopa-{lang}-{req.split}-{field(row, 'idx', where, kind=int)}", req.split))
    if req.split == "test":
        _check_not_placeholder(examples, origin)
    return examples


# ---------------------------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------------------------

COPA = TaskSpec(
    name="copa",
    family="multiple_choice",
    description="COPA: pick the more plausible cause or effect of a premise (2 choices; SuperGLUE)",
    metric="accuracy",
    loader=load_copa,
    train_size=400,
    hub="aps/super_glue (copa, from its Parquet export refs/convert/parquet)",
    hub_sources=copa_sources,
    local_layout="<dir>/{train,validation,test}.jsonl (Hub schema), SuperGLUE's COPA/{train,val,test}.jsonl "
                 "or XTREME's {train,val,test}-en.jsonl",
    extra={"num_choices": 2, "hub_path": "aps/super_glue"},
)

XCOPA = TaskSpec(
    name="xcopa",
    family="multiple_choice",
    description="XCOPA: COPA's validation/test sets in 11 languages (XTREME-R; trained on SocialIQA, then COPA)",
    metric="accuracy",
    loader=load_xcopa,
    target=Target(
        xtreme_id="xcopa",
        file_format="multiple_choice",
        benchmarks={"xtreme_r": codes("et ht id it qu sw ta th tr vi zh")},
        eval_examples_per_language=500,
        train_task="copa",
        train_stages=("socialiqa",),
    ),
    hub="cambridgeltl/xcopa (<lang>, splits validation and test)",
    hub_sources=xcopa_sources,
    local_layout="<dir>/data/<lang>/{val,test}.<lang>.jsonl (github.com/cambridgeltl/xcopa; data/ optional) "
                 "or XTREME's <dir>/{val,test}-<lang>.jsonl; fields premise, choice1, choice2, question, label, idx",
    extra={"num_choices": 2, "hub_path": "cambridgeltl/xcopa"},
)

TASKS = (COPA, XCOPA)
