"""UD-POS, PAN-X and CCG loaders: Hub schema, XTREME tsv, CoNLL-U, CCGbank AUTO, real shared data."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from pathlib import Path

import datasets
import numpy as np
import pytest

from tests.fixtures.hub import serve_tables

from tests.fixtures.data import shared_data_root
from toolkit.errors import ConfigError, DataError
from toolkit.families.registry import get_family
from tests.fixtures.tiny_models import tiny_tokenizer
from toolkit.tasks.records import LoadRequest
from toolkit.tasks.tagging import (
    CCG, CCG_CATCH_ALL, PANX, PANX_TAGS, UDPOS, UPOS_TAGS, UDWord, build_supertag_labels, fused_tag,
    read_conllu, resolve_labels,
)


def shared_data() -> Path:
    return shared_data_root()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Specs.
# ---------------------------------------------------------------------------------------------


def test_specs_follow_xtreme():
    # Every language of XTREME (33 and 40) and XTREME-R (5 and 8 more) can be evaluated.
    assert len(UDPOS.languages) == 38 and len(PANX.languages) == 48
    assert UDPOS.languages[0] == PANX.languages[0] == "en"
    assert len(UPOS_TAGS) == 17 and UDPOS.labels == UPOS_TAGS
    assert PANX.labels == ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
    assert (UDPOS.metric, PANX.metric, CCG.metric) == ("seqeval", "seqeval", "tagging_accuracy")
    assert (UDPOS.xtreme_id, PANX.xtreme_id, CCG.xtreme_id) == ("udpos", "panx", None)
    assert {UDPOS.family, PANX.family, CCG.family} == {"tagging"}
    assert CCG.labels == () and CCG.train_size == 38_015


# ---------------------------------------------------------------------------------------------
# Hub loaders (datasets.load_dataset monkeypatched with fixtures in the Hub's schema).
# ---------------------------------------------------------------------------------------------


def fake_hub(monkeypatch, dataset: datasets.Dataset, key: tuple) -> list:
    """Serve `dataset` from the loopback Hub as split `key` = (path, config, split)."""
    return serve_tables(monkeypatch, {key: dataset})


def udpos_hub(names=UPOS_TAGS) -> datasets.Dataset:
    features = datasets.Features({
        "tokens": datasets.Sequence(datasets.Value("string")),
        "pos_tags": datasets.Sequence(datasets.ClassLabel(names=list(names))),
    })
    rows = {"tokens": [["Die", "Katze", "schläft", "."], ["Ja"]],
            "pos_tags": [[names.index(t) for t in ("DET", "NOUN", "VERB", "PUNCT")], [names.index("INTJ")]]}
    return datasets.Dataset.from_dict(rows, features=features)


def test_udpos_hub(monkeypatch):
    calls = fake_hub(monkeypatch, udpos_hub(), ("google/xtreme", "udpos.German", "validation"))
    examples = UDPOS.loader(UDPOS, LoadRequest("validation", "de"))
    assert calls == [("google/xtreme", "udpos.German", "validation")]
    assert examples[0].tokens == ("Die", "Katze", "schläft", ".")
    assert examples[0].tags == ("DET", "NOUN", "VERB", "PUNCT")
    assert examples[1].tags == ("INTJ",)
    assert len({e.id for e in examples}) == 2
    assert len(UDPOS.loader(UDPOS, LoadRequest("validation", "de", max_examples=1))) == 1


def test_hub_tags_are_mapped_by_class_label_name_not_position(monkeypatch):
    fake_hub(monkeypatch, udpos_hub(tuple(reversed(UPOS_TAGS))), ("google/xtreme", "udpos.German", "test"))
    assert UDPOS.loader(UDPOS, LoadRequest("test", "de"))[0].tags == ("DET", "NOUN", "VERB", "PUNCT")


def panx_hub(wikiann: bool) -> datasets.Dataset:
    features = {
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=list(PANX_TAGS))),
        "langs": datasets.Sequence(datasets.Value("string")),
    }
    rows = {"tokens": [["Anton", "Wilhelm", "lebte", "in", "Köln", "."]],
            "ner_tags": [[1, 2, 0, 0, 5, 0]], "langs": [["de"] * 6]}
    if wikiann:
        features["spans"] = datasets.Sequence(datasets.Value("string"))
        rows["spans"] = [["PER: Anton Wilhelm", "LOC: Köln"]]
    return datasets.Dataset.from_dict(rows, features=datasets.Features(features))


@pytest.mark.parametrize("hub_id, config", [("google/xtreme", "PAN-X.de"), ("unimelb-nlp/wikiann", "de")])
def test_panx_hub(monkeypatch, hub_id, config):
    calls = fake_hub(monkeypatch, panx_hub(wikiann=hub_id != "google/xtreme"), (hub_id, config, "test"))
    spec = dataclasses.replace(PANX, extra={"hub_id": hub_id})
    (ex,) = spec.loader(spec, LoadRequest("test", "de"))
    assert calls == [(hub_id, config, "test")]
    assert ex.tags == ("B-PER", "I-PER", "O", "O", "B-LOC", "O")


def test_hub_failure_and_wrong_schema_name_the_source(monkeypatch):
    fake_hub(monkeypatch, datasets.Dataset.from_dict({"tokens": [["a"]], "tags": [["O"]]}),
             ("google/xtreme", "PAN-X.de", "test"))
    with pytest.raises(DataError, match=r"google/xtreme\[PAN-X.xx\]/test@main.*PAN-X.xx"):
        PANX.loader(PANX, LoadRequest("test", "xx"))
    with pytest.raises(DataError, match="has no column 'ner_tags' \\(expected list\\[class_label\\]\\)"):
        PANX.loader(PANX, LoadRequest("test", "de"))


def test_ccg_from_the_hub_explains_the_licence():
    with pytest.raises(ConfigError, match="LDC2005T13"):
        CCG.loader(CCG, LoadRequest("train"))


# ---------------------------------------------------------------------------------------------
# XTREME's tsv layout.
# ---------------------------------------------------------------------------------------------


def test_xtreme_tsv_layout(tmp_path):
    write(tmp_path / "udpos" / "dev-fr.tsv", "Le\tDET\nchat\tNOUN\n\n\nIl\tPRON\ndort\tVERB\n")
    write(tmp_path / "udpos" / "test-fr.tsv", "Le\nchat\n\nIl\n")
    dev = UDPOS.loader(UDPOS, LoadRequest("validation", "fr", str(tmp_path)))
    assert [(e.tokens, e.tags) for e in dev] == [(("Le", "chat"), ("DET", "NOUN")), (("Il", "dort"), ("PRON", "VERB"))]
    test = UDPOS.loader(UDPOS, LoadRequest("test", "fr", str(tmp_path / "udpos")))  # the task folder works too
    assert [(e.tokens, e.tags) for e in test] == [(("Le", "chat"), ()), (("Il",), ())]


def test_panx_strips_the_language_prefix_only_when_every_token_has_it(tmp_path):
    write(tmp_path / "train-de.tsv", "de:Anton\tB-PER\nde:http://x.de\tO\n\nde:Köln\tB-LOC\n")
    write(tmp_path / "dev-de.tsv", "de:Anton\tB-PER\nKöln\tB-LOC\n")
    train = PANX.loader(PANX, LoadRequest("train", "de", str(tmp_path)))
    assert [e.tokens for e in train] == [("Anton", "http://x.de"), ("Köln",)]
    assert PANX.loader(PANX, LoadRequest("validation", "de", str(tmp_path)))[0].tokens == ("de:Anton", "Köln")


def test_only_newlines_end_lines(tmp_path):
    write(tmp_path / "dev-en.tsv", "a\u2028b\tO\nc\x85d\tB-PER\r\n\ne\tO\n")
    dev = PANX.loader(PANX, LoadRequest("validation", "en", str(tmp_path)))
    assert [(e.tokens, e.tags) for e in dev] == [(("a\u2028b", "c\x85d"), ("O", "B-PER")), (("e",), ("O",))]


@pytest.mark.parametrize("text, message", [
    ("a\tO\tx\n", r"line 1: expected 'token<TAB>tag'"),
    ("a\tO\nb\n", r"line 2: this sentence mixes tagged and untagged"),
    ("a\t \n", r"line 1: empty tag"),
])
def test_malformed_tsv_names_file_and_line(tmp_path, text, message):
    path = write(tmp_path / "dev-de.tsv", text)
    with pytest.raises(DataError, match=f"{re.escape(str(path))} {message}"):
        PANX.loader(PANX, LoadRequest("validation", "de", str(tmp_path)))


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="dev-sw.tsv"):
        PANX.loader(PANX, LoadRequest("validation", "sw", str(tmp_path)))
    with pytest.raises(DataError, match=r"UD_\*/sw_\*-ud-dev\*.conllu"):
        UDPOS.loader(UDPOS, LoadRequest("validation", "sw", str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# Raw UD CoNLL-U treebanks.
# ---------------------------------------------------------------------------------------------

GSD = """# sent_id = 1
# text = Je vais au marché.
1\tJe\til\tPRON\t_\t_\t2\tnsubj\t_\t_
2\tvais\taller\tVERB\t_\t_\t0\troot\t_\t_
3-4\tau\t_\t_\t_\t_\t_\t_\t_\t_
3\tà\tà\tADP\t_\t_\t5\tcase\t_\t_
4\tle\tle\tDET\t_\t_\t5\tdet\t_\t_
5\tmarché\tmarché\tNOUN\t_\t_\t2\tobl\t_\tSpaceAfter=No
5.1\tgone\t_\tVERB\t_\t_\t_\t_\t2:conj\t_
6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_

