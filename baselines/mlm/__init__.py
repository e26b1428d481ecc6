"""Continued multilingual masked language modelling: the paper's baseline (i).

The `mlm` approach trains the intermediate task(s) together with one more task, `mlm`, in the
same multi-task mix. Its pieces:
- `baselines.mlm.corpus`: the text (Wikipedia from the Hub or local `<lang>.txt` files),
  XLM-R's alpha language sampling, and the `mlm` TaskSpec the approach adds to its mix;
- `toolkit.families.mlm`: windows, collate-time masking, the tied LM head, masked-token accuracy.
"""

from baselines.mlm.corpus import (
    MLM,
    MLM_LANGUAGES,
    language_probabilities,
    load_corpus,
    mix_languages,
    mlm_task,
)

__all__ = ["MLM", "MLM_LANGUAGES", "language_probabilities", "load_corpus", "mix_languages", "mlm_task"]
