"""QQP, SNLI, ANLI, ANLI+ and PAWS-X loaders: Hub fixtures in the published schemas, local files."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, Features, Value

from tests.fixtures.data import shared_data_root
from tests.fixtures.hub import serve_tables, write_jsonl
from toolkit.errors import DataError
from toolkit.tasks.records import LoadRequest, PairExample
from toolkit.tasks.registry import get_task
from toolkit.tasks.classification import ANLI, ANLI_PLUS, PAWSX, QQP, SNLI
from toolkit.tasks.nli import MNLI

SHARED = shared_data_root()
NLI = ClassLabel(names=["entailment", "neutral", "contradiction"])



def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path



# ---------------------------------------------------------------------------------------------
# QQP.
# ---------------------------------------------------------------------------------------------

QQP_FEATURES = Features({"question1": Value("string"), "question2": Value("string"),
                         "label": ClassLabel(names=["not_duplicate", "duplicate"]), "idx": Value("int32")})


def test_qqp_hub(monkeypatch, caplog):
    calls = serve_tables(monkeypatch, {
        ("nyu-mll/glue", "qqp", "train"): Dataset.from_dict(
            {"question1": ["How do I learn Python?", "How can I create an Android app?"],
             "question2": ["What is the best way to learn Python?", ""],
             "label": [1, 0], "idx": [7, 8]}, features=QQP_FEATURES),
        ("nyu-mll/glue", "qqp", "test"): Dataset.from_dict(
            {"question1": ["a?"], "question2": ["b?"], "label": [-1], "idx": [0]}, features=QQP_FEATURES),
        ("nyu-mll/glue", "qqp", "validation"): Dataset.from_dict(
            {"question1": [""], "question2": [" "], "label": [0], "idx": [0]}, features=QQP_FEATURES),
    })
    with caplog.at_level(logging.WARNING):
        ex = QQP.loader(QQP, LoadRequest("train"))
    assert calls == [("nyu-mll/glue", "qqp", "train")]
    assert ex[0] == PairExample("qqp-train-7", "How do I learn Python?", "What is the best way to learn Python?", 1)
    # GLUE QQP really has empty questions; they are kept (the paper's 363,846 counts them) and reported
    assert ex[1].text_b == "" and "qqp: kept 1 rows with one empty text" in caplog.text
    assert QQP.loader(QQP, LoadRequest("test"))[0].label == -1
    with pytest.raises(DataError, match="row 0: fields 'question1' and 'question2' are both empty"):
        QQP.loader(QQP, LoadRequest("validation"))


def test_qqp_glue_tsv(tmp_path):
    write(tmp_path / "dev.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
          '5\t1\t2\tWhy is "x" odd?\tIs "x" odd?\t1\n6\t3\t4\tA?\tB?\t0\n')
    write(tmp_path / "test.tsv", "id\tquestion1\tquestion2\n0\tA?\tB?\n")
    write(tmp_path / "train.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t1\t2\tA?\tB?\t2\n")
    ex = QQP.loader(QQP, LoadRequest("validation", data_dir=str(tmp_path)))
    assert [(e.id, e.text_a, e.label) for e in ex] == [
        ("qqp-validation-5", 'Why is "x" odd?', 1), ("qqp-validation-6", "A?", 0)]
    assert [e.label for e in QQP.loader(QQP, LoadRequest("test", data_dir=str(tmp_path)))] == [-1]
    with pytest.raises(DataError, match=r"train.tsv line 2: field 'is_duplicate' = 2 is outside 0..1"):
        QQP.loader(QQP, LoadRequest("train", data_dir=str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# SNLI.
# ---------------------------------------------------------------------------------------------

SNLI_FEATURES = Features({"premise": Value("string"), "hypothesis": Value("string"), "label": NLI})


def snli_table(labels):
    n = len(labels)
    return Dataset.from_dict({"premise": [f"A person rides a horse {i}." for i in range(n)],
                              "hypothesis": ["A person is outdoors."] * n, "label": labels}, features=SNLI_FEATURES)


def test_snli_hub_drops_and_counts_unlabelled(monkeypatch, caplog):
    serve_tables(monkeypatch, {("stanfordnlp/snli", "plain_text", "train"): snli_table([0, -1, 2, 1, -1, 0])})
    with caplog.at_level(logging.WARNING):
        ex = SNLI.loader(SNLI, LoadRequest("train"))
    assert [(e.id, e.label) for e in ex] == [
        ("snli-train-0", 0), ("snli-train-2", 2), ("snli-train-3", 1), ("snli-train-5", 0)]
    assert "snli train: dropped 2 pairs without a gold label (kept 4)" in caplog.text
    # max_examples counts kept pairs
    assert [e.id for e in SNLI.loader(SNLI, LoadRequest("train", max_examples=2))] == ["snli-train-0", "snli-train-2"]


def test_snli_official_jsonl(tmp_path):
    rows = [{"sentence1": "Two women embrace.", "sentence2": "Two people hug.", "gold_label": "entailment"},
            {"sentence1": "Two women embrace.", "sentence2": "Men fight.", "gold_label": "-"},
            {"sentence1": "Two women embrace.", "sentence2": "They are sisters.", "gold_label": "neutral"}]
    write_jsonl(tmp_path / "snli_1.0_dev.jsonl", rows)
    ex = SNLI.loader(SNLI, LoadRequest("validation", data_dir=str(tmp_path)))
    assert [(e.text_b, e.label) for e in ex] == [("Two people hug.", 0), ("They are sisters.", 1)]
    write_jsonl(tmp_path / "snli_1.0_train.jsonl", [{**rows[0], "gold_label": "entails"}])
    with pytest.raises(DataError, match="line 1: field 'gold_label' = 'entails' is neither a label name"):
        SNLI.loader(SNLI, LoadRequest("train", data_dir=str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# ANLI.
# ---------------------------------------------------------------------------------------------

ANLI_FEATURES = Features({"uid": Value("string"), "premise": Value("string"), "hypothesis": Value("string"),
                          "label": NLI, "reason": Value("string")})


def anli_table(rnd: int, split: str, labels):
    n = len(labels)
    return Dataset.from_dict({"uid": [f"{split}{rnd}-{i}" for i in range(n)],
                              "premise": [f"Round {rnd} premise {i}." for i in range(n)],
                              "hypothesis": ["Some hypothesis."] * n, "label": labels, "reason": [""] * n},
                             features=ANLI_FEATURES)


def anli_tables(sizes=(2, 1, 3)):
    return {("facebook/anli", "plain_text", f"{s}_r{r}"): anli_table(r, s, [i % 3 for i in range(n)])
            for s in ["train", "dev", "test"] for r, n in zip((1, 2, 3), sizes)}


def test_anli_hub_rounds(monkeypatch):
    calls = serve_tables(monkeypatch, anli_tables())
    ex = ANLI.loader(ANLI, LoadRequest("validation"))
    assert calls == [("facebook/anli", "plain_text", f"dev_r{r}") for r in (1, 2, 3)]
    assert [e.id for e in ex] == ["anli-r1-dev1-0", "anli-r1-dev1-1", "anli-r2-dev2-0",
                                  "anli-r3-dev3-0", "anli-r3-dev3-1", "anli-r3-dev3-2"]
    assert [e.label for e in ex] == [0, 1, 0, 0, 1, 2]
    assert len(ANLI.loader(ANLI, LoadRequest("train", max_examples=4))) == 4
    r2 = get_task("anli_r2")
    assert [e.id for e in r2.loader(r2, LoadRequest("train"))] == ["anli-r2-train2-0"]


def test_anli_official_jsonl(tmp_path):
    row = {"uid": "u1", "context": "Paris is in France.", "hypothesis": "Paris is in Europe.", "label": "e",
           "model_label": "n", "emturk": False, "genre": "wiki", "reason": "", "tag": ""}
    for r in (1, 2, 3):
        write_jsonl(tmp_path / f"R{r}" / "dev.jsonl", [{**row, "uid": f"u{r}", "label": "enc"[r - 1]}])
    ex = ANLI.loader(ANLI, LoadRequest("validation", data_dir=str(tmp_path)))
    assert [(e.id, e.text_a, e.label) for e in ex] == [
        ("anli-r1-u1", "Paris is in France.", 0), ("anli-r2-u2", "Paris is in France.", 1),
        ("anli-r3-u3", "Paris is in France.", 2)]
    write_jsonl(tmp_path / "R1" / "train.jsonl", [{**row, "hypothesis": "  "}])
    with pytest.raises(DataError, match=r"R1/train.jsonl line 1: field 'hypothesis' is empty"):
        ANLI.loader(ANLI, LoadRequest("train", data_dir=str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# ANLI+.
# ---------------------------------------------------------------------------------------------

MNLI_FEATURES = Features({"premise": Value("string"), "hypothesis": Value("string"), "label": NLI,
                          "idx": Value("int32")})


def test_anli_plus_shares_mnli_labels(monkeypatch):
    assert ANLI_PLUS.labels == MNLI.labels == ANLI.labels == SNLI.labels
    tables = anli_tables()
    tables[("nyu-mll/glue", "mnli", "train")] = Dataset.from_dict(
        {"premise": ["p1", "p2"], "hypothesis": ["h1", "h2"], "label": [2, 0], "idx": [0, 1]}, features=MNLI_FEATURES)
    tables[("stanfordnlp/snli", "plain_text", "train")] = snli_table([1, -1, 2])
    calls = serve_tables(monkeypatch, tables)
    ex = ANLI_PLUS.loader(ANLI_PLUS, LoadRequest("train"))
    assert [c[0] for c in calls] == ["facebook/anli"] * 3 + ["nyu-mll/glue", "stanfordnlp/snli"]
    assert len(ex) == 6 + 2 + 2 and len({e.id for e in ex}) == len(ex)
    # the same ClassLabel id means the same label name in every source
    def names(source):
        return [ANLI_PLUS.labels[e.label] for e in ex if e.id.startswith(source + "-")]

    assert names("mnli") == ["contradiction", "entailment"] and names("snli") == ["neutral", "contradiction"]
    assert names("anli") == ["entailment", "neutral", "entailment", "entailment", "neutral", "contradiction"]
    assert [e.id for e in ANLI_PLUS.loader(ANLI_PLUS, LoadRequest("validation"))] == \
           [e.id for e in ANLI.loader(ANLI, LoadRequest("validation"))]
    assert len(ANLI_PLUS.loader(ANLI_PLUS, LoadRequest("train", max_examples=7))) == 7
    assert ANLI_PLUS.train_size == 162_865 + 392_702 + 549_367


def test_anli_plus_local(tmp_path):
    write_jsonl(tmp_path / "anli" / "train_r1.jsonl",
                [{"uid": "a", "premise": "P.", "hypothesis": "H.", "label": 1, "reason": ""}])
    for r in (2, 3):
        write_jsonl(tmp_path / "anli" / f"train_r{r}.jsonl",
                    [{"uid": f"b{r}", "premise": "P.", "hypothesis": "H.", "label": 0, "reason": ""}])
    write_jsonl(tmp_path / "mnli" / "train.jsonl", [{"premise": "P.", "hypothesis": "H.", "label": 2, "idx": 0}])
    write_jsonl(tmp_path / "snli" / "train.jsonl", [{"premise": "P.", "hypothesis": "H.", "label": 1}])
    ex = ANLI_PLUS.loader(ANLI_PLUS, LoadRequest("train", data_dir=str(tmp_path)))
    assert [e.label for e in ex] == [1, 0, 0, 2, 1]
    (tmp_path / "snli" / "train.jsonl").unlink()
    with pytest.raises(DataError, match=r"snli train: expected one of train.jsonl, snli_1.0_train.jsonl"):
        ANLI_PLUS.loader(ANLI_PLUS, LoadRequest("train", data_dir=str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# PAWS-X.
# ---------------------------------------------------------------------------------------------


def test_pawsx_hub_paws_x(monkeypatch):
    features = Features({"id": Value("int32"), "sentence1": Value("string"), "sentence2": Value("string"),
                         "label": ClassLabel(names=["0", "1"])})
    calls = serve_tables(monkeypatch, {("google-research-datasets/paws-x", "de", "test"): Dataset.from_dict(
        {"id": [1, 2], "sentence1": ["Er kam.", "Sie ging."], "sentence2": ["Kam er.", "Ging sie."],
         "label": [1, 0]}, features=features)})
    ex = PAWSX.loader(PAWSX, LoadRequest("test", language="de"))
    assert calls == [("google-research-datasets/paws-x", "de", "test")]
    assert ex == [PairExample("pawsx-de-test-0", "Er kam.", "Kam er.", 1),
                  PairExample("pawsx-de-test-1", "Sie ging.", "Ging sie.", 0)]
    with pytest.raises(DataError, match="pawsx has no language 'ru'"):
        PAWSX.loader(PAWSX, LoadRequest("test", language="ru"))


def test_pawsx_hub_xtreme(monkeypatch):
    spec = dataclasses.replace(PAWSX, extra={"hub_path": "google/xtreme", "hub_config": "PAWS-X.{lang}"})
    features = Features({k: Value("string") for k in ["sentence1", "sentence2", "label"]})
    calls = serve_tables(monkeypatch, {
        ("google/xtreme", "PAWS-X.ja", "validation"): Dataset.from_dict(
            {"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": ["0", "1"]}, features=features),
        ("google/xtreme", "PAWS-X.ja", "train"): Dataset.from_dict(
            {"sentence1": ["a"], "sentence2": ["c"], "label": ["yes"]}, features=features),
    })
    assert [e.label for e in spec.loader(spec, LoadRequest("validation", language="ja"))] == [0, 1]
    assert calls == [("google/xtreme", "PAWS-X.ja", "validation")]
    with pytest.raises(DataError, match=r"google/xtreme\[PAWS-X.ja\]/train row 0: field 'label' = 'yes'"):
        spec.loader(spec, LoadRequest("train", language="ja"))


def test_pawsx_local_layouts(tmp_path):
    xtreme = tmp_path / "xtreme"
    write(xtreme / "train-en.tsv", 'He said "hi".\tHe said hi.\t1\nA.\tB.\t0\n')
    write(xtreme / "dev-fr.tsv", "Il vient.\tIl arrive.\t1\n")
    ex = PAWSX.loader(PAWSX, LoadRequest("train", data_dir=str(xtreme)))
    assert [(e.text_a, e.label) for e in ex] == [('He said "hi".', 1), ("A.", 0)]
    assert PAWSX.loader(PAWSX, LoadRequest("validation", language="fr", data_dir=str(xtreme)))[0].label == 1
    official = tmp_path / "x-final"
    header = "id\tsentence1\tsentence2\tlabel\n"
    write(official / "en" / "train.tsv", header + "1\tA.\tB.\t0\n")
    write(official / "zh" / "test_2k.tsv", header + "1\t他来了。\t他到了。\t1\n2\t甲。\t乙。\t0\n")
    write(official / "zh" / "dev_2k.tsv", header + "1\t他来了。\t\t1\n")
    write(official / "ko" / "dev_2k.tsv", header + "1\tA.\tB.\t2\n")
    write(official / "es" / "dev_2k.tsv", header + "1\tA.\n")
    assert [e.label for e in PAWSX.loader(PAWSX, LoadRequest("train", language="en", data_dir=str(official)))] == [0]
    zh_test = PAWSX.loader(PAWSX, LoadRequest("test", language="zh", data_dir=str(official)))
    assert [e.text_b for e in zh_test] == ["他到了。", "乙。"]
    with pytest.raises(DataError, match=r"zh/dev_2k.tsv line 2: field 'sentence2' is empty"):
        PAWSX.loader(PAWSX, LoadRequest("validation", language="zh", data_dir=str(official)))
    with pytest.raises(DataError, match=r"ko/dev_2k.tsv line 2: field 'label' = 2 is outside 0..1"):
        PAWSX.loader(PAWSX, LoadRequest("validation", language="ko", data_dir=str(official)))
    with pytest.raises(DataError, match=r"es/dev_2k.tsv line 2: expected 4 tab-separated fields"):
        PAWSX.loader(PAWSX, LoadRequest("validation", language="es", data_dir=str(official)))
    with pytest.raises(DataError, match="expected one of dev-ja.tsv, ja/dev_2k.tsv, ja/dev.tsv"):
        PAWSX.loader(PAWSX, LoadRequest("validation", language="ja", data_dir=str(official)))


@pytest.mark.skipif(not (SHARED / "pawsx" / "de" / "dev.tsv").exists(), reason="shared data not present")
@pytest.mark.parametrize("split,zeros,ones", [("validation", 1169, 831), ("test", 1105, 895)])
def test_pawsx_real_german(split, zeros, ones):
    ex = PAWSX.loader(PAWSX, LoadRequest(split, language="de", data_dir=str(SHARED / "pawsx")))
    assert len(ex) == 2000
    assert [sum(e.label == k for e in ex) for k in (0, 1)] == [zeros, ones]
    assert all(e.text_a.strip() and e.text_b.strip() for e in ex)


def test_target_task_metadata():
    assert PAWSX.xtreme_id == "pawsx" and PAWSX.languages[0] == "en" and len(PAWSX.languages) == 7
    assert PAWSX.metric == QQP.metric == ANLI_PLUS.metric == "accuracy"
    assert all(get_task(n).family == "pair_classification" for n in ["qqp", "snli", "anli", "anli_plus", "pawsx"])
