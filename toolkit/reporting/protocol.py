"""The paper's protocol as tables: Table 1 (dev: every intermediate against `none`) and Table 2
(test: `none` against the intermediate chosen on dev for each target), with mean +- sample
standard deviation over seeds, a paired bootstrap interval for every change against `none`,
and the published numbers beside ours (published.yaml).

Selection: for each target, the row with the best dev score on that target; a target without a
dev set (Tatoeba) takes the row with the best dev average over the targets that have one. Ties
go to the first row in report order (approach, then intermediate name) and are marked.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import yaml

from toolkit.errors import DataError
from toolkit.evaluation.significance import RESAMPLES, Change, mean_change, target_change
from toolkit.reporting.cells import DEV, TEST, Row, example_stats_of, seed_stats
from toolkit.tasks.benchmarks import get_benchmark
from toolkit.tasks.registry import get_task

PUBLISHED = Path(__file__).with_name("published.yaml")
BOOTSTRAP_SEED = 0


def _has_dev(task: str) -> bool:
    return get_task(task).target.selection.split is not None


def ordered_targets(rows: list[Row], benchmark: str) -> list[str]:
    """Targets any row has (a test score, a dev score or an unscored test), benchmark order first."""
    present = {t for r in rows for t in (*r.scores, *r.dev_scores, *r.unscored)}
    order = [t for task_id in get_benchmark(benchmark).languages for t in sorted(present)
             if get_task(t).xtreme_id == task_id]
    return order + sorted(present - set(order))


def average_over(per_target: dict[str, dict[int, float]]) -> dict:
    """Mean over targets of their seed means, and the sample std of the per-seed averages.

    A target with one seed (e.g. retrieval, which is not trained) counts with its value in
    every seed's average; the seeds averaged are those all other targets share.
    """
    mean = statistics.fmean(statistics.fmean(s.values()) for s in per_target.values())
    multi = [set(s) for s in per_target.values() if len(s) > 1]
    seeds = sorted(set.intersection(*multi)) if multi else []
    per_seed = [statistics.fmean(s[seed] if len(s) > 1 else next(iter(s.values())) for s in per_target.values())
                for seed in seeds]
    return {"mean": mean, "std": statistics.stdev(per_seed) if len(per_seed) > 1 else None,
            "seeds": max(1, len(per_seed))}


class _Bootstrap:
    """Paired bootstrap changes against the baseline, with example statistics read once per cell."""

    def __init__(self, benchmark: str, resamples: int):
        self.benchmark, self.resamples = benchmark, resamples
        self._stats: dict = {}

    def stats(self, row: Row, task: str, part: str):
        key = (row.name, task, part)
        if key not in self._stats:
            self._stats[key] = example_stats_of(row, task, part, self.benchmark)
        return self._stats[key]

    def change(self, row: Row, base: Row, task: str, part: str) -> Change | None:
        a, b = self.stats(row, task, part), self.stats(base, task, part)
        if not a or not b:
            return None  # prediction files not there (results copied without them)
        # One generator per comparison, seeded by its name: the same interval on every rerun.
        seed = [BOOTSTRAP_SEED, *(ord(c) for c in f"{row.name}|{base.name}|{task}|{part}")]
        try:
            return target_change(a, b, np.random.default_rng(seed), self.resamples, f"{task} ({part})")
        except DataError:
            return None


def _cell(scores: dict[int, float], change: Change | None, base_mean: float | None) -> dict:
    mean, std, n = seed_stats(list(scores.values()))
    cell = {"mean": mean, "std": std, "seeds": n, "delta": None if base_mean is None else mean - base_mean,
            "low": None, "high": None, "covers_zero": None}
    if change is not None:
        cell.update(low=change.low, high=change.high, covers_zero=change.covers_zero)
    return cell


def _average_cell(per_target: dict[str, dict[int, float]], changes: list[Change | None],
                  base_average: float | None) -> dict:
    avg = average_over(per_target)
    cell = {**avg, "delta": None if base_average is None else avg["mean"] - base_average,
            "low": None, "high": None, "covers_zero": None}
    if changes and all(c is not None for c in changes):
        combined = mean_change(changes)
        cell.update(low=combined.low, high=combined.high, covers_zero=combined.covers_zero)
    return cell


def _groups(rows: list[Row]) -> list[tuple[dict, Row | None, list[Row]]]:
    """(variant, its `none` row or None, its rows with an intermediate phase), in report order."""
    variants = list({tuple(r.variant.items()): r.variant for r in rows}.values())
    return [(v, next((r for r in rows if r.variant == v and r.is_control), None),
             [r for r in rows if r.variant == v and not r.is_control]) for v in variants]


def dev_table(rows: list[Row], benchmark: str, resamples: int = RESAMPLES) -> dict:
    """Table 1: dev scores of every row on every target with a dev set, changes against `none`."""
    boot = _Bootstrap(benchmark, resamples)
    targets = [t for t in ordered_targets(rows, benchmark) if _has_dev(t)]
    table = {"columns": targets + ["average"], "rows": [],
             "selection": {t: get_task(t).target.selection.describe() for t in ordered_targets(rows, benchmark)},
             "no_dev": [t for t in ordered_targets(rows, benchmark) if not _has_dev(t)]}
    for variant, base, others in _groups(rows):
        for row in ([base] if base else []) + others:
            cells, changes = {}, []
            for t in targets:
                if t not in row.dev_scores:
                    continue
                base_mean = None
                change = None
                if base is not None and row is not base and t in base.dev_scores:
                    base_mean = statistics.fmean(base.dev_scores[t].values())
                    change = boot.change(row, base, t, DEV)
                    changes.append(change)
                cells[t] = _cell(row.dev_scores[t], change, base_mean)
            if targets and all(t in cells for t in targets):
                base_avg = None
                if base is not None and row is not base and all(t in base.dev_scores for t in targets):
                    base_avg = average_over({t: base.dev_scores[t] for t in targets})["mean"]
                cells["average"] = _average_cell({t: row.dev_scores[t] for t in targets},
                                                 changes if row is not base else [], base_avg)
            table["rows"].append({"name": row.name, "approach": row.approach, "intermediate": row.intermediate,
                                  "variant": variant, "cells": cells})
    return table


def _dev_key(row: Row, task: str, dev_targets: list[str]) -> float | None:
    """What `row` is chosen by for `task`: its dev score there, or (no dev set) its dev average."""
    if _has_dev(task):
        return statistics.fmean(row.dev_scores[task].values()) if task in row.dev_scores else None
    if dev_targets and all(t in row.dev_scores for t in dev_targets):
        return average_over({t: row.dev_scores[t] for t in dev_targets})["mean"]
    return None


def choose(candidates: list[Row], task: str, dev_targets: list[str]) -> tuple[Row | None, bool]:
    """The candidate with the best dev key for `task` among those with a test score on it, and
    whether another candidate tied with it (first in order wins)."""
    keyed = [(r, _dev_key(r, task, dev_targets)) for r in candidates if task in r.scores]
    keyed = [(r, k) for r, k in keyed if k is not None]
    if not keyed:
        return None, False
    best = max(k for _, k in keyed)
    winners = [r for r, k in keyed if k == best]
    return winners[0], len(winners) > 1


def selected_table(rows: list[Row], benchmark: str, resamples: int = RESAMPLES) -> dict:
    """Table 2: test scores of `none` and of the intermediate chosen on dev for each target (per
    approach, and over all approaches), with the benchmark's average over the scored targets."""
    boot = _Bootstrap(benchmark, resamples)
    everything = ordered_targets(rows, benchmark)
    targets = [t for t in everything if any(t in r.scores for r in rows)]
    dev_targets = [t for t in everything if _has_dev(t) and any(t in r.dev_scores for r in rows)]
    bench = get_benchmark(benchmark)
    table = {"columns": targets + ["average"], "groups": [],
             "included": targets,
             "excluded": {t: "test gold not public: submission files only" for t in everything if t not in targets},
             "not_run": [x for x in bench.languages if x not in {get_task(t).xtreme_id for t in targets}],
             "average_label": bench.average_label}
    for variant, base, others in _groups(rows):
        lines = []
        if base is not None:
            cells = {t: _cell(dict(zip(base.seeds[t], base.scores[t])), None, None) for t in targets if t in base.scores}
            if all(t in cells for t in targets):
                cells["average"] = _average_cell({t: base.seed_scores(TEST)[t] for t in targets}, [], None)
            lines.append({"name": base.name, "kind": "none", "cells": cells})
        choices = [(f"{a} (chosen on dev)", [r for r in others if r.approach == a])
                   for a in dict.fromkeys(r.approach for r in others)]
        if len(choices) > 1:
            choices.append(("any approach (chosen on dev)", others))
        for label, candidates in choices:
            cells, changes, chosen_scores = {}, [], {}
            for t in targets:
                row, tie = choose(candidates, t, dev_targets)
                if row is None:
                    continue
                scores = row.seed_scores(TEST)[t]
                base_mean = change = None
                if base is not None and t in base.scores:
                    base_mean = statistics.fmean(base.scores[t])
                    change = boot.change(row, base, t, TEST)
                    changes.append(change)
                cells[t] = {**_cell(scores, change, base_mean), "chosen": row.name, "tie": tie}
                chosen_scores[t] = scores
            if targets and all(t in cells for t in targets):
                base_avg = None
                if base is not None and all(t in base.scores for t in targets):
                    base_avg = average_over({t: base.seed_scores(TEST)[t] for t in targets})["mean"]
                cells["average"] = _average_cell(chosen_scores, changes, base_avg)
            lines.append({"name": label, "kind": "chosen", "cells": cells})
        table["groups"].append({"variant": variant, "rows": lines})
    return table


