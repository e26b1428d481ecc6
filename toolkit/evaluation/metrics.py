"""XTREME's metrics, computed the way its official scripts compute them.

Every metric takes `(predictions, golds, language=None)` and returns percentages keyed by the
metric names of results.json (`accuracy`, `f1`, `exact_match`, `precision`, `recall`).
`predictions` and `golds` are dicts keyed by example id (BUCC: collections of mined pairs).
Golds define what is scored: a gold example without a prediction counts as wrong and is
reported in a warning; predictions for unknown ids are ignored.

Sources of truth (behaviour reproduced, code our own):
- SQuAD v1.1 `evaluate-v1.1.py` (XQuAD, TyDiQA-GoldP, and SQuAD v1.1 validation);
- SQuAD v2.0 `evaluate-v2.0.py` (no-answer = empty string);
- MLQA `mlqa_evaluation_v1.py` (language-aware normalisation; XTREME passes the context
  language of each test file);
- XTREME `evaluate.py` (seqeval span F1 for PAN-X *and* UD-POS, set-based BUCC F1,
  accuracy for classification and Tatoeba, per-language means, QA score = (F1 + EM) / 2).
  Its span F1 depends on the seqeval release it runs with: `span_f1` offers both behaviours
  (`eval.seqeval`; default 0.0.x, the release of XTREME's published numbers).
"""

from __future__ import annotations

import functools
import logging
import re
import string
import unicodedata
import warnings
from collections import Counter
from typing import Any, Callable, Iterable, Mapping, Sequence


from toolkit.config.schema import SEQEVAL_BEHAVIOURS, SEQEVAL_PUBLISHED
from toolkit.errors import ConfigError, DataError, nearest
from toolkit.tasks.benchmarks import official_languages, target_spec

logger = logging.getLogger(__name__)

Metric = Callable[..., dict[str, float]]
AnswerTexts = Mapping[str, str]  # QA predictions: question id -> answer text ("" = no answer)
GoldAnswers = Mapping[str, Sequence[str]]  # QA golds: question id -> acceptable answer texts
TagLists = Mapping[str, Sequence[str]]  # tagging: sentence id -> one tag per token


class _Missing:
    """Stands in for an absent prediction: equal to nothing, so it always scores as wrong."""

    def __repr__(self) -> str:
        return "<missing prediction>"


_MISSING = _Missing()


def _aligned(metric: str, predictions: Mapping[str, Any], golds: Mapping[str, Any]) -> list:
    """(gold, prediction, id) per gold example in gold order; absent predictions are _MISSING."""
    if not golds:
        raise DataError(f"{metric}: there are no gold examples to score")
    missing = [key for key in golds if key not in predictions]
    if missing:
        shown = ", ".join(repr(k) for k in missing[:5])
        logger.warning(
            "%s: %d of %d gold examples have no prediction and count as wrong (e.g. %s)",
            metric, len(missing), len(golds), shown,
        )
    return [(gold, predictions.get(key, _MISSING), key) for key, gold in golds.items()]


# ---------------------------------------------------------------------------------------------
# Classification and retrieval accuracy.
# ---------------------------------------------------------------------------------------------


def _accuracy(metric: str, predictions: Mapping[str, Any], golds: Mapping[str, Any]) -> dict:
    rows = _aligned(metric, predictions, golds)
    unlabelled = [key for gold, _, key in rows if gold is None]
    if unlabelled:
        raise DataError(
            f"{metric}: {len(unlabelled)} gold examples have no label (e.g. {unlabelled[0]!r}); "
            "score a split with gold labels (XTREME's test labels are hidden: use dev)"
        )
    return {"accuracy": 100.0 * sum(pred == gold for gold, pred, _ in rows) / len(rows)}


def accuracy(predictions: Mapping[str, Any], golds: Mapping[str, Any], language=None) -> dict:
    """Share of examples whose predicted label equals the gold label (XNLI, PAWS-X, XCOPA)."""
    return _accuracy("accuracy", predictions, golds)


# A Tatoeba index as text (a line of a prediction or gold file).
INDEX_TEXT = re.compile(r"[+-]?[0-9]+")


