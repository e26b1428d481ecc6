"""Running a grid's cells in order inside one launch: skip what is DONE, resume what started,
isolate failures (FAILED), then build the report."""

from __future__ import annotations

import gc
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from toolkit.engine.trainer import release_all_engines
from toolkit.errors import ConfigError
from toolkit.grid.spec import Cell, Grid
from toolkit.models import encoder
from toolkit.pipeline import run_dirs
from toolkit.pipeline.cost import compare_runs
from toolkit.pipeline.intermediate import run_intermediate
from toolkit.pipeline.target import run_target
from toolkit.reporting.report import to_markdown, write_report
from toolkit.runtime.distributed import init_distributed


def cell_status(cell: Cell) -> str:
    """done (DONE), failed (FAILED from a previous attempt), partial (started), or todo."""
    if run_dirs.is_done(cell.run_dir):
        return "done"
    if run_dirs.failed_path(cell.run_dir).exists():
        return "failed"
    if run_dirs.has_started(cell.run_dir):
        return "partial"
    return "todo"


@dataclass
class Outcome:
    cell: Cell
    result: str  # "ran", "skipped-done", "failed", "skipped"
    message: str = ""
    seconds: float | None = None  # wall time of a cell that ran (or failed)


def release_memory() -> None:
    """Forget one cell's DeepSpeed state before the next cell of the same process.

    A cell that failed midway leaves its engine alive (see `trainer.release_all_engines`).
    Transformers keeps the live ZeRO-3 config in a global (it makes `from_pretrained`
    partition weights); left set, the next ZeRO-2 cell would load a partitioned model.
    """
    from deepspeed.accelerator import get_accelerator  # heavy: imported once a cell has run
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    release_all_engines()
    unset_hf_deepspeed_config()
    encoder._LIVE_DS_CONFIG = None
    gc.collect()
    get_accelerator().empty_cache()


def attempt_cell(cell: Cell, dist) -> str | None:
    """Run one cell on every rank; the joined tracebacks of the ranks that failed, or None."""
    if dist.is_main:
        run_dirs.clear_failed(cell.run_dir)
    error = None
    try:
        (run_intermediate if cell.kind == "intermediate" else run_target)(cell.cfg)
    except Exception:  # noqa: BLE001  (any cell failure is reported, and the grid carries on)
        error = traceback.format_exc()
    finally:
        release_memory()
    # Every rank learns whether any rank failed, so all ranks take the same next step.
    errors = dist.all_gather_object(error)
    failed = [f"rank {r}:\n{e}" for r, e in enumerate(errors) if e]
    return "\n".join(failed) if failed else None


def run_grid(grid: Grid) -> list[Outcome]:
    """Run every cell in order on every rank; failures are written to <cell>/FAILED and skipped past.

    Ends with the report of the experiment and a summary of the cells (printed by rank 0).

    A rank that fails while the others wait inside a collective cannot be recovered from:
    that hangs until the process group's timeout, as any DeepSpeed job would.
    """
    # The process group is made once, for every cell: its timeout comes from the grid's base config.
    dist = init_distributed(grid.cells[0].cfg.train.collective_timeout_minutes if grid.cells else 30.0)
    outcomes: list[Outcome] = []
    failed_intermediates: set[Path] = set()
    for i, cell in enumerate(grid.cells, 1):
        if dist.is_main:
            print(f"grid [{i}/{len(grid.cells)}] {cell.kind} {cell.name}: {cell_status(cell)}", flush=True)
        if cell.depends_on in failed_intermediates:
            outcomes.append(Outcome(cell, "skipped", f"its intermediate run {cell.depends_on} failed"))
            if cell.kind == "intermediate":  # a chain's later stage: its own targets cannot run either
                failed_intermediates.add(cell.run_dir)
            continue
        if cell_status(cell) == "done":
            outcomes.append(Outcome(cell, "skipped-done"))
            continue
        started = time.perf_counter()
        error = attempt_cell(cell, dist)
        seconds = time.perf_counter() - started
        if dist.is_main:
            print(f"grid [{i}/{len(grid.cells)}] {cell.name}: {'done' if error is None else 'failed'} in "
                  f"{seconds:.0f} s", flush=True)
        if error is None:
            outcomes.append(Outcome(cell, "ran", seconds=seconds))
            continue
        if dist.is_main:
            print(f"grid: {cell.name} FAILED (see {run_dirs.mark_failed(cell.run_dir, error)}):\n{error}", flush=True)
        if cell.kind == "intermediate":
            failed_intermediates.add(cell.run_dir)
        outcomes.append(Outcome(cell, "failed", error.strip().splitlines()[-1], seconds))
    # Runs of a task finish minutes apart: their inference cost is compared in one interleaved pass.
    started = time.perf_counter()
    compare_runs([c.cfg for c in grid.cells if c.kind == "target"], dist, run_dirs.cost_path(grid.experiment_dir))
    if dist.is_main:
        print(f"grid: inference-cost comparison done in {time.perf_counter() - started:.0f} s", flush=True)
        _final_report(grid)
        print(summary(outcomes), flush=True)
    dist.barrier()
    return outcomes


def _final_report(grid: Grid) -> None:
    try:
        print(to_markdown(write_report(grid.experiment_dir)), flush=True)
    except ConfigError as err:  # e.g. no target cell finished
        print(f"grid: no report: {err}", flush=True)


def summary(outcomes: list[Outcome]) -> str:
    """The end-of-grid summary: counts, then every failed or skipped cell with its reason."""
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    lines = ["grid summary: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))]
    timed = [o for o in outcomes if o.seconds is not None]
    if timed:
        lines.append(f"cell wall times ({sum(o.seconds for o in timed):.0f} s in all):")
        lines += [f"  {o.seconds:6.0f} s  {o.cell.name}" for o in timed]
    for o in outcomes:
        if o.result in ("failed", "skipped"):
            where = f" ({run_dirs.failed_path(o.cell.run_dir)})" if o.result == "failed" else ""
            lines.append(f"  {o.result}: {o.cell.name}: {o.message}{where}")
    return "\n".join(lines)
