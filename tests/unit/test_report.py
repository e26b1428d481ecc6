"""The comparison report on synthetic results.json trees: numbers, files and TensorBoard runs."""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path

import pytest

from tests.fixtures.launch import scalars
from toolkit.errors import ConfigError
from toolkit.reporting.report import write_report

# (approach, intermediate) -> target -> seed -> per-language metrics
SCORES = {
    ("none", "none"): {
        "xnli": {1: {"en": 80.0, "de": 70.0}, 2: {"en": 82.0, "de": 72.0}},
        "udpos": {1: {"en": 90.0, "de": 60.0}, 2: {"en": 92.0, "de": 64.0}},
    },
    ("english", "mnli"): {
        "xnli": {1: {"en": 84.0, "de": 75.0}, 2: {"en": 86.0, "de": 79.0}},
        "udpos": {1: {"en": 91.0, "de": 61.0}, 2: {"en": 90.0, "de": 59.0}},
    },
    ("english", "cosmosqa"): {  # one seed only, and no udpos: no average
        "xnli": {1: {"en": 81.0, "de": 71.0}},
    },
}
KEY = {"xnli": "accuracy", "udpos": "f1"}


def write_tree(root: Path, unfinished: bool = True) -> None:
    for (approach, inter), targets in SCORES.items():
        for task, seeds in targets.items():
            for seed, per_lang in seeds.items():
                run = root / approach / inter / task / f"seed{seed}"
                run.mkdir(parents=True)
                metrics = {lang: {KEY[task]: v} for lang, v in per_lang.items()}
                mean = statistics.fmean(per_lang.values())
                (run / "results.json").write_text(json.dumps({
                    "task": task, "approach": approach, "intermediate": inter, "seed": seed,
                    "metrics": metrics, "average": {KEY[task]: mean}, "score": mean}))
                (run / "DONE").write_text("")
    if unfinished:  # results.json without DONE (an interrupted write): not counted
        run = root / "english" / "mnli" / "xnli" / "seed3"
        run.mkdir(parents=True)
        (run / "results.json").write_text(json.dumps({
            "task": "xnli", "approach": "english", "intermediate": "mnli", "seed": 3,
            "metrics": {"en": {"accuracy": 0.0}}, "average": {"accuracy": 0.0}, "score": 0.0}))


def expected(approach: str, inter: str, task: str) -> list[float]:
    return [statistics.fmean(v.values()) for v in SCORES[(approach, inter)][task].values()]


