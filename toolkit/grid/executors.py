"""Where a grid's cells run: the executors `grid executor=<name>` knows, as records.

`local` (the default) runs every cell inside the current launch, one after another, so a laptop
or the demo needs no scheduler; `slurm` submits one job per cell and returns (toolkit.grid.slurm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from toolkit.errors import ConfigError, nearest
from toolkit.grid.runner import run_grid
from toolkit.grid.slurm import submit_grid
from toolkit.grid.spec import Grid


@dataclass(frozen=True)
class Executor:
    name: str
    description: str
    run: Callable[[Grid], int]  # runs (or submits) the grid; the command's exit status


def _run_locally(grid: Grid) -> int:
    outcomes = run_grid(grid)
    return 1 if any(o.result == "failed" for o in outcomes) else 0


EXECUTORS: dict[str, Executor] = {e.name: e for e in (
    Executor("local", "every cell in this launch, one after another (under deepspeed: on all its ranks); "
             "ends with the report", _run_locally),
    Executor("slurm", "one Slurm job per cell through submitit, with afterok dependencies and job arrays; "
             "returns once submitted (grid status / grid cancel follow it)", submit_grid),
)}


def get_executor(name: str) -> Executor:
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}{nearest(name, EXECUTORS)}; valid executors: "
                          + ", ".join(f"{e.name} ({e.description})" for e in EXECUTORS.values()))
    return EXECUTORS[name]
