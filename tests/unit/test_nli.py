"""MNLI and XNLI loaders: Hub schema (monkeypatched), local jsonl / GLUE / XTREME / XNLI-1.0 files,
the real German XNLI test set, malformed rows, and the task registry."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, Features, Value

from tests.fixtures.data import MNLI_SIZES, XNLI_FIXTURE_LANGUAGES, XNLI_SIZE
from tests.fixtures.hub import serve_tables
from toolkit.data.features import load_examples
from toolkit.errors import ConfigError, DataError
from toolkit.pipeline.stages import parse
from toolkit.tasks.registry import get_task
from toolkit.tasks.records import LoadRequest, PairExample
from toolkit.tasks.nli import MNLI, NLI_LABELS, XNLI

NLI_FEATURES = {
    "premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=list(NLI_LABELS)),
}
GLUE_MNLI = Features({**NLI_FEATURES, "idx": Value("int32")})  # nyu-mll/glue, config mnli
XNLI_HUB = Features(NLI_FEATURES)  # facebook/xnli, one config per language



def glue_mnli(prefix: str, labels: list[int], first_idx: int = 0) -> Dataset:
    n = len(labels)
    return Dataset.from_dict(
        {"premise": [f"{prefix} premise {i}." for i in range(n)],
         "hypothesis": [f"{prefix} hypothesis {i}." for i in range(n)],
         "label": labels, "idx": list(range(first_idx, first_idx + n))},
        features=GLUE_MNLI,
    )


def cue_label(hypothesis: str) -> int:
    """The rule the conftest fixture follows: negation -> contradiction, hedge -> neutral."""
    words = hypothesis.rstrip(".").split()
    if {"never", "nicht", "pas"} & set(words):
        return NLI_LABELS.index("contradiction")
    if {"perhaps", "vielleicht", "peut-être"} & set(words):
        return NLI_LABELS.index("neutral")
    return NLI_LABELS.index("entailment")


# ---------------------------------------------------------------------------------------------
# Hub.
# ---------------------------------------------------------------------------------------------


def test_mnli_from_hub_maps_splits(monkeypatch):
    calls = serve_tables(monkeypatch, {
        ("nyu-mll/glue", "mnli", "train"): glue_mnli("train", [0, 1, 2, 1], first_idx=100),
        ("nyu-mll/glue", "mnli", "validation_matched"): glue_mnli("matched", [2, 0]),
        ("nyu-mll/glue", "mnli", "validation_mismatched"): glue_mnli("mismatched", [1, 1, 0]),
        ("nyu-mll/glue", "mnli", "test_matched"): glue_mnli("hidden", [-1, -1]),
    })
    train = MNLI.loader(MNLI, LoadRequest("train"))
    assert train[0] == PairExample("mnli-train-100", "train premise 0.", "train hypothesis 0.", 0)
    assert [e.label for e in train] == [0, 1, 2, 1]
    assert [e.id for e in train] == [f"mnli-train-{i}" for i in range(100, 104)]
    val = MNLI.loader(MNLI, LoadRequest("validation"))
    test = MNLI.loader(MNLI, LoadRequest("test", max_examples=2))
    # GLUE's test labels are hidden (-1): validation is matched dev, test is mismatched dev.
    assert calls == [("nyu-mll/glue", "mnli", s) for s in ("train", "validation_matched", "validation_mismatched")]
    assert [(e.text_a, e.label) for e in val] == [("matched premise 0.", 2), ("matched premise 1.", 0)]
    assert [(e.text_a, e.label) for e in test] == [("mismatched premise 0.", 1), ("mismatched premise 1.", 1)]


def test_mnli_hub_row_errors_name_the_hub_row(monkeypatch):
    table = Dataset.from_dict(
        {"premise": ["ok", ""], "hypothesis": ["fine", "x"], "label": [0, 1], "idx": [0, 1]}, features=GLUE_MNLI
    )
    serve_tables(monkeypatch, {("nyu-mll/glue", "mnli", "train"): table})
    with pytest.raises(DataError, match=r"nyu-mll/glue\[mnli\]/train row 1: field 'premise' is empty"):
        MNLI.loader(MNLI, LoadRequest("train"))


def test_xnli_from_hub(monkeypatch):
    de = Dataset.from_dict(
        {"premise": ["Der Hund läuft.", "Die Katze schläft."], "hypothesis": ["Ein Tier läuft.", "Sie ist wach."],
         "label": [0, 2]},
        features=XNLI_HUB,
    )
    en = Dataset.from_dict({"premise": ["A dog runs."], "hypothesis": ["An animal runs."], "label": [0]}, features=XNLI_HUB)
    calls = serve_tables(monkeypatch, {("facebook/xnli", "de", "test"): de, ("facebook/xnli", "de", "validation"): de,
                                   ("facebook/xnli", "en", "test"): en})
    got = XNLI.loader(XNLI, LoadRequest("test", "de"))
    assert got == [PairExample("xnli-de-test-0", "Der Hund läuft.", "Ein Tier läuft.", 0),
                   PairExample("xnli-de-test-1", "Die Katze schläft.", "Sie ist wach.", 2)]
    assert [e.id for e in XNLI.loader(XNLI, LoadRequest("validation", "de", max_examples=1))] == ["xnli-de-validation-0"]
    assert XNLI.loader(XNLI, LoadRequest("test"))[0].text_a == "A dog runs."  # no language: English
    assert calls == [("facebook/xnli", "de", "test"), ("facebook/xnli", "de", "validation"), ("facebook/xnli", "en", "test")]


def test_xnli_has_no_train_split(mnli_fixture_dir):
    for data_dir in (None, str(mnli_fixture_dir / "xnli")):
        with pytest.raises(DataError, match="its English training set is mnli"):
            XNLI.loader(XNLI, LoadRequest("train", "de", data_dir))


# ---------------------------------------------------------------------------------------------
# Local files.
# ---------------------------------------------------------------------------------------------


def test_fixture_loads_through_data_dir_layout(mnli_fixture_dir):
    """`data.data_dir=<dir>` finds MNLI in <dir>/mnli and XNLI in <dir>/xnli."""
    for split, n in MNLI_SIZES.items():
        examples = load_examples(MNLI, split, None, str(mnli_fixture_dir), None)
        assert len(examples) == n
        assert Counter(e.label for e in examples) == {0: n // 3, 1: n // 3, 2: n // 3}
        assert examples[5].id == f"mnli-{split}-5"
    for lang in XNLI_FIXTURE_LANGUAGES:
        for split in ("validation", "test"):
            examples = load_examples(XNLI, split, lang, str(mnli_fixture_dir), None)
            assert len(examples) == XNLI_SIZE
            assert Counter(e.label for e in examples) == {0: XNLI_SIZE // 3, 1: XNLI_SIZE // 3, 2: XNLI_SIZE // 3}
    assert len(load_examples(MNLI, "train", None, str(mnli_fixture_dir), 17)) == 17


def test_fixture_labels_follow_the_cue_words(mnli_fixture_dir):
    """What makes the fixture learnable in a short run: one word decides the label."""
    examples = load_examples(MNLI, "train", None, str(mnli_fixture_dir), None)
    for lang in XNLI_FIXTURE_LANGUAGES:
        examples += load_examples(XNLI, "test", lang, str(mnli_fixture_dir), None)
    assert all(cue_label(e.text_b) == e.label for e in examples)
    assert len({e.text_a for e in examples}) > 100  # varied, not a handful of repeated pairs


GLUE_TRAIN_HEADER = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                     "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label")
GLUE_DEV_HEADER = (*GLUE_TRAIN_HEADER[:10], "label1", "label2", "label3", "label4", "label5", "gold_label")


def glue_row(header, i: int, s1: str, s2: str, gold: str) -> str:
    values = {"index": str(i), "promptID": str(1000 + i), "pairID": f"{1000 + i}e", "genre": "fiction",
              "sentence1": s1, "sentence2": s2, "gold_label": gold}
    return "\t".join(values.get(c, gold if c.startswith("label") else f"( {c} )") for c in header)


def write_glue_mnli(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = [('He said "stop" twice.', "He spoke.", "entailment"), ("It rained.", "It was dry.", "contradiction"),
            ("A man sings.", "A man sings well.", "neutral")]
    for name, header in [("train.tsv", GLUE_TRAIN_HEADER), ("dev_matched.tsv", GLUE_DEV_HEADER),
                         ("dev_mismatched.tsv", GLUE_DEV_HEADER)]:
        lines = ["\t".join(header)] + [glue_row(header, i, *r) for i, r in enumerate(rows)]
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_mnli_glue_tsv(tmp_path):
    root = write_glue_mnli(tmp_path / "mnli")
    for split in ("train", "validation", "test"):
        got = MNLI.loader(MNLI, LoadRequest(split, data_dir=str(root)))
        assert [(e.text_a, e.text_b, e.label) for e in got] == [
            ('He said "stop" twice.', "He spoke.", 0), ("It rained.", "It was dry.", 2), ("A man sings.", "A man sings well.", 1)
        ]
        assert got[2].id == f"mnli-{split}-2"


def test_jsonl_is_preferred_over_glue_tsv(tmp_path, mnli_fixture_dir):
    root = write_glue_mnli(tmp_path / "mnli")
    shutil.copy(mnli_fixture_dir / "mnli" / "validation.jsonl", root / "validation.jsonl")
    assert len(MNLI.loader(MNLI, LoadRequest("validation", data_dir=str(root)))) == MNLI_SIZES["validation"]
    assert len(MNLI.loader(MNLI, LoadRequest("test", data_dir=str(root)))) == 3  # no test.jsonl: GLUE tsv


def test_missing_local_files_say_what_was_expected(tmp_path):
    with pytest.raises(DataError, match=r"mnli train \(train\.jsonl or GLUE tsv\): expected a file at .*train\.tsv"):
        MNLI.loader(MNLI, LoadRequest("train", data_dir=str(tmp_path)))
    with pytest.raises(DataError, match=r"xnli de test \(test-de\.tsv or XNLI-1\.0 tsv\): expected a file at .*xnli\.test\.tsv"):
        XNLI.loader(XNLI, LoadRequest("test", "de", str(tmp_path)))


XNLI1_HEADER = ("language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
                "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre", "label1", "label2",
                "label3", "label4", "label5", "sentence1_tokenized", "sentence2_tokenized", "match")


def write_xnli1(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    lines = ["\t".join(XNLI1_HEADER)]
    for i, (lang, gold, s1, s2) in enumerate(rows):
        values = {"language": lang, "gold_label": gold, "sentence1": s1, "sentence2": s2, "promptID": str(i),
                  "pairID": str(i), "genre": "facetoface", "match": "True"}
        lines.append("\t".join(values.get(c, gold if c.startswith("label") else s1) for c in XNLI1_HEADER))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_xnli_original_distribution(tmp_path):
    rows = [("en", "neutral", "A", "B"), ("de", "entailment", "Der Hund", "Ein Tier"), ("fr", "contradiction", "Le chat", "Rien"),
            ("de", "contradiction", "Die Katze", "Kein Tier"), ("de", "neutral", "Ein Mann", "Er singt")]
    write_xnli1(tmp_path / "xnli.dev.tsv", rows)
    write_xnli1(tmp_path / "xnli.test.tsv", rows[:3])
    de = XNLI.loader(XNLI, LoadRequest("validation", "de", str(tmp_path)))
    assert de == [PairExample("xnli-de-validation-0", "Der Hund", "Ein Tier", 0),
                  PairExample("xnli-de-validation-1", "Die Katze", "Kein Tier", 2),
                  PairExample("xnli-de-validation-2", "Ein Mann", "Er singt", 1)]
    assert len(XNLI.loader(XNLI, LoadRequest("validation", "de", str(tmp_path), max_examples=2))) == 2
    assert [e.text_a for e in XNLI.loader(XNLI, LoadRequest("test", "fr", str(tmp_path)))] == ["Le chat"]
    with pytest.raises(DataError, match=r"xnli\.test\.tsv: no rows with language 'sw'"):
        XNLI.loader(XNLI, LoadRequest("test", "sw", str(tmp_path)))


def test_real_german_xnli_test_in_xtreme_layout(shared_data, tmp_path):
    source = shared_data / "xnli" / "de" / "test.txt"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    shutil.copy(source, tmp_path / "test-de.tsv")
    examples = XNLI.loader(XNLI, LoadRequest("test", "de", str(tmp_path)))
    assert len(examples) == 5010
    assert Counter(NLI_LABELS[e.label] for e in examples) == {"entailment": 1670, "neutral": 1670, "contradiction": 1670}
    assert examples[0].text_a.startswith("Nun, daran dachte ich nicht einmal")
    assert NLI_LABELS[examples[0].label] == "contradiction"
    assert len({e.id for e in examples}) == 5010


# ---------------------------------------------------------------------------------------------
# Malformed local rows: DataError naming file, line and field.
# ---------------------------------------------------------------------------------------------

GOOD_JSONL = json.dumps({"premise": "A man sings.", "hypothesis": "A man sings.", "label": 0, "idx": 0})
GOOD_TSV = "A man sings.\tA person sings.\tentailment"


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ('{"premise": "A man.", "label": 1}', r"line 2: missing field 'hypothesis'"),
        ('{"premise": "A man.", "hypothesis": "B", "label": 3}', r"line 2: field 'label' = 3 is outside 0\.\.2"),
        ('{"premise": "A man.", "hypothesis": "B", "label": "maybe"}', r"line 2: field 'label' = 'maybe' is neither"),
        ('{"premise": "A man.", "hypothesis": "B", "label": 1.5}', r"line 2: field 'label' = 1\.5 is not an integer"),
        ('{"premise": "A man.", "hypothesis": "B"}', r"line 2: missing field 'label'"),
        ('{"premise": " ", "hypothesis": "B", "label": 1}', r"line 2: field 'premise' is empty"),
        ('{"premise": 7, "hypothesis": "B", "label": 1}', r"line 2: field 'premise' must be str, got int"),
        ('{"premise": "A", "hypothesis": "B", "label": 1', r"line 2: not valid JSON"),
    ],
)
def test_malformed_mnli_jsonl(tmp_path, bad_line, message):
    path = tmp_path / "train.jsonl"
    path.write_text(f"{GOOD_JSONL}\n{bad_line}\n{GOOD_JSONL}\n", encoding="utf-8")
    with pytest.raises(DataError, match=message) as err:
        MNLI.loader(MNLI, LoadRequest("train", data_dir=str(tmp_path)))
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("A man.\tB", r"line 3: expected 3 tab-separated fields \(premise, hypothesis, label\), found 2"),
        ("A man.\tB\t5", r"line 3: field 'label' = 5 is outside 0\.\.2"),
        ("A man.\tB\tunknown", r"line 3: field 'label' = 'unknown' is neither a label name"),
        ("A man.\tB\t", r"line 3: field 'label' = '' is neither"),
        ("\tB\tneutral", r"line 3: field 'premise' is empty"),
        ("A man.\t  \tneutral", r"line 3: field 'hypothesis' is empty"),
    ],
)
def test_malformed_xnli_tsv(tmp_path, bad_line, message):
    path = tmp_path / "test-de.tsv"
    path.write_text(f"{GOOD_TSV}\n{GOOD_TSV}\n{bad_line}\n", encoding="utf-8")
    with pytest.raises(DataError, match=message) as err:
        XNLI.loader(XNLI, LoadRequest("test", "de", str(tmp_path)))
    assert str(path) in str(err.value)


def test_malformed_glue_tsv_names_the_column(tmp_path):
    root = write_glue_mnli(tmp_path / "mnli")
    path = root / "dev_mismatched.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].rsplit("\t", 1)[0] + "\tneutrall"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev_mismatched\.tsv line 3: field 'gold_label' = 'neutrall' is neither"):
        MNLI.loader(MNLI, LoadRequest("test", data_dir=str(root)))


@pytest.mark.parametrize(
    "task, name, request_",
    [(MNLI, "train.jsonl", LoadRequest("train")), (XNLI, "test-de.tsv", LoadRequest("test", "de")),
     (XNLI, "xnli.dev.tsv", LoadRequest("validation", "fr"))],
)
def test_bad_utf8_and_empty_files(tmp_path, task, name, request_):
    path = tmp_path / name
    req = LoadRequest(request_.split, request_.language, str(tmp_path))
    good = GOOD_JSONL if name.endswith(".jsonl") else GOOD_TSV if name.startswith("test-") else "language\tgold_label"
    path.write_bytes(good.encode() + b"\n" + good.encode() + b"\nA caf\xe9 sells.\tB\tneutral\n")
    with pytest.raises(DataError, match=r"line 3 is not valid UTF-8") as err:
        task.loader(task, req)
    assert str(path) in str(err.value)
    path.write_bytes(b"")
    with pytest.raises(DataError, match=rf"{path} is empty"):
        task.loader(task, req)


# ---------------------------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------------------------


def test_registry_specs():
    assert get_task("mnli") is MNLI and get_task("xnli") is XNLI
    assert XNLI.train_task == "mnli" and XNLI.xtreme_id == "xnli"
    assert XNLI.languages[0] == "en" and len(XNLI.languages) == 15 and len(set(XNLI.languages)) == 15
    assert MNLI.labels == XNLI.labels == ("entailment", "neutral", "contradiction") and MNLI.num_labels == 3
    assert MNLI.train_size == 392_702


@pytest.mark.parametrize("name, suggestion", [("mnlli", "mnli"), ("xnly", "xnli")])
def test_unknown_task_names_the_nearest(name, suggestion):
    with pytest.raises(ConfigError) as err:
        get_task(name)
    assert f"unknown task {name!r}" in str(err.value)
    assert f"did you mean {suggestion!r}" in str(err.value)
    assert "known tasks: " in str(err.value)


def test_intermediate_task_lists():
    assert parse("mnli+xnli") == [["mnli", "xnli"]]
    assert parse(" mnli ") == [["mnli"]]
    with pytest.raises(ConfigError, match="did you mean 'xnli'"):
        parse("mnli+xnlj")
    with pytest.raises(ConfigError, match="empty stage"):
        parse("+")


def test_fixture_is_learnable_by_a_tiny_model(mnli_fixture_dir, tiny_model_dir):
    """A short run on the fixture's MNLI train set (what the end-to-end tests rely on): the loss
    falls and held-out accuracy leaves chance."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from toolkit.data.batching import global_batches
    from toolkit.families.pair import FAMILY
    from toolkit.families.multitask import MultiTaskModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = MultiTaskModel(AutoModel.from_pretrained(tiny_model_dir, add_pooling_layer=False), {"mnli": MNLI})
    train = FAMILY.featurize(MNLI, load_examples(MNLI, "train", None, str(mnli_fixture_dir), None), tokenizer, 64)
    val = FAMILY.featurize(MNLI, load_examples(MNLI, "validation", None, str(mnli_fixture_dir), None), tokenizer, 64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for epoch in range(5):
        for batch in global_batches([f["length"] for f in train], 16, seed=0, epoch=epoch):
            loss = model("mnli", FAMILY.collate([train[i] for i in batch], tokenizer.pad_token_id)).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        logits = model("mnli", FAMILY.collate(val, tokenizer.pad_token_id)).outputs["logits"]
    accuracy = (logits.argmax(-1) == torch.tensor([f["label"] for f in val])).float().mean().item()
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    # Measured: loss 1.18 -> 0.40 over these 75 steps, validation accuracy 0.92.
    assert last < 0.5 * first, (first, last)
    assert accuracy > 0.75, accuracy
