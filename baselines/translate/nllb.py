"""NLLB-200 through fairseq2 0.8.1: the production translation backend.

Loading uses fairseq2's model and tokenizer hubs (`get_nllb_model_hub().load_model(card)`,
`get_nllb_tokenizer_hub().load_tokenizer(card)`), which download the checkpoint named in
fairseq2's asset card on first use; generation uses fairseq2's `BeamSearchSeq2SeqGenerator`
(`beam_size=1` is greedy decoding) wrapped in its `TextTranslator`. The model is loaded
lazily, on the first sentence that is not already in the translation cache.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from baselines.translate.languages import nllb_code
from toolkit.errors import ConfigError

log = logging.getLogger(__name__)

# Hugging Face names users know -> fairseq2 asset cards (fairseq2/assets/cards/models/nllb.yaml).
MODEL_ALIASES = {
    "facebook/nllb-200-distilled-600M": "nllb-200_dense_distill_600m",
    "nllb-200-distilled-600M": "nllb-200_dense_distill_600m",
    "facebook/nllb-200-distilled-1.3B": "nllb-200_dense_distill_1b",
    "nllb-200-distilled-1.3B": "nllb-200_dense_distill_1b",
    "facebook/nllb-200-1.3B": "nllb-200_dense_1b",
    "nllb-200-1.3B": "nllb-200_dense_1b",
    "facebook/nllb-200-3.3B": "nllb-200_dense_3b",
    "nllb-200-3.3B": "nllb-200_dense_3b",
}
DEFAULT_MODEL = "nllb-200_dense_distill_600m"


class NllbBackend:
    """NLLB-200 translation. `model` is the fairseq2 asset name (a Hub alias is accepted).

    `beam_size` 1 means greedy search; output length is capped at
    `max_len_a * source_tokens + max_len_b` tokens.
    """

    name = "nllb"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        beam_size: int = 4,
        batch_size: int = 16,
        max_len_a: float = 2.0,
        max_len_b: int = 16,
    ) -> None:
        self.model = MODEL_ALIASES.get(model, model)
        self.batch_size = batch_size
        self.beam_size = beam_size
        self.max_gen_len = (max_len_a, max_len_b)
        self.truncated = 0  # source sentences longer than the model's maximum (cut, counted)
        self._device = torch.device(device)
        try:
            self._dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        except AttributeError:
            raise ConfigError(f"unknown torch dtype {dtype!r} for the nllb backend") from None
        self._net: Any = None
        self._tokenizer: Any = None
        self._translators: dict[tuple[str, str], Any] = {}

    @classmethod
    def from_components(
        cls, net: Any, tokenizer: Any, model_id: str, **options: Any
    ) -> "NllbBackend":
        """A backend around an already built fairseq2 NLLB model and tokenizer.

        `model_id` names it in the translation cache (e.g. a fine-tuned checkpoint's path).
        """
        backend = cls(model_id, **options)
        backend._net, backend._tokenizer = net, tokenizer
        return backend

    def _load(self) -> None:
        from fairseq2.models.hub import ModelNotKnownError
        from fairseq2.models.nllb import get_nllb_model_hub, get_nllb_tokenizer_hub

        try:
            self._net = get_nllb_model_hub().load_model(
                self.model, device=self._device, dtype=self._dtype
            )
        except ModelNotKnownError:
            raise ConfigError(
                f"unknown NLLB model {self.model!r}; fairseq2's NLLB cards include "
                f"{', '.join(sorted(set(MODEL_ALIASES.values())))} "
                f"(Hub names accepted: {', '.join(MODEL_ALIASES)})"
            ) from None
        self._tokenizer = get_nllb_tokenizer_hub().load_tokenizer(self.model)

    def _translator(self, src: str, tgt: str) -> Any:
        from fairseq2.generation.beam_search import BeamSearchSeq2SeqGenerator
        from fairseq2.generation.text import TextTranslator

        key = (nllb_code(src), nllb_code(tgt))
        if key not in self._translators:
            generator = BeamSearchSeq2SeqGenerator(
                self._net, self._tokenizer.vocab_info, beam_size=self.beam_size,
                max_gen_len=self.max_gen_len,
            )
            self._translators[key] = TextTranslator(
                generator, self._tokenizer, source_lang=key[0], target_lang=key[1],
                max_source_len=self._net.max_source_seq_len,
            )
        return self._translators[key]

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        """One translation per text; empty texts stay empty."""
        if self._net is None:
            self._load()
        translator = self._translator(src, tgt)
        self._count_overlong(texts, src)
        keep = [i for i, t in enumerate(texts) if t.strip()]
        out = [""] * len(texts)
        for i in range(0, len(keep), self.batch_size):
            idx = keep[i : i + self.batch_size]
            translated, _ = translator.batch_translate([texts[j] for j in idx])
            for j, t in zip(idx, translated):
                out[j] = t.strip()
        return out

    def _count_overlong(self, texts: list[str], src: str) -> None:
        encoder = self._tokenizer.create_encoder(lang=nllb_code(src), mode="source")
        limit = self._net.max_source_seq_len
        over = sum(len(encoder(t)) > limit for t in texts if t.strip())
        if over:
            self.truncated += over
            log.warning("nllb: %d source sentences exceed %d tokens and are truncated "
                        "(%d so far); lower max_chars when segmenting", over, limit, self.truncated)
