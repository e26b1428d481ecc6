"""The run folder layout (docs/contracts.md, "Run folder"): the only module that knows its names.

    runs/<experiment>/<approach>/<intermediate><@variant>/            intermediate run
    runs/<experiment>/<approach>/<intermediate><@variant>/<target>/seed<S>/   target run
        .../stages/<k>-<task>/                                        a target's training stage

`<intermediate>` is the stages' folder name (`mnli+qqp-then-squad_v2`, see `stages`) plus the
approach's suffix (translated: `-tr.<langs>`), or `none`; `@<label>.<label>` holds a grid
variant's axis values. A run folder holds config.yaml, ds_config.json, checkpoints/, tb/,
encoder/ or model/, predictions/, gold/ (test), dev/ (the same for the selection data),
results.json, and DONE, written last; a grid cell
that failed holds FAILED with its traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from toolkit.approaches.registry import get_approach
from toolkit.config.schema import RunConfig, to_yaml
from toolkit.engine.trainer import RunFiles
from toolkit.io import atomic_write_text
from toolkit.pipeline import stages
from toolkit.runtime.distributed import Dist

NONE = "none"  # the <intermediate> name of a run without an intermediate phase
DONE = "DONE"
FAILED = "FAILED"
RESULTS = "results.json"
CONFIG = "config.yaml"
VARIANT_MARK = "@"


def intermediate_name(cfg: RunConfig) -> str:
    """The intermediate's name in results.json and reports: the stages (`mnli+qqp-then-squad_v2`)
    plus the approach's suffix (translated: `-tr.<langs>`, e.g. squad-tr.es); 'none' for an
    approach without an intermediate phase."""
    approach = get_approach(cfg.approach)
    return stages.folder_name(cfg) + approach.suffix(cfg) if approach.has_intermediate else NONE


def _suffix_of(variant: dict[str, str]) -> str:
    return VARIANT_MARK + ".".join(variant.values()) if variant else ""


def variant_suffix(cfg: RunConfig) -> str:
    """'@<label>.<label>' of the grid axes' values (in axis order), or '' outside a variant."""
    return _suffix_of(cfg.variant)


def experiment_dir(cfg: RunConfig) -> Path:
    """runs/<experiment>: every run of one experiment, and its report."""
    return Path(cfg.output_root) / cfg.experiment


def row_name(cfg: RunConfig) -> str:
    """'<approach>/<intermediate><@variant>': one row of the report, one intermediate run."""
    return f"{cfg.approach}/{intermediate_name(cfg)}{variant_suffix(cfg)}"


def report_row_name(approach: str, intermediate: str, variant: dict[str, str]) -> str:
    """How the report names a row: the approach alone for one without an intermediate phase
    ('none'), else '<approach>/<intermediate>'; plus the variant suffix."""
    base = approach if not get_approach(approach).has_intermediate else f"{approach}/{intermediate}"
    return base + _suffix_of(variant)


def is_control(approach: str) -> bool:
    """Whether `approach` is the control every change is measured against (no intermediate phase)."""
    return not get_approach(approach).has_intermediate


def intermediate_dir(cfg: RunConfig) -> Path:
    """runs/<experiment>/<approach>/<intermediate name><variant suffix>."""
    return experiment_dir(cfg) / row_name(cfg)


def target_dir(cfg: RunConfig) -> Path:
    """The target run of `cfg`: <intermediate dir>/<target>/seed<S>."""
    return intermediate_dir(cfg) / cfg.target / f"seed{cfg.seed}"


def slurm_dir(experiment: Path) -> Path:
    """runs/<experiment>/slurm: the Slurm executor's job records (jobs.json) and per-job logs."""
    return Path(experiment) / "slurm"


def stage_dir(run_dir: Path, k: int, task: str) -> Path:
    """The k-th (1-based) training stage of a target run, on `task`."""
    return run_dir / "stages" / f"{k}-{task}"


def encoder_dir(run_dir: Path) -> Path:
    """The exported encoder of an intermediate run (a Hugging Face folder)."""
    return run_dir / "encoder"