def test_report_numbers_equal_results_files(tmp_path):
    write_tree(tmp_path / "exp")
    table = write_report(tmp_path / "exp")
    assert table["columns"] == ["xnli", "udpos", "average"]
    rows = {r["name"]: r for r in table["rows"]}
    assert list(rows) == ["none", "english/cosmosqa", "english/mnli"]  # baseline first
    for (approach, inter), targets in SCORES.items():
        name = "none" if approach == "none" else f"{approach}/{inter}"
        for task in targets:
            cell = rows[name]["cells"][task]
            scores = expected(approach, inter, task)
            assert cell["mean"] == pytest.approx(statistics.fmean(scores))
            assert cell["std"] == (pytest.approx(statistics.stdev(scores)) if len(scores) > 1 else None)
            assert cell["seeds"] == len(scores)
            base = statistics.fmean(expected("none", "none", task))
            assert cell["delta"] == (None if approach == "none" else pytest.approx(cell["mean"] - base))
    # English/MNLI: xnli (79.5, 82.5) -> 81.0 (+5.0 vs 76.0); udpos (76.0, 74.5) -> 75.25 (-1.25 vs 76.5)
    mnli = rows["english/mnli"]["cells"]
    assert mnli["xnli"]["mean"] == pytest.approx(81.0) and mnli["xnli"]["delta"] == pytest.approx(5.0)
    assert mnli["udpos"]["delta"] == pytest.approx(-1.25)
    assert mnli["average"]["mean"] == pytest.approx((81.0 + 75.25) / 2)
    assert mnli["average"]["delta"] == pytest.approx((81.0 + 75.25) / 2 - (76.0 + 76.5) / 2)
    assert "average" not in rows["english/cosmosqa"]["cells"]  # not every target was run
    assert table["per_language"]["xnli"]["english/mnli"] == {"en": 85.0, "de": 77.0}

    out = tmp_path / "exp" / "report"
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(table))
    markdown = (out / "report.md").read_text()
    # The average's spread is that of the per-seed averages: (79.5+76)/2 = 77.75 and (82.5+74.5)/2 = 78.5.
    assert mnli["average"]["std"] == pytest.approx(statistics.stdev([77.75, 78.5]))
    assert "| english/mnli | 81.0 ± 2.1 (n=2) (+5.0) | 75.2 ± 1.1 (n=2) (-1.2) | 78.1 ± 0.5 (n=2) (+1.9) |" in markdown
    assert "| english/cosmosqa | 76.0 (+0.0) | – | – |" in markdown
    assert "### xnli" in markdown and "| english/mnli | 77.0 | 85.0 |" in markdown  # de, en
    csv_rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text())))
    got = {(r["approach"], r["intermediate"], r["target"]): r for r in csv_rows}
    assert float(got[("english", "mnli", "xnli")]["mean"]) == pytest.approx(81.0)
    assert float(got[("english", "mnli", "udpos")]["delta_vs_none"]) == pytest.approx(-1.25)
    assert got[("none", "none", "xnli")]["delta_vs_none"] == ""
    assert len(csv_rows) == 3 + 3 + 1
    png = (out / "heatmap.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_report_tensorboard_comparison(tmp_path):
    write_tree(tmp_path / "exp", unfinished=False)
    write_report(tmp_path / "exp")
    write_report(tmp_path / "exp")  # rewritten, not appended to
    compare = tmp_path / "exp" / "tb_compare"
    assert sorted(p.name for p in compare.iterdir()) == ["english-cosmosqa", "english-mnli", "none", "report"]
    tags = scalars(compare / "english-mnli")
    assert tags["compare/xnli/score"] == [(1, pytest.approx(79.5)), (2, pytest.approx(82.5))]
    assert tags["compare/xnli/mean"] == [(0, pytest.approx(81.0))]
    std = statistics.stdev([79.5, 82.5])
    assert tags["compare/xnli/lower"] == [(0, pytest.approx(81.0 - std))]
    assert tags["compare/xnli/upper"] == [(0, pytest.approx(81.0 + std))]
    assert tags["compare/average/mean"] == [(0, pytest.approx(78.125))]


def test_report_without_finished_runs(tmp_path):
    (tmp_path / "exp" / "english" / "mnli").mkdir(parents=True)
    with pytest.raises(ConfigError, match="no finished target runs"):
        write_report(tmp_path / "exp")
    with pytest.raises(ConfigError, match="not an experiment folder"):
        write_report(tmp_path / "missing")


def cost_record(p50: float, p95: float, per_s: float, tokens_per_s: float, device: str = "AMD EPYC (2 logical cores)") -> dict:
    """An `efficiency` record as results.json holds it (toolkit/evaluation/efficiency.py)."""
    return {"model": "encoder + tagging head", "parameters": 1000, "device": "cpu", "device_name": device,
            "dtype": "float32", "torch_threads": 2,
            "sample": {"examples": 256, "seed": 0, "warmup": 8, "languages": {"en": 128, "de": 128}, "mean_length": 30.0},
            "latency_ms": {"batch_size": 1, "p50": p50, "p95": p95, "mean": (p50 + p95) / 2},
            "throughput": {"batch_size": 32, "batches": 8, "examples_per_s": per_s, "tokens_per_s": tokens_per_s,
                           "tokens": 7680, "seconds": 256 / per_s}}


# (approach, intermediate, target, seed) -> efficiency record; the other runs are older, without one.
COSTS = {
    ("none", "none", "xnli", 1): cost_record(10.0, 14.0, 200.0, 6000.0),
    ("none", "none", "xnli", 2): cost_record(12.0, 18.0, 180.0, 5400.0),
    ("english", "mnli", "udpos", 1): cost_record(20.0, 30.0, 100.0, 3000.0),
    ("english", "cosmosqa", "xnli", 1): cost_record(11.0, 13.0, 190.0, 5700.0, device="NVIDIA A100-SXM4-80GB"),
}


def add_costs(root: Path) -> None:
    for (approach, inter, task, seed), record in COSTS.items():
        path = root / approach / inter / task / f"seed{seed}" / "results.json"
        result = json.loads(path.read_text())
        result["efficiency"] = record
        path.write_text(json.dumps(result))


def test_inference_cost_table_equals_the_results_files(tmp_path):
    write_tree(tmp_path / "exp")
    add_costs(tmp_path / "exp")
    table = write_report(tmp_path / "exp")
    cost = {(e["name"], e["target"]): e for e in table["inference_cost"]}
    assert list(cost) == [("none", "xnli"), ("english/cosmosqa", "xnli"), ("english/mnli", "udpos")]
    for (approach, inter, task, _), _record in COSTS.items():
        name = "none" if approach == "none" else f"{approach}/{inter}"
        records = [r for (a, i, t, _), r in COSTS.items() if (a, i, t) == (approach, inter, task)]
        entry = cost[(name, task)]
        assert entry["runs"] == len(records)
        assert entry["latency_p50_ms"] == pytest.approx(statistics.fmean(r["latency_ms"]["p50"] for r in records))
        assert entry["latency_p95_ms"] == pytest.approx(statistics.fmean(r["latency_ms"]["p95"] for r in records))
        assert entry["latency_mean_ms"] == pytest.approx(statistics.fmean(r["latency_ms"]["mean"] for r in records))
        assert entry["examples_per_s"] == pytest.approx(statistics.fmean(r["throughput"]["examples_per_s"] for r in records))
        assert entry["tokens_per_s"] == pytest.approx(statistics.fmean(r["throughput"]["tokens_per_s"] for r in records))
        # The score beside it is the accuracy table's cell (every seed, measured or not).
        assert entry["score"] == pytest.approx(statistics.fmean(expected(approach, inter, task)))
        assert entry["batch_size"] == [32] and entry["examples"] == [256] and entry["dtype"] == ["float32"]
    # english/mnli xnli runs are older (no record): left out, and the report still builds.
    assert ("english/mnli", "xnli") not in cost

    out = tmp_path / "exp" / "report"
    assert json.loads((out / "report.json").read_text())["inference_cost"] == json.loads(json.dumps(table["inference_cost"]))
    markdown = (out / "report.md").read_text()
    assert "## Inference cost" in markdown
    assert ("| none | xnli | 76.0 | 11.00 | 16.00 | 190.0 | 5700 | 2 | AMD EPYC (2 logical cores), float32, "
            "2 threads, batch 32, n=256 |") in markdown
    assert "| english/mnli | udpos | 75.2 | 20.00 | 30.00 | 100.0 | 3000 | 1 |" in markdown
    assert "measured on different setups" in markdown  # the A100 row
    rows = list(csv.DictReader(io.StringIO((out / "inference_cost.csv").read_text())))
    assert len(rows) == 3
    got = {(r["approach"], r["intermediate"], r["target"]): r for r in rows}
    none = got[("none", "none", "xnli")]
    assert float(none["latency_p50_ms"]) == pytest.approx(11.0) and float(none["latency_p95_ms"]) == pytest.approx(16.0)
    assert float(none["examples_per_s"]) == pytest.approx(190.0) and float(none["tokens_per_s"]) == pytest.approx(5700.0)
    assert none["runs"] == "2" and none["device"] == "AMD EPYC (2 logical cores)" and none["batch_size"] == "32"
    assert got[("english", "cosmosqa", "xnli")]["device"] == "NVIDIA A100-SXM4-80GB"


def test_report_of_runs_without_cost_records(tmp_path):
    write_tree(tmp_path / "exp")
    table = write_report(tmp_path / "exp")
    assert table["inference_cost"] == []
    out = tmp_path / "exp" / "report"
    assert "Inference cost" not in (out / "report.md").read_text()
    assert list(csv.reader(io.StringIO((out / "inference_cost.csv").read_text()))) == [
        ["approach", "intermediate", "target", "score", "runs", "latency_p50_ms", "latency_p95_ms", "latency_mean_ms",
         "examples_per_s", "tokens_per_s", "device", "dtype", "torch_threads", "batch_size", "examples"]]


def _provenance(commit: str, fingerprint: str, model_commit: str = "m" * 40) -> dict:
    return {"data": [{"dataset": "facebook/xnli", "config": "de", "data_dir": None, "split": "test",
                      "revision": "main", "commit": commit, "split_rows": 5010, "rows": 5010,
                      "fingerprint": fingerprint}],
            "data_dir": None, "model": {"name_or_path": "FacebookAI/xlm-roberta-large", "revision": None,
                                        "commit": model_commit}}


def test_report_lists_where_compared_cells_read_different_data(tmp_path):
    write_tree(tmp_path / "exp", unfinished=False)
    same = _provenance("a" * 40, "f" * 16)
    for path in (tmp_path / "exp").rglob("results.json"):
        result = json.loads(path.read_text())
        other = result["approach"] == "english" and result["intermediate"] == "cosmosqa" and result["task"] == "xnli"
        result["provenance"] = _provenance("b" * 40, "e" * 16) if other else same
        path.write_text(json.dumps(result))
    table = write_report(tmp_path / "exp")
    assert table["provenance_differences"] == [
        "xnli: facebook/xnli[de]/test: commit " + "b" * 40 + ", 5010 rows, fingerprint " + "e" * 16
        + " in english/cosmosqa seed1; commit " + "a" * 40 + ", 5010 rows, fingerprint " + "f" * 16
        + " in english/mnli seed1, english/mnli seed2, none seed1, none seed2"]
    markdown = (tmp_path / "exp" / "report" / "report.md").read_text()
    assert "Data provenance differs between compared cells" in markdown and "english/cosmosqa seed1" in markdown


def test_report_says_nothing_when_the_provenance_agrees(tmp_path):
    write_tree(tmp_path / "exp", unfinished=False)
    table = write_report(tmp_path / "exp")  # results without provenance (older runs) compare as equal
    assert table["provenance_differences"] == []
    assert "provenance differs" not in (tmp_path / "exp" / "report" / "report.md").read_text()
