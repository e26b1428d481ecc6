"""The embedded demo's data: real files shipped in `demo_data/`, arranged in task layouts.

XQuAD's English file is real SQuAD v1.1 data, so it gives a small real intermediate task. The
split is by article, identical in every language (XQuAD is parallel): no article that is
evaluated zero-shot is ever trained on.

UD-POS: no English-EWT train file ships, so EWT dev is split by document into the English
training set and the English dev set that validation (checkpoint selection) reads; EWT test
stays the English test set, never used for selection.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from toolkit.errors import DataError
from toolkit.io import REPO_ROOT, atomic_write_text
from toolkit.tasks.languages import TATOEBA_CODES

SHIPPED = REPO_ROOT / "demo_data"
TRAIN_ARTICLES = range(0, 32)
DEV_ARTICLES = range(32, 38)
HELD_OUT_ARTICLES = range(38, 48)
XQUAD_LANGUAGES = ("en", "de", "es", "ru", "zh", "hi")
UD_ENGLISH = "UD_English-EWT"
EWT_DEV_EVERY = 5  # every fifth EWT dev document is the demo's English dev set, the rest trains


def _articles(path: Path, keep: range) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    if len(data["data"]) != 48:
        raise DataError(f"{path}: expected XQuAD's 48 articles, found {len(data['data'])}")
    return {"version": "1.1", "data": [data["data"][i] for i in keep]}


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False))


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(source.resolve())


def prepare_demo_data(out_dir: str | Path, shipped: Path = SHIPPED) -> Path:
    """Lay the shipped files out as `data.data_dir` expects; returns `out_dir`. Idempotent."""
    out = Path(out_dir)
    english = shipped / "xquad" / "xquad.en.json"
    _write_json(out / "squad" / "train-v1.1.json", _articles(english, TRAIN_ARTICLES))
    _write_json(out / "squad" / "dev-v1.1.json", _articles(english, DEV_ARTICLES))
    for lang in XQUAD_LANGUAGES:
        _write_json(out / "xquad" / f"xquad.{lang}.json",
                    _articles(shipped / "xquad" / f"xquad.{lang}.json", HELD_OUT_ARTICLES))

    ud = out / "udpos"
    for treebank in sorted((shipped / "udpos").iterdir()):
        for conllu in treebank.glob("*.conllu"):
            if treebank.name == UD_ENGLISH and "-ud-dev." in conllu.name:
                train, dev = ewt_dev_split(conllu)
                atomic_write_text(ud / treebank.name / conllu.name.replace("-ud-dev.", "-ud-train."), train)
                atomic_write_text(ud / treebank.name / conllu.name, dev)
            else:
                _link(conllu, ud / treebank.name / conllu.name)

    # The mlm approach's corpus: the training articles' paragraphs in every XQuAD language
    # (never an evaluated article, and no evaluation text of another task).
    for lang in XQUAD_LANGUAGES:
        data = _articles(shipped / "xquad" / f"xquad.{lang}.json", TRAIN_ARTICLES)
        paragraphs = [p["context"].replace("\n", " ") for a in data["data"] for p in a["paragraphs"]]
        atomic_write_text(out / "mlm_corpus" / f"{lang}.txt", "\n".join(paragraphs) + "\n")

    tatoeba = out / "tatoeba"
    for f in (shipped / "tatoeba").glob("tatoeba.*"):
        _link(f, tatoeba / f.name)
    return out


def ewt_dev_split(conllu: Path, every: int = EWT_DEV_EVERY) -> tuple[str, str]:
    """(train, dev) CoNLL-U texts of a treebank file split by document (`# newdoc` comments):
    every `every`-th document, counting from 1, is dev, so both parts mix EWT's genres and no
    document is in both."""
    parts: tuple[list[str], list[str]] = ([], [])
    document = 0
    for block in conllu.read_text(encoding="utf-8").strip("\n").split("\n\n"):
        if any(line.startswith("# newdoc") for line in block.splitlines()):
            document += 1
        parts[document % every == 0].append(block)
    if not all(parts):
        raise DataError(f"{conllu}: fewer than {every} documents ('# newdoc' lines) to split into train and dev")
    return tuple("\n\n".join(blocks) + "\n\n" for blocks in parts)


def tatoeba_languages(shipped: Path = SHIPPED) -> list[str]:
    """XTREME codes of the Tatoeba languages shipped."""
    codes = {f.name.split(".")[1].split("-")[0] for f in (shipped / "tatoeba").glob("tatoeba.*-eng.eng")}
    return sorted(lang for lang, code in TATOEBA_CODES.items() if code in codes)


def clean(out_dir: str | Path) -> None:
    shutil.rmtree(out_dir, ignore_errors=True)