# sent_id = 2
1\t_\t_\tNOUN\t_\t_\t0\troot\t_\t_
2\t_\t_\tPUNCT\t_\t_\t1\tpunct\t_\t_
"""

SEQUOIA = "1\tPaul\tPaul\tPROPN\t_\t_\t0\troot\t_\t_\n2\ta b\tab\tX\t_\t_\t1\tdep\t_\t_\n"


def test_conllu_fuses_multiword_tokens_skips_empty_nodes_pools_treebanks_and_drops_withheld_text(
    tmp_path, caplog
):
    write(tmp_path / "UD_French-GSD" / "fr_gsd-ud-dev.conllu", GSD)
    write(tmp_path / "UD_French-Sequoia" / "fr_sequoia-ud-dev.conllu", SEQUOIA)
    write(tmp_path / "UD_French-Sequoia" / "fr_sequoia-ud-test.conllu", SEQUOIA)
    write(tmp_path / "UD_Old_French-SRCMF" / "fro_srcmf-ud-dev.conllu", SEQUOIA)  # another language
    with caplog.at_level(logging.WARNING, logger="toolkit.tasks.tagging"):
        dev = UDPOS.loader(UDPOS, LoadRequest("validation", "fr", str(tmp_path)))
    assert [(e.tokens, e.tags) for e in dev] == [
        # "au" (à ADP + le DET, both attached to marché): French ranks ADP first.
        (("Je", "vais", "au", "marché", "."), ("PRON", "VERB", "ADP", "NOUN", "PUNCT")),
        (("Paul", "ab"), ("PROPN", "X")),  # spaces inside a word removed, as XTREME does
    ]
    assert "dropped 1 sentence(s) whose text is withheld" in caplog.text


# Multiword tokens as XTREME's converter tags them (worked out from its rule: the word with
# the fewest ancestors over HEAD and enhanced DEPS arcs; ties go to the language's POS ranking).
FUSED = """1-3\tdárselo\t_\t_\t_\t_\t_\t_\t_\t_
1\tdar\tdar\tVERB\t_\t_\t0\troot\t0:root\t_
2\tse\tél\tPRON\t_\t_\t1\tiobj\t1:iobj\t_
3\tlo\tél\tPRON\t_\t_\t1\tobj\t1:obj\t_
4-5\tdel\t_\t_\t_\t_\t_\t_\t_\t_
4\tde\tde\tADP\t_\t_\t6\tcase\t6:case\t_
5\tel\tel\tDET\t_\t_\t6\tdet\t6:det\t_
6\tlibro\tlibro\tNOUN\t_\t_\t1\tobl\t1:obl\t_
7-8\tzum\t_\t_\t_\t_\t_\t_\t_\t_
7\tzu\tzu\tADP\t_\t_\t9\tcase\t9:case|6:nmod\t_
8\tdem\tder\tDET\t_\t_\t9\tdet\t9:det\t_
9\tHaus\tHaus\tNOUN\t_\t_\t1\tobl\t1:obl\t_

