"""The task registry: every task module's `TASKS`, by name.

Adding a task is one module that defines its `TaskSpec` records and lists them in `TASKS`,
plus one line here. The order of the modules is the order of the benchmarks' tasks in reports
(XTREME: xnli pawsx udpos panx xquad mlqa tydiqa bucc2018 tatoeba; XTREME-R puts xcopa second).
"""

from __future__ import annotations

from types import ModuleType
from typing import NamedTuple

from toolkit.errors import ConfigError, DataError, nearest
from toolkit.hub import HubSource
from toolkit.tasks import classification, copa, multiple_choice, nli, qa, retrieval, tagging
from toolkit.tasks.records import LoadRequest, TaskSpec

TASK_MODULES: tuple[ModuleType, ...] = (nli, copa, classification, tagging, qa, retrieval, multiple_choice)


def _build() -> dict[str, TaskSpec]:
    tasks: dict[str, TaskSpec] = {}
    for module in TASK_MODULES:
        for spec in module.TASKS:
            if spec.name in tasks:
                raise ValueError(f"task {spec.name!r} is defined twice ({module.__name__})")
            tasks[spec.name] = spec
    return tasks


_TASKS = _build()


def get_task(name: str) -> TaskSpec:
    """Look a task up by name; an unknown name is a ConfigError listing the nearest names."""
    if name not in _TASKS:
        raise ConfigError(
            f"unknown task {name!r}{nearest(name, sorted(_TASKS))}; known tasks: {', '.join(sorted(_TASKS))}"
        )
    return _TASKS[name]


def all_tasks() -> dict[str, TaskSpec]:
    """Every registered task, by name, in registry order."""
    return dict(_TASKS)


SPLITS = ("train", "validation", "test")


def sources_of(spec: TaskSpec, split: str, language: str | None, revision: str | None = None) -> tuple[HubSource, ...]:
    """The Hub splits one load of `spec` reads (none for local-only tasks); a split or language
    the task lacks on the Hub raises its ConfigError or DataError."""
    if spec.hub_sources is None:
        return ()
    return spec.hub_sources(spec, LoadRequest(split, language, revision=revision))


class Registered(NamedTuple):
    """A Hub split the registry reads, and the first (task, split, language) load that reads it."""

    task: str
    split: str
    language: str | None
    source: HubSource


def registered_sources() -> list[Registered]:
    """Every Hub split any registered task can read (each split and, for multilingual tasks,
    each language), once, with the first load that reads it."""
    seen: set[HubSource] = set()
    out = []
    for name, spec in _TASKS.items():
        for split in SPLITS:
            for language in spec.languages or (None,):
                try:
                    sources = sources_of(spec, split, language)
                except (ConfigError, DataError):  # a split or language this task does not have
                    continue
                for source in sources:
                    if source not in seen:
                        seen.add(source)
                        out.append(Registered(name, split, language, source))
    return out
