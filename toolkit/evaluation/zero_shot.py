"""Scoring a model on evaluation sets: one task, many languages, one pass each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolkit.runtime.distributed import Dist
from toolkit.evaluation.metrics import get_metric
from toolkit.evaluation.predict import predict
from toolkit.families.registry import get_family
from toolkit.tasks.records import TaskSpec


@dataclass
class EvalSet:
    """The examples of one task in one language and their features."""

    spec: TaskSpec
    language: str
    examples: list
    features: list[dict[str, Any]]


@dataclass
class EvalResult:
    language: str
    predictions: dict[str, Any]  # example id -> prediction
    golds: dict[str, Any]  # example id -> gold
    metrics: dict[str, float]  # percentages


def evaluate_set(model, evalset: EvalSet, batch_size: int, pad_id: int, dist: Dist, *, seqeval: str) -> EvalResult:
    """Predict, decode and score one evaluation set (collective: call on every rank).

    seqeval: the span-F1 behaviour for tagging sets (`eval.seqeval`; see metrics.span_f1).
    """
    spec = evalset.spec
    family = get_family(spec.family)
    outputs = predict(model, spec, evalset.features, batch_size, pad_id, dist)
    predictions = family.decode(spec, evalset.examples, evalset.features, outputs)
    golds = {e.id: family.gold(spec, e) for e in evalset.examples}
    # MLQA's cross-lingual pairs ("de.en") are normalised by the context language.
    metrics = get_metric(spec.metric, seqeval)(predictions, golds, language=evalset.language.split(".")[0])
    return EvalResult(evalset.language, predictions, golds, metrics)
