"""Reading rows from the Hub and from local files, with errors that name the source and row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from toolkit.errors import DataError
from toolkit.hub import HubSource, load_split, split_commit
from toolkit.tasks import provenance


def hub_split(source: HubSource):
    """(dataset, provenance record) of a Hub split, loaded through `toolkit.hub` and noted in
    every open provenance recording."""
    ds = load_split(source)
    return ds, provenance.note(provenance.DataRecord(source, split_commit(ds), len(ds)))


def hub_rows(source: HubSource, max_examples: int | None = None) -> Iterator[tuple[str, dict]]:
    """Rows of a Hub split as (location, row) pairs; `location` names Hub id, config and row.
    Each row read counts into the split's provenance record (rows, fingerprint)."""
    ds, record = hub_split(source)
    if max_examples is not None:
        ds = ds.select(range(min(max_examples, len(ds))))
    where = f"{source.path}[{source.name}]/{source.split}"
    for i, row in enumerate(ds):
        record.add(row)
        yield f"{where} row {i}", row


def require_file(path: str | Path, what: str) -> Path:
    """The path if it is a non-empty file, else a DataError saying what was expected there."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what}: expected a file at {path}, found none")
    if path.stat().st_size == 0:
        raise DataError(f"{what}: {path} is empty")
    return path


def _read_text(path: Path) -> str:
    data = path.read_bytes()  # not read_text: its universal newlines would end lines at a lone \r
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not valid UTF-8 ({err.reason})") from err


def _lines(text: str) -> list[str]:
    """Lines split at \n only (dropping a CRLF's \r): str.splitlines would also cut rows at
    U+2028, U+0085 or form feeds, which occur inside real sentences."""
    lines = text.split("\n")
    if lines[-1] == "":  # the final newline ends the last line; it does not start another
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def jsonl_rows(path: Path, max_examples: int | None = None) -> Iterator[tuple[str, dict]]:
    """Rows of a JSON-lines file as (location, row); blank lines are skipped."""
    n = 0
    for lineno, line in enumerate(_lines(_read_text(path)), 1):
        if not line.strip():
            continue
        if max_examples is not None and n >= max_examples:
            return
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path} line {lineno}: not valid JSON ({err.msg})") from err
        if not isinstance(row, dict):
            raise DataError(f"{path} line {lineno}: expected a JSON object, got {type(row).__name__}")
        n += 1
        yield f"{path} line {lineno}", row


def tsv_rows(
    path: Path,
    columns: list[str] | None = None,
    max_examples: int | None = None,
) -> Iterator[tuple[str, dict]]:
    """Rows of a tab-separated file as (location, row).

    With `columns`, the file has no header and each line must have at least that many fields;
    without, the first line is the header. Quoting is off: NLI text contains bare quotes.
    """
    # Plain tab splitting is csv's QUOTE_NONE without its refusal of a stray \r inside a field.
    reader = (line.split("\t") for line in _lines(_read_text(path)))
    start = 1
    if columns is None:
        try:
            columns = next(reader)
        except StopIteration:
            raise DataError(f"{path}: empty file, expected a header line") from None
        start = 2
    n = 0
    for lineno, fields in enumerate(reader, start):
        if not fields or not any(f.strip() for f in fields):
            continue
        if max_examples is not None and n >= max_examples:
            return
        if len(fields) < len(columns):
            raise DataError(
                f"{path} line {lineno}: expected {len(columns)} tab-separated fields "
                f"({', '.join(columns)}), found {len(fields)}"
            )
        n += 1
        yield f"{path} line {lineno}", dict(zip(columns, fields))


def field(row: dict, name: str, where: str, kind: type = str, allow_empty: bool = False) -> Any:
    """`row[name]` checked for presence, type and (for text) non-emptiness."""
    if name not in row or row[name] is None:
        raise DataError(f"{where}: missing field {name!r} (has: {', '.join(map(str, row))})")
    value = row[name]
    if kind is int and isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise DataError(f"{where}: field {name!r} must be an integer, got {value!r}") from None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DataError(f"{where}: field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    if kind is str and not allow_empty and not value.strip():
        raise DataError(f"{where}: field {name!r} is empty")
    return value


def label_index(value: Any, labels: tuple[str, ...], where: str, name: str = "label") -> int:
    """A label given as an index or as a name, checked against the task's label set."""
    if isinstance(value, str) and value.strip() in labels:
        return labels.index(value.strip())
    try:
        idx = int(value)
    except (TypeError, ValueError):
        raise DataError(
            f"{where}: field {name!r} = {value!r} is neither a label name ({', '.join(labels)}) "
            "nor an integer"
        ) from None
    if isinstance(value, float) and value != idx:
        raise DataError(f"{where}: field {name!r} = {value!r} is not an integer")
    if not 0 <= idx < len(labels):
        raise DataError(f"{where}: field {name!r} = {idx} is outside 0..{len(labels) - 1}")
    return idx
