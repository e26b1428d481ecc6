"""XTREME-R as a benchmark choice: its lists, XCOPA/COPA in the Hub's exact schema, the xcopa
submission format, the report's average, the grid, and a tiny-model XCOPA target run."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest
import yaml
from datasets import ClassLabel, Dataset, Features, Sequence, Value

from tests.fixtures.launch import REPO, run_phase
from tests.fixtures.hub import serve_tables, write_jsonl
from toolkit.config.schema import RunConfig
from toolkit.pipeline.checks import load_config
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation import xtreme_format
from toolkit.evaluation.metrics import summarise
from toolkit.grid.plan import cell_compute
from toolkit.grid.spec import load_grid
from toolkit.reporting.report import to_markdown, write_report
from toolkit.tasks.records import LoadRequest
from toolkit.tasks.registry import get_task
from toolkit.tasks.copa import COPA, XCOPA
from toolkit.tasks.benchmarks import BENCHMARKS, check_languages, evaluation_languages, get_benchmark, known_languages, official_languages

XCOPA_LANGS = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")


# ---------------------------------------------------------------------------------------------
# The benchmark records.
# ---------------------------------------------------------------------------------------------


def test_benchmark_records_hold_evaluate_py_lists():
    xtreme, xtreme_r = get_benchmark("xtreme"), get_benchmark("xtreme_r")
    assert xtreme.tasks == ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba")
    # XTREME-R's paper order; Mewsli-X and LAReQA are part of it but not run here.
    assert xtreme_r.tasks == ("xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba")
    assert set(xtreme_r.not_run) == {"mewslix", "lareqa"} and tuple(xtreme_r.languages)[-2:] == ("mewslix", "lareqa")
    assert (xtreme.evaluate_version, xtreme_r.evaluate_version) == ("xtreme", "xtreme-r")
    assert xtreme_r.average_label == "XTREME-R average" and xtreme.average_label == "XTREME average"
    assert xtreme_r.languages["xcopa"] == XCOPA_LANGS
    assert xtreme_r.languages["mewslix"] == tuple("ar de en es fa ja pl ro ta tr uk".split())
    assert xtreme_r.languages["lareqa"] == ()
    added = {t: [lang for lang in xtreme_r.languages[t] if lang not in xtreme.languages[t]]
             for t in ("udpos", "panx", "xquad", "tatoeba", "xnli", "mlqa", "tydiqa")}
    assert added == {"udpos": ["lt", "pl", "uk", "wo", "ro"], "panx": ["qu", "pl", "uk", "az", "lt", "pa", "gu", "ro"],
                     "xquad": ["ro"], "tatoeba": ["az", "lt", "pl", "uk", "ro"], "xnli": [], "mlqa": [], "tydiqa": []}
    for name, bench in BENCHMARKS.items():
        assert bench.name == name


def test_default_evaluation_languages_follow_the_benchmark():
    assert len(evaluation_languages("udpos", "xtreme")) == 33
    udpos_r = evaluation_languages("udpos", "xtreme_r")
    assert len(udpos_r) == 38 and udpos_r[0] == "en" and udpos_r[-1] == "ro"
    assert len(evaluation_languages("tatoeba", "xtreme_r")) == 41 and "en" not in evaluation_languages("tatoeba", "xtreme_r")
    assert evaluation_languages("xcopa", "xtreme_r") == XCOPA_LANGS
    assert evaluation_languages("xquad", "xtreme")[0] == "en"
    assert known_languages("xquad")[-1] == "ro" and len(known_languages("tatoeba")) == 41
    # The registered specs carry every language either benchmark evaluates.
    assert get_task("tatoeba").languages == known_languages("tatoeba")
    assert XCOPA.languages == XCOPA_LANGS and XCOPA.xtreme_id == "xcopa"


@pytest.mark.parametrize("task, langs, bench_name, message", [
    ("xcopa", ["et"], "xtreme", "'xcopa' is not part of XTREME"),
    ("pawsx", ["de"], "xtreme_r", "'pawsx' is not part of XTREME-R"),
    ("bucc2018", ["de"], "xtreme_r", "'bucc2018' is not part of XTREME-R"),
    ("mewslix", ["de"], "xtreme_r", "not run by this toolkit: Mewsli-X needs a dual encoder"),
    ("xquad", ["ro"], "xtreme", "none of the languages ro counts toward the XTREME score of 'xquad'"),
    ("tatoeba", ["pol"], "xtreme_r", "'pol' is the file code of 'pl'"),
    ("xcopa", ["en"], "xtreme_r", "Valid languages: et, ht"),
    ("udpos", ["pl"], "xtream", r"unknown benchmark 'xtream' \(did you mean 'xtreme'"),
])
def test_check_languages_per_benchmark_errors(task, langs, bench_name, message):
    with pytest.raises(ConfigError, match=message):
        check_languages(task, langs, bench_name)


def test_check_languages_per_benchmark_accepts():
    assert check_languages("tatoeba", ["pl", "de"], "xtreme_r") == ("pl", "de")
    # Romanian XQuAD and Polish Tatoeba may run under XTREME beside a language it counts.
    assert check_languages("xquad", ["de", "ro"], "xtreme") == ("de", "ro")
    assert check_languages("tatoeba", ["de", "pl"], "xtreme") == ("de", "pl")


def test_scores_average_over_the_chosen_benchmark():
    per_lang = {"en": {"f1": 90.0}, "de": {"f1": 70.0}, "pl": {"f1": 40.0}}
    assert summarise("udpos", per_lang, "xtreme") == ({"f1": 80.0}, 80.0)
    assert summarise("udpos", per_lang, "xtreme_r") == ({"f1": 200 / 3}, 200 / 3)
    average, score = summarise("xcopa", {"et": {"accuracy": 60.0}, "qu": {"accuracy": 50.0}}, "xtreme_r")
    assert score == 55.0 and average == {"accuracy": 55.0}
    with pytest.raises(ConfigError, match="not part of XTREME"):
        summarise("xcopa", {"et": {"accuracy": 60.0}})
    assert official_languages("xcopa", "xtreme_r") == XCOPA_LANGS


def test_config_benchmark_and_stages():
    assert RunConfig().benchmark == "xtreme" and RunConfig().target_stages is None
    cfg = load_config(["benchmark=xtreme_r", "target=xcopa", "target_stages=[]"])
    assert (cfg.benchmark, cfg.target_stages) == ("xtreme_r", [])
    assert load_config(["target_stages=socialiqa,cosmosqa"]).target_stages == ["socialiqa", "cosmosqa"]
    with pytest.raises(ConfigError, match="unknown benchmark 'xtreme-r' \\(did you mean 'xtreme_r'"):
        load_config(["benchmark=xtreme-r"])


# ---------------------------------------------------------------------------------------------
# COPA and XCOPA loaders, on fixtures in the Hub's exact schema.
# ---------------------------------------------------------------------------------------------

# cambridgeltl/xcopa's features (every language config; splits validation and test).
XCOPA_FEATURES = Features({
    "premise": Value("string"), "choice1": Value("string"), "choice2": Value("string"),
    "question": Value("string"), "label": Value("int32"), "idx": Value("int32"), "changed": Value("bool"),
})
# aps/super_glue copa: label is a ClassLabel; the test split's labels are -1.
COPA_FEATURES = Features({
    "premise": Value("string"), "choice1": Value("string"), "choice2": Value("string"),
    "question": Value("string"), "idx": Value("int32"), "label": ClassLabel(names=["choice1", "choice2"]),
})

ET_ROWS = [  # XCOPA et validation, rows 0-1 (cambridgeltl/xcopa data/et/val.et.jsonl)
    {"premise": "Mees keeras kraani lahti.", "choice1": "Tualett täitus veega.",
     "choice2": "Tilast voolas vett.", "question": "effect", "label": 1, "idx": 0, "changed": False},
    {"premise": "Tüdruk leidis oma helveste seest putuka.", "choice1": "Ta kallas piima kaussi.",
     "choice2": "Ta kaotas oma isu.", "question": "effect", "label": 1, "idx": 1, "changed": False},
]
COPA_ROWS = [
    {"premise": "My body cast a shadow over the grass.", "choice1": "The sun was rising.",
     "choice2": "The grass was cut.", "question": "cause", "idx": 0, "label": 0},
    {"premise": "The woman tolerated her friend's difficult behavior.", "choice1": "The woman knew her friend was going through a hard time.",
     "choice2": "The woman felt that her friend took advantage of her kindness.", "question": "cause", "idx": 1, "label": 0},
    {"premise": "The women met for coffee.", "choice1": "The cafe reopened in a new location.",
     "choice2": "They wanted to catch up with each other.", "question": "cause", "idx": 2, "label": 1},
]


def _columns(rows: list[dict]) -> dict:
    return {key: [row[key] for row in rows] for key in rows[0]}




def test_xcopa_and_copa_from_the_hub(monkeypatch):
    test_rows = [{**r, "idx": i} for i, r in enumerate(ET_ROWS * 30)]  # 60 rows, real labels (1)
    calls = serve_tables(monkeypatch, {
        ("cambridgeltl/xcopa", "et", "validation"): Dataset.from_dict(_columns(ET_ROWS), features=XCOPA_FEATURES),
        ("cambridgeltl/xcopa", "et", "test"): Dataset.from_dict(_columns(test_rows), features=XCOPA_FEATURES),
        ("aps/super_glue", "copa", "train"): Dataset.from_dict(_columns(COPA_ROWS), features=COPA_FEATURES),
        ("aps/super_glue", "copa", "test"): Dataset.from_dict(
            _columns([{**r, "label": -1} for r in COPA_ROWS]), features=COPA_FEATURES),
    })
    val = XCOPA.loader(XCOPA, LoadRequest("validation", "et"))
    assert [e.id for e in val] == ["xcopa-et-validation-0", "xcopa-et-validation-1"]
    first = val[0]
    # XTREME-R's input: "<premise> What was the <question>?" then each choice.
    assert (first.context, first.question, first.choices, first.label) == (
        "Mees keeras kraani lahti.", "What was the effect?", ("Tualett täitus veega.", "Tilast voolas vett."), 1)
    assert len(XCOPA.loader(XCOPA, LoadRequest("test", "et", max_examples=5))) == 5
    train = COPA.loader(COPA, LoadRequest("train"))
    assert [e.label for e in train] == [0, 0, 1] and train[0].question == "What was the cause?"
    assert train[2].id == "copa-train-2"
    assert [e.label for e in COPA.loader(COPA, LoadRequest("test"))] == [-1, -1, -1]
    assert calls[0] == ("cambridgeltl/xcopa", "et", "validation") and ("aps/super_glue", "copa", "train") in calls


def test_xcopa_local_layouts(tmp_path):
    # github.com/cambridgeltl/xcopa's files, and XTREME's download layout.
    write_jsonl(tmp_path / "repo" / "data" / "et" / "val.et.jsonl", ET_ROWS)
    write_jsonl(tmp_path / "repo" / "data" / "et" / "test.et.jsonl", ET_ROWS)
    write_jsonl(tmp_path / "xtreme" / "val-qu.jsonl", ET_ROWS[:1])
    from_repo = XCOPA.loader(XCOPA, LoadRequest("validation", "et", str(tmp_path / "repo")))
    assert [e.choices[1] for e in from_repo] == ["Tilast voolas vett.", "Ta kaotas oma isu."]
    assert len(XCOPA.loader(XCOPA, LoadRequest("test", "et", str(tmp_path / "repo")))) == 2
    assert len(XCOPA.loader(XCOPA, LoadRequest("validation", "qu", str(tmp_path / "xtreme")))) == 1
    # SuperGLUE's COPA.zip files: val.jsonl, and a test set without labels.
    write_jsonl(tmp_path / "copa" / "val.jsonl", COPA_ROWS)
    write_jsonl(tmp_path / "copa" / "test.jsonl", [{k: v for k, v in r.items() if k != "label"} for r in COPA_ROWS])
    assert [e.label for e in COPA.loader(COPA, LoadRequest("validation", data_dir=str(tmp_path / "copa")))] == [0, 0, 1]
    assert {e.label for e in COPA.loader(COPA, LoadRequest("test", data_dir=str(tmp_path / "copa")))} == {-1}


@pytest.mark.parametrize("rows, split, message", [
    ([{**ET_ROWS[0], "question": "why"}], "validation", "field 'question' = 'why'; expected one of cause, effect"),
    ([{k: v for k, v in ET_ROWS[0].items() if k != "choice2"}], "validation", "missing field 'choice2'"),
    ([{**ET_ROWS[0], "label": 2}], "validation", "field 'label' = 2 is outside 0..1"),
    ([{**ET_ROWS[0], "label": None}], "validation", "validation rows need a gold label"),
    ([{**ET_ROWS[0], "idx": 0}, {**ET_ROWS[1], "idx": 0}], "validation", "duplicate example id 'xcopa-et-validation-0'"),
    ([{**ET_ROWS[0], "label": 0, "idx": i} for i in range(60)], "test", "all 60 test labels are 0, the placeholder"),
])
def test_xcopa_bad_rows(tmp_path, rows, split, message):
    name = "val" if split == "validation" else "test"
    write_jsonl(tmp_path / f"{name}-et.jsonl", rows)
    with pytest.raises(DataError, match=message):
        XCOPA.loader(XCOPA, LoadRequest(split, "et", str(tmp_path)))


def test_xcopa_bad_requests(tmp_path):
    with pytest.raises(ConfigError, match="xcopa has no language 'en'.*English COPA is the task 'copa'"):
        XCOPA.loader(XCOPA, LoadRequest("validation", "en", str(tmp_path)))
    with pytest.raises(ConfigError, match="its English training set is the task 'copa'"):
        XCOPA.loader(XCOPA, LoadRequest("train", "et", str(tmp_path)))
    with pytest.raises(DataError, match="data/et/val.et.jsonl, et/val.et.jsonl, val-et.jsonl"):
        XCOPA.loader(XCOPA, LoadRequest("validation", "et", str(tmp_path)))
    with pytest.raises(DataError, match="train.jsonl, train-en.jsonl"):
        COPA.loader(COPA, LoadRequest("train", data_dir=str(tmp_path)))


def test_hub_copies_without_xtreme_r_languages_say_to_use_local_files():
    for task, lang in (("xquad", "ro"), ("tatoeba", "pl"), ("udpos", "wo")):
        spec = get_task(task)
        with pytest.raises(DataError, match=f"google/xtreme has only XTREME's {task} languages"):
            spec.loader(spec, LoadRequest("test", lang))


def test_panx_xtreme_r_languages_come_from_wikiann(monkeypatch):
    # unimelb-nlp/wikiann's features: the same ClassLabel as google/xtreme's PAN-X.
    features = Features({
        "tokens": Sequence(Value("string")),
        "ner_tags": Sequence(ClassLabel(names=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"])),
        "langs": Sequence(Value("string")), "spans": Sequence(Value("string")),
    })
    rows = {"tokens": [["Warszawa", "jest", "stolicą"]], "ner_tags": [[5, 0, 0]],
            "langs": [["pl", "pl", "pl"]], "spans": [["LOC: Warszawa"]]}
    calls = serve_tables(monkeypatch, {("unimelb-nlp/wikiann", "pl", "test"): Dataset.from_dict(rows, features=features)})
    panx = get_task("panx")
    [example] = panx.loader(panx, LoadRequest("test", "pl"))
    assert calls == [("unimelb-nlp/wikiann", "pl", "test")] and example.tags == ("B-LOC", "O", "O")


# ---------------------------------------------------------------------------------------------
# Submission files, report, grid.
# ---------------------------------------------------------------------------------------------


def test_xcopa_prediction_files_in_xtreme_r_format(tmp_path, caplog):
    order = ["a", "b", "c", "d"]
    pred = xtreme_format.write_predictions(tmp_path / "pred", "xcopa", "et", {"a": 1, "b": 0, "c": 1, "d": 1}, order)
    gold = xtreme_format.write_gold(tmp_path / "gold", "xcopa", "et", {"a": 1, "b": 1, "c": 1, "d": 0})
    assert pred == tmp_path / "pred" / "xcopa" / "test-et.jsonl"
    # XTREME-R's run_xcopa.py writes, and evaluate.py's read_xcopa reads, one {"label": n} per line.
    assert [json.loads(line) for line in pred.read_text().splitlines()] == [{"label": n} for n in (1, 0, 1, 1)]
    assert xtreme_format.score_file(pred, gold, "xcopa", "et") == {"accuracy": 50.0}
    xtreme_format.write_predictions(tmp_path / "pred", "xnli", "de", {"x": "entailment"}, ["x"])
    xtreme_format.write_gold(tmp_path / "gold", "xnli", "de", {"x": "neutral"})
    scored = xtreme_format.score_files(tmp_path / "pred", tmp_path / "gold", benchmark="xtreme_r")
    assert scored["xcopa"]["score"] == 50.0 and scored["xnli"]["score"] == 0.0
    # Under XTREME, evaluate.py ignores the xcopa folder; so does score_files.
    assert set(xtreme_format.score_files(tmp_path / "pred", tmp_path / "gold")) == {"xnli"}
    assert "not XTREME tasks: xcopa" in caplog.text
    pred.write_text('{"label": 1}\n{"choice": 0}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2: expected \{\"label\": <choice index>\}"):
        xtreme_format.read_predictions(pred, "xcopa")


def _results_tree(root: Path, bench_name: str | None, scores: dict) -> None:
    metric = {"xcopa": "accuracy", "xnli": "accuracy", "udpos": "f1"}
    for (approach, inter, task), per_seed in scores.items():
        for seed, value in enumerate(per_seed, 1):
            run = root / approach / inter / task / f"seed{seed}"
            run.mkdir(parents=True)
            record = {"task": task, "approach": approach, "intermediate": inter, "seed": seed,
                      "metrics": {"et" if task == "xcopa" else "en": {metric[task]: value}},
                      "average": {metric[task]: value}, "score": value}
            if bench_name:
                record["benchmark"] = bench_name
            (run / "results.json").write_text(json.dumps(record))
            (run / "DONE").write_text("")


def test_report_names_the_xtreme_r_average(tmp_path):
    scores = {("none", "none", "udpos"): [70.0, 72.0], ("none", "none", "xcopa"): [55.0, 57.0],
              ("none", "none", "xnli"): [80.0, 80.0], ("english", "socialiqa", "xcopa"): [60.0, 64.0],
              ("english", "socialiqa", "xnli"): [81.0, 81.0], ("english", "socialiqa", "udpos"): [71.0, 71.0]}
    _results_tree(tmp_path / "exp", "xtreme_r", scores)
    table = write_report(tmp_path / "exp")
    assert table["columns"] == ["xnli", "xcopa", "udpos", "average"]  # XTREME-R's task order
    bench = table["benchmark"]
    assert (bench["name"], bench["average_label"]) == ("xtreme_r", "XTREME-R average")
    assert bench["missing"] == ["panx", "xquad", "mlqa", "tydiqa", "tatoeba", "mewslix", "lareqa"]
    rows = {r["name"]: r["cells"] for r in table["rows"]}
    assert rows["english/socialiqa"]["xcopa"]["delta"] == pytest.approx(6.0)
    average = statistics.fmean([81.0, 62.0, 71.0])
    assert rows["english/socialiqa"]["average"]["mean"] == pytest.approx(average)
    text = (tmp_path / "exp" / "report" / "report.md").read_text()
    assert text.splitlines()[2] == "| approach / intermediate | xnli | xcopa | udpos | XTREME-R average |"
    assert "XTREME-R's panx, xquad, mlqa, tydiqa, tatoeba, mewslix, lareqa not included" in text
    assert text == to_markdown(table)


def test_report_refuses_mixed_benchmarks(tmp_path):
    # Old results.json files carry no benchmark: they count as XTREME.
    _results_tree(tmp_path / "exp", None, {("none", "none", "xnli"): [80.0]})
    _results_tree(tmp_path / "exp", "xtreme_r", {("english", "mnli", "xnli"): [81.0]})
    with pytest.raises(ConfigError, match="mixes results of benchmarks xtreme, xtreme_r"):
        write_report(tmp_path / "exp")


def test_xtreme_r_grid_and_stages(tmp_path):
    from toolkit.pipeline.inputs import target_stages

    grid = load_grid(REPO / "configs" / "grids" / "xtreme_r.yaml", [f"output_root={tmp_path}"])
    targets = [c for c in grid.cells if c.kind == "target"]
    assert len(targets) == (10 + 10 + 9 + 1) * (7 * 3 + 1)  # Tatoeba once: it is not trained
    assert {c.cfg.benchmark for c in grid.cells} == {"xtreme_r"}
    xcopa = next(c for c in targets if c.name == "none/none/xcopa/seed1")
    assert (xcopa.cfg.train.learning_rate, xcopa.cfg.train.num_epochs, xcopa.cfg.model.max_seq_length) == (3e-5, 5, 128)
    assert [s.name for s in target_stages(xcopa.cfg, XCOPA)] == ["socialiqa"]
    # Plan: SocialIQA (33,410 x 3 choices) then COPA (400 x 2), 5 epochs each; 11 x 500 evaluated
    # on test and as many on dev.
    c = cell_compute(xcopa)
    assert c["train_tokens"] == 5 * 96 * (33_410 * 3 + 400 * 2) and c["eval_tokens"] == 2 * 11 * 500 * 96 * 2  # test + dev
    udpos = next(c for c in targets if c.name == "none/none/udpos/seed1")
    # XTREME-R's 38 languages on test; on dev, all but kk, tl, th and yo
    assert cell_compute(udpos)["eval_tokens"] == (38 + 34) * 1500 * 48

    cfg = load_config(["benchmark=xtreme_r", "target=xcopa", "target_stages=[]"])
    assert target_stages(cfg, XCOPA) == []
    for stages, message in ((["mnli"], "'mnli' is a pair_classification task"),
                            (["cosmosqa", "socialqa"], "unknown task 'socialqa'")):
        cfg = load_config(["benchmark=xtreme_r", "target=xcopa", f"target_stages={','.join(stages)}"])
        with pytest.raises(ConfigError, match=message):
            target_stages(cfg, XCOPA)


def test_a_run_folder_keeps_its_benchmark(tmp_path):
    from toolkit.pipeline.target import _check_benchmark
    from toolkit.pipeline.run_dirs import target_dir

    cfg = load_config([f"output_root={tmp_path}", "target=xquad", "benchmark=xtreme_r"])
    run = target_dir(cfg)
    run.mkdir(parents=True)
    _check_benchmark(cfg, run)  # nothing recorded yet
    (run / "results.json").write_text(json.dumps({"task": "xquad", "benchmark": "xtreme_r"}))
    _check_benchmark(cfg, run)
    cfg.benchmark = "xtreme"  # a DONE cell would be skipped with XTREME-R's languages and score
    with pytest.raises(ConfigError, match="holds results for benchmark=xtreme_r, not xtreme"):
        _check_benchmark(cfg, run)


@pytest.mark.parametrize("change, message", [
    ({"targets": ["pawsx"]}, "'pawsx' is not part of XTREME-R"),
    ({"targets": [{"task": "xquad", "languages": ["ro"]}]}, None),
    ({"targets": [{"task": "xcopa", "overrides": {"target_stages": ["ccg"]}}]}, "'ccg' is a tagging task"),
])
def test_xtreme_r_grid_checks_targets_before_any_work(tmp_path, change, message):
    spec = {"base": {"experiment": "g", "output_root": str(tmp_path / "runs"), "benchmark": "xtreme_r"},
            "approaches": ["none"], "targets": ["xnli"], "seeds": [1], **change}
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(spec))
    if message is None:
        assert len(load_grid(path).cells) == 1
        return
    with pytest.raises(ConfigError, match=message):
        load_grid(path)
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------------------------
# A tiny-model XCOPA target run: SocialIQA stage, COPA, zero-shot XCOPA (one process).
# ---------------------------------------------------------------------------------------------

_CAUSES = [("The ground was wet.", "It had rained.", "The sun was shining."),
           ("The glass broke.", "I dropped it.", "I washed it."),
           ("The baby cried.", "She was hungry.", "She was asleep."),
           ("The road was closed.", "There was an accident.", "The weather was nice.")]
_LANG_CAUSES = {
    "et": [("Maa oli märg.", "Oli sadanud.", "Päike paistis."), ("Klaas purunes.", "Ma pillasin selle.", "Ma pesin seda.")],
    "it": [("Il terreno era bagnato.", "Aveva piovuto.", "Splendeva il sole."),
           ("Il bicchiere si è rotto.", "L'ho fatto cadere.", "L'ho lavato.")],
}


def write_xcopa_run_data(root: Path, seed: int = 0) -> Path:
    """socialiqa/ (Hub schema), copa/ (SuperGLUE files) and xcopa/ (cambridgeltl's layout)."""
    rng = random.Random(seed)

    def copa_rows(pool, n):
        rows = []
        for i in range(n):
            premise, right, wrong = rng.choice(pool)
            label = rng.randrange(2)
            choices = (right, wrong) if label == 0 else (wrong, right)
            rows.append({"premise": premise, "choice1": choices[0], "choice2": choices[1], "question": "cause",
                         "label": label, "idx": i, "changed": False})
        return rows

    for split, n in (("train", 48), ("validation", 12)):
        rows = []
        for i in range(n):
            premise, right, wrong = rng.choice(_CAUSES)
            answers = [right, wrong, "Nothing happened."]
            rng.shuffle(answers)
            rows.append({"context": premise, "question": "Why did this happen?", "answerA": answers[0],
                         "answerB": answers[1], "answerC": answers[2], "label": str(answers.index(right) + 1)})
        write_jsonl(root / "socialiqa" / f"{split}.jsonl", rows)
    write_jsonl(root / "copa" / "train.jsonl", copa_rows(_CAUSES, 32))
    write_jsonl(root / "copa" / "val.jsonl", copa_rows(_CAUSES, 8))
    for lang, pool in _LANG_CAUSES.items():
        write_jsonl(root / "xcopa" / "data" / lang / f"test.{lang}.jsonl", copa_rows(pool, 10))
        write_jsonl(root / "xcopa" / "data" / lang / f"val.{lang}.jsonl", copa_rows(pool, 6))  # selection data
    return root


@pytest.mark.slow
def test_xcopa_target_run_trains_socialiqa_then_copa(tiny_model_dir, tmp_path):
    data = write_xcopa_run_data(tmp_path / "data")
    args = [f"model.name_or_path={tiny_model_dir}", f"data.data_dir={data}", f"output_root={tmp_path / 'runs'}",
            "experiment=xr", "approach=none", "benchmark=xtreme_r", "target=xcopa", "eval.languages=et,it",
            "train.deepspeed_config=ds_configs/zero2.json", "train.micro_batch_size=4", "train.max_steps=4",
            "train.eval_every=4", "train.learning_rate=3e-3", "model.max_seq_length=48"]
    out = run_phase("target", args, tmp_path / "cache", ranks=0).stdout
    run = tmp_path / "runs" / "xr" / "none" / "none" / "xcopa" / "seed1"
    assert "target xcopa: training stage 1-socialiqa" in out
    stage = run / "stages" / "1-socialiqa"
    assert (stage / "DONE").exists() and json.loads((stage / "model" / "heads.json").read_text()) == {
        "xcopa": {"family": "multiple_choice", "labels": []}}
    results = json.loads((run / "results.json").read_text())
    assert results["benchmark"] == "xtreme_r" and set(results["metrics"]) == {"et", "it"}
    scored = xtreme_format.score_files(run / "predictions", run / "gold", ["xcopa"], benchmark="xtreme_r")
    assert scored["xcopa"]["metrics"] == results["metrics"] and scored["xcopa"]["score"] == pytest.approx(results["score"])
    assert len((run / "predictions" / "xcopa" / "test-et.jsonl").read_text().splitlines()) == 10
    assert "is DONE, skipping" in run_phase("target", args, tmp_path / "cache", ranks=0).stdout
