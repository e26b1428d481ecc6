"""The research axes as one grid (issue: sequential vs multi-task, encoder scale, batch size,
domain corpora, inference cost, XTREME-R): the spec checks fast, then a tiny-model grid that uses
every axis runs through `run_scripts/grid.sh` and its report shows each axis's comparison.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from tests.fixtures.data import write_mnli_fixture
from tests.fixtures.families import write_family_data
from tests.fixtures.launch import run_phase
from toolkit.errors import ConfigError
from toolkit.grid.spec import load_grid

LR = 2e-3


def write_corpus(folder: Path) -> Path:
    """A tiny 'biomedical' text corpus in the local MLM layout (<lang>.txt)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = {"en": ["The patient received a dose of the drug.", "Blood pressure fell after treatment."],
             "de": ["Der Patient erhielt eine Dosis des Mittels.", "Der Blutdruck sank nach der Behandlung."]}
    for lang, texts in lines.items():
        (folder / f"{lang}.txt").write_text("\n".join(texts * 20) + "\n", encoding="utf-8")
    return folder


def research_spec(path: Path, root: Path, models: dict[str, str], data: Path, corpus: Path) -> Path:
    spec = {
        "base": {
            "experiment": "axes", "output_root": str(root),
            "model": {"max_seq_length": 64},
            "data": {"data_dir": str(data), "max_train_examples": 32, "max_eval_examples": 8,
                     "corpora": [{"name": "biotext", "domain": "biomedical", "use": "mlm", "source": str(corpus),
                                  "languages": ["en", "de"], "share": 0.3}]},
            "train": {"deepspeed_config": "ds_configs/zero2.json", "micro_batch_size": 4, "learning_rate": LR,
                      "lr_scaling": "sqrt", "lr_reference_batch_size": 4, "warmup_ratio": 0.25,
                      "max_steps": 3, "eval_every": 3, "log_every": 3},
            "eval": {"batch_size": 8},
        },
        "approaches": ["english", "none"],
        # sequential vs multi-task of the same tasks, and a domain corpus in the mix
        "intermediates": ["mnli", "mnli>squad", "mnli+squad", "mnli+biotext"],
        "targets": [{"task": "xnli", "languages": ["en", "de"]}],
        "seeds": [1],
        "axes": {
            "model": {label: {"model.name_or_path": p} for label, p in models.items()},
            "batch": {"b4": {"train.train_batch_size": 4}, "b8": {"train.train_batch_size": 8}},
        },
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------------
# Fast: the cells of the spec.
# ---------------------------------------------------------------------------------------------


def test_axes_chains_and_corpora_make_the_expected_cells(tmp_path):
    corpus = write_corpus(tmp_path / "bio")
    spec = research_spec(tmp_path / "g.yaml", tmp_path / "runs", {"small": "embedded", "wide": "embedded"},
                         tmp_path / "data", corpus)
    grid = load_grid(spec)
    names = [c.name for c in grid.cells]
    # Per variant: intermediates mnli (also the chain's prefix: once), mnli>squad, mnli+squad,
    # mnli+biotext; then 4 english targets + 1 none target.
    assert len(names) == 4 * (4 + 5) and len(set(names)) == len(names)
    small_b4 = [n for n in names if "@small.b4" in n]
    assert small_b4 == [
        "english/mnli@small.b4", "english/mnli@small.b4/xnli/seed1",
        "english/mnli-then-squad@small.b4", "english/mnli-then-squad@small.b4/xnli/seed1",
        "english/mnli+squad@small.b4", "english/mnli+squad@small.b4/xnli/seed1",
        "english/mnli+biotext@small.b4", "english/mnli+biotext@small.b4/xnli/seed1",
        "none/none@small.b4/xnli/seed1",
    ]
    cell = next(c for c in grid.cells if c.name == "english/mnli-then-squad@wide.b8/xnli/seed1")
    assert cell.cfg.variant == {"model": "wide", "batch": "b8"} and cell.cfg.train.train_batch_size == 8
    assert cell.depends_on == grid.experiment_dir / "english" / "mnli-then-squad@wide.b8"
    assert cell.run_dir == grid.experiment_dir / "english" / "mnli-then-squad@wide.b8" / "xnli" / "seed1"


@pytest.mark.parametrize("change, message", [
    ({"axes": {"model": {"a/b": {"seed": 2}}}}, "value labels name run folders"),
    ({"axes": {"model": {"x": {"variant": {"a": "b"}}}}}, "variant cannot be overridden"),
    ({"axes": {"model": []}}, "expected a mapping of value labels"),
    ({"intermediates": ["mnli>sqaud"]}, "unknown task 'sqaud'.*did you mean 'squad'"),
    ({"intermediates": ["mnli+biotxt"]}, "unknown task 'biotxt'.*did you mean 'biotext'"),
    ({"base": {"data": {"corpora": [{"name": "bio", "domain": "d", "use": "mlm", "source": "/nonexistent",
                                     "languages": ["en"]}]}}}, r"data.corpora\[0\]: source '/nonexistent'"),
    ({"base": {"data": {"corpora": [{"name": "bio", "domain": "d", "use": "mlmm", "source": ".",
                                     "languages": ["en"]}]}}}, "use='mlmm' is not one of mlm, translated"),
    ({"base": {"data": {"corpora": [{"name": "mnli", "domain": "d", "use": "mlm", "source": ".",
                                     "languages": ["en"]}]}}}, "'mnli' is a registered task"),
    ({"base": {"data": {"corpora": [{"name": "b", "domain": "d", "use": "mlm", "source": ".",
                                     "languages": ["en"], "shares": 0.2}]}}}, "unknown field 'shares'.*'share'"),
    ({"base": {"train": {"lr_scaling": "linear"}}}, "needs train.lr_reference_batch_size"),
    ({"base": {"train": {"lr_scaling": "cubic", "lr_reference_batch_size": 8}}}, "lr_scaling='cubic'"),
])
def test_bad_research_specs_fail_before_any_work(tmp_path, change, message):
    spec = {"base": {"output_root": str(tmp_path / "runs")}, "approaches": ["english"],
            "intermediates": ["mnli"], "targets": ["xnli"], "seeds": [1]}
    for key, value in change.items():
        spec[key] = {**spec[key], **value} if key == "base" else value
    if "corpora" not in json.dumps(change):  # a valid corpus for the specs that name one
        spec["base"]["data"] = {"corpora": [{"name": "biotext", "domain": "bio", "use": "mlm",
                                             "source": str(write_corpus(tmp_path / "bio")), "languages": ["en"]}]}
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=message):
        load_grid(path)
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------------------------
# Slow: every axis run for real on tiny models, and the report's comparisons.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def research_grid(tmp_path_factory):
    from tests.fixtures.tiny_models import save_tiny_model

    tmp = tmp_path_factory.mktemp("research")
    models = {"small": str(save_tiny_model(tmp / "small")),
              "wide": str(save_tiny_model(tmp / "wide", hidden_size=48, intermediate_size=96))}
    data = write_family_data(write_mnli_fixture(tmp / "data"))
    spec = research_spec(tmp / "g.yaml", tmp / "runs", models, data, write_corpus(tmp / "bio"))
    proc = run_phase("grid", [f"spec={spec}"], tmp / "cache", ranks=0, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return {"exp": tmp / "runs" / "axes", "log": proc.stdout, "models": models}


def _results(exp: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(exp)): json.loads(p.read_text()) for p in exp.glob("*/*/*/seed*/results.json")}


