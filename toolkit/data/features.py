"""Examples -> features, cached on disk (keyed by tokenizer, task, split, language, lengths, data).

The cache is a `datasets` Arrow folder per key. Rank 0 builds it while the other ranks wait,
so a multi-GPU job tokenises once; a rerun (or the next phase) reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Callable

from toolkit.families.registry import get_family
from toolkit.io import atomic_dir
from toolkit.tasks.records import LoadRequest, TaskSpec

# Bump when a featuriser changes what it writes. 2: tokenizers whose pair template does not
# separate the texts get a separator; byte-level tokenizers tag words with their leading space.
# 3: a tag sits on the first sub-word that is not a lone word-boundary piece.
FEATURE_VERSION = 3


def cache_root(configured: str | None) -> Path:
    """The cache folder: configured, else $XSTILTS_CACHE, else ~/.cache/xstilts."""
    if configured:
        return Path(configured)
    return Path(os.environ.get("XSTILTS_CACHE", Path.home() / ".cache" / "xstilts"))


def load_examples(
    spec: TaskSpec, split: str, language: str | None, data_dir: str | None, max_examples: int | None
) -> list:
    """Read one split of a task; local data for task T lives in <data_dir>/<T>/."""
    local = str(Path(data_dir) / spec.name) if data_dir else None
    return spec.loader(spec, LoadRequest(split, language, local, max_examples))


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of the tokenizer's full definition (vocabulary, normaliser, templates)."""
    cached = getattr(tokenizer, "_xstilts_fingerprint", None)
    if cached is None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        text = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
        cached = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        tokenizer._xstilts_fingerprint = cached
    return cached


def examples_fingerprint(examples: Sequence[Any]) -> str:
    digest = hashlib.sha256()
    for e in examples:
        digest.update(repr(e).encode("utf-8"))
    return digest.hexdigest()[:16]


def featurize_cached(
    spec: TaskSpec,
    examples: Sequence[Any],
    tokenizer,
    max_length: int,
    cache_dir: Path,
    rank: int = 0,
    barrier: Callable[[], None] = lambda: None,
) -> "FeatureTable":
    """Features for `examples`, from the cache when an identical request was made before."""
    import datasets

    datasets.disable_progress_bars()  # one bar per cached split is noise in a training log
    key = hashlib.sha256(
        json.dumps(
            {
                "v": FEATURE_VERSION,
                "tokenizer": tokenizer_fingerprint(tokenizer),
                "task": spec.name,
                "family": spec.family,
                "labels": list(spec.labels),
                "extra": {k: repr(v) for k, v in sorted(spec.extra.items())},
                "max_length": max_length,
                "examples": examples_fingerprint(examples),
            },
            sort_keys=True,
        ).encode("utf-8")
    ).hexdigest()[:24]
    folder = cache_dir / "features" / f"{spec.name}-{key}"
    if rank == 0 and not folder.exists():
        features = get_family(spec.family).featurize(spec, examples, tokenizer, max_length)
        # keep_existing: another job may finish the same key first; theirs is identical.
        with atomic_dir(folder, keep_existing=True) as tmp:
            datasets.Dataset.from_list(features).save_to_disk(str(tmp))
    barrier()
    return FeatureTable(datasets.load_from_disk(str(folder)))


class FeatureTable(Sequence):
    """Cached features, memory-mapped: rows are built on access, never all at once.

    SQuAD-sized feature sets (130k windows x 384 tokens, with offsets) would take several GB
    as Python lists; the Arrow table stays on disk and in the page cache.
    """

    def __init__(self, table):
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._table[int(index)]

    def __iter__(self):
        return iter(self._table)

    def column(self, name: str) -> list:
        """One field of every feature (e.g. `length`), read column-wise into a list.

        Read through Arrow in one go: iterating or indexing `datasets`' lazy column object
        formats one row at a time (seconds per 100k features, on every length lookup).
        """
        return self._table.select_columns([name]).to_dict()[name]

    def rows(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Several features in one read (a batch)."""
        columns = self._table[[int(i) for i in indices]]
        names = list(columns)
        return [dict(zip(names, values)) for values in zip(*(columns[n] for n in names))]
