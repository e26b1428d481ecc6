"""MLM family (windows, collate-time masking, tied LM head) and the multilingual corpus."""

from __future__ import annotations

import logging
import math
import numpy as np
import pytest

from tests.fixtures.hub import session_hub
import torch

from baselines.mlm import corpus
from baselines.mlm.corpus import (
    MLM,
    language_probabilities,
    load_corpus,
    mix_languages,
    mlm_task,
)
from toolkit.runtime.distributed import Dist
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation.metrics import mlm_accuracy
from toolkit.evaluation.predict import predict
from toolkit.families.registry import get_family
from toolkit.families import mlm
from toolkit.families.multitask import MultiTaskModel
from tests.fixtures.tiny_models import _CORPUS, tiny_config, tiny_encoder, tiny_tokenizer
from toolkit.tasks.records import LoadRequest, TextExample

CPU = Dist(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))
LINES = _CORPUS.splitlines()


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def texts(n_copies: int = 1, language: str = "xx") -> list[TextExample]:
    lines = LINES * n_copies
    return [TextExample(f"{language}-{i}", line, language) for i, line in enumerate(lines)]


# ---------------------------------------------------------------------------------------------
# Featurising.
# ---------------------------------------------------------------------------------------------


def test_windows_cover_each_text_once_without_overlap(tok):
    long_text = " ".join(LINES)  # several hundred tokens
    examples = [TextExample("long", long_text, "en"), TextExample("short", "Der Hund.", "de")]
    features = mlm.featurize(MLM, examples, tok, max_length=32)
    pieces = tok(long_text, add_special_tokens=False)["input_ids"]
    long_windows = [f for f in features if f["example_index"] == 0]
    assert len(long_windows) == math.ceil(len(pieces) / 30)
    for f in features:
        assert f["input_ids"][0] == tok.bos_token_id and f["input_ids"][-1] == tok.eos_token_id
        assert f["length"] == len(f["input_ids"]) <= 32
        assert f["mask_id"] == tok.mask_token_id and f["vocab_size"] == len(tok)
    # The windows concatenate back to the text exactly, and are near-equal (no tiny stub).
    assert sum((f["input_ids"][1:-1] for f in long_windows), []) == pieces
    sizes = [f["length"] - 2 for f in long_windows]
    assert max(sizes) - min(sizes) <= 1
    assert [f["language"] for f in features] == ["en"] * len(long_windows) + ["de"]
    counts = mlm.token_counts(features)
    assert counts == {"en": len(pieces), "de": len(tok("Der Hund.", add_special_tokens=False)["input_ids"])}


def test_featurize_errors(tok):
    with pytest.raises(DataError, match="'empty'.*no tokens"):
        mlm.featurize(MLM, [TextExample("empty", "", "en")], tok, 32)
    with pytest.raises(ConfigError, match="no room"):
        mlm.featurize(MLM, texts(), tok, 2)


def test_features_survive_the_feature_cache(tok, tmp_path):
    from toolkit.data.features import featurize_cached

    features = featurize_cached(MLM, texts(), tok, 32, tmp_path)
    torch.manual_seed(0)
    batch = mlm.collate([features[i] for i in range(8)], tok.pad_token_id)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert features[0]["special_ids"] == sorted(tok.all_special_ids)


# ---------------------------------------------------------------------------------------------
# Masking.
# ---------------------------------------------------------------------------------------------