@pytest.mark.slow
def test_every_axis_runs_and_is_recorded(research_grid):
    exp = research_grid["exp"]
    results = _results(exp)
    assert len(results) == 4 * 5
    assert "grid summary: 36 ran" in research_grid["log"]
    chain = json.loads((exp / "english" / "mnli-then-squad@wide.b8" / "stage.json").read_text())
    assert chain["stages"] == [["mnli"], ["squad"]]
    assert chain["starts_from"] == str(exp / "english" / "mnli@wide.b8" / "encoder")
    for where, r in results.items():
        assert r["variant"] == dict(zip(("model", "batch"), where.split("/")[1].split("@")[1].split(".")))
        batch = int(r["variant"]["batch"][1:])
        assert r["training"] == {"train_batch_size": batch, "learning_rate": pytest.approx(LR * math.sqrt(batch / 4)),
                                 "lr_scaling": "sqrt"}
        if r["intermediate"] == "mnli+biotext":
            assert r["corpora"] == [{"name": "biotext", "domain": "biomedical", "use": "mlm", "share": 0.3}]
        elif r["approach"] == "english":
            assert r["corpora"] == []


@pytest.mark.slow
def test_report_shows_each_axis_comparison(research_grid):
    exp = research_grid["exp"]
    report = json.loads((exp / "report" / "report.json").read_text())
    rows = {r["name"]: r for r in report["rows"]}
    results = _results(exp)
    for where, r in results.items():  # the main table's numbers are the results.json scores
        approach, folder = where.split("/")[:2]
        name = ("none" if approach == "none" else f"{approach}/{r['intermediate']}") + "@" + folder.split("@")[1]
        assert rows[name]["cells"]["xnli"]["mean"] == pytest.approx(r["score"])
        base = results[f"none/none@{folder.split('@')[1]}/xnli/seed1"]["score"]
        assert rows[name]["cells"]["xnli"]["delta"] == (None if approach == "none" else pytest.approx(r["score"] - base))

    comp = report["comparisons"]
    axes = {a["axis"]: a for a in comp["axes"]}
    assert axes["model"]["values"] == ["small", "wide"] and axes["batch"]["values"] == ["b4", "b8"]
    # Encoder scale: each value's encoder size (heads left out) heads its column.
    sizes = {label: results[f"english/mnli@{label}.b4/xnli/seed1"]["params"] for label in ("small", "wide")}
    assert axes["model"]["params"] == {k: v["total"] - v["heads"] for k, v in sizes.items()}
    assert sizes["wide"]["non_embedding"] > sizes["small"]["non_embedding"]
    by_model = axes["model"]["rows"]["english/mnli+squad@b4"]
    assert by_model["wide"]["average"] == pytest.approx(rows["english/mnli+squad@wide.b4"]["cells"]["average"]["mean"])
    seq = {(p["sequential"], p["multitask"]): p for p in comp["sequential_vs_multitask"]}
    assert len(seq) == 4
    pair = seq[("english/mnli-then-squad@small.b8", "english/mnli+squad@small.b8")]
    assert pair["difference"]["xnli"] == pytest.approx(
        rows["english/mnli-then-squad@small.b8"]["cells"]["xnli"]["mean"]
        - rows["english/mnli+squad@small.b8"]["cells"]["xnli"]["mean"])
    domain = {d["row"]: d for d in comp["domain"]}
    assert set(domain) == {f"english/mnli+biotext@{v}" for v in ("small.b4", "small.b8", "wide.b4", "wide.b8")}
    d = domain["english/mnli+biotext@wide.b4"]
    assert d["without"] == "english/mnli@wide.b4" and d["domains"] == ["biomedical"]
    assert d["delta_vs_without"] == pytest.approx(
        rows["english/mnli+biotext@wide.b4"]["cells"]["average"]["mean"] - rows["english/mnli@wide.b4"]["cells"]["average"]["mean"])
    # Inference cost: every row's model was timed in the grid's interleaved comparison, and the
    # table carries that comparison's numbers (inference_cost.json).
    cost = {e["name"]: e for e in report["inference_cost"]}
    assert set(cost) == set(rows)
    timed = json.loads((exp / "inference_cost.json").read_text())["xnli"]["models"]["english/mnli-then-squad@small.b8"]
    assert cost["english/mnli-then-squad@small.b8"]["latency_p50_ms"] == pytest.approx(timed["latency_p50_ms"]["mean"])
    markdown = (exp / "report" / "report.md").read_text()
    for heading in ("### By model", "### By batch", "### Sequential vs multi-task", "### Domain corpora",
                    "## Inference cost"):
        assert heading in markdown


