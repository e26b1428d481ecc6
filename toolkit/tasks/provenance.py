"""Data provenance: which Hub split, at which commit, with how many rows and what content a run
read, and where two runs' provenance differs.

Every Hub read (`toolkit.tasks.io.hub_rows`) makes a `DataRecord` and hands it to the
recordings that are open (`recording()`); a phase opens one around its work, and results.json
stores what it collected (`data_records`). The fingerprint is a SHA-256 over the rows as read
(canonical JSON), so two runs with the same fingerprint read the same content, whatever the
commit is called.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from toolkit.hub import HubSource, model_commit

_OPEN: list[list["DataRecord"]] = []


@dataclass
class DataRecord:
    """One Hub split as a run read it; `add` feeds each row read into the count and fingerprint."""

    source: HubSource
    commit: str | None
    split_rows: int
    rows: int = 0
    _digest: "hashlib._Hash" = field(default_factory=hashlib.sha256, repr=False)

    def add(self, row: dict) -> None:
        self.rows += 1
        self._digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
        self._digest.update(b"\n")

    def as_dict(self) -> dict:
        s = self.source
        return {"dataset": s.path, "config": s.name, "data_dir": s.data_dir, "split": s.split,
                "revision": s.revision, "commit": self.commit, "split_rows": self.split_rows,
                "rows": self.rows, "fingerprint": self._digest.hexdigest()[:16]}


@contextlib.contextmanager
def recording() -> Iterator[list[DataRecord]]:
    """Collect the records of every Hub read inside the block (blocks may nest)."""
    log: list[DataRecord] = []
    _OPEN.append(log)
    try:
        yield log
    finally:
        _OPEN.remove(log)


def note(record: DataRecord) -> DataRecord:
    """Hand a new record to every open recording; returns it."""
    for log in _OPEN:
        log.append(record)
    return record


def data_records() -> list[dict]:
    """The innermost open recording's records as dicts, each distinct read once, in order."""
    if not _OPEN:
        return []
    out: list[dict] = []
    for record in _OPEN[-1]:
        entry = record.as_dict()
        if entry not in out:
            out.append(entry)
    return out


def run_provenance(model: str, model_revision: str | None, data_dir: str | None) -> dict:
    """results.json's `provenance`: the Hub splits read in the open recording (`data`), the
    local data folder if any (`data_dir`), and the pretrained model with the commit it resolved
    to (None for local folders and 'embedded')."""
    return {"data": data_records(), "data_dir": data_dir,
            "model": {"name_or_path": model, "revision": model_revision, "commit": model_commit(model, model_revision)}}


def _key(entry: dict) -> str:
    config = entry["config"] if entry.get("data_dir") is None else f"data_dir={entry['data_dir']}"
    return f"{entry['dataset']}[{config}]/{entry['split']}"


def _state(entry: dict) -> str:
    return f"commit {entry['commit']}, {entry['rows']} rows, fingerprint {entry['fingerprint']}"


def differences(named_provenance: Sequence[tuple[str, dict]]) -> list[str]:
    """Where the provenance of compared runs differs, one line per dataset split or model:
    `(run name, results.json "provenance")` pairs in; runs without provenance are skipped."""
    splits: dict[str, dict[str, list[str]]] = {}
    models: dict[str, list[str]] = {}
    for name, prov in named_provenance:
        if not prov:
            continue
        for entry in prov.get("data", []):
            splits.setdefault(_key(entry), {}).setdefault(_state(entry), []).append(name)
        model = prov.get("model") or {}
        models.setdefault(f"{model.get('name_or_path')} @ {model.get('commit')}", []).append(name)
    def listed(states: dict[str, list[str]]) -> str:  # in order of the runs' names: stable across file systems
        ordered = sorted((sorted(names), state) for state, names in states.items())
        return "; ".join(f"{state} in {', '.join(names)}" for names, state in ordered)

    lines = [f"{key}: {listed(states)}" for key, states in sorted(splits.items()) if len(states) > 1]
    if len(models) > 1:
        lines.append(f"model: {listed(models)}")
    return lines