def test_masking_statistics(tok):
    features = mlm.featurize(MLM, texts(300), tok, max_length=64)  # ~120k text tokens
    original = mlm.encoder_inputs(features, tok.pad_token_id)["input_ids"]
    torch.manual_seed(123)
    batch = mlm.collate(features, tok.pad_token_id)
    ids, labels = batch["input_ids"], batch["labels"]
    specials = torch.tensor(sorted(set(tok.all_special_ids)))
    maskable = ~torch.isin(original, specials)
    chosen = labels != mlm.IGNORE_INDEX
    assert maskable.sum() > 100_000
    # Specials and padding are never chosen nor changed; labels hold the original ids.
    assert not (chosen & ~maskable).any()
    assert torch.equal(ids[~maskable], original[~maskable])
    assert torch.equal(labels[chosen], original[chosen])
    assert torch.equal(batch["attention_mask"], (original != tok.pad_token_id).long())
    rate = chosen.sum().item() / maskable.sum().item()
    assert abs(rate - 0.15) < 0.005, rate
    n = chosen.sum().item()
    to_mask = (ids == tok.mask_token_id) & chosen
    unchanged = (ids == original) & chosen
    random = chosen & ~to_mask & ~unchanged
    assert abs(to_mask.sum().item() / n - 0.8) < 0.015
    assert abs(random.sum().item() / n - 0.1) < 0.01
    # A random draw can equal the original token (1 in ~160 here): a hair above 10%.
    assert abs(unchanged.sum().item() / n - 0.1) < 0.01
    assert not torch.isin(ids[random], specials).any()  # random tokens are never special
    assert not ((ids == tok.mask_token_id) & ~chosen).any()


def test_masks_follow_torch_seed_and_are_fresh_each_draw(tok):
    features = mlm.featurize(MLM, texts(2), tok, max_length=32)

    def draw(seed):
        torch.manual_seed(seed)
        return mlm.collate(features, tok.pad_token_id)

    a, b, c = draw(7), draw(7), draw(8)
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
    assert not torch.equal(a["labels"], c["labels"])


def test_frozen_masks_are_fixed_and_used_as_they_are(tok):
    features = mlm.featurize(MLM, texts(2), tok, max_length=32)
    frozen = mlm.freeze_masks(features, seed=3)
    assert frozen == mlm.freeze_masks(features, seed=3)
    assert frozen != mlm.freeze_masks(features, seed=4)
    assert all("labels" not in f for f in features)  # the originals are untouched
    torch.manual_seed(1)
    first = mlm.collate(frozen, tok.pad_token_id)
    torch.manual_seed(2)
    second = mlm.collate(frozen, tok.pad_token_id)
    assert torch.equal(first["input_ids"], second["input_ids"])
    assert torch.equal(first["labels"], second["labels"])
    assert (first["labels"] != mlm.IGNORE_INDEX).any()
    with pytest.raises(ConfigError, match="mixes"):
        mlm.collate([frozen[0], features[1]], tok.pad_token_id)


# ---------------------------------------------------------------------------------------------
# Head.
# ---------------------------------------------------------------------------------------------


def test_decoder_is_tied_to_the_word_embeddings(tok):
    encoder = tiny_encoder(tok)
    model = MultiTaskModel(encoder, {"mlm": MLM})
    head = model.heads["mlm"]
    embedding = encoder.get_input_embeddings().weight
    assert head.decoder.weight is embedding
    assert head.decoder.weight.data_ptr() == embedding.data_ptr()
    names = [n for n, p in model.named_parameters() if p is embedding]
    assert names == ["encoder.embeddings.word_embeddings.weight"]  # one Parameter, listed once
    torch.manual_seed(0)
    batch = mlm.collate(mlm.featurize(MLM, texts(), tok, 32), tok.pad_token_id)
    model("mlm", batch).loss.backward()
    assert embedding.grad is not None and embedding.grad.abs().sum() > 0


