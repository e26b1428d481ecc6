"""XTREME's own translate-train files, read straight into examples (no backend involved).

XTREME distributes machine translations of its English training sets (bucket
`xtreme_translations`): for XNLI (i.e. MNLI) and PAWS-X a TSV per language,
`en-<lang>-translated.tsv`, whose rows are `english_a, english_b, translated_a, translated_b,
label` (XTREME's README; XTREME's own processors also accept 3-column rows `translated_a,
translated_b, label`); for SQuAD v1.1 a SQuAD-format JSON per language,
`squad.translate.train.en-<lang>.json`. `provided_path` looks for them in the folder layouts
of the bucket and of XTREME's processors.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from toolkit.errors import ConfigError, DataError
from toolkit.tasks.records import Answer, PairExample, SpanQAExample
from toolkit.tasks.io import label_index, require_file

log = logging.getLogger(__name__)

# Relative paths tried under a data folder, per XTREME translation set.
LAYOUTS = {
    "xnli": (
        "XNLI/translate-train/en-{lang}-translated.tsv",  # the bucket
        "XNLI-Translated/en-{lang}-translated.tsv",  # XTREME's xnli processor
        "en-{lang}-translated.tsv",
    ),
    "pawsx": (
        "PAWSX/translate-train/en-{lang}-translated.tsv",
        "translated/en-{lang}-translated.tsv",  # XTREME's pawsx processor
        "en-{lang}-translated.tsv",
    ),
    "squad": (
        "SQuAD/translate-train/squad.translate.train.en-{lang}.json",  # the bucket
        "squad/translate-train/squad.translate.train.en-{lang}.json",
        "translate-train/squad.translate.train.en-{lang}.json",
        "squad.translate.train.en-{lang}.json",
    ),
}

_XTREME_LABEL_ALIASES = {"contradictory": "contradiction"}  # XNLI files' spelling


@dataclass
class ProvidedStats:
    """What reading a provided file kept and dropped (answers re-anchored, examples lost)."""

    path: str
    examples: int = 0
    answers_realigned: int = 0  # answer_start pointed elsewhere; the text was found in context
    answers_dropped: int = 0  # answer text not in the context at all
    dropped_ids: list[str] = field(default_factory=list)  # questions left without any answer


def provided_path(data_dir: str | Path, dataset: str, lang: str) -> Path:
    """The translate-train file of `dataset` ("xnli", "pawsx", "squad") for `lang`."""
    if dataset not in LAYOUTS:
        raise ConfigError(f"no XTREME translations for {dataset!r}; known: {', '.join(LAYOUTS)}")
    tried = [Path(data_dir) / p.format(lang=lang) for p in LAYOUTS[dataset]]
    for p in tried:
        if p.is_file():
            return p
    raise DataError(
        f"XTREME {dataset} translate-train file for {lang!r} not found; tried: "
        + ", ".join(str(p) for p in tried)
    )


def read_translated_pairs(
    path: str | Path, labels: Sequence[str], lang: str, max_examples: int | None = None
) -> list[PairExample]:
    """PairExamples from an XTREME `en-<lang>-translated.tsv` (5- or 3-column rows)."""
    path = require_file(path, f"XTREME translate-train pairs ({lang})")
    labels = tuple(labels)
    out: list[PairExample] = []
    width = None
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not row or not any(c.strip() for c in row):
                continue
            where = f"{path} line {lineno}"
            width = width or len(row)
            if len(row) not in (3, 5) or len(row) != width:
                raise DataError(
                    f"{where}: expected {width if width in (3, 5) else '5 or 3'} tab-separated "
                    f"fields (english_a, english_b, translated_a, translated_b, label or "
                    f"translated_a, translated_b, label), found {len(row)}"
                )
            a, b, label = (row[2], row[3], row[4]) if width == 5 else (row[0], row[1], row[2])
            if not a.strip() or not b.strip():
                raise DataError(f"{where}: empty translated sentence")
            label = _XTREME_LABEL_ALIASES.get(label.strip(), label.strip())
            out.append(PairExample(id=f"translate-train-{len(out)}@{lang}", text_a=a, text_b=b,
                                   label=label_index(label, labels, where)))
            if max_examples is not None and len(out) >= max_examples:
                break
    return out


def _anchor(context: str, text: str, start: object) -> tuple[Answer | None, bool]:
    """(answer, realigned): the answer at `start` if it is there, else its first occurrence."""
    if isinstance(start, int) and start >= 0 and context[start : start + len(text)] == text:
        return Answer(text=text, start=start), False
    pos = context.find(text) if text else -1
    return (Answer(text=text, start=pos), True) if pos >= 0 else (None, False)


def read_squad_json(
    path: str | Path, lang: str | None = None, max_examples: int | None = None
) -> tuple[list[SpanQAExample], ProvidedStats]:
    """SpanQAExamples from a SQuAD-format JSON file (v1.1 or v2.0; translated or not).

    Answers whose `answer_start` does not point at their text are re-anchored at the text's
    first occurrence; answers not in the context are dropped; a question that had answers
    and lost all of them is dropped. All of it is counted in the returned stats.
    With `lang`, example ids get the suffix `@<lang>`.
    """
    path = require_file(path, "SQuAD-format JSON")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid UTF-8 JSON ({err})") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise DataError(f"{path}: expected a SQuAD object with a 'data' list of articles")
    stats = ProvidedStats(path=str(path))
    out: list[SpanQAExample] = []
    suffix = f"@{lang}" if lang else ""
    for ai, article in enumerate(doc["data"]):
        for pi, para in enumerate(article.get("paragraphs", [])):
            where = f"{path} data[{ai}].paragraphs[{pi}]"
            context = para.get("context")
            if not isinstance(context, str) or not context.strip():
                raise DataError(f"{where}: field 'context' missing or empty")
            for qi, qa in enumerate(para.get("qas", [])):
                qwhere = f"{where}.qas[{qi}]"
                qid, question = qa.get("id"), qa.get("question")
                if not isinstance(qid, str) or not isinstance(question, str):
                    raise DataError(f"{qwhere}: fields 'id' and 'question' must be strings")
                answers = []
                for a in qa.get("answers", []):
                    if not isinstance(a, dict) or not isinstance(a.get("text"), str):
                        raise DataError(f"{qwhere}: each answer needs a string 'text'")
                    ans, realigned = _anchor(context, a["text"], a.get("answer_start"))
                    stats.answers_realigned += realigned
                    stats.answers_dropped += ans is None
                    if ans is not None:
                        answers.append(ans)
                if qa.get("answers") and not answers:
                    stats.dropped_ids.append(qid)
                    continue
                out.append(SpanQAExample(id=qid + suffix, question=question, context=context,
                                         answers=tuple(answers), title=article.get("title", "")))
                if max_examples is not None and len(out) >= max_examples:
                    stats.examples = len(out)
                    return out, stats
    stats.examples = len(out)
    if stats.dropped_ids or stats.answers_realigned:
        log.info("%s: %d questions dropped (answer not in context), %d answers re-anchored",
                 path, len(stats.dropped_ids), stats.answers_realigned)
    return out, stats


def load_provided(
    data_dir: str | Path,
    dataset: str,
    lang: str,
    labels: Sequence[str] = (),
    max_examples: int | None = None,
) -> tuple[list[PairExample] | list[SpanQAExample], ProvidedStats]:
    """XTREME's translate-train examples of `dataset` ("xnli", "pawsx", "squad") in `lang`.

    `labels` are the task's label names (pair datasets): XNLI's rows name their label
    ("entailment"...), PAWS-X's give its index ("0"/"1").
    """
    path = provided_path(data_dir, dataset, lang)
    if dataset == "squad":
        return read_squad_json(path, lang, max_examples)
    if not labels:
        raise ConfigError(f"reading {dataset} translations needs the task's label names")
    pairs = read_translated_pairs(path, labels, lang, max_examples)
    return pairs, ProvidedStats(path=str(path), examples=len(pairs))
