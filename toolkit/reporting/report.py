"""The comparison report of an experiment: approaches x target tasks, as in the paper's tables.

Rows are (approach, intermediate, grid variant); columns the target tasks, in the benchmark's
task order, and their average (labelled after the benchmark the cells were scored under, e.g.
"XTREME-R average"); a cell is the mean (and standard deviation over seeds) of `score` from the
cells' results.json, and its change against the `none` row of the same variant. Then the
research axes' comparisons (per axis, sequential vs multi-task, domain corpora) and the
inference-cost table: per target and model, the score next to the latency (p50 ms at batch 1)
and throughput (inputs/s at the evaluation batch size) with their 95% confidence intervals and
the verdict against the `none` model, from the interleaved comparison a grid ends with
(<experiment>/inference_cost.json, toolkit/pipeline/cost.py; none without it). Written as Markdown, CSV (report.csv, inference_cost.csv), JSON and a PNG heat map, and as
TensorBoard runs under <experiment>/tb_compare/ (toolkit/reporting/tensorboard.py).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.approaches.translated import TRANSLATED_MARK
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation.metrics import task_score
from toolkit.io import atomic_path, atomic_write_text
from toolkit.pipeline.run_dirs import cost_path, is_control, report_row_name, result_files
from toolkit.pipeline.stages import FOLDER_CHAIN, JOIN
from toolkit.reporting.tensorboard import write_comparison
from toolkit.tasks.benchmarks import get_benchmark
from toolkit.tasks.registry import get_task


@dataclass
class Row:
    approach: str
    intermediate: str
    variant: dict[str, str] = field(default_factory=dict)  # grid axis -> value label
    scores: dict[str, list[float]] = field(default_factory=dict)  # target -> score per seed
    seeds: dict[str, list[int]] = field(default_factory=dict)  # target -> the seeds of `scores`
    per_language: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # target -> lang -> scores
    params: int | None = None  # encoder parameters (results.json `params`, heads left out)
    corpora: list[dict] = field(default_factory=list)  # domain corpora of the intermediate mix
    benchmarks: set[str] = field(default_factory=set)  # the benchmarks its results were scored under

    @property
    def name(self) -> str:
        return report_row_name(self.approach, self.intermediate, self.variant)


def benchmark_of(rows: list[Row]) -> str:
    """The one benchmark every row's cells were scored under."""
    names = {name for row in rows for name in row.benchmarks}
    if len(names) > 1:
        raise ConfigError(
            f"the experiment mixes results of benchmarks {', '.join(sorted(names))}: their scores average "
            "over different languages, so report each benchmark's runs from an experiment of its own"
        )
    return names.pop() if names else "xtreme"


