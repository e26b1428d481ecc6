"""Every backbone family through every task family: XLM-R, XLM-R XL, mDeBERTa, Llama, Qwen2, Gemma.

Tiny random models built in code from the real config classes (tests/fixtures/tiny_models.py), with
tokenizers of each family's shape (XLM-R's `</s></s>` pairs, mDeBERTa's `[CLS] A [SEP] B`,
Llama 3's `<|begin_of_text|>` per text and no pad token, Qwen2's no special tokens at all).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.mlm.corpus import MLM
from toolkit.errors import ConfigError
from toolkit.evaluation.retrieval import embed_sentences
from toolkit.families.registry import get_family
from toolkit.families.layout import layout
from toolkit.models.backbone import backbone_of, last_token_index
from toolkit.families.multitask import MultiTaskModel
from toolkit.models.params import config_parameter_counts, parameter_counts
from tests.fixtures.tiny_models import TINY_ARCHITECTURES, save_tiny_model, tiny_model
from toolkit.tasks.records import Answer, MultipleChoiceExample, PairExample, SpanQAExample, TaggingExample, TextExample
from toolkit.tasks.registry import get_task

ARCHITECTURES = list(TINY_ARCHITECTURES)
DECODERS = ["llama", "qwen2", "gemma"]
ENCODERS = ["xlm-roberta", "xlm-roberta-xl", "deberta-v2"]

EXAMPLES = {
    "mnli": [
        PairExample("p0", "The cat sleeps on the mat.", "The cat sleeps.", 0),
        PairExample("p1", "A man plays a guitar on the street, and two dogs run.", "A man never plays.", 2),
        PairExample("p2", "Le chien court dans le parc.", "Le chien court peut-être.", 1),
    ],
    "cosmosqa": [
        MultipleChoiceExample("m0", "Paris is the capital of France.", "What is the capital of France?",
                              ("Paris", "Tokyo", "Lima", "Rome"), 0),
        MultipleChoiceExample("m1", "The cat sat on the mat.", "Where did the cat sit?",
                              ("on the sofa", "on the mat", "in the park", "on the street"), 1),
    ],
    "squad_v2": [
        SpanQAExample("q0", "What is the capital of France?",
                      "Paris is the capital and largest city of France.", (Answer("Paris", 0),)),
        SpanQAExample("q1", "Where was the treaty signed?",
                      "It was signed in Paris in 1783 by both parties.", (Answer("Paris", 17),)),
        SpanQAExample("q2", "Who plays the guitar?", "The cat sat on the mat.", ()),
    ],
    "udpos": [
        TaggingExample("t0", ("The", "cat", "sat", "on", "the", "mat", "."),
                       ("DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT")),
        TaggingExample("t1", ("Der", "Hund", "läuft"), ("DET", "NOUN", "VERB")),
    ],
    "mlm": [
        TextExample("x0", "The cat sat on the mat. A man is playing a guitar on the street.", "en"),
        TextExample("x1", "Der Hund läuft schnell über die Wiese. Die Katze schläft auf dem Sofa.", "de"),
    ],
}


@pytest.fixture(scope="module", params=ARCHITECTURES)
def arch(request):
    model, tokenizer = tiny_model(request.param)
    if tokenizer.pad_token is None:  # what load_tokenizer does for decoder tokenizers
        tokenizer.pad_token = tokenizer.eos_token
    return request.param, model, tokenizer


def _families(name: str) -> list[str]:
    tasks = ["mnli", "cosmosqa", "squad_v2", "udpos"]
    return tasks + (["mlm"] if backbone_of(TINY_ARCHITECTURES[name].config(
        TINY_ARCHITECTURES[name].tokenizer())).kind.masked_lm else [])


def _run(model, tokenizer, task: str):
    spec = MLM if task == "mlm" else get_task(task)  # the mlm approach's task is not registered
    family = get_family(spec.family)
    features = family.featurize(spec, EXAMPLES[task], tokenizer, 64)
    batch = family.collate(features, tokenizer.pad_token_id)
    torch.manual_seed(0)
    mt = MultiTaskModel(model, {task: spec})
    out = mt(task, batch)
    return spec, family, features, batch, mt, out


@pytest.mark.parametrize("task", ["mnli", "cosmosqa", "squad_v2", "udpos", "mlm"])
def test_every_family_trains_and_decodes_on_every_backbone(arch, task):
    name, model, tokenizer = arch
    if task not in _families(name):
        pytest.skip(f"{name} is a causal decoder: no masked-LM training (see the next test)")
    spec, family, features, batch, mt, out = _run(model, tokenizer, task)
    assert torch.isfinite(out.loss) and out.loss > 0
    mt.zero_grad()
    out.loss.backward()
    head_grads = [p.grad for p in mt.heads.parameters() if p.requires_grad]
    assert head_grads and all(g is not None and torch.isfinite(g).all() for g in head_grads)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    arrays = {k: v.detach().float().numpy() for k, v in out.outputs.items()}
    predictions = family.decode(spec, EXAMPLES[task], features, arrays)
    assert set(predictions) == {e.id for e in EXAMPLES[task]}


def test_masked_lm_is_refused_for_decoders():
    model, tokenizer = tiny_model("llama")
    with pytest.raises(ConfigError, match="needs a bidirectional encoder.*causal decoder"):
        MultiTaskModel(model, {"mlm": MLM})


def test_backbone_kinds_and_dropout():
    for name in ENCODERS:
        b = backbone_of(tiny_model(name)[0].config)
        assert b.pooling == "first" and b.kind.masked_lm
    for name in DECODERS:
        b = backbone_of(tiny_model(name)[0].config)
        assert b.pooling == "last" and not b.kind.masked_lm and b.dropout == 0.0
    from transformers import DebertaV2Config, LlamaConfig, T5Config, XLMRobertaConfig

    assert backbone_of(XLMRobertaConfig()).dropout == 0.1  # RoBERTa: hidden_dropout_prob
    assert backbone_of(XLMRobertaConfig(classifier_dropout=0.3)).dropout == 0.3
    assert backbone_of(DebertaV2Config(cls_dropout=0.2)).dropout == 0.2
    assert backbone_of(XLMRobertaConfig(is_decoder=True)).pooling == "last"
    assert backbone_of(LlamaConfig(classifier_dropout=0.05)).dropout == 0.05
    with pytest.raises(ConfigError, match="encoder-decoder"):
        backbone_of(T5Config())


def test_last_token_pooling_reads_the_last_real_token_for_either_padding_side():
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])
    assert last_token_index(right).tolist() == [2, 4, 0]
    assert last_token_index(left).tolist() == [4, 4, 4]


@pytest.mark.parametrize("name", DECODERS)
def test_decoder_sequence_heads_see_the_whole_input(name):
    """Pooling the first token of a causal model would ignore everything after it."""
    model, tokenizer = tiny_model(name)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    spec = get_task("mnli")
    family = get_family(spec.family)
    examples = [PairExample("a", "The cat sleeps.", "The cat sleeps.", 0),
                PairExample("b", "The cat sleeps.", "A man plays a guitar on the street.", 0)]
    features = family.featurize(spec, examples, tokenizer, 64)
    torch.manual_seed(0)
    mt = MultiTaskModel(model, {"mnli": spec}).eval()
    batch = family.collate(features, tokenizer.pad_token_id)
    logits = mt("mnli", batch).outputs["logits"]
    assert not torch.allclose(logits[0], logits[1])
    # Padding does not change a row's result: each row alone gives the same logits.
    for i, f in enumerate(features):
        alone = mt("mnli", family.collate([f], tokenizer.pad_token_id)).outputs["logits"][0]
        torch.testing.assert_close(alone, logits[i], rtol=1e-4, atol=1e-5)


def test_pair_layouts_follow_each_tokenizer():
    texts = ("The cat sleeps.", "The cat never sleeps.")
    xlmr = tiny_model("xlm-roberta")[1]
    spec = get_task("mnli")
    pair = get_family("pair_classification")
    # XLM-R: exactly the tokenizer's own pair encoding, <s> a </s></s> b </s>.
    feature = pair.featurize(spec, [PairExample("0", *texts, 0)], xlmr, 64)[0]
    assert feature["input_ids"] == xlmr(*texts)["input_ids"]
    assert layout(xlmr).build([7], [8]) == [0, 7, 2, 2, 8, 2]
    # mDeBERTa: [CLS] a [SEP] b [SEP].
    deberta = tiny_model("deberta-v2")[1]
    assert layout(deberta).build([7], [8]) == [1, 7, 2, 8, 2]
    # Llama 3 style: its template adds <|begin_of_text|> (which build_inputs_with_special_tokens of
    # a PreTrainedTokenizerFast would not); the second bos already separates the texts.
    llama = tiny_model("llama")[1]
    bos = llama.bos_token_id
    assert layout(llama).build([7], [8]) == [bos, 7, bos, 8] and layout(llama).separator == ()
    # Qwen2 style: nothing between the texts, so the eos token separates them, and the mask
    # (from lengths) keeps it although it is also the pad token.
    qwen = tiny_model("qwen2")[1]
    qwen.pad_token = qwen.eos_token
    eos = qwen.eos_token_id
    assert layout(qwen).build([7], [8]) == [7, eos, 8]
    feature = pair.featurize(spec, [PairExample("0", *texts, 0)], qwen, 64)[0]
    a = qwen(texts[0], add_special_tokens=False)["input_ids"]
    b = qwen(texts[1], add_special_tokens=False)["input_ids"]
    assert feature["input_ids"] == a + [eos] + b
    batch = pair.collate([feature, pair.featurize(spec, [PairExample("1", "A", "B", 0)], qwen, 64)[0]],
                         qwen.pad_token_id)
    assert batch["attention_mask"][0].tolist() == [1] * len(feature["input_ids"])
    assert batch["attention_mask"][1].sum() < batch["attention_mask"][1].numel()


def test_qa_and_multiple_choice_separate_question_and_context_for_qwen2():
    qwen = tiny_model("qwen2")[1]
    qwen.pad_token = qwen.eos_token
    eos = qwen.eos_token_id
    qa = get_family("span_qa")
    features = qa.featurize(get_task("squad_v2"), EXAMPLES["squad_v2"][:1], qwen, 64)
    ids, offsets = features[0]["input_ids"], features[0]["offsets"]
    question = qwen("What is the capital of France?", add_special_tokens=False)["input_ids"]
    assert ids[: len(question) + 1] == question + [eos]
    assert offsets[len(question)] is None and offsets[len(question) + 1] is not None
    start, end = features[0]["start_position"], features[0]["end_position"]
    context = EXAMPLES["squad_v2"][0].context
    assert context[offsets[start][0] : offsets[end][1]].strip() == "Paris"
    mc = get_family("multiple_choice")
    feature = mc.featurize(get_task("cosmosqa"), EXAMPLES["cosmosqa"][:1], qwen, 64)[0]
    assert all(eos in seq for seq in feature["input_ids"])


def test_tagging_gives_byte_level_words_their_space_back():
    qwen = tiny_model("qwen2")[1]
    assert layout(qwen).space_before_words
    tagging = get_family("tagging")
    example = EXAMPLES["udpos"][0]
    feature = tagging.featurize(get_task("udpos"), [example], qwen, 64)[0]
    # The same sub-words as running text (no special tokens for Qwen2).
    assert feature["input_ids"] == qwen(" ".join(example.tokens), add_special_tokens=False)["input_ids"]
    assert [w for w in feature["word_index"] if w >= 0] == list(range(len(example.tokens)))
    assert not layout(tiny_model("xlm-roberta")[1]).space_before_words


@pytest.mark.parametrize("name", ["llama", "deberta-v2"])
def test_retrieval_embeddings_ignore_padding(name):
    model, tokenizer = tiny_model(name)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    texts = ["The cat sat on the mat.", "Der Hund", "Le chien court dans le parc. " * 3]
    emb = embed_sentences(model, tokenizer, texts, layer=1, batch_size=3)
    for i, text in enumerate(texts):
        alone = embed_sentences(model, tokenizer, [text], layer=1, batch_size=1)[0]
        np.testing.assert_allclose(emb[i], alone, atol=1e-5)


def test_load_tokenizer_pads_decoders_with_eos_and_export_keeps_it(tmp_path):
    from toolkit.models.encoder import load_encoder, load_tokenizer

    path = save_tiny_model(tmp_path / "llama", architecture="llama")
    tokenizer = load_tokenizer(str(path))
    assert tokenizer.pad_token == "<|end_of_text|>" == tokenizer.eos_token
    tokenizer.save_pretrained(tmp_path / "again")
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tmp_path / "again").pad_token == tokenizer.eos_token
    model = load_encoder(str(path))
    assert type(model).__name__ == "LlamaModel"
    encoder = load_encoder(str(save_tiny_model(tmp_path / "xlmr")))
    assert not hasattr(encoder, "pooler") or encoder.pooler is None


def test_parameter_counts_split_embeddings_and_count_tied_weights_once():
    model, tokenizer = tiny_model("xlm-roberta")
    mt = MultiTaskModel(model, {"mlm": MLM, "mnli": get_task("mnli")})
    counts = parameter_counts(mt.encoder, mt.heads)
    h, vocab = 32, len(tokenizer)
    assert counts["embedding"] == vocab * h + 514 * h + 1 * h  # words, positions, token types
    assert counts["embedding"] + counts["non_embedding"] == sum(p.numel() for p in model.parameters())
    mlm_head = (h * h + h) + 2 * h + vocab  # dense, LayerNorm, decoder bias; the decoder weight is tied
    pair_head = (h * h + h) + (h * 3 + 3)
    assert counts["heads"] == mlm_head + pair_head
    assert counts["total"] == sum(p.numel() for p in mt.parameters())  # parameters() dedupes the tie
    assert config_parameter_counts(model.config) == parameter_counts(model)


def test_hub_sized_configs_match_the_published_sizes():
    """Meta-device counts of the Hub ids the plan knows, against the model cards' figures."""
    from toolkit.grid.plan import KNOWN_SHAPES, known_config

    published = {  # total (bare backbone, no LM head) and non-embedding, in millions
        "FacebookAI/xlm-roberta-large": (560, 303),
        "facebook/xlm-roberta-xl": (3500, None),
        "facebook/xlm-roberta-xxl": (10700, None),
        "microsoft/mdeberta-v3-base": (278, 86),  # "86M backbone, 190M embedding"
        "Qwen/Qwen2.5-0.5B": (494, 360),  # "0.49B, 0.36B non-embedding" (tied embeddings)
        "meta-llama/Llama-3.2-1B": (1236, None),  # "1.23B" (tied embeddings)
    }
    for hub_id, (total, non_embedding) in published.items():
        assert hub_id in KNOWN_SHAPES
        counts = config_parameter_counts(known_config(hub_id))
        assert counts["total"] / 1e6 == pytest.approx(total, rel=0.02), hub_id
        if non_embedding:
            assert counts["non_embedding"] / 1e6 == pytest.approx(non_embedding, rel=0.02), hub_id


