"""Real translation with Debian's Apertium (skipped where apertium-eng-spa is not installed)."""

import shutil
from pathlib import Path

import pytest

from tests.fixtures.data import shared_data_root
from baselines.translate import make_backend, read_squad_json, translate_examples
from baselines.translate.apertium import installed_modes, route
from toolkit.errors import ConfigError
from toolkit.tasks.records import Answer, PairExample, SpanQAExample

if shutil.which("apertium") is None or "eng-spa" not in installed_modes():
    pytest.skip("needs Debian packages apertium and apertium-eng-spa", allow_module_level=True)


def shared_data() -> Path:
    return shared_data_root()


NLI = [
    ("A man is playing a guitar on the street.", "A musician is performing outside.", 0),
    ("The children are sleeping in their beds.", "The kids are playing football.", 2),
    ("The government announced new taxes yesterday.", "Taxes will change.", 0),
    ("She bought three apples at the market.", "She likes fruit.", 1),
    ("The train to London was delayed by an hour.", "The train arrived early.", 2),
    ("Two dogs are running through the snow.", "Animals are outside.", 0),
    ("The museum opens at nine in the morning.", "The museum is closed on Mondays.", 1),
    ("He wrote his first novel when he was twenty.", "He never wrote a book.", 2),
]

PARAGRAPHS = [
    (
        "The Amazon rainforest covers most of the Amazon basin of South America. The basin "
        "encompasses seven million square kilometres, of which five and a half million are "
        "covered by the rainforest. The majority of the forest is contained within Brazil, "
        "followed by Peru and Colombia.",
        [("Which continent is the Amazon basin in?", "South America"),
         ("Which country contains most of the forest?", "Brazil"),
         ("How large is the basin?", "seven million square kilometres"),
         ("Which country follows Brazil?", "Peru"),
         ("What covers most of the basin?", "The Amazon rainforest")],
    ),
    (
        "The Eiffel Tower is a wrought-iron lattice tower in Paris. It is named after the "
        "engineer Gustave Eiffel, whose company designed and built the tower. It was "
        "constructed from 1887 to 1889 as the entrance to the World's Fair. It is the most "
        "visited monument in the world that charges for entry.",
        [("In which city is the Eiffel Tower?", "Paris"),
         ("Who is the tower named after?", "Gustave Eiffel"),
         ("When was the construction finished?", "1889"),
         ("What is the tower made of?", "wrought-iron"),
         ("Why was the tower built?", "as the entrance to the World's Fair")],
    ),
    (
        "Water boils at one hundred degrees Celsius at sea level. At higher altitudes the air "
        "pressure is lower, so water boils at a lower temperature. This is why cooking pasta "
        "takes longer in the mountains. Salt raises the boiling point only slightly.",
        [("At what temperature does water boil at sea level?", "one hundred degrees Celsius"),
         ("What is lower at higher altitudes?", "the air pressure"),
         ("What takes longer in the mountains?", "cooking pasta"),
         ("What raises the boiling point slightly?", "Salt"),
         ("Where does water boil at a lower temperature?", "At higher altitudes")],
    ),
    (
        "The library was founded in 1753 by the doctor Hans Sloane. His collection of books, "
        "plants and coins formed the first museum of the city. Today the library holds more "
        "than twenty million books, and it is free for every student.",
        [("When was the library founded?", "1753"),
         ("Who founded the library?", "Hans Sloane"),
         ("How many books does the library hold?", "more than twenty million books"),
         ("What did the collection form?", "the first museum of the city"),
         ("Who can use the library for free?", "every student")],
    ),
]


def qa_fixture() -> list[SpanQAExample]:
    out = []
    for p, (context, qas) in enumerate(PARAGRAPHS):
        for q, (question, answer) in enumerate(qas):
            out.append(SpanQAExample(f"qa{p}-{q}", question, context, (Answer(answer, context.index(answer)),)))
    return out


@pytest.fixture(scope="module")
def apertium():
    return make_backend("apertium")


