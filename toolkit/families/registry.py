"""The family registry: every `Family` record by name (a new family: its module plus one line)."""

from __future__ import annotations

from toolkit.errors import ConfigError, nearest
from toolkit.families import mlm, multiple_choice, pair, retrieval, span_qa, tagging
from toolkit.families.base import Family

FAMILIES: dict[str, Family] = {
    f.name: f for f in (pair.FAMILY, multiple_choice.FAMILY, span_qa.FAMILY, tagging.FAMILY, mlm.FAMILY,
                        retrieval.FAMILY)
}


def get_family(name: str) -> Family:
    """The Family record called `name`."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown task family {name!r}{nearest(name, FAMILIES)}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]
