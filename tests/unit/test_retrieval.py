"""Retrieval without fine-tuning: embeddings, nearest neighbours, margin mining, loaders, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.hub import serve_tables
import torch

from tests.fixtures.data import shared_data_root
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation import retrieval
from toolkit.evaluation.retrieval import (
    best_threshold,
    default_layer,
    embed_sentences,
    evaluate_retrieval,
    knn,
    mine_pairs,
    nearest_targets,
)
from tests.fixtures.tiny_models import tiny_encoder, tiny_tokenizer
from toolkit.tasks.records import LoadRequest
from toolkit.tasks.languages import TATOEBA_CODES
from toolkit.tasks.retrieval import BUCC2018, TATOEBA, read_split


def shared_data() -> Path:
    return shared_data_root()


def tatoeba_dir() -> Path:
    path = shared_data() / "tatoeba"
    if not (path / "tatoeba.deu-eng.deu").is_file():
        pytest.skip(f"real Tatoeba data not found at {path} (set XSTILTS_SHARED_DATA)")
    return path


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def tiny():
    tok = tiny_tokenizer()
    return tiny_encoder(tok), tok


# ---------------------------------------------------------------------------------------------
# Layer choice and embeddings.
# ---------------------------------------------------------------------------------------------


def test_default_layer_follows_xtreme_for_xlmr_large():
    assert default_layer(24) == 14
    assert default_layer(12) == 7
    assert default_layer(2) == 1
    with pytest.raises(ConfigError):
        default_layer(0)


def test_embeddings_are_normalised_masked_means_in_input_order(tiny):
    enc, tok = tiny
    texts = ["The cat sat on the mat.", "Der Hund", "Le chien court dans le parc. " * 3, "猫"]
    emb = embed_sentences(enc, tok, texts, layer=1, batch_size=2)
    assert emb.shape == (4, 32) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    # Each row equals that sentence embedded alone (no padding), by hand from hidden_states[1].
    for i, text in enumerate(texts):
        ids = torch.tensor([tok(text)["input_ids"]])
        with torch.no_grad():
            states = enc(input_ids=ids, output_hidden_states=True).hidden_states[1][0]
        expected = unit(states.mean(0).numpy())
        np.testing.assert_allclose(emb[i], expected, atol=1e-5)


def test_embedding_cuts_long_texts_and_checks_the_layer(tiny):
    enc, tok = tiny
    long = embed_sentences(enc, tok, ["The cat sat on the mat. " * 50], layer=2, max_length=10)
    assert long.shape == (1, 32)
    with pytest.raises(ConfigError, match="outside 0..2"):
        embed_sentences(enc, tok, ["x"], layer=3)


def test_embedding_restores_training_mode(tiny):
    enc, tok = tiny
    enc.train()
    embed_sentences(enc, tok, ["The cat"], layer=0)
    assert enc.training
    enc.eval()
    embed_sentences(enc, tok, ["The cat"], layer=0)
    assert not enc.training


# ---------------------------------------------------------------------------------------------
# Nearest neighbours (Tatoeba).
# ---------------------------------------------------------------------------------------------


def test_nearest_targets_recovers_a_permutation():
    rng = np.random.default_rng(0)
    targets = unit(rng.normal(size=(50, 16)))
    perm = rng.permutation(50)
    sources = unit(targets[perm] + 0.05 * rng.normal(size=(50, 16)))
    np.testing.assert_array_equal(nearest_targets(sources, targets), perm)


def test_nearest_target_prefers_a_closer_decoy_and_batches_agree():
    sources = unit([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    targets = unit([[0.8, 0.6, 0.0], [0.95, 0.05, 0.0], [0.0, 0.9, 0.1]])  # 1 is source 0's decoy
    np.testing.assert_array_equal(nearest_targets(sources, targets), [1, 2])
    sims, inds = knn(sources, targets, k=3, batch_size=1)
    np.testing.assert_array_equal(inds, [[1, 0, 2], [2, 0, 1]])
    np.testing.assert_allclose(sims, np.sort(sources @ targets.T, axis=1)[:, ::-1], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Margin mining (BUCC) against a brute-force computation.
# ---------------------------------------------------------------------------------------------


def brute_force_mine(x: np.ndarray, y: np.ndarray, k: int):
    """The definitions, computed from the full similarity matrix with plain loops."""
    sim = x.astype(np.float64) @ y.T.astype(np.float64)
    kx, ky = min(k, len(y)), min(k, len(x))
    x_mean = [np.sort(sim[i])[::-1][:kx].mean() for i in range(len(x))]
    y_mean = [np.sort(sim[:, j])[::-1][:ky].mean() for j in range(len(y))]

    def margin(i, j):
        return sim[i, j] / ((x_mean[i] + y_mean[j]) / 2)

    candidates = []
    for i in range(len(x)):
        neighbours = np.argsort(-sim[i])[:kx]
        j = max(neighbours, key=lambda j: margin(i, j))
        candidates.append((margin(i, j), i, j))
    for j in range(len(y)):
        neighbours = np.argsort(-sim[:, j])[:ky]
        i = max(neighbours, key=lambda i: margin(i, j))
        candidates.append((margin(i, j), i, j))
    used_x, used_y, out = set(), set(), []
    for score, i, j in sorted(candidates, key=lambda c: -c[0]):
        if i not in used_x and j not in used_y:
            used_x.add(i)
            used_y.add(j)
            out.append((i, j, score))
    return out


@pytest.mark.parametrize("n_src,n_trg,k", [(30, 45, 4), (12, 7, 4), (5, 5, 1)])
def test_mining_matches_brute_force(n_src, n_trg, k):
    rng = np.random.default_rng(n_src + n_trg)
    x, y = unit(rng.normal(size=(n_src, 8))), unit(rng.normal(size=(n_trg, 8)))
    mined = mine_pairs(x, y, k)
    expected = brute_force_mine(x, y, k)
    assert [(int(s), int(t)) for s, t in zip(mined.source, mined.target)] == [(i, j) for i, j, _ in expected]
    np.testing.assert_allclose(mined.score, [s for _, _, s in expected], rtol=1e-5)
    assert np.all(np.diff(mined.score) <= 0)


def test_margin_defeats_a_hub_that_raw_cosine_prefers():
    # Every source is closer (cosine) to the hub target than to its own translation, but the
    # hub is close to everything, so its margins are low and the true pairs win.
    rng = np.random.default_rng(1)
    n, dim = 20, 64
    base = unit(rng.normal(size=(n, dim)))
    hub_dir = unit(rng.normal(size=dim))
    sources = unit(base + 1.1 * hub_dir)
    targets = unit(np.vstack([base + 0.5 * unit(rng.normal(size=(n, dim))), hub_dir[None]]))
    assert np.all(nearest_targets(sources, targets) == n)  # raw cosine: the hub, every time
    mined = mine_pairs(sources, targets, k=4)
    top = {(int(s), int(t)) for s, t in zip(mined.source[:n], mined.target[:n])}
    assert top == {(i, i) for i in range(n)}


# ---------------------------------------------------------------------------------------------
# Threshold selection.
# ---------------------------------------------------------------------------------------------


def test_threshold_follows_xtreme_bucc_optimize_by_hand():
    # XTREME's rule: walk the candidates best first; at each one compute F1 = 2PR/(P+R) of
    # keeping it and all before it; on a strictly better F1 the threshold becomes the midpoint
    # of its score and the next one.
    # Cuts: F1 2/3 (th .85), 1 (th .75), 0.8, 2/3 -> 0.75.
    assert best_threshold([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 0], 2) == pytest.approx(0.75)
    # Cuts: 0.5, 0.8, 2/3, 6/7: the best keeps everything (XTREME would index past the end).
    assert best_threshold([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 1], 3) == pytest.approx(0.6)
    # A cut between equal scores counts (XTREME's quirk): F1 is 1 after the second candidate,
    # so the threshold is (0.8 + 0.8) / 2 = 0.8, which extracts the tied miss as well.
    assert best_threshold([0.9, 0.8, 0.8, 0.5], [1, 1, 0, 0], 2) == pytest.approx(0.8)
    # Equal F1 at two cuts (1 of 1 kept: 2*1*0.5/1.5; 2 of 4 kept: 2*0.5*1/1.5, the same
    # float): the first stays, as XTREME only moves on a strictly better F1 -> (5 + 4) / 2.
    assert best_threshold([5.0, 4.0, 3.0, 2.0, 1.0], [1, 0, 0, 1, 0], 2) == 4.5
    # No correct candidate: XTREME's initial threshold 0 (every positive margin is extracted).
    assert best_threshold([0.9, 0.8], [0, 0], 5) == 0.0
    with pytest.raises(DataError):
        best_threshold([0.9], [1], 0)


def test_threshold_maximises_f1_when_scores_are_distinct():
    # Without tied scores XTREME's rule is the F1-optimal cut of what is extracted.
    rng = np.random.default_rng(3)
    for _ in range(20):
        scores = np.sort(rng.permutation(np.linspace(1, 2, 40)))[::-1]
        correct = rng.random(40) < np.linspace(0.9, 0.1, 40)
        num_gold = int(correct.sum()) + 5

        def f1(th):
            kept = scores >= th
            hits = int((kept & correct).sum())
            return 2 * hits / (kept.sum() + num_gold)

        best = max(f1(th) for th in scores)
        assert f1(best_threshold(scores, correct, num_gold)) == pytest.approx(best)


# ---------------------------------------------------------------------------------------------
# Loaders: Tatoeba.
# ---------------------------------------------------------------------------------------------


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def test_tatoeba_local_layout(tmp_path):
    write(tmp_path / "tatoeba.deu-eng.deu", ["Hallo Welt.", "Wie geht's?", "Danke\u2028schön."])
    write(tmp_path / "tatoeba.deu-eng.eng", ["Hello world.", "How are you?", "Thank you."])
    split = read_split(TATOEBA, LoadRequest("test", "de", str(tmp_path)))
    assert [s.text for s in split.sources] == ["Hallo Welt.", "Wie geht's?", "Danke\u2028schön."]
    assert [t.id for t in split.targets] == ["0", "1", "2"] and split.targets[2].side == "target"
    assert split.gold == {("0", "0"), ("1", "1"), ("2", "2")}
    assert len(TATOEBA.loader(TATOEBA, LoadRequest("test", "de", str(tmp_path), max_examples=2))) == 4


def test_tatoeba_local_errors(tmp_path):
    write(tmp_path / "tatoeba.fra-eng.fra", ["Bonjour.", "Merci."])
    write(tmp_path / "tatoeba.fra-eng.eng", ["Hello."])
    with pytest.raises(DataError, match="has 2 lines but .* has 1"):
        read_split(TATOEBA, LoadRequest("test", "fr", str(tmp_path)))
    write(tmp_path / "tatoeba.fra-eng.eng", ["Hello.", "  "])
    with pytest.raises(DataError, match=r"tatoeba.fra-eng.eng line 2: empty"):
        read_split(TATOEBA, LoadRequest("test", "fr", str(tmp_path)))
    with pytest.raises(DataError, match="expected a file"):
        read_split(TATOEBA, LoadRequest("test", "es", str(tmp_path)))
    with pytest.raises(ConfigError, match="no tatoeba file code for language 'xx'"):
        read_split(TATOEBA, LoadRequest("test", "xx", str(tmp_path)))
    with pytest.raises(ConfigError, match="non-English"):
        read_split(TATOEBA, LoadRequest("test", "en", str(tmp_path)))
    with pytest.raises(DataError, match="single evaluation split"):
        read_split(TATOEBA, LoadRequest("validation", "fr", str(tmp_path)))


def fake_hub(monkeypatch, tables: dict):
    """Serve `{(path, config, split): columns}` from the loopback Hub (all string columns)."""
    import datasets

    return serve_tables(monkeypatch, {key: datasets.Dataset.from_dict(columns) for key, columns in tables.items()})


def test_tatoeba_hub(monkeypatch):
    # The Hub's rows keep the source files' line ends, as its loading script read them, and
    # source_lang holds a fragment of the script's cache path, not a language code.
    calls = fake_hub(monkeypatch, {("google/xtreme", "tatoeba.deu", "validation"): {
        "source_sentence": ["Hallo Welt.\n", "Danke.\n"],
        "target_sentence": ["Hello world.\n", "Thanks.\n"],
        "source_lang": ["datasets/downloads/" + "3f" * 32] * 2,
        "target_lang": ["eng", "eng"],
    }})
    split = read_split(TATOEBA, LoadRequest("test", "de"))
    assert calls == [("google/xtreme", "tatoeba.deu", "validation")]
    assert [s.text for s in split.sources] == ["Hallo Welt.", "Danke."]
    assert [t.text for t in split.targets] == ["Hello world.", "Thanks."]
    assert split.gold == {("0", "0"), ("1", "1")}


# ---------------------------------------------------------------------------------------------
# Loaders: BUCC.
# ---------------------------------------------------------------------------------------------


def bucc_files(root: Path, infix: str, src: dict, trg: dict, gold: list | None, lang="de"):
    root.mkdir(parents=True, exist_ok=True)
    write(root / f"{lang}-en.{infix}.{lang}", [f"{i}\t{s}" for i, s in src.items()])
    write(root / f"{lang}-en.{infix}.en", [f"{i}\t{s}" for i, s in trg.items()])
    if gold is not None:
        write(root / f"{lang}-en.{infix}.gold", [f"{s}\t{t}" for s, t in gold])


@pytest.mark.parametrize("dev_infix,test_infix", [("sample", "training"), ("dev", "test")])
def test_bucc_local_layouts(tmp_path, dev_infix, test_infix):
    bucc_files(tmp_path, dev_infix, {"de-1": "Ein Hund.", "de-2": "Eine Katze."},
               {"en-1": "A cat.", "en-2": "A dog.", "en-3": "A bird."}, [("de-1", "en-2")])
    bucc_files(tmp_path, test_infix, {"de-9": "Ein Baum."}, {"en-9": "A tree."}, None)
    dev = read_split(BUCC2018, LoadRequest("validation", "de", str(tmp_path)))
    assert [(s.id, s.text) for s in dev.sources] == [("de-1", "Ein Hund."), ("de-2", "Eine Katze.")]
    assert [t.id for t in dev.targets] == ["en-1", "en-2", "en-3"]
    assert dev.gold == {("de-1", "en-2")}
    test = read_split(BUCC2018, LoadRequest("test", "de", str(tmp_path)))
    assert test.gold is None and [s.id for s in test.sources] == ["de-9"]


def test_bucc_local_errors_and_caps(tmp_path):
    bucc_files(tmp_path, "sample", {"de-1": "a", "de-2": "b"}, {"en-1": "c", "en-2": "d"},
               [("de-1", "en-1"), ("de-2", "en-2")])
    capped = read_split(BUCC2018, LoadRequest("validation", "de", str(tmp_path), max_examples=1))
    assert capped.gold == {("de-1", "en-1")}
    write(tmp_path / "de-en.sample.gold", ["de-1\ten-7"])
    with pytest.raises(DataError, match=r"de-en.sample.gold line 1: .*missing"):
        read_split(BUCC2018, LoadRequest("validation", "de", str(tmp_path)))
    write(tmp_path / "de-en.sample.en", ["en-1\tc", "en-2 without a tab"])
    with pytest.raises(DataError, match=r"de-en.sample.en line 2: expected two"):
        read_split(BUCC2018, LoadRequest("validation", "de", str(tmp_path)))
    write(tmp_path / "de-en.sample.en", ["en-1\tc", "en-1\td"])
    with pytest.raises(DataError, match="duplicate sentence id 'en-1'"):
        read_split(BUCC2018, LoadRequest("validation", "de", str(tmp_path)))
    with pytest.raises(DataError, match="found neither"):
        read_split(BUCC2018, LoadRequest("test", "de", str(tmp_path)))
    with pytest.raises(ConfigError):
        read_split(BUCC2018, LoadRequest("test", "ja", str(tmp_path)))


def test_bucc_hub_holds_gold_pairs_only(monkeypatch):
    calls = fake_hub(monkeypatch, {("google/xtreme", "bucc18.fr", "test"): {
        "source_sentence": ["Un chat.", "Un chien.", "Un chat."],
        "target_sentence": ["A cat.", "A dog.", "One cat."],
        "source_lang": ["fr-000001", "fr-000002", "fr-000001"],  # the Hub keeps ids here
        "target_lang": ["en-000010", "en-000020", "en-000030"],
    }})
    split = read_split(BUCC2018, LoadRequest("test", "fr"))
    assert calls == [("google/xtreme", "bucc18.fr", "test")]
    assert [s.id for s in split.sources] == ["fr-000001", "fr-000002"]
    assert [t.id for t in split.targets] == ["en-000010", "en-000020", "en-000030"]
    assert split.gold == {("fr-000001", "en-000010"), ("fr-000002", "en-000020"), ("fr-000001", "en-000030")}


# ---------------------------------------------------------------------------------------------
# End to end with controlled embeddings, and on the real data.
# ---------------------------------------------------------------------------------------------


def meaning_embedder(dim: int = 32, seed: int = 0):
    """A stand-in for embed_sentences: a text "<meaning> <words>" maps to its meaning's vector."""
    rng = np.random.default_rng(seed)
    vectors: dict[str, np.ndarray] = {}

    def embed(encoder, tokenizer, texts, layer, batch_size=32, max_length=512):
        rows = []
        for text in texts:
            key = text.split()[0]
            if key not in vectors:
                vectors[key] = unit(rng.normal(size=dim))
            rows.append(unit(vectors[key] + 0.05 * rng.normal(size=dim)))
        return np.asarray(rows, dtype=np.float32)

    return embed


