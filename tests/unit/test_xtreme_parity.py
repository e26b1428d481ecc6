"""Scoring parity with XTREME's evaluate.py, target by target, on small files with its quirks.

Each test writes prediction and gold files in XTREME's submission layout (some by hand, with
the irregularities a real file can have: CRLF line ends, stray spaces, duplicates) and scores
them from disk. The expected values are worked out by hand from the rules of evaluate.py and
its third-party scorers (SQuAD v1.1 evaluate, MLQA evaluate, seqeval 0.0.12 / 1.2.2), shown in
the comments, and compared to 1e-6 (percent units).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.errors import DataError
from toolkit.evaluation.metrics import span_f1, tatoeba
from toolkit.evaluation.xtreme_format import score_file, score_files, task_file

TOL = 1e-6


def approx(value: float):
    return pytest.approx(value, abs=TOL)


def put(root: Path, task: str, lang: str, text: str, newline: str = "\n") -> Path:
    """A file of `text` at XTREME's path, its lines ended by `newline`."""
    path = task_file(root, task, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def squad_gold(answers: dict[str, list[str]]) -> str:
    qas = [{"id": key, "answers": [{"text": a} for a in texts]} for key, texts in answers.items()]
    return json.dumps({"version": "1.1", "data": [{"paragraphs": [{"qas": qas}]}]}, ensure_ascii=False)


def tags(*sentences: str) -> str:
    """A tagging file: one tag per line, a blank line after each sentence."""
    return "".join("".join(f"{t}\n" for t in s.split()) + "\n" for s in sentences)


# ---------------------------------------------------------------------------------------------
# XNLI, PAWS-X, XCOPA: accuracy over the stripped lines (XCOPA: their label fields).
# ---------------------------------------------------------------------------------------------


def test_classification_compares_stripped_lines_case_sensitively(tmp_path):
    # evaluate.py reads `line.strip()` per line (universal newlines, so CRLF files read the
    # same) and counts equal strings. Lines: entailment == entailment; " neutral " -> neutral
    # == neutral; Contradiction != contradiction (case kept); neutral != entailment;
    # contradiction == contradiction -> 3 of 5 = 60.
    put(tmp_path / "gold", "xnli", "de", "entailment\nneutral\ncontradiction\nentailment\ncontradiction\n")
    put(tmp_path / "pred", "xnli", "de", "entailment\n neutral \nContradiction\nneutral\ncontradiction\n", "\r\n")
    # PAWS-X labels are "0"/"1" text: "1" == "1", "0" != "1" -> 50.
    put(tmp_path / "gold", "pawsx", "de", "1\n1\n")
    put(tmp_path / "pred", "pawsx", "de", "1\n0\n")
    scores = score_files(tmp_path / "pred", tmp_path / "gold")
    assert scores["xnli"]["metrics"]["de"]["accuracy"] == approx(60.0)
    assert scores["pawsx"]["score"] == approx(50.0)


def test_xcopa_compares_the_label_field_of_each_json_line(tmp_path):
    # XTREME-R's read_xcopa takes `json.loads(line)["label"]` from both files; other keys are
    # ignored. 0 == 0, 1 == 1 (beside an extra key), 0 != 1 -> 2 of 3.
    put(tmp_path / "gold", "xcopa", "et", '{"label": 0}\n{"label": 1}\n{"label": 1}\n')
    put(tmp_path / "pred", "xcopa", "et", '{"label": 0}\n{"idx": 5, "label": 1}\n{"label": 0}\n')
    scores = score_files(tmp_path / "pred", tmp_path / "gold", benchmark="xtreme_r")
    assert scores["xcopa"]["metrics"]["et"]["accuracy"] == approx(200 / 3)


# ---------------------------------------------------------------------------------------------
# UD-POS: seqeval span F1 over POS tags, under seqeval 0.0.x and 1.x.
# ---------------------------------------------------------------------------------------------

UDPOS_GOLD = ("NOUN NOUN VERB CCONJ X", "SCONJ PRON VERB X")
UDPOS_PRED = ("NOUN VERB VERB SCONJ X", "CCONJ PRON VERB NOUN")


def test_udpos_span_f1_under_both_seqeval_releases(tmp_path):
    put(tmp_path / "gold", "udpos", "en", tags(*UDPOS_GOLD))
    put(tmp_path / "pred", "udpos", "en", tags(*UDPOS_PRED))
    # seqeval joins the sentences with an O after each:
    #   gold  NOUN NOUN VERB CCONJ X O SCONJ PRON VERB X O      (positions 0..10)
    #   pred  NOUN VERB VERB SCONJ X O CCONJ PRON VERB NOUN O
    # The first letter is the chunk marker; a chunk ends where the type changes after a non-O
    # tag, and S (SCONJ) chunks are single tokens.
    # 0.0.x, type = text after the last '-' = the whole POS tag:
    #   gold spans (type, start, end): NOUN 0-1, VERB 2, CCONJ 3, X 4, SCONJ 6, PRON 7, VERB 8, X 9
    #   pred spans: NOUN 0, VERB 1-2, SCONJ 3, X 4, CCONJ 6, PRON 7, VERB 8, NOUN 9
    #   correct: X 4, PRON 7, VERB 8 -> P = R = F1 = 3/8 = 37.5
    old = score_file(task_file(tmp_path / "pred", "udpos", "en"), task_file(tmp_path / "gold", "udpos", "en"),
                     "udpos", "en")
    assert old == {"precision": approx(37.5), "recall": approx(37.5), "f1": approx(37.5)}
    # 1.x, type = text after the first letter ('_' if none): NOUN->OUN, VERB->ERB, PRON->RON,
    # CCONJ and SCONJ -> CONJ, X and the padding O -> '_'. An X chunk then never ends (the
    # next tag, O, has its type), so both gold X spans vanish:
    #   gold spans: OUN 0-1, ERB 2, CONJ 3, CONJ 6, RON 7, ERB 8                      (6)
    #   pred spans: OUN 0, ERB 1-2, CONJ 3, CONJ 6, RON 7, ERB 8, OUN 9               (7)
    #   correct: CONJ 3 (gold CCONJ, predicted SCONJ), CONJ 6, RON 7, ERB 8 -> 4
    #   P = 4/7, R = 4/6, F1 = 2PR/(P+R) = 8/13
    new = score_files(tmp_path / "pred", tmp_path / "gold", seqeval="1.x")["udpos"]
    assert new["metrics"]["en"] == {"precision": approx(400 / 7), "recall": approx(400 / 6),
                                    "f1": approx(800 / 13)}
    assert new["score"] == approx(800 / 13)


def test_seqeval_0x_types_survive_tags_with_dashes():
    # 0.0.x: "B-" has the empty type and "B-_" the type "_": different types, so the gold
    # spans are (B, "") at 0 and (B, "_") at 1 and the prediction, with the types swapped,
    # gets neither: P = R = F1 = 0. (A naive rewrite would give both the type "_".)
    gold, pred = {"s": ["B-", "B-_"]}, {"s": ["B-_", "B-"]}
    assert span_f1(pred, gold)["f1"] == 0.0
    assert span_f1(gold, gold)["f1"] == approx(100.0)


# ---------------------------------------------------------------------------------------------
# PAN-X: IOB spans, the same under both releases.
# ---------------------------------------------------------------------------------------------


def test_panx_lenient_iob_spans(tmp_path):
    put(tmp_path / "gold", "panx", "de", tags("B-PER I-PER O B-LOC", "I-ORG I-ORG O"))
    put(tmp_path / "pred", "panx", "de", tags("I-PER I-PER O B-LOC", "B-ORG I-LOC O"))
    # Joined: gold B-PER I-PER O B-LOC O I-ORG I-ORG O O; an I- after O starts a span.
    #   gold spans: PER 0-1, LOC 3, ORG 5-6                                           (3)
    #   pred spans: PER 0-1 (I-PER after O starts it), LOC 3, ORG 5, LOC 6 (I-LOC after
    #   another type starts a new span)                                               (4)
    #   correct: PER 0-1, LOC 3 -> P = 2/4, R = 2/3, F1 = 4/7
    for seqeval in ("0.0.x", "1.x"):
        scores = score_files(tmp_path / "pred", tmp_path / "gold", seqeval=seqeval)["panx"]
        assert scores["metrics"]["de"] == {"precision": approx(50.0), "recall": approx(200 / 3),
                                           "f1": approx(400 / 7)}


# ---------------------------------------------------------------------------------------------
# XQuAD and TyDiQA-GoldP: SQuAD v1.1's English normalisation for every language.
# ---------------------------------------------------------------------------------------------


def test_xquad_squad_normalisation_quirks(tmp_path):
    put(tmp_path / "gold", "xquad", "de", squad_gold({
        "q1": ["The Eiffel Tower"], "q2": ["«Faust»"], "q3": ["the"], "q4": ["die Katze", "Katze"], "q5": ["Rom"],
    }))
    put(tmp_path / "pred", "xquad", "de", json.dumps({
        "q1": "eiffel tower.", "q2": "Faust", "q3": "A", "q4": "die Katze Katze", "unknown": "x",
    }, ensure_ascii=False))
    # Normalise: lower case, drop ASCII punctuation, drop the words a/an/the, collapse spaces.
    # q1: "eiffel tower" both                                        EM 1, F1 1
    # q2: « » are not ASCII punctuation: "«faust»" vs "faust"         EM 0, F1 0
    # q3: both normalise to "" -> equal strings but no tokens         EM 1, F1 0
    # q4: German "die" is kept; best gold "die katze": common 2 of 3 predicted -> P 2/3, R 1,
    #     F1 0.8 ("katze" alone: 0.5)                                 EM 0, F1 0.8
    # q5: no prediction counts 0; "unknown" is ignored                EM 0, F1 0
    # EM = 2/5 = 40, F1 = 1.8/5 = 36, score = 38.
    scores = score_files(tmp_path / "pred", tmp_path / "gold")["xquad"]
    assert scores["metrics"]["de"] == {"exact_match": approx(40.0), "f1": approx(36.0)}
    assert scores["score"] == approx(38.0)


def test_tydiqa_scores_arabic_with_english_rules(tmp_path):
    put(tmp_path / "gold", "tydiqa", "ar", squad_gold({"q1": ["الكتاب"], "q2": ["نعم"], "q3": ["Paris"]}))
    put(tmp_path / "pred", "tydiqa", "ar", json.dumps({"q1": "كتاب", "q2": "نعم؟", "q3": "paris!"}))
    # SQuAD rules: no Arabic article removal (q1 EM 0, F1 0), the Arabic question mark is not
    # ASCII punctuation (q2 "نعم؟" vs "نعم": 0, 0), "paris!" -> "paris" (q3: 1, 1).
    # EM = F1 = 1/3.
    scores = score_files(tmp_path / "pred", tmp_path / "gold")["tydiqa"]
    assert scores["metrics"]["ar"] == {"exact_match": approx(100 / 3), "f1": approx(100 / 3)}


# ---------------------------------------------------------------------------------------------
# MLQA: normalisation by the file's language.
# ---------------------------------------------------------------------------------------------


def test_mlqa_language_specific_normalisation(tmp_path):
    gold, pred = tmp_path / "gold", tmp_path / "pred"
    put(gold, "mlqa", "es", squad_gold({"q1": ["el Museo del Prado"], "q2": ["¿Por qué?"], "q3": ["the answer"]}))
    put(pred, "mlqa", "es", json.dumps({"q1": "Museo del Prado", "q2": "por que", "q3": "answer"}))
    # es: Unicode punctuation goes (¿ and ?), Spanish articles go (el; "del" is not one),
    # English ones stay. q1 EM 1 F1 1; q2 "por qué" vs "por que": EM 0, F1 2(.5)(.5)/1 = 0.5;
    # q3 "the answer" vs "answer": EM 0, P 1, R 1/2, F1 2/3.
    # EM 1/3, F1 (1 + 0.5 + 2/3)/3 = 13/18.
    put(gold, "mlqa", "zh", squad_gold({"q1": ["北京大学"], "q2": ["2008年"]}))
    put(pred, "mlqa", "zh", json.dumps({"q1": "北京", "q2": "2008 年"}))
    # zh: each CJK character is a token, other runs split on spaces. q1 [北 京] vs [北 京 大 学]:
    # EM 0, P 1, R 1/2, F1 2/3; q2 "2008年" -> [2008 年] = "2008 年" -> EM 1, F1 1.
    # EM 1/2, F1 5/6.
    put(gold, "mlqa", "ar", squad_gold({"q1": ["الكتاب"], "q2": ["مدينة الرياض"], "q3": ["حالة"]}))
    put(pred, "mlqa", "ar", json.dumps({"q1": "كتاب", "q2": "الرياض", "q3": "ح ة"}))
    # ar: every "ال" is replaced by a space, also inside a word. q1 "كتاب" both: 1, 1;
    # q2 [مدينة رياض] vs [رياض]: EM 0, P 1, R 1/2, F1 2/3; q3 "حالة" -> "ح ة" equals the
    # prediction: 1, 1. EM 2/3, F1 8/9.
    put(gold, "mlqa", "de", squad_gold({"q1": ["die Katze"]}))
    put(pred, "mlqa", "de", json.dumps({"q1": "Katze"}))
    # de: "die" is a German article: EM 1, F1 1.
    scores = score_files(pred, gold)["mlqa"]["metrics"]
    assert scores["es"] == {"exact_match": approx(100 / 3), "f1": approx(1300 / 18)}
    assert scores["zh"] == {"exact_match": approx(50.0), "f1": approx(500 / 6)}
    assert scores["ar"] == {"exact_match": approx(200 / 3), "f1": approx(800 / 9)}
    assert scores["de"] == {"exact_match": approx(100.0), "f1": approx(100.0)}
    # Score: mean EM (1/3 + 1/2 + 2/3 + 1)/4 = 5/8, mean F1 (13/18 + 5/6 + 8/9 + 1)/4 = 31/36;
    # (5/8 + 31/36)/2 = 107/144.
    assert score_files(pred, gold)["mlqa"]["score"] == approx(10700 / 144)


# ---------------------------------------------------------------------------------------------
# BUCC: set F1 of the mined pairs.
# ---------------------------------------------------------------------------------------------


def test_bucc_pairs_are_sets_of_stripped_lines(tmp_path):
    put(tmp_path / "gold", "bucc2018", "de", "de-1\ten-1\nde-2\ten-2\nde-3\ten-3\nde-4\ten-4\nde-4\ten-4\n")
    put(tmp_path / "pred", "bucc2018", "de", "de-1\ten-1\nde-1\ten-1\nde-2\ten-9\nen-3\tde-3\nde-4\ten-4  \n")
    # Gold set: 4 pairs (the repeated line once). Predicted set: (de-1,en-1) once,
    # (de-2,en-9), the reversed (en-3,de-3), and (de-4,en-4) once its trailing spaces are
    # stripped -> 4 pairs, 2 correct: P = R = F1 = 50.
    scores = score_files(tmp_path / "pred", tmp_path / "gold")["bucc2018"]
    assert scores["metrics"]["de"] == {"precision": approx(50.0), "recall": approx(50.0), "f1": approx(50.0)}
    put(tmp_path / "pred", "bucc2018", "de", "de-1\ten-1\tx\n")
    with pytest.raises(DataError, match=r"line 1: .* is not 'source_id<TAB>target_id'"):
        score_files(tmp_path / "pred", tmp_path / "gold")


# ---------------------------------------------------------------------------------------------
# Tatoeba: accuracy over the lines' text.
# ---------------------------------------------------------------------------------------------


def test_tatoeba_compares_index_text(tmp_path):
    put(tmp_path / "gold", "tatoeba", "de", "0\n1\n2\n3\n12\n")
    put(tmp_path / "pred", "tatoeba", "de", "0\n5\n 2 \n3\n012\n")
    # Stripped lines compared as text: 0 yes, 5 no, "2" yes, 3 yes, "012" is not "12" -> 3/5.
    assert score_files(tmp_path / "pred", tmp_path / "gold")["tatoeba"]["score"] == approx(60.0)
    # In memory the retrieval code passes ints, which compare as their text.
    assert tatoeba({"a": 12, "b": 3}, {"a": "12", "b": "4"})["accuracy"] == approx(50.0)
    put(tmp_path / "pred", "tatoeba", "de", "0\n5\n[2]\n3\n12\n")  # numpy's str() of an index row
    with pytest.raises(DataError, match=r"line 3: '\[2\]' is not an integer index"):
        score_files(tmp_path / "pred", tmp_path / "gold")
