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
from baselines.translate.dataset_io import TranslatableExample, write_examples_jsonl
from baselines.translate.text import SpanMarkers, join_sentences, recover_span, segment
from toolkit.errors import ConfigError
from toolkit.io import atomic_write_text
from toolkit.tasks.records import Answer, MultipleChoiceExample, PairExample, SpanQAExample

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
        # Shortest first: each batch holds sentences of similar length.
        missing = sorted((s for s in unique if s not in done), key=len)
        size = max(1, self.backend.batch_size)
        desc = f"translate {self.stats.src}->{self.stats.tgt} ({self.backend.name})"
        show = self.progress and bool(missing)
        with tqdm(total=len(missing), unit="sent", desc=desc, disable=not show) as bar:
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
    """The first occurrence of `needle` in `haystack` (case-insensitive), as an Answer.

    A whole-word occurrence is preferred, so that "60" is not found inside "1960".
    """
    if not needle or not needle.strip():
        return None
    pattern = re.escape(needle.strip())
    m = re.search(rf"(?<!\w){pattern}(?!\w)", haystack, flags=re.IGNORECASE) or re.search(
        pattern, haystack, flags=re.IGNORECASE
    )
    return Answer(text=m.group(0), start=m.start()) if m else None


def _source_fields(ex: TranslatableExample, markers: SpanMarkers) -> tuple[list[str | None], bool]:
    """The texts of an example to translate, in a fixed order, and whether an answer is marked.

    Unanswerable QA examples, and contexts that contain the marker strings themselves, go
    unmarked (the latter then rely on the answer search).
    """
    if isinstance(ex, PairExample):
        return [ex.text_a, ex.text_b], False
    if isinstance(ex, MultipleChoiceExample):
        return [ex.context, ex.question, *ex.choices], False
    if ex.answers and not markers.occurs_in(ex.context):
        a = ex.answers[0]
        return [markers.mark(ex.context, a.start, a.start + len(a.text)), ex.question], True
    return [ex.context, ex.question], False


def _rebuild(ex: TranslatableExample, texts: list, tgt: str, answers: tuple[Answer, ...] = ()):
    """`ex` with translated texts (in `_source_fields` order) and a language-suffixed id."""
    new_id = f"{ex.id}@{tgt}"
    if isinstance(ex, PairExample):
        return PairExample(id=new_id, text_a=texts[0], text_b=texts[1], label=ex.label)
    if isinstance(ex, MultipleChoiceExample):
        return MultipleChoiceExample(id=new_id, context=texts[0], question=texts[1],
                                     choices=tuple(texts[2:]), label=ex.label)
    return SpanQAExample(
        id=new_id, question=texts[1], context=texts[0], answers=answers, title=ex.title
    )


def _reanchor_answers(
    examples: Sequence[TranslatableExample],
    translated: list[list],
    marked: list[bool],
    fields: _FieldTranslator,
    markers: SpanMarkers,
    stats: TranslationStats,
) -> dict[int, tuple[Answer, ...] | None]:
    """Answers of each answerable QA example in its translated context (None: not recovered).

    Also replaces each marked translated context in `translated` by its marker-free text.
    """
    first: dict[int, Answer | None] = {}
    for i, ex in enumerate(examples):
        if not isinstance(ex, SpanQAExample) or not ex.answers:
            continue
        got = recover_span(translated[i][0], markers) if marked[i] else None
        if got:
            translated[i][0] = got[0]
            first[i] = Answer(text=got[0][got[1] : got[2]], start=got[1])
        else:
            translated[i][0] = markers.strip(translated[i][0]) if marked[i] else translated[i][0]
            first[i] = None
    # Everything the markers did not give: translate the answer text alone and search for it.
    need = [(i, k) for i in first for k in range(len(examples[i].answers)) if k or first[i] is None]
    answer_texts = fields([examples[i].answers[k].text for i, k in need])
    found = {ik: _find(translated[ik[0]][0], t) for ik, t in zip(need, answer_texts)}

    out: dict[int, tuple[Answer, ...] | None] = {}
    for i, head in first.items():
        stats.qa_with_answer += 1
        if head is not None:
            stats.answers_by_markers += 1
        elif found[(i, 0)] is not None:
            stats.answers_by_search += 1
            head = found[(i, 0)]
        else:
            out[i] = None
            continue
        rest = [found[(i, k)] for k in range(1, len(examples[i].answers))]
        stats.extra_answers_dropped += sum(a is None for a in rest)
        out[i] = (head, *(a for a in rest if a is not None))
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
        sources = [_source_fields(ex, markers) for ex in examples]
        # One pass over every field of every example, so batches span the whole dataset.
        flat = fields([t for texts, _ in sources for t in texts])
        translated, k = [], 0
        for texts, _ in sources:
            translated.append(flat[k : k + len(texts)])
            k += len(texts)
        marked = [m for _, m in sources]
        answers = _reanchor_answers(examples, translated, marked, fields, markers, stats)
    result = [
        None if answers.get(i, ()) is None else _rebuild(ex, translated[i], tgt, answers.get(i, ()))
        for i, ex in enumerate(examples)
    ]
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