# ---------------------------------------------------------------------------------------------
# Domain task data, machine-translated (real Apertium where installed).
# ---------------------------------------------------------------------------------------------


def test_translated_domain_corpus_joins_the_mix_with_its_own_head(tmp_path, tiny_model_dir):
    import shutil

    import torch

    from baselines.translate.apertium import installed_modes
    from toolkit.approaches import corpora
    from toolkit.approaches.english import build_english
    from toolkit.pipeline.checks import load_config
    from toolkit.runtime.distributed import Dist
    from toolkit.models.encoder import load_tokenizer
    from toolkit.tasks.registry import get_task

    if shutil.which("apertium") is None or "eng-spa" not in installed_modes():
        pytest.skip("needs Debian packages apertium and apertium-eng-spa")
    domain = write_mnli_fixture(tmp_path / "med")  # stands in for domain NLI data in MNLI's layout
    data = write_mnli_fixture(tmp_path / "data")
    cfg = load_config([
        f"data.data_dir={data}", f"data.cache_dir={tmp_path / 'cache'}", "data.max_train_examples=6",
        "data.max_eval_examples=4", "intermediate=mnli+mednli", "approach_args.translate_backend=apertium",
    ] + [f"data.corpora=[{{name: mednli, domain: medical, use: translated, task: mnli, source: {domain}, "
         "languages: [es], keep_english: true, share: 0.25}]"])
    dist = Dist(0, 0, 1, torch.device("cpu"))
    tokenizer = load_tokenizer(str(tiny_model_dir))
    specs = {"mnli": get_task("mnli")}
    prepared = corpora.add_corpora(cfg, list(corpora.corpora_of(cfg).values()),
                                   build_english(cfg, specs, tokenizer, dist), tokenizer, dist)
    data_ = prepared.data
    assert list(data_.specs) == ["mnli", "mednli"] and data_.specs["mednli"].labels == get_task("mnli").labels
    assert data_.shares == {"mednli": 0.25} and list(data_.validation) == ["mnli"]
    assert len(data_.train["mednli"]) == 12  # 6 English kept + 6 translated into Spanish
    assert prepared.scalars["data/corpus/mednli/es/examples"] == 6.0
