"""Translating task examples: every text field, with span-QA answers carried through.

`translate_examples` is what the `translated` approach calls. Per field, the text is
normalised and split into sentences (`text.segment`); the distinct sentences of the whole
dataset are looked up in the cache, the missing ones are sorted by length, sent to the
backend in batches (each batch committed to the cache as soon as it is done, so an
interrupted job resumes where it stopped), and the translations are re-joined per field.

Span QA: the first gold answer is wrapped in markers before translation and found again
after it (`text.recover_span`). When the markers do not come through, and for every further
gold answer, the answer text is translated on its own and searched in the translated context.
An example whose first answer cannot be recovered either way is dropped; every drop is
counted in `TranslationStats` (with the example id) and logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from baselines.translate.backend import Backend
from baselines.translate.cache import TranslationCache
from baselines.translate.dataset_io import TranslatableExample, atomic_write_text, write_examples_jsonl
from baselines.translate.text import SpanMarkers, join_sentences, recover_span, segment
from xstilts.errors import ConfigError
from xstilts.tasks.base import Answer, MultipleChoiceExample, PairExample, SpanQAExample

log = logging.getLogger(__name__)


@dataclass
class TranslationStats:
    """What one `translate_examples` call did; `as_dict()` is what gets saved and logged."""

    backend: str
    model: str
    src: str
    tgt: str
    examples_in: int = 0
    examples_out: int = 0
    dropped_ids: list[str] = field(default_factory=list)
    qa_with_answer: int = 0  # span-QA examples that have a gold answer to carry through
    answers_by_markers: int = 0
    answers_by_search: int = 0
    extra_answers_dropped: int = 0  # answers after the first that could not be found again
    segments: int = 0  # sentences in all fields, repeats included
    unique_segments: int = 0
    cached_segments: int = 0  # found in the cache (earlier runs)
    translated_segments: int = 0  # sent to the backend in this run
    backend_calls: int = 0
    seconds: float = 0.0

    @property
    def dropped(self) -> int:
        return len(self.dropped_ids)

    @property
    def drop_rate(self) -> float:
        return self.dropped / self.examples_in if self.examples_in else 0.0

    @property
    def span_recovery_rate(self) -> float:
        """Share of answerable QA examples whose answer span was recovered after translation."""
        ok = self.answers_by_markers + self.answers_by_search
        return ok / self.qa_with_answer if self.qa_with_answer else 1.0

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "dropped": self.dropped,
            "drop_rate": self.drop_rate,
            "span_recovery_rate": self.span_recovery_rate,
        }


class _FieldTranslator:
    """Translates whole fields: segments them, translates distinct sentences once, re-joins."""

    def __init__(self, backend: Backend, cache: TranslationCache, stats: TranslationStats,
                 max_chars: int, progress: bool) -> None:
        self.backend, self.cache, self.stats = backend, cache, stats
        self.max_chars, self.progress = max_chars, progress

    def __call__(self, texts: Sequence[str | None]) -> list[str | None]:
        src, tgt = self.stats.src, self.stats.tgt
        segmented = [None if t is None else segment(t, src, self.max_chars) for t in texts]
        wanted = [s for segs in segmented if segs for s in segs]
        done = self._translate_unique(list(dict.fromkeys(wanted)))
        self.stats.segments += len(wanted)
        return [None if segs is None else join_sentences([done[s] for s in segs], tgt)
                for segs in segmented]

    def _translate_unique(self, unique: list[str]) -> dict[str, str]:
        self.stats.unique_segments += len(unique)
        done = self.cache.get_many(unique)
        self.stats.cached_segments += len(done)
        missing = sorted((s for s in unique if s not in done), key=len)  # similar lengths batch together
        size = max(1, self.backend.batch_size)
        desc = f"translate {self.stats.src}->{self.stats.tgt} ({self.backend.name})"
        with tqdm(total=len(missing), unit="sent", desc=desc, disable=not self.progress) as bar:
            for i in range(0, len(missing), size):
                batch = missing[i : i + size]
                out = self.backend.translate(batch, self.stats.src, self.stats.tgt)
                if len(out) != len(batch):
                    raise RuntimeError(
                        f"backend {self.backend.name} returned {len(out)} translations for "
                        f"{len(batch)} sentences"
                    )
                self.cache.put_many(zip(batch, out))  # committed: survives a crash after this
                done.update(zip(batch, out))
                self.stats.backend_calls += 1
                self.stats.translated_segments += len(batch)
                bar.update(len(batch))
        return done


def _check_supported(examples: Sequence[object]) -> None:
    for ex in examples:
        if not isinstance(ex, (PairExample, MultipleChoiceExample, SpanQAExample)):
            raise ConfigError(
                f"example {getattr(ex, 'id', '?')!r} is a {type(ex).__name__}: only pair "
                "classification, multiple choice and span QA tasks can be machine-translated "
                "(translation does not keep token-level tags aligned, so tagging tasks such as "
                "CCG have no translated variant)"
            )


def _find(haystack: str, needle: str | None) -> Answer | None:
    """The first occurrence of `needle` in `haystack` (case-insensitive), as an Answer."""
    if not needle or not needle.strip():
        return None
    m = re.search(re.escape(needle.strip()), haystack, flags=re.IGNORECASE)
    return Answer(text=m.group(0), start=m.start()) if m else None


def _translate_qa(examples: list[SpanQAExample], fields: _FieldTranslator, markers: SpanMarkers,
                  stats: TranslationStats) -> list[SpanQAExample | None]:
    """Translated QA examples (None where the answer was lost), answers re-anchored."""
    # Unanswerable examples, and contexts that contain the marker strings themselves, go
    # unmarked (the latter then rely on the answer search).
    marked = [bool(ex.answers) and not markers.occurs_in(ex.context) for ex in examples]
    contexts = fields([
        markers.mark(ex.context, ex.answers[0].start, ex.answers[0].start + len(ex.answers[0].text))
        if m else ex.context
        for ex, m in zip(examples, marked)
    ])
    questions = fields([ex.question for ex in examples])

    # First answers from the markers; everything else needs its answer text translated.
    first: list[Answer | None] = []
    clean: list[str] = []
    for ctx, m in zip(contexts, marked):
        got = recover_span(ctx, markers) if m else None
        if got:
            clean.append(got[0])
            first.append(Answer(text=got[0][got[1] : got[2]], start=got[1]))
        else:
            clean.append(markers.strip(ctx) if m else ctx)
            first.append(None)
    need = [(i, k) for i, ex in enumerate(examples) for k in range(len(ex.answers))
            if k > 0 or first[i] is None]
    answer_texts = fields([examples[i].answers[k].text for i, k in need])
    found = {ik: _find(clean[ik[0]], t) for ik, t in zip(need, answer_texts)}

    out: list[SpanQAExample | None] = []
    for i, (ex, ctx, q) in enumerate(zip(examples, clean, questions)):
        if not ex.answers:
            out.append(SpanQAExample(id=f"{ex.id}@{stats.tgt}", question=q, context=ctx,
                                     answers=(), title=ex.title))
            continue
        stats.qa_with_answer += 1
        head = first[i] or found[(i, 0)]
        if head is None:
            out.append(None)
            continue
        if first[i] is not None:
            stats.answers_by_markers += 1
        else:
            stats.answers_by_search += 1
        rest = [found[(i, k)] for k in range(1, len(ex.answers))]
        stats.extra_answers_dropped += sum(a is None for a in rest)
        answers = (head, *(a for a in rest if a is not None))
        out.append(SpanQAExample(id=f"{ex.id}@{stats.tgt}", question=q, context=ctx,
                                 answers=answers, title=ex.title))
    return out


def _translate_pairs(examples: list[PairExample], fields: _FieldTranslator, tgt: str) -> list[PairExample]:
    a = fields([e.text_a for e in examples])
    b = fields([e.text_b for e in examples])
    return [PairExample(id=f"{e.id}@{tgt}", text_a=x, text_b=y, label=e.label)
            for e, x, y in zip(examples, a, b)]


def _translate_choices(examples: list[MultipleChoiceExample], fields: _FieldTranslator,
                       tgt: str) -> list[MultipleChoiceExample]:
    contexts = fields([e.context for e in examples])
    questions = fields([e.question for e in examples])
    flat = fields([c for e in examples for c in e.choices])
    out, k = [], 0
    for e, c, q in zip(examples, contexts, questions):
        choices = tuple(flat[k : k + len(e.choices)])
        k += len(e.choices)
        out.append(MultipleChoiceExample(id=f"{e.id}@{tgt}", context=c, question=q,
                                         choices=choices, label=e.label))
    return out


def translate_examples(
    examples: Sequence[TranslatableExample],
    backend: Backend,
    tgt: str,
    cache_path: str | Path,
    *,
    src: str = "en",
    output_path: str | Path | None = None,
    markers: SpanMarkers = SpanMarkers(),
    max_chars: int = 400,
    progress: bool = True,
) -> tuple[list[TranslatableExample], TranslationStats]:
    """Translate `examples` from `src` into `tgt`; returns (translated examples, stats).

    Every text field is translated (premise/hypothesis; context/question/choices;
    question/context). Labels are kept; ids get the suffix `@<tgt>` so that translated and
    English examples can be mixed. Span QA titles are metadata and stay as they are. Output
    keeps the input order, minus QA examples whose answer could not be recovered (their ids
    are in `stats.dropped_ids`). Sentences longer than `max_chars` are cut at a clause
    boundary before translation.

    With `output_path`, the examples are also written there as JSON lines (atomically) and
    the stats next to them as `<stem>.stats.json`.
    Tagging (and any other unsupported example type) raises ConfigError.
    """
    _check_supported(examples)
    stats = TranslationStats(backend=backend.name, model=backend.model, src=src, tgt=tgt,
                             examples_in=len(examples))
    start = time.perf_counter()
    with TranslationCache(cache_path, backend.name, backend.model, src, tgt) as cache:
        fields = _FieldTranslator(backend, cache, stats, max_chars, progress)
        by_type: dict[type, list[int]] = {}
        for i, ex in enumerate(examples):
            by_type.setdefault(type(ex), []).append(i)
        result: list[TranslatableExample | None] = [None] * len(examples)
        for kind, idx in by_type.items():
            group = [examples[i] for i in idx]
            if kind is PairExample:
                done = _translate_pairs(group, fields, tgt)
            elif kind is MultipleChoiceExample:
                done = _translate_choices(group, fields, tgt)
            else:
                done = _translate_qa(group, fields, markers, stats)
            for i, ex in zip(idx, done):
                result[i] = ex
    stats.dropped_ids = [examples[i].id for i, ex in enumerate(result) if ex is None]
    out = [ex for ex in result if ex is not None]
    stats.examples_out = len(out)
    stats.seconds = time.perf_counter() - start
    log.info(
        "translated %d examples %s->%s with %s (%s): %d dropped (%.2f%%), span recovery %.2f%%, "
        "%d sentences from cache, %d translated",
        stats.examples_in, src, tgt, backend.name, backend.model, stats.dropped,
        100 * stats.drop_rate, 100 * stats.span_recovery_rate, stats.cached_segments,
        stats.translated_segments,
    )
    if output_path is not None:
        output_path = Path(output_path)
        write_examples_jsonl(output_path, out)
        atomic_write_text(output_path.with_name(output_path.stem + ".stats.json"),
                          json.dumps(stats.as_dict(), indent=2) + "\n")
    return out, stats
