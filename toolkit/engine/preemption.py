"""Stopping a training run cleanly when the scheduler asks: a checkpoint, then `Preempted`.

A Slurm job submitted by the grid gets a signal some time before its limit (or its preemption);
`install` makes that signal set a flag instead of killing the process. The training loop asks
`requested` at its logging steps, where the loss sums have just been written out, so a
checkpoint taken there loses nothing and the resumed run repeats the loss curve exactly. Every
rank must stop at the same step, and each may have received the signal at a different moment,
so the ranks agree through one all-reduce; without `install` nothing is ever asked of them.
"""

from __future__ import annotations

import signal

import torch

from toolkit.runtime.distributed import Dist

_state = {"installed": False, "received": False}


class Preempted(BaseException):
    """The run saved a checkpoint and stopped because the scheduler asked it to.

    A BaseException, like KeyboardInterrupt: it is not a failure, so the grid's "any exception
    is a failed cell" handlers let it through to the job, which requeues itself.
    """

    def __init__(self, step: int, checkpoint: str):
        super().__init__(f"stopped at step {step} on the scheduler's signal; checkpoint {checkpoint}")
        self.step = step
        self.checkpoint = checkpoint


def _on_signal(signum, frame) -> None:
    _state["received"] = True


def install(signum: int) -> None:
    """From now on, `signum` asks the training loop to checkpoint and stop."""
    signal.signal(signum, _on_signal)
    _state["installed"] = True


def requested(dist: Dist) -> bool:
    """Whether any rank has received the signal; every rank gets the same answer."""
    if not _state["installed"]:
        return False
    flag = torch.tensor([1.0 if _state["received"] else 0.0], device=dist.device)
    if dist.world_size > 1:
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())