def model_dir(run_dir: Path) -> Path:
    """The exported model (encoder and heads) of a target run or training stage."""
    return run_dir / "model"


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def train_files(run_dir: Path, export: Path) -> RunFiles:
    """What the training loop of a run writes: checkpoints/, ds_config.json, and `export`."""
    return RunFiles(checkpoints=checkpoints_dir(run_dir), ds_config=run_dir / "ds_config.json", export=export)


def board_dir(run_dir: Path) -> Path:
    """The run's own TensorBoard folder."""
    return run_dir / "tb"


def stage_record(run_dir: Path) -> Path:
    """An intermediate run's stage.json: the stages it trained and the encoder it started from."""
    return run_dir / "stage.json"


def has_started(run_dir: Path) -> bool:
    """Whether a run began (its config is saved, or it checkpointed) without being DONE yet."""
    return (run_dir / CONFIG).exists() or checkpoints_dir(run_dir).exists()


def dev_dir(run_dir: Path) -> Path:
    """A target run's selection-data results: dev/predictions/ and dev/gold/, laid out as the
    run's own predictions/ and gold/ (XTREME's submission layout)."""
    return run_dir / "dev"


def predictions_dir(run_dir: Path) -> Path:
    return run_dir / "predictions"


def gold_dir(run_dir: Path) -> Path:
    return run_dir / "gold"


def results_path(run_dir: Path) -> Path:
    return run_dir / RESULTS


def is_done(run_dir: Path) -> bool:
    return (run_dir / DONE).exists()


def failed_path(run_dir: Path) -> Path:
    return run_dir / FAILED


def mark_failed(run_dir: Path, error: str) -> Path:
    """Record a grid cell's failure (its traceback) in the run folder."""
    return atomic_write_text(failed_path(run_dir), error)


def clear_failed(run_dir: Path) -> None:
    failed_path(run_dir).unlink(missing_ok=True)


def cost_path(experiment: str | Path) -> Path:
    """<experiment>/inference_cost.json: the interleaved inference-cost comparison of its target runs."""
    return Path(experiment) / "inference_cost.json"


def result_files(experiment: str | Path) -> list[Path]:
    """Every finished target run's results.json under an experiment folder, in path order."""
    return sorted(p for p in Path(experiment).glob(f"*/*/*/seed*/{RESULTS}") if is_done(p.parent))


def config_files(experiment: str | Path) -> list[Path]:
    """The saved config.yaml of every run under an experiment folder that logged to TensorBoard."""
    return sorted(p for p in Path(experiment).glob(f"**/{CONFIG}") if board_dir(p.parent).is_dir())


# ---------------------------------------------------------------------------------------------
# A run's life: start (or skip), save its config, mark it done.
# ---------------------------------------------------------------------------------------------


def start(cfg: RunConfig, run_dir: Path, dist: Dist, phase: str) -> bool:
    """Print the merged config; False when the run is already DONE (skip it)."""
    if is_done(run_dir):
        if dist.is_main:
            print(f"{phase}: {run_dir} is DONE, skipping", flush=True)
        return False
    if dist.is_main:
        print(f"{phase} config:\n{to_yaml(cfg)}", flush=True)
    return True


def save_config(cfg: RunConfig, run_dir: Path, dist: Dist) -> None:
    """Create the run folder with its config.yaml: only once the inputs have loaded, so that bad
    data or options leave no half-made run behind."""
    if dist.is_main:
        atomic_write_text(run_dir / CONFIG, to_yaml(cfg))
    dist.barrier()


def mark_done(cfg: RunConfig, run_dir: Path, dist: Dist) -> None:
    """Mark the run finished; then, unless train.keep_checkpoints, free its checkpoints' disk.

    DONE comes first: a run killed while its checkpoints are deleted is still finished.
    """
    if dist.is_main:
        (run_dir / DONE).write_text("", encoding="utf-8")
        if not cfg.train.keep_checkpoints:
            shutil.rmtree(checkpoints_dir(run_dir), ignore_errors=True)
    dist.barrier()
