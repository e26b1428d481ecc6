"""The TensorBoard comparison of an experiment's approaches that the report command writes
(each run's own logging is `toolkit.engine.board`).

`tensorboard --logdir runs/<experiment>` then shows:
- every phase run as `<approach>/<intermediate>/tb` and `<approach>/<intermediate>/<target>/seed<S>/tb`,
  so one tag (train/loss, eval/<task>/score) overlays all approaches in one chart;
- `tb_compare/<approach>-<intermediate>`: one run per report row, `compare/<task>/score` per seed
  (step = seed) and `compare/<task>/mean|lower|upper` (mean and mean -/+ std over seeds);
- `tb_compare/report`: the custom-scalars layout (one category per target task, its scores and
  validation curves grouped by approach), the hparams experiment (one row per phase run with its
  metrics) and the report table as text.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from toolkit.engine.board import SCORE_METRICS, clean_hparams, flatten_config
from toolkit.pipeline.run_dirs import config_files

def compare_layout(tasks: list[str]) -> dict:
    """The custom-scalars layout: per target task, its scores grouped by approach."""
    layout = {}
    for task in tasks:
        charts = {f"{task}: mean and standard deviation over seeds": [
            "Margin", [f"compare/{task}/mean", f"compare/{task}/lower", f"compare/{task}/upper"]]}
        if task != "average":  # the XTREME average has no per-seed runs or training curves
            charts[f"{task}: score per seed, one line per approach/intermediate"] = [
                "Multiline", [f"^compare/{task}/score$"]]
            charts[f"{task}: English validation score while training, every run"] = [
                "Multiline", [f"^eval/{task}/score$"]]
        layout[task] = charts
    return layout


def write_comparison(experiment_dir: str | Path, rows, table: dict, markdown: str) -> Path:
    """Write `<experiment>/tb_compare/` from the report's rows (see the module docstring).

    Rewritten from scratch each time, so rerunning the report never duplicates points.
    """
    from torch.utils.tensorboard import SummaryWriter  # heavy: `report` alone needs no torch
    from torch.utils.tensorboard.summary import hparams as make_hparams

    root = Path(experiment_dir)
    out = root / "tb_compare"
    shutil.rmtree(out, ignore_errors=True)
    for row in rows:
        writer = SummaryWriter(str(out / row.name.replace("/", "-")))
        for task, scores in row.scores.items():
            for seed, score in zip(row.seeds[task], scores):
                writer.add_scalar(f"compare/{task}/score", score, seed)
        for task, cell in next(r for r in table["rows"] if r["name"] == row.name)["cells"].items():
            std = cell["std"] or 0.0  # one seed: no spread
            writer.add_scalar(f"compare/{task}/mean", cell["mean"], 0)
            writer.add_scalar(f"compare/{task}/lower", cell["mean"] - std, 0)
            writer.add_scalar(f"compare/{task}/upper", cell["mean"] + std, 0)
        writer.close()

    writer = SummaryWriter(str(out / "report"))
    writer.add_custom_scalars(compare_layout(table["columns"]))
    writer.add_text("report", markdown)
    # The hparams experiment: every key any phase run recorded, and both score metrics.
    keys: dict[str, Any] = {}
    for config in config_files(root):
        values = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        for k, v in clean_hparams(flatten_config(values)).items():
            keys.setdefault(k, v)
    if keys:
        experiment, _, _ = make_hparams(keys, {m: 0.0 for m in SCORE_METRICS})
        writer.file_writer.add_summary(experiment)
    writer.close()
    return out
