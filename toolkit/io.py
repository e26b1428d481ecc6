"""Atomic file output: every file and folder the toolkit writes appears whole or not at all.

A reader (another rank, a rerun, `report`, XTREME's evaluate.py) never sees half a file:
content goes to a private temporary name beside the target and is renamed over it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8, `\\n` line ends) to `path` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A private name per writer: several ranks may write the same (identical) file at once.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename, so a crash cannot leave it empty
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, data: Any, **dumps: Any) -> Path:
    """`data` as indented JSON (or as `json.dumps(**dumps)` asks), written atomically."""
    options = {"indent": 2} if not dumps else dumps
    return atomic_write_text(path, json.dumps(data, **options) + "\n")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file path beside `path` for writers that need a file name (matplotlib,
    torch.save); renamed over `path` when the block ends without an error. The temporary name
    keeps `path`'s suffix, since some writers pick the format from it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike, *, keep_existing: bool = False) -> Iterator[Path]:
    """A temporary sibling folder to fill; when the block ends without an error it replaces
    `path` (the old folder, if any, is moved aside first and removed after the rename).

    keep_existing: if `path` appears meanwhile (another job built the same content-keyed
    folder), keep that one and drop ours instead of replacing it.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        if final.exists() and keep_existing:
            return
        if final.exists():
            old = final.with_name(f".{final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.replace(tmp, final)
            except OSError:
                if not (keep_existing and final.exists()):
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


REPO_ROOT = Path(__file__).resolve().parents[1]


def repo_path(path: str | os.PathLike) -> Path:
    """`path` as given when it exists from the working folder, else relative to the repository
    (so `config=configs/demo.yaml` works from any folder)."""
    p = Path(path)
    return REPO_ROOT / p if not p.exists() and (REPO_ROOT / p).exists() else p
