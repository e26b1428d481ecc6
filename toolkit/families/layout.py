"""How a tokenizer lays out model inputs, read from the tokenizer itself (any fast tokenizer).

Featurisers must not assume XLM-R's `<s> A </s></s> B </s>`: mDeBERTa writes
`[CLS] A [SEP] B [SEP]`, Llama 3 `<|begin_of_text|> A <|begin_of_text|> B`, Qwen2 adds no
special token at all. `layout(tokenizer)` encodes a marker pair once and records

- the single and pair templates (special-token ids and the slots for the texts), so that
  token-id lists get exactly the special tokens the tokenizer's own call would add (for
  `PreTrainedTokenizerFast`, `build_inputs_with_special_tokens` adds none whatever the
  tokenizer's post-processor says);
- a separator for tokenizers whose pair template puts nothing between the two texts (decoder
  LLM tokenizers): their sep token, else their eos token, inserted before the second text;
  without it a premise would run straight into its hypothesis;
- whether words given one by one (`is_split_into_words`) lose the space before them, as with
  byte-level BPE (GPT-2, Llama 3, Qwen2): tagging then gives every word after the first its
  leading space back, so sub-words match running text.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.errors import ConfigError

_A, _B = "A", "B"  # the text slots of a template; special tokens are their ids


@dataclass(frozen=True)
class TokenizerLayout:
    single: tuple  # e.g. (0, "A", 2) for XLM-R
    pair: tuple  # e.g. (0, "A", 2, 2, "B", 2)
    separator: tuple[int, ...]  # inserted before the second text; () when the template separates
    separator_text: str  # the same as text ("" when there is none)
    space_before_words: bool  # tagging: prefix words after the first with a space

    def build(self, first: list[int], second: list[int] | None = None) -> list[int]:
        """Token ids with the special tokens (and separator) of the tokenizer's template."""
        texts = {_A: first, _B: None if second is None else list(self.separator) + second}
        template = self.single if second is None else self.pair
        out: list[int] = []
        for item in template:
            out.extend(texts[item] if isinstance(item, str) else [item])
        return out

    def special_count(self, pair: bool = False) -> int:
        """Tokens `build` adds around the texts (the separator included for pairs)."""
        if pair:
            return sum(not isinstance(i, str) for i in self.pair) + len(self.separator)
        return sum(not isinstance(i, str) for i in self.single)

    @property
    def prefix_length(self) -> int:
        """Special tokens before the text of a single sequence (1 for <s>, 0 for Qwen2)."""
        return self.single.index(_A)


def _template(ids: list[int], sequence_ids: list[int | None]) -> tuple:
    out: list = []
    for token, seq in zip(ids, sequence_ids):
        if seq is None:
            out.append(token)
        elif not out or out[-1] != (_A, _B)[seq]:
            out.append((_A, _B)[seq])
    return tuple(out)


def _separator(tokenizer, pair: tuple) -> tuple[tuple[int, ...], str]:
    if pair.index(_B) != pair.index(_A) + 1:
        return (), ""
    for token in (tokenizer.sep_token, tokenizer.eos_token):
        if token is not None:
            return (tokenizer.convert_tokens_to_ids(token),), token
    raise ConfigError(
        f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} puts nothing between the two texts of a "
        "pair and has neither a sep nor an eos token to separate them with"
    )


def layout(tokenizer) -> TokenizerLayout:
    """The TokenizerLayout of `tokenizer` (computed once per tokenizer object)."""
    cached = getattr(tokenizer, "_xstilts_layout", None)
    if cached is not None:
        return cached
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} is not a fast (Rust) tokenizer; "
            "xstilts needs one for offsets and word alignment"
        )
    single_enc = tokenizer("a")
    pair_enc = tokenizer("a", "b")
    single = _template(single_enc["input_ids"], single_enc.sequence_ids())
    pair = _template(pair_enc["input_ids"], pair_enc.sequence_ids())
    separator, separator_text = _separator(tokenizer, pair)
    words = tokenizer(["a", "b"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    running = tokenizer("a b", add_special_tokens=False)["input_ids"]
    result = TokenizerLayout(single, pair, separator, separator_text, space_before_words=words != running)
    tokenizer._xstilts_layout = result
    return result
