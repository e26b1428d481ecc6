"""translate_examples with scripted backends: fields, spans, drops, cache, resume, output files."""

import json

import pytest

from baselines.translate import read_examples_jsonl, translate_examples
from toolkit.errors import ConfigError
from toolkit.tasks.records import Answer, MultipleChoiceExample, PairExample, SpanQAExample, TaggingExample


class UpperBackend:
    """'Translates' by upper-casing; records every call so tests can count the work done."""

    name = "upper"
    model = "v1"

    def __init__(self, batch_size=4, fail_after=None, transform=str.upper):
        self.batch_size = batch_size
        self.calls: list[list[str]] = []
        self.fail_after = fail_after
        self.transform = transform

    def translate(self, texts, src, tgt):
        if self.fail_after is not None and len(self.calls) == self.fail_after:
            raise KeyboardInterrupt("simulated kill")
        self.calls.append(list(texts))
        return [self.transform(t) for t in texts]

    @property
    def sent(self):
        return [t for call in self.calls for t in call]


def qa(ex_id, context, question, *answers):
    return SpanQAExample(
        id=ex_id, question=question, context=context,
        answers=tuple(Answer(text=a, start=context.index(a)) for a in answers),
    )


PARAGRAPH = (
    "The Amazon rainforest covers much of the Amazon basin of South America. This basin "
    "encompasses 7,000,000 square kilometres, of which 5,500,000 are covered by the rainforest. "
    "The majority of the forest is contained within Brazil, with 60% of the rainforest."
)


def test_every_field_is_translated_labels_kept_ids_suffixed(tmp_path):
    examples = [
        PairExample("p1", "A man is playing a guitar.", "Someone makes music.", 0),
        PairExample("p2", "Only one sentence here.", None, 1),
        MultipleChoiceExample("m1", "She opened the door.", "What happened next?",
                              ("She walked in.", "She flew away.", ""), 0),
        qa("q1", PARAGRAPH, "How much of the basin is rainforest?", "5,500,000"),
    ]
    out, stats = translate_examples(examples, UpperBackend(), "xx", tmp_path / "c.db", progress=False)
    p1, p2, m1, q1 = out
    assert (p1.id, p1.text_a, p1.text_b, p1.label) == ("p1@xx", "A MAN IS PLAYING A GUITAR.", "SOMEONE MAKES MUSIC.", 0)
    assert p2.text_b is None and p2.label == 1
    assert m1.context == "SHE OPENED THE DOOR." and m1.question == "WHAT HAPPENED NEXT?"
    assert m1.choices == ("SHE WALKED IN.", "SHE FLEW AWAY.", "") and m1.label == 0
    assert q1.question == "HOW MUCH OF THE BASIN IS RAINFOREST?"
    assert q1.context == PARAGRAPH.upper()
    assert q1.answers == (Answer("5,500,000", q1.context.index("5,500,000")),)
    assert stats.answers_by_markers == 1 and stats.span_recovery_rate == 1.0 and stats.dropped == 0


def test_paragraphs_reach_the_backend_as_sentences_batched_by_length(tmp_path):
    backend = UpperBackend(batch_size=2)
    examples = [qa("q1", PARAGRAPH, "Where is most of the forest?", "Brazil")]
    translate_examples(examples, backend, "xx", tmp_path / "c.db", progress=False)
    sent = backend.sent
    assert "The majority of the forest is contained within [[Brazil]], with 60% of the rainforest." in sent
    assert all("\n" not in s for s in sent) and len(sent) == 4  # 3 context sentences + question
    lengths = [len(s) for s in sent]
    assert lengths == sorted(lengths)  # shortest first, so each batch holds similar lengths
    assert [len(c) for c in backend.calls] == [2, 2]


def test_answers_are_found_by_search_when_markers_are_lost(tmp_path):
    drop_markers = UpperBackend(transform=lambda t: t.replace("[[", "").replace("]]", "").upper())
    examples = [
        qa("q1", PARAGRAPH, "Which country?", "Brazil"),
        qa("q2", PARAGRAPH, "What share?", "60%", "60% of the rainforest"),
        # The context itself contains the marker strings: no marking, search only.
        qa("q3", "See [[note]] about Brazil.", "Which country?", "Brazil"),
        # Whole words first: "60" is the number at 9, not the end of "1960".
        SpanQAExample("q4", "How many?", "In 1960, 60 people came.", (Answer("60", 9),)),
    ]
    out, stats = translate_examples(examples, drop_markers, "xx", tmp_path / "c.db", progress=False)
    assert stats.answers_by_search == 4 and stats.answers_by_markers == 0 and stats.dropped == 0
    assert out[3].answers == (Answer("60", 9),)
    for ex in out:
        for a in ex.answers:
            assert ex.context[a.start : a.start + len(a.text)] == a.text
    assert [a.text for a in out[1].answers] == ["60%", "60% OF THE RAINFOREST"]
    assert "See [[note]] about Brazil." in drop_markers.sent  # sent unmarked