def collect(experiment_dir: str | Path) -> list[Row]:
    """Every finished target cell (results.json next to DONE) under an experiment folder.

    A results.json without `benchmark` (written before the field existed) counts as XTREME.
    """
    root = Path(experiment_dir)
    if not root.is_dir():
        raise ConfigError(f"{root} is not an experiment folder")
    rows: dict[tuple[str, str], Row] = {}
    for path in result_files(root):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: not valid JSON ({err})") from err
        variant = dict(result.get("variant") or {})
        key = (result["approach"], result["intermediate"], tuple(variant.items()))
        row = rows.setdefault(key, Row(result["approach"], result["intermediate"], variant))
        if result.get("params"):
            params = result["params"]
            row.params = int(params.get("total", 0)) - int(params.get("heads", 0))
        row.corpora = result.get("corpora") or row.corpora
        task = result["task"]
        row.benchmarks.add(result.get("benchmark", "xtreme"))
        row.scores.setdefault(task, []).append(result["score"])
        row.seeds.setdefault(task, []).append(result["seed"])
        metric = get_task(task).metric
        for lang, metrics in result["metrics"].items():
            row.per_language.setdefault(task, {}).setdefault(lang, []).append(task_score(metric, metrics))
    if not rows:
        raise ConfigError(f"{root} has no finished target runs (results.json with DONE)")
    axes = list(dict.fromkeys(axis for r in rows.values() for axis in r.variant))
    return sorted(rows.values(), key=lambda r: (
        tuple(r.variant.get(a, "") for a in axes), not is_control(r.approach), r.approach, r.intermediate))


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def build_table(rows: list[Row]) -> dict:
    """The report as data: columns, and per row the mean/std/delta of each target and the average.

    `benchmark` describes the average: its label, the targets it covers, and the benchmark's
    tasks it leaves out (not run in this experiment, or not run by this toolkit).
    """
    bench = get_benchmark(benchmark_of(rows))
    present = {t for r in rows for t in r.scores}
    order = [t for task_id in bench.languages for t in sorted(present) if get_task(t).xtreme_id == task_id]
    targets = order + sorted(present - set(order))
    table = {
        "columns": targets + ["average"],
        "benchmark": {
            "name": bench.name, "title": bench.title, "average_label": bench.average_label,
            "averaged": targets,
            "missing": [t for t in bench.languages if t not in {get_task(x).xtreme_id for x in targets}],
        },
        "rows": [],
    }
    for row in rows:
        # The baseline of a row is the `none` row of the same grid variant (same encoder, batch...).
        baseline = next((r for r in rows if is_control(r.approach) and r.variant == row.variant), None)
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
            base_cells = next((r for r in table["rows"] if baseline is not None and r["name"] == baseline.name), None)
            if base_cells is not None and row is not baseline and base_cells["cells"].get("average"):
                delta = mean - base_cells["cells"]["average"]["mean"]
            cells["average"] = {"mean": mean, "std": 0.0, "seeds": None, "delta": delta}
        table["rows"].append({"name": row.name, "approach": row.approach, "intermediate": row.intermediate,
                              "variant": row.variant, "params": row.params, "corpora": row.corpora,
                              "cells": cells})
    table["comparisons"] = comparisons(table)
    table["per_language"] = {
        t: {row.name: {lang: statistics.fmean(v) for lang, v in row.per_language.get(t, {}).items()} for row in rows}
        for t in targets
    }
    table["inference_cost"] = []  # measured across runs: read_costs
    return table


# ---------------------------------------------------------------------------------------------
# The research axes' comparisons: the questions the grid's extra dimensions exist for.
# ---------------------------------------------------------------------------------------------

def _mean(row: dict, column: str) -> float | None:
    cell = row["cells"].get(column)
    return None if cell is None else cell["mean"]


def _delta(row: dict, column: str) -> float | None:
    cell = row["cells"].get(column)
    return None if cell is None else cell["delta"]


def _entries(intermediate: str) -> tuple[str, list[list[str]]]:
    """'mnli-then-squad-tr.es' -> ('-tr.es', [['mnli'], ['squad']]): approach suffix, stages."""
    suffix = ""
    if TRANSLATED_MARK in intermediate:
        intermediate, _, langs = intermediate.partition(TRANSLATED_MARK)
        suffix = TRANSLATED_MARK + langs
    return suffix, [stage.split(JOIN) for stage in intermediate.split(FOLDER_CHAIN)]


def axis_tables(table: dict) -> list[dict]:
    """Per grid axis with several values: each row's XTREME average (and change against `none`
    of the same variant) side by side across the axis's values, the other axes held fixed.
    Encoder parameters head the columns when the axis changes them (gain against size)."""
    rows = table["rows"]
    axes = list(dict.fromkeys(a for r in rows for a in r["variant"]))
    out = []
    for axis in axes:
        labels = list(dict.fromkeys(r["variant"][axis] for r in rows if axis in r["variant"]))
        if len(labels) < 2:
            continue
        params = {}
        for label in labels:
            sizes = {r["params"] for r in rows if r["variant"].get(axis) == label and r["params"]}
            params[label] = sizes.pop() if len(sizes) == 1 else None
        groups: dict[str, dict[str, dict]] = {}
        for r in rows:
            others = ".".join(v for a, v in r["variant"].items() if a != axis)
            base = report_row_name(r["approach"], r["intermediate"], {})
            name = base + (f"@{others}" if others else "")
            groups.setdefault(name, {})[r["variant"].get(axis)] = {
                "average": _mean(r, "average"), "delta": _delta(r, "average")}
        out.append({"axis": axis, "values": labels, "params": params, "rows": groups})
    return out


