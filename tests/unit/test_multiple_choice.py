"""The multiple-choice family and the HellaSwag / CosmosQA / SocialIQA / CommonsenseQA loaders."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch
from datasets import Dataset, Features, Sequence, Value

from tests.fixtures.data import shared_data_root
from tests.fixtures.hub import serve_tables, write_jsonl
from toolkit.errors import ConfigError, DataError
from toolkit.families.registry import get_family
from toolkit.families.multiple_choice import FAMILY
from tests.fixtures.tiny_models import tiny_encoder, tiny_tokenizer
from toolkit.tasks.records import LoadRequest, MultipleChoiceExample
from toolkit.tasks.multiple_choice import COMMONSENSEQA, COSMOSQA, HELLASWAG, SOCIALIQA

SHARED = shared_data_root()


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()




# ---------------------------------------------------------------------------------------------
# HellaSwag.
# ---------------------------------------------------------------------------------------------

HELLASWAG_FEATURES = Features({
    "ind": Value("int32"), "activity_label": Value("string"), "ctx_a": Value("string"),
    "ctx_b": Value("string"), "ctx": Value("string"), "endings": Sequence(Value("string")),
    "source_id": Value("string"), "split": Value("string"), "split_type": Value("string"),
    "label": Value("string"),
})


def hellaswag_rows(labels, endings=None):
    n = len(labels)
    return {
        "ind": list(range(10, 10 + n)), "activity_label": ["Removing ice from car"] * n,
        "ctx_a": ["A man is standing outside in the snow."] * n, "ctx_b": ["he", ""] * (n // 2) + ["he"] * (n % 2),
        "ctx": ["A man is standing outside in the snow. he"] * n,
        "endings": endings or [["scrapes the window.", "eats it.", "sings.", "flies away."]] * n,
        "source_id": ["activitynet~v_1"] * n, "split": ["val"] * n, "split_type": ["indomain"] * n,
        "label": labels,
    }


def test_hellaswag_hub(monkeypatch):
    def table(labels):
        return Dataset.from_dict(hellaswag_rows(labels), features=HELLASWAG_FEATURES)

    calls = serve_tables(monkeypatch, {
        ("Rowan/hellaswag", None, "validation"): table(["0", "3"]),
        ("Rowan/hellaswag", None, "test"): table(["", ""]),
        ("Rowan/hellaswag", None, "train"): table(["1", ""]),
    })
    ex = HELLASWAG.loader(HELLASWAG, LoadRequest("validation"))
    assert calls == [("Rowan/hellaswag", None, "validation")]
    assert [e.label for e in ex] == [0, 3]
    assert ex[0] == MultipleChoiceExample(
        id="hellaswag-validation-10", context="A man is standing outside in the snow.", question="",
        choices=("he scrapes the window.", "he eats it.", "he sings.", "he flies away."), label=0)
    assert ex[1].choices[0] == "scrapes the window."  # empty ctx_b adds nothing
    assert [e.label for e in HELLASWAG.loader(HELLASWAG, LoadRequest("test"))] == [-1, -1]
    with pytest.raises(DataError, match=r"Rowan/hellaswag\[None\]/train row 1: field 'label'"):
        HELLASWAG.loader(HELLASWAG, LoadRequest("train"))


def test_hellaswag_bad_rows(monkeypatch):
    serve_tables(monkeypatch, {
        ("Rowan/hellaswag", None, "train"): Dataset.from_dict(
            hellaswag_rows(["0"], endings=[["a.", "b.", "c."]]), features=HELLASWAG_FEATURES),
        ("Rowan/hellaswag", None, "validation"): Dataset.from_dict(hellaswag_rows(["4"]), features=HELLASWAG_FEATURES),
    })
    with pytest.raises(DataError, match="row 0: field 'endings' has 3 entries, expected 4"):
        HELLASWAG.loader(HELLASWAG, LoadRequest("train"))
    with pytest.raises(DataError, match="'label' = '4' is outside 0..3"):
        HELLASWAG.loader(HELLASWAG, LoadRequest("validation"))


def test_hellaswag_local(tmp_path):
    row = {"ind": 4, "activity_label": "x", "ctx_a": "A dog runs.", "ctx_b": "It", "ctx": "A dog runs. It",
           "endings": ["stops.", "sleeps.", "barks.", "eats."], "source_id": "s", "split": "val",
           "split_type": "zeroshot"}
    write_jsonl(tmp_path / "hellaswag_val.jsonl", [{**row, "label": 2}])  # official: int label
    write_jsonl(tmp_path / "train.jsonl", [{**row, "label": "1"}, {**row, "ind": 5, "label": "0"}])
    ex = HELLASWAG.loader(HELLASWAG, LoadRequest("validation", data_dir=str(tmp_path)))
    assert [(e.id, e.label, e.choices[2]) for e in ex] == [("hellaswag-validation-4", 2, "It barks.")]
    ex = HELLASWAG.loader(HELLASWAG, LoadRequest("train", data_dir=str(tmp_path), max_examples=1))
    assert [e.label for e in ex] == [1]
    write_jsonl(tmp_path / "train.jsonl", [{**row, "label": "1"}, {**row, "label": "0"}])
    with pytest.raises(DataError, match="duplicate example id 'hellaswag-train-4'"):
        HELLASWAG.loader(HELLASWAG, LoadRequest("train", data_dir=str(tmp_path)))
    with pytest.raises(DataError, match="expected one of test.jsonl, hellaswag_test.jsonl"):
        HELLASWAG.loader(HELLASWAG, LoadRequest("test", data_dir=str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# CosmosQA.
# ---------------------------------------------------------------------------------------------

COSMOS_FEATURES = Features({
    "id": Value("string"), "context": Value("string"), "question": Value("string"),
    **{f"answer{k}": Value("string") for k in range(4)}, "label": Value("int32"),
})


def cosmos_rows(labels):
    n = len(labels)
    return {"id": [f"q{i}" for i in range(n)], "context": ["I missed the bus , so I walked ."] * n,
            "question": ["Why did I walk ?"] * n, **{f"answer{k}": [f"Answer {k} ."] * n for k in range(4)},
            "label": labels}


def test_cosmosqa_hub(monkeypatch):
    calls = serve_tables(monkeypatch, {
        ("allenai/cosmos_qa", None, "train"): Dataset.from_dict(cosmos_rows([3, 0, 1]), features=COSMOS_FEATURES),
        ("allenai/cosmos_qa", None, "test"): Dataset.from_dict(cosmos_rows([-1]), features=COSMOS_FEATURES),
        ("allenai/cosmos_qa", None, "validation"): Dataset.from_dict(cosmos_rows([4]), features=COSMOS_FEATURES),
    })
    ex = COSMOSQA.loader(COSMOSQA, LoadRequest("train", max_examples=2))
    # main holds only cosmos_qa.py: the loader reads the Parquet export's default/ folder
    assert calls == [("allenai/cosmos_qa", "default", "train")]
    assert calls.log[0].source.revision == "refs/convert/parquet"
    assert [(e.id, e.label) for e in ex] == [("q0", 3), ("q1", 0)]
    assert ex[0].question == "Why did I walk ?" and ex[0].choices[3] == "Answer 3 ."
    assert [e.label for e in COSMOSQA.loader(COSMOSQA, LoadRequest("test"))] == [-1]
    with pytest.raises(DataError, match="row 0: field 'label' = 4 is outside 0..3"):
        COSMOSQA.loader(COSMOSQA, LoadRequest("validation"))


def test_cosmosqa_official_csv(tmp_path):
    header = "id,context,question,answer0,answer1,answer2,answer3,label\n"
    (tmp_path / "valid.csv").write_text(
        header + 'a1,"It rained , so we stayed in.\nThen we read.",Why stay ?,Rain .,Sun .,Snow .,None .,0\n'
        + 'a2,Ctx .,Q ?,A .,B .,C .,D .,3\n', encoding="utf-8")
    ex = COSMOSQA.loader(COSMOSQA, LoadRequest("validation", data_dir=str(tmp_path)))
    assert [(e.id, e.label) for e in ex] == [("a1", 0), ("a2", 3)]
    assert ex[0].context == "It rained , so we stayed in.\nThen we read."
    (tmp_path / "train.csv").write_text(header + "b1,Ctx .,Q ?,A .,,C .,D .,1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.csv line 2: field 'answer1' is empty"):
        COSMOSQA.loader(COSMOSQA, LoadRequest("train", data_dir=str(tmp_path)))
    (tmp_path / "train.csv").write_text(header + "b1,Ctx .,Q ?,A .,B .,C .,D .,x\n", encoding="utf-8")
    with pytest.raises(DataError, match="field 'label' must be an integer, got 'x'"):
        COSMOSQA.loader(COSMOSQA, LoadRequest("train", data_dir=str(tmp_path)))


def test_cosmosqa_hub_schema_jsonl(tmp_path):
    rows = [dict(zip(cosmos_rows([2]).keys(), vals)) for vals in zip(*cosmos_rows([2]).values())]
    write_jsonl(tmp_path / "train.jsonl", rows)
    ex = COSMOSQA.loader(COSMOSQA, LoadRequest("train", data_dir=str(tmp_path)))
    assert [(e.id, e.label) for e in ex] == [("q0", 2)]


@pytest.mark.skipif(not (SHARED / "cosmosqa" / "valid.csv").exists(), reason="shared data not present")
def test_cosmosqa_real_dev():
    ex = COSMOSQA.loader(COSMOSQA, LoadRequest("validation", data_dir=str(SHARED / "cosmosqa")))
    assert len(ex) == 2985
    assert all(len(e.choices) == 4 and 0 <= e.label < 4 for e in ex)
    assert np.bincount([e.label for e in ex]).tolist() == [744, 729, 761, 751]


# ---------------------------------------------------------------------------------------------
# SocialIQA.
# ---------------------------------------------------------------------------------------------

SIQA_FEATURES = Features(
    {k: Value("string") for k in ["context", "question", "answerA", "answerB", "answerC", "label"]}
)


def siqa_rows(labels):
    n = len(labels)
    return {"context": ["Cameron had a barbecue."] * n, "question": ["How would others feel?"] * n,
            "answerA": ["happy"] * n, "answerB": ["bored"] * n, "answerC": ["angry"] * n, "label": labels}


def test_socialiqa_hub(monkeypatch):
    calls = serve_tables(monkeypatch, {
        ("lighteval/siqa", None, "validation"): Dataset.from_dict(
            siqa_rows(["1", "3", "2\n"]), features=SIQA_FEATURES),
        ("lighteval/siqa", None, "train"): Dataset.from_dict(siqa_rows(["0"]), features=SIQA_FEATURES),
        ("allenai/social_i_qa", None, "validation"): Dataset.from_dict(siqa_rows(["2"]), features=SIQA_FEATURES),
    })
    ex = SOCIALIQA.loader(SOCIALIQA, LoadRequest("validation"))
    assert calls == [("lighteval/siqa", None, "validation")]
    assert [e.label for e in ex] == [0, 2, 1]  # "1".."3" -> 0..2; old Hub builds had a trailing newline
    assert ex[0].choices == ("happy", "bored", "angry") and ex[0].id == "socialiqa-validation-0"
    with pytest.raises(DataError, match="'label' = '0' is outside 1..3"):
        SOCIALIQA.loader(SOCIALIQA, LoadRequest("train"))
    allenai = dataclasses.replace(SOCIALIQA, extra={**SOCIALIQA.extra, "hub_path": "allenai/social_i_qa"})
    assert [e.label for e in allenai.loader(allenai, LoadRequest("validation"))] == [1]
    with pytest.raises(ConfigError, match="no test split .* evaluate on split validation"):
        SOCIALIQA.loader(SOCIALIQA, LoadRequest("test"))


def test_socialiqa_official_files(tmp_path):
    rows = [{k: v[0] for k, v in siqa_rows(["x"]).items() if k != "label"}] * 3
    write_jsonl(tmp_path / "dev.jsonl", rows)
    (tmp_path / "dev-labels.lst").write_text("2\n1\n3\n", encoding="utf-8")
    ex = SOCIALIQA.loader(SOCIALIQA, LoadRequest("validation", data_dir=str(tmp_path)))
    assert [e.label for e in ex] == [1, 0, 2]
    first_two = LoadRequest("validation", data_dir=str(tmp_path), max_examples=2)
    assert [e.label for e in SOCIALIQA.loader(SOCIALIQA, first_two)] == [1, 0]
    (tmp_path / "dev-labels.lst").write_text("2\n1\n", encoding="utf-8")
    with pytest.raises(DataError, match="2 labels for 3 rows"):
        SOCIALIQA.loader(SOCIALIQA, LoadRequest("validation", data_dir=str(tmp_path)))
    write_jsonl(tmp_path / "train.jsonl", [{**rows[0], "label": "2"}, {**rows[0]}])
    with pytest.raises(DataError, match="train.jsonl line 2: field 'label' is missing"):
        SOCIALIQA.loader(SOCIALIQA, LoadRequest("train", data_dir=str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# CommonsenseQA.
# ---------------------------------------------------------------------------------------------

CSQA_FEATURES = Features({
    "id": Value("string"), "question": Value("string"), "question_concept": Value("string"),
    "choices": Sequence({"label": Value("string"), "text": Value("string")}), "answerKey": Value("string"),
})


def csqa_rows(keys):
    n = len(keys)
    return {"id": [f"c{i}" for i in range(n)], "question": ["Where do you keep milk?"] * n,
            "question_concept": ["milk"] * n,
            "choices": [{"label": list("ABCDE"), "text": ["fridge", "oven", "car", "bed", "roof"]}] * n,
            "answerKey": keys}


def test_commonsenseqa_hub(monkeypatch):
    serve_tables(monkeypatch, {
        ("tau/commonsense_qa", None, "train"): Dataset.from_dict(csqa_rows(["A", "E"]), features=CSQA_FEATURES),
        ("tau/commonsense_qa", None, "test"): Dataset.from_dict(csqa_rows(["", ""]), features=CSQA_FEATURES),
        ("tau/commonsense_qa", None, "validation"): Dataset.from_dict(csqa_rows(["F"]), features=CSQA_FEATURES),
    })
    ex = COMMONSENSEQA.loader(COMMONSENSEQA, LoadRequest("train"))
    assert [(e.id, e.label) for e in ex] == [("c0", 0), ("c1", 4)]
    assert ex[0] == MultipleChoiceExample("c0", "", "Where do you keep milk?",
                                          ("fridge", "oven", "car", "bed", "roof"), 0)
    assert [e.label for e in COMMONSENSEQA.loader(COMMONSENSEQA, LoadRequest("test"))] == [-1, -1]
    with pytest.raises(DataError, match="answerKey 'F' is not one of the choice labels"):
        COMMONSENSEQA.loader(COMMONSENSEQA, LoadRequest("validation"))


def test_commonsenseqa_official_jsonl(tmp_path):
    choices = [{"label": k, "text": t} for k, t in zip("ABCDE", ["a", "b", "c", "d", "e"])]
    row = {"answerKey": "C", "id": "x1", "question": {"question_concept": "q", "choices": choices, "stem": "Which?"}}
    write_jsonl(tmp_path / "dev_rand_split.jsonl", [row])
    ex = COMMONSENSEQA.loader(COMMONSENSEQA, LoadRequest("validation", data_dir=str(tmp_path)))
    assert ex == [MultipleChoiceExample("x1", "", "Which?", ("a", "b", "c", "d", "e"), 2)]
    bad = {**row, "question": {**row["question"], "choices": choices[:4]}}
    write_jsonl(tmp_path / "train_rand_split.jsonl", [bad])
    with pytest.raises(DataError, match="line 1: field 'choices.label' has 4 entries, expected 5"):
        COMMONSENSEQA.loader(COMMONSENSEQA, LoadRequest("train", data_dir=str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# The family: features, collation, head, decoding, training.
# ---------------------------------------------------------------------------------------------


def mc_examples(n_choices: int, n: int = 3) -> list[MultipleChoiceExample]:
    """Examples whose right answer is always the same sentence, at position i % n_choices."""
    distractors = ["The cat sat on the mat.", "Two dogs run in the park.", "A man is playing a guitar.",
                   "Le chien court dans le parc.", "Die Katze schläft auf dem Sofa."]
    answer = "Paris is the capital of France."
    examples = []
    for i in range(n):
        choices = [distractors[(i + k) % len(distractors)] for k in range(n_choices - 1)]
        choices.insert(i % n_choices, answer)
        examples.append(MultipleChoiceExample(f"e{i}", "Where was the treaty signed?", "What is the capital?",
                                              tuple(choices), i % n_choices))
    return examples


@pytest.mark.parametrize("n_choices", [3, 4, 5])
def test_head_shapes(tokenizer, n_choices):
    examples = mc_examples(n_choices)
    features = FAMILY.featurize(HELLASWAG, examples, tokenizer, 64)
    assert all(len(f["input_ids"]) == n_choices for f in features)
    assert all(f["length"] == max(map(len, f["input_ids"])) for f in features)
    batch = FAMILY.collate(features, tokenizer.pad_token_id)
    width = max(f["length"] for f in features)
    assert batch["input_ids"].shape == (3 * n_choices, width) == batch["attention_mask"].shape
    assert int(batch["num_choices"]) == n_choices and batch["labels"].tolist() == [0, 1, 2 % n_choices]
    encoder = tiny_encoder(tokenizer)
    head = get_family("multiple_choice").make_head(HELLASWAG, encoder)
    hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    out = head(hidden, batch)
    assert out.outputs["logits"].shape == (3, n_choices)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    preds = FAMILY.decode(HELLASWAG, examples, features, {"logits": out.outputs["logits"].detach().numpy()})
    assert set(preds) == {"e0", "e1", "e2"} and all(0 <= p < n_choices for p in preds.values())
    # each choice is scored on its own sequence: the first row of example 1 is its first choice
    first_choice = features[1]["input_ids"][0]
    assert batch["input_ids"][n_choices, : len(first_choice)].tolist() == first_choice


def test_pair_layout_and_truncation(tokenizer, caplog):
    ex = MultipleChoiceExample("t", "The cat sat on the mat. " * 20, "Where was the treaty signed?",
                               ("Paris.", "Two dogs run in the park."), 0)
    full = FAMILY.featurize(HELLASWAG, [ex], tokenizer, 512)[0]["input_ids"][0]
    ctx = tokenizer(ex.context, add_special_tokens=False)["input_ids"]
    q = tokenizer(ex.question, add_special_tokens=False)["input_ids"]
    choice = tokenizer("Paris.", add_special_tokens=False)["input_ids"]
    assert full == [0, *ctx, *q, 2, 2, *choice, 2]
    with caplog.at_level(logging.WARNING):
        short = FAMILY.featurize(HELLASWAG, [ex], tokenizer, 40)[0]
    assert "truncated 2 of 2 choice sequences" in caplog.text
    assert all(len(s) <= 40 for s in short["input_ids"])
    first = short["input_ids"][0]
    # the context lost its tail; the question and the choice are whole
    assert first[-len(choice) - 1 : -1] == choice
    assert first[first.index(2) - len(q) : first.index(2)] == q
    assert first[1 : 1 + 5] == ctx[:5]


def test_collate_rejects_mixed_choice_counts(tokenizer):
    feats = FAMILY.featurize(HELLASWAG, mc_examples(3, 1) + mc_examples(4, 1), tokenizer, 64)
    with pytest.raises(DataError, match=r"mixes examples with \[3, 4\] choices"):
        FAMILY.collate(feats, tokenizer.pad_token_id)


def test_gold_and_unlabelled_batches(tokenizer):
    ex = mc_examples(4, 2)
    assert FAMILY.gold(COSMOSQA, ex[1]) == 1
    unlabelled = [MultipleChoiceExample("u", "c", "q", ("a", "b", "c", "d"), -1)]
    assert FAMILY.gold(COSMOSQA, unlabelled[0]) is None
    batch = FAMILY.collate(FAMILY.featurize(COSMOSQA, unlabelled, tokenizer, 32), tokenizer.pad_token_id)
    encoder = tiny_encoder(tokenizer)
    hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    assert FAMILY.make_head(COSMOSQA, encoder)(hidden, batch).loss is None


def test_short_training_run_reduces_loss(tokenizer):
    torch.manual_seed(0)
    examples = mc_examples(4, 8)
    batch = FAMILY.collate(FAMILY.featurize(COSMOSQA, examples, tokenizer, 128), tokenizer.pad_token_id)
    encoder = tiny_encoder(tokenizer)
    head = FAMILY.make_head(COSMOSQA, encoder)
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3)
    losses = []
    for _ in range(25):
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        loss = head(hidden, batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses
