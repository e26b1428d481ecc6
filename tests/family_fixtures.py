"""Small, learnable local datasets for one task of every family, in each task's local layout.

`write_family_data(root)` fills `root/<task>/` so that `data.data_dir=root` serves:
squad_v2 and squad (SQuAD JSON), xquad (xquad.<lang>.json), cosmosqa (Hub-schema jsonl),
udpos (XTREME tsv) and ccg (word<TAB>supertag tsv), alongside the MNLI/XNLI fixture.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

_PLACES = {
    "en": [("France", "Paris"), ("Japan", "Tokyo"), ("Kenya", "Nairobi"), ("Peru", "Lima"),
           ("Italy", "Rome"), ("Egypt", "Cairo"), ("Chile", "Santiago"), ("Spain", "Madrid")],
    "de": [("Frankreich", "Paris"), ("Japan", "Tokio"), ("Kenia", "Nairobi"), ("Peru", "Lima"),
           ("Italien", "Rom"), ("Ägypten", "Kairo"), ("Chile", "Santiago"), ("Spanien", "Madrid")],
}
_QA_TEMPLATES = {
    "en": ("The capital of {c} is {a}. It is a large city with many parks.", "What is the capital of {c}?"),
    "de": ("Die Hauptstadt von {c} ist {a}. Es ist eine große Stadt mit vielen Parks.", "Was ist die Hauptstadt von {c}?"),
}


def _squad_json(lang: str, n: int, rng: random.Random, unanswerable: bool, prefix: str) -> dict:
    context_t, question_t = _QA_TEMPLATES[lang]
    paragraphs = []
    for i in range(n):
        country, capital = rng.choice(_PLACES[lang])
        context = context_t.format(c=country, a=capital)
        qas = [{"id": f"{prefix}-{i}", "question": question_t.format(c=country),
                "answers": [{"text": capital, "answer_start": context.index(capital)}]}]
        if unanswerable:
            qas[0]["is_impossible"] = False
            if i % 4 == 0:
                other = rng.choice([p for p in _PLACES[lang] if p[0] != country])[0]
                qas.append({"id": f"{prefix}-{i}-x", "question": question_t.format(c=other),
                            "answers": [], "is_impossible": True})
        paragraphs.append({"context": context, "qas": qas})
    return {"version": "v2.0" if unanswerable else "1.1", "data": [{"title": "Capitals", "paragraphs": paragraphs}]}


def _tagged_sentences(n: int, rng: random.Random, lang: str = "en") -> list[list[tuple[str, str]]]:
    words = {
        "en": {"DET": ["the", "a"], "NOUN": ["cat", "dog", "child", "book"], "VERB": ["sees", "reads", "likes"],
               "ADJ": ["big", "small", "red"], "PUNCT": ["."]},
        "de": {"DET": ["die", "der"], "NOUN": ["Katze", "Hund", "Kind", "Buch"], "VERB": ["sieht", "liest", "mag"],
               "ADJ": ["große", "kleine", "rote"], "PUNCT": ["."]},
    }[lang]
    pattern = ["DET", "ADJ", "NOUN", "VERB", "DET", "NOUN", "PUNCT"]
    out = []
    for _ in range(n):
        keep = [t for t in pattern if t != "ADJ" or rng.random() < 0.5]
        out.append([(rng.choice(words[t]), t) for t in keep])
    return out


def _write_tsv(path: Path, sentences: list[list[tuple[str, str]]]) -> None:
    path.write_text("".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n" for s in sentences), encoding="utf-8")


def write_family_data(root: Path, seed: int = 0) -> Path:
    """Write every family's fixture under `root` (see the module docstring)."""
    rng = random.Random(seed)
    for task, name, n, v2 in [("squad_v2", "train-v2.0.json", 64, True), ("squad_v2", "dev-v2.0.json", 16, True),
                              ("squad", "train-v1.1.json", 64, False), ("squad", "dev-v1.1.json", 16, False)]:
        (root / task).mkdir(parents=True, exist_ok=True)
        (root / task / name).write_text(json.dumps(_squad_json("en", n, rng, v2, f"{task}-{name}")), encoding="utf-8")
    (root / "xquad").mkdir(parents=True, exist_ok=True)
    for lang in ("en", "de"):
        (root / "xquad" / f"xquad.{lang}.json").write_text(
            json.dumps(_squad_json(lang, 16, random.Random(7), False, "xq")), encoding="utf-8")

    (root / "cosmosqa").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 64), ("validation", 16)):
        rows = []
        for i in range(n):
            country, capital = rng.choice(_PLACES["en"])
            wrong = [p[1] for p in _PLACES["en"] if p[1] != capital]
            rng.shuffle(wrong)
            answers = [capital] + wrong[:3]
            rng.shuffle(answers)
            rows.append({"id": f"c{split}{i}", "context": f"{capital} is the capital of {country}.",
                         "question": f"Which city is the capital of {country}?",
                         **{f"answer{k}": a for k, a in enumerate(answers)}, "label": answers.index(capital)})
        (root / "cosmosqa" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    (root / "udpos").mkdir(parents=True, exist_ok=True)
    _write_tsv(root / "udpos" / "train-en.tsv", _tagged_sentences(64, rng))
    _write_tsv(root / "udpos" / "dev-en.tsv", _tagged_sentences(16, rng))
    for lang in ("en", "de"):
        _write_tsv(root / "udpos" / f"test-{lang}.tsv", _tagged_sentences(16, rng, lang))

    (root / "ccg").mkdir(parents=True, exist_ok=True)
    supertags = {"DET": "NP/N", "ADJ": "N/N", "NOUN": "N", "VERB": r"(S\NP)/NP", "PUNCT": "."}
    for split, n in (("train", 64), ("dev", 16), ("test", 16)):
        _write_tsv(root / "ccg" / f"{split}.tsv",
                   [[(w, supertags[t]) for w, t in s] for s in _tagged_sentences(n, rng)])
    return root