def tatoeba(predictions: Mapping[str, int | str], golds: Mapping[str, int | str], language=None) -> dict:
    """Top-1 retrieval accuracy: the retrieved English index equals the gold index.

    Indices are ints, or their text as read from a file. They are compared as text, because
    XTREME's evaluate.py compares the lines of the two files: "012" is not "12".
    """
    as_text = {}
    for what, values in (("prediction", predictions), ("gold", golds)):
        as_text[what] = {}
        for key, value in values.items():
            if not (isinstance(value, int) and not isinstance(value, bool)
                    or isinstance(value, str) and INDEX_TEXT.fullmatch(value)):
                raise DataError(
                    f"tatoeba: {what} for {key!r} is {value!r}; expected an integer index"
                )
            as_text[what][key] = str(value)
    return _accuracy("tatoeba", as_text["prediction"], as_text["gold"])


# ---------------------------------------------------------------------------------------------
# Extractive QA: SQuAD v1.1, SQuAD v2.0 and MLQA.
# ---------------------------------------------------------------------------------------------

_ENGLISH_ARTICLES = re.compile(r"\b(a|an|the)\b")

# MLQA's per-language article lists. Hindi and Chinese have none. For Arabic the official
# script's pattern reduces to deleting every "ال" (also inside words); we keep that behaviour.
_MLQA_ARTICLES = {
    "en": _ENGLISH_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile("ال"),
    "hi": None,
    "zh": None,
}
MLQA_LANGUAGES = tuple(_MLQA_ARTICLES)
_ASCII_PUNCTUATION = frozenset(string.punctuation)
_CJK = re.compile("[\u4e00-\u9fa5]")


def _is_mlqa_punctuation(ch: str) -> bool:
    """MLQA's punctuation: Unicode P* characters plus ASCII punctuation (which adds $+<=>^`|~)."""
    return ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P")


def _mixed_segmentation(text: str) -> list[str]:
    """MLQA's Chinese tokens: each CJK character (or punctuation mark) alone, other runs split
    on whitespace, so F1 over Chinese answers is character-level."""
    tokens: list[str] = []
    run = ""
    for ch in text:
        if _CJK.match(ch) or _is_mlqa_punctuation(ch):
            tokens.extend(run.split())
            run = ""
            tokens.append(ch)
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def normalize_answer(text: str, language: str | None = None) -> str:
    """Normalise an answer for EM/F1.

    language None: SQuAD's rules (lowercase, drop ASCII punctuation, drop a/an/the, collapse
    whitespace). A language code: MLQA's rules for that (context) language (Unicode
    punctuation, that language's articles, character-level tokens for Chinese).
    """
    text = text.lower()
    if language is None:
        text = "".join(ch for ch in text if ch not in _ASCII_PUNCTUATION)
        return " ".join(_ENGLISH_ARTICLES.sub(" ", text).split())
    if language not in _MLQA_ARTICLES:
        raise ConfigError(
            f"MLQA normalisation is defined for {', '.join(MLQA_LANGUAGES)}, "
            f"not {language!r}{nearest(language, MLQA_LANGUAGES)}"
        )
    text = "".join(ch for ch in text if not _is_mlqa_punctuation(ch))
    articles = _MLQA_ARTICLES[language]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = _mixed_segmentation(text) if language == "zh" else text.split()
    return " ".join(t for t in tokens if t.strip())


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _check_qa_inputs(metric: str, rows: list) -> None:
    for gold, pred, key in rows:
        if isinstance(gold, str) or not all(isinstance(g, str) for g in gold):
            raise DataError(
                f"{metric}: gold for {key!r} is {gold!r}; expected a list of answer texts"
            )
        if pred is not _MISSING and not isinstance(pred, str):
            raise DataError(f"{metric}: prediction for {key!r} is {pred!r}; expected answer text")


