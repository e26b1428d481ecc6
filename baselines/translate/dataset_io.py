"""Translated datasets on disk: typed example records as JSON lines, written atomically.

Each line is one example: {"type": "pair" | "multiple_choice" | "span_qa", <its fields>}.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Sequence

from toolkit.errors import DataError
from toolkit.io import atomic_write_text
from toolkit.tasks.records import Answer, MultipleChoiceExample, PairExample, SpanQAExample

TranslatableExample = PairExample | MultipleChoiceExample | SpanQAExample

_TYPE_NAMES = {
    PairExample: "pair",
    MultipleChoiceExample: "multiple_choice",
    SpanQAExample: "span_qa",
}


def example_to_json(example: TranslatableExample) -> dict[str, Any]:
    """A JSON-ready dict of an example, tagged with its type."""
    return {"type": _TYPE_NAMES[type(example)], **asdict(example)}


def example_from_json(row: dict[str, Any], where: str) -> TranslatableExample:
    """The example a row of `write_examples_jsonl` describes; DataError names the bad field."""
    kind = row.get("type")
    fields = {k: v for k, v in row.items() if k != "type"}
    try:
        if kind == "pair":
            return PairExample(**fields)
        if kind == "multiple_choice":
            return MultipleChoiceExample(**{**fields, "choices": tuple(fields["choices"])})
        if kind == "span_qa":
            answers = tuple(Answer(text=a["text"], start=a["start"]) for a in fields["answers"])
            return SpanQAExample(**{**fields, "answers": answers})
    except (TypeError, KeyError) as err:
        raise DataError(f"{where}: fields do not match a {kind} example ({err})") from err
    raise DataError(f"{where}: field 'type' is {kind!r}; expected pair, multiple_choice or span_qa")


def write_examples_jsonl(path: str | Path, examples: Iterable[TranslatableExample]) -> None:
    """Write examples as JSON lines, atomically."""
    lines = (json.dumps(example_to_json(e), ensure_ascii=False) for e in examples)
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def read_examples_jsonl(path: str | Path) -> Sequence[TranslatableExample]:
    """Examples written by `write_examples_jsonl`."""
    path = Path(path)
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path} line {lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: not valid JSON ({err.msg})") from err
            if not isinstance(row, dict):
                raise DataError(f"{where}: expected a JSON object")
            out.append(example_from_json(row, where))
    return out
