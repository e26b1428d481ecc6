"""The span-QA family: windowed featurisation, the start/end head, n-best decoding, training."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.fixtures.data import shared_data_root
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation.metrics import squad
from toolkit.families.registry import get_family
from toolkit.families import span_qa
from tests.fixtures.tiny_models import tiny_encoder, tiny_tokenizer
from toolkit.tasks.records import Answer, LoadRequest, SpanQAExample, TaskSpec


def _shared_data() -> Path:
    root = shared_data_root()
    if not (root / "xquad" / "xquad.en.json").is_file():
        pytest.skip(f"real XQuAD data not found under {root} (set XSTILTS_SHARED_DATA)")
    return root


def _spec(**extra) -> TaskSpec:
    return TaskSpec("qa_test", "span_qa", "test task", "squad", loader=lambda s, r: [], extra=extra)


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


FILLER = "The cat sat on the mat. A man is playing a guitar on the street. "
ANSWER_SENTENCE = "It was signed in Paris in 1783 by both parties."


def _long_example(repeats: int = 12) -> SpanQAExample:
    context = FILLER * repeats + ANSWER_SENTENCE
    return SpanQAExample(
        "long", "Where was the treaty signed?", context, (Answer("Paris", context.index("Paris")),)
    )


def _span_text(example, feature) -> str:
    o = feature["offsets"]
    return example.context[o[feature["start_position"]][0] : o[feature["end_position"]][1]].strip()


# ---------------------------------------------------------------------------------------------
# Featurisation.
# ---------------------------------------------------------------------------------------------


def test_family_is_registered():
    assert get_family("span_qa") is span_qa.FAMILY


def test_long_context_gives_windows_with_the_answer_in_a_later_one(tok):
    example = _long_example()
    stride, max_length = 24, 64
    features = span_qa.featurize(_spec(doc_stride=stride), [example], tok, max_length)
    assert len(features) >= 4
    assert all(f["example_index"] == 0 and f["length"] == len(f["input_ids"]) <= max_length for f in features)

    labelled = [k for k, f in enumerate(features) if f["start_position"] > 0]
    assert labelled and labelled[0] > 0, "the answer sits at the end: not in the first window"
    for k, f in enumerate(features):
        if k in labelled:
            assert f["start_position"] <= f["end_position"]
            assert _span_text(example, f) == "Paris"
        else:
            assert (f["start_position"], f["end_position"]) == (0, 0)

    # Windows are `<s> question </s></s> context[k*stride : k*stride + room] </s>`.
    context_ids = tok(example.context, add_special_tokens=False)["input_ids"]
    question_ids = tok(example.question, add_special_tokens=False)["input_ids"]
    room = max_length - 4 - len(question_ids)
    for k, f in enumerate(features):
        ids = f["input_ids"]
        assert ids[: len(question_ids) + 3] == [0, *question_ids, 2, 2] and ids[-1] == 2
        assert ids[len(question_ids) + 3 : -1] == context_ids[k * stride : k * stride + room]
        assert [o is not None for o in f["offsets"]] == [
            len(question_ids) + 3 <= i < len(ids) - 1 for i in range(len(ids))
        ]
    assert (len(features) - 1) * stride + room >= len(context_ids), "the last window reaches the end"
    assert (len(features) - 2) * stride + room < len(context_ids), "no window past the end"


def test_answer_cut_by_a_window_edge_is_no_answer_there(tok):
    example = _long_example()
    features = span_qa.featurize(_spec(doc_stride=8), [example], tok, 40)
    answer_end = example.answers[0].start + len("Paris")
    for f in features:
        spans = [o for o in f["offsets"] if o is not None]
        inside = spans[0][0] <= example.answers[0].start and spans[-1][1] >= answer_end
        assert (f["start_position"] > 0) == inside


def test_unanswerable_question_points_every_window_at_s(tok):
    context = FILLER * 8
    example = SpanQAExample("imp", "Where was the treaty signed?", context, ())
    features = span_qa.featurize(_spec(doc_stride=16), [example], tok, 48)
    assert len(features) > 1
    assert {(f["start_position"], f["end_position"]) for f in features} == {(0, 0)}


def test_features_keep_example_order_across_question_lengths(tok):
    examples = [
        _long_example(3),
        SpanQAExample("short", "Who?", "A man is playing a guitar.", (Answer("A man", 0),)),
        _long_example(2),
    ]
    features = span_qa.featurize(_spec(doc_stride=16), examples, tok, 48)
    order = [f["example_index"] for f in features]
    assert order == sorted(order) and set(order) == {0, 1, 2}
    assert _span_text(examples[1], next(f for f in features if f["example_index"] == 1)) == "A man"


def test_long_questions_are_cut_and_counted(tok, caplog):
    question = "Where was the treaty signed by both parties in Paris? " * 10
    example = SpanQAExample("q", question, "It was signed in Paris in 1783.", (Answer("Paris", 17),))
    with caplog.at_level(logging.WARNING):
        features = span_qa.featurize(_spec(max_query_length=12), [example], tok, 64)
    assert "1 of 1 questions" in caplog.text
    n_context = sum(o is not None for o in features[0]["offsets"])
    assert len(features[0]["input_ids"]) - n_context - 4 <= 12
    assert _span_text(example, features[0]) == "Paris"


def test_max_length_without_room_for_context_is_a_config_error(tok):
    example = SpanQAExample("q", "Where was the treaty signed by both parties?", "In Paris.", (Answer("Paris", 3),))
    with pytest.raises(ConfigError, match="no room for the context"):
        span_qa.featurize(_spec(), [example], tok, 8)


def test_context_without_tokens_is_a_data_error(tok):
    with pytest.raises(DataError, match="example 'z'.*no tokens"):
        span_qa.featurize(_spec(), [SpanQAExample("z", "Who?", "", ())], tok, 32)


# ---------------------------------------------------------------------------------------------
# Collation and head.
# ---------------------------------------------------------------------------------------------


def test_collate_pads_and_carries_positions(tok):
    examples = [_long_example(1), SpanQAExample("s", "Who?", "A man is here.", (Answer("man", 2),))]
    features = span_qa.featurize(_spec(), examples, tok, 128)
    batch = span_qa.collate(features, pad_id=1)
    width = max(f["length"] for f in features)
    assert batch["input_ids"].shape == (2, width)
    assert batch["attention_mask"].sum(1).tolist() == [f["length"] for f in features]
    assert batch["start_positions"].tolist() == [f["start_position"] for f in features]
    assert batch["end_positions"].tolist() == [f["end_position"] for f in features]


def test_head_loss_is_mean_of_start_and_end_cross_entropy():
    torch.manual_seed(0)
    head = span_qa.SpanQAHead(8)
    hidden = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    batch = {"attention_mask": mask, "start_positions": torch.tensor([2, 1]), "end_positions": torch.tensor([3, 2])}
    out = head(hidden, batch)
    logits = head.qa_outputs(hidden)
    expected = 0.0
    for i in range(2):
        n = int(mask[i].sum())
        for j, key in ((0, "start_positions"), (1, "end_positions")):
            log_probs = torch.log_softmax(logits[i, :n, j], -1)
            expected += -log_probs[batch[key][i]] / 4  # mean over 2 rows, then over start/end
    assert torch.allclose(out.loss, expected, atol=1e-5)
    assert out.outputs["start_logits"].shape == (2, 5)
    assert bool((out.outputs["start_logits"][1, 3:] < -1e30).all()), "padding is masked out"
    assert head(hidden, {"attention_mask": mask}).loss is None


# ---------------------------------------------------------------------------------------------
# Decoding.
# ---------------------------------------------------------------------------------------------


def _logits_for(features, picks, base=0.0):
    """Logits `base` everywhere but at {feature index: (start, end, value)}, raised by value."""
    starts = [np.full(len(f["input_ids"]), base) for f in features]
    ends = [np.full(len(f["input_ids"]), base) for f in features]
    for k, (s, e, v) in picks.items():
        starts[k][s] += v
        ends[k][e] += v
    return {"start_logits": starts, "end_logits": ends}


def _answer_window(features):
    return next(k for k, f in enumerate(features) if f["start_position"] > 0)


def test_decode_picks_the_best_span_across_windows(tok):
    example = _long_example()
    spec = _spec(doc_stride=24)
    features = span_qa.featurize(spec, [example], tok, 64)
    k = _answer_window(features)
    f = features[k]
    first_context = next(i for i, o in enumerate(f["offsets"]) if o is not None)
    picks = {k: (f["start_position"], f["end_position"], 5.0), 0: (first_context, first_context + 1, 3.0)}
    assert span_qa.decode(spec, [example], features, _logits_for(features, picks)) == {"long": "Paris"}

    # The same logits as padded 2-D arrays (as the evaluation loop stacks them).
    ragged = _logits_for(features, picks)
    width = max(len(r) for r in ragged["start_logits"])
    padded = {key: np.stack([np.pad(r, (0, width - len(r)), constant_values=-1e9) for r in rows])
              for key, rows in ragged.items()}
    assert span_qa.decode(spec, [example], features, padded) == {"long": "Paris"}


def test_decode_ignores_question_tokens_reversed_and_overlong_spans(tok):
    context = "It was signed in Paris in 1783 by both parties and kings."
    example = SpanQAExample("q", "Where was the treaty signed?", context, (Answer("Paris", 17),))
    features = span_qa.featurize(_spec(), [example], tok, 128)
    f = features[0]
    ctx = [i for i, o in enumerate(f["offsets"]) if o is not None]
    s, e = f["start_position"], f["end_position"]
    n = e - s + 1  # "Paris" is several word pieces for the tiny tokenizer
    assert ctx[1] < s - n and e + n < ctx[-2], "the answer is mid-context"
    spec = _spec(max_answer_length=n)
    logits = _logits_for(features, {0: (s, e, 102.0)}, base=-100.0)  # the answer scores 4
    logits["start_logits"][0][1] = logits["end_logits"][0][2] = 50.0  # question tokens
    logits["start_logits"][0][ctx[-1]] = logits["end_logits"][0][ctx[0]] = 40.0  # end before start
    logits["start_logits"][0][ctx[1]] = logits["end_logits"][0][ctx[-2]] = 30.0  # too long
    assert span_qa.decode(spec, [example], features, logits) == {"q": "Paris"}


def test_null_threshold_decides_unanswerable(tok):
    context = "It was signed in Paris in 1783 by both parties."
    example = SpanQAExample("q", "Where was the treaty signed?", context, (Answer("Paris", 17),))
    v2 = _spec(version_2_with_negative=True)
    features = span_qa.featurize(v2, [example], tok, 128)
    f = features[0]
    logits = _logits_for(features, {0: (f["start_position"], f["end_position"], 3.0)})
    logits["start_logits"][0][0] = logits["end_logits"][0][0] = 4.0  # null score 8 > span score 6

    assert span_qa.decode(v2, [example], features, logits) == {"q": ""}
    assert span_qa.decode(v2, [example], features, logits, null_score_diff_threshold=2.5) == {"q": "Paris"}
    assert span_qa.decode(v2, [example], features, logits, null_score_diff_threshold=1.5) == {"q": ""}
    assert span_qa.decode(_spec(version_2_with_negative=True, null_score_diff_threshold=2.5),
                          [example], features, logits) == {"q": "Paris"}
    assert span_qa.decode(_spec(), [example], features, logits) == {"q": "Paris"}, "v1 never abstains"


def test_null_score_is_the_lowest_over_windows(tok):
    example = _long_example()
    spec = _spec(doc_stride=24, version_2_with_negative=True)
    features = span_qa.featurize(spec, [example], tok, 64)
    k = _answer_window(features)
    f = features[k]
    logits = _logits_for(features, {k: (f["start_position"], f["end_position"], 3.0)})
    for row in logits["start_logits"]:
        row[0] = 10.0  # every window says "no answer here" strongly ...
    logits["start_logits"][k][0] = -10.0  # ... except the one holding the answer
    assert span_qa.decode(spec, [example], features, logits) == {"long": "Paris"}


def test_features_survive_the_arrow_feature_cache(tok):
    """toolkit.data caches features as a `datasets` Arrow table: offsets come back as lists."""
    import datasets

    examples = [_long_example(3), SpanQAExample("imp", "Who ate?", FILLER * 3, ())]
    spec = _spec(doc_stride=16, version_2_with_negative=True)
    features = span_qa.featurize(spec, examples, tok, 48)
    cached = datasets.Dataset.from_list(features).to_list()
    picks = {k: (f["start_position"], f["end_position"], 5.0) for k, f in enumerate(features) if f["start_position"]}
    picks.update({k: (0, 0, 1.0) for k, f in enumerate(features) if f["example_index"] == 1})
    logits = _logits_for(features, picks)
    expected = {"long": "Paris", "imp": ""}
    assert span_qa.decode(spec, examples, features, logits) == expected
    assert span_qa.decode(spec, examples, cached, logits) == expected


def test_gold_lists_answer_texts():
    ex = SpanQAExample("q", "Who?", "A man and a dog.", (Answer("A man", 0), Answer("man", 2)))
    assert span_qa.gold(_spec(), ex) == ["A man", "man"]
    assert span_qa.gold(_spec(), SpanQAExample("n", "Who?", "Nobody.", ())) == []


# ---------------------------------------------------------------------------------------------
# Training and end to end.
# ---------------------------------------------------------------------------------------------


def test_short_training_run_lowers_the_loss(tok):
    torch.manual_seed(0)
    sentences = [
        ("Where was it signed?", "It was signed in Paris in 1783 by both parties.", "Paris"),
        ("Who plays the guitar?", "A man is playing a guitar on the street.", "A man"),
        ("Where does the cat sleep?", "The cat sat on the mat. The cat sleeps on the sofa.", "the sofa"),
        ("What runs in the park?", "Two dogs run in the park.", "Two dogs"),
        ("What is the capital of France?", "Paris is the capital and largest city of France.", "Paris"),
        ("Where does the dog run?", "The dog runs fast in the park.", "in the park"),
    ]
    examples = [SpanQAExample(str(i), q, c, (Answer(a, c.index(a)),)) for i, (q, c, a) in enumerate(sentences)]
    spec = _spec()
    features = span_qa.featurize(spec, examples, tok, 64)
    batch = span_qa.collate(features, pad_id=tok.pad_token_id)
    encoder = tiny_encoder(tok)
    head = span_qa.make_head(spec, encoder)
    optim = torch.optim.AdamW(list(encoder.parameters()) + list(head.parameters()), lr=3e-3)
    losses = []
    for _ in range(20):
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        loss = head(hidden, batch).loss
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], losses
    with torch.no_grad():
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        out = head(hidden, batch).outputs
    predictions = span_qa.decode(spec, examples, features, {k: v.numpy() for k, v in out.items()})
    assert squad(predictions, {e.id: span_qa.gold(spec, e) for e in examples})["exact_match"] == 100.0


def test_end_to_end_on_real_xquad_english(tok):
    from toolkit.tasks.qa import XQUAD

    examples = XQUAD.loader(XQUAD, LoadRequest("test", "en", str(_shared_data() / "xquad")))
    features = span_qa.featurize(XQUAD, examples, tok, 256)
    assert len(examples) == 1190 and len(features) > len(examples), "long paragraphs are windowed"
    golds = {e.id: span_qa.gold(XQUAD, e) for e in examples}

    rng = np.random.default_rng(0)
    random = {k: [rng.normal(size=f["length"]) for f in features] for k in ("start_logits", "end_logits")}
    predictions = span_qa.decode(XQUAD, examples, features, random)
    assert set(predictions) == set(golds) and all(isinstance(p, str) for p in predictions.values())
    scores = squad(predictions, golds)
    assert 0.0 <= scores["exact_match"] <= scores["f1"] < 20.0

    # Logits that point at the labelled tokens recover the gold answers, up to the tiny
    # tokenizer's pieces at answer edges (its near character-level pieces make many answers
    # longer than 30 tokens: the oracle lifts that limit).
    oracle = _logits_for(features, {k: (f["start_position"], f["end_position"], 10.0)
                                    for k, f in enumerate(features) if f["start_position"] > 0})
    unlimited = dataclasses.replace(XQUAD, extra={"max_answer_length": 10_000})
    scores = squad(span_qa.decode(unlimited, examples, features, oracle), golds)
    assert scores["f1"] > 98.0 and scores["exact_match"] > 97.0, scores
