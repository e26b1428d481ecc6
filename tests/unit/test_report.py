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


def cost_file(root: Path) -> dict:
    """An <experiment>/inference_cost.json as a grid writes it (toolkit/pipeline/cost.py), from
    made-up rounds: english/mnli costs what none costs round by round, english/cosmosqa twice."""
    from toolkit.evaluation.efficiency import summarise_rounds

    p50 = {"none": [10.0, 12.0, 11.0], "english/mnli": [10.1, 11.9, 11.0], "english/cosmosqa": [20.0, 25.0, 21.0]}
    per_s = {"none": [100.0, 90.0, 95.0], "english/mnli": [99.0, 91.0, 95.0], "english/cosmosqa": [50.0, 44.0, 48.0]}
    models = summarise_rounds({"latency_p50_ms": p50, "examples_per_s": per_s}, "none")
    scores = {"none": 75.0, "english/mnli": 80.0, "english/cosmosqa": 78.0}
    data = {"xnli": {"model": "encoder + pair_classification head", "reference": "none", "rounds": 3, "device": "cpu",
                     "device_name": "AMD EPYC (2 logical cores)", "dtype": "float32", "torch_threads": 1,
                     "batch_size": 32, "examples": 16, "warmup": 2, "languages": ["de", "en"],
                     "models": {name: {"score": scores[name], **models[name]} for name in p50}}}
    (root / "inference_cost.json").write_text(json.dumps(data))
    return data


def test_inference_cost_table_is_the_interleaved_comparison(tmp_path):
    write_tree(tmp_path / "exp")
    data = cost_file(tmp_path / "exp")
    table = write_report(tmp_path / "exp")
    cost = {(e["target"], e["name"]): e for e in table["inference_cost"]}
    assert list(cost) == [("xnli", "none"), ("xnli", "english/mnli"), ("xnli", "english/cosmosqa")]
    for (_, name), entry in cost.items():
        model = data["xnli"]["models"][name]
        assert entry["latency_p50_ms"] == model["latency_p50_ms"]["mean"]
        assert entry["latency_p50_ci95"] == model["latency_p50_ms"]["ci95"]
        assert entry["examples_per_s"] == model["examples_per_s"]["mean"] and entry["score"] == model["score"]
    assert cost[("xnli", "none")]["latency_verdict"] == "reference"
    assert cost[("xnli", "english/mnli")]["latency_verdict"] == "no difference"
    assert cost[("xnli", "english/cosmosqa")]["latency_verdict"] == "slower"
    assert cost[("xnli", "english/cosmosqa")]["throughput_verdict"] == "slower"

    out = tmp_path / "exp" / "report"
    assert json.loads((out / "report.json").read_text())["inference_cost"] == json.loads(json.dumps(table["inference_cost"]))
    markdown = (out / "report.md").read_text()
    assert "## Inference cost" in markdown
    assert "| xnli | none | 75.0 | 11.00 [" in markdown and "| reference |" in markdown
    mnli = cost[("xnli", "english/mnli")]
    low, high = mnli["latency_ratio_ci95"]
    assert f"| {mnli['latency_ratio']:.2f}x [{low:.2f}, {high:.2f}]: no difference |" in markdown
    assert "AMD EPYC (2 logical cores), float32, 1 threads, batch 32, n=16 x 3 rounds" in markdown
    rows = list(csv.DictReader(io.StringIO((out / "inference_cost.csv").read_text())))
    assert [(r["target"], r["name"]) for r in rows] == list(cost)
    assert float(rows[0]["latency_p50_ms"]) == pytest.approx(11.0)
    assert rows[2]["latency_verdict"] == "slower" and len(rows[2]["latency_p50_ci95"].split(";")) == 2


def test_report_of_runs_without_cost_records(tmp_path):
    write_tree(tmp_path / "exp")
    table = write_report(tmp_path / "exp")
    assert table["inference_cost"] == []
    out = tmp_path / "exp" / "report"
    assert "Inference cost" not in (out / "report.md").read_text()
    assert list(csv.reader(io.StringIO((out / "inference_cost.csv").read_text()))) == [
        ["target", "name", "reference", "score", "latency_p50_ms", "latency_p50_ci95", "latency_ratio",
         "latency_ratio_ci95", "latency_verdict", "examples_per_s", "examples_per_s_ci95", "throughput_ratio",
         "throughput_ratio_ci95", "throughput_verdict", "setup"]]


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
