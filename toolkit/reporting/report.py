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
from pathlib import Path

from toolkit.approaches.translated import TRANSLATED_MARK
from toolkit.evaluation.significance import RESAMPLES
from toolkit.io import atomic_path, atomic_write_text
from toolkit.pipeline.run_dirs import cost_path, is_control, report_row_name
from toolkit.pipeline.stages import FOLDER_CHAIN, JOIN
from toolkit.reporting.cells import TEST, Row, benchmark_of, collect, provenance_notes, seed_stats
from toolkit.reporting.protocol import (
    average_over, dev_table, load_published, ordered_targets, published_comparison, selected_table,
)
from toolkit.reporting.tensorboard import write_comparison
from toolkit.tasks.benchmarks import get_benchmark
from toolkit.tasks.registry import get_task


def build_table(rows: list[Row], resamples: int = RESAMPLES) -> dict:
    """The report as data: columns, and per row the mean/std/delta of each target and the average
    (test, every row); the paper's Table 1 (`dev`) and Table 2 (`test`, chosen on dev); the
    published numbers beside ours; the research axes' comparisons. write_report adds where the
    cells' provenance differs and the inference cost (the grid's inference_cost.json).

    `benchmark` describes the average: its label, the targets it covers, and the benchmark's
    tasks it leaves out (not run in this experiment, or not run by this toolkit).
    """
    bench = get_benchmark(benchmark_of(rows))
    targets = [t for t in ordered_targets(rows, bench.name) if any(t in r.scores for r in rows)]
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
                mean, std, n = seed_stats(row.scores[t])
                delta = None
                if baseline is not None and t in baseline.scores and row is not baseline:
                    delta = mean - statistics.fmean(baseline.scores[t])
                cells[t] = {"mean": mean, "std": std, "seeds": n, "delta": delta}
        complete = all(t in cells for t in targets)
        if complete:
            avg = average_over({t: row.seed_scores(TEST)[t] for t in targets})
            delta = None
            base_cells = next((r for r in table["rows"] if baseline is not None and r["name"] == baseline.name), None)
            if base_cells is not None and row is not baseline and base_cells["cells"].get("average"):
                delta = avg["mean"] - base_cells["cells"]["average"]["mean"]
            cells["average"] = {**avg, "delta": delta}
        table["rows"].append({"name": row.name, "approach": row.approach, "intermediate": row.intermediate,
                              "variant": row.variant, "params": row.params, "corpora": row.corpora,
                              "cells": cells})
    # A partial grid: which (row, target) cells have no finished run yet.
    table["missing"] = {row.name: [t for t in targets if t not in row.scores and t not in row.unscored]
                        for row in rows if any(t not in row.scores and t not in row.unscored for t in targets)}
    table["dev"] = dev_table(rows, bench.name, resamples)
    table["test"] = selected_table(rows, bench.name, resamples)
    table["published"] = published_comparison(table["dev"], table["test"], load_published())
    table["comparisons"] = comparisons(table)
    table["per_language"] = {
        t: {row.name: {lang: statistics.fmean(v) for lang, v in row.per_language.get(t, {}).items()} for row in rows}
        for t in targets
    }
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
    if c["std"] is not None:
        text += f" ± {c['std']:.1f} (n={c['seeds']})"
    if c["delta"] is not None:
        text += f" ({c['delta']:+.1f}"
        if c.get("low") is not None:
            text += f" [{c['low']:+.1f}, {c['high']:+.1f}]" + ("†" if c["covers_zero"] else "")
        text += ")"
    return text


SIGNIFICANCE_NOTE = (
    "Cells: mean over seeds, ± the sample standard deviation of the per-seed scores when there are "
    "several (n seeds; for an average, of the per-seed averages; a target run once, such as retrieval, "
    "counts with its one value in every seed's average), then the change against `none` of the same "
    "variant and its 95% paired-bootstrap interval over evaluation examples ({resamples} resamples, "
    "seeded); † marks a change whose interval covers 0."
)


