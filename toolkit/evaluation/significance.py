"""Is a change against `none` more than noise? A paired bootstrap over evaluation examples.

Every XTREME metric is a function of sums over examples, so each example is reduced once to a
small vector of additive statistics (`ExampleStats`): accuracy, the correct indicator; QA, its
F1 and exact match; tagging, (correct, predicted, gold) spans of the sentence; BUCC, the same
counts over the pairs of one source sentence. A resample is then a vector of multinomial
weights over the examples (drawn once per language and shared by both systems: that is the
pairing), and its score is the metric applied to the weighted sums, for every resample at once.

A target's change is the mean over its languages of (system A - system B), each system's score
being the mean over its seeds; the average column's change is the mean of the targets' changes,
every language resampled independently. The interval is the 2.5th and 97.5th percentile of the
resampled changes (percentile bootstrap).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from toolkit.errors import DataError
from toolkit.evaluation.metrics import SEQEVAL_PUBLISHED, get_metric, span_counts
from toolkit.tasks.benchmarks import target_spec

RESAMPLES = 1000
CHUNK = 200  # resamples drawn at a time: bounds memory at CHUNK x examples weights


@dataclass(frozen=True)
class ExampleStats:
    """One system's evaluation of one language: example ids (sorted) and per-example statistics
    (rows in id order); `metric` names how summed statistics become the task score."""

    ids: tuple[str, ...]
    values: np.ndarray  # (examples, statistics)
    metric: str
    gold: str  # digest of the gold: line files carry no ids, so pairing also compares the gold

    def score(self, weights: np.ndarray | None = None) -> np.ndarray | float:
        """The task score (percent) of the whole set, or of each resample for `weights`
        (resamples x examples)."""
        sums = self.values.sum(axis=0) if weights is None else weights @ self.values
        return SCORES[self.metric](sums, len(self.ids) if weights is None else weights.sum(axis=1))


def _mean_score(sums, n):
    return 100.0 * sums[..., 0] / n


def _qa_score(sums, n):
    return (sums[..., 0] + sums[..., 1]) / (2 * n)  # (F1 + EM) / 2, per-example values in percent


def _f1_score(sums, n):
    correct, found, gold = sums[..., 0], sums[..., 1], sums[..., 2]
    total = found + gold
    return np.where(total > 0, 200.0 * correct / np.maximum(total, 1), 0.0)


SCORES: dict[str, Callable] = {
    "accuracy": _mean_score, "tatoeba": _mean_score,
    "squad": _qa_score, "mlqa": _qa_score,
    "seqeval": _f1_score, "bucc": _f1_score,
}


def _per_example(metric: str, predictions: Mapping[str, Any], golds: Mapping[str, Any], language,
                 seqeval: str) -> dict:
    if metric in ("squad", "mlqa"):
        scorer = get_metric(metric)
        out = {}
        for key, gold in golds.items():
            single = {key: predictions[key]} if key in predictions else {}
            m = scorer(single, {key: gold}, language=language)
            out[key] = (m["f1"], m["exact_match"])
        return out
    if metric == "seqeval":
        return span_counts(predictions, golds, seqeval)
    if metric in ("accuracy", "tatoeba"):
        scorer = get_metric(metric)
        return {key: (scorer({key: predictions[key]} if key in predictions else {}, {key: gold})["accuracy"] / 100.0,)
                for key, gold in golds.items()}
    raise DataError(f"no per-example decomposition for metric {metric!r}")


def _bucc_counts(predictions, golds) -> dict[str, tuple[int, int, int]]:
    """BUCC's set F1 per source sentence: (correct, predicted, gold) pairs with that source."""
    pred, gold = {tuple(map(str, p)) for p in predictions}, {tuple(map(str, g)) for g in golds}
    counts: dict[str, list[int]] = {}
    for pair in pred | gold:
        c = counts.setdefault(pair[0], [0, 0, 0])
        c[0] += pair in pred and pair in gold
        c[1] += pair in pred
        c[2] += pair in gold
    return {k: tuple(v) for k, v in counts.items()}


def example_stats(xtreme_id: str, predictions, golds, language: str,
                  seqeval: str = SEQEVAL_PUBLISHED) -> ExampleStats:
    """Per-example statistics of one language's predictions against its gold, in the shapes
    `xtreme_format.read_predictions` / `read_gold` return; their score equals the metric's
    (tagging: under the seqeval behaviour the cell was scored with, results.json `scoring`)."""
    metric = target_spec(xtreme_id).metric
    per = _bucc_counts(predictions, golds) if metric == "bucc" else \
        _per_example(metric, predictions, golds, language.split(".")[0], seqeval)
    ids = tuple(sorted(per))
    if not ids:
        raise DataError(f"{xtreme_id} {language}: no examples to resample")
    digest = hashlib.sha256(repr(sorted(golds.items()) if isinstance(golds, Mapping) else sorted(golds)).encode())
    return ExampleStats(ids, np.array([per[i] for i in ids], dtype=np.float64).reshape(len(ids), -1), metric,
                        digest.hexdigest()[:16])


@dataclass(frozen=True)
class Change:
    """A change against the baseline: its value, the bootstrap interval, the resamples behind it."""

    delta: float
    low: float
    high: float
    resamples: np.ndarray  # the resampled changes, for averaging changes over targets

    @property
    def covers_zero(self) -> bool:
        return self.low <= 0.0 <= self.high


def _check_paired(a: Sequence[ExampleStats], b: Sequence[ExampleStats], where: str) -> None:
    if len({(s.ids, s.gold) for s in (*a, *b)}) != 1:
        raise DataError(f"{where}: the runs compared were evaluated on different examples, so they cannot be paired")


def target_change(a: Mapping[str, Sequence[ExampleStats]], b: Mapping[str, Sequence[ExampleStats]],
                  rng: np.random.Generator, resamples: int = RESAMPLES, where: str = "") -> Change:
    """Change of system `a` against `b` on one target: per language, each system's seeds
    (ExampleStats each); the languages are those both have."""
    langs = sorted(set(a) & set(b))
    if not langs:
        raise DataError(f"{where}: the systems share no evaluated language")
    total = np.zeros(resamples)
    point = 0.0
    for lang in langs:
        _check_paired(a[lang], b[lang], f"{where} {lang}")
        n = len(a[lang][0].ids)
        point += np.mean([s.score() for s in a[lang]]) - np.mean([s.score() for s in b[lang]])
        for start in range(0, resamples, CHUNK):
            count = min(CHUNK, resamples - start)
            weights = rng.multinomial(n, np.full(n, 1.0 / n), size=count).astype(np.float64)
            total[start:start + count] += (np.mean([s.score(weights) for s in a[lang]], axis=0)
                                           - np.mean([s.score(weights) for s in b[lang]], axis=0))
    return _change(point / len(langs), total / len(langs))


def _change(delta: float, resamples: np.ndarray) -> Change:
    low, high = np.percentile(resamples, [2.5, 97.5])
    return Change(float(delta), float(low), float(high), resamples)


def mean_change(changes: Sequence[Change]) -> Change:
    """The change of an average over targets: the mean of the targets' changes, resample by
    resample (the targets' examples were resampled independently)."""
    if not changes:
        raise DataError("no target changes to average")
    return _change(float(np.mean([c.delta for c in changes])), np.mean([c.resamples for c in changes], axis=0))