"""


def test_multiword_token_takes_the_tag_of_its_highest_word(tmp_path):
    # dárselo: dar (ancestors {0}) is above se and lo ({1, 0}) -> VERB.
    # del: de and el both have ancestors {6, 1, 0}; Spanish ranks ADP before DET -> ADP.
    # zum: the enhanced arc 6 -> zu gives zu ancestors {9, 6, 1, 0}, dem only {9, 1, 0}, so
    #      dem is the single highest word -> DET (without DEPS it would be a tie won by ADP).
    path = write(tmp_path / "es_x-ud-test.conllu", FUSED)
    (sentence,), dropped = read_conllu(path)
    assert dropped == 0
    assert sentence == (("dárselo", "del", "libro", "zum", "Haus"), ("VERB", "ADP", "NOUN", "DET", "NOUN"))
    # The ranking follows the language: with German's default ranking ADP also beats DET,
    # and a UPOS outside Spanish's short ranking loses to any listed one.
    words = {1: UDWord("a", "NOUN", {0}), 2: UDWord("b", "PRON", {0})}
    assert fused_tag(words, range(1, 3), "es") == "PRON"
    assert fused_tag(words, range(1, 3), "de") == "NOUN"


def test_malformed_multiword_token_names_file(tmp_path):
    path = write(tmp_path / "fr_x-ud-test.conllu", "1-2\tau\t_\t_\t_\t_\t_\t_\t_\t_\n"
                 "1\tà\tà\tADP\t_\t_\t0\troot\t_\t_\n\n")
    with pytest.raises(DataError, match=r"fr_x-ud-test.conllu: multiword token 1-2 lacks some of its words"):
        read_conllu(path)


def test_conllu_reads_split_train_files(tmp_path):
    write(tmp_path / "UD_German-HDT" / "de_hdt-ud-train-a-1.conllu", SEQUOIA)
    write(tmp_path / "UD_German-HDT" / "de_hdt-ud-train-b-1.conllu", SEQUOIA)
    assert len(UDPOS.loader(UDPOS, LoadRequest("train", "de", str(tmp_path)))) == 2


@pytest.mark.parametrize("line, message", [
    ("1\tPaul\tPaul\tNOUNISH\t_\t_\t0\troot\t_\t_", r"line 1: UPOS 'NOUNISH' of word 'Paul'"),
    ("1\tPaul\tPaul\tPROPN", r"line 1: expected 10 tab-separated CoNLL-U columns, found 4"),
    ("1\tPaul\tPaul\tPROPN\t_\t_\tx\troot\t_\t_", r"line 1: head 'x' is not a word id"),
    ("a\tPaul\tPaul\tPROPN\t_\t_\t0\troot\t_\t_", r"line 1: ID 'a' is not a word id"),
    ("2-1\tau\t_\t_\t_\t_\t_\t_\t_\t_", r"line 1: '2-1' is not a multiword range such as 3-4"),
])
def test_bad_conllu_names_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "UD_English-X" / "en_x-ud-test.conllu", line + "\n")
    with pytest.raises(DataError, match=f"{re.escape(str(path))} {message}"):
        UDPOS.loader(UDPOS, LoadRequest("test", "en", str(tmp_path)))


# ---------------------------------------------------------------------------------------------
# CCGbank.
# ---------------------------------------------------------------------------------------------


def auto(sentence_id: str, leaves: list[tuple[str, str]]) -> str:
    body = " ".join(f"(<L {cat} NN NN {word} {cat}_1>)" for word, cat in leaves)
    return f"ID={sentence_id} PARSER=GOLD NUMPARSE=1\n(<T S[dcl] 0 2> {body} )\n"


def ccgbank(root: Path) -> Path:
    """A miniature LDC release: every standard section present, a few derivations each."""
    data = root / "ccgbank_1_1" / "data" / "AUTO"
    write(data / "00" / "wsj_0001.auto", auto("wsj_0001.1", [("Pierre", "N/N"), ("Vinken", "N")]))
    write(data / "02" / "wsj_0200.auto",
          auto("wsj_0200.1", [("Pierre", "N/N"), ("Vinken", "N"), ("joined", "(S[dcl]\\NP)/NP")])
          + auto("wsj_0200.2", [("the", "NP[nb]/N"), ("board", "N"), (".", ".")]))
    for section in range(3, 21):
        write(data / f"{section:02d}" / f"wsj_{section:02d}00.auto", auto(f"wsj_{section:02d}00.1", [("Vinken", "N")]))
    write(data / "21" / "wsj_2100.auto", auto("wsj_2100.1", [("Elsewhere", "S/S"), (",", ",")]))
    write(data / "23" / "wsj_2300.auto", auto("wsj_2300.1", [("Hi", "S/S"), ("there", "S\\S")]))
    return root / "ccgbank_1_1"


def test_ccgbank_auto_sections(tmp_path):
    root = str(ccgbank(tmp_path))
    train = CCG.loader(CCG, LoadRequest("train", data_dir=root))
    assert len(train) == 21
    assert [e.id for e in train[:3]] == ["wsj_0200.1", "wsj_0200.2", "wsj_0300.1"]
    assert train[-1].id == "wsj_2100.1"
    assert train[0].tokens == ("Pierre", "Vinken", "joined")
    assert train[0].tags == ("N/N", "N", "(S[dcl]\\NP)/NP")
    assert [e.id for e in CCG.loader(CCG, LoadRequest("validation", data_dir=root))] == ["wsj_0001.1"]
    assert [e.id for e in CCG.loader(CCG, LoadRequest("test", data_dir=root))] == ["wsj_2300.1"]
    assert len(CCG.loader(CCG, LoadRequest("train", data_dir=root, max_examples=2))) == 2


def test_ccgbank_missing_section_is_an_error(tmp_path):
    root = ccgbank(tmp_path)
    for path in (root / "data" / "AUTO" / "07").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"no \*.auto files in .*AUTO/07"):
        CCG.loader(CCG, LoadRequest("train", data_dir=str(root)))


def test_ccg_tsv_layout_and_missing_data(tmp_path):
    write(tmp_path / "ccg" / "dev.tsv", "Pierre\tN/N\nVinken\tN\n\nHi\tS/S\n")
    dev = CCG.loader(CCG, LoadRequest("validation", data_dir=str(tmp_path)))
    assert [(e.tokens, e.tags) for e in dev] == [(("Pierre", "Vinken"), ("N/N", "N")), (("Hi",), ("S/S",))]
    with pytest.raises(DataError, match="every line needs"):
        write(tmp_path / "ccg" / "test.tsv", "Pierre\n")
        CCG.loader(CCG, LoadRequest("test", data_dir=str(tmp_path)))
    with pytest.raises(DataError, match="neither .*train.tsv nor CCGbank AUTO"):
        CCG.loader(CCG, LoadRequest("train", data_dir=str(tmp_path)))


def test_supertag_set_is_built_from_train_stored_and_reused(tmp_path):
    root = ccgbank(tmp_path)
    spec = resolve_labels(CCG, str(root))
    # Most frequent first, ties by name, catch-all last.
    assert spec.labels == ("N", "(S[dcl]\\NP)/NP", ",", ".", "N/N", "NP[nb]/N", "S/S", CCG_CATCH_ALL)
    stored = root / "supertags.txt"
    assert stored.read_text().split("\n")[:-1] == list(spec.labels)
    # Evaluation later reads the stored set, even when the training files are not there.
    for path in (root / "data" / "AUTO" / "02").iterdir():
        path.unlink()
    assert resolve_labels(CCG, str(root)).labels == spec.labels
    # A test tag never seen in training maps to the catch-all for the loss; gold keeps it.
    test = CCG.loader(CCG, LoadRequest("test", data_dir=str(root)))
    family = get_family("tagging")
    (feature,) = family.featurize(spec, test, tiny_tokenizer(), 32)
    assert [spec.labels[i] for i in feature["labels"] if i >= 0] == ["S/S", CCG_CATCH_ALL]
    assert family.gold(spec, test[0]) == ["S/S", "S\\S"]


def test_supertag_min_count_maps_rare_tags_to_the_catch_all(tmp_path):
    train = CCG.loader(CCG, LoadRequest("train", data_dir=str(ccgbank(tmp_path))))
    assert build_supertag_labels(train, min_count=2) == ("N", CCG_CATCH_ALL)
    spec = dataclasses.replace(CCG, labels=build_supertag_labels(train, min_count=2))
    (feature,) = get_family("tagging").featurize(spec, train[:1], tiny_tokenizer(), 32)
    assert [spec.labels[i] for i in feature["labels"] if i >= 0] == [CCG_CATCH_ALL, "N", CCG_CATCH_ALL]


def test_head_needs_resolved_ccg_labels(tmp_path):
    from tests.fixtures.tiny_models import tiny_encoder

    with pytest.raises(ConfigError, match="resolve_labels"):
        get_family("tagging").make_head(CCG, tiny_encoder(tiny_tokenizer()))
    spec = resolve_labels(CCG, str(ccgbank(tmp_path)))
    assert get_family("tagging").make_head(spec, tiny_encoder(tiny_tokenizer())).classifier.out_features == 8


def test_supertag_set_from_tsv_in_the_task_folder(tmp_path):
    # The engine passes <data_dir>/<task> to loaders; the set is stored in that folder.
    write(tmp_path / "ccg" / "train.tsv", "Pierre\tN/N\nVinken\tN\n\nHi\tN\n")
    spec = resolve_labels(CCG, str(tmp_path / "ccg"))
    assert spec.labels == ("N", "N/N", CCG_CATCH_ALL)
    assert (tmp_path / "ccg" / "supertags.txt").is_file()


def test_bad_stored_supertag_file(tmp_path):
    write(tmp_path / "supertags.txt", "N\nN/N\n")
    with pytest.raises(DataError, match="ending with '<rare>'"):
        resolve_labels(CCG, str(tmp_path))


# ---------------------------------------------------------------------------------------------
# The real shared data: counts as documented in its README.
# ---------------------------------------------------------------------------------------------

_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


def readme_counts() -> tuple[list, list]:
    """(UD rows, PAN-X rows) of (file, sentences, tokens) from the shared data README tables."""
    root = shared_data()
    if not (root / "README.md").is_file():
        pytest.skip(f"shared evaluation data not found at {root} (set XSTILTS_SHARED_DATA)")
    text = (root / "README.md").read_text(encoding="utf-8")
    ud = re.findall(r"\| (\w+-ud-\w+\.conllu) \| \d+ \| (\d+) \| (\d+) \|", text)
    panx = re.findall(r"\| ((?:dev|train|test)-\w+\.tsv) \| (\d+) \| (\d+) \| \d+ \|", text)
    assert len(ud) == 13 and len(panx) == 23, "the README's tables changed shape"
    return ud, panx


def test_real_udpos_counts():
    ud, _ = readme_counts()
    from toolkit.data.features import load_examples  # the engine's entry point: <data_dir>/<task>

    assert len(load_examples(UDPOS, "validation", "en", str(shared_data()), None)) == 2002
    for name, sentences, words in ud:
        lang, split = name.split("_")[0], name.split("-ud-")[1].split(".")[0]
        examples = UDPOS.loader(UDPOS, LoadRequest(_SPLITS[split], lang, str(shared_data())))
        # The README counts syntactic words; a multiword token a-b becomes one token.
        (path,) = shared_data().glob(f"udpos/UD_*/{name}")
        ranges = re.findall(r"^(\d+)-(\d+)\t", path.read_text(encoding="utf-8"), flags=re.M)
        tokens = int(words) - sum(int(b) - int(a) for a, b in ranges)
        assert (len(examples), sum(len(e.tokens) for e in examples)) == (int(sentences), tokens), name
        assert all(len(e.tags) == len(e.tokens) for e in examples)


# What XTREME's own preprocessing makes of the shared GSD files (scripts/download_data.sh:
# conllu_to_conll.py --replace_subtokens_with_fused_forms under networkx 1.11, then
# utils_preprocess.py --task udpos), run once outside the repository: multiword tokens,
# tokens, and the sha256 (first 16 hex digits) of the sentences as "token<TAB>tag" lines, a
# blank line between sentences.
XTREME_UD_GSD = {
    ("de", "test"): (274, 16224, "d6202e559823ebd4"),
    ("es", "test"): (267, 11733, "aad03c763028e61f"),
    ("fr", "test"): (279, 9740, "eac84dd70bd9b9d2"),
    ("de", "dev"): (164, 12322, "728c3c63b4bea288"),
    ("es", "dev"): (685, 36464, "3c7cf2f07f376740"),
    ("fr", "dev"): (1057, 34659, "4c37897e53407d46"),
}


@pytest.mark.parametrize("lang, split", sorted(XTREME_UD_GSD))
def test_real_gsd_treebanks_equal_xtreme_preprocessing_token_for_token(lang, split):
    readme_counts()
    ranges, tokens, digest = XTREME_UD_GSD[lang, split]
    (path,) = shared_data().glob(f"udpos/UD_*/{lang}_gsd-ud-{split}.conllu")
    assert len(re.findall(r"^\d+-\d+\t", path.read_text(encoding="utf-8"), flags=re.M)) == ranges
    examples = UDPOS.loader(UDPOS, LoadRequest(_SPLITS[split], lang, str(shared_data())))
    assert sum(len(e.tokens) for e in examples) == tokens
    text = "\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(e.tokens, e.tags)) for e in examples)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] == digest


def test_real_panx_counts():
    _, panx = readme_counts()
    for name, sentences, tokens in panx:
        split, lang = name[: -len(".tsv")].split("-")
        examples = PANX.loader(PANX, LoadRequest(_SPLITS[split], lang, str(shared_data() / "panx")))
        assert (len(examples), sum(len(e.tokens) for e in examples)) == (int(sentences), int(tokens)), name
        assert {t for e in examples for t in e.tags} <= set(PANX_TAGS)


def test_real_treebank_featurizes_with_one_prediction_per_word():
    readme_counts()
    examples = UDPOS.loader(UDPOS, LoadRequest("test", "hi", str(shared_data())))
    family = get_family("tagging")
    features = family.featurize(UDPOS, examples, tiny_tokenizer(), 32)
    assert len(features) > len(examples)  # Hindi PUD sentences need several windows of 32
    outputs = {"predictions": [np.maximum(np.array(f["labels"]), 0) for f in features]}
    decoded = family.decode(UDPOS, examples, features, outputs)
    assert all(decoded[e.id] == list(e.tags) for e in examples)
