"""The comparison report of an experiment: approaches x target tasks, as in the paper's tables.

Rows are (approach, intermediate); columns the target tasks and their XTREME average; a cell
is the mean (and standard deviation over seeds) of `score` from the cells' results.json, and
its change against the `none` row. Beside it, the inference-cost table: per row and target,
the score next to the latency (p50/p95 ms at batch 1) and throughput (inputs/s, tokens/s at the
evaluation batch size) that results.json records under `efficiency`, averaged over the seeds
that measured it (runs from before the measurement existed have none and are left out).
Written as Markdown, CSV (report.csv, inference_cost.csv), JSON and a PNG heat map, and as
TensorBoard runs under <experiment>/tb_compare/ (xstilts/reporting/tensorboard.py).
"""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from xstilts.errors import ConfigError, DataError
from xstilts.evaluation.efficiency import NUMBERS as COST_NUMBERS  # averaged over seeds

TASK_ORDER = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba")


@dataclass
class Row:
    approach: str
    intermediate: str
    scores: dict[str, list[float]] = field(default_factory=dict)  # target -> score per seed
    seeds: dict[str, list[int]] = field(default_factory=dict)  # target -> the seeds of `scores`
    per_language: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # target -> lang -> scores
    efficiency: dict[str, list[dict]] = field(default_factory=dict)  # target -> results.json records

    @property
    def name(self) -> str:
        return self.approach if self.approach == "none" else f"{self.approach}/{self.intermediate}"


def collect(experiment_dir: str | Path) -> list[Row]:
    """Every finished target cell (results.json next to DONE) under an experiment folder."""
    from xstilts.evaluation.metrics import XTREME_TASK_METRICS, task_score
    from xstilts.tasks.base import get_task

    root = Path(experiment_dir)
    if not root.is_dir():
        raise ConfigError(f"{root} is not an experiment folder")
    rows: dict[tuple[str, str], Row] = {}
    for path in sorted(root.glob("*/*/*/seed*/results.json")):
        if not (path.parent / "DONE").exists():
            continue
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: not valid JSON ({err})") from err
        row = rows.setdefault((result["approach"], result["intermediate"]), Row(result["approach"], result["intermediate"]))
        task = result["task"]
        row.scores.setdefault(task, []).append(result["score"])
        row.seeds.setdefault(task, []).append(result["seed"])
        metric = XTREME_TASK_METRICS[get_task(task).xtreme_id]
        for lang, metrics in result["metrics"].items():
            row.per_language.setdefault(task, {}).setdefault(lang, []).append(task_score(metric, metrics))
        if "efficiency" in result:
            row.efficiency.setdefault(task, []).append(result["efficiency"])
    if not rows:
        raise ConfigError(f"{root} has no finished target runs (results.json with DONE)")
    return sorted(rows.values(), key=lambda r: (r.approach != "none", r.approach, r.intermediate))


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def build_table(rows: list[Row]) -> dict:
    """The report as data: columns, and per row the mean/std/delta of each target and the average."""
    targets = [t for t in TASK_ORDER if any(t in r.scores for r in rows)]
    targets += sorted({t for r in rows for t in r.scores} - set(targets))
    baseline = next((r for r in rows if r.approach == "none"), None)
    table = {"columns": targets + ["average"], "rows": []}
    for row in rows:
        cells = {}
        for t in targets:
            if t in row.scores:
                mean, std = _mean_std(row.scores[t])
                delta = None
                if baseline is not None and t in baseline.scores and row is not baseline:
                    delta = mean - _mean_std(baseline.scores[t])[0]
                cells[t] = {"mean": mean, "std": std, "seeds": len(row.scores[t]), "delta": delta}
        complete = all(t in cells for t in targets)
        if complete:
            mean = statistics.fmean(cells[t]["mean"] for t in targets)
            delta = None
            base_cells = next((r for r in table["rows"] if r["name"] == "none"), None)
            if base_cells is not None and row is not baseline and base_cells["cells"].get("average"):
                delta = mean - base_cells["cells"]["average"]["mean"]
            cells["average"] = {"mean": mean, "std": 0.0, "seeds": None, "delta": delta}
        table["rows"].append({"name": row.name, "approach": row.approach, "intermediate": row.intermediate,
                              "cells": cells})
    table["per_language"] = {
        t: {row.name: {lang: statistics.fmean(v) for lang, v in row.per_language.get(t, {}).items()} for row in rows}
        for t in targets
    }
    table["inference_cost"] = [
        _cost_entry(row, t, entry["cells"][t]["mean"])
        for row, entry in zip(rows, table["rows"]) for t in targets if row.efficiency.get(t)
    ]
    return table


# How the numbers were measured: name -> value of a record; the distinct values are listed.
COST_SETUP = {
    "device": lambda r: r["device_name"],
    "dtype": lambda r: r["dtype"],
    "torch_threads": lambda r: r["torch_threads"],
    "batch_size": lambda r: r["throughput"]["batch_size"],
    "examples": lambda r: r["sample"]["examples"],
}


def _cost_entry(row: Row, target: str, score: float) -> dict:
    records = row.efficiency[target]
    entry = {"name": row.name, "approach": row.approach, "intermediate": row.intermediate, "target": target,
             "score": score, "runs": len(records)}
    for name, (section, key) in COST_NUMBERS.items():
        entry[name] = statistics.fmean(r[section][key] for r in records)
    for name, value in COST_SETUP.items():
        entry[name] = sorted({value(r) for r in records}, key=str)
    return entry


