"""Tiny random XLM-R models and tokenizers, built in code, for unit tests and smoke runs.

The tokenizer is a small Unigram model (XLM-R's algorithm) trained on a fixed multilingual
text, with XLM-R's special tokens at XLM-R's ids and XLM-R's pair template, so every code
path that works here works with the real tokenizer.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

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


def save_tiny_model(path: str | Path, seed: int = 0, **overrides) -> Path:
    """Write a tiny encoder + tokenizer as a Hugging Face folder (usable as `model.name_or_path`)."""
    path = Path(path)
    tokenizer = tiny_tokenizer()
    tiny_encoder(tokenizer, seed=seed, **overrides).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