# ---------------------------------------------------------------------------------------------
# Published numbers.
# ---------------------------------------------------------------------------------------------


def load_published(path: Path = PUBLISHED) -> dict:
    """The published numbers (published.yaml): their sources and values."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _published_score(entry) -> float:
    """A published task number as our task score: accuracy/F1, or (F1 + EM) / 2 for QA."""
    return (entry["f1"] + entry["em"]) / 2 if isinstance(entry, dict) else float(entry)


def published_comparison(dev: dict, test: dict, published: dict) -> dict:
    """Ours beside the paper's: per-intermediate dev average changes, and per-task test scores
    of `none` (vs XLM-R) and of the best row chosen on dev (vs X-STILTs), with the differences.
    Only the first variant group is compared (the paper ran one model size)."""
    out = {"dev_average_change": [], "test": [], "test_average_change": None, "sources": published["sources"]}
    for entry in published["dev_average_change"]:
        wanted = sorted(entry["intermediate"].split("+"))
        ours = next((r for r in dev["rows"] if r["approach"] == "english"
                     and sorted(r["intermediate"].split("+")) == wanted and "average" in r["cells"]), None)
        value = ours["cells"]["average"]["delta"] if ours else None
        out["dev_average_change"].append({
            "intermediate": entry["intermediate"], "published": entry["value"], "ours": value,
            "difference": None if value is None else value - entry["value"], "source": entry["source"],
            "verified": entry.get("verified", True)})
    if not test["groups"]:
        return out
    group = test["groups"][0]["rows"]
    none = next((r for r in group if r["kind"] == "none"), None)
    best = next((r for r in reversed(group) if r["kind"] == "chosen"), None)
    for task, theirs in published["test"].items():
        if task not in test["columns"]:
            continue
        line = {"task": task, "source": theirs["source"]}
        for who, row in (("xlmr", none), ("xstilts", best)):
            value = row["cells"].get(task, {}).get("mean") if row else None
            number = theirs.get(who)
            pub = None if number is None else _published_score(number)
            line[who] = {"published": pub, "ours": value,
                         "difference": None if value is None or pub is None else value - pub}
        out["test"].append(line)
    change = published["test_average_change"]
    ours = best["cells"].get("average", {}).get("delta") if best else None
    out["test_average_change"] = {"published": change["value"], "ours": ours, "source": change["source"],
                                  "difference": None if ours is None else ours - change["value"]}
    return out