def _setup(entry: dict) -> str:
    def one(name: str) -> str:
        return "/".join(str(v) for v in entry[name])

    return (f"{one('device')}, {one('dtype')}, {one('torch_threads')} threads, batch {one('batch_size')}, "
            f"n={one('examples')}")


def cost_markdown(table: dict) -> list[str]:
    """The inference-cost table as Markdown lines (none when no run recorded its cost)."""
    entries = table.get("inference_cost", [])
    if not entries:
        return []
    lines = ["## Inference cost", "",
             "| approach / intermediate | target | score | p50 ms | p95 ms | inputs/s | tokens/s | runs | setup |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e in entries:
        lines.append(f"| {e['name']} | {e['target']} | {e['score']:.1f} | {e['latency_p50_ms']:.2f} | "
                     f"{e['latency_p95_ms']:.2f} | {e['examples_per_s']:.1f} | {e['tokens_per_s']:.0f} | "
                     f"{e['runs']} | {_setup(e)} |")
    lines += ["", "Latency: one input at a time (p50/p95 over the timed sample); throughput: the same inputs "
              "in length-sorted batches. Means over the runs (seeds) that measured it; numbers from "
              "different setups are not comparable."]
    if len({_setup(e) for e in entries}) > 1:
        lines.append("**These rows were measured on different setups (see the last column).**")
    return lines


def cost_csv(table: dict) -> str:
    """The inference-cost table as CSV (one line per row and target; setup values ';'-joined)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["approach", "intermediate", "target", "score", "runs", *COST_NUMBERS, *COST_SETUP])
    for e in table.get("inference_cost", []):
        writer.writerow([e["approach"], e["intermediate"], e["target"], f"{e['score']:.4f}", e["runs"],
                         *(f"{e[name]:.4f}" for name in COST_NUMBERS),
                         *(";".join(str(v) for v in e[name]) for name in COST_SETUP)])
    return buf.getvalue()


def _cell(c: dict | None) -> str:
    if c is None:
        return "–"
    text = f"{c['mean']:.1f}"
    if c["seeds"] and c["seeds"] > 1:
        text += f" ± {c['std']:.1f}"
    if c["delta"] is not None:
        text += f" ({c['delta']:+.1f})"
    return text


def to_markdown(table: dict) -> str:
    cols = table["columns"]
    lines = ["| approach / intermediate | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for row in table["rows"]:
        lines.append(f"| {row['name']} | " + " | ".join(_cell(row["cells"].get(c)) for c in cols) + " |")
    lines.append("")
    lines.append("Cells: mean score over seeds (± standard deviation when several), and the change "
                 "against `none` in parentheses. Scores are XTREME's: accuracy or F1, QA (F1+EM)/2.")
    cost = cost_markdown(table)
    if cost:
        lines += ["", *cost]
    for task, by_row in table["per_language"].items():
        langs = sorted({lang for scores in by_row.values() for lang in scores})
        lines += ["", f"### {task}", "", "| approach / intermediate | " + " | ".join(langs) + " |",
                  "|---|" + "---|" * len(langs)]
        for name, scores in by_row.items():
            lines.append(f"| {name} | " + " | ".join(f"{scores[lang]:.1f}" if lang in scores else "–" for lang in langs) + " |")
    return "\n".join(lines) + "\n"


def to_csv(table: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["approach", "intermediate", "target", "mean", "std", "seeds", "delta_vs_none"])
    for row in table["rows"]:
        for col, c in row["cells"].items():
            writer.writerow([row["approach"], row["intermediate"], col, f"{c['mean']:.4f}", f"{c['std']:.4f}",
                             c["seeds"] or "", "" if c["delta"] is None else f"{c['delta']:.4f}"])
    return buf.getvalue()


def heatmap(table: dict, path: Path) -> bool:
    """PNG of the changes against `none` (rows x targets); False when there is no baseline."""
    rows = [r for r in table["rows"] if r["approach"] != "none"]
    cols = table["columns"]
    if not rows or not any(c.get("delta") is not None for r in rows for c in r["cells"].values()):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    values = np.array([[r["cells"].get(c, {}).get("delta") if r["cells"].get(c) else np.nan for c in cols]
                       for r in rows], dtype=float)
    limit = max(1e-6, float(np.nanmax(np.abs(values))))
    fig, ax = plt.subplots(figsize=(1.2 * len(cols) + 3, 0.6 * len(rows) + 1.5))
    image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [r["name"] for r in rows])
    for i in range(len(rows)):
        for j in range(len(cols)):
            if not np.isnan(values[i, j]):
                ax.text(j, i, f"{values[i, j]:+.1f}", ha="center", va="center", fontsize=9)
    fig.colorbar(image, ax=ax, label="change vs none (points)")
    ax.set_title("Score change against no intermediate training")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def write_report(experiment_dir: str | Path, out_dir: str | Path | None = None) -> dict:
    """Build the report of an experiment folder into `out_dir` (default: <experiment>/report)."""
    rows = collect(experiment_dir)
    table = build_table(rows)
    out = Path(out_dir) if out_dir else Path(experiment_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("report.md", to_markdown(table)), ("report.csv", to_csv(table)),
                       ("inference_cost.csv", cost_csv(table)), ("report.json", json.dumps(table, indent=2) + "\n")):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
    heatmap(table, out / "heatmap.png")
    from xstilts.reporting.tensorboard import write_comparison

    write_comparison(experiment_dir, rows, table, to_markdown(table))
    return table
