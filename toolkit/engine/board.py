"""TensorBoard logging of one run, from rank 0 only (other ranks get a writer that does nothing).

Tags are the contract's (docs/contracts.md): train/loss, train/lr, train/<task>/loss,
eval/<task>/<lang>/<metric>, eval/<task>/score, plus one hparams row per run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


# target runs (test and dev scores), intermediate runs
SCORE_METRICS = ("hparam/score", "hparam/dev_score", "hparam/validation_score")


class Board:
    """Scalars under the contract's tags (train/loss, eval/<task>/<lang>/<metric>, ...)."""

    def __init__(self, log_dir: str | Path | None):
        self._writer = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # heavy: loads tensorboard on rank 0 only

            self._writer = SummaryWriter(str(log_dir))

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, float(value), step)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        if self._writer is not None:
            self._writer.add_text(tag, text, step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """One row (session) in the hparams plugin for this run, written into the run's own folder.

        Only the session is written here. The plugin shows the columns of one experiment
        summary, picked arbitrarily when several runs carry one, so the experiment summary
        is written once per experiment by `write_comparison` (the report command).
        """
        if self._writer is None:
            return
        from torch.utils.tensorboard.summary import hparams as make_hparams  # heavy, rank 0 only

        _, session_start, session_end = make_hparams(clean_hparams(hparams), metrics)
        for summary in (session_start, session_end):
            self._writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            self._writer.add_scalar(tag, value)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()


def clean_hparams(hparams: dict[str, Any]) -> dict[str, Any]:
    """Values the hparams plugin can hold: numbers, text and booleans (anything else as text)."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}


def flatten_config(values: dict[str, Any]) -> dict[str, Any]:
    """{'train': {'learning_rate': 1e-5}, 'seed': 1} -> {'train.learning_rate': 1e-5, 'seed': 1}."""
    flat = {}
    for section, value in values.items():
        if isinstance(value, dict):
            flat.update({f"{section}.{k}": v for k, v in value.items()})
        else:
            flat[section] = value
    return flat