def _span_qa(metric: str, predictions, golds, language: str | None) -> dict:
    """SQuAD v1.1 / MLQA: max EM and F1 over the gold answers, averaged over questions."""
    rows = _aligned(metric, predictions, golds)
    _check_qa_inputs(metric, rows)
    exact = f1 = 0.0
    for answers, pred, key in rows:
        if not answers:
            raise DataError(
                f"{metric}: question {key!r} has no gold answer; unanswerable questions need "
                "the 'squad_v2' metric"
            )
        if pred is _MISSING:
            continue
        pred_norm = normalize_answer(pred, language)
        gold_norms = [normalize_answer(a, language) for a in answers]
        exact += max(float(pred_norm == g) for g in gold_norms)
        f1 += max(_token_f1(pred_norm.split(), g.split()) for g in gold_norms)
    return {"exact_match": 100.0 * exact / len(rows), "f1": 100.0 * f1 / len(rows)}


def squad(predictions: AnswerTexts, golds: GoldAnswers, language=None) -> dict:
    """SQuAD v1.1 exact match and token F1 (English normalisation, used by XTREME for every
    XQuAD and TyDiQA language). Golds: id -> list of acceptable answer texts."""
    return _span_qa("squad", predictions, golds, None)


def mlqa(predictions: AnswerTexts, golds: GoldAnswers, language: str | None = None) -> dict:
    """MLQA exact match and F1 with the normalisation of `language`, the context language."""
    if language is None:
        raise ConfigError(
            f"the mlqa metric needs the context language (one of {', '.join(MLQA_LANGUAGES)})"
        )
    return _span_qa("mlqa", predictions, golds, language)


def squad_v2(predictions: AnswerTexts, golds: GoldAnswers, language=None) -> dict:
    """SQuAD v2.0 exact match and F1 with no-answer questions, plus the HasAns/NoAns breakdown.

    A gold with no answers is unanswerable; an empty prediction string means "no answer".
    As in the official script, gold answers that normalise to nothing are dropped, and when
    either side has no tokens F1 is 1 only if both have none.
    """
    rows = _aligned("squad_v2", predictions, golds)
    _check_qa_inputs("squad_v2", rows)
    scores = {True: [], False: []}  # has-answer -> [(exact, f1)]
    for answers, pred, _ in rows:
        gold_norms = [n for n in (normalize_answer(a) for a in answers) if n] or [""]
        if pred is _MISSING:
            exact = f1 = 0.0
        else:
            pred_norm = normalize_answer(pred)
            exact = max(float(pred_norm == g) for g in gold_norms)
            f1 = max(_v2_f1(pred_norm.split(), g.split()) for g in gold_norms)
        scores[bool(answers)].append((exact, f1))
    out = _mean_em_f1(scores[True] + scores[False], "")
    if scores[True]:
        out.update(_mean_em_f1(scores[True], "has_ans_"))
    if scores[False]:
        out.update(_mean_em_f1(scores[False], "no_ans_"))
    return out


def _v2_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    """SQuAD v2.0's F1: an empty side (no answer) scores 1 only against another empty side."""
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    return _token_f1(pred_tokens, gold_tokens)


def _mean_em_f1(pairs: list[tuple[float, float]], prefix: str) -> dict:
    return {
        f"{prefix}exact_match": 100.0 * sum(e for e, _ in pairs) / len(pairs),
        f"{prefix}f1": 100.0 * sum(f for _, f in pairs) / len(pairs),
    }


# ---------------------------------------------------------------------------------------------
# Tagging: seqeval span F1 (NER, and POS as XTREME scores it) and token accuracy.
# ---------------------------------------------------------------------------------------------


def _tag_rows(metric: str, predictions, golds, fill) -> tuple[list[list], list[list]]:
    """Gold and predicted tag lists in gold order; a missing sentence is filled with `fill`."""
    y_true, y_pred = [], []
    for gold, pred, key in _aligned(metric, predictions, golds):
        if gold is None:
            raise DataError(f"{metric}: example {key!r} has no gold tags (an unlabelled split?)")
        gold = list(gold)
        pred = [fill] * len(gold) if pred is _MISSING else list(pred)
        if len(pred) != len(gold):
            raise DataError(
                f"{metric}: example {key!r} has {len(gold)} gold tags but {len(pred)} predicted"
            )
        y_true.append(gold)
        y_pred.append(pred)
    return y_true, y_pred