def sequential_vs_multitask(table: dict) -> list[dict]:
    """Each chained intermediate (a>b) beside the multi-task run of the same tasks (a+b), same
    approach and variant: per target, chain minus multi-task."""
    rows = table["rows"]
    out = []
    for chain in rows:
        suffix, stages = _entries(chain["intermediate"])
        if len(stages) < 2:
            continue
        wanted = sorted(n for stage in stages for n in stage)
        for multi in rows:
            m_suffix, m_stages = _entries(multi["intermediate"])
            if (multi["approach"], multi["variant"], m_suffix) != (chain["approach"], chain["variant"], suffix) \
                    or len(m_stages) != 1 or sorted(m_stages[0]) != wanted:
                continue
            diff = {c: _mean(chain, c) - _mean(multi, c) for c in table["columns"]
                    if _mean(chain, c) is not None and _mean(multi, c) is not None}
            out.append({"sequential": chain["name"], "multitask": multi["name"], "difference": diff,
                        "sequential_scores": {c: _mean(chain, c) for c in diff},
                        "multitask_scores": {c: _mean(multi, c) for c in diff}})
    return out


def domain_effects(table: dict) -> list[dict]:
    """Each row trained with domain corpora beside the same row without them (and `none`)."""
    rows = table["rows"]
    out = []
    for row in rows:
        names = {c["name"] for c in row.get("corpora") or []}
        if not names:
            continue
        suffix, stages = _entries(row["intermediate"])
        kept = ["+".join(n for n in stage if n not in names) for stage in stages]
        without = FOLDER_CHAIN.join(k for k in kept if k) + suffix
        other = next((r for r in rows if r["approach"] == row["approach"] and r["variant"] == row["variant"]
                      and r["intermediate"] == without), None)
        out.append({
            "row": row["name"], "without": other["name"] if other else None,
            "domains": sorted({c["domain"] for c in row["corpora"]}),
            "average": _mean(row, "average"), "delta_vs_none": _delta(row, "average"),
            "delta_vs_without": (_mean(row, "average") - _mean(other, "average"))
            if other and _mean(row, "average") is not None and _mean(other, "average") is not None else None,
        })
    return out


def comparisons(table: dict) -> dict:
    """The research-axis comparisons of a report table (empty lists when a grid has no such axis)."""
    return {"axes": axis_tables(table), "sequential_vs_multitask": sequential_vs_multitask(table),
            "domain": domain_effects(table)}


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _params(n: int | None) -> str:
    if not n:
        return ""
    return f" ({n / 1e9:.2f}B)" if n >= 1e9 else f" ({n / 1e6:.0f}M)"