def test_bucc_end_to_end_finds_the_gold_pairs(tmp_path, monkeypatch, tiny):
    monkeypatch.setattr(retrieval, "embed_sentences", meaning_embedder())
    data = tmp_path / "bucc"

    def corpus(n_pairs, n_noise, tag):
        src = {f"de-{tag}{i}": f"m{tag}{i} Satz" for i in range(n_pairs)}
        trg = {f"en-{tag}{i}": f"m{tag}{i} sentence" for i in range(n_pairs)}
        src.update({f"de-{tag}x{i}": f"s{tag}{i} nur deutsch" for i in range(n_noise)})
        trg.update({f"en-{tag}x{i}": f"t{tag}{i} english only" for i in range(n_noise)})
        return src, trg, [(f"de-{tag}{i}", f"en-{tag}{i}") for i in range(n_pairs)]

    src, trg, gold = corpus(8, 30, "a")
    bucc_files(data, "sample", src, trg, gold)
    src, trg, gold = corpus(10, 40, "b")
    # The same German text under two ids cannot be mapped back to one id: its pair is dropped.
    src["de-dup"] = src["de-b0"]
    bucc_files(data, "training", src, trg, gold)

    enc, tok = tiny
    result = evaluate_retrieval("bucc2018", enc, tok, ["de"], data, 1, tmp_path / "run" / "predictions",
                                tmp_path / "run" / "gold", dev_dir=tmp_path / "run" / "dev")
    lines = (tmp_path / "run" / "predictions" / "bucc2018" / "test-de.tsv").read_text().splitlines()
    assert sorted(lines) == sorted(f"de-b{i}\ten-b{i}" for i in range(1, 10))
    assert result.test["de"]["precision"] == pytest.approx(100.0)
    assert result.test["de"]["recall"] == pytest.approx(90.0)
    # The dev ("sample") split the threshold was tuned on: every gold pair found, and kept as files.
    assert result.dev["de"]["f1"] == pytest.approx(100.0)
    dev_lines = (tmp_path / "run" / "dev" / "predictions" / "bucc2018" / "test-de.tsv").read_text().splitlines()
    assert sorted(dev_lines) == sorted(f"de-a{i}\ten-a{i}" for i in range(8))

    # Without a test gold (BUCC's is not public) the test predictions are a submission: not scored.
    (data / "de-en.training.gold").unlink()
    unlabelled = evaluate_retrieval("bucc2018", enc, tok, ["de"], data, 1, tmp_path / "sub" / "predictions",
                                    tmp_path / "sub" / "gold")
    assert unlabelled.test == {} and unlabelled.dev["de"]["f1"] == pytest.approx(100.0)
    assert (tmp_path / "sub" / "predictions" / "bucc2018" / "test-de.tsv").is_file()
    assert not (tmp_path / "sub" / "dev").exists()
    assert (tmp_path / "run" / "gold" / "bucc2018" / "test-de.tsv").read_text().count("\n") == 10
    assert not [p for p in (tmp_path / "run").rglob(".*")]  # no temporary files left behind


