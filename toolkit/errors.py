"""The one exception type users see for bad input: it names the source and what was expected."""


class ConfigError(ValueError):
    """Bad configuration: unknown key, task, approach, language, or inconsistent values."""


class DataError(ValueError):
    """Malformed input data: the message names the file (or Hub id), the row and the field."""


class CheckpointError(RuntimeError):
    """A checkpoint could not be saved or loaded: the message says what is intact and what to do."""
