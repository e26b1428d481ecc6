"""`english`: fine-tune on the English intermediate task(s) as they are."""

from __future__ import annotations

from toolkit.approaches.base import Approach, ApproachData, english_examples, english_validation, features
from toolkit.config.schema import RunConfig
from toolkit.engine.trainer import PhaseData
from toolkit.runtime.distributed import Dist


def build_english(cfg: RunConfig, specs: dict, tokenizer, dist: Dist) -> ApproachData:
    """The intermediate task(s) on their English training data."""
    train = {n: features(cfg, s, english_examples(cfg, s, "train"), tokenizer, dist) for n, s in specs.items()}
    return ApproachData(PhaseData(specs, train, english_validation(cfg, specs, tokenizer, dist)))


def check_english(cfg: RunConfig, tasks: list[str]) -> None:
    """Nothing beyond the stages' own checks (task names are checked where they are parsed)."""


ENGLISH = Approach("english", "fine-tune on the English intermediate task(s)", check_english, build_english)