def _seqeval_0x_tag(tag: str) -> str:
    """Rewrite a tag so that seqeval 1.x reads the chunk marker and type seqeval 0.0.x read.

    Both releases take the first character as the chunk marker (B, I, E, S, O, or any other
    letter, which starts a span wherever the type changes). 0.0.x took the type to be the text
    after the last '-' (the whole tag when it has none); 1.x takes the text after the first
    character, drops everything up to its first '-' if it has one, and uses '_' for nothing.
    So 'NOUN' -> 'N-NOUN' keeps marker 'N' and type 'NOUN' under 1.x, and IOB tags are
    unchanged. A 0.0.x type is never empty in 1.x ('_' could clash with a real type): the
    empty type of a tag ending in '-' becomes '-', which no 0.0.x type (text after the last
    '-') can be.
    """
    if not tag:
        raise DataError("seqeval: empty tag string")
    return f"{tag[0]}-{tag.rsplit('-', 1)[-1] or '-'}"


def span_f1(predictions: TagLists, golds: TagLists, language=None, seqeval: str = SEQEVAL_PUBLISHED) -> dict:
    """Micro span precision/recall/F1 with seqeval's default (lenient IOB) chunking, as XTREME's
    evaluate.py computes it for PAN-X and UD-POS.

    Lenient chunking: an I- tag after O or after another type starts a span. XTREME feeds
    UD-POS tags (NOUN, VERB ...) through the same function: the first letter acts as the chunk
    marker, so a run of identical POS tags is one span (tags starting with S, such as SYM and
    SCONJ, are single-token spans) and a run is right only when all of it is. Sentences are
    joined into one sequence with an 'O' after each, as seqeval does.

    seqeval: which release evaluate.py is run with, as the chunk types differ (IOB tags score
    the same under both):
    - "0.0.x" (XTREME's published numbers): the type is the text after the last '-', so every
      POS tag is its own type (see `_seqeval_0x_tag`);
    - "1.x" (seqeval 1.2.2, what evaluate.py gives today): the type is the text after the
      first letter, so CCONJ and SCONJ are both type "CONJ" and one span when adjacent, and X
      has the type '_' of the padding 'O': an X chunk only ends at a change of type after a
      non-O tag, so an X at the end of a sentence never ends and is not counted.
    A sentence without a prediction contributes only missed gold spans.
    """
    if seqeval not in SEQEVAL_BEHAVIOURS:
        raise ConfigError(
            f"seqeval={seqeval!r} is not one of {', '.join(SEQEVAL_BEHAVIOURS)}{nearest(seqeval, SEQEVAL_BEHAVIOURS)}"
        )
    y_true, y_pred = _tag_rows("seqeval", predictions, golds, "O")
    if seqeval == SEQEVAL_PUBLISHED:
        y_true = [[_seqeval_0x_tag(t) for t in sentence] for sentence in y_true]
        y_pred = [[_seqeval_0x_tag(t) for t in sentence] for sentence in y_pred]
    with warnings.catch_warnings():
        # seqeval warns for every non-IOB tag (all of UD-POS) and for spanless inputs
        # (it then scores 0, as XTREME does).
        warnings.simplefilter("ignore")
        # heavy: seqeval loads scikit-learn and SciPy (a second at start-up), so only when tagging is scored
        from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

        precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average="micro")
    return {
        "f1": 100.0 * float(f1),
        "precision": 100.0 * float(precision),
        "recall": 100.0 * float(recall),
    }