def test_no_masked_token_gives_a_zero_loss_with_a_graph(tok):
    model = MultiTaskModel(tiny_encoder(tok), {"mlm": MLM})
    ids = torch.tensor([[0, 10, 11, 2]])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.full_like(ids, -100)}
    out = model("mlm", batch)
    assert out.loss.item() == 0.0 and out.loss.requires_grad
    out.loss.backward()
    assert torch.equal(out.outputs["predicted"], batch["labels"])


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
def test_pretrained_lm_head_matches_hf_masked_lm(tok, tmp_path, safe, caplog):
    """An XLMRobertaForMaskedLM checkpoint: our encoder + head give its loss and predictions."""
    from transformers import AutoModel, XLMRobertaForMaskedLM

    torch.manual_seed(0)
    reference = XLMRobertaForMaskedLM(tiny_config(len(tok))).eval()
    with torch.no_grad():
        for p in reference.lm_head.parameters():
            p.normal_(0, 0.5)  # nothing left at its default: a wrong copy would show
    reference.save_pretrained(tmp_path, safe_serialization=safe)
    encoder = AutoModel.from_pretrained(tmp_path, add_pooling_layer=False)
    with caplog.at_level(logging.INFO, logger="toolkit.families.mlm"):
        model = MultiTaskModel(encoder, {"mlm": MLM}).eval()
    assert "initialised from the pretrained weights" in caplog.text
    head = model.heads["mlm"]
    assert torch.equal(head.dense.weight, reference.lm_head.dense.weight)
    assert torch.equal(head.decoder.bias, reference.lm_head.bias)

    torch.manual_seed(5)
    batch = mlm.collate(mlm.featurize(MLM, texts(), tok, 32), tok.pad_token_id)
    with torch.no_grad():
        ours = model("mlm", batch)
        theirs = reference(**batch)
    assert ours.loss.item() == pytest.approx(theirs.loss.item(), rel=1e-5)
    at = batch["labels"] != -100
    assert torch.equal(ours.outputs["predicted"][at], theirs.logits.argmax(-1)[at])


def test_bare_encoder_gets_a_fresh_head_and_says_so(tok, tiny_model_dir, caplog):
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(tiny_model_dir, add_pooling_layer=False)
    head = mlm.MaskedLMHead(encoder.get_input_embeddings(), 32, len(tok), 1e-5)
    assert mlm.load_pretrained_lm_head(head, str(tiny_model_dir)) is False
    with caplog.at_level(logging.INFO, logger="toolkit.families.mlm"):
        mlm.make_head(MLM, encoder)
    assert "has no pretrained LM head" in caplog.text and str(tiny_model_dir) in caplog.text


def test_partial_lm_head_is_an_error(tok, tmp_path):
    from safetensors.torch import save_file

    save_file({"lm_head.dense.weight": torch.zeros(32, 32)}, str(tmp_path / "model.safetensors"))
    head = mlm.MaskedLMHead(torch.nn.Embedding(len(tok), 32), 32, len(tok), 1e-5)
    with pytest.raises(DataError, match="lm_head.dense.bias"):
        mlm.load_pretrained_lm_head(head, str(tmp_path))
    save_file({k: torch.zeros(7) for k in ["lm_head.dense.weight", "lm_head.dense.bias",
                                          "lm_head.layer_norm.weight", "lm_head.layer_norm.bias",
                                          "lm_head.bias"]}, str(tmp_path / "model.safetensors"))
    with pytest.raises(DataError, match="shape"):
        mlm.load_pretrained_lm_head(head, str(tmp_path))


# ---------------------------------------------------------------------------------------------
# Training and scoring.
# ---------------------------------------------------------------------------------------------


def _evaluate(model, spec, examples, frozen):
    family = get_family("mlm")
    outputs = predict(model, spec, frozen, batch_size=16, pad_id=1, dist=CPU)
    predictions = family.decode(spec, examples, frozen, outputs)
    golds = {e.id: family.gold(spec, e) for e in examples}
    return predictions, mlm_accuracy(predictions, golds)["accuracy"]


def _heldout_loss(model, frozen) -> float:
    with torch.no_grad():
        return model("mlm", mlm.collate(frozen, 1)).loss.item()


