"""One entry point, a subcommand per phase: `python -m toolkit <command> [key=value ...]`."""

from __future__ import annotations

import sys
import textwrap

from toolkit.errors import CheckpointError, ConfigError, DataError

USAGE = """\
usage: python -m toolkit <command> [config=FILE.yaml] [key=value ...]

commands:
  intermediate   phase 2: train the encoder on English intermediate task(s)
  target         phase 3: fine-tune on a target task in English, evaluate zero-shot
  evaluate       re-score a finished target run zero-shot
  score          score XTREME-format prediction files: score PRED_DIR GOLD_DIR [task ...] [benchmark=xtreme_r]
  grid           run an experiment grid: grid spec=configs/grids/X.yaml [plan=true] [key=value ...]
  plan           list a grid's cells with status and estimated compute: plan spec=FILE.yaml
  report         build the comparison report of an experiment: report runs/<experiment> [OUT_DIR]
  demo-data      lay out the demo's shipped data: demo-data OUT_DIR
  tasks          list every task with its source, size and head
  options        list every configuration key with its default and help

Launch any phase on GPUs with `deepspeed [launcher flags] run_scripts/<phase>.sh key=value ...`.
"""

COMMANDS = ("intermediate", "target", "evaluate", "grid", "plan", "score", "report", "demo-data", "tasks", "options")


def _print_tasks() -> None:
    from toolkit.tasks import all_tasks

    for name, spec in sorted(all_tasks().items()):
        size = f"{spec.train_size:,} train" if spec.train_size else ""
        langs = f"{len(spec.languages)} languages" if spec.languages else "English"
        print(f"{name:15s} {spec.family:20s} {spec.metric:16s} {langs:14s} {size}")
        print(textwrap.indent(f"{spec.description}\nHub: {spec.hub}\nLocal: {spec.local_layout}", " " * 16))


def _print_options() -> None:
    from toolkit.config import describe

    for key, default, help_text in describe():
        print(f"{key} = {default!r}")
        print(textwrap.indent(textwrap.fill(help_text, 88), "    "))


def _configure_logging() -> None:
    """Progress and data notes from rank 0; only warnings from the other ranks."""
    import logging
    import os

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
    status = 0
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        _print_options()
        return 0
    try:
        if command == "tasks":
            _print_tasks()
        elif command == "options":
            _print_options()
        elif command == "score":
            from toolkit.evaluation.xtreme_format import score_files

            options = [a for a in args if a.startswith("benchmark=")]
            paths = [a for a in args if a not in options]
            if len(paths) < 2:
                raise ConfigError("score needs PRED_DIR GOLD_DIR [task ...] [benchmark=xtreme|xtreme_r]")
            benchmark = options[-1].split("=", 1)[1] if options else "xtreme"
            import json

            print(json.dumps(score_files(paths[0], paths[1], paths[2:] or None, benchmark=benchmark), indent=2))
        elif command == "report":
            from toolkit.reporting.report import to_markdown, write_report

            if not args:
                raise ConfigError("report needs the experiment folder, e.g. runs/demo")
            print(to_markdown(write_report(args[0], args[1] if len(args) > 1 else None)))
        elif command == "demo-data":
            from toolkit.demo import prepare_demo_data

            if len(args) != 1:
                raise ConfigError("demo-data needs one argument: the folder to create")
            print(prepare_demo_data(args[0]))
        elif command in ("grid", "plan"):
            from toolkit import grid

            spec, options, overrides = grid.parse_grid_args(args)
            cells = grid.load_grid(spec, overrides)  # every cell checked before any work
            if command == "plan" or options.get("plan", "false").lower() in ("1", "true", "yes"):
                print(grid.plan_from_options(cells, options))
                return 0
            outcomes = grid.run_grid(cells)
            status = 1 if any(o.result == "failed" for o in outcomes) else 0
        elif command in ("intermediate", "target", "evaluate"):
            from toolkit.config import load_config

            cfg = load_config(args)  # before importing phases (DeepSpeed): typos fail in a second
            from toolkit import phases

            getattr(phases, f"run_{command}")(cfg)
        else:
            from toolkit.tasks.base import nearest

            raise ConfigError(f"unknown command {command!r}{nearest(command, COMMANDS)}\n{USAGE}")
    except (ConfigError, DataError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        _leave_process_group()
        return 2
    _leave_process_group()
    return status


def _leave_process_group() -> None:
    """Destroy the process group of a phase or grid command before the interpreter exits.

    An unexpected exception skips this on purpose: its rank exits with the traceback, and a
    peer still inside a collective is stopped by the launcher rather than by a teardown here.
    """
    if "torch" in sys.modules:  # `tasks`, `report` and the like never start one
        from toolkit.engine.distributed import leave_process_group

        leave_process_group()


if __name__ == "__main__":
    sys.exit(main())