def comparisons_markdown(comp: dict, columns: list[str]) -> list[str]:
    lines: list[str] = []
    for axis in comp["axes"]:
        labels = axis["values"]
        lines += ["", f"### By {axis['axis']}", "",
                  "| row | " + " | ".join(f"{v}{_params(axis['params'].get(v))}" for v in labels) + " |",
                  "|---|" + "---|" * len(labels)]
        for name, by_label in axis["rows"].items():
            cells = []
            for v in labels:
                c = by_label.get(v)
                cells.append("–" if c is None or c["average"] is None else
                             _num(c["average"]) + (f" ({_num(c['delta'], True)})" if c["delta"] is not None else ""))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", f"Cells: the average over the targets for each value of `{axis['axis']}` (other axes fixed), "
                  "and in parentheses the change against `none` of the same variant."]
    if comp["sequential_vs_multitask"]:
        lines += ["", "### Sequential vs multi-task intermediate training", "",
                  "| sequential | multi-task | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
        for pair in comp["sequential_vs_multitask"]:
            lines.append(f"| {pair['sequential']} | {pair['multitask']} | "
                         + " | ".join(_num(pair["difference"].get(c), True) for c in columns) + " |")
        lines += ["", "Cells: sequential minus multi-task score (positive: chaining the stages did better)."]
    if comp["domain"]:
        lines += ["", "### Domain corpora", "", "| row | domains | average | vs none | vs without the corpora |",
                  "|---|---|---|---|---|"]
        for d in comp["domain"]:
            lines.append(f"| {d['row']} | {', '.join(d['domains'])} | {_num(d['average'])} | "
                         f"{_num(d['delta_vs_none'], True)} | {_num(d['delta_vs_without'], True)}"
                         + (f" (vs {d['without']})" if d["without"] else "") + " |")
    return lines


def read_costs(experiment_dir: str | Path) -> list[dict]:
    """The inference-cost table's entries (one per target and model) from the experiment's
    interleaved comparison (toolkit/pipeline/cost.py); none when the grid did not measure it."""
    path = cost_path(experiment_dir)
    if not path.is_file():
        return []
    entries = []
    for target, task in json.loads(path.read_text(encoding="utf-8")).items():
        setup = (f"{task['device_name']}, {task['dtype']}, {task['torch_threads']} threads, batch "
                 f"{task['batch_size']}, n={task['examples']} x {task['rounds']} rounds")
        for name, m in task["models"].items():
            lat, thr = m["latency_p50_ms"], m["examples_per_s"]
            entries.append({
                "name": name, "target": target, "reference": task["reference"], "score": m["score"],
                "latency_p50_ms": lat["mean"], "latency_p50_ci95": lat["ci95"],
                "latency_ratio": lat["ratio_to_reference"], "latency_ratio_ci95": lat["ratio_ci95"],
                "latency_verdict": lat["verdict"],
                "examples_per_s": thr["mean"], "examples_per_s_ci95": thr["ci95"],
                "throughput_ratio": thr["ratio_to_reference"], "throughput_ratio_ci95": thr["ratio_ci95"],
                "throughput_verdict": thr["verdict"], "setup": setup,
            })
    return entries


def _versus(ratio: float, ci: list[float], verdict: str) -> str:
    if verdict == "reference":
        return "reference"
    return f"{ratio:.2f}x [{ci[0]:.2f}, {ci[1]:.2f}]: {verdict}"


def cost_markdown(table: dict) -> list[str]:
    """The inference-cost table as Markdown lines (none when the grid did not compare costs)."""
    entries = table.get("inference_cost", [])
    if not entries:
        return []
    lines = ["## Inference cost", "",
             "| target | model | score | p50 ms [95% CI] | p50 vs reference | inputs/s [95% CI] | inputs/s vs reference |",
             "|---|---|---|---|---|---|---|"]
    for e in entries:
        low, high = e["latency_p50_ci95"]
        tlow, thigh = e["examples_per_s_ci95"]
        lines.append(f"| {e['target']} | {e['name']} | {e['score']:.1f} | {e['latency_p50_ms']:.2f} "
                     f"[{low:.2f}, {high:.2f}] | {_versus(e['latency_ratio'], e['latency_ratio_ci95'], e['latency_verdict'])} | "
                     f"{e['examples_per_s']:.1f} [{tlow:.1f}, {thigh:.1f}] | "
                     f"{_versus(e['throughput_ratio'], e['throughput_ratio_ci95'], e['throughput_verdict'])} |")
    setups = sorted({e["setup"] for e in entries})
    lines += ["", "Every model of a target was timed on the same inputs, in interleaved rounds (each round "
              "times each model once): latency one input at a time (the round's p50), throughput the same "
              "inputs in length-sorted batches; means over rounds with Student-t 95% intervals. \"vs "
              "reference\" is the mean per-round ratio to the target's `none` model: \"no difference\" when "
              "its interval holds 1. Measured on: " + "; ".join(setups) + "."]
    return lines


def cost_csv(table: dict) -> str:
    """The inference-cost table as CSV (one line per target and model; intervals as low;high)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    columns = ["target", "name", "reference", "score", "latency_p50_ms", "latency_p50_ci95", "latency_ratio",
               "latency_ratio_ci95", "latency_verdict", "examples_per_s", "examples_per_s_ci95",
               "throughput_ratio", "throughput_ratio_ci95", "throughput_verdict", "setup"]
    writer.writerow(columns)
    for e in table.get("inference_cost", []):
        writer.writerow([";".join(f"{v:.4f}" for v in e[c]) if isinstance(e[c], list)
                         else f"{e[c]:.4f}" if isinstance(e[c], float) else e[c] for c in columns])
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
    bench = table["benchmark"]
    header = [bench["average_label"] if c == "average" else c for c in cols]
    lines = ["| approach / intermediate | " + " | ".join(header) + " |", "|---|" + "---|" * len(cols)]
    for row in table["rows"]:
        lines.append(f"| {row['name']} | " + " | ".join(_cell(row["cells"].get(c)) for c in cols) + " |")
    lines.append("")
    lines.append("Cells: mean score over seeds (± standard deviation when several), and the change "
                 f"against `none` in parentheses. Scores are {bench['title']}'s (benchmark={bench['name']}): "
                 "accuracy or F1, QA (F1+EM)/2, each averaged over the benchmark's languages for the task.")
    coverage = f"{bench['average_label']}: the mean over {', '.join(bench['averaged'])}"
    if bench["missing"]:
        coverage += f"; {bench['title']}'s {', '.join(bench['missing'])} not included"
    lines.append(coverage + " (a row without every column has none).")
    lines += comparisons_markdown(table.get("comparisons") or comparisons(table), cols)
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
    writer.writerow(["approach", "intermediate", "variant", "params", "target", "mean", "std", "seeds",
                     "delta_vs_none"])
    for row in table["rows"]:
        variant = ";".join(f"{a}={v}" for a, v in row["variant"].items())
        for col, c in row["cells"].items():
            writer.writerow([row["approach"], row["intermediate"], variant, row["params"] or "", col,
                             f"{c['mean']:.4f}", f"{c['std']:.4f}", c["seeds"] or "",
                             "" if c["delta"] is None else f"{c['delta']:.4f}"])
    return buf.getvalue()


def heatmap(table: dict, path: Path) -> bool:
    """PNG of the changes against `none` (rows x targets); False when there is no baseline."""
    rows = [r for r in table["rows"] if not is_control(r["approach"])]
    cols = table["columns"]
    if not rows or not any(c.get("delta") is not None for r in rows for c in r["cells"].values()):
        return False
    import matplotlib  # heavy: only when there is a heat map to draw

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    values = np.array([[r["cells"].get(c, {}).get("delta") if r["cells"].get(c) else np.nan for c in cols]
                       for r in rows], dtype=float)
    limit = max(1e-6, float(np.nanmax(np.abs(values))))
    fig, ax = plt.subplots(figsize=(1.2 * len(cols) + 3, 0.6 * len(rows) + 1.5))
    image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    labels = [table["benchmark"]["average_label"] if c == "average" else c for c in cols]
    ax.set_xticks(range(len(cols)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [r["name"] for r in rows])
    for i in range(len(rows)):
        for j in range(len(cols)):
            if not np.isnan(values[i, j]):
                ax.text(j, i, f"{values[i, j]:+.1f}", ha="center", va="center", fontsize=9)
    fig.colorbar(image, ax=ax, label="change vs none (points)")
    ax.set_title("Score change against no intermediate training")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return True


def write_report(experiment_dir: str | Path, out_dir: str | Path | None = None) -> dict:
    """Build the report of an experiment folder into `out_dir` (default: <experiment>/report)."""
    rows = collect(experiment_dir)
    table = build_table(rows)
    table["inference_cost"] = read_costs(experiment_dir)
    out = Path(out_dir) if out_dir else Path(experiment_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("report.md", to_markdown(table)), ("report.csv", to_csv(table)),
                       ("inference_cost.csv", cost_csv(table)), ("report.json", json.dumps(table, indent=2) + "\n")):
        atomic_write_text(out / name, text)
    heatmap(table, out / "heatmap.png")
    write_comparison(experiment_dir, rows, table, to_markdown(table))
    return table
