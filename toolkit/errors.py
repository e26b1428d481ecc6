"""The exception types users see for bad input, each naming the source and what was expected,
and the 'did you mean' hint they share."""

from __future__ import annotations

import difflib
from typing import Iterable


class ConfigError(ValueError):
    """Bad configuration: unknown key, task, approach, language, or inconsistent values."""


class DataError(ValueError):
    """Malformed input data: the message names the file (or Hub id), the row and the field."""


class CheckpointError(RuntimeError):
    """A checkpoint could not be saved or loaded: the message says what is intact and what to do."""


def nearest(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint for a mistyped name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
