"""XTREME's own translate-train files, read from fixtures in their published layouts."""

import json
from pathlib import Path

import pytest

from tests.fixtures.data import shared_data_root
from baselines.translate import load_provided, provided_path, read_squad_json, read_translated_pairs
from toolkit.errors import ConfigError, DataError

NLI_LABELS = ("entailment", "neutral", "contradiction")


def shared_data() -> Path:
    return shared_data_root()


def test_xnli_translate_train_five_columns(tmp_path):
    path = tmp_path / "XNLI" / "translate-train" / "en-de-translated.tsv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "A man plays.\tSomeone plays.\tEin Mann spielt.\tJemand spielt.\tentailment\n"
        'He said "no".\tHe agreed.\tEr sagte "nein".\tEr stimmte zu.\tcontradictory\n'
        "\n"
        "It rains.\tIt is wet.\tEs regnet.\tEs ist nass.\tneutral\n",
        encoding="utf-8",
    )
    examples, stats = load_provided(tmp_path, "xnli", "de", NLI_LABELS)
    assert [(e.text_a, e.text_b, e.label) for e in examples] == [
        ("Ein Mann spielt.", "Jemand spielt.", 0),
        ('Er sagte "nein".', "Er stimmte zu.", 2),  # bare quotes kept; 'contradictory' mapped
        ("Es regnet.", "Es ist nass.", 1),
    ]
    assert examples[0].id == "translate-train-0@de" and stats.examples == 3


def test_pawsx_translate_train_three_columns_and_bad_rows(tmp_path):
    path = tmp_path / "translated" / "en-fr-translated.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("Phrase une.\tPhrase deux.\t1\nAutre phrase.\tEncore une.\t0\n", encoding="utf-8")
    assert provided_path(tmp_path, "pawsx", "fr") == path
    examples = read_translated_pairs(path, ("0", "1"), "fr")
    assert [e.label for e in examples] == [1, 0]

    path.write_text("Phrase une.\tPhrase deux.\t1\nAutre phrase.\t0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"en-fr-translated.tsv line 2: expected 3 tab-separated fields"):
        read_translated_pairs(path, ("0", "1"), "fr")
    path.write_text("Phrase une.\tPhrase deux.\tmaybe\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1.*'maybe'"):
        read_translated_pairs(path, ("0", "1"), "fr")


def test_squad_translate_train_answers_checked_and_reanchored(tmp_path):
    context = "Der Amazonas fließt durch Brasilien. Brasilien ist groß."
    doc = {"version": "1.1", "data": [{"title": "Amazonas", "paragraphs": [{"context": context, "qas": [
        {"id": "a", "question": "Wo?", "answers": [{"text": "Brasilien", "answer_start": 26}]},
        {"id": "b", "question": "Was?", "answers": [{"text": "Amazonas", "answer_start": 0}]},  # off
        {"id": "c", "question": "Wer?", "answers": [{"text": "Peru", "answer_start": 3}]},  # absent
    ]}]}]}
    path = tmp_path / "SQuAD" / "translate-train" / "squad.translate.train.en-de.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    examples, stats = load_provided(tmp_path, "squad", "de")
    assert [e.id for e in examples] == ["a@de", "b@de"]
    assert examples[1].answers[0].start == 4 and examples[0].title == "Amazonas"
    assert stats.answers_realigned == 1 and stats.answers_dropped == 1 and stats.dropped_ids == ["c"]


def test_missing_files_and_unknown_sets_are_explained(tmp_path):
    with pytest.raises(DataError, match=r"tried: .*XNLI/translate-train/en-sw-translated.tsv"):
        provided_path(tmp_path, "xnli", "sw")
    with pytest.raises(ConfigError, match="no XTREME translations for 'hellaswag'"):
        provided_path(tmp_path, "hellaswag", "de")
    (tmp_path / "bad.json").write_text('{"data": [{"paragraphs": [{"qas": []}]}]}')
    with pytest.raises(DataError, match=r"bad.json data\[0\].paragraphs\[0\]: field 'context'"):
        read_squad_json(tmp_path / "bad.json")


def test_reads_real_xquad_file():
    path = shared_data() / "xquad" / "xquad.de.json"
    if not path.exists():
        pytest.skip(f"shared data absent ({path})")
    examples, stats = read_squad_json(path, "de")
    assert len(examples) == 1190 and stats.answers_dropped == 0
    assert all(e.context[a.start : a.start + len(a.text)] == a.text for e in examples for a in e.answers)