def test_tatoeba_end_to_end_with_known_answers(tmp_path, monkeypatch, tiny):
    monkeypatch.setattr(retrieval, "embed_sentences", meaning_embedder())
    write(tmp_path / "tatoeba.spa-eng.spa", ["m0 hola", "m1 adiós", "m2 gracias", "m1 otra vez"])
    write(tmp_path / "tatoeba.spa-eng.eng", ["m0 hello", "m1 bye", "m2 thanks", "m3 again"])
    enc, tok = tiny
    result = evaluate_retrieval("tatoeba", enc, tok, ["es"], tmp_path, 1, tmp_path / "run" / "predictions", tmp_path / "run" / "gold")
    pred = (tmp_path / "run" / "predictions" / "tatoeba" / "test-es.tsv").read_text().splitlines()
    assert pred == ["0", "1", "2", "1"]
    assert result.test == {"es": {"accuracy": pytest.approx(75.0)}}
    assert result.dev == {}  # Tatoeba has no dev set
    labels = (tmp_path / "run" / "gold" / "tatoeba" / "test-es.tsv").read_text().splitlines()
    assert labels == ["0", "1", "2", "3"]


def test_evaluate_rejects_unknown_languages_and_tasks(tmp_path, tiny):
    enc, tok = tiny
    with pytest.raises(ConfigError, match="bad languages"):
        evaluate_retrieval("bucc2018", enc, tok, ["ja"], tmp_path, 1, tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="not a retrieval task"):
        evaluate_retrieval("xnli", enc, tok, ["de"], tmp_path, 1, tmp_path, tmp_path)


