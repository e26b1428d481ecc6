"""Row readers (Hub, jsonl, tsv) and field checks: every error names the source, the row and the field."""

from __future__ import annotations

import pytest

from tests.fixtures.hub import serve_tables, session_hub
from datasets import ClassLabel, Dataset, Features, Value

from toolkit.errors import DataError
from toolkit.tasks.records import HubSource
from toolkit.tasks.io import field, hub_rows, jsonl_rows, label_index, require_file, tsv_rows

LABELS = ("entailment", "neutral", "contradiction")


def write(path, text: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Hub rows.
# ---------------------------------------------------------------------------------------------


def test_hub_rows_names_the_source(monkeypatch):
    table = Dataset.from_dict(
        {"premise": ["a", "b", "c"], "hypothesis": ["x", "y", "z"], "label": [0, 2, 1], "idx": [0, 1, 2]},
        features=Features({"premise": Value("string"), "hypothesis": Value("string"),
                           "label": ClassLabel(names=list(LABELS)), "idx": Value("int32")}),
    )
    calls = serve_tables(monkeypatch, {("nyu-mll/glue", "mnli", "train"): table})
    rows = list(hub_rows(HubSource("nyu-mll/glue", "mnli", "train")))
    assert calls == [("nyu-mll/glue", "mnli", "train")]
    assert [w for w, _ in rows] == [f"nyu-mll/glue[mnli]/train row {i}" for i in range(3)]
    assert rows[1][1] == {"premise": "b", "hypothesis": "y", "label": 2, "idx": 1}
    assert [r["premise"] for _, r in hub_rows(HubSource("nyu-mll/glue", "mnli", "train"), max_examples=2)] == ["a", "b"]
    assert len(list(hub_rows(HubSource("nyu-mll/glue", "mnli", "train"), max_examples=10))) == 3
    first, capped = calls.log[0].as_dict(), calls.log[1].as_dict()  # provenance: rows read, content
    assert (first["rows"], first["split_rows"], capped["rows"]) == (3, 3, 2)
    assert first["fingerprint"] != capped["fingerprint"] and first["commit"] == session_hub().commit(
        "datasets", "nyu-mll/glue")


def test_hub_failure_names_id_config_and_split(loopback_hub):
    with pytest.raises(DataError) as err:
        list(hub_rows(HubSource("nobody/no-such-dataset", "de", "test")))
    assert "nobody/no-such-dataset[de]/test@main" in str(err.value) and "doesn't exist" in str(err.value)


# ---------------------------------------------------------------------------------------------
# Files.
# ---------------------------------------------------------------------------------------------


def test_require_file(tmp_path):
    with pytest.raises(DataError, match=r"mnli train: expected a file at .*train\.jsonl, found none"):
        require_file(tmp_path / "train.jsonl", "mnli train")
    with pytest.raises(DataError, match="found none"):
        require_file(tmp_path, "a folder is not a file")
    empty = write(tmp_path / "empty.tsv", "")
    with pytest.raises(DataError, match=rf"{empty} is empty"):
        require_file(empty, "xnli")
    ok = write(tmp_path / "ok.tsv", "a\tb\n")
    assert require_file(str(ok), "x") == ok


def test_jsonl_rows(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"a": 1}\n\n   \n{"a": 2}\n{"a": 3}')
    rows = list(jsonl_rows(path))
    assert rows == [(f"{path} line 1", {"a": 1}), (f"{path} line 4", {"a": 2}), (f"{path} line 5", {"a": 3})]
    assert [r["a"] for _, r in jsonl_rows(path, max_examples=2)] == [1, 2]
    assert list(jsonl_rows(path, max_examples=0)) == []


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"a": 1}\n{"a": \n', r"line 2: not valid JSON"),
        ('{"a": 1}\n[1, 2]\n', r"line 2: expected a JSON object, got list"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path, text, match):
    path = write(tmp_path / "bad.jsonl", text)
    with pytest.raises(DataError, match=match) as err:
        list(jsonl_rows(path))
    assert str(path) in str(err.value)


def test_unicode_line_separators_inside_text_do_not_split_rows(tmp_path):
    """Only \\n ends a row: U+2028, U+0085, a form feed or a lone \\r inside a sentence are text
    (Python's str.splitlines would cut the row there, and csv refuses a lone \\r)."""
    odd = "one\u2028two\x85three\x0cfour\rfive"
    in_json = "one\u2028two\x85three"  # JSON strings may hold these raw (not a raw form feed)
    jl = write(tmp_path / "d.jsonl", '{"t": "' + in_json + '"}\r\n{"t": "b"}\n')
    assert [r["t"] for _, r in jsonl_rows(jl)] == [in_json, "b"]
    tsv = write(tmp_path / "d.tsv", f"{odd}\tx\tentailment\r\nb\ty\tneutral\n")
    rows = list(tsv_rows(tsv, ["p", "h", "label"]))
    assert [r["p"] for _, r in rows] == [odd, "b"]
    assert rows[1][0] == f"{tsv} line 2"
    assert rows[0][1]["label"] == "entailment"  # the \r of a CRLF file is not part of the field


def test_bad_utf8_names_the_line(tmp_path):
    path = write(tmp_path / "bad.tsv", b"a\tb\tneutral\nc\td\tneutral\ne\xff\xfe\tf\tneutral\n")
    with pytest.raises(DataError, match=r"bad\.tsv: line 3 is not valid UTF-8"):
        list(tsv_rows(path, ["p", "h", "label"]))
    jl = write(tmp_path / "bad.jsonl", b'{"a": "\xc3"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl: line 1 is not valid UTF-8"):
        list(jsonl_rows(jl))


def test_tsv_rows_with_header(tmp_path):
    path = write(tmp_path / "h.tsv", 'sentence1\tsentence2\tgold_label\nHe said "hi\tShe left\tneutral\n\n"a"\tb\tentailment\n')
    rows = list(tsv_rows(path))
    # Quoting is off: bare quotes stay part of the text, as in MNLI/XNLI files.
    assert rows == [
        (f"{path} line 2", {"sentence1": 'He said "hi', "sentence2": "She left", "gold_label": "neutral"}),
        (f"{path} line 4", {"sentence1": '"a"', "sentence2": "b", "gold_label": "entailment"}),
    ]
    assert len(list(tsv_rows(path, max_examples=1))) == 1


def test_tsv_rows_without_header(tmp_path):
    path = write(tmp_path / "n.tsv", "p1\th1\tneutral\np2\th2\tcontradiction\n")
    rows = list(tsv_rows(path, ["premise", "hypothesis", "label"]))
    assert [w for w, _ in rows] == [f"{path} line 1", f"{path} line 2"]
    assert rows[1][1] == {"premise": "p2", "hypothesis": "h2", "label": "contradiction"}


def test_tsv_missing_field_names_file_line_and_columns(tmp_path):
    path = write(tmp_path / "short.tsv", "p1\th1\tneutral\np2\th2\n")
    with pytest.raises(DataError) as err:
        list(tsv_rows(path, ["premise", "hypothesis", "label"]))
    msg = str(err.value)
    assert f"{path} line 2" in msg and "expected 3 tab-separated fields (premise, hypothesis, label), found 2" in msg


def test_tsv_header_expected_but_file_empty(tmp_path):
    path = write(tmp_path / "empty.tsv", "")
    with pytest.raises(DataError, match="empty file, expected a header line"):
        list(tsv_rows(path))


# ---------------------------------------------------------------------------------------------
# Field and label checks.
# ---------------------------------------------------------------------------------------------


def test_field_checks():
    row = {"premise": "A man.", "blank": "  ", "none": None, "n": " 2 ", "flag": True, "num": 3}
    assert field(row, "premise", "f line 1") == "A man."
    assert field(row, "n", "f line 1", kind=int) == 2
    assert field(row, "num", "f line 1", kind=int) == 3
    assert field(row, "blank", "f line 1", allow_empty=True) == "  "
    with pytest.raises(DataError, match=r"f line 1: missing field 'hypothesis' \(has: premise, blank"):
        field(row, "hypothesis", "f line 1")
    with pytest.raises(DataError, match="f line 1: missing field 'none'"):
        field(row, "none", "f line 1")
    with pytest.raises(DataError, match="f line 1: field 'blank' is empty"):
        field(row, "blank", "f line 1")
    with pytest.raises(DataError, match="f line 1: field 'premise' must be an integer, got 'A man.'"):
        field(row, "premise", "f line 1", kind=int)
    with pytest.raises(DataError, match="f line 1: field 'flag' must be int, got bool"):
        field(row, "flag", "f line 1", kind=int)
    with pytest.raises(DataError, match="f line 1: field 'num' must be str, got int"):
        field(row, "num", "f line 1")


@pytest.mark.parametrize("value, expected", [(0, 0), (2, 2), ("1", 1), (" 2", 2), ("neutral", 1), ("contradiction ", 2)])
def test_label_index(value, expected):
    assert label_index(value, LABELS, "f line 3") == expected


@pytest.mark.parametrize(
    "value, match",
    [
        (3, r"f line 3: field 'label' = 3 is outside 0..2"),
        (-1, r"f line 3: field 'label' = -1 is outside 0..2"),
        ("Entailment", r"f line 3: field 'label' = 'Entailment' is neither a label name \(entailment, neutral, contradiction\) nor an integer"),
        ("", r"f line 3: field 'label' = '' is neither"),
        (None, r"f line 3: field 'label' = None is neither"),
        (1.5, r"f line 3: field 'label' = 1.5 is not an integer"),
    ],
)
def test_label_errors(value, match):
    with pytest.raises(DataError, match=match):
        label_index(value, LABELS, "f line 3")
