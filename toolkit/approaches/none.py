"""`none`: no intermediate phase; the target phase starts from the pretrained encoder (the
XLM-R control every change is measured against)."""

from __future__ import annotations

from toolkit.approaches.base import Approach
from toolkit.config.schema import RunConfig


def check_none(cfg: RunConfig, tasks: list[str]) -> None:
    """Nothing to check: `intermediate` is not read."""


NONE = Approach("none", "no intermediate phase: the target phase starts from the pretrained encoder", check_none, None)
