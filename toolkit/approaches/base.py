"""The `Approach` record and what every approach shares: English data, features, validation.

The paper compares four ways to get the encoder that the (shared) target phase starts from.
They differ only in the data of the intermediate phase, so an approach is a small record:
its config-time checks, the suffix it adds to the run folder name, and `build`, which turns
(cfg, specs, tokenizer, dist) into the `PhaseData` that `engine.trainer.train` consumes.
Validation is always the English dev set of the intermediate task(s), so model selection is
the same for every approach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from toolkit.config.schema import RunConfig
from toolkit.data.features import cache_root, featurize_cached, load_examples
from toolkit.engine.trainer import PhaseData
from toolkit.evaluation.zero_shot import EvalSet
from toolkit.runtime.distributed import Dist
from toolkit.tasks.records import TaskSpec


@dataclass
class ApproachData:
    """What an approach's `build` returns: the phase's data, plus data statistics to log once
    (TensorBoard scalars at step 0, e.g. `data/mlm/<lang>/tokens`)."""

    data: PhaseData
    scalars: dict[str, float] = field(default_factory=dict)


def _no_suffix(cfg: RunConfig) -> str:
    return ""


@dataclass(frozen=True)
class Approach:
    """One approach.

    check: config-time checks, given the config and the registered intermediate tasks of its
        stages (no data, no model).
    build: the phase's data for a stage's tasks; None exactly when the approach has no
        intermediate phase (`none`).
    suffix: appended to the <intermediate> folder name (translated: `-tr.<langs>`).
    """

    name: str
    description: str
    check: Callable[[RunConfig, list[str]], None]
    build: Callable[[RunConfig, dict, Any, Dist], ApproachData] | None
    suffix: Callable[[RunConfig], str] = _no_suffix

    @property
    def has_intermediate(self) -> bool:
        return self.build is not None


def features(cfg: RunConfig, spec: TaskSpec, examples, tokenizer, dist: Dist):
    """`examples` featurised for `spec` under this run's settings, through the shared cache."""
    return featurize_cached(
        spec, examples, tokenizer, cfg.model.max_seq_length, cache_root(cfg.data.cache_dir),
        rank=dist.rank, barrier=dist.barrier,
    )


def english_examples(cfg: RunConfig, spec: TaskSpec, split: str) -> list:
    """A task's English `split`, capped by data.max_train_examples / max_eval_examples."""
    cap = cfg.data.max_train_examples if split == "train" else cfg.data.max_eval_examples
    return load_examples(spec, split, None, cfg.data.data_dir, cap)


def english_validation(cfg: RunConfig, specs: dict, tokenizer, dist: Dist) -> dict:
    """Every task's English dev set: the model-selection data of every approach."""
    out = {}
    for name, spec in specs.items():
        examples = english_examples(cfg, spec, "validation")
        out[name] = EvalSet(spec, "en", examples, features(cfg, spec, examples, tokenizer, dist))
    return out
