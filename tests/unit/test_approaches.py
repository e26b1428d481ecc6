"""The approach registry: names, config checks, run-folder suffixes, fixed MLM shares, and the
PhaseData each approach builds (one process, tiny tokenizer, fixtures in tmp_path)."""

from __future__ import annotations

import json

import pytest

from baselines.translate.dataset_io import read_examples_jsonl
from toolkit.approaches import mlm as mlm_approach
from toolkit.approaches import translated as translated_approach
from toolkit.approaches.base import english_examples
from toolkit.approaches.registry import APPROACHES, get_approach
from toolkit.tasks.registry import get_task
from toolkit.config.schema import describe
from toolkit.pipeline.checks import load_config
from toolkit.data.batching import planned_steps, task_probabilities
from toolkit.errors import ConfigError, DataError
from toolkit.pipeline.run_dirs import intermediate_name


class OneRank:
    """A world of one: what the builders need of `Dist` without a process group."""

    rank, world_size, is_main, device = 0, 1, True, "cpu"

    def barrier(self):
        pass


def cfg_of(*overrides: str):
    return load_config(list(overrides))


def test_registry_records_and_config_choices():
    assert tuple(APPROACHES) == ("english", "mlm", "translated", "none")
    assert [a.has_intermediate for a in APPROACHES.values()] == [True, True, True, False]
    assert all(a.description for a in APPROACHES.values())
    keys = {k for k, _, _ in describe()}
    for name in ("mlm_languages", "mlm_corpus", "mlm_share", "mlm_alpha", "mlm_max_chars_per_language",
                 "translate_languages", "translate_backend", "translate_model", "translate_mix",
                 "translate_cache", "translate_provided_dir"):
        assert f"approach_args.{name}" in keys
    assert all(help_text for k, _, help_text in describe() if k.startswith("approach_args."))


def test_unknown_approach_names_the_nearest():
    with pytest.raises(ConfigError, match=r"approach='translate'.*did you mean 'translated'"):
        cfg_of("approach=translate")
    with pytest.raises(ConfigError, match="did you mean 'mlm'"):
        get_approach("mlmm")


@pytest.mark.parametrize("overrides, name", [
    (["approach=english", "intermediate=mnli+squad_v2"], "mnli+squad_v2"),
    (["approach=mlm", "intermediate=mnli"], "mnli"),
    (["approach=none", "intermediate=mnli"], "none"),
    (["approach=translated", "intermediate=squad"], "squad-tr.es"),
    (["approach=translated", "intermediate=mnli", "approach_args.translate_languages=es,de"], "mnli-tr.de+es"),
    (["approach=translated", "intermediate=mnli+squad", "approach_args.translate_languages=es",
      "approach_args.translate_mix=true"], "mnli+squad-tr.en+es"),
])
def test_intermediate_folder_names(overrides, name):
    assert intermediate_name(cfg_of(*overrides)) == name


@pytest.mark.parametrize("overrides, message", [
    (["approach=translated", "intermediate=ccg"], "cannot use intermediate task 'ccg': it is a tagging task"),
    (["approach=translated", "intermediate=mnli+ccg"], "'ccg': it is a tagging task"),
    (["approach=translated", "approach_args.translate_languages=en,es"], "distinct non-English"),
    (["approach=translated", "approach_args.translate_languages=es,es"], "distinct non-English"),
    (["approach=translated", "approach_args.translate_backend=apertum"], "did you mean 'apertium'"),
    (["approach=translated", "intermediate=qqp", "approach_args.translate_backend=provided",
      "approach_args.translate_provided_dir=x"], "not 'qqp'"),
    (["approach=translated", "approach_args.translate_backend=provided"], "needs approach_args.translate_provided_dir"),
    (["approach=mlm", "approach_args.mlm_share=1"], r"mlm_share must be in \(0, 1\)"),
    (["approach=mlm", "approach_args.mlm_share=0"], r"mlm_share must be in \(0, 1\)"),
    (["approach=mlm", "approach_args.mlm_alpha=-1"], "mlm_alpha must be >= 0"),
    (["approach=mlm", "approach_args.mlm_corpus=/no/such/folder"], "neither 'hub' nor a folder"),
    (["approach=mlm", "intermediate=mnli+mlm"], "unknown task 'mlm'"),  # the approach adds it; not a registered task
    (["approach=english", "intermediate=mnli+sqaud_v2"], "unknown task 'sqaud_v2' .*did you mean 'squad_v2'"),
    (["approach=translated", "intermediate=mlni"], "unknown task 'mlni' .*did you mean 'mnli'"),
])
def test_config_errors_before_any_work(overrides, message):
    with pytest.raises(ConfigError, match=message):
        cfg_of(*overrides)


