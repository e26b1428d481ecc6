"""What the intermediate phase trains on: '>'-chained stages of '+'-joined entries.

`intermediate: mnli+squad_v2` is one stage that trains both tasks at once (multi-task);
`intermediate: mnli>squad_v2` is two stages run one after the other, the second starting from
the first one's encoder (sequential). Both can be combined (`mnli+qqp>squad_v2`). An entry is
a registered task or the name of one of the run's `data.corpora` (domain text or domain task
data, see `toolkit.approaches.corpora`).

Each prefix of a chain is an intermediate run of its own, in the folder a run of just that
prefix would use: `mnli>squad_v2` reuses a finished `mnli` run, and a grid that lists both
`mnli` and `mnli>squad_v2` trains MNLI once.
"""

from __future__ import annotations

import dataclasses
from toolkit.config.schema import RunConfig
from toolkit.errors import ConfigError, nearest
from toolkit.tasks.registry import all_tasks, get_task

CHAIN = ">"
JOIN = "+"
FOLDER_CHAIN = "-then-"  # '>' is a shell redirection: folder names spell the chain out


def corpus_names(cfg: RunConfig) -> list[str]:
    """The names of the run's domain corpora (`data.corpora`), unchecked."""
    return [str(c.get("name", "")) for c in cfg.data.corpora if isinstance(c, dict)]


def parse(text: str, corpora: list[str] = ()) -> list[list[str]]:
    """'mnli+qqp>squad_v2' -> [['mnli', 'qqp'], ['squad_v2']], every entry checked.

    An entry is a registered task or one of `corpora`; an unknown one names the nearest.
    """
    stages = []
    for part in text.split(CHAIN):
        names = [n.strip() for n in part.split(JOIN) if n.strip()]
        if not names:
            raise ConfigError(f"intermediate={text!r}: empty stage; expected task names joined by "
                              f"'{JOIN}' (multi-task) and '{CHAIN}' (sequential)")
        if len(set(names)) != len(names):
            raise ConfigError(f"intermediate={text!r}: a stage lists a task twice")
        for name in names:
            if name not in corpora:
                try:
                    get_task(name)
                except ConfigError:
                    known = list(all_tasks()) + list(corpora)
                    raise ConfigError(
                        f"intermediate={text!r}: unknown task {name!r}{nearest(name, known)}: neither a "
                        "registered task (`python -m toolkit tasks` lists them) nor a corpus of data.corpora"
                    ) from None
        stages.append(names)
    return stages


def stages(cfg: RunConfig) -> list[list[str]]:
    """The checked stages of `cfg.intermediate`."""
    return parse(cfg.intermediate, corpus_names(cfg))


def task_names(cfg: RunConfig) -> list[str]:
    """Every registered task of every stage (corpora left out), in order of first appearance."""
    corpora = corpus_names(cfg)
    seen: list[str] = []
    for stage in stages(cfg):
        seen += [n for n in stage if n not in corpora and n not in seen]
    return seen


def folder_name(cfg: RunConfig) -> str:
    """'mnli+qqp>squad_v2' -> 'mnli+qqp-then-squad_v2'."""
    return FOLDER_CHAIN.join(JOIN.join(stage) for stage in stages(cfg))


def previous_stage(cfg: RunConfig) -> RunConfig | None:
    """The config of the chain without its last stage (None for a single stage)."""
    chain = stages(cfg)
    if len(chain) == 1:
        return None
    prefix = CHAIN.join(JOIN.join(stage) for stage in chain[:-1])
    return dataclasses.replace(cfg, intermediate=prefix)


def last_stage(cfg: RunConfig) -> list[str]:
    """The entries the run trains itself (the earlier stages are runs of their own)."""
    return stages(cfg)[-1]
