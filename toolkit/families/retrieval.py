"""Sentence retrieval (BUCC 2018, Tatoeba): scored on an encoder as it is, without training.

No head, no features: the encoder's mean-pooled hidden states of one layer are compared by
nearest neighbours (`toolkit.evaluation.retrieval`), and the pipeline runs that evaluation
for every family whose record says it is not trainable.
"""

from __future__ import annotations

from toolkit.families.base import Family

FAMILY = Family(
    "retrieval", featurize=None, collate=None, make_head=None, decode=None, gold=None,
    trainable=False,
    mean_tokens=40,  # a Tatoeba/BUCC sentence in XLM-R pieces
    inputs_per_example=lambda spec: 2,  # both sentences of a pair are encoded
)
