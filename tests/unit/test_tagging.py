"""The tagging family: first-sub-word labels, windows of whole words, decoding, a tiny training run."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch

from toolkit.errors import ConfigError, DataError
from toolkit.families.registry import get_family
from toolkit.families.tagging import IGNORE_INDEX, owners, windows
from tests.fixtures.tiny_models import tiny_encoder, tiny_tokenizer
from toolkit.tasks.records import TaggingExample, TaskSpec

FAMILY = get_family("tagging")
TAGS = ("DET", "NOUN", "VERB", "ADP", "PROPN", "PUNCT", "X")
SPEC = TaskSpec(name="toy_tags", family="tagging", description="toy", metric="seqeval",
                loader=lambda spec, req: [], labels=TAGS)


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def example(words: str, tags: str, ex_id: str = "s0") -> TaggingExample:
    return TaggingExample(ex_id, tuple(words.split()), tuple(tags.split()))


def owned_words(features) -> list[int]:
    return sorted(w for f in features for w in f["word_index"] if w >= 0)


def test_one_sub_word_of_each_word_is_labelled_never_a_bare_boundary(tokenizer):
    """The first sub-word carries the tag, unless it is a lone "▁" (then the next one does)."""
    ex = example("Zuccalmaglio played guitar in Gitarrenstraße . 然而", "PROPN VERB NOUN ADP PROPN PUNCT X")
    (feature,) = FAMILY.featurize(SPEC, [ex], tokenizer, 128)
    enc = tokenizer(list(ex.tokens), is_split_into_words=True)
    word_ids = enc.word_ids()
    pieces = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert feature["input_ids"] == enc["input_ids"]
    pieces_per_word = [word_ids.count(w) for w in range(len(ex.tokens))]
    assert max(pieces_per_word) >= 3  # the fixture really has multi-sub-word words
    bare = [w for i, w in enumerate(word_ids) if w is not None and pieces[i] == "▁" and word_ids[i + 1] == w]
    assert bare  # and words whose first piece is a lone "▁"
    expected, done = [], set()
    for i, w in enumerate(word_ids):
        take = w is not None and w not in done and not (pieces[i] == "▁" and word_ids[i + 1] == w)
        expected.append(TAGS.index(ex.tags[w]) if take else IGNORE_INDEX)
        done |= {w} if take else set()
    assert feature["labels"] == expected
    assert [w for w in feature["word_index"] if w >= 0] == list(range(len(ex.tokens)))


def test_windows_cover_every_word_fit_the_budget_and_overlap():
    lengths = [1, 3, 2, 2, 1, 4, 1, 1, 2, 3, 1, 1]
    spans = windows(lengths, budget=6)
    assert spans[0][0] == 0 and spans[-1][1] == len(lengths)
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert s1 < s2 <= e1 < e2  # always advance, never leave a gap
    assert all(sum(lengths[s:e]) <= 6 for s, e in spans)
    assert any(s2 < e1 for (_, e1), (s2, _) in zip(spans, spans[1:]))  # some context overlap
    owner = owners(spans, len(lengths))
    assert all(spans[o][0] <= i < spans[o][1] for i, o in enumerate(owner))


def test_long_sentence_is_windowed_and_every_word_gets_one_prediction(tokenizer):
    words = ("The cat sat on the mat . A man is playing a guitar on the street . " * 12).split()
    tags = ["DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT",
            "DET", "NOUN", "VERB", "VERB", "DET", "NOUN", "ADP", "DET", "NOUN", "PUNCT"] * 12
    long_ex = TaggingExample("long", tuple(words), tuple(tags))
    short_ex = example("The cat sat .", "DET NOUN VERB PUNCT", "short")
    features = FAMILY.featurize(SPEC, [long_ex, short_ex], tokenizer, 24)
    long_features = [f for f in features if f["example_index"] == 0]
    assert len(long_features) > 5
    assert all(f["length"] == len(f["input_ids"]) <= 24 for f in features)
    assert all(f["input_ids"][0] == tokenizer.cls_token_id and f["input_ids"][-1] == tokenizer.sep_token_id
               for f in features)
    assert owned_words(long_features) == list(range(len(words)))
    # Each label sits exactly where its word is owned.
    for f in features:
        for label, w in zip(f["labels"], f["word_index"]):
            ex = long_ex if f["example_index"] == 0 else short_ex
            assert (label == IGNORE_INDEX) == (w < 0)
            if w >= 0:
                assert TAGS[label] == ex.tags[w]
    # Gold predictions decode back to the gold tags, one per word.
    outputs = {"predictions": [np.maximum(np.array(f["labels"]), 0) for f in features]}
    decoded = FAMILY.decode(SPEC, [long_ex, short_ex], features, outputs)
    assert decoded == {"long": tags, "short": ["DET", "NOUN", "VERB", "PUNCT"]}
    assert FAMILY.gold(SPEC, long_ex) == tags


def test_words_without_sub_words_become_unk_and_still_get_a_prediction(tokenizer):
    ex = TaggingExample("odd", ("The", "", "cat", "\u200b"), ("DET", "X", "NOUN", "X"))
    (feature,) = FAMILY.featurize(SPEC, [ex], tokenizer, 64)
    assert owned_words([feature]) == [0, 1, 2, 3]
    empty_position = feature["word_index"].index(1)
    assert feature["input_ids"][empty_position] == tokenizer.unk_token_id
    outputs = {"predictions": [np.full(len(feature["input_ids"]), TAGS.index("X"))]}
    assert FAMILY.decode(SPEC, [ex], [feature], outputs)["odd"] == ["X"] * 4


def test_word_longer_than_a_window_is_clipped_and_reported(tokenizer, caplog):
    giant = "Gitarrenstraßenmusikantenwettbewerbsgewinner" * 3
    ex = TaggingExample("giant", ("The", giant, "cat"), ("DET", "PROPN", "NOUN"))
    with caplog.at_level(logging.WARNING, logger="toolkit.families.tagging"):
        features = FAMILY.featurize(SPEC, [ex], tokenizer, 10)
    assert "1 word(s) had more than 8 sub-words" in caplog.text
    assert all(len(f["input_ids"]) <= 10 for f in features)
    assert owned_words(features) == [0, 1, 2]


def test_unknown_tag_names_the_example(tokenizer):
    ex = example("The cat", "DET NOPE", "ex-7")
    with pytest.raises(DataError, match=r"ex-7.*word 1.*'NOPE'"):
        FAMILY.featurize(SPEC, [ex], tokenizer, 32)


def test_catch_all_label_takes_tags_outside_the_set(tokenizer):
    spec = dataclasses.replace(SPEC, labels=("N", "V", "<rare>"), extra={"catch_all": "<rare>"})
    (feature,) = FAMILY.featurize(spec, [example("The cat", "N (S\\NP)/NP")], tokenizer, 32)
    assert [lab for lab in feature["labels"] if lab != IGNORE_INDEX] == [0, 2]


def test_unlabelled_sentences_have_no_labels_and_no_gold(tokenizer):
    ex = TaggingExample("test-0", ("The", "cat"), ())
    (feature,) = FAMILY.featurize(SPEC, [ex], tokenizer, 32)
    assert set(feature["labels"]) == {IGNORE_INDEX}
    assert owned_words([feature]) == [0, 1]
    assert FAMILY.gold(SPEC, ex) is None


def test_decode_refuses_missing_words(tokenizer):
    words = ("The cat sat on the mat . " * 10).split()
    ex = TaggingExample("long", tuple(words), ("X",) * len(words))
    features = FAMILY.featurize(SPEC, [ex], tokenizer, 16)
    outputs = {"predictions": [np.zeros(len(f["input_ids"]), dtype=int) for f in features[:-1]]}
    with pytest.raises(DataError, match="no prediction for words"):
        FAMILY.decode(SPEC, [ex], features[:-1], outputs)


def test_head_needs_a_label_set(tokenizer):
    with pytest.raises(ConfigError, match="resolve_labels"):
        FAMILY.make_head(dataclasses.replace(SPEC, labels=()), tiny_encoder(tokenizer))


def test_collate_pads_labels_with_ignore_index(tokenizer):
    features = FAMILY.featurize(
        SPEC, [example("The cat sat on the mat .", "DET NOUN VERB ADP DET NOUN PUNCT"),
               example("Paris", "PROPN", "s1")], tokenizer, 64)
    batch = FAMILY.collate(features, tokenizer.pad_token_id)
    short = features[1]["length"]
    assert batch["input_ids"].shape == batch["labels"].shape == (2, features[0]["length"])
    assert (batch["labels"][1, short:] == IGNORE_INDEX).all()
    assert (batch["attention_mask"][1, short:] == 0).all() and (batch["attention_mask"][1, :short] == 1).all()


# A toy task the tiny model can learn: each word type has one tag.
_SENTENCES = [
    "The cat sat on the mat .", "A man is playing a guitar on the street .",
    "Two dogs run in the park .", "Der Hund läuft schnell über die Wiese .",
    "El perro corre rápido por el parque .", "Le chat dort sur le canapé .",
    "What is the capital of France ?", "Paris is the capital and largest city of France .",
]


def _toy_tag(word: str) -> str:
    if not word.isalpha():
        return "PUNCT"
    if word[0].isupper():
        return "PROPN"
    return TAGS[sum(map(ord, word)) % 4]


def test_short_training_run_lowers_the_loss(tokenizer):
    torch.manual_seed(0)
    examples = [TaggingExample(f"t{i}", tuple(s.split()), tuple(_toy_tag(w) for w in s.split()))
                for i, s in enumerate(_SENTENCES)]
    features = FAMILY.featurize(SPEC, examples, tokenizer, 12)  # forces windows too
    assert len(features) > len(examples)
    batch = FAMILY.collate(features, tokenizer.pad_token_id)
    encoder = tiny_encoder(tokenizer)
    head = FAMILY.make_head(SPEC, encoder)
    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=3e-3)
    losses = []
    for _ in range(25):
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        out = head(hidden, batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    assert losses[-1] < 0.3 * losses[0], losses
    encoder.eval()
    head.eval()
    with torch.no_grad():
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        out = head(hidden, batch)
    assert out.outputs["predictions"].shape == batch["input_ids"].shape
    decoded = FAMILY.decode(SPEC, examples, features, {k: v.numpy() for k, v in out.outputs.items()})
    correct = sum(p == g for e in examples for p, g in zip(decoded[e.id], e.tags))
    assert correct / sum(len(e.tags) for e in examples) > 0.9