def test_real_tatoeba_with_the_tiny_model(tmp_path, tiny):
    data = tatoeba_dir()
    enc, tok = tiny
    result = evaluate_retrieval("tatoeba", enc, tok, ["de", "ta"], data, None, tmp_path / "predictions", tmp_path / "gold", batch_size=64)
    for lang, n in (("de", 1000), ("ta", 307)):
        lines = (tmp_path / "predictions" / "tatoeba" / f"test-{lang}.tsv").read_text().splitlines()
        assert len(lines) == n and all(0 <= int(x) < n for x in lines)
        assert 0.0 <= result.test[lang]["accuracy"] <= 100.0


def test_every_shared_tatoeba_file_loads():
    data = tatoeba_dir()
    present = [lang for lang, code in TATOEBA_CODES.items() if (data / f"tatoeba.{code}-eng.{code}").exists()]
    assert len(present) >= 30
    for lang in present:
        split = read_split(TATOEBA, LoadRequest("test", lang, str(data)))
        assert len(split.sources) == len(split.targets) == len(split.gold) > 300


EMBEDDED_LANGUAGES = ["de", "zh"]  # a Latin script and a CJK one; docs/evaluation.md has all 30


@pytest.mark.slow  # about a minute per language on 2 CPU cores
def test_embedded_encoder_retrieves_translations(tmp_path):
    data = tatoeba_dir()
    embedded = pytest.importorskip("toolkit.models.embedded")
    try:
        path = embedded.embedded_path()
    except ConfigError as err:
        pytest.skip(f"embedded encoder unavailable: {err}")
    from transformers import AutoTokenizer, XLMRobertaModel

    tok = AutoTokenizer.from_pretrained(path)
    enc = XLMRobertaModel.from_pretrained(path, add_pooling_layer=False)
    result = evaluate_retrieval("tatoeba", enc, tok, EMBEDDED_LANGUAGES, data, None, tmp_path / "predictions", tmp_path / "gold", batch_size=64)
    for lang in EMBEDDED_LANGUAGES:
        assert result.test[lang]["accuracy"] > 60.0, (lang, result.test[lang])  # chance is 0.1%