def test_translated_needs_languages():
    cfg = cfg_of("approach=translated")
    cfg.approach_args.translate_languages = []  # as a YAML file's `translate_languages: []` gives
    with pytest.raises(ConfigError, match="needs approach_args.translate_languages"):
        get_approach("translated").check(cfg, ["mnli"])


def test_fixed_share_sampling_and_steps():
    sizes = {"mnli": 300, "squad": 100, "mlm": 5000}
    probs = task_probabilities(sizes, "proportional", shares={"mlm": 0.25})
    assert probs == pytest.approx({"mnli": 0.5625, "squad": 0.1875, "mlm": 0.25})
    assert list(probs) == list(sizes)  # the engine draws tasks in this order
    uniform = task_probabilities(sizes, "uniform", shares={"mlm": 0.5})
    assert uniform == pytest.approx({"mnli": 0.25, "squad": 0.25, "mlm": 0.5})
    assert task_probabilities(sizes, "proportional") == pytest.approx(
        {t: s / 5400 for t, s in sizes.items()})
    # Epochs count over the English tasks only; MLM's steps come on top (4 / (1 - 0.5) = 8).
    assert planned_steps(sizes, 100, 1.0, -1, {"mlm": 0.5}) == 8
    assert planned_steps(sizes, 100, 1.0, -1) == 54
    assert planned_steps(sizes, 100, 1.0, 7, {"mlm": 0.5}) == 7
    for bad in ({"mlm": 1.0}, {"mlm": 0.0}, {"other": 0.3}):
        with pytest.raises(ConfigError, match="fixed task shares"):
            task_probabilities(sizes, "proportional", shares=bad)


@pytest.fixture(scope="module")
def tokenizer():
    from tests.fixtures.tiny_models import tiny_tokenizer

    return tiny_tokenizer()