def test_nli_pairs_are_translated_into_spanish(apertium, tmp_path):
    pairs = [PairExample(f"nli{i}", a, b, y) for i, (a, b, y) in enumerate(NLI)]
    out, stats = translate_examples(pairs, apertium, "es", tmp_path / "c.db", progress=False)
    assert len(out) == len(pairs) and stats.dropped == 0
    assert out[0].text_a.startswith("Un hombre") and "guitarra" in out[0].text_a
    assert "niños" in out[1].text_a.lower() or "criaturas" in out[1].text_a.lower()
    assert [e.label for e in out] == [y for _, _, y in NLI]
    assert all(e.text_a != p.text_a and e.text_b != p.text_b for e, p in zip(out, pairs))


def test_qa_paragraphs_keep_their_answer_spans(apertium, tmp_path):
    examples = qa_fixture()
    out, stats = translate_examples(examples, apertium, "es", tmp_path / "c.db", progress=False)
    assert stats.span_recovery_rate >= 0.95, stats.as_dict()
    for ex in out:
        for a in ex.answers:
            assert ex.context[a.start : a.start + len(a.text)] == a.text
    by_id = {e.id: e for e in out}
    assert by_id["qa0-1@es"].answers[0].text == "Brasil"
    assert by_id["qa1-0@es"].answers[0].text == "París"
    assert by_id["qa3-0@es"].answers[0].text == "1753"


def test_xquad_span_recovery_rate(apertium, tmp_path):
    path = shared_data() / "xquad" / "xquad.en.json"
    if not path.exists():
        pytest.skip(f"shared data absent ({path})")
    examples, _ = read_squad_json(path, max_examples=100)
    out, stats = translate_examples(examples, apertium, "es", tmp_path / "c.db", progress=False)
    print(f"XQuAD en->es (apertium), first 100 questions: span recovery "
          f"{100 * stats.span_recovery_rate:.1f}% ({stats.answers_by_markers} by markers, "
          f"{stats.answers_by_search} by search), {stats.dropped} dropped")
    assert stats.span_recovery_rate >= 0.95
    assert all(e.context[e.answers[0].start:].startswith(e.answers[0].text) for e in out)


def test_batches_survive_newlines_and_empty_texts(apertium):
    texts = ["the big\nhouse of my friend", "", "I saw the red\n\ncar yesterday.", "Hello."]
    out = apertium.translate(texts, "en", "es")
    assert len(out) == 4 and out[1] == "" and "\n" not in "".join(out)
    assert "casa" in out[0] and "coche" in out[2]


def test_batch_that_loses_a_separator_is_retried_in_halves(apertium, monkeypatch):
    texts = ["The house is red.", "The dog sleeps.", "I like tea.", "We went home."]
    alone = [apertium.translate([t], "en", "es")[0] for t in texts]
    real_call = apertium._call

    def merge_first_two(mode, text):  # as if Apertium had swallowed one blank line
        out = real_call(mode, text)
        return out.replace("\n\n", "\n", 1) if text.count("\n\n") >= 2 else out

    monkeypatch.setattr(apertium, "_call", merge_first_two)
    assert apertium.translate(texts, "en", "es") == alone


@pytest.mark.skipif("es-pt" not in installed_modes(), reason="needs apertium-es-pt (Spanish pivot)")
def test_portuguese_through_the_spanish_pivot(apertium, tmp_path):
    assert route(installed_modes(), "en", "pt") == ["eng-spa", "es-pt"]
    out, stats = translate_examples(qa_fixture()[:5], apertium, "pt", tmp_path / "c.db", progress=False)
    assert stats.span_recovery_rate == 1.0
    assert out[1].answers[0].text == "Brasil" and "selva" in out[0].context


def test_missing_pairs_name_the_debian_package(apertium):
    with pytest.raises(ConfigError, match="apt-get install apertium-es-pt"):
        route(frozenset({"eng-spa"}), "en", "pt")
    with pytest.raises(ConfigError, match="apt-get install apertium-eng-spa apertium-fr-es"):
        route(frozenset(), "en", "fr")
    with pytest.raises(ConfigError, match="nllb"):
        apertium.translate(["Hello."], "en", "de")
