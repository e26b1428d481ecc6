"""Tiny random models and tokenizers, built in code, for unit tests and smoke runs.

The default is XLM-R: a small Unigram tokenizer (XLM-R's algorithm) trained on a fixed
multilingual text, with XLM-R's special tokens at XLM-R's ids and XLM-R's pair template, so
every code path that works here works with the real tokenizer.

`TINY_ARCHITECTURES` adds one tiny model per other backbone family the toolkit supports, each
from the real transformers config class and with a tokenizer of that family's shape:

- `xlm-roberta-xl` (XLM-R XL/XXL: pre-LayerNorm), with the XLM-R tokenizer;
- `deberta-v2` (mDeBERTa-v3: relative attention, no token types), with a `[CLS] A [SEP] B [SEP]`
  Unigram tokenizer whose pad id is 0;
- `llama` (grouped-query attention, gated MLP), with a Llama-3-style byte-level BPE tokenizer:
  `<|begin_of_text|>` before each text, no pad token;
- `qwen2` (GQA with q/k/v biases, tied embeddings), with a Qwen2-style byte-level BPE tokenizer
  that adds no special token at all and has no pad token;
- `gemma` (GQA, embedding scaling), with a Gemma-style Metaspace BPE tokenizer (`<bos>` first,
  `<pad>` id 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    DebertaV2Config,
    DebertaV2TokenizerFast,
    GemmaConfig,
    LlamaConfig,
    PretrainedConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
    XLMRobertaConfig,
    XLMRobertaModel,
    XLMRobertaTokenizerFast,
    XLMRobertaXLConfig,
)

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, as in XLM-R; <mask> is added last

_CORPUS = """
The cat sat on the mat. A man is playing a guitar on the street. Two dogs run in the park.
Der Hund läuft schnell über die Wiese. Die Katze schläft auf dem Sofa. Ein Mann spielt Gitarre.
El perro corre rápido por el parque. La gata duerme en el sofá. Un hombre toca la guitarra.
Le chien court dans le parc. Le chat dort sur le canapé. Un homme joue de la guitare.
Собака бежит по парку. Кошка спит на диване. Мужчина играет на гитаре.
狗在公园里跑。猫在沙发上睡觉。一个男人在弹吉他。
Where was the treaty signed? It was signed in Paris in 1783 by both parties.
What is the capital of France? Paris is the capital and largest city of France.
""".strip()


def tiny_tokenizer(vocab_size: int = 400) -> XLMRobertaTokenizerFast:
    """A trained Unigram tokenizer with XLM-R's special tokens, ids and pair template."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, unk_token="<unk>", show_progress=False
    )
    lines = _CORPUS.splitlines()
    tok.train_from_iterator(lines * 4, trainer=trainer)
    tok.add_special_tokens(["<mask>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    return XLMRobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )


def tiny_config(vocab_size: int, **overrides) -> XLMRobertaConfig:
    """A 2-layer, 32-wide XLM-R config (fast enough for many short training runs on a CPU)."""
    values = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=514,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        type_vocab_size=1,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    values.update(overrides)
    return XLMRobertaConfig(**values)


def tiny_encoder(tokenizer: XLMRobertaTokenizerFast, seed: int = 0, **overrides) -> XLMRobertaModel:
    """A random tiny XLMRobertaModel whose vocabulary matches `tokenizer`."""
    import torch

    torch.manual_seed(seed)
    return XLMRobertaModel(tiny_config(len(tokenizer), **overrides), add_pooling_layer=False)


def _lines() -> list[str]:
    return _CORPUS.splitlines() * 4


def _deberta_tokenizer(vocab_size: int = 400) -> DebertaV2TokenizerFast:
    """mDeBERTa's layout: [PAD] [CLS] [SEP] [UNK] at ids 0-3, `[CLS] A [SEP] B [SEP]`, token types."""
    specials = ["[PAD]", "[CLS]", "[SEP]", "[UNK]"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="[UNK]",
                                      show_progress=False)
    tok.train_from_iterator(_lines(), trainer=trainer)
    tok.add_special_tokens(["[MASK]"])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 1), ("[SEP]", 2)],
    )
    return DebertaV2TokenizerFast(tokenizer_object=tok)


def _byte_level_bpe(specials: list[str], vocab_size: int = 600) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_lines(), trainer=trainer)
    return tok


