"""The whole check of a run config before any work: values (`config.overrides`), then the names
the registries know: benchmark, domain corpora, intermediate stages and the approach's own
checks. `load_config` is what the commands call; typos fail here, in about a second."""

from __future__ import annotations

from toolkit.approaches.corpora import corpora_of
from toolkit.approaches.registry import get_approach
from toolkit.config.overrides import check_values, merge_config
from toolkit.config.schema import RunConfig
from toolkit.pipeline import stages
from toolkit.tasks.benchmarks import get_benchmark


def check_run_config(cfg: RunConfig) -> None:
    """Every check that needs no data and no model; raises ConfigError naming the key."""
    check_values(cfg)
    get_benchmark(cfg.benchmark)
    corpora_of(cfg)  # before the stages, which may name them
    approach = get_approach(cfg.approach)
    approach.check(cfg, stages.task_names(cfg) if approach.has_intermediate else [])


def load_config(args: list[str]) -> RunConfig:
    """Defaults <- `config=FILE.yaml` <- `key=value` overrides, fully checked."""
    cfg = merge_config(args)
    check_run_config(cfg)
    return cfg
