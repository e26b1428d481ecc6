"""The finished cells of an experiment, gathered into report rows: one row per (approach,
intermediate, grid variant), holding every target's scores per seed, on test and on the
selection (dev) data, and where each cell's prediction files are."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import ConfigError, DataError
from toolkit.evaluation import xtreme_format
from toolkit.evaluation.metrics import SEQEVAL_PUBLISHED, task_score
from toolkit.evaluation.significance import ExampleStats, example_stats
from toolkit.pipeline.run_dirs import dev_dir, gold_dir, is_control, predictions_dir, report_row_name, result_files
from toolkit.tasks.benchmarks import official_languages
from toolkit.tasks.provenance import differences
from toolkit.tasks.registry import get_task

TEST, DEV = "test", "dev"


@dataclass
class Row:
    approach: str
    intermediate: str
    variant: dict[str, str] = field(default_factory=dict)  # grid axis -> value label
    scores: dict[str, list[float]] = field(default_factory=dict)  # target -> test score per seed
    seeds: dict[str, list[int]] = field(default_factory=dict)  # target -> the seeds of `scores`
    dev_scores: dict[str, dict[int, float]] = field(default_factory=dict)  # target -> seed -> dev score
    unscored: dict[str, list[int]] = field(default_factory=dict)  # target -> seeds without a test gold
    per_language: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # target -> lang -> scores
    runs: dict[str, dict[int, Path]] = field(default_factory=dict)  # target -> seed -> run folder
    seqeval: dict[str, dict[int, str]] = field(default_factory=dict)  # target -> seed -> eval.seqeval used
    provenance: dict[str, dict[int, dict]] = field(default_factory=dict)  # target -> seed -> what it read
    params: int | None = None  # encoder parameters (results.json `params`, heads left out)
    corpora: list[dict] = field(default_factory=list)  # domain corpora of the intermediate mix
    benchmarks: set[str] = field(default_factory=set)  # the benchmarks its results were scored under

    @property
    def name(self) -> str:
        return report_row_name(self.approach, self.intermediate, self.variant)

    @property
    def is_control(self) -> bool:
        return is_control(self.approach)

    def seed_scores(self, part: str) -> dict[str, dict[int, float]]:
        """target -> seed -> score, on test or on dev."""
        if part == DEV:
            return self.dev_scores
        return {t: dict(zip(self.seeds[t], s)) for t, s in self.scores.items()}


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

    A results.json without `benchmark` (written before the field existed) counts as XTREME; one
    without `dev` has no selection scores.
    """
    root = Path(experiment_dir)
    if not root.is_dir():
        raise ConfigError(f"{root} is not an experiment folder")
    rows: dict[tuple[str, str, tuple], Row] = {}
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
        task, seed = result["task"], result["seed"]
        row.benchmarks.add(result.get("benchmark", "xtreme"))
        row.runs.setdefault(task, {})[seed] = path.parent
        # Files written before `scoring` existed were scored with the published-number behaviour.
        row.seqeval.setdefault(task, {})[seed] = (result.get("scoring") or {}).get("seqeval", SEQEVAL_PUBLISHED)
        if result.get("provenance"):
            row.provenance.setdefault(task, {})[seed] = result["provenance"]
        if result.get("dev"):
            row.dev_scores.setdefault(task, {})[seed] = result["dev"]["score"]
        if result["score"] is None:
            row.unscored.setdefault(task, []).append(seed)
            continue
        row.scores.setdefault(task, []).append(result["score"])
        row.seeds.setdefault(task, []).append(seed)
        metric = get_task(task).metric
        for lang, metrics in result["metrics"].items():
            row.per_language.setdefault(task, {}).setdefault(lang, []).append(task_score(metric, metrics))
    if not rows:
        raise ConfigError(f"{root} has no finished target runs (results.json with DONE)")
    axes = list(dict.fromkeys(axis for r in rows.values() for axis in r.variant))
    return sorted(rows.values(), key=lambda r: (
        tuple(r.variant.get(a, "") for a in axes), not r.is_control, r.approach, r.intermediate))


def seed_stats(values: list[float]) -> tuple[float, float | None, int]:
    """(mean, sample standard deviation or None for one value, n)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values)


def example_stats_of(row: Row, task: str, part: str, benchmark: str) -> dict[str, list[ExampleStats]]:
    """Per language the benchmark averages over, each seed's per-example statistics, read back
    from the cell's prediction and gold files (test: predictions/ and gold/; dev: dev/...)."""
    xtreme_id = get_task(task).xtreme_id
    official = official_languages(xtreme_id, benchmark)
    out: dict[str, list[ExampleStats]] = {}
    for seed, run in sorted(row.runs.get(task, {}).items()):
        if part == TEST and seed in row.unscored.get(task, []):
            continue
        folder = dev_dir(run) if part == DEV else run
        pred_dir, g_dir = predictions_dir(folder), gold_dir(folder)
        for lang in official:
            pred, gold = (xtreme_format.task_file(d, xtreme_id, lang) for d in (pred_dir, g_dir))
            if pred.is_file() and gold.is_file():
                out.setdefault(lang, []).append(example_stats(
                    xtreme_id, xtreme_format.read_predictions(pred, xtreme_id),
                    xtreme_format.read_gold(gold, xtreme_id), lang, row.seqeval[task][seed]))
    return out


def provenance_notes(rows: list[Row]) -> list[str]:
    """Per target, where the cells the table compares read different data or started from a
    different model commit (results.json `provenance`); empty when all agree."""
    by_target: dict[str, list[tuple[str, dict]]] = {}
    for row in rows:
        for task, seeds in row.provenance.items():
            by_target.setdefault(task, []).extend(
                (f"{row.name} seed{seed}", prov) for seed, prov in seeds.items())
    return [f"{task}: {line}" for task, named in by_target.items() for line in differences(named)]