def _llama_tokenizer() -> PreTrainedTokenizerFast:
    """Llama 3's shape: byte-level BPE, <|begin_of_text|> before each text, no pad token."""
    bos, eos = "<|begin_of_text|>", "<|end_of_text|>"
    tok = _byte_level_bpe([bos, eos])
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos}:1 $B:1",
                                      special_tokens=[(bos, 0)]),
    ])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos)


def _qwen2_tokenizer() -> PreTrainedTokenizerFast:
    """Qwen2's shape: byte-level BPE that adds no special token to either text; no pad token."""
    tok = _byte_level_bpe(["<|endoftext|>"])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def _gemma_tokenizer(vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """Gemma's shape: Metaspace BPE, <pad> <eos> <bos> <unk> at ids 0-3, <bos> before each text."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    tok.decoder = decoders.Metaspace(prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(_lines(), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos>:1 $B:1", special_tokens=[("<bos>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")


_SHAPE = dict(hidden_size=32, num_hidden_layers=2, intermediate_size=64, max_position_embeddings=512)


def _special_ids(tokenizer, **names: str) -> dict[str, int | None]:
    return {f"{k}_token_id": (tokenizer.convert_tokens_to_ids(v) if v else None) for k, v in names.items()}


@dataclass(frozen=True)
class TinyArchitecture:
    """A tiny model of one backbone family: its tokenizer and a config sized to that tokenizer."""

    name: str
    tokenizer: Callable[[], PreTrainedTokenizerFast]
    config: Callable[[PreTrainedTokenizerFast], PretrainedConfig]


TINY_ARCHITECTURES = {
    a.name: a
    for a in [
        TinyArchitecture("xlm-roberta", tiny_tokenizer, lambda t: tiny_config(len(t))),
        TinyArchitecture("xlm-roberta-xl", tiny_tokenizer, lambda t: XLMRobertaXLConfig(
            vocab_size=len(t), num_attention_heads=2, pad_token_id=1, bos_token_id=0, eos_token_id=2,
            type_vocab_size=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            **{**_SHAPE, "max_position_embeddings": 514})),
        TinyArchitecture("deberta-v2", _deberta_tokenizer, lambda t: DebertaV2Config(
            vocab_size=len(t), num_attention_heads=2, type_vocab_size=0, relative_attention=True,
            position_buckets=16, max_relative_positions=-1, pos_att_type=["p2c", "c2p"],
            norm_rel_ebd="layer_norm", share_att_key=True, position_biased_input=False, pad_token_id=0,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **_SHAPE)),
        TinyArchitecture("llama", _llama_tokenizer, lambda t: LlamaConfig(
            vocab_size=len(t), num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
            **_special_ids(t, bos="<|begin_of_text|>", eos="<|end_of_text|>", pad=None), **_SHAPE)),
        TinyArchitecture("qwen2", _qwen2_tokenizer, lambda t: Qwen2Config(
            vocab_size=len(t), num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
            **_special_ids(t, bos=None, eos="<|endoftext|>", pad=None), **_SHAPE)),
        TinyArchitecture("gemma", _gemma_tokenizer, lambda t: GemmaConfig(
            vocab_size=len(t), num_attention_heads=4, num_key_value_heads=1, head_dim=8,
            **_special_ids(t, bos="<bos>", eos="<eos>", pad="<pad>"), **_SHAPE)),
    ]
}


def tiny_model(architecture: str = "xlm-roberta", seed: int = 0):
    """(random backbone, tokenizer) of one of TINY_ARCHITECTURES."""
    import torch

    from toolkit.models.backbone import init_kwargs, model_class

    arch = TINY_ARCHITECTURES[architecture]
    tokenizer = arch.tokenizer()
    torch.manual_seed(seed)
    config = arch.config(tokenizer)
    cls = model_class(config)
    return cls(config, **init_kwargs(cls)), tokenizer


def save_tiny_model(path: str | Path, seed: int = 0, architecture: str = "xlm-roberta", **overrides) -> Path:
    """Write a tiny backbone + tokenizer as a Hugging Face folder (usable as `model.name_or_path`).

    `overrides` change the XLM-R config (the default architecture) only.
    """
    path = Path(path)
    if architecture == "xlm-roberta":
        tokenizer = tiny_tokenizer()
        model = tiny_encoder(tokenizer, seed=seed, **overrides)
    else:
        model, tokenizer = tiny_model(architecture, seed)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
