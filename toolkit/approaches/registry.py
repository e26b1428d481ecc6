"""The approach registry (a new approach: its module with one `Approach` record, plus one line)."""

from __future__ import annotations

from toolkit.approaches.base import Approach
from toolkit.approaches.english import ENGLISH
from toolkit.approaches.mlm import MLM
from toolkit.approaches.none import NONE
from toolkit.approaches.translated import TRANSLATED
from toolkit.errors import ConfigError, nearest

APPROACHES: dict[str, Approach] = {a.name: a for a in (ENGLISH, MLM, TRANSLATED, NONE)}


def get_approach(name: str) -> Approach:
    """The approach called `name`; an unknown name is a ConfigError naming the nearest ones."""
    if name not in APPROACHES:
        raise ConfigError(
            f"approach={name!r} is not one of {', '.join(APPROACHES)}{nearest(name, list(APPROACHES))}"
        )
    return APPROACHES[name]
