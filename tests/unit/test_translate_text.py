"""Text preparation for MT: normalisation, sentence splitting, span markers."""

from baselines.translate.text import (
    SpanMarkers,
    join_sentences,
    normalize,
    recover_span,
    segment,
    split_sentences,
)


def test_normalize_collapses_whitespace_before_moses_normalisation():
    # A tab between words must become a space, not vanish with the control characters.
    assert normalize("Tab\there  and\nthere") == "Tab here and there"
    assert normalize("\u201cQuoted,\u201d he said \u2026 it\u2019s 5 %") == "\"Quoted,\" he said ... it's 5%"


def test_split_sentences_follows_moses_rules():
    assert split_sentences("Mr. Smith went to Washington. He arrived at 5 p.m. on Monday. It rained.") == [
        "Mr. Smith went to Washington.", "He arrived at 5 p.m. on Monday.", "It rained.",
    ]
    # Acronyms with periods, initials and numeric-only prefixes do not end sentences.
    assert split_sentences("The U.S. Army won. Then it lost.") == ["The U.S. Army won.", "Then it lost."]
    assert split_sentences("J. R. R. Tolkien wrote it.") == ["J. R. R. Tolkien wrote it."]
    assert split_sentences("See No. 5 for details. No. It is not.") == [
        "See No. 5 for details.", "No.", "It is not.",
    ]
    # Quotes, question marks and an opening answer marker at a boundary.
    assert split_sentences('He said "Stop." [[Then]] he left! Why? Because.') == [
        'He said "Stop."', "[[Then]] he left!", "Why?", "Because.",
    ]
    assert split_sentences("") == []


def test_segment_cuts_overlong_sentences_at_clause_boundaries():
    text = "First sentence. " + ", ".join(f"Item {i}" for i in range(60)) + "."
    pieces = segment(text, max_chars=80)
    assert pieces[0] == "First sentence."
    assert all(len(p) <= 80 for p in pieces)
    assert all(p.endswith(",") or p.endswith(".") for p in pieces)
    assert " ".join(pieces) == normalize(text)  # nothing lost


def test_join_sentences_uses_no_spaces_for_chinese():
    assert join_sentences(["Hola.", "Adiós."], "es") == "Hola. Adiós."
    assert join_sentences(["你好。", "再见。"], "zh") == "你好。再见。"


def test_recover_span_offsets_and_failures():
    m = SpanMarkers()
    assert m.mark("The black cat eats.", 4, 13) == "The [[black cat]] eats."
    for translated, clean, span in [
        ("El [[gato negro]] come.", "El gato negro come.", "gato negro"),
        ("El[[ gato ]]come.", "El gato come.", "gato"),  # stray spaces move outside the span
        ("[[El gato]] come.", "El gato come.", "El gato"),
        ("El gato [[come.]]", "El gato come.", "come."),
    ]:
        text, start, end = recover_span(translated, m)
        assert text == clean and text[start:end] == span
    assert recover_span("El ]] gato [[ come.", m) is None  # reversed
    assert recover_span("El [[gato]] [[come]].", m) is None  # duplicated
    assert recover_span("El [[ ]] gato.", m) is None  # empty span
    assert recover_span("El gato.", m) is None  # lost
    assert m.strip("El [[gato]] come.") == "El gato come."