def test_mlm_build_adds_the_task_with_its_share_and_counts(tokenizer, mnli_fixture_dir, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for lang, text in {"en": "The cat sleeps on the mat.", "de": "Die Katze schläft auf der Matte."}.items():
        (corpus / f"{lang}.txt").write_text(f"{text}\n" * 20, encoding="utf-8")
    cfg = cfg_of("approach=mlm", "intermediate=mnli", f"data.data_dir={mnli_fixture_dir}",
                 f"data.cache_dir={tmp_path / 'cache'}", f"approach_args.mlm_corpus={corpus}",
                 "approach_args.mlm_languages=en,de", "approach_args.mlm_share=0.3")
    spec = get_task("mnli")
    built = mlm_approach.build_mlm(cfg, {"mnli": spec}, tokenizer, OneRank())
    data = built.data
    assert list(data.train) == ["mnli", "mlm"] and data.specs["mlm"].family == "mlm"
    assert data.specs["mlm"].languages == ("en", "de") and data.shares == {"mlm": 0.3}
    assert list(data.validation) == ["mnli"]  # model selection on English dev only
    counts = {}
    for f in data.train["mlm"]:
        counts[f["language"]] = counts.get(f["language"], 0) + len(f["input_ids"]) - 2
    assert built.scalars == {f"data/mlm/{k}/tokens": float(v) for k, v in counts.items()}
    assert set(counts) == {"en", "de"}


class Reverse:
    """A scripted backend: reverses the words of each sentence (counts its calls)."""

    name, model, batch_size = "reverse", "v1", 8

    def __init__(self):
        self.calls = 0

    def translate(self, texts, src, tgt):
        self.calls += 1
        return [" ".join(reversed(t.split())) for t in texts]


@pytest.mark.parametrize("mix", [False, True])
def test_translated_build_writes_reads_and_reuses_translations(tokenizer, mnli_fixture_dir, tmp_path,
                                                               monkeypatch, mix):
    backend = Reverse()
    monkeypatch.setattr(translated_approach, "_make_backend", lambda cfg, dist: backend)
    cfg = cfg_of("approach=translated", "intermediate=mnli", f"data.data_dir={mnli_fixture_dir}",
                 f"data.cache_dir={tmp_path / 'cache'}", "approach_args.translate_languages=de,fr",
                 f"approach_args.translate_mix={str(mix).lower()}", "data.max_train_examples=40")
    spec = get_task("mnli")
    built = translated_approach.build_translated(cfg, {"mnli": spec}, tokenizer, OneRank())
    files = sorted((tmp_path / "cache" / "translations").glob("mnli.*.jsonl"))
    assert [f.name.split(".")[1] for f in files] == ["de", "fr"]
    translated = [e for f in files for e in read_examples_jsonl(f)]
    assert len(translated) == 80 and {e.id.rsplit("@", 1)[1] for e in translated} == {"de", "fr"}
    first = translated[0]
    english = english_examples(cfg, spec, "train")[0]
    assert first.text_a == " ".join(reversed(english.text_a.split())) and first.label == english.label
    assert len(built.data.train["mnli"]) == 80 + 40 * mix
    assert list(built.data.validation) == ["mnli"] and built.data.validation["mnli"].language == "en"
    assert built.scalars["data/translated/mnli/de/examples_out"] == 40.0
    calls = backend.calls
    translated_approach.build_translated(cfg, {"mnli": spec}, tokenizer, OneRank())
    assert backend.calls == calls  # the finished files are reused, nothing is translated again


def test_failed_translation_leaves_a_marker_the_other_ranks_raise(tmp_path):
    done, failed = tmp_path / "x.stats.json", tmp_path / "x.jsonl.failed"
    failed.write_text("mnli -> de: backend exploded", encoding="utf-8")
    with pytest.raises(DataError, match="rank 0 could not translate: mnli -> de: backend exploded"):
        translated_approach._wait_for(done, failed)
    done.write_text(json.dumps({}), encoding="utf-8")
    translated_approach._wait_for(done, failed)  # returns at once when the result is there


def test_translated_provided_reads_xtreme_translate_train(tokenizer, mnli_fixture_dir, tmp_path):
    provided = tmp_path / "xtreme"
    provided.mkdir()
    rows = [("A man sleeps.", "A man rests.", "Ein Mann schläft.", "Ein Mann ruht.", "entailment"),
            ("A dog runs.", "A dog sits.", "Ein Hund läuft.", "Ein Hund sitzt.", "contradictory"),
            ("A cat eats.", "A cat is hungry.", "Eine Katze frisst.", "Eine Katze hat Hunger.", "neutral")]
    (provided / "en-de-translated.tsv").write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    cfg = cfg_of("approach=translated", "intermediate=mnli", f"data.data_dir={mnli_fixture_dir}",
                 f"data.cache_dir={tmp_path / 'cache'}", "approach_args.translate_languages=de",
                 "approach_args.translate_backend=provided", f"approach_args.translate_provided_dir={provided}")
    assert intermediate_name(cfg) == "mnli-tr.de"
    spec = get_task("mnli")
    built = translated_approach.build_translated(cfg, {"mnli": spec}, tokenizer, OneRank())
    features = built.data.train["mnli"]
    assert len(features) == 3 and [f["label"] for f in features] == [
        spec.labels.index(n) for n in ("entailment", "contradiction", "neutral")]
    assert built.scalars == {"data/translated/mnli/de/examples_out": 3.0, "data/translated/mnli/de/dropped": 0.0}
    assert not (tmp_path / "cache" / "translations").exists()  # no backend, nothing translated
