"""Stand-ins for the Hugging Face Hub in loader tests: tables in the Hub datasets' exact schemas."""

from __future__ import annotations

import json
from pathlib import Path

import datasets


def fake_hub(monkeypatch, tables: dict) -> list:
    """Make `datasets.load_dataset(path, name, split=...)` return `tables[(path, name, split)]`;
    returns the list the calls are recorded in."""
    calls = []

    def load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        return tables[(path, name, split)]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write `rows` as JSON lines (UTF-8, parents created); returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
