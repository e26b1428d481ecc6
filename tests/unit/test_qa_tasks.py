"""QA task loaders: Hub schemas (monkeypatched `datasets.load_dataset`), XTREME's local
layouts, row validation, and the real XQuAD files when present."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from tests.fixtures.data import shared_data_root
from toolkit.errors import ConfigError, DataError
from toolkit.tasks import qa
from toolkit.tasks.records import LoadRequest
from toolkit.tasks.benchmarks import official_languages

SQUAD_FEATURES = datasets.Features({
    "id": datasets.Value("string"),
    "title": datasets.Value("string"),
    "context": datasets.Value("string"),
    "question": datasets.Value("string"),
    "answers": datasets.Sequence({"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}),
})
# google/xtreme's XQuAD configs have no title.
XQUAD_FEATURES = datasets.Features({k: v for k, v in SQUAD_FEATURES.items() if k != "title"})

CONTEXT = "The treaty was signed in Paris in 1783 by both parties."


def _row(qid, question="Where was the treaty signed?", context=CONTEXT, answers=("Paris",), title="Treaty"):
    return {
        "id": qid, "title": title, "context": context, "question": question,
        "answers": {"text": list(answers), "answer_start": [context.find(a) for a in answers]},
    }


def _hub(monkeypatch, rows, features=SQUAD_FEATURES):
    """Make `datasets.load_dataset` return `rows` in the Hub schema; returns the calls made."""
    calls = []
    if "title" not in features:
        rows = [{k: v for k, v in r.items() if k != "title"} for r in rows]
    table = datasets.Dataset.from_list(rows, features=features)

    def load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        return table

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def _squad_json(path: Path, paragraphs: list[dict], version="1.1") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": version, "data": [{"title": "T", "paragraphs": paragraphs}]}), "utf-8")
    return path


def _paragraph(*qas, context=CONTEXT):
    return {"context": context, "qas": [
        {"id": qid, "question": q, "answers": [{"text": a, "answer_start": context.find(a)} for a in answers]}
        for qid, q, answers in qas
    ]}


def _load(spec, split, language=None, data_dir=None, max_examples=None):
    return spec.loader(spec, LoadRequest(split, language, None if data_dir is None else str(data_dir), max_examples))


def _shared_xquad() -> Path:
    root = shared_data_root()
    if not (root / "xquad" / "xquad.en.json").is_file():
        pytest.skip(f"real XQuAD data not found under {root} (set XSTILTS_SHARED_DATA)")
    return root / "xquad"


# ---------------------------------------------------------------------------------------------
# Specs.
# ---------------------------------------------------------------------------------------------


def test_specs():
    assert qa.SQUAD_V2.train_size == 130_319 and qa.SQUAD_V2.metric == "squad_v2"
    assert qa.SQUAD_V2.extra["version_2_with_negative"] is True
    assert qa.SQUAD.metric == "squad" and not qa.SQUAD.extra.get("version_2_with_negative")
    for spec, n, metric in ((qa.XQUAD, 12, "squad"), (qa.MLQA, 7, "mlqa"), (qa.TYDIQA, 9, "squad")):
        assert spec.family == "span_qa" and spec.metric == metric and spec.xtreme_id == spec.name
        assert spec.languages == official_languages(spec.name, "xtreme_r") and len(spec.languages) == n
    assert qa.XQUAD.languages[-1] == "ro"  # XTREME-R's addition, evaluable under XTREME too
    assert qa.XQUAD.train_task == qa.MLQA.train_task == "squad" and qa.TYDIQA.train_task is None


# ---------------------------------------------------------------------------------------------
# Hub loaders.
# ---------------------------------------------------------------------------------------------


def test_squad_v2_hub_keeps_unanswerable_questions(monkeypatch):
    calls = _hub(monkeypatch, [_row("a"), _row("b", answers=()), _row("c", answers=("Paris", "in Paris"))])
    examples = _load(qa.SQUAD_V2, "train")
    assert calls == [("rajpurkar/squad_v2", "squad_v2", "train")]
    assert [e.id for e in examples] == ["a", "b", "c"]
    assert examples[0].answers[0].start == CONTEXT.index("Paris") and examples[0].title == "Treaty"
    assert examples[1].is_impossible
    assert [a.text for a in examples[2].answers] == ["Paris", "in Paris"]
    assert len(_load(qa.SQUAD_V2, "validation", max_examples=2)) == 2


def test_squad_v1_hub_requires_answers(monkeypatch):
    calls = _hub(monkeypatch, [_row("a"), _row("b", answers=())])
    with pytest.raises(DataError, match=r"rajpurkar/squad\[plain_text\]/validation row 1 \(id b\).*'answers' is empty"):
        _load(qa.SQUAD, "validation")
    assert calls == [("rajpurkar/squad", "plain_text", "validation")]
    with pytest.raises(ConfigError, match="test set is hidden"):
        _load(qa.SQUAD, "test")


def test_xquad_hub(monkeypatch):
    calls = _hub(monkeypatch, [_row("x1"), _row("x2", answers=("1783",))], XQUAD_FEATURES)
    examples = _load(qa.XQUAD, "test", "de")
    assert calls == [("google/xtreme", "XQuAD.de", "validation")]
    assert [(e.id, e.answers[0].text, e.title) for e in examples] == [("x1", "Paris", ""), ("x2", "1783", "")]
    with pytest.raises(ConfigError, match="'squad'"):
        _load(qa.XQUAD, "train", "de")
    with pytest.raises(ConfigError, match="single evaluation split"):
        _load(qa.XQUAD, "validation", "de")
    with pytest.raises(ConfigError, match="no language 'fr'"):
        _load(qa.XQUAD, "test", "fr")


def test_mlqa_hub_cross_lingual_configs(monkeypatch):
    calls = _hub(monkeypatch, [_row("m1")])
    _load(qa.MLQA, "test", "de")
    _load(qa.MLQA, "validation", "de.en")
    _load(qa.MLQA, "test")
    assert calls == [
        ("google/xtreme", "MLQA.de.de", "test"),
        ("google/xtreme", "MLQA.de.en", "validation"),
        ("google/xtreme", "MLQA.en.en", "test"),
    ]
    with pytest.raises(ConfigError, match="no language 'fr'"):
        _load(qa.MLQA, "test", "de.fr")
    with pytest.raises(ConfigError, match="<context>.<question>"):
        _load(qa.MLQA, "test", "de.en.es")
    with pytest.raises(ConfigError, match="'squad'"):
        _load(qa.MLQA, "train", "de")
    assert qa.mlqa_languages("ar.zh") == ("ar", "zh")


def test_tydiqa_hub_filters_by_language_prefix(monkeypatch):
    rows = [_row("english-1-0"), _row("arabic-2-0"), _row("english--3-1"), _row("swahili-4-0")]
    calls = _hub(monkeypatch, rows)
    assert [e.id for e in _load(qa.TYDIQA, "train")] == ["english-1-0", "english--3-1"]
    assert [e.id for e in _load(qa.TYDIQA, "test", "ar")] == ["arabic-2-0"]
    assert [e.id for e in _load(qa.TYDIQA, "validation", "en", max_examples=1)] == ["english-1-0"]
    assert calls == [("google/xtreme", "tydiqa", "train"), ("google/xtreme", "tydiqa", "validation"),
                     ("google/xtreme", "tydiqa", "validation")]
    with pytest.raises(DataError, match="no questions with ids starting 'telugu-'"):
        _load(qa.TYDIQA, "test", "te")


def test_google_xtreme_stripped_offsets_are_realigned_and_counted(monkeypatch, caplog):
    # google/xtreme stripped " " from this context's start but kept the original offset.
    row = _row("x1", context=CONTEXT)
    row["answers"]["answer_start"] = [CONTEXT.index("Paris") + 1]
    _hub(monkeypatch, [row, _row("x2")], XQUAD_FEATURES)
    examples = _load(qa.XQUAD, "test", "en")
    assert examples[0].answers[0].start == CONTEXT.index("Paris")
    assert "1 of 2 answer offsets" in caplog.text

    # Other Hub datasets are exact: the same row is an error there.
    _hub(monkeypatch, [row])
    with pytest.raises(DataError, match=r"answers\[0\] field 'answer_start' = 26 does not point at"):
        _load(qa.SQUAD, "train")


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("question"), "has no column 'question' (expected string)"),
    (lambda r: r.update(question="  "), "field 'question' is empty"),
    (lambda r: r.update(context=""), "field 'context' is empty"),
    (lambda r: r.update(id=""), "field 'id' is empty"),
    (lambda r: r["answers"].update(answer_start=[500]), "'answer_start' = 500 puts the 5-character answer outside"),
    (lambda r: r["answers"].update(answer_start=[-1]), "'answer_start' = -1 puts"),
    (lambda r: r["answers"].update(answer_start=[0]), "'answer_start' = 0 does not point at the answer text 'Paris'"),
    (lambda r: r["answers"].update(text=[""]), "field 'text' must be a non-empty string"),
])
def test_bad_hub_rows_name_source_row_and_field(monkeypatch, change, message):
    bad = _row("q1")
    change(bad)
    # A Hub column exists in every row or in none: a missing one fails before any row is read.
    whole = set(bad) == set(SQUAD_FEATURES)
    rows = [_row("q0"), bad] if whole else [bad]
    features = datasets.Features({k: v for k, v in SQUAD_FEATURES.items() if k in bad})
    _hub(monkeypatch, rows, features)
    with pytest.raises(DataError, match="rajpurkar/squad_v2") as err:
        _load(qa.SQUAD_V2, "train")
    assert message in str(err.value)
    assert (f"row {len(rows) - 1}" in str(err.value)) == whole


# ---------------------------------------------------------------------------------------------
# Local files (XTREME's layouts).
# ---------------------------------------------------------------------------------------------


def test_squad_local_files(tmp_path):
    _squad_json(tmp_path / "train-v1.1.json", [_paragraph(("a", "Where?", ["Paris"]), ("b", "When?", ["1783"]))])
    examples = _load(qa.SQUAD, "train", data_dir=tmp_path)
    assert [(e.id, e.answers[0].text, e.answers[0].start, e.title) for e in examples] == [
        ("a", "Paris", 25, "T"), ("b", "1783", 34, "T")]
    assert len(_load(qa.SQUAD, "train", data_dir=tmp_path, max_examples=1)) == 1
    with pytest.raises(DataError, match="dev-v1.1.json"):
        _load(qa.SQUAD, "validation", data_dir=tmp_path)


def test_squad_v2_local_unanswerable(tmp_path):
    paragraph = _paragraph(("a", "Where?", ["Paris"]), ("b", "Who ate?", []))
    paragraph["qas"][1]["is_impossible"] = True
    paragraph["qas"][1]["plausible_answers"] = [{"text": "both parties", "answer_start": 41}]
    _squad_json(tmp_path / "dev-v2.0.json", [paragraph], "v2.0")
    examples = _load(qa.SQUAD_V2, "validation", data_dir=tmp_path)
    assert [e.is_impossible for e in examples] == [False, True]

    paragraph["qas"][0]["is_impossible"] = True
    _squad_json(tmp_path / "dev-v2.0.json", [paragraph], "v2.0")
    with pytest.raises(DataError, match=r"qas\[0\]: 'is_impossible' is true but 'answers' is not empty"):
        _load(qa.SQUAD_V2, "validation", data_dir=tmp_path)


def test_local_rows_are_validated_with_their_location(tmp_path):
    path = tmp_path / "xquad.de.json"
    paragraph = _paragraph(("a", "Where?", ["Paris"]), ("b", "When?", ["1783"]))
    paragraph["qas"][1]["answers"][0]["answer_start"] = 3
    _squad_json(path, [paragraph])
    with pytest.raises(DataError, match=r"xquad.de.json data\[0\].paragraphs\[0\].qas\[1\] \(id b\): answers\[0\] "
                                        r"field 'answer_start' = 3 does not point"):
        _load(qa.XQUAD, "test", "de", tmp_path)

    del paragraph["qas"][1]["answers"][0]["text"]
    _squad_json(path, [paragraph])
    with pytest.raises(DataError, match=r"qas\[1\].answers\[0\]: missing field 'text'"):
        _load(qa.XQUAD, "test", "de", tmp_path)

    _squad_json(path, [_paragraph(("a", "Where?", ["Paris"]), ("a", "When?", ["1783"]))])
    with pytest.raises(DataError, match="question id 'a' also used at"):
        _load(qa.XQUAD, "test", "de", tmp_path)

    path.write_text("[1, 2]", "utf-8")
    with pytest.raises(DataError, match="expected a JSON object with a 'data' list"):
        _load(qa.XQUAD, "test", "de", tmp_path)
    path.write_text("{not json", "utf-8")
    with pytest.raises(DataError, match="not a UTF-8 JSON file"):
        _load(qa.XQUAD, "test", "de", tmp_path)


def test_mlqa_local_layout(tmp_path):
    for root in (tmp_path / "mlqa" / "MLQA_V1", tmp_path / "MLQA_V1_only"):
        _squad_json(root / "test" / "test-context-de-question-en.json", [_paragraph(("m1", "Where?", ["Paris"]))])
        _squad_json(root / "dev" / "dev-context-de-question-de.json", [_paragraph(("m2", "Wo?", ["Paris"]))])
    for data_dir in (tmp_path / "mlqa", tmp_path / "MLQA_V1_only"):
        assert [e.id for e in _load(qa.MLQA, "test", "de.en", data_dir)] == ["m1"]
        assert [e.id for e in _load(qa.MLQA, "validation", "de", data_dir)] == ["m2"]
    with pytest.raises(DataError, match="test-context-ar-question-ar.json"):
        _load(qa.MLQA, "test", "ar", tmp_path / "mlqa")


def test_tydiqa_local_layouts(tmp_path):
    xtreme = tmp_path / "xtreme"
    _squad_json(xtreme / "tydiqa-goldp-v1.1-train" / "tydiqa.en.train.json",
                [_paragraph(("0", "Where?", ["Paris"]), ("0", "When?", ["1783"]))])
    _squad_json(xtreme / "tydiqa-goldp-v1.1-dev" / "tydiqa.fi.dev.json", [_paragraph(("finnish-7-0", "Missä?", ["Paris"]))])
    assert len(_load(qa.TYDIQA, "train", "en", xtreme)) == 2, "XTREME's shortened train ids may repeat"
    assert [e.id for e in _load(qa.TYDIQA, "test", "fi", xtreme)] == ["finnish-7-0"]
    assert [e.id for e in _load(qa.TYDIQA, "validation", "fi", xtreme)] == ["finnish-7-0"]

    upstream = tmp_path / "upstream"
    _squad_json(upstream / "tydiqa-goldp-v1.1-train.json",
                [_paragraph(("arabic-1-0", "Q?", ["Paris"]), ("english-2-0", "Where?", ["Paris"]))])
    _squad_json(upstream / "tydiqa-goldp-v1.1-dev" / "tydiqa-goldp-dev-english.json",
                [_paragraph(("english-3-0", "Where?", ["Paris"]))])
    assert [e.id for e in _load(qa.TYDIQA, "train", "en", upstream)] == ["english-2-0"]
    assert [e.id for e in _load(qa.TYDIQA, "test", "en", upstream)] == ["english-3-0"]
    with pytest.raises(DataError, match="tydiqa-goldp-dev-korean.json"):
        _load(qa.TYDIQA, "test", "ko", upstream)


# ---------------------------------------------------------------------------------------------
# Real data.
# ---------------------------------------------------------------------------------------------


def test_real_xquad_files_load():
    folder = _shared_xquad()
    ids = None
    for lang in [lang for lang in qa.XQUAD.languages if (folder / f"xquad.{lang}.json").is_file()]:
        examples = _load(qa.XQUAD, "test", lang, folder)
        assert len(examples) == 1190, lang
        assert all(e.context[a.start:a.start + len(a.text)] == a.text for e in examples for a in e.answers)
        ids = ids or [e.id for e in examples]
        assert [e.id for e in examples] == ids, "XQuAD is parallel across languages"


def test_real_xquad_through_the_hub_schema_realigns_every_offset(monkeypatch):
    """google/xtreme's XQuAD rows are the upstream files with contexts and answers stripped:
    rebuilding them so, the loader must find every answer where the stripped context has it."""
    folder = _shared_xquad()
    for lang in ("en", "zh"):
        local = _load(qa.XQUAD, "test", lang, folder)
        rows = [{"id": e.id, "context": e.context.strip(), "question": e.question.strip(),
                 "answers": {"text": [a.text.strip() for a in e.answers], "answer_start": [a.start for a in e.answers]}}
                for e in local]
        _hub(monkeypatch, rows, XQUAD_FEATURES)
        hub = _load(qa.XQUAD, "test", lang)
        for h, l in zip(hub, local):
            shift = len(l.context) - len(l.context.lstrip())
            assert [a.start for a in h.answers] == [a.start - shift for a in l.answers], h.id
