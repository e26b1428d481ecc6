"""Every approach through the real launcher (2 CPU ranks), each feeding the same target phase.

english (MNLI), mlm (MNLI + MLM on a local en/de/fr corpus, ZeRO-3), translated (the SQuAD
fixture translated into Spanish by Apertium) and none each give the encoder that one and the
same XNLI target phase then fine-tunes and evaluates zero-shot.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.fixtures.data import write_mnli_fixture
from tests.fixtures.families import write_family_data
from tests.fixtures.launch import run_phase, scalars

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

CORPUS = {
    "en": ["The cat sleeps on the mat in the afternoon.", "A man plays the guitar in the park every day.",
           "Two dogs run along the street near the old house.", "The woman reads a book at home."],
    "de": ["Die Katze schläft am Nachmittag auf der Matte.", "Ein Mann spielt jeden Tag Gitarre im Park.",
           "Zwei Hunde laufen die Straße entlang.", "Die Frau liest zu Hause ein Buch."],
    "fr": ["Le chat dort sur le tapis l'après-midi.", "Un homme joue de la guitare dans le parc.",
           "Deux chiens courent dans la rue près de la maison.", "La femme lit un livre à la maison."],
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    # A folder of its own: the session's MNLI fixture is shared and must stay as it is.
    return write_family_data(write_mnli_fixture(tmp_path_factory.mktemp("approach_data")))


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """A local MLM corpus: <lang>.txt, one text per line, with a blank line to skip."""
    root = tmp_path_factory.mktemp("mlm_corpus")
    for lang, lines in CORPUS.items():
        (root / f"{lang}.txt").write_text("\n".join(lines * 6) + "\n\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def args_for(tiny_model_dir, data_dir, root, approach: str, *extra: str) -> list[str]:
    return [
        f"model.name_or_path={tiny_model_dir}", f"data.data_dir={data_dir}", f"output_root={root}",
        "experiment=ap", f"approach={approach}", "train.deepspeed_config=ds_configs/zero2.json",
        "train.micro_batch_size=4", "train.learning_rate=3e-3", "train.log_every=2",
        "model.max_seq_length=64", "model.doc_stride=32", "eval.languages=en,de", *extra,
    ]


def run_target(args: list[str], cache: Path, run: Path, approach: str, intermediate: str) -> None:
    """The shared XNLI target phase: trains from the approach's encoder, evaluates en and de."""
    run_phase("target", args + ["target=xnli", "train.max_steps=4", "train.eval_every=4"], cache)
    results = json.loads((run / "xnli" / "seed1" / "results.json").read_text())
    assert (results["approach"], results["intermediate"]) == (approach, intermediate)
    assert set(results["metrics"]) == {"en", "de"} and 0 <= results["score"] <= 100
    config = (run / "xnli" / "seed1" / "config.yaml").read_text()
    assert f"approach: {approach}" in config


def check_encoder(run: Path, heads: set[str]) -> None:
    for name in ("DONE", "config.yaml", "encoder/model.safetensors", "encoder/tokenizer.json"):
        assert (run / name).exists(), name
    assert set(json.loads((run / "encoder" / "heads.json").read_text())) == heads


def test_english(tiny_model_dir, data_dir, cache, tmp_path):
    args = args_for(tiny_model_dir, data_dir, tmp_path, "english", "intermediate=mnli")
    run_phase("intermediate", args + ["train.max_steps=8", "train.eval_every=8"], cache)
    run = tmp_path / "ap" / "english" / "mnli"
    check_encoder(run, {"mnli"})
    run_target(args, cache, run, "english", "mnli")


def test_mlm_in_the_mix_with_its_share_zero3(tiny_model_dir, data_dir, corpus_dir, cache, tmp_path):
    args = args_for(
        tiny_model_dir, data_dir, tmp_path, "mlm", "intermediate=mnli",
        "train.deepspeed_config=ds_configs/zero3.json", f"approach_args.mlm_corpus={corpus_dir}",
        "approach_args.mlm_languages=en,de,fr", "approach_args.mlm_share=0.4",
    )
    out = run_phase("intermediate", args + ["train.max_steps=12", "train.eval_every=12"], cache).stdout
    run = tmp_path / "ap" / "mlm" / "mnli"
    check_encoder(run, {"mnli", "mlm"})
    sampling = re.search(r"task sampling: mnli ([\d.]+) .*, mlm ([\d.]+)", out)
    assert sampling and sampling.groups() == ("0.600", "0.400"), out[-3000:]
    tags = scalars(run / "tb")
    assert "train/mlm/loss" in tags and "train/mnli/loss" in tags
    for lang in CORPUS:  # every text read (blank line skipped): windows minus <s> </s>
        ((step, tokens),) = tags[f"data/mlm/{lang}/tokens"]
        assert step == 0 and tokens > 50
    assert "eval/mnli/score" in tags and not any(t.startswith("eval/mlm") for t in tags)
    run_target(args, cache, run, "mlm", "mnli")


def test_translated_squad_into_spanish_with_apertium(tiny_model_dir, data_dir, cache, tmp_path):
    if shutil.which("apertium") is None:
        pytest.skip("Debian's apertium is not installed (apt-get install apertium apertium-eng-spa)")
    args = args_for(tiny_model_dir, data_dir, tmp_path, "translated", "intermediate=squad",
                    "approach_args.translate_languages=es", "approach_args.translate_backend=apertium")
    run_phase("intermediate", args + ["train.max_steps=8", "train.eval_every=8"], cache)
    run = tmp_path / "ap" / "translated" / "squad-tr.es"
    check_encoder(run, {"squad"})

    (jsonl,) = (cache / "translations").glob("squad.es.apertium.*.jsonl")
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    stats = json.loads(jsonl.with_name(jsonl.stem + ".stats.json").read_text())
    assert stats["examples_in"] == 64 and len(rows) == stats["examples_out"] >= 56
    assert all(r["id"].endswith("@es") for r in rows)
    assert sum("capital de" in r["context"] for r in rows) >= 56  # really Spanish
    for r in rows:  # every kept answer is a span of its translated context
        a = r["answers"][0]
        assert r["context"][a["start"] : a["start"] + len(a["text"])] == a["text"]
    tags = scalars(run / "tb")
    assert tags["data/translated/squad/es/span_recovery_rate"][0][1] == pytest.approx(
        stats["span_recovery_rate"])
    print(f"apertium en->es squad fixture: span recovery {stats['span_recovery_rate']:.3f}, "
          f"{stats['examples_out']}/{stats['examples_in']} kept")
    run_target(args, cache, run, "translated", "squad-tr.es")


def test_none_feeds_the_pretrained_encoder(tiny_model_dir, data_dir, cache, tmp_path):
    args = args_for(tiny_model_dir, data_dir, tmp_path, "none")
    out = run_phase("intermediate", args, cache, ranks=0).stdout
    assert "no intermediate phase" in out
    run = tmp_path / "ap" / "none" / "none"
    assert run.is_dir() and not any(run.iterdir())
    run_target(args, cache, run, "none", "none")
