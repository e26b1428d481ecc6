"""The whole check of a run config before any work: values (`config.overrides`), then the names
the registries know: benchmark, domain corpora, intermediate stages and the approach's own
checks. `load_config` is what the commands call; typos fail here, in about a second.

`check_inputs` is the pre-flight of the data and model a phase will read (the phases call it
before any process group starts): every Hub split exists at its revision with the task's
columns (or, offline, is in the cache), and the encoder is a model folder or a Hub model this
machine may read."""

from __future__ import annotations

from toolkit.approaches.corpora import corpora_of
from toolkit.approaches.registry import get_approach
from toolkit.config.overrides import check_values, merge_config
from toolkit.config.schema import RunConfig
from toolkit.errors import ConfigError, nearest
from toolkit.hub import check_model, check_source
from toolkit.pipeline import stages
from toolkit.pipeline.inputs import hub_inputs
from toolkit.tasks.benchmarks import get_benchmark
from toolkit.tasks.registry import all_tasks


def check_run_config(cfg: RunConfig) -> None:
    """Every check that needs no data and no model; raises ConfigError naming the key."""
    check_values(cfg)
    get_benchmark(cfg.benchmark)
    corpora_of(cfg)  # before the stages, which may name them
    approach = get_approach(cfg.approach)
    approach.check(cfg, stages.task_names(cfg) if approach.has_intermediate else [])
    known = all_tasks()
    for task in cfg.data.hub_revisions:
        if task not in known:
            raise ConfigError(f"data.hub_revisions: unknown task {task!r}{nearest(task, sorted(known))}")


def check_inputs(cfg: RunConfig, phase: str) -> None:
    """Pre-flight of what `phase` reads, before any process group, download or training: the
    pretrained encoder (when the phase starts from it) and every Hub split (config, split,
    revision, no loading script only, columns; offline: in the cache). Raises the first
    ConfigError or DataError, which names the item and what to do."""
    if phase == "intermediate" and not get_approach(cfg.approach).has_intermediate:
        return
    if phase == "intermediate" or (phase == "target" and not get_approach(cfg.approach).has_intermediate):
        check_model(cfg.model.name_or_path, cfg.model.revision)
    for _, source in hub_inputs(cfg, phase):
        check_source(source)


def load_config(args: list[str]) -> RunConfig:
    """Defaults <- `config=FILE.yaml` <- `key=value` overrides, fully checked."""
    cfg = merge_config(args)
    check_run_config(cfg)
    return cfg
