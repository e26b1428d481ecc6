"""TensorBoard logging from rank 0 only (other ranks get a writer that does nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Board:
    """Scalars under the contract's tags (train/loss, eval/<task>/<lang>/<metric>, ...)."""

    def __init__(self, log_dir: str | Path | None):
        self._writer = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(log_dir))

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, float(value), step)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        if self._writer is not None:
            self._writer.add_text(tag, text, step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """One row in the hparams plugin for this run (written into the run's own folder)."""
        if self._writer is None:
            return
        from torch.utils.tensorboard.summary import hparams as make_hparams

        clean = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
        for summary in make_hparams(clean, metrics):
            self._writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            self._writer.add_scalar(tag, value)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
