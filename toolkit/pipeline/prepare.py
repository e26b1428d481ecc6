"""`prepare`: fetch everything a grid or a phase will read from the Hugging Face Hub into the
normal Hugging Face cache (or find it there), so the same runs work with `HF_HUB_OFFLINE=1`
on nodes without internet, and print a manifest of it.

Each dataset split is loaded once through `datasets` (which downloads the repository's files
for that config and builds its Arrow cache), each pretrained encoder through `huggingface_hub`
(config, tokenizer and one weights format). Both clients write under a temporary name and
rename when a file is complete, so an interrupted `prepare` leaves nothing a later run would
take for whole; running it again fetches what is missing and finds the rest in the cache.
An item that cannot be prepared gets one line saying which, what is wrong and what to do; the
others are still prepared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolkit.approaches.registry import get_approach
from toolkit.config.schema import RunConfig
from toolkit.errors import CheckpointError, ConfigError, DataError
from toolkit.hub import check_model_folder, download_model, is_local_model, load_split, split_bytes, split_commit
from toolkit.models.encoder import resolve_model_path
from toolkit.pipeline.inputs import hub_inputs

PHASES = ("intermediate", "target")


@dataclass(frozen=True)
class Item:
    """One manifest line: a dataset split or a model, prepared or with what went wrong."""

    kind: str  # "dataset" or "model"
    name: str  # HubSource.label, or the model id / folder
    task: str  # the task (or "model.name_or_path") that reads it
    revision: str | None
    commit: str | None = None
    size: int | None = None
    where: str | None = None
    problem: str | None = None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "task": self.task, "revision": self.revision,
                "commit": self.commit, "size": self.size, "where": self.where, "problem": self.problem}


def _dataset_items(runs: list[tuple[RunConfig, str]]) -> list[Item]:
    items: list[Item] = []
    seen: set = set()
    for cfg, phase in runs:
        try:
            reads = hub_inputs(cfg, phase)
        except (ConfigError, DataError) as err:  # a split or language the task lacks, a local-only task
            problem = Item("dataset", f"{phase} of {cfg.target if phase == 'target' else cfg.intermediate}",
                           cfg.target if phase == "target" else cfg.intermediate, None, problem=str(err))
            if problem not in items:
                items.append(problem)
            continue
        for read, source in reads:
            if source in seen:
                continue
            seen.add(source)
            try:
                ds = load_split(source)
            except (ConfigError, DataError) as err:
                items.append(Item("dataset", source.label, read.task, source.revision, problem=str(err)))
                continue
            where = str(Path(ds.cache_files[0]["filename"]).parent) if ds.cache_files else None
            items.append(Item("dataset", source.label, read.task, source.revision, split_commit(ds),
                              split_bytes(ds), where))
    return items


def _model_items(runs: list[tuple[RunConfig, str]]) -> list[Item]:
    """The pretrained encoders the runs start from (phase 2, or phase 3 of approach none)."""
    items: list[Item] = []
    seen: set = set()
    for cfg, phase in runs:
        if phase == "target" and get_approach(cfg.approach).has_intermediate:
            continue  # starts from its intermediate run's encoder/
        key = (cfg.model.name_or_path, cfg.model.revision)
        if key in seen:
            continue
        seen.add(key)
        name, revision = key
        try:
            if name == "embedded":
                items.append(Item("model", name, "model.name_or_path", None, where=resolve_model_path(name)))
            elif is_local_model(name):
                check_model_folder(name)
                items.append(Item("model", name, "model.name_or_path", None, where=str(Path(name).resolve())))
            else:
                got = download_model(name, revision)
                items.append(Item("model", name, "model.name_or_path", revision or "main", got.commit, got.size,
                                  got.folder))
        except (ConfigError, DataError, CheckpointError) as err:
            items.append(Item("model", name, "model.name_or_path", revision, problem=str(err)))
        except Exception as err:  # the Hub client's own errors: gated, missing, no network
            items.append(Item("model", name, "model.name_or_path", revision,
                              problem=f"could not download {name!r}: {type(err).__name__}: {err}"))
    return items


def prepare(runs: list[tuple[RunConfig, str]]) -> list[Item]:
    """Prepare every dataset split and pretrained encoder that the (config, phase) runs read;
    the manifest items in order, models first."""
    return _model_items(runs) + _dataset_items(runs)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def manifest_text(items: list[Item]) -> str:
    """The manifest as text: one line per item (source, revision, commit, size, where), then one
    line per problem, then a summary."""
    lines = []
    for item in items:
        if item.problem is None:
            lines.append(f"{item.kind:7s} {item.name}  revision={item.revision or '-'}  "
                         f"commit={item.commit or '-'}  size={_size(item.size)}  at {item.where}")
    problems = [item for item in items if item.problem is not None]
    for item in problems:
        lines.append(f"MISSING {item.kind} {item.name} (read by {item.task}): {item.problem}")
    ok = len(items) - len(problems)
    lines.append(f"prepare: {ok} of {len(items)} items ready" +
                 (f"; {len(problems)} missing or unusable (MISSING lines above)" if problems else
                  "; the same runs can now run with HF_HUB_OFFLINE=1"))
    return "\n".join(lines)
