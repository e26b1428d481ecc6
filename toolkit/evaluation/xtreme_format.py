"""Predictions and gold labels in XTREME's submission layout, and scoring them from disk.

Layout (the official submission, so XTREME's own `evaluate.py` scores our files too):
    <root>/<xtreme_id>/test-<lang>.tsv    classification, tagging, BUCC, Tatoeba
    <root>/<xtreme_id>/test-<lang>.json   QA (xquad, mlqa, tydiqa)
    <root>/<xtreme_id>/test-<lang>.jsonl  multiple choice (XTREME-R's xcopa)
Formats:
    classification  one label per line, in example order
    multiple choice one JSON object per line, `{"label": <index of the chosen answer>}`
    tagging         one tag per token line, a blank line after every sentence
    bucc2018        one mined pair per line: `source_id<TAB>target_id`
    tatoeba         one line per source sentence: the index of the retrieved English line
    QA predictions  JSON object: question id -> answer text
    QA gold         SQuAD JSON ({"data": [{"paragraphs": [{"qas": [{"id", "answers"}]}]}]})
Line formats carry no ids: line i belongs to the i-th example, so predictions are written in
the gold file's example order. Every file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from toolkit.config.schema import SEQEVAL_PUBLISHED
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation.metrics import INDEX_TEXT, get_metric, summarise
from toolkit.io import atomic_write_text
from toolkit.tasks.benchmarks import get_benchmark, target_spec

logger = logging.getLogger(__name__)

_SUFFIXES = {"qa": ".json", "multiple_choice": ".jsonl"}


def _format(xtreme_id: str) -> str:
    """How the target's files look (its record's `file_format`; see the module docstring)."""
    return target_spec(xtreme_id).target.file_format


def _suffix(xtreme_id: str) -> str:
    return _SUFFIXES.get(_format(xtreme_id), ".tsv")


def task_file(root: str | os.PathLike, xtreme_id: str, lang: str) -> Path:
    """`<root>/<xtreme_id>/test-<lang>.json` for QA, `.jsonl` for multiple choice, else `.tsv`."""
    return Path(root) / xtreme_id / f"test-{lang}{_suffix(xtreme_id)}"


# ---------------------------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------------------------


def _field(value: Any, where: str) -> str:
    """One TSV field; tabs, newlines and empty strings would corrupt the line structure."""
    text = str(value)
    if not text.strip() or text != text.strip() or any(c in text for c in "\t\r\n"):
        raise DataError(f"{where}: {value!r} cannot be written as one field of a line")
    return text


def _lines(fmt: str, values: Mapping[str, Any], order: Sequence[str], path: Path) -> str:
    """The text of a line-format file, one entry of `values` per id in `order`."""
    missing = [key for key in order if key not in values]
    if missing:
        raise DataError(
            f"{path}: {len(missing)} of {len(order)} examples have no value to write "
            f"(e.g. {missing[0]!r}); line files need one entry per example"
        )
    out = []
    for key in order:
        value = values[key]
        if value is None:
            raise DataError(f"{path}: example {key!r} has no label")
        if fmt == "tagging":
            if isinstance(value, str):
                raise DataError(f"{path}: example {key!r} has {value!r}; expected a list of tags")
            out.extend(f"{_field(tag, f'{path}: example {key!r}')}\n" for tag in value)
            out.append("\n")
        elif fmt in ("tatoeba", "multiple_choice"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise DataError(f"{path}: example {key!r} has index {value!r}; expected an int")
            out.append(f"{value}\n" if fmt == "tatoeba" else json.dumps({"label": value}) + "\n")
        else:
            out.append(f"{_field(value, f'{path}: example {key!r}')}\n")
    return "".join(out)


def _bucc_lines(pairs: Iterable | Mapping, path: Path) -> str:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    lines = set()
    for item in items:
        if isinstance(item, str) or len(item) != 2:
            raise DataError(f"{path}: {item!r} is not a (source id, target id) pair")
        lines.add(f"{_field(item[0], str(path))}\t{_field(item[1], str(path))}\n")
    return "".join(sorted(lines))


def write_predictions(
    root: str | os.PathLike,
    xtreme_id: str,
    lang: str,
    predictions: Mapping[str, Any] | Iterable,
    order: Sequence[str] | None = None,
) -> Path:
    """Write one language's predictions in XTREME's layout; returns the file path.

    predictions: id -> label (classification), tag list (tagging), English index (tatoeba),
    choice index (multiple choice) or answer text (QA); for bucc2018 the mined (source id,
    target id) pairs.
    order: the example ids in gold-file order; required for the line formats (classification,
    tagging, tatoeba, multiple choice), where a missing prediction is an error because the
    file has no other way to tell which line is which. QA files may leave questions out
    (they score 0, as in XTREME).
    """
    path = task_file(root, xtreme_id, lang)
    fmt = _format(xtreme_id)
    if fmt == "qa":
        bad = [k for k, v in predictions.items() if not isinstance(v, str)]
        if bad:
            raise DataError(
                f"{path}: prediction for {bad[0]!r} is {predictions[bad[0]]!r}; expected answer text"
            )
        text = json.dumps({str(k): v for k, v in predictions.items()}, indent=1)
    elif fmt == "bucc":
        text = _bucc_lines(predictions, path)
    else:
        if order is None:
            raise ConfigError(f"{path}: writing {xtreme_id} predictions needs the example order")
        text = _lines(fmt, predictions, order, path)
    atomic_write_text(path, text)
    return path


def write_gold(
    root: str | os.PathLike, xtreme_id: str, lang: str, golds: Mapping[str, Any] | Iterable
) -> Path:
    """Write one language's gold labels in the same layout, in `golds`' order.

    golds: id -> label / tag list / index, id -> list of answer texts for QA (written as SQuAD
    JSON, which is what XTREME's evaluate.py reads), or the gold pairs for bucc2018.
    """
    path = task_file(root, xtreme_id, lang)
    fmt = _format(xtreme_id)
    if fmt == "qa":
        qas = []
        for key, answers in golds.items():
            if isinstance(answers, str) or not all(isinstance(a, str) for a in answers):
                raise DataError(
                    f"{path}: gold for {key!r} is {answers!r}; expected a list of texts"
                )
            qas.append({"id": str(key), "answers": [{"text": a} for a in answers]})
        text = json.dumps({"version": "1.1", "data": [{"paragraphs": [{"qas": qas}]}]}, indent=1)
    elif fmt == "bucc":
        text = _bucc_lines(golds, path)
    else:
        text = _lines(fmt, golds, list(golds), path)
    atomic_write_text(path, text)
    return path


# ---------------------------------------------------------------------------------------------
# Reading (ids of line formats are line / sentence numbers, counted from 0, as strings).
# ---------------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    return path.read_text(encoding="utf-8")


def _file_lines(path: Path) -> list[str]:
    """The file's lines as Python's file iteration (and so XTREME's readers) splits them."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    with path.open(encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def _read_tags(path: Path) -> dict[str, list[str]]:
    """Sentences as XTREME's read_tag splits them: every blank line closes one sentence."""
    sentences: list[list[str]] = []
    current: list[str] = []
    for number, line in enumerate(_file_lines(path), 1):
        tag = line.strip()
        if not tag:
            sentences.append(current)
            current = []
        elif any(c.isspace() for c in tag):
            raise DataError(f"{path}, line {number}: {line!r} is not a single tag")
        else:
            current.append(tag)
    if current:
        sentences.append(current)
    return {str(i): s for i, s in enumerate(sentences)}


def _read_choice(line: str, path: Path, number: int) -> int:
    """The `label` of one multiple-choice line (`{"label": 1}`), as XTREME's read_xcopa reads it."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        raise DataError(f"{path}, line {number}: {line!r} is not a JSON object") from None
    label = row.get("label") if isinstance(row, dict) else None
    if isinstance(label, bool) or not isinstance(label, int):
        raise DataError(f"{path}, line {number}: expected {{\"label\": <choice index>}}, got {line!r}")
    return label


def _read_lines(path: Path, fmt: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, line in enumerate(_file_lines(path), 1):
        value = line.strip()
        if fmt == "multiple_choice":
            value = _read_choice(value, path, number)
        elif fmt == "tatoeba" and not INDEX_TEXT.fullmatch(value):
            # Kept as text: evaluate.py compares the lines, so "012" does not match "12".
            raise DataError(f"{path}, line {number}: {line!r} is not an integer index")
        out[str(number - 1)] = value
    return out


def _read_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(_file_lines(path), 1):
        fields = line.strip().split("\t")
        if len(fields) != 2:
            raise DataError(f"{path}, line {number}: {line!r} is not 'source_id<TAB>target_id'")
        pairs.append((fields[0], fields[1]))
    return pairs


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None


def _read_squad_gold(path: Path) -> dict[str, list[str]]:
    """Question id -> answer texts from SQuAD JSON (a top-level list of articles also works,
    as in XTREME's read_squad)."""
    data = _read_json(path)
    articles = data["data"] if isinstance(data, dict) and "data" in data else data
    golds: dict[str, list[str]] = {}
    try:
        for article in articles:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    if qa["id"] in golds:
                        raise DataError(f"{path}: question id {qa['id']!r} appears twice")
                    golds[qa["id"]] = [a["text"] for a in qa["answers"]]
    except (KeyError, TypeError) as err:
        raise DataError(
            f"{path}: not SQuAD JSON (articles -> paragraphs -> qas with id and answers[].text); "
            f"failed at {err!r}"
        ) from None
    return golds


def read_predictions(path: str | os.PathLike, xtreme_id: str) -> Any:
    """One prediction file: id-keyed dict (line number for line formats), or pairs for BUCC."""
    path, fmt = Path(path), _format(xtreme_id)
    if fmt == "qa":
        preds = _read_json(path)
        if not isinstance(preds, dict):
            raise DataError(f"{path}: expected a JSON object mapping question id -> answer text")
        return preds
    if fmt == "bucc":
        return _read_pairs(path)
    return _read_tags(path) if fmt == "tagging" else _read_lines(path, fmt)


def read_gold(path: str | os.PathLike, xtreme_id: str) -> Any:
    """One gold file, in the same shapes as read_predictions (QA: id -> answer texts)."""
    if _format(xtreme_id) == "qa":
        return _read_squad_gold(Path(path))
    return read_predictions(path, xtreme_id)


# ---------------------------------------------------------------------------------------------
# Scoring files.
# ---------------------------------------------------------------------------------------------


def score_file(
    pred_file: str | os.PathLike, gold_file: str | os.PathLike, xtreme_id: str, lang: str,
    seqeval: str = SEQEVAL_PUBLISHED,
) -> dict:
    """Score one prediction file against its gold file with the task's XTREME metric
    (`seqeval`: the span-F1 behaviour for udpos and panx, see metrics.span_f1)."""
    fmt = _format(xtreme_id)
    preds, golds = read_predictions(pred_file, xtreme_id), read_gold(gold_file, xtreme_id)
    if fmt in ("classification", "tagging", "tatoeba", "multiple_choice") and len(preds) != len(golds):
        unit = "sentences" if fmt == "tagging" else "lines"
        raise DataError(
            f"{pred_file} has {len(preds)} {unit} but {gold_file} has {len(golds)}: "
            "line files must hold one entry per gold example"
        )
    try:
        return get_metric(target_spec(xtreme_id).metric, seqeval)(preds, golds, language=lang)
    except DataError as err:
        raise DataError(f"{pred_file} vs {gold_file}: {err}") from None


def _languages_present(task_dir: Path, suffix: str) -> list[str]:
    return sorted(p.name[len("test-") : -len(suffix)] for p in task_dir.glob(f"test-*{suffix}"))


def score_files(
    pred_dir: str | os.PathLike,
    gold_dir: str | os.PathLike,
    task_ids: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    benchmark: str = "xtreme",
    seqeval: str = SEQEVAL_PUBLISHED,
) -> dict[str, dict]:
    """Score prediction files against gold files as XTREME's evaluate.py does.

    task_ids: XTREME ids to score (default: every XTREME task folder in `pred_dir`; other
    folders are skipped with a warning, as evaluate.py skips them).
    languages: languages to score in each task (default: every `test-<lang>` file found in the
    prediction folder). Each prediction file needs its gold file.
    benchmark: whose language lists the averages cover (`xtreme` or `xtreme_r`, evaluate.py's
    `--xtreme_version xtreme` / `xtreme-r`).
    seqeval: the seqeval release evaluate.py's udpos/panx F1 follows: "0.0.x" (XTREME's
    published numbers) or "1.x" (evaluate.py with today's seqeval); see metrics.span_f1.
    Returns {xtreme_id: {"metrics": {lang: {metric: value}}, "average": {metric: mean},
    "score": task score}}, where average and score cover the languages on the benchmark's
    list for the task (evaluate.py's avg_<metric> and avg_metric; QA: mean of average EM and
    average F1).
    """
    pred_dir, gold_dir = Path(pred_dir), Path(gold_dir)
    bench = get_benchmark(benchmark)
    if task_ids is None:
        if not pred_dir.is_dir():
            raise DataError(f"prediction folder {pred_dir} does not exist")
        folders = sorted(p.name for p in pred_dir.iterdir() if p.is_dir())
        task_ids = [name for name in folders if name in bench.tasks]
        skipped = [name for name in folders if name not in task_ids]
        if skipped:
            logger.warning(
                "%s: skipping folders that are not %s tasks: %s", pred_dir, bench.title, ", ".join(skipped)
            )
        if not task_ids:
            raise DataError(
                f"prediction folder {pred_dir} has no {bench.title} task folders "
                f"({', '.join(bench.tasks)})"
            )
    results = {}
    for task in task_ids:
        suffix = _suffix(task)
        if languages is None:
            langs = _languages_present(pred_dir / task, suffix)
        else:
            langs = list(languages)
        if not langs:
            raise DataError(f"{pred_dir / task} has no test-<lang>{suffix} prediction files")
        per_lang = {}
        for lang in langs:
            pred_file, gold_file = task_file(pred_dir, task, lang), task_file(gold_dir, task, lang)
            for path in (pred_file, gold_file):
                if not path.is_file():
                    raise DataError(f"{path} does not exist (needed to score {task} {lang})")
            per_lang[lang] = score_file(pred_file, gold_file, task, lang, seqeval)
        average, score = summarise(task, per_lang, benchmark)
        results[task] = {"metrics": per_lang, "average": average, "score": score}
    return results