def test_training_lowers_the_loss_and_raises_accuracy(tok):
    examples = texts(1, "en") + texts(1, "de")
    features = mlm.featurize(MLM, examples, tok, max_length=24)
    frozen = mlm.freeze_masks(features, seed=0)
    model = MultiTaskModel(tiny_encoder(tok), {"mlm": MLM})
    model.eval()
    loss_before = _heldout_loss(model, frozen)
    _, accuracy_before = _evaluate(model, MLM, examples, frozen)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    rng = np.random.default_rng(0)
    for step in range(100):
        torch.manual_seed(step)  # as the engine does: fresh masks every step
        batch = mlm.collate([features[i] for i in rng.choice(len(features), 16)], 1)
        loss = model("mlm", batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    loss_after = _heldout_loss(model, frozen)
    predictions, accuracy_after = _evaluate(model, MLM, examples, frozen)
    assert loss_after < loss_before - 1.0, (loss_before, loss_after)
    assert accuracy_after > accuracy_before + 5, (accuracy_before, accuracy_after)
    # decode: every text, its masked tokens in window order, labels = the frozen labels.
    assert set(predictions) == {e.id for e in examples}
    first_text = [f for f in frozen if f["example_index"] == 0]
    assert predictions[examples[0].id]["labels"] == [t for f in first_text for t in f["labels"] if t >= 0]


def test_mlm_accuracy_counts_tokens_and_reports_missing_texts(caplog):
    predictions = {"a": {"predicted": [1, 2, 3], "labels": [1, 2, 4]}, "b": {"predicted": [5], "labels": [5]}}
    assert mlm_accuracy(predictions, {"a": None, "b": None}) == {"accuracy": 75.0}
    with caplog.at_level(logging.WARNING):
        assert mlm_accuracy(predictions, {"a": None, "c": None}) == {"accuracy": 100 * 2 / 3}
    assert "1 of 2 texts have no prediction" in caplog.text
    with pytest.raises(DataError, match="no masked tokens"):
        mlm_accuracy({"a": {"predicted": [], "labels": []}}, {"a": None})


# ---------------------------------------------------------------------------------------------
# Corpus: language sampling.
# ---------------------------------------------------------------------------------------------


def test_language_probabilities():
    sizes = {"en": 10_000, "sw": 100}
    assert language_probabilities(sizes, 1.0) == pytest.approx({"en": 10_000 / 10_100, "sw": 100 / 10_100})
    assert language_probabilities(sizes, 0.0) == pytest.approx({"en": 0.5, "sw": 0.5})
    # By hand: 100^0.3 = 10^0.6 = 3.98107, 10000^0.3 = 10^1.2 = 15.84893; 3.98107 / 19.83000.
    assert language_probabilities(sizes, 0.3) == pytest.approx({"en": 0.799240, "sw": 0.200760}, abs=1e-6)
    with pytest.raises(ConfigError, match="alpha"):
        language_probabilities(sizes, -0.1)
    with pytest.raises(DataError, match="positive"):
        language_probabilities({"en": 0}, 0.3)
    with pytest.raises(ConfigError, match="no languages"):
        language_probabilities({}, 0.3)


def _lang_texts(lang: str, n: int, length: int) -> list[TextExample]:
    return [TextExample(f"{lang}-{i}", "x" * length, lang) for i in range(n)]


def test_mix_languages_meets_the_shares_and_repeats_small_languages():
    texts_in = _lang_texts("en", 200, 50) + _lang_texts("sw", 4, 50)  # 10,000 and 200 chars
    mixed = mix_languages(texts_in, alpha=0.3, seed=1)
    probs = language_probabilities({"en": 10_000, "sw": 200}, 0.3)
    chars = {lang: sum(len(t.text) for t in mixed if t.language == lang) for lang in ("en", "sw")}
    total = 10_200
    for lang in chars:
        assert probs[lang] * total <= chars[lang] < probs[lang] * total + 50
    assert len({t.id for t in mixed}) == len(mixed)  # repeats are renamed, ids stay unique
    assert any(t.id.startswith("sw-") and "#" in t.id for t in mixed)
    assert mixed == mix_languages(texts_in, alpha=0.3, seed=1)
    assert [t.id for t in mixed] != [t.id for t in mix_languages(texts_in, alpha=0.3, seed=2)]
    # alpha = 1 on the same data keeps each language's size (a reordering of the input).
    assert sorted(t.id for t in mix_languages(texts_in, alpha=1.0)) == sorted(t.id for t in texts_in)


# ---------------------------------------------------------------------------------------------
# Corpus: reading.
# ---------------------------------------------------------------------------------------------


def test_local_corpus(tmp_path):
    (tmp_path / "de.txt").write_text("Erster Absatz.\n\n  Zweiter Absatz.  \nDritter.\n", encoding="utf-8")
    (tmp_path / "sw.txt").write_text("Habari ya dunia.\n", encoding="utf-8")
    got = load_corpus(["de", "sw"], "local", tmp_path)
    assert [(t.id, t.text, t.language) for t in got] == [
        ("de-1", "Erster Absatz.", "de"),
        ("de-3", "Zweiter Absatz.", "de"),
        ("de-4", "Dritter.", "de"),
        ("sw-1", "Habari ya dunia.", "sw"),
    ]
    # The budget stops after the text that reaches it.
    assert [t.id for t in load_corpus(["de"], "local", tmp_path, max_chars_per_language=15)] == ["de-1", "de-3"]


def test_local_corpus_errors(tmp_path):
    with pytest.raises(DataError, match=r"'fr'.*fr\.txt.*one document or paragraph per line"):
        load_corpus(["fr"], "local", tmp_path)
    (tmp_path / "fr.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match=r"fr\.txt: no text"):
        load_corpus(["fr"], "local", tmp_path)
    (tmp_path / "fr.txt").write_bytes("Bonjour.\n".encode() + b"\xff\xfe bad\n")
    with pytest.raises(DataError, match=r"fr\.txt: line 2 is not valid UTF-8"):
        load_corpus(["fr"], "local", tmp_path)
    with pytest.raises(ConfigError, match="needs data_dir"):
        load_corpus(["fr"], "local")
    with pytest.raises(ConfigError, match="source"):
        load_corpus(["fr"], "wiki")


def _wikipedia_rows(lang: str, n: int) -> dict:
    """Rows in wikimedia/wikipedia's schema: id, url, title, text (all strings)."""
    return {
        "id": [str(100 + i) for i in range(n)],
        "url": [f"https://{lang}.wikipedia.org/wiki?curid={100 + i}" for i in range(n)],
        "title": [f"Artikel {i}" for i in range(n)],
        "text": ["" if i == 2 else f"Artikel {i} " + "wort " * 20 for i in range(n)],
    }


@pytest.fixture
def wikipedia_hub(monkeypatch):
    """wikimedia/wikipedia's de and sw configs on the loopback Hub (30 rows each, one empty)."""
    import datasets

    from tests.fixtures.hub import serve_tables

    serve_tables(monkeypatch, {("wikimedia/wikipedia", f"20231101.{lang}", "train"):
                               datasets.Dataset.from_dict(_wikipedia_rows(lang, 30)) for lang in ("de", "sw")})
    return session_hub()


def test_hub_corpus_streams_wikipedia_up_to_the_budget(wikipedia_hub):
    wikipedia_hub.requests.clear()
    got = load_corpus(["de", "sw"], "hub", max_chars_per_language=300, seed=0)
    asked = [path for _, path in wikipedia_hub.requests if "/resolve/" in path and path.endswith(".parquet")]
    assert asked and all("/wikimedia/wikipedia/resolve/" in p for p in asked)
    assert {p.split("/")[-2] for p in asked} == {"20231101.de", "20231101.sw"}
    for lang in ("de", "sw"):
        mine = [t for t in got if t.language == lang]
        chars = sum(len(t.text) for t in mine)
        assert 300 <= chars < 300 + len(mine[-1].text)  # stops after the text reaching the budget
        assert all(t.id.startswith(f"{lang}-1") and t.text.startswith("Artikel") for t in mine)
    assert not any(t.id.endswith("-102") for t in got)  # the empty article is skipped
    assert got == load_corpus(["de", "sw"], "hub", max_chars_per_language=300, seed=0)


def test_hub_corpus_errors(wikipedia_hub, monkeypatch):
    import datasets

    from tests.fixtures.hub import serve_tables

    with pytest.raises(DataError, match=r"wikimedia/wikipedia.*20231101\.xx.*not found"):
        load_corpus(["xx"], "hub")
    rows = _wikipedia_rows("de", 3)
    del rows["text"]
    serve_tables(monkeypatch, {("wikimedia/wikipedia", "20231101.de", "train"): datasets.Dataset.from_dict(rows)})
    with pytest.raises(DataError, match=r"20231101\.de\]/train row 0: missing field 'text'"):
        load_corpus(["de"], "hub")


# ---------------------------------------------------------------------------------------------
# The registered task.
# ---------------------------------------------------------------------------------------------


def test_default_task_and_its_splits(tmp_path):
    spec = MLM
    assert spec.family == "mlm" and spec.metric == "mlm_accuracy"
    assert len(spec.languages) == 40 and {"en", "sw", "zh", "yo"} <= set(spec.languages)
    small = mlm_task("mlm_small", languages=("de", "sw"), validation_percent=20)
    for lang, word in (("de", "Satz"), ("sw", "sentensi")):
        (tmp_path / f"{lang}.txt").write_text(
            "".join(f"{word} {i} " + "x " * (i % 7) + "\n" for i in range(300)), encoding="utf-8"
        )
    corpus._cached_corpus.cache_clear()
    train = small.loader(small, LoadRequest("train", data_dir=str(tmp_path)))
    validation = small.loader(small, LoadRequest("validation", data_dir=str(tmp_path)))
    assert {t.language for t in validation} == {"de", "sw"}
    base_ids = {t.id.split("#")[0] for t in train}
    assert not base_ids & {t.id for t in validation}  # held-out texts never trained on
    assert 0.1 < len(validation) / 600 < 0.3
    only_sw = small.loader(small, LoadRequest("validation", language="sw", data_dir=str(tmp_path)))
    assert only_sw and {t.language for t in only_sw} == {"sw"}
    assert len(small.loader(small, LoadRequest("train", data_dir=str(tmp_path), max_examples=10))) == 10
    with pytest.raises(ConfigError, match="train and validation"):
        small.loader(small, LoadRequest("test", data_dir=str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# ZeRO-3: the tied decoder weight is one partitioned Parameter shared by encoder and head.
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.distributed
def test_zero3_mlm_approach_trains_the_tied_head(tok, mnli_fixture_dir, tmp_path):
    """`approach=mlm` through the DeepSpeed launcher, 2 CPU ranks, ZeRO-3: the checkpoint's LM
    head is reused, validation runs between MLM steps, and the export keeps the tie."""
    from safetensors.torch import load_file
    from transformers import XLMRobertaForMaskedLM

    from tests.fixtures.launch import run_phase, scalars

    torch.manual_seed(0)
    reference = XLMRobertaForMaskedLM(tiny_config(len(tok)))
    reference.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    for lang in ("en", "de"):
        (corpus_dir / f"{lang}.txt").write_text("\n".join(LINES * 10) + "\n", encoding="utf-8")
    proc = run_phase("intermediate", [
        "approach=mlm", "intermediate=mnli", f"model.name_or_path={tmp_path / 'model'}",
        f"data.data_dir={mnli_fixture_dir}", f"output_root={tmp_path / 'runs'}", "experiment=z3",
        "train.deepspeed_config=ds_configs/zero3.json", "train.micro_batch_size=4",
        "train.learning_rate=2e-3", "train.max_steps=30", "train.eval_every=10", "train.log_every=5",
        f"approach_args.mlm_corpus={corpus_dir}", "approach_args.mlm_languages=en,de",
    ], tmp_path / "cache")
    assert "LM head initialised from the pretrained weights" in proc.stdout
    run = tmp_path / "runs" / "z3" / "mlm" / "mnli"
    assert (run / "DONE").is_file()
    assert "train/mlm/loss" in scalars(run / "tb")
    heads = load_file(str(run / "encoder" / "heads.safetensors"))
    encoder = load_file(str(run / "encoder" / "model.safetensors"))
    trained = encoder["embeddings.word_embeddings.weight"]
    # The tied decoder weight is the word embedding: saved once, with the encoder.
    assert "mlm.decoder.weight" not in heads and "mlm.decoder.bias" in heads
    from toolkit.models.encoder import load_encoder
    from toolkit.families.multitask import MultiTaskModel, load_heads
    from toolkit.tasks.registry import get_task

    reloaded = MultiTaskModel(load_encoder(str(run / "encoder")), {"mnli": get_task("mnli"), "mlm": MLM})  # the approach's task, not registered
    load_heads(reloaded, run / "encoder")  # the tie is restored, nothing reported missing
    assert reloaded.heads["mlm"].decoder.weight is reloaded.encoder.get_input_embeddings().weight
    assert torch.equal(reloaded.heads["mlm"].decoder.bias, heads["mlm.decoder.bias"])
    assert not torch.equal(trained, reference.roberta.embeddings.word_embeddings.weight)