def span_counts(predictions: TagLists, golds: TagLists, seqeval: str = SEQEVAL_PUBLISHED) -> dict[str, tuple[int, int, int]]:
    """Per gold sentence, (correct, predicted, gold) span counts under `span_f1`'s chunking,
    whose sums give its micro precision, recall and F1 exactly, so a resample of sentences can
    be scored without rerunning seqeval. Spans are found as span_f1 finds them, on the joined
    sequence (an 'O' after each sentence); each counts for the sentence it starts in (under 1.x
    a span of X can run on into the next sentence)."""
    if seqeval not in SEQEVAL_BEHAVIOURS:
        raise ConfigError(f"seqeval={seqeval!r} is not one of {', '.join(SEQEVAL_BEHAVIOURS)}")
    y_true, y_pred = _tag_rows("seqeval", predictions, golds, "O")
    rewrite = _seqeval_0x_tag if seqeval == SEQEVAL_PUBLISHED else (lambda tag: tag)
    # heavy: seqeval loads scikit-learn and SciPy, only when tagging is scored
    from seqeval.metrics.sequence_labeling import get_entities

    keys = list(golds)
    owner: list[int] = []  # token position in the joined sequence -> sentence index
    for i, sentence in enumerate(y_true):
        owner += [i] * (len(sentence) + 1)
    joined = {name: [t for sentence in rows for t in [*map(rewrite, sentence), "O"]]
              for name, rows in (("true", y_true), ("pred", y_pred))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-IOB tags (UD-POS), as in span_f1
        true, found = (set(get_entities(joined[name])) for name in ("true", "pred"))
    counts = [[0, 0, 0] for _ in keys]
    for spans, column in ((true & found, 0), (found, 1), (true, 2)):
        for _, begin, _ in spans:
            counts[owner[begin]][column] += 1
    return {key: tuple(c) for key, c in zip(keys, counts)}


def tagging_accuracy(predictions: TagLists, golds: TagLists, language=None) -> dict:
    """Share of tokens tagged correctly (CCG supertagging validation)."""
    y_true, y_pred = _tag_rows("tagging_accuracy", predictions, golds, _MISSING)
    if not any(y_true):
        raise DataError("tagging_accuracy: the gold sentences have no tokens")
    from seqeval.metrics import accuracy_score  # heavy: scikit-learn and SciPy, only when scored

    return {"accuracy": 100.0 * float(accuracy_score(y_true, y_pred))}


# ---------------------------------------------------------------------------------------------
# BUCC bitext mining.
# ---------------------------------------------------------------------------------------------


def _pair_set(what: str, pairs) -> set[tuple[str, str]]:
    """Mined pairs as a set (XTREME counts a repeated pair once); a mapping means src -> trg."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    out = set()
    for item in items:
        if isinstance(item, str) or len(item) != 2:
            raise DataError(f"bucc: {what} entry {item!r} is not a (source id, target id) pair")
        out.add((str(item[0]), str(item[1])))
    return out


def bucc(predictions: Iterable | Mapping, golds: Iterable | Mapping, language=None) -> dict:
    """Precision, recall and F1 of mined (source id, target id) pairs against the gold pairs.

    Both sides are sets, so duplicates count once, as in XTREME's evaluate.py.
    """
    pred = _pair_set("prediction", predictions)
    gold = _pair_set("gold", golds)
    if not gold:
        raise DataError("bucc: there are no gold pairs to score")
    correct = len(pred & gold)
    if correct == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision = correct / len(pred)
    recall = correct / len(gold)
    f1 = 2 * precision * recall / (precision + recall)
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}


def mlm_accuracy(predictions: Mapping[str, dict], golds: Mapping[str, Any], language=None) -> dict:
    """Masked-token accuracy (percent) over the texts in `golds`, from `decode`'s output.

    A text without a prediction cannot be scored (its masks are unknown): it is reported in
    a warning and left out.
    """
    if not golds:
        raise DataError("mlm_accuracy: there are no texts to score")
    missing = [k for k in golds if k not in predictions]
    if missing:
        logger.warning(
            "mlm_accuracy: %d of %d texts have no prediction and are not scored (e.g. %r)",
            len(missing), len(golds), missing[0],
        )
    correct = total = 0
    for key in golds:
        if key in predictions:
            entry = predictions[key]
            correct += sum(p == t for p, t in zip(entry["predicted"], entry["labels"]))
            total += len(entry["labels"])
    if total == 0:
        raise DataError("mlm_accuracy: no masked tokens to score (texts too short, or too few)")
    return {"accuracy": 100.0 * correct / total}


# ---------------------------------------------------------------------------------------------
# Registry, task scores and per-language summaries.
# ---------------------------------------------------------------------------------------------

METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "squad": squad,
    "squad_v2": squad_v2,
    "mlqa": mlqa,
    "seqeval": span_f1,
    "tagging_accuracy": tagging_accuracy,
    "bucc": bucc,
    "tatoeba": tatoeba,
    "mlm_accuracy": mlm_accuracy,
}

QA_METRICS = frozenset({"squad", "squad_v2", "mlqa"})
_SCORE_KEY = {
    "accuracy": "accuracy",
    "tagging_accuracy": "accuracy",
    "tatoeba": "accuracy",
    "mlm_accuracy": "accuracy",
    "seqeval": "f1",
    "bucc": "f1",
}

def get_metric(name: str, seqeval: str = SEQEVAL_PUBLISHED) -> Metric:
    """The metric function registered as `name` (unknown names list the nearest ones), with
    the run's scoring choices applied: `seqeval` is the behaviour of the span F1 (`span_f1`)."""
    if name not in METRICS:
        raise ConfigError(
            f"unknown metric {name!r}{nearest(name, sorted(METRICS))}; known: {', '.join(METRICS)}"
        )
    if METRICS[name] is span_f1:
        return functools.partial(span_f1, seqeval=seqeval)
    return METRICS[name]


def scoring_record(metric_name: str, seqeval: str) -> dict[str, str]:
    """How a task was scored, for results.json's `scoring` key: the metric's name and, for the
    seqeval span F1, which seqeval behaviour (`eval.seqeval`) the numbers follow."""
    get_metric(metric_name)
    record = {"metric": metric_name}
    if METRICS[metric_name] is span_f1:
        record["seqeval"] = seqeval
    return record


def task_score(metric_name: str, metrics: Mapping[str, float]) -> float:
    """The single number a metric's results count as: accuracy, F1, or (F1 + EM) / 2 for QA."""
    get_metric(metric_name)
    keys = ("f1", "exact_match") if metric_name in QA_METRICS else (_SCORE_KEY[metric_name],)
    absent = [k for k in keys if k not in metrics]
    if absent:
        raise DataError(
            f"metric {metric_name!r} results lack {', '.join(absent)} (have: {', '.join(metrics)})"
        )
    return sum(metrics[k] for k in keys) / len(keys)


def summarise(
    task: str, per_lang: Mapping[str, Mapping[str, float]], benchmark: str = "xtreme"
) -> tuple[dict[str, float], float]:
    """Per-metric mean and the task's score over the benchmark's languages that were evaluated.

    `task` is an XTREME id (xnli, pawsx, udpos, panx, xquad, mlqa, tydiqa, bucc2018, tatoeba;
    XTREME-R adds xcopa), scored with its target's metric; `benchmark` names the list averaged over (`xtreme` or `xtreme_r`).
    Languages not on that list (e.g. Romanian XQuAD under XTREME) may be in `per_lang` but are
    not averaged, as in XTREME's evaluate.py.
    Returns (average, score): `average[m]` is the mean of metric m, and `score` is
    task_score(task's metric, average): accuracy, F1, or (F1 + EM) / 2 for QA.
    """
    official = official_languages(task, benchmark)
    metric = target_spec(task).metric
    counted = [lang for lang in official if lang in per_lang]
    if not counted:
        raise ConfigError(
            f"none of the evaluated languages ({', '.join(per_lang) or 'none'}) is on {benchmark}'s "
            f"list for {task!r}: {', '.join(official)}"
        )
    names = list(per_lang[counted[0]])
    for lang in counted:
        if sorted(per_lang[lang]) != sorted(names):
            raise DataError(
                f"{task}: language {lang!r} has metrics {sorted(per_lang[lang])}, "
                f"but {counted[0]!r} has {sorted(names)}"
            )
    average = {m: sum(per_lang[lang][m] for lang in counted) / len(counted) for m in names}
    return average, task_score(metric, average)
