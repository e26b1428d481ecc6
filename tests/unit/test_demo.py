"""The demo's data layout: English UD-POS selection data comes from EWT dev, never from test."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.demo import SHIPPED, UD_ENGLISH, ewt_dev_split, prepare_demo_data
from toolkit.errors import DataError
from toolkit.tasks.records import LoadRequest
from toolkit.tasks.tagging import UDPOS


def conllu(documents: list[list[str]]) -> str:
    """Documents of one-word sentences; each document's first sentence carries `# newdoc`."""
    blocks = []
    for d, words in enumerate(documents, 1):
        for s, word in enumerate(words):
            head = f"# newdoc id = doc{d}\n" if s == 0 else ""
            blocks.append(f"{head}# sent_id = {word}\n1\t{word}\t{word}\tNOUN\t_\t_\t0\troot\t_\t_\n")
    return "\n".join(blocks) + "\n"


def test_every_fifth_document_is_dev(tmp_path):
    path = tmp_path / "en_ewt-ud-dev.conllu"
    path.write_text(conllu([["a1", "a2"], ["b1"], ["c1"], ["d1"], ["e1", "e2"], ["f1"]]), encoding="utf-8")
    train, dev = ewt_dev_split(path)
    # Documents 1-4 and 6 train, document 5 (both of its sentences) is dev.
    assert [line for line in train.splitlines() if line.startswith("# sent_id")] == [
        f"# sent_id = {w}" for w in ("a1", "a2", "b1", "c1", "d1", "f1")]
    assert [line for line in dev.splitlines() if line.startswith("# sent_id")] == ["# sent_id = e1", "# sent_id = e2"]
    path.write_text(conllu([["a1"], ["b1"]]), encoding="utf-8")
    with pytest.raises(DataError, match="fewer than 5 documents"):
        ewt_dev_split(path)


def blocks(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").strip("\n").split("\n\n")


def test_demo_validates_on_ewt_dev_and_tests_on_ewt_test(tmp_path):
    out = prepare_demo_data(tmp_path / "data")
    ewt, shipped = out / "udpos" / UD_ENGLISH, SHIPPED / "udpos" / UD_ENGLISH
    train, dev = blocks(ewt / "en_ewt-ud-train.conllu"), blocks(ewt / "en_ewt-ud-dev.conllu")
    # Train and dev partition EWT dev (2002 sentences, 318 documents); test is EWT test itself.
    assert sorted(train + dev) == sorted(blocks(shipped / "en_ewt-ud-dev.conllu"))
    assert not set(train) & set(dev) and (len(train), len(dev)) == (1637, 365)
    assert (ewt / "en_ewt-ud-test.conllu").resolve() == (shipped / "en_ewt-ud-test.conllu").resolve()
    test_blocks = set(blocks(shipped / "en_ewt-ud-test.conllu"))
    assert not (set(train) | set(dev)) & test_blocks
    # What the English validation of the UD-POS target reads is that dev part.
    validation = UDPOS.loader(UDPOS, LoadRequest("validation", "en", str(out)))
    assert len(validation) == 365