def test_mlm_approach_refuses_a_decoder_before_reading_the_corpus(tmp_path):
    from toolkit.approaches.mlm import build_mlm
    from toolkit.pipeline.checks import load_config

    path = save_tiny_model(tmp_path / "qwen2", architecture="qwen2")
    (tmp_path / "empty").mkdir()  # a corpus folder without texts: reading it would fail
    cfg = load_config([f"model.name_or_path={path}", "approach=mlm", "intermediate=mnli",
                       f"approach_args.mlm_corpus={tmp_path / 'empty'}"])
    with pytest.raises(ConfigError, match="approach=mlm .* causal decoder \\(qwen2\\)"):
        build_mlm(cfg, {}, None, None)



def test_saved_encoders_load_without_the_false_mistral_regex_warning(tmp_path):
    """transformers 4.57.3-4.57.6 warn "incorrect regex pattern" on large-vocabulary folders they saved."""
    import logging

    from transformers import AutoConfig, AutoTokenizer

    from toolkit.models.encoder import _mistral_regex_kwargs, load_tokenizer, resolve_model_path

    # An encoder folder as the toolkit saves one: the embedded XLM-R tokenizer (250k pieces).
    embedded = resolve_model_path("embedded")
    AutoTokenizer.from_pretrained(embedded).save_pretrained(tmp_path / "encoder")
    AutoConfig.from_pretrained(embedded).save_pretrained(tmp_path / "encoder")

    def regex_warnings(load) -> tuple[list[str], object]:
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append
        source = logging.getLogger("transformers.tokenization_utils_base")
        source.addHandler(handler)
        try:
            tokenizer = load(str(tmp_path / "encoder"))
        finally:
            source.removeHandler(handler)
        return [r.getMessage() for r in records if "regex" in r.getMessage()], tokenizer

    plain_warnings, plain = regex_warnings(AutoTokenizer.from_pretrained)
    if not plain_warnings:
        pytest.skip("this transformers version no longer warns falsely")
    our_warnings, ours = regex_warnings(load_tokenizer)
    assert our_warnings == []
    text = "Don't split it's or l'homme: ÉTÉ 2026, 北京市。"
    assert ours(text)["input_ids"] == plain(text)["input_ids"]
    # A Mistral folder keeps transformers' own check; a Hub id has no folder to read.
    mistral = tmp_path / "mistral"
    mistral.mkdir()
    (mistral / "config.json").write_text('{"model_type": "mistral"}')
    assert _mistral_regex_kwargs(str(mistral)) == {} == _mistral_regex_kwargs("mistralai/Mistral-7B-v0.1")
