"""One entry point, a subcommand per phase: `python -m toolkit <command> [key=value ...]`."""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
from typing import Callable

from toolkit.config.schema import SEQEVAL_BEHAVIOURS, SEQEVAL_PUBLISHED, describe
from toolkit.demo import prepare_demo_data
from toolkit.errors import CheckpointError, ConfigError, DataError, nearest
from toolkit.evaluation.xtreme_format import score_files
from toolkit.grid.executors import get_executor
from toolkit.grid.plan import plan_from_options
from toolkit.grid.slurm import cancel_grid, grid_status, slurm_plan
from toolkit.grid.spec import load_grid, parse_grid_args
from toolkit.pipeline.checks import load_config
from toolkit.pipeline.intermediate import run_intermediate
from toolkit.pipeline.prepare import PHASES, manifest_text, prepare
from toolkit.pipeline.target import run_evaluate, run_target
from toolkit.reporting.report import to_markdown, write_report
from toolkit.runtime.distributed import leave_process_group
from toolkit.tasks.registry import all_tasks

USAGE = """\
usage: python -m toolkit <command> [config=FILE.yaml] [key=value ...]

commands:
  intermediate   phase 2: train the encoder on English intermediate task(s)
  target         phase 3: fine-tune on a target task in English, evaluate zero-shot
  evaluate       re-score a finished target run zero-shot
  score          score XTREME-format prediction files: score PRED_DIR GOLD_DIR [task ...] [benchmark=xtreme_r]
                 [seqeval=1.x] (udpos/panx as evaluate.py scores with seqeval 1.x; default 0.0.x, XTREME's numbers)
  grid           run an experiment grid: grid spec=configs/grids/X.yaml [executor=local|slurm] [plan=true]
                 [key=value ...]; on Slurm: grid status spec=..., grid cancel spec=...
  plan           list a grid's cells with status and estimated compute: plan spec=FILE.yaml
  prepare        fetch every dataset and model a grid or phase reads into the HF cache, for offline
                 nodes: prepare spec=FILE.yaml | prepare config=FILE.yaml [key=value ...]
  report         build the comparison report of an experiment: report runs/<experiment> [OUT_DIR]
  demo-data      lay out the demo's shipped data: demo-data OUT_DIR
  tasks          list every task with its source, size and head
  options        list every configuration key with its default and help

Launch any phase on GPUs with `deepspeed [launcher flags] run_scripts/<phase>.sh key=value ...`.
"""

def _print_tasks(args: list[str]) -> int:
    for name, spec in sorted(all_tasks().items()):
        size = f"{spec.train_size:,} train" if spec.train_size else ""
        langs = f"{len(spec.languages)} languages" if spec.languages else "English"
        print(f"{name:15s} {spec.family:20s} {spec.metric:16s} {langs:14s} {size}")
        print(textwrap.indent(f"{spec.description}\nHub: {spec.hub}\nLocal: {spec.local_layout}", " " * 16))
    return 0


def _print_options(args: list[str]) -> int:
    for key, default, help_text in describe():
        print(f"{key} = {default!r}")
        print(textwrap.indent(textwrap.fill(help_text, 88), "    "))
    return 0


_SCORE_USAGE = "score needs PRED_DIR GOLD_DIR [task ...] [benchmark=xtreme|xtreme_r] [seqeval=0.0.x|1.x]"


def _score(args: list[str]) -> int:
    options = dict(a.split("=", 1) for a in args if "=" in a)
    unknown = sorted(set(options) - {"benchmark", "seqeval"})
    if unknown:
        raise ConfigError(f"score: unknown option {unknown[0]!r}{nearest(unknown[0], ['benchmark', 'seqeval'])}; "
                          f"{_SCORE_USAGE}")
    paths = [a for a in args if "=" not in a]
    if len(paths) < 2:
        raise ConfigError(_SCORE_USAGE)
    seqeval = options.get("seqeval", SEQEVAL_PUBLISHED)
    if seqeval not in SEQEVAL_BEHAVIOURS:
        raise ConfigError(f"score: seqeval={seqeval!r} is not one of {', '.join(SEQEVAL_BEHAVIOURS)}")
    results = score_files(paths[0], paths[1], paths[2:] or None, benchmark=options.get("benchmark", "xtreme"),
                          seqeval=seqeval)
    print(json.dumps(results, indent=2))
    return 0


def _report(args: list[str]) -> int:
    if not args:
        raise ConfigError("report needs the experiment folder, e.g. runs/demo")
    print(to_markdown(write_report(args[0], args[1] if len(args) > 1 else None)))
    return 0


def _demo_data(args: list[str]) -> int:
    if len(args) != 1:
        raise ConfigError("demo-data needs one argument: the folder to create")
    print(prepare_demo_data(args[0]))
    return 0


# `grid <action> spec=...`: what a Slurm grid's submitter asks afterwards.
GRID_ACTIONS: dict[str, Callable] = {"status": grid_status, "cancel": cancel_grid}


def _grid(args: list[str], plan_only: bool = False) -> int:
    action = GRID_ACTIONS.get(args[0]) if args and not plan_only else None
    spec, options, overrides = parse_grid_args(args[1:] if action else args)
    executor = get_executor(options.get("executor", "local"))
    grid = load_grid(spec, overrides)  # every cell checked before any work
    if action:
        print(action(grid), flush=True)
        return 0
    if plan_only or options.get("plan", "false").lower() in ("1", "true", "yes"):
        print(plan_from_options(grid, options))
        if executor.name == "slurm":
            print(slurm_plan(grid))
        return 0
    return executor.run(grid)


def _prepare(args: list[str]) -> int:
    if any(a.startswith("spec=") for a in args):
        spec, _, overrides = parse_grid_args(args)
        runs = [(cell.cfg, cell.kind) for cell in load_grid(spec, overrides).cells]
    else:
        cfg = load_config(args)
        runs = [(cfg, phase) for phase in PHASES]
    items = prepare(runs)
    print(manifest_text(items), flush=True)
    return 1 if any(item.problem for item in items) else 0


def _phase(run):
    def command(args: list[str]) -> int:
        run(load_config(args))  # checked before the process group starts: typos fail in a second
        return 0
    return command


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "intermediate": _phase(run_intermediate),
    "target": _phase(run_target),
    "evaluate": _phase(run_evaluate),
    "grid": _grid,
    "plan": lambda args: _grid(args, plan_only=True),
    "prepare": _prepare,
    "score": _score,
    "report": _report,
    "demo-data": _demo_data,
    "tasks": _print_tasks,
    "options": _print_options,
}


def _configure_logging() -> None:
    """Progress and data notes from rank 0; only warnings from the other ranks."""
    level = logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("urllib3", "filelock", "datasets", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _configure_logging()
    # The DeepSpeed launcher appends --local_rank=N; the LOCAL_RANK variable carries the same.
    argv = [a for a in argv if not a.startswith("--local_rank")]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, args = argv[0], argv[1:]
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        _print_options([])
        return 0
    try:
        if command not in COMMANDS:
            raise ConfigError(f"unknown command {command!r}{nearest(command, COMMANDS)}\n{USAGE}")
        status = COMMANDS[command](args)
    except (ConfigError, DataError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        leave_process_group()
        return 2
    # An unexpected exception skips the teardown on purpose: its rank exits with the traceback,
    # and a peer still inside a collective is stopped by the launcher, not by a teardown here.
    leave_process_group()
    return status


if __name__ == "__main__":
    sys.exit(main())
