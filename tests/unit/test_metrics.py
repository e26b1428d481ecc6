"""XTREME metrics and language lists against hand-computed cases."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.fixtures.data import shared_data_root
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation.metrics import (
    METRICS,
    accuracy,
    bucc,
    mlqa,
    normalize_answer,
    span_f1,
    squad,
    squad_v2,
    summarise,
    tagging_accuracy,
    task_score,
    tatoeba,
)
from toolkit.tasks.languages import TATOEBA_CODES, TYDIQA_LANGUAGE_NAMES, UD_LANGUAGE_NAMES, file_code
from toolkit.tasks.benchmarks import check_languages, get_benchmark, official_languages
from toolkit.tasks.registry import all_tasks

XTREME_LANGUAGES = get_benchmark("xtreme").languages
XTREME_R_LANGUAGES = get_benchmark("xtreme_r").languages
XTREME_TASK_METRICS = {s.xtreme_id: s.metric for s in all_tasks().values() if s.target}


def shared_data() -> Path:
    return shared_data_root()


def approx(value: float):
    return pytest.approx(value, abs=1e-9)


# --- language lists ---------------------------------------------------------------------------


def test_xtreme_language_counts_and_english():
    counts = {task: len(langs) for task, langs in XTREME_LANGUAGES.items()}
    assert counts == {
        "xnli": 15, "pawsx": 7, "udpos": 33, "panx": 40, "xquad": 11,
        "mlqa": 7, "tydiqa": 9, "bucc2018": 4, "tatoeba": 36,
    }
    for task, langs in XTREME_LANGUAGES.items():
        assert len(set(langs)) == len(langs), task
        assert ("en" in langs) == (task not in ("bucc2018", "tatoeba")), task


def test_xtreme_r_changed_sets():
    assert "pawsx" not in XTREME_R_LANGUAGES and "bucc2018" not in XTREME_R_LANGUAGES
    assert XTREME_R_LANGUAGES["xcopa"] == ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")
    assert len(XTREME_R_LANGUAGES["tatoeba"]) == 41 and "ro" in XTREME_R_LANGUAGES["tatoeba"]
    assert len(XTREME_R_LANGUAGES["udpos"]) == 38 and "wo" in XTREME_R_LANGUAGES["udpos"]
    assert len(XTREME_R_LANGUAGES["panx"]) == 48
    assert XTREME_R_LANGUAGES["xquad"][-1] == "ro" and "ro" not in XTREME_LANGUAGES["xquad"]
    assert official_languages("xquad", "xtreme_r") == XTREME_R_LANGUAGES["xquad"]


def test_every_listed_language_has_its_file_code():
    for task, codes in (("tatoeba", TATOEBA_CODES), ("udpos", UD_LANGUAGE_NAMES), ("tydiqa", TYDIQA_LANGUAGE_NAMES)):
        for lists in (XTREME_LANGUAGES, XTREME_R_LANGUAGES):
            assert set(lists[task]) <= set(codes), task
    assert file_code("tatoeba", "fa") == "pes"
    assert file_code("tatoeba", "zh") == "cmn"
    assert file_code("tatoeba", "sw") == "swh"
    assert file_code("udpos", "de") == "German"
    assert file_code("tydiqa", "ar") == "arabic"
    assert file_code("panx", "de") == "de"
    with pytest.raises(ConfigError, match="'deu'"):
        file_code("tatoeba", "deu")


def test_check_languages_accepts_valid_and_names_nearest_for_unknown():
    assert check_languages("xnli", ["de", "en"]) == ("de", "en")
    with pytest.raises(ConfigError) as err:
        check_languages("xnli", ["de", "dee", "ja"])
    message = str(err.value)
    assert "'dee'" in message and "did you mean 'de'" in message and "'ja'" in message
    with pytest.raises(ConfigError, match="file code of 'de'"):
        check_languages("tatoeba", ["deu"])
    with pytest.raises(ConfigError, match="file code of 'de'"):
        check_languages("udpos", ["German"])
    with pytest.raises(ConfigError, match="more than once: de"):
        check_languages("pawsx", ["de", "de"])
    with pytest.raises(ConfigError, match="did you mean 'xnli'"):
        check_languages("xnil", ["de"])
    with pytest.raises(ConfigError, match="xtreme_r"):
        check_languages("xquad", ["de"], benchmark="xtreme-r")


def test_tatoeba_and_ud_codes_match_the_shared_files():
    root = shared_data()
    if not root.is_dir():
        pytest.skip(f"shared evaluation data not found at {root}")
    by_code = {code: lang for lang, code in TATOEBA_CODES.items()}
    for path in sorted((root / "tatoeba").glob("tatoeba.*-eng.eng")):
        code = path.name.split(".")[1].split("-")[0]
        assert code in by_code, path
        lang = by_code[code]
        assert lang in XTREME_LANGUAGES["tatoeba"], path
        assert (root / "tatoeba" / f"tatoeba.{file_code('tatoeba', lang)}-eng.{code}").is_file()
    names = {name: lang for lang, name in UD_LANGUAGE_NAMES.items()}
    for folder in sorted((root / "udpos").glob("UD_*")):
        name = folder.name[3:].split("-")[0]
        lang = names[name]
        assert any(f.name.startswith(f"{lang}_") for f in folder.glob("*.conllu")), folder


# --- QA ---------------------------------------------------------------------------------------


def test_squad_normalisation():
    assert normalize_answer("The  Quick, brown-fox!") == "quick brownfox"
    assert normalize_answer("an apple a day") == "apple day"
    assert normalize_answer("Theatre") == "theatre"  # articles only as whole words
    assert normalize_answer("«Berlin»") == "«berlin»"  # SQuAD strips ASCII punctuation only


def test_squad_em_f1_max_over_golds_and_average():
    golds = {"q1": ["Eiffel Tower", "the tower"], "q2": ["Eiffel Tower"]}
    preds = {"q1": "the Eiffel Tower.", "q2": "Eiffel", "extra": "ignored"}
    # q1: exact after normalisation. q2: P = 1, R = 1/2, F1 = 2/3.
    result = squad(preds, golds)
    assert result["exact_match"] == approx(50.0)
    assert result["f1"] == approx(100 * (1 + 2 / 3) / 2)


def test_missing_prediction_counts_as_wrong_and_is_reported(caplog):
    golds = {"q1": ["Paris"], "q2": ["Rome"]}
    with caplog.at_level(logging.WARNING):
        result = squad({"q1": "Paris"}, golds)
    assert result == {"exact_match": approx(50.0), "f1": approx(50.0)}
    assert "1 of 2" in caplog.text and "'q2'" in caplog.text


def test_squad_v1_rejects_unanswerable_and_non_text():
    with pytest.raises(DataError, match="squad_v2"):
        squad({"q": ""}, {"q": []})
    with pytest.raises(DataError, match="expected a list of answer texts"):
        squad({"q": "x"}, {"q": "x"})
    with pytest.raises(DataError, match="expected answer text"):
        squad({"q": 3}, {"q": ["3"]})


def test_squad_v2_no_answer_and_breakdown():
    golds = {"a1": ["Paris"], "a2": ["Rome", "rome city"], "n1": [], "n2": []}
    preds = {"a1": "Paris", "a2": "", "n1": "", "n2": "London"}
    # a1 right; a2 abstains on an answerable question (0); n1 right (empty = no answer);
    # n2 answers an unanswerable question (0).
    result = squad_v2(preds, golds)
    assert result["exact_match"] == approx(50.0) and result["f1"] == approx(50.0)
    assert result["has_ans_exact_match"] == approx(50.0) and result["has_ans_f1"] == approx(50.0)
    assert result["no_ans_exact_match"] == approx(50.0) and result["no_ans_f1"] == approx(50.0)


def test_squad_v2_missing_prediction_is_not_a_no_answer():
    result = squad_v2({}, {"n1": []})
    assert result["exact_match"] == 0.0 and result["no_ans_f1"] == 0.0
    assert "has_ans_f1" not in result
    # A gold answer that normalises to nothing ("the") leaves the question unanswerable.
    assert squad_v2({"q": ""}, {"q": ["the"]})["exact_match"] == approx(100.0)


def test_mlqa_articles_per_language():
    # German: "der" is an article under MLQA's de rules, a token under SQuAD's.
    assert mlqa({"q": "der Hund"}, {"q": ["Hund"]}, language="de")["exact_match"] == approx(100.0)
    english = squad({"q": "der Hund"}, {"q": ["Hund"]})
    assert english["exact_match"] == 0.0 and english["f1"] == approx(100 * 2 / 3)
    assert mlqa({"q": "Los perros"}, {"q": ["perros"]}, language="es")["exact_match"] == approx(100.0)
    assert mlqa({"q": "những con mèo"}, {"q": ["con mèo"]}, language="vi")["exact_match"] == approx(100.0)
    # Arabic: every "ال" goes (the official pattern), so the definite form matches the bare one.
    assert mlqa({"q": "الكتاب"}, {"q": ["كتاب"]}, language="ar")["exact_match"] == approx(100.0)
    # Hindi has no article list: "the" is kept.
    assert mlqa({"q": "the नमस्ते"}, {"q": ["नमस्ते"]}, language="hi")["exact_match"] == 0.0


def test_mlqa_unicode_punctuation_but_not_symbols():
    assert mlqa({"q": "«Berlin»"}, {"q": ["Berlin"]}, language="de")["exact_match"] == approx(100.0)
    assert mlqa({"q": "5$"}, {"q": ["5"]}, language="en")["exact_match"] == approx(100.0)  # ASCII $
    assert mlqa({"q": "5€"}, {"q": ["5"]}, language="en")["exact_match"] == 0.0  # € is a symbol


def test_mlqa_chinese_is_character_level():
    # 北京大学 vs 北京: 4 predicted characters, 2 in common: P = 1/2, R = 1, F1 = 2/3.
    result = mlqa({"q": "北京大学"}, {"q": ["北京"]}, language="zh")
    assert result["exact_match"] == 0.0 and result["f1"] == approx(100 * 2 / 3)
    assert squad({"q": "北京大学"}, {"q": ["北京"]})["f1"] == 0.0  # one whitespace token each
    assert normalize_answer("2008年 的 Olympics。", "zh") == "2008 年 的 olympics"


def test_mlqa_needs_a_known_context_language():
    with pytest.raises(ConfigError, match="context language"):
        mlqa({"q": "a"}, {"q": ["a"]})
    with pytest.raises(ConfigError, match="'fr'"):
        mlqa({"q": "a"}, {"q": ["a"]}, language="fr")


# --- tagging ----------------------------------------------------------------------------------


def test_seqeval_i_tags_without_b_start_a_span():
    golds = {"s": ["B-PER", "I-PER", "O"]}
    assert span_f1({"s": ["I-PER", "I-PER", "O"]}, golds)["f1"] == approx(100.0)
    assert span_f1({"s": ["B-PER", "I-LOC", "O"]}, golds)["f1"] == 0.0


def test_seqeval_partial_spans_and_missing_sentence():
    golds = {"s1": ["B-PER", "I-PER", "O", "B-LOC"], "s2": ["B-ORG"]}
    # s1 predicted spans PER(0,0) and LOC(3,3): only LOC is right; s2 has no prediction.
    result = span_f1({"s1": ["B-PER", "O", "O", "B-LOC"]}, golds)
    assert result["precision"] == approx(50.0)
    assert result["recall"] == approx(100 / 3)
    assert result["f1"] == approx(100 * 2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))


def test_seqeval_on_pos_tags_as_xtreme_scores_them():
    # A run of identical tags is one span: NOUN NOUN VERB vs NOUN VERB VERB shares no span
    # although two of three tokens are right.
    golds = {"s": ["NOUN", "NOUN", "VERB"]}
    assert span_f1({"s": ["NOUN", "VERB", "VERB"]}, golds)["f1"] == 0.0
    assert tagging_accuracy({"s": ["NOUN", "VERB", "VERB"]}, golds)["accuracy"] == approx(200 / 3)
    # Tags starting with S are single-token spans: SYM SYM is two spans.
    result = span_f1({"s": ["SYM", "X"]}, {"s": ["SYM", "SYM"]})
    assert result["precision"] == approx(50.0) and result["recall"] == approx(50.0)
    # CCONJ and SCONJ are different spans (seqeval 0.0.x types, as in XTREME's numbers), the
    # same type CONJ under seqeval 1.x.
    result = span_f1({"s": ["NOUN", "SCONJ", "NOUN"]}, {"s": ["NOUN", "CCONJ", "NOUN"]})
    assert result["f1"] == approx(200 / 3)
    assert span_f1({"s": ["NOUN", "SCONJ", "NOUN"]}, {"s": ["NOUN", "CCONJ", "NOUN"]}, seqeval="1.x")["f1"] == 100.0
    # Under 1.x a sentence-final X has the padding O's type, so its span never closes and is
    # not counted: the gold spans are NOUN alone, and mistagging the X loses no recall.
    result = span_f1({"s": ["NOUN", "VERB"]}, {"s": ["NOUN", "X"]}, seqeval="1.x")
    assert (result["recall"], result["precision"]) == (approx(100.0), approx(50.0))
    assert span_f1({"s": ["NOUN", "VERB"]}, {"s": ["NOUN", "X"]})["recall"] == approx(50.0)  # 0.0.x
    with pytest.raises(ConfigError, match="seqeval='1.2' is not one of 0.0.x, 1.x"):
        span_f1({"s": ["X"]}, {"s": ["X"]}, seqeval="1.2")


def test_tagging_length_mismatch_names_the_example():
    with pytest.raises(DataError, match="'s7' has 2 gold tags but 1 predicted"):
        span_f1({"s7": ["O"]}, {"s7": ["O", "O"]})


def test_tagging_accuracy_counts_missing_sentences_as_wrong():
    golds = {"s1": ["NP", "S/NP", "NP"], "s2": ["N"]}
    assert tagging_accuracy({"s1": ["NP", "N", "NP"]}, golds)["accuracy"] == approx(50.0)


# --- classification, retrieval ----------------------------------------------------------------


def test_accuracy():
    golds = {"a": "entailment", "b": "neutral", "c": "contradiction"}
    preds = {"a": "entailment", "b": "contradiction", "zzz": "neutral"}
    assert accuracy(preds, golds)["accuracy"] == approx(100 / 3)
    with pytest.raises(DataError, match="no label"):
        accuracy({"a": "x"}, {"a": None})
    with pytest.raises(DataError, match="no gold examples"):
        accuracy({"a": "x"}, {})


def test_tatoeba_top1_accuracy():
    assert tatoeba({"0": 0, "1": 5, "2": 2}, {"0": 0, "1": 1, "2": 2})["accuracy"] == approx(200 / 3)
    assert tatoeba({"0": "7"}, {"0": 7})["accuracy"] == 100.0  # a file's text is compared as text
    for bad in ("seven", 7.0, True):
        with pytest.raises(DataError, match="integer index"):
            tatoeba({"0": bad}, {"0": 7})


def test_bucc_counts_duplicate_pairs_once():
    gold = [("de-1", "en-1"), ("de-2", "en-2"), ("de-3", "en-3")]
    pred = [("de-1", "en-1"), ("de-1", "en-1"), ("de-2", "en-9")]
    # Predicted set {(de-1,en-1), (de-2,en-9)}: P = 1/2, R = 1/3, F1 = 2/5.
    result = bucc(pred, gold)
    assert result == {"precision": approx(50.0), "recall": approx(100 / 3), "f1": approx(40.0)}
    assert bucc({"de-1": "en-1"}, gold)["precision"] == approx(100.0)  # mapping src -> trg
    assert bucc([("de-7", "en-7")], gold) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    with pytest.raises(DataError, match="pair"):
        bucc(["de-1"], gold)


# --- registry, task scores, summaries ---------------------------------------------------------


def test_registry_and_task_score():
    assert set(METRICS) == {
        "accuracy", "squad", "squad_v2", "mlqa", "seqeval", "tagging_accuracy", "bucc", "tatoeba", "mlm_accuracy",
    }
    from toolkit.tasks.registry import all_tasks

    assert {t.metric for t in all_tasks().values()} <= set(METRICS)  # every task's metric exists
    assert set(XTREME_TASK_METRICS.values()) <= set(METRICS)
    assert task_score("squad", {"f1": 80.0, "exact_match": 70.0}) == approx(75.0)
    assert task_score("mlqa", {"f1": 60.0, "exact_match": 40.0}) == approx(50.0)
    assert task_score("seqeval", {"f1": 61.0, "precision": 1.0, "recall": 2.0}) == approx(61.0)
    assert task_score("bucc", {"f1": 33.0, "precision": 1.0, "recall": 2.0}) == approx(33.0)
    assert task_score("tatoeba", {"accuracy": 12.5}) == approx(12.5)
    with pytest.raises(ConfigError, match="did you mean 'squad'"):
        task_score("sqaud", {"f1": 1.0})
    with pytest.raises(DataError, match="exact_match"):
        task_score("squad", {"f1": 1.0})


def test_summarise_counts_only_official_languages_evaluated():
    per_lang = {
        "en": {"f1": 90.0, "exact_match": 80.0},
        "de": {"f1": 70.0, "exact_match": 50.0},
        "ro": {"f1": 10.0, "exact_match": 0.0},  # not on XTREME's XQuAD list
    }
    average, score = summarise("xquad", per_lang)
    assert average == {"f1": approx(80.0), "exact_match": approx(65.0)}
    assert score == approx(72.5)
    average, score = summarise("xquad", per_lang, benchmark="xtreme_r")  # XTREME-R counts ro
    assert average["f1"] == approx(170 / 3) and score == approx((170 / 3 + 130 / 3) / 2)


def test_summarise_retrieval_and_errors():
    # English is not on Tatoeba's list (retrieval into English).
    average, score = summarise("tatoeba", {"de": {"accuracy": 90.0}, "en": {"accuracy": 0.0}})
    assert score == approx(90.0) and average == {"accuracy": approx(90.0)}
    with pytest.raises(ConfigError, match="none of the evaluated languages"):
        summarise("tatoeba", {"en": {"accuracy": 50.0}})
    with pytest.raises(DataError, match="'de' has metrics"):
        summarise("panx", {"en": {"f1": 1.0}, "de": {"accuracy": 1.0}})
    with pytest.raises(ConfigError, match="did you mean 'pawsx'"):
        summarise("paws", {"en": {"accuracy": 1.0}})
