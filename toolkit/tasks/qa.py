"""Extractive QA tasks: SQuAD v1.1 and v2.0 (English), XQuAD, MLQA and TyDiQA-GoldP (targets).

Every source is SQuAD-shaped: a question id, a question, a context and gold answers given as
text plus character offset. Rows are checked as they are read: a missing field, an empty
question or context, or an answer whose offset does not point at its text is a DataError that
names the file (or Hub id), the row and the field.

google/xtreme's loading script strips each context and answer but keeps the original answer
offsets (the bug fixed for SQuAD in huggingface/datasets#2585), so answers after a context's
leading whitespace point a few characters off. For rows from google/xtreme only, such an
offset is moved to the nearest occurrence of the answer within `_REALIGN_WINDOW` characters;
how many were moved is logged. Local files are the upstream JSON and must match exactly.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterator

from toolkit.errors import ConfigError, DataError
from toolkit.tasks.records import Answer, HubSource, LoadRequest, Selection, SpanQAExample, Target, TaskSpec, revision_of
from toolkit.tasks.io import field, hub_rows, require_file
from toolkit.tasks.languages import TYDIQA_LANGUAGE_NAMES, codes, require_google_xtreme

logger = logging.getLogger(__name__)

XTREME_HUB = "google/xtreme"
_REALIGN_WINDOW = 32  # characters; leading whitespace of a context is far shorter


# ---------------------------------------------------------------------------------------------
# One checked example.
# ---------------------------------------------------------------------------------------------


def _realigned(context: str, text: str, start: int) -> int | None:
    """The start of the occurrence of `text` nearest to `start` (within the window), or None."""
    lo = max(0, start - _REALIGN_WINDOW)
    hits, pos = [], context.find(text, lo)
    while pos != -1 and pos <= start + _REALIGN_WINDOW:
        hits.append(pos)
        pos = context.find(text, pos + 1)
    return min(hits, key=lambda p: abs(p - start)) if hits else None


def make_example(
    where: str,
    row: dict,
    answers: list[tuple[Any, Any]],
    allow_impossible: bool,
    realign: list[int] | None = None,
) -> SpanQAExample:
    """A SpanQAExample from a row with `id`, `question`, `context` (and optional `title`) and
    (text, answer_start) pairs, every field checked.

    `realign` is None for exact sources; for google/xtreme it is a one-element counter of
    offsets moved to their nearest occurrence (see the module docstring).
    """
    qid = str(field(row, "id", where, kind=object)).strip()
    if not qid:
        raise DataError(f"{where}: field 'id' is empty")
    where = f"{where} (id {qid})"
    context = field(row, "context", where)
    question = field(row, "question", where)
    title = row.get("title") or ""
    checked = []
    for k, (text, start) in enumerate(answers):
        name = f"answers[{k}]"
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: {name} field 'text' must be a non-empty string, got {text!r}")
        if isinstance(start, bool) or not isinstance(start, int):
            raise DataError(f"{where}: {name} field 'answer_start' must be an integer, got {start!r}")
        if not 0 <= start <= len(context) - len(text):
            raise DataError(
                f"{where}: {name} field 'answer_start' = {start} puts the {len(text)}-character "
                f"answer outside the {len(context)}-character context"
            )
        if context[start : start + len(text)] != text:
            moved = _realigned(context, text, start) if realign is not None else None
            if moved is None:
                raise DataError(
                    f"{where}: {name} field 'answer_start' = {start} does not point at the answer "
                    f"text {text!r} (the context there reads {context[start:start + len(text)]!r})"
                )
            realign[0] += 1
            start = moved
        checked.append(Answer(text=text, start=start))
    if not checked and not allow_impossible:
        raise DataError(
            f"{where}: field 'answers' is empty; every question of this task must have an answer"
        )
    return SpanQAExample(id=qid, question=question, context=context, answers=tuple(checked), title=title)


# ---------------------------------------------------------------------------------------------
# Sources: Hub rows and SQuAD-format JSON files.
# ---------------------------------------------------------------------------------------------


def _hub_answers(row: dict, where: str) -> list[tuple[Any, Any]]:
    """(text, answer_start) pairs from the Hub's `answers: {text: [...], answer_start: [...]}`."""
    answers = field(row, "answers", where, kind=dict)
    texts, starts = answers.get("text"), answers.get("answer_start")
    if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
        raise DataError(
            f"{where}: field 'answers' must hold equally long lists 'text' and 'answer_start', "
            f"got {answers!r}"
        )
    return list(zip(texts, starts))


