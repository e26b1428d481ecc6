"""The paper's protocol in the report: per-example statistics equal the metrics, the paired
bootstrap, Table 1 (dev) and Table 2 (test, chosen on dev) on hand-built cells with known
scores, ties, a target without a dev set, a partial grid and seeds."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import numpy as np
import pytest

from toolkit.evaluation import xtreme_format
from toolkit.evaluation.metrics import METRICS
from toolkit.evaluation.significance import example_stats, mean_change, target_change
from toolkit.reporting.cells import collect
from toolkit.reporting.protocol import average_over, dev_table, selected_table
from toolkit.reporting.report import write_report

N = 40  # examples per language and split


# ---------------------------------------------------------------------------------------------
# Per-example statistics reproduce every metric exactly.
# ---------------------------------------------------------------------------------------------


def test_example_stats_score_equals_the_metric_for_every_target_metric():
    rnd = random.Random(3)
    labels = {str(i): rnd.choice("abc") for i in range(50)}
    preds = {k: rnd.choice("abc") for k in labels}
    for task, metric in (("xnli", "accuracy"), ("tatoeba", "tatoeba")):
        if metric == "tatoeba":
            labels, preds = ({k: "abc".index(v) for k, v in d.items()} for d in (labels, preds))
        stats = example_stats(task, preds, labels, "de")
        assert stats.score() == pytest.approx(METRICS[metric](preds, labels)["accuracy"], abs=1e-9)

    words = "the a cat sat on mat der die das Hund".split()
    golds = {str(i): [" ".join(rnd.sample(words, 3)), " ".join(rnd.sample(words, 2))] for i in range(30)}
    answers = {k: " ".join(rnd.sample(words, rnd.randint(1, 4))) for k in list(golds)[:-3]}  # 3 unanswered
    for task, lang in (("xquad", "de"), ("mlqa", "de")):
        m = METRICS[get_metric_name(task)](answers, golds, language=lang)
        assert example_stats(task, answers, golds, lang).score() == pytest.approx((m["f1"] + m["exact_match"]) / 2)

    tags = ["NOUN", "VERB", "SCONJ", "CCONJ", "X", "PUNCT"]
    gold_tags = {str(i): [rnd.choice(tags) for _ in range(rnd.randint(1, 9))] for i in range(40)}
    pred_tags = {k: [t if rnd.random() < 0.7 else rnd.choice(tags) for t in v] for k, v in gold_tags.items()}
    ner = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    gold_ner = {str(i): [rnd.choice(ner) for _ in range(8)] for i in range(40)}
    pred_ner = {k: [t if rnd.random() < 0.6 else rnd.choice(ner) for t in v] for k, v in gold_ner.items()}
    # A sentence-final X before a sentence-initial X: under seqeval 1.x one span across the two.
    gold_tags["40"], pred_tags["40"] = ["NOUN", "X"], ["NOUN", "X"]
    gold_tags["41"], pred_tags["41"] = ["X", "VERB"], ["X", "NOUN"]
    for mode in ("0.0.x", "1.x"):
        for task, p, g in (("udpos", pred_tags, gold_tags), ("panx", pred_ner, gold_ner)):
            assert example_stats(task, p, g, "de", mode).score() == pytest.approx(
                METRICS["seqeval"](p, g, seqeval=mode)["f1"], abs=1e-9), (task, mode)

    gold_pairs = [(f"de-{i}", f"en-{i}") for i in range(20)]
    pred_pairs = gold_pairs[:12] + [(f"de-{i}", f"en-{i + 1}") for i in range(12, 17)] + [("de-x", "en-y")]
    assert example_stats("bucc2018", pred_pairs, gold_pairs, "de").score() == pytest.approx(
        METRICS["bucc"](pred_pairs, gold_pairs)["f1"])


def get_metric_name(task: str) -> str:
    from toolkit.tasks.benchmarks import target_spec

    return target_spec(task).metric


# ---------------------------------------------------------------------------------------------
# The paired bootstrap.
# ---------------------------------------------------------------------------------------------


def _accuracy_stats(correct: list[int], gold: str = "g"):
    labels = {str(i): "a" for i in range(len(correct))}
    preds = {str(i): "a" if c else "b" for i, c in enumerate(correct)}
    return example_stats("xnli", preds, labels, "en")


def test_bootstrap_interval_matches_the_normal_approximation():
    rng = np.random.default_rng(0)
    n = 2000
    a = (rng.random(n) < 0.80).astype(int)
    b = np.where(rng.random(n) < 0.85, a, 1 - a)  # b agrees with a on 85% of examples
    change = target_change({"en": [_accuracy_stats(list(a))]}, {"en": [_accuracy_stats(list(b))]},
                           np.random.default_rng(1), resamples=2000)
    d = 100.0 * (a - b)
    assert change.delta == pytest.approx(d.mean())
    half = 1.959964 * d.std(ddof=1) / np.sqrt(n)  # paired differences: the CLT half-width
    assert (change.high - change.low) / 2 == pytest.approx(half, rel=0.1)
    assert change.low < change.delta < change.high


def test_bootstrap_of_a_sure_change_and_of_no_change():
    sure = target_change({"en": [_accuracy_stats([1] * N)]}, {"en": [_accuracy_stats([0] * N)]},
                         np.random.default_rng(0), resamples=200)
    assert (sure.delta, sure.low, sure.high, sure.covers_zero) == (100.0, 100.0, 100.0, False)
    same = target_change({"en": [_accuracy_stats([1, 0] * 20)]}, {"en": [_accuracy_stats([1, 0] * 20)]},
                         np.random.default_rng(0), resamples=200)
    assert (same.delta, same.low, same.high, same.covers_zero) == (0.0, 0.0, 0.0, True)
    # Two targets' changes average resample by resample.
    assert mean_change([sure, same]).delta == 50.0 and mean_change([sure, same]).low == 50.0


def test_bootstrap_refuses_to_pair_different_examples():
    from toolkit.errors import DataError

    other = example_stats("xnli", {"0": "a", "1": "b"}, {"0": "a", "1": "a"}, "en")
    mine = example_stats("xnli", {"0": "a", "1": "b"}, {"0": "b", "1": "a"}, "en")  # same ids, other gold
    with pytest.raises(DataError, match="different examples"):
        target_change({"en": [mine]}, {"en": [other]}, np.random.default_rng(0), resamples=10)


def test_average_over_seeds_uses_per_seed_averages():
    got = average_over({"xnli": {1: 80.0, 2: 84.0}, "udpos": {1: 70.0, 2: 66.0}, "tatoeba": {1: 50.0}})
    # seed 1: (80+70+50)/3 = 66.67; seed 2: (84+66+50)/3 = 66.67 -> std 0, though every target varies
    assert got["mean"] == pytest.approx((82.0 + 68.0 + 50.0) / 3)
    assert got["std"] == pytest.approx(0.0, abs=1e-9) and got["seeds"] == 2
    one = average_over({"xnli": {1: 80.0}, "udpos": {1: 70.0}})
    assert one == {"mean": 75.0, "std": None, "seeds": 1}


# ---------------------------------------------------------------------------------------------
# Tables 1 and 2 on hand-built cells.
# ---------------------------------------------------------------------------------------------

# (approach, intermediate) -> task -> seed -> (dev correct per language, test correct per language)
# Scores are correct/N in percent; languages: xnli en+de, pawsx en, tatoeba de (no dev).
CELLS = {
    ("none", "none"): {
        "xnli": {1: ({"en": 30, "de": 20}, {"en": 30, "de": 20}), 2: ({"en": 28, "de": 22}, {"en": 32, "de": 18})},
        "pawsx": {1: ({"en": 24}, {"en": 24}), 2: ({"en": 24}, {"en": 26})},
        "tatoeba": {1: (None, {"de": 10})},
    },
    ("english", "mnli"): {  # best on xnli dev (dev 34/26 -> 75.0)
        "xnli": {1: ({"en": 34, "de": 26}, {"en": 36, "de": 24})},
        "pawsx": {1: ({"en": 26}, {"en": 25})},
        "tatoeba": {1: (None, {"de": 14})},
    },
    ("english", "squad"): {  # best on pawsx dev and on the dev average -> chosen for tatoeba too
        "xnli": {1: ({"en": 33, "de": 25}, {"en": 40, "de": 40})},  # best on test, but not chosen
        "pawsx": {1: ({"en": 32}, {"en": 30})},
        "tatoeba": {1: (None, {"de": 20})},
    },
    ("mlm", "mnli"): {  # ties mlm/squad on xnli dev: the first in order (mnli) wins
        "xnli": {1: ({"en": 30, "de": 30}, {"en": 30, "de": 30})},
        "pawsx": {1: ({"en": 20}, {"en": 20})},
    },
    ("mlm", "squad"): {  # partial: no pawsx cell, so no averages
        "xnli": {1: ({"en": 30, "de": 30}, {"en": 20, "de": 20})},
    },
}


def _write_split(folder: Path, task: str, per_lang: dict) -> dict:
    metrics = {}
    for lang, correct in per_lang.items():
        ids = [str(i) for i in range(N)]
        if task == "tatoeba":
            gold = {i: k for k, i in enumerate(ids)}
            pred = {i: (k if k < correct else (k + 1) % N) for k, i in enumerate(ids)}
        else:
            gold = {i: "1" for i in ids} if task == "pawsx" else {i: "entailment" for i in ids}
            wrong = "0" if task == "pawsx" else "neutral"
            pred = {i: (gold[i] if k < correct else wrong) for k, i in enumerate(ids)}
        xtreme_format.write_predictions(folder / "predictions", task, lang, pred, ids)
        xtreme_format.write_gold(folder / "gold", task, lang, gold)
        metrics[lang] = {"accuracy": 100.0 * correct / N}
    return metrics


def write_cells(root: Path, cells=CELLS) -> None:
    for (approach, inter), tasks in cells.items():
        for task, seeds in tasks.items():
            for seed, (dev, test) in seeds.items():
                run = root / approach / inter / task / f"seed{seed}"
                test_metrics = _write_split(run, task, test)
                result = {"task": task, "approach": approach, "intermediate": inter, "seed": seed,
                          "metrics": test_metrics, "score": statistics.fmean(m["accuracy"] for m in test_metrics.values()),
                          "dev": None}
                if dev is not None:
                    dev_metrics = _write_split(run / "dev", task, dev)
                    result["dev"] = {"metrics": dev_metrics,
                                     "score": statistics.fmean(m["accuracy"] for m in dev_metrics.values())}
                (run / "results.json").write_text(json.dumps(result))
                (run / "DONE").write_text("")


def pct(*correct) -> float:
    return statistics.fmean(100.0 * c / N for c in correct)


def test_table1_dev_changes_against_none(tmp_path):
    write_cells(tmp_path)
    dev = dev_table(collect(tmp_path), "xtreme", resamples=300)
    assert dev["columns"] == ["xnli", "pawsx", "average"] and dev["no_dev"] == ["tatoeba"]
    rows = {r["name"]: r["cells"] for r in dev["rows"]}
    assert list(rows) == ["none", "english/mnli", "english/squad", "mlm/mnli", "mlm/squad"]
    none_xnli = statistics.fmean([pct(30, 20), pct(28, 22)])
    assert rows["none"]["xnli"]["mean"] == pytest.approx(none_xnli)
    assert rows["none"]["xnli"]["std"] == pytest.approx(0.0) and rows["none"]["xnli"]["seeds"] == 2
    mnli = rows["english/mnli"]
    assert mnli["xnli"]["delta"] == pytest.approx(pct(34, 26) - none_xnli)
    assert mnli["xnli"]["std"] is None and mnli["xnli"]["seeds"] == 1
    assert mnli["xnli"]["low"] <= mnli["xnli"]["delta"] <= mnli["xnli"]["high"]
    assert mnli["average"]["mean"] == pytest.approx((pct(34, 26) + pct(26)) / 2)
    assert mnli["average"]["delta"] == pytest.approx((pct(34, 26) + pct(26)) / 2 - (none_xnli + pct(24)) / 2)
    # squad's pawsx +20 points on 40 examples, vs two baseline seeds that agree: clearly above 0.
    assert rows["english/squad"]["pawsx"]["covers_zero"] is False
    assert "average" not in rows["mlm/squad"]  # partial: no pawsx


def test_table2_chooses_on_dev_and_reports_test(tmp_path):
    write_cells(tmp_path)
    test = selected_table(collect(tmp_path), "xtreme", resamples=300)
    assert test["columns"] == ["xnli", "pawsx", "tatoeba", "average"]
    lines = {r["name"]: r["cells"] for r in test["groups"][0]["rows"]}
    assert list(lines) == ["none", "english (chosen on dev)", "mlm (chosen on dev)", "any approach (chosen on dev)"]
    english = lines["english (chosen on dev)"]
    # xnli: mnli (dev 75.0) beats squad (72.5) although squad is better on test.
    assert english["xnli"]["chosen"] == "english/mnli" and english["xnli"]["mean"] == pytest.approx(pct(36, 24))
    assert english["pawsx"]["chosen"] == "english/squad" and english["pawsx"]["mean"] == pytest.approx(pct(30))
    # tatoeba has no dev set: squad has the better dev average (72.5+80)/2 > (75+65)/2.
    assert english["tatoeba"]["chosen"] == "english/squad" and english["tatoeba"]["mean"] == pytest.approx(pct(20))
    none_xnli = statistics.fmean([pct(30, 20), pct(32, 18)])
    assert english["xnli"]["delta"] == pytest.approx(pct(36, 24) - none_xnli)
    assert english["average"]["mean"] == pytest.approx((pct(36, 24) + pct(30) + pct(20)) / 3)
    none_avg = (none_xnli + statistics.fmean([pct(24), pct(26)]) + pct(10)) / 3
    assert english["average"]["delta"] == pytest.approx(english["average"]["mean"] - none_avg)
    assert english["average"]["low"] <= english["average"]["delta"] <= english["average"]["high"]
    mlm = lines["mlm (chosen on dev)"]
    assert mlm["xnli"]["chosen"] == "mlm/mnli" and mlm["xnli"]["tie"] is True
    assert "tatoeba" not in mlm and "average" not in mlm  # no mlm tatoeba cell: partial
    anyone = lines["any approach (chosen on dev)"]
    assert anyone["xnli"]["chosen"] == "english/mnli" and anyone["pawsx"]["chosen"] == "english/squad"
    assert lines["none"]["average"]["seeds"] == 2  # tatoeba's one run counts in both seeds


def test_report_has_both_tables_and_the_published_numbers(tmp_path):
    write_cells(tmp_path / "exp")
    table = write_report(tmp_path / "exp")
    text = (tmp_path / "exp" / "report" / "report.md").read_text()
    assert "## Table 1: dev" in text and "## Table 2: test" in text
    assert "english/mnli" in text and "(tie)" in text and "†" in text
    assert "Selection data per target: xnli: each language's validation split" in text
    assert "Not in Table 1 (no dev set): tatoeba" in text
    assert "Not finished yet (no results.json with DONE): mlm/mnli: tatoeba; mlm/squad: pawsx, tatoeba." in text
    assert "## Published numbers beside ours" in text and "rembert2021" in text
    pub = {e["task"]: e for e in table["published"]["test"]}
    assert pub["xnli"]["xlmr"]["published"] == 79.2
    assert pub["xnli"]["xlmr"]["difference"] == pytest.approx(statistics.fmean([pct(30, 20), pct(32, 18)]) - 79.2)
    csv_text = (tmp_path / "exp" / "report" / "protocol.csv").read_text()
    assert csv_text.splitlines()[0].startswith("table,variant,row,column,mean,std,seeds,delta_vs_none,ci_low")
    assert any(line.startswith("test,,english (chosen on dev),xnli,") and "english/mnli" in line
               for line in csv_text.splitlines())
    # Reruns are deterministic: the intervals are seeded.
    again = write_report(tmp_path / "exp")
    assert json.dumps(again["test"], sort_keys=True) == json.dumps(table["test"], sort_keys=True)