def _protocol_rows(columns: list[str], rows: list[dict], label: str, average_label: str) -> list[str]:
    header = [average_label if c == "average" else c for c in columns]
    lines = [f"| {label} | " + " | ".join(header) + " |", "|---|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for c in columns:
            cell = row["cells"].get(c)
            text = _cell(cell)
            if cell is not None and cell.get("chosen") and row.get("kind") == "chosen":
                text += f"<br>{cell['chosen']}" + (" (tie)" if cell.get("tie") else "")
            cells.append(text)
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    return lines


def protocol_markdown(table: dict, resamples: int = RESAMPLES) -> list[str]:
    """Table 1 (dev), Table 2 (test, chosen on dev) and the published numbers, as Markdown lines."""
    dev, test, bench = table["dev"], table["test"], table["benchmark"]
    lines = ["## Table 1: dev (selection data), every intermediate against `none`", ""]
    if len(dev["columns"]) > 1 and dev["rows"]:
        lines += _protocol_rows(dev["columns"], dev["rows"], "approach / intermediate", "dev average")
    else:
        lines.append("No cell has dev scores yet (results.json without `dev`: rerun `evaluate`).")
    lines += ["", "Selection data per target: " + "; ".join(f"{t}: {d}" for t, d in dev["selection"].items()) + "."]
    if dev["no_dev"]:
        lines.append(f"Not in Table 1 (no dev set): {', '.join(dev['no_dev'])}; in Table 2 each is chosen for by "
                     "the dev average over the targets that have one.")
    lines += ["", "## Table 2: test, `none` against the intermediate chosen on dev for each target", ""]
    for group in test["groups"]:
        if group["variant"]:
            lines += [f"Variant {'.'.join(group['variant'].values())}:", ""]
        lines += _protocol_rows(test["columns"], group["rows"], "approach", test["average_label"]) + [""]
    included = ", ".join(test["included"]) or "none"
    lines.append(f"{test['average_label']} as XTREME computes it: each task's score averaged over its languages, "
                 f"then the mean over the tasks; here over {included}.")
    if test["excluded"]:
        lines.append("Not scored on test: " + "; ".join(f"{t} ({why})" for t, why in test["excluded"].items()) + ".")
    if test["not_run"]:
        lines.append(f"{bench['title']} tasks without results in this experiment: {', '.join(test['not_run'])}.")
    lines += ["", SIGNIFICANCE_NOTE.format(resamples=resamples), ""]
    lines += _published_markdown(table["published"])
    return lines


def _published_markdown(pub: dict) -> list[str]:
    lines = ["## Published numbers beside ours", ""]
    lines += ["| Table 1: intermediate (english) | published dev average change | ours | ours − published | source |",
              "|---|---|---|---|---|"]
    for e in pub["dev_average_change"]:
        source = e["source"] + ("" if e["verified"] else " (not verified)")
        lines.append(f"| {e['intermediate']} | {_num(e['published'], True)} | {_num(e['ours'], True)} | "
                     f"{_num(e['difference'], True)} | {source} |")
    if pub["test"]:
        lines += ["", "| Table 2: task | XLM-R published | our `none` | diff | X-STILTs published | ours chosen on dev | diff | source |",
                  "|---|---|---|---|---|---|---|---|"]
        for e in pub["test"]:
            x, s = e["xlmr"], e["xstilts"]
            lines.append(f"| {e['task']} | {_num(x['published'])} | {_num(x['ours'])} | {_num(x['difference'], True)} | "
                         f"{_num(s['published'])} | {_num(s['ours'])} | {_num(s['difference'], True)} | {e['source']} |")
    change = pub["test_average_change"]
    if change:
        lines += ["", f"Average change of the intermediate chosen on dev against `none`: ours "
                  f"{_num(change['ours'], True)}, published {_num(change['published'], True)} ({change['source']})."]
    lines += ["", "Sources:"] + [f"- {key}: {text}" for key, text in pub["sources"].items()]
    lines.append("QA tasks are compared as (F1 + EM) / 2. Published numbers are XLM-R Large on the full test "
                 "sets; a run at another scale or on other data is not expected to match them.")
    return lines


def protocol_csv(table: dict) -> str:
    """Tables 1 and 2 as CSV: one line per table, row and column."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["table", "variant", "row", "column", "mean", "std", "seeds", "delta_vs_none",
                     "ci_low", "ci_high", "covers_zero", "chosen", "tie"])

    def put(name: str, variant: dict, row: dict) -> None:
        for col, c in row["cells"].items():
            writer.writerow([name, ";".join(f"{a}={v}" for a, v in variant.items()), row["name"], col,
                             f"{c['mean']:.4f}", "" if c["std"] is None else f"{c['std']:.4f}", c["seeds"],
                             *("" if c.get(k) is None else f"{c[k]:.4f}" for k in ("delta", "low", "high")),
                             "" if c.get("covers_zero") is None else c["covers_zero"],
                             c.get("chosen", ""), c.get("tie", "")])

    for row in table["dev"]["rows"]:
        put("dev", row["variant"], row)
    for group in table["test"]["groups"]:
        for row in group["rows"]:
            put("test", group["variant"], row)
    return buf.getvalue()


def to_markdown(table: dict) -> str:
    cols = table["columns"]
    bench = table["benchmark"]
    header = [bench["average_label"] if c == "average" else c for c in cols]
    lines = ["## Every cell on test", "",
             "| approach / intermediate | " + " | ".join(header) + " |", "|---|" + "---|" * len(cols)]
    for row in table["rows"]:
        lines.append(f"| {row['name']} | " + " | ".join(_cell(row["cells"].get(c)) for c in cols) + " |")
    lines.append("")
    lines.append("Cells: mean score over seeds (± sample standard deviation and n when several), and the "
                 f"change against `none` in parentheses. Scores are {bench['title']}'s (benchmark={bench['name']}): "
                 "accuracy or F1, QA (F1+EM)/2, each averaged over the benchmark's languages for the task.")
    coverage = f"{bench['average_label']}: the mean over {', '.join(bench['averaged'])}"
    if bench["missing"]:
        coverage += f"; {bench['title']}'s {', '.join(bench['missing'])} not included"
    lines.append(coverage + " (a row without every column has none).")
    if table.get("missing"):
        lines.append("Not finished yet (no results.json with DONE): "
                     + "; ".join(f"{name}: {', '.join(tasks)}" for name, tasks in table["missing"].items()) + ".")
    lines += ["", *protocol_markdown(table)]
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
    if table.get("provenance_differences"):
        lines += ["", "Data provenance differs between compared cells (results.json `provenance`):", "",
                  *(f"- {line}" for line in table["provenance_differences"])]
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
                             f"{c['mean']:.4f}", "" if c["std"] is None else f"{c['std']:.4f}", c["seeds"] or "",
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
    table["provenance_differences"] = provenance_notes(rows)
    table["inference_cost"] = read_costs(experiment_dir)
    out = Path(out_dir) if out_dir else Path(experiment_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("report.md", to_markdown(table)), ("report.csv", to_csv(table)),
                       ("protocol.csv", protocol_csv(table)),
                       ("inference_cost.csv", cost_csv(table)), ("report.json", json.dumps(table, indent=2) + "\n")):
        atomic_write_text(out / name, text)
    heatmap(table, out / "heatmap.png")
    write_comparison(experiment_dir, rows, table, to_markdown(table))
    return table