def read_hub(
    source: HubSource,
    allow_impossible: bool,
    max_examples: int | None = None,
    id_prefix: str = "",
) -> list[SpanQAExample]:
    """Examples from a SQuAD-schema Hub split; with `id_prefix`, only ids starting with it."""
    realign = [0] if source.path == XTREME_HUB else None
    out = []
    for where, row in hub_rows(source, None if id_prefix else max_examples):
        if id_prefix and not str(row.get("id", "")).startswith(id_prefix):
            continue
        if max_examples is not None and len(out) >= max_examples:
            break
        out.append(make_example(where, row, _hub_answers(row, where), allow_impossible, realign))
    _report(f"{source.path}[{source.name}]/{source.split}", out, realign, id_prefix)
    return out


def _squad_rows(path: Path) -> Iterator[tuple[str, dict, list[tuple[Any, Any]]]]:
    """(location, row, answers) per question of a SQuAD-format JSON file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a UTF-8 JSON file ({err})") from err
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object with a 'data' list (SQuAD format)")
    for a, article in enumerate(field(data, "data", str(path), kind=list)):
        at = f"{path} data[{a}]"
        for p, paragraph in enumerate(field(article, "paragraphs", at, kind=list)):
            pt = f"{at}.paragraphs[{p}]"
            context = field(paragraph, "context", pt)
            for q, qa in enumerate(field(paragraph, "qas", pt, kind=list)):
                where = f"{pt}.qas[{q}]"
                answers = []
                for k, ans in enumerate(field(qa, "answers", where, kind=list)):
                    aw = f"{where}.answers[{k}]"
                    answers.append((field(ans, "text", aw), field(ans, "answer_start", aw, kind=int)))
                if qa.get("is_impossible") and answers:
                    raise DataError(f"{where}: 'is_impossible' is true but 'answers' is not empty")
                row = {**qa, "context": context, "title": article.get("title", "")}
                yield where, row, answers


def read_squad_json(
    path: Path,
    allow_impossible: bool,
    max_examples: int | None = None,
    id_prefix: str = "",
    check_unique: bool = True,
) -> list[SpanQAExample]:
    """Examples from a SQuAD-format JSON file, in file order; with `id_prefix`, only ids
    starting with it. `check_unique`: duplicate question ids are a DataError (predictions
    are keyed by id)."""
    out: list[SpanQAExample] = []
    seen: dict[str, str] = {}
    for where, row, answers in _squad_rows(path):
        if id_prefix and not str(row.get("id", "")).startswith(id_prefix):
            continue
        if max_examples is not None and len(out) >= max_examples:
            break
        example = make_example(where, row, answers, allow_impossible)
        if check_unique:
            if example.id in seen:
                raise DataError(f"{where}: question id {example.id!r} also used at {seen[example.id]}")
            seen[example.id] = where
        out.append(example)
    _report(str(path), out, None, id_prefix)
    return out


def _report(source: str, examples: list, realign: list[int] | None, id_prefix: str) -> None:
    if not examples:
        what = f" with ids starting {id_prefix!r}" if id_prefix else ""
        raise DataError(f"{source}: no questions{what}")
    if realign and realign[0]:
        logger.warning(
            "%s: %d of %d answer offsets pointed a few characters off (stripped contexts) and "
            "were moved to the nearest occurrence of the answer", source, realign[0], len(examples),
        )


def _first_file(candidates: list[Path], what: str) -> Path:
    """The first existing candidate; the error lists every place looked at."""
    for path in candidates:
        if path.is_file():
            return require_file(path, what)
    raise DataError(f"{what}: expected one of {', '.join(map(str, candidates))}; found none")


def _language(spec: TaskSpec, req: LoadRequest) -> str:
    lang = req.language or "en"
    if lang not in spec.languages:
        raise ConfigError(f"{spec.name} has no language {lang!r}; its languages: {', '.join(spec.languages)}")
    return lang


def _no_train_split(spec: TaskSpec) -> ConfigError:
    return ConfigError(
        f"{spec.name} has no training split: its English training set is the "
        f"{spec.train_task!r} task"
    )


# ---------------------------------------------------------------------------------------------
# Loaders.
# ---------------------------------------------------------------------------------------------

_QA_COLUMNS = (("id", "string"), ("context", "string"), ("question", "string"), ("answers", "struct|list[struct]"))


def squad_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """rajpurkar/squad (`plain_text`) or rajpurkar/squad_v2 (`squad_v2`): train, validation."""
    if req.split not in ("train", "validation"):
        raise ConfigError(f"{spec.name} has splits train and validation (its test set is hidden), not {req.split!r}")
    path, config = ("rajpurkar/squad_v2", "squad_v2") if spec.extra.get("version_2_with_negative") else \
        ("rajpurkar/squad", "plain_text")
    columns = _QA_COLUMNS + (("title", "string"),)
    return (HubSource(path, config, req.split, "main", columns=columns).at(revision_of(spec, req)),)


def _checked_xquad_request(spec: TaskSpec, req: LoadRequest) -> str:
    """The language of an XQuAD load, after checking it and that the split is its one split."""
    lang = _language(spec, req)
    if req.split == "train":
        raise _no_train_split(spec)
    if req.split != "test":
        raise ConfigError(
            f"xquad has a single evaluation split, 'test' (the Hub calls it 'validation'); got "
            f"{req.split!r}. Validate during training on the dev set of {spec.train_task!r}"
        )
    return lang


def xquad_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """google/xtreme `XQuAD.<lang>`, its one split `validation` (our test)."""
    lang = _checked_xquad_request(spec, req)
    require_google_xtreme(spec, lang)
    return (HubSource(XTREME_HUB, f"XQuAD.{lang}", "validation", "main", columns=_QA_COLUMNS).at(revision_of(spec, req)),)


def _checked_mlqa_request(spec: TaskSpec, req: LoadRequest) -> tuple[str, str]:
    """(context, question) languages of an MLQA load, after checking its languages and split."""
    context_lang, question_lang = mlqa_languages(req.language)
    for lang in (context_lang, question_lang):
        if lang not in spec.languages:
            raise ConfigError(f"mlqa has no language {lang!r}; its languages: {', '.join(spec.languages)}")
    if req.split == "train":
        raise _no_train_split(spec)
    if req.split not in ("validation", "test"):
        raise ConfigError(f"mlqa has splits validation and test, not {req.split!r}")
    return context_lang, question_lang


def mlqa_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """google/xtreme `MLQA.<context>.<question>`: validation and test."""
    context_lang, question_lang = _checked_mlqa_request(spec, req)
    return (HubSource(XTREME_HUB, f"MLQA.{context_lang}.{question_lang}", req.split, "main",
                      columns=_QA_COLUMNS).at(revision_of(spec, req)),)


def tydiqa_sources(spec: TaskSpec, req: LoadRequest) -> tuple[HubSource, ...]:
    """google/xtreme `tydiqa`: every language in one split, train or validation (the dev set,
    which is also XTREME's TyDiQA test)."""
    _language(spec, req)
    if req.split not in ("train", "validation", "test"):
        raise ConfigError(f"tydiqa has splits train, validation and test, not {req.split!r}")
    hub_split = "train" if req.split == "train" else "validation"
    return (HubSource(XTREME_HUB, "tydiqa", hub_split, "main", columns=_QA_COLUMNS).at(revision_of(spec, req)),)


_SQUAD_FILES = {
    ("1.1", "train"): "train-v1.1.json",
    ("1.1", "validation"): "dev-v1.1.json",
    ("2.0", "train"): "train-v2.0.json",
    ("2.0", "validation"): "dev-v2.0.json",
}


def load_squad(spec: TaskSpec, req: LoadRequest) -> list[SpanQAExample]:
    """SQuAD v1.1 (`rajpurkar/squad`) or v2.0 (`rajpurkar/squad_v2`): train and validation.

    SQuAD's test set is hidden, so there is no "test" split. Local: the official files in
    `<data_dir>/` (`train-v1.1.json`, `dev-v1.1.json`, `train-v2.0.json`, `dev-v2.0.json`).
    """
    v2 = bool(spec.extra.get("version_2_with_negative"))
    if req.split not in ("train", "validation"):
        raise ConfigError(f"{spec.name} has splits train and validation (its test set is hidden), not {req.split!r}")
    if req.data_dir is None:
        return read_hub(squad_sources(spec, req)[0], v2, req.max_examples)
    path = require_file(Path(req.data_dir) / _SQUAD_FILES["2.0" if v2 else "1.1", req.split], f"{spec.name} {req.split}")
    return read_squad_json(path, v2, req.max_examples, check_unique=req.split != "train")


def load_xquad(spec: TaskSpec, req: LoadRequest) -> list[SpanQAExample]:
    """XQuAD in one language: its single split, "test" (the Hub calls it "validation").

    Hub: `google/xtreme` config `XQuAD.<lang>` (fields id, context, question, answers).
    Local: `<data_dir>/xquad.<lang>.json` (deepmind/xquad's files, as XTREME downloads them).
    """
    lang = _checked_xquad_request(spec, req)
    if req.data_dir is None:
        return read_hub(xquad_sources(spec, req)[0], False, req.max_examples)
    path = require_file(Path(req.data_dir) / f"xquad.{lang}.json", f"xquad {lang}")
    return read_squad_json(path, False, req.max_examples)


def mlqa_languages(language: str | None) -> tuple[str, str]:
    """(context language, question language): "de" -> ("de", "de"), "de.en" -> ("de", "en")."""
    parts = (language or "en").split(".")
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2:
        raise ConfigError(f"mlqa language {language!r}: expected '<lang>' or '<context>.<question>'")
    return parts[0], parts[1]


def load_mlqa(spec: TaskSpec, req: LoadRequest) -> list[SpanQAExample]:
    """MLQA for a context language and a question language (`req.language` "de" or "de.en").

    Splits: validation (MLQA's dev) and test. Hub: `google/xtreme` config
    `MLQA.<context>.<question>`. Local: `<data_dir>/MLQA_V1/<dev|test>/<dev|test>-context-<c>-
    question-<q>.json` (XTREME's layout; `<data_dir>` may also be the MLQA_V1 folder itself).
    """
    context_lang, question_lang = _checked_mlqa_request(spec, req)
    if req.data_dir is None:
        return read_hub(mlqa_sources(spec, req)[0], False, req.max_examples)
    split = "dev" if req.split == "validation" else "test"
    name = f"{split}-context-{context_lang}-question-{question_lang}.json"
    root = Path(req.data_dir)
    path = _first_file([root / "MLQA_V1" / split / name, root / split / name], f"mlqa {req.language} {req.split}")
    return read_squad_json(path, False, req.max_examples)


def load_tydiqa(spec: TaskSpec, req: LoadRequest) -> list[SpanQAExample]:
    """TyDiQA-GoldP in one language: train, and its dev set as both "validation" and "test"
    (TyDiQA's test set is not public; XTREME's TyDiQA test is this dev set).

    Hub: `google/xtreme` config `tydiqa` (all languages in one split; a question id starts
    with the language's English name, "arabic-..."). Local, XTREME's layout under
    `<data_dir>`: `tydiqa-goldp-v1.1-train/tydiqa.<lang>.train.json` and
    `tydiqa-goldp-v1.1-dev/tydiqa.<lang>.dev.json`, or the files as TyDiQA publishes them
    (`tydiqa-goldp-v1.1-train.json`, `tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-<name>.json`).
    """
    lang = _language(spec, req)
    prefix = f"{TYDIQA_LANGUAGE_NAMES[lang]}-"
    if req.split not in ("train", "validation", "test"):
        raise ConfigError(f"tydiqa has splits train, validation and test, not {req.split!r}")
    if req.data_dir is None:
        return read_hub(tydiqa_sources(spec, req)[0], False, req.max_examples, prefix)
    root = Path(req.data_dir)
    if req.split == "train":
        # XTREME's per-language train files shorten ids to their last part, which repeats.
        per_language = root / "tydiqa-goldp-v1.1-train" / f"tydiqa.{lang}.train.json"
        if per_language.is_file():
            return read_squad_json(per_language, False, req.max_examples, check_unique=False)
        combined = _first_file(
            [root / "tydiqa-goldp-v1.1-train.json", root / "tydiqa-goldp-v1.1-train" / "tydiqa-goldp-v1.1-train.json"],
            f"tydiqa {lang} train ({per_language} or the combined file)",
        )
        return read_squad_json(combined, False, req.max_examples, prefix, check_unique=False)
    dev = root / "tydiqa-goldp-v1.1-dev"
    path = _first_file(
        [dev / f"tydiqa.{lang}.dev.json", dev / f"tydiqa-goldp-dev-{TYDIQA_LANGUAGE_NAMES[lang]}.json"],
        f"tydiqa {lang} dev",
    )
    return read_squad_json(path, False, req.max_examples, prefix)


# XTREME's language lists (evaluate.py's XTREME_TASK2LANGS); XTREME-R extends some.
XTREME_XQUAD = codes("en es de el ru tr ar vi th zh hi")
XTREME_MLQA = codes("en es de ar hi vi zh")
XTREME_TYDIQA = codes("en ar bn fi id ko ru sw te")


# ---------------------------------------------------------------------------------------------
# Task specs.
# ---------------------------------------------------------------------------------------------

SQUAD_V2 = TaskSpec(
    name="squad_v2",
    family="span_qa",
    description="SQuAD v2.0: extractive QA on Wikipedia paragraphs, a third of questions unanswerable",
    metric="squad_v2",
    loader=load_squad,
    train_size=130_319,
    hub="rajpurkar/squad_v2 (squad_v2)",
    hub_sources=squad_sources,
    local_layout="<dir>/train-v2.0.json, <dir>/dev-v2.0.json (the official SQuAD v2.0 files)",
    extra={"version_2_with_negative": True},
)

SQUAD = TaskSpec(
    name="squad",
    family="span_qa",
    description="SQuAD v1.1: extractive QA on Wikipedia paragraphs (English train of XQuAD and MLQA)",
    metric="squad",
    loader=load_squad,
    train_size=87_599,
    hub="rajpurkar/squad (plain_text)",
    hub_sources=squad_sources,
    local_layout="<dir>/train-v1.1.json, <dir>/dev-v1.1.json (XTREME's download/squad/)",
)

XQUAD = TaskSpec(
    name="xquad",
    family="span_qa",
    description="XQuAD: 1190 SQuAD v1.1 dev questions professionally translated into 10 languages "
                "(11 with XTREME-R's Romanian)",
    metric="squad",
    loader=load_xquad,
    target=Target(
        xtreme_id="xquad",
        file_format="qa",
        benchmarks={"xtreme": XTREME_XQUAD, "xtreme_r": XTREME_XQUAD + codes("ro")},
        eval_examples_per_language=1_190,
        train_task="squad",
        selection=Selection(languages="english"),  # SQuAD v1.1 dev
    ),
    hub="google/xtreme (XQuAD.<lang>; XTREME's languages only, Romanian from local files)",
    hub_sources=xquad_sources,
    local_layout="<dir>/xquad.<lang>.json (XTREME's download/xquad/)",
)

MLQA = TaskSpec(
    name="mlqa",
    family="span_qa",
    description="MLQA: extractive QA over parallel Wikipedia paragraphs in 7 languages",
    metric="mlqa",
    loader=load_mlqa,
    target=Target(
        xtreme_id="mlqa",
        file_format="qa",
        benchmarks={"xtreme": XTREME_MLQA, "xtreme_r": XTREME_MLQA},
        eval_examples_per_language=6_000,
        train_task="squad",
    ),
    hub="google/xtreme (MLQA.<context>.<question>)",
    hub_sources=mlqa_sources,
    local_layout="<dir>/MLQA_V1/{dev,test}/{dev,test}-context-<c>-question-<q>.json (XTREME's download/mlqa/)",
)

TYDIQA = TaskSpec(
    name="tydiqa",
    family="span_qa",
    description="TyDiQA-GoldP: questions with their gold passage in 9 typologically diverse languages",
    metric="squad",
    loader=load_tydiqa,
    target=Target(
        xtreme_id="tydiqa",
        file_format="qa",
        benchmarks={"xtreme": XTREME_TYDIQA, "xtreme_r": XTREME_TYDIQA},
        eval_examples_per_language=560,
        selection=Selection(
            languages="english",
            caveat="XTREME's TyDiQA-GoldP English dev is also its English test, so English is selected on test",
        ),
    ),
    train_size=3_696,
    hub="google/xtreme (tydiqa)",
    hub_sources=tydiqa_sources,
    local_layout="<dir>/tydiqa-goldp-v1.1-train/tydiqa.<lang>.train.json, "
                 "<dir>/tydiqa-goldp-v1.1-dev/tydiqa.<lang>.dev.json (XTREME's download/tydiqa/)",
)

TASKS = (SQUAD_V2, SQUAD, XQUAD, MLQA, TYDIQA)
