"""Machine translation of intermediate-task data: the paper's `translated` baseline.

Entry points:
- `make_backend(name, **options)`: "apertium" (Debian, rule-based, English->Spanish and
  Spanish pivots) or "nllb" (NLLB-200 through fairseq2, the production backend).
- `translate_examples(examples, backend, tgt, cache_path, output_path=...)`: translated
  examples of the same type plus `TranslationStats` (drops, span recovery, cache use);
  resumable through an sqlite cache of sentence translations.
- `load_provided(data_dir, dataset, lang, labels)`: XTREME's own translate-train files.
- `read_examples_jsonl(path)`: a translated dataset written by `translate_examples`.
"""

from baselines.translate.backend import Backend, make_backend
from baselines.translate.dataset_io import read_examples_jsonl, write_examples_jsonl
from baselines.translate.examples import TranslationStats, translate_examples
from baselines.translate.provided import (
    load_provided,
    provided_path,
    read_squad_json,
    read_translated_pairs,
)
from baselines.translate.text import SpanMarkers

__all__ = [
    "Backend",
    "SpanMarkers",
    "TranslationStats",
    "load_provided",
    "make_backend",
    "provided_path",
    "read_examples_jsonl",
    "read_squad_json",
    "read_translated_pairs",
    "translate_examples",
    "write_examples_jsonl",
]