def test_unrecoverable_answers_are_dropped_and_counted(tmp_path):
    # Markers lost, and the answer "translates" to something absent from the context.
    def garble(t):
        t = t.replace("[[", "").replace("]]", "")
        return "QQQ" if t == "Brazil" else t.upper()

    examples = [
        qa("lost", PARAGRAPH, "Which country?", "Brazil"),
        qa("kept", PARAGRAPH, "What share?", "60%", "Brazil"),  # only the extra answer is lost
        SpanQAExample("noans", "Who planted it?", PARAGRAPH, ()),  # unanswerable: kept as is
    ]
    out, stats = translate_examples(examples, UpperBackend(transform=garble), "xx", tmp_path / "c.db",
                                    progress=False)
    assert [e.id for e in out] == ["kept@xx", "noans@xx"]
    assert stats.dropped_ids == ["lost"] and stats.drop_rate == pytest.approx(1 / 3)
    assert stats.qa_with_answer == 2 and stats.span_recovery_rate == 0.5
    assert stats.extra_answers_dropped == 1 and [a.text for a in out[0].answers] == ["60%"]
    assert out[1].answers == () and out[1].context == PARAGRAPH.upper()


def test_tagging_is_refused():
    tagging = [TaggingExample("t1", ("John", "runs"), ("NNP", "VBZ"))]
    with pytest.raises(ConfigError, match="tagging"):
        translate_examples(tagging, UpperBackend(), "xx", "/nonexistent/never-created.db")


def _nli(n):
    return [PairExample(f"p{i}", f"Premise number {i} is here.", f"Hypothesis {i}.", i % 3) for i in range(n)]


def test_rerun_takes_everything_from_the_cache(tmp_path):
    first = UpperBackend()
    out1, s1 = translate_examples(_nli(10), first, "xx", tmp_path / "c.db", progress=False)
    assert s1.translated_segments == 20 and s1.cached_segments == 0 and s1.backend_calls == 5

    again = UpperBackend()
    out2, s2 = translate_examples(_nli(10), again, "xx", tmp_path / "c.db", progress=False)
    assert again.calls == [] and s2.cached_segments == 20 and out2 == out1

    # Another target language, or another model, is a different cache entry.
    other = UpperBackend()
    translate_examples(_nli(10), other, "yy", tmp_path / "c.db", progress=False)
    assert len(other.sent) == 20


def test_interrupted_job_resumes_without_redoing_finished_batches(tmp_path):
    dying = UpperBackend(batch_size=4, fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        translate_examples(_nli(10), dying, "xx", tmp_path / "c.db", progress=False)
    finished = set(dying.sent)
    assert len(finished) == 12  # three batches of four made it to the cache

    resumed = UpperBackend(batch_size=4)
    out, stats = translate_examples(_nli(10), resumed, "xx", tmp_path / "c.db", progress=False)
    assert not finished & set(resumed.sent)
    assert len(resumed.sent) == 8 and len(resumed.calls) == 2
    assert stats.cached_segments == 12 and len(out) == 10


def test_output_written_as_jsonl_with_stats(tmp_path):
    examples = _nli(3) + [qa("q1", PARAGRAPH, "Which country?", "Brazil")]
    path = tmp_path / "out" / "mnli.xx.jsonl"
    out, stats = translate_examples(examples, UpperBackend(), "xx", tmp_path / "c.db",
                                    output_path=path, progress=False)
    assert read_examples_jsonl(path) == out
    saved = json.loads((tmp_path / "out" / "mnli.xx.stats.json").read_text())
    assert saved["examples_out"] == 4 and saved["span_recovery_rate"] == 1.0
    assert [p.name for p in path.parent.iterdir()] and not list(path.parent.glob(".*tmp*"))
