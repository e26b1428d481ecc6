"""XTREME submission files: exact layout, atomic writes, and scoring from disk."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from tests.fixtures.data import shared_data_root
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation.metrics import METRICS, summarise
from toolkit.tasks.benchmarks import target_spec
from toolkit.evaluation.xtreme_format import (
    read_gold,
    read_predictions,
    score_files,
    task_file,
    write_gold,
    write_predictions,
)


def shared_data() -> Path:
    return shared_data_root()


# Per task: {lang: (predictions, golds)} in the in-memory shapes the metrics take.
FIXTURES = {
    "xnli": {
        "en": ({"a": "entailment", "b": "neutral", "c": "neutral"},
               {"a": "entailment", "b": "neutral", "c": "contradiction"}),
        "de": ({"a": "neutral", "b": "neutral"}, {"a": "entailment", "b": "neutral"}),
    },
    "pawsx": {"de": ({"x": "1", "y": "0"}, {"x": "1", "y": "1"})},
    "panx": {
        "en": ({"s1": ["B-PER", "I-PER", "O"], "s2": [], "s3": ["I-LOC"]},
               {"s1": ["B-PER", "I-PER", "O"], "s2": [], "s3": ["B-ORG"]}),
        "de": ({"s1": ["B-LOC", "O"]}, {"s1": ["B-LOC", "B-LOC"]}),
    },
    "udpos": {
        "en": ({"s1": ["NOUN", "SCONJ", "VERB", "VERB"], "s2": ["SYM"], "s3": []},
               {"s1": ["NOUN", "CCONJ", "VERB", "VERB"], "s2": ["SYM"], "s3": []}),
    },
    "xquad": {
        "en": ({"q1": "the Eiffel Tower", "q2": "Paris"}, {"q1": ["Eiffel Tower"], "q2": ["in Paris", "Paris"]}),
        "de": ({"q1": "der Turm"}, {"q1": ["Turm"], "q2": ["Paris"]}),
        "ro": ({"q1": "x"}, {"q1": ["y"]}),  # not on XTREME's XQuAD list
    },
    "mlqa": {
        "de": ({"q1": "der Turm", "q2": "Paris"}, {"q1": ["Turm"], "q2": ["Rom"]}),
        "zh": ({"q1": "北京大学"}, {"q1": ["北京"]}),
    },
    "tydiqa": {"ar": ({"q": "القاهرة"}, {"q": ["القاهرة", "مصر"]})},
    "bucc2018": {
        "de": ([("de-1", "en-1"), ("de-1", "en-1"), ("de-2", "en-9")],
               [("de-1", "en-1"), ("de-2", "en-2"), ("de-3", "en-3")]),
    },
    "tatoeba": {
        "de": ({"0": 0, "1": 2, "2": 2}, {"0": 0, "1": 1, "2": 2}),
        "fr": ({"0": 1, "1": 0}, {"0": 0, "1": 1}),
    },
}


def write_fixture(pred_dir: Path, gold_dir: Path, task: str) -> None:
    for lang, (preds, golds) in FIXTURES[task].items():
        write_gold(gold_dir, task, lang, golds)
        write_predictions(pred_dir, task, lang, preds, None if task == "bucc2018" else list(golds))


@pytest.mark.parametrize("task", sorted(FIXTURES))
def test_round_trip_scores_equal_in_memory_metrics(tmp_path, task):
    write_fixture(tmp_path / "pred", tmp_path / "gold", task)
    scored = score_files(tmp_path / "pred", tmp_path / "gold", [task])[task]
    metric = METRICS[target_spec(task).metric]
    expected = {lang: metric(p, g, language=lang) for lang, (p, g) in FIXTURES[task].items()}
    assert scored["metrics"].keys() == expected.keys()
    for lang in expected:
        assert scored["metrics"][lang] == pytest.approx(expected[lang])
    average, score = summarise(task, expected)
    assert scored["average"] == pytest.approx(average)
    assert scored["score"] == pytest.approx(score)


def test_hand_computed_scores_over_a_partial_language_set(tmp_path):
    for task in ("xquad", "bucc2018", "udpos"):
        write_fixture(tmp_path / "pred", tmp_path / "gold", task)
    scored = score_files(tmp_path / "pred", tmp_path / "gold")
    # XQuAD en: both exact (q2 takes the best of its two gold answers). de: q1 "der Turm" vs
    # "Turm" under SQuAD rules is EM 0, F1 2/3; q2 has no prediction.
    xquad = scored["xquad"]
    assert xquad["metrics"]["en"] == pytest.approx({"exact_match": 100.0, "f1": 100.0})
    assert xquad["metrics"]["de"] == pytest.approx({"exact_match": 0.0, "f1": 100 / 3})
    assert "ro" in xquad["metrics"]  # scored, but not averaged: not on XTREME's list
    assert xquad["average"] == pytest.approx({"exact_match": 50.0, "f1": (100 + 100 / 3) / 2})
    assert xquad["score"] == pytest.approx((50.0 + (100 + 100 / 3) / 2) / 2)
    assert scored["bucc2018"]["score"] == pytest.approx(40.0)  # duplicates count once
    # UD-POS en spans: gold NOUN, CCONJ, VERB-run, SYM; predicted NOUN, SCONJ, VERB-run, SYM.
    assert scored["udpos"]["metrics"]["en"]["f1"] == pytest.approx(75.0)


def test_exact_file_layout(tmp_path):
    pred_path = write_predictions(tmp_path, "xnli", "de", {"b": "neutral", "a": "entailment"}, ["a", "b"])
    assert pred_path == tmp_path / "xnli" / "test-de.tsv"
    assert pred_path.read_text() == "entailment\nneutral\n"
    path = write_gold(tmp_path, "panx", "en", {"s1": ["B-PER", "O"], "s2": [], "s3": ["O"]})
    assert path.read_text() == "B-PER\nO\n\n\nO\n\n"
    assert read_gold(path, "panx") == {"0": ["B-PER", "O"], "1": [], "2": ["O"]}
    path = write_predictions(tmp_path, "bucc2018", "fr", [("fr-2", "en-1"), ("fr-1", "en-3"), ("fr-2", "en-1")])
    assert path.read_text() == "fr-1\ten-3\nfr-2\ten-1\n"
    path = write_predictions(tmp_path, "tatoeba", "fr", {"x": 3, "y": 0}, ["x", "y"])
    assert path.read_text() == "3\n0\n"
    assert read_predictions(path, "tatoeba") == {"0": "3", "1": "0"}  # text, as evaluate.py compares it
    path = write_predictions(tmp_path, "mlqa", "zh", {"q1": "北京"})
    assert path == tmp_path / "mlqa" / "test-zh.json"
    assert json.loads(path.read_text()) == {"q1": "北京"}


def test_qa_gold_is_squad_json(tmp_path):
    path = write_gold(tmp_path, "tydiqa", "en", {"q1": ["a", "b"], "q2": ["c"]})
    data = json.loads(path.read_text())
    qas = [qa for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    assert qas == [{"id": "q1", "answers": [{"text": "a"}, {"text": "b"}]},
                   {"id": "q2", "answers": [{"text": "c"}]}]
    assert read_gold(path, "tydiqa") == {"q1": ["a", "b"], "q2": ["c"]}


def test_writers_reject_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(ConfigError, match="example order"):
        write_predictions(tmp_path, "xnli", "de", {"a": "x"})
    with pytest.raises(DataError, match="1 of 2 examples have no value"):
        write_predictions(tmp_path, "xnli", "de", {"a": "x"}, ["a", "b"])
    with pytest.raises(DataError, match="cannot be written"):
        write_predictions(tmp_path, "xnli", "de", {"a": "two\tfields"}, ["a"])
    with pytest.raises(DataError, match="cannot be written"):
        write_gold(tmp_path, "udpos", "de", {"s": ["NOUN", ""]})
    with pytest.raises(DataError, match="no label"):
        write_gold(tmp_path, "xnli", "de", {"a": None})
    with pytest.raises(DataError, match="expected answer text"):
        write_predictions(tmp_path, "xquad", "de", {"q": None})
    with pytest.raises(ConfigError, match="did you mean 'bucc2018'"):
        task_file(tmp_path, "bucc", "de")


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = write_predictions(tmp_path, "pawsx", "de", {"a": "1"}, ["a"])

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_predictions(tmp_path, "pawsx", "de", {"a": "0"}, ["a"])
    assert path.read_text() == "1\n"  # the failed write left the old file whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["test-de.tsv"]  # no temp files


def test_missing_files_and_count_mismatches_name_the_file(tmp_path):
    pred, gold = tmp_path / "pred", tmp_path / "gold"
    write_predictions(pred, "xnli", "de", {"a": "x", "b": "y"}, ["a", "b"])
    with pytest.raises(DataError, match=r"gold/xnli/test-de\.tsv does not exist"):
        score_files(pred, gold)
    write_gold(gold, "xnli", "de", {"a": "x", "b": "y", "c": "z"})
    with pytest.raises(DataError, match=r"pred/xnli/test-de\.tsv has 2 lines but .*gold/xnli/test-de\.tsv has 3"):
        score_files(pred, gold)
    with pytest.raises(DataError, match=r"pred/xnli/test-fr\.tsv does not exist"):
        score_files(pred, gold, ["xnli"], ["fr"])
    write_gold(gold, "udpos", "de", {"s": ["NOUN", "VERB"]})
    write_predictions(pred, "udpos", "de", {"s": ["NOUN"]}, ["s"])
    with pytest.raises(DataError, match=r"pred/udpos/test-de\.tsv vs .*: .*'0' has 2 gold tags but 1"):
        score_files(pred, gold, ["udpos"])
    (gold / "tatoeba").mkdir()
    (gold / "tatoeba" / "test-de.tsv").write_text("0\nseven\n")
    write_predictions(pred, "tatoeba", "de", {"a": 0, "b": 1}, ["a", "b"])
    with pytest.raises(DataError, match=r"tatoeba/test-de\.tsv, line 2: 'seven' is not an integer"):
        score_files(pred, gold, ["tatoeba"])


def test_qa_missing_predictions_score_zero(tmp_path, caplog):
    write_gold(tmp_path / "gold", "xquad", "de", {"q1": ["Turm"], "q2": ["Paris"]})
    write_predictions(tmp_path / "pred", "xquad", "de", {"q1": "Turm"})
    with caplog.at_level(logging.WARNING):
        scored = score_files(tmp_path / "pred", tmp_path / "gold")
    assert scored["xquad"]["metrics"]["de"] == pytest.approx({"exact_match": 50.0, "f1": 50.0})
    assert "'q2'" in caplog.text


def test_unknown_folders_are_skipped_with_a_warning(tmp_path, caplog):
    write_fixture(tmp_path / "pred", tmp_path / "gold", "pawsx")
    (tmp_path / "pred" / "mewslix").mkdir()
    with caplog.at_level(logging.WARNING):
        scored = score_files(tmp_path / "pred", tmp_path / "gold")
    assert list(scored) == ["pawsx"] and "mewslix" in caplog.text
    assert scored["pawsx"]["score"] == pytest.approx(50.0)


def test_real_xquad_gold_file_scores_its_own_answers():
    path = shared_data() / "xquad" / "xquad.de.json"
    if not path.is_file():
        pytest.skip(f"shared XQuAD data not found at {path}")
    golds = read_gold(path, "xquad")
    assert len(golds) == 1190
    perfect = METRICS["squad"]({k: v[0] for k, v in golds.items()}, golds)
    assert perfect == {"exact_match": 100.0, "f1": 100.0}
    first_word = METRICS["squad"]({k: v[0].split()[0] for k, v in golds.items()}, golds)
    assert 0.0 < first_word["exact_match"] < first_word["f1"] < 100.0
