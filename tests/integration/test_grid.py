"""The experiment grid: spec checking and plan (fast), and a 2 x 2 x 2 x 2 grid through the real
launcher (`deepspeed --num_gpus 2 run_scripts/grid.sh spec=...`) that is killed, rerun, has a
failing cell, and is then read back through a running TensorBoard's HTTP endpoints (slow).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.fixtures.data import write_mnli_fixture
from tests.fixtures.families import write_family_data
from tests.fixtures.launch import REPO, free_port, kill_job, start_phase, wait_for
from toolkit.errors import ConfigError
from toolkit.grid.plan import cell_compute, encoder_params, plan
from toolkit.grid.runner import cell_status
from toolkit.grid.spec import load_grid

APPROACHES = ["english", "none"]
INTERMEDIATES = ["mnli", "cosmosqa"]
TARGETS = ["xnli", "udpos"]
SEEDS = [1, 2]


def write_spec(path: Path, root: Path, model: str, data: Path, **changes) -> Path:
    spec = {
        "base": {
            "experiment": "g", "output_root": str(root),
            "model": {"name_or_path": model, "max_seq_length": 64},
            "data": {"data_dir": str(data)},
            "train": {"deepspeed_config": "ds_configs/zero2.json", "micro_batch_size": 4,
                      "learning_rate": 3e-3, "warmup_ratio": 0.25, "max_steps": 4, "eval_every": 4, "log_every": 2},
            "eval": {"batch_size": 16},
        },
        "approaches": APPROACHES,
        "intermediates": INTERMEDIATES,
        "targets": [{"task": "xnli", "languages": ["en", "de"]}, {"task": "udpos", "languages": ["en", "de"]}],
        "seeds": SEEDS,
        "intermediate_overrides": {"train.max_steps": 16},
    }
    spec.update(changes)
    path.write_text(yaml.safe_dump(spec))
    return path


# ---------------------------------------------------------------------------------------------
# Fast: the spec, the cells, the plan.
# ---------------------------------------------------------------------------------------------


def test_cells_order_configs_and_overrides(tmp_path):
    spec = write_spec(tmp_path / "g.yaml", tmp_path / "runs", "embedded", tmp_path / "data")
    grid = load_grid(spec, ["train.learning_rate=1e-3"])
    names = [c.name for c in grid.cells]
    assert len(names) == 2 * (1 + 4) + 4  # none has no intermediate run and one row
    assert names[:6] == ["english/mnli", "english/mnli/xnli/seed1", "english/mnli/xnli/seed2",
                         "english/mnli/udpos/seed1", "english/mnli/udpos/seed2", "english/cosmosqa"]
    assert names[-1] == "none/none/udpos/seed2"
    inter, target = grid.cells[0], grid.cells[1]
    assert inter.cfg.train.max_steps == 16 and target.cfg.train.max_steps == 4  # per-phase overrides
    assert target.cfg.train.learning_rate == 1e-3  # the command line applies to every cell
    assert target.cfg.eval.languages == ["en", "de"] and target.cfg.seed == 1
    assert target.run_dir == tmp_path / "runs" / "g" / "english" / "mnli" / "xnli" / "seed1"
    assert target.depends_on == inter.run_dir and grid.cells[-1].depends_on is None
    assert grid.experiment_dir == tmp_path / "runs" / "g"


@pytest.mark.parametrize("change, message", [
    ({"approachs": ["none"]}, "unknown grid key 'approachs' (did you mean 'approaches'?)"),
    ({"approaches": ["englsh"]}, "unknown approach 'englsh' (did you mean 'english'?)"),
    ({"intermediates": ["mnli+cosmoqa"]}, "unknown task 'cosmoqa' (did you mean 'cosmosqa'"),
    ({"targets": ["xnlli"]}, "unknown task 'xnlli' (did you mean 'xnli'"),
    ({"targets": ["mnli"]}, "'mnli' is not an XTREME target task"),
    ({"targets": [{"task": "xnli", "langs": ["de"]}]}, "unknown key 'langs'"),
    ({"targets": [{"task": "xnli", "overrides": {"train.lerning_rate": 1}}]}, "'train.lerning_rate'"),
    ({"target_overrides": {"seed": 3}}, "seed cannot be overridden"),
    ({"seeds": ["one"]}, "must be distinct integers, got ['one']"),
    ({"seeds": [1, 1]}, "must be distinct integers, got [1, 1]"),
    ({"seeds": {"nnone": [1]}}, "seeds as a mapping must list each of the grid's approaches"),
])
def test_bad_specs_fail_before_any_work(tmp_path, change, message):
    spec = write_spec(tmp_path / "g.yaml", tmp_path / "runs", "embedded", tmp_path / "data", **change)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_grid(spec)
    assert not (tmp_path / "runs").exists()


def test_shipped_grids_load(tmp_path, monkeypatch):
    paper = load_grid(REPO / "configs" / "grids" / "paper.yaml", [f"output_root={tmp_path}"])
    targets = [c for c in paper.cells if c.kind == "target"]
    # english and mlm: 10 sets, translated: 9 (no CCG), none: 1 row; 9 targets x 3 seeds each.
    # 7 trained targets x 3 seeds, plus BUCC and Tatoeba once (not trained: every seed gives the same)
    assert len(targets) == (10 + 10 + 9 + 1) * (7 * 3 + 2)
    assert sum(c.kind == "intermediate" for c in paper.cells) == 29
    chains = load_grid(REPO / "configs" / "grids" / "chains.yaml", [f"output_root={tmp_path}"])
    # mnli and squad_v2 are trained once each, though both chains start from one of them.
    assert [c.name for c in chains.cells if c.kind == "intermediate"] == [
        "english/mnli", "english/squad_v2", "english/mnli+squad_v2", "english/mnli-then-squad_v2",
        "english/squad_v2-then-mnli"]
    batch = load_grid(REPO / "configs" / "grids" / "batch.yaml", [f"output_root={tmp_path}"])
    sizes = {c.cfg.variant["batch"]: c.cfg.train.train_batch_size for c in batch.cells}
    assert sizes == {"b32": 32, "b128": 128, "b512": 512}
    scale = load_grid(REPO / "configs" / "grids" / "scale.yaml", [f"output_root={tmp_path}"])
    models = {c.cfg.variant["model"]: c.cfg.model.name_or_path for c in scale.cells}
    assert models["xlmr-xxl"] == "facebook/xlm-roberta-xxl" and len(models) == 5
    plan(scale)  # every encoder's compute is known without a download
    # The demo's MLM corpus is made by `xstilts demo-data` (relative to the working folder).
    from toolkit.demo import prepare_demo_data

    monkeypatch.chdir(tmp_path)
    prepare_demo_data(tmp_path / "runs" / "demo" / "data")
    demo = load_grid(REPO / "configs" / "grids" / "demo.yaml", [f"output_root={tmp_path}"])
    targets = ["udpos", "xquad", "tatoeba"]
    assert [c.name for c in demo.cells] == [
        *(name for row in ("english/squad", "mlm/squad", "translated/squad-tr.es")
          for name in [row] + [f"{row}/{t}/seed1" for t in targets]),
        # the control runs two seeds; Tatoeba is not trained, so it runs once
        "none/none/udpos/seed1", "none/none/udpos/seed2", "none/none/xquad/seed1", "none/none/xquad/seed2",
        "none/none/tatoeba/seed1"]


def test_plan_compute_estimates(tmp_path):
    paper = load_grid(REPO / "configs" / "grids" / "paper.yaml", [f"output_root={tmp_path}"])
    params = encoder_params("FacebookAI/xlm-roberta-large")
    # Per layer: attention q,k,v,o (4h^2+4h), feed-forward (2*h*ff+ff+h), two LayerNorms (4h);
    # plus the embeddings' LayerNorm (2h). ~302M non-embedding.
    assert params == 24 * (4 * 1024**2 + 2 * 1024 * 4096 + 4096 + 9 * 1024) + 2 * 1024
    # Architectures beyond XLM-R's: pre-LN XLM-R XL, grouped-query attention with a gated MLP.
    h, ff = 2560, 10240
    assert encoder_params("facebook/xlm-roberta-xl") == 36 * (4 * h * h + 2 * h * ff + ff + 9 * h) + 2 * h
    h, ff, kv = 2048, 8192, 8 * 64  # Llama 3.2 1B: 8 key/value heads of 64, SwiGLU, RMSNorm
    assert encoder_params("meta-llama/Llama-3.2-1B") == 16 * (2 * h * h + 2 * h * kv + 3 * h * ff + 2 * h) + h
    mnli = next(c for c in paper.cells if c.name == "english/mnli")
    c = cell_compute(mnli)
    assert c["train_tokens"] == 392_702 * 2 * 64  # train size x 2 epochs x 64 tokens (pair task)
    assert c["flops"] == 6 * params * c["train_tokens"]
    xnli = next(c for c in paper.cells if c.name == "none/none/xnli/seed1")
    c = cell_compute(xnli)  # trained on MNLI for 3 epochs, scored on 15 languages x 5010
    assert c["train_tokens"] == 392_702 * 3 * 64 and c["eval_tokens"] == 2 * 15 * 5010 * 64  # test + dev
    assert c["flops"] == 6 * params * c["train_tokens"] + 2 * params * c["eval_tokens"]
    (xnli.run_dir).mkdir(parents=True)
    (xnli.run_dir / "DONE").write_text("")
    text = plan(paper, peak_tflops=100, mfu=0.5)
    assert cell_status(xnli) == "done"
    line = next(l for l in text.splitlines() if l.startswith("none/none/xnli/seed1 "))
    assert line.split()[1] == "done"
    hours = c["flops"] / 50e12 / 3600
    assert float(line.split()[-1]) == pytest.approx(hours, rel=1e-2)
    assert f"{len(paper.cells)} cells (1 done)" in text
    assert "100 TFLOP/s peak per GPU at 50% utilisation" in text


def test_plan_counts_local_data(tmp_path, mnli_fixture_dir):
    spec = write_spec(tmp_path / "g.yaml", tmp_path / "runs", "embedded", mnli_fixture_dir)
    grid = load_grid(spec, ["train.max_steps=-1", "train.num_epochs=2"])
    inter = cell_compute(grid.cells[0])  # english/mnli: the fixture's 240 training examples
    assert inter["data"] == "local" and inter["train_tokens"] == 240 * 2 * 64
    xnli = cell_compute(grid.cells[1])  # trained on MNLI, scored on 36 XNLI examples in en and de
    assert xnli["data"] == "local" and xnli["eval_tokens"] == 2 * 2 * 36 * 64  # test + dev, 2 languages
    udpos = cell_compute(grid.cells[3])  # no udpos folder: the stated sizes
    assert udpos["data"] == "stated" and udpos["train_tokens"] == 21_253 * 2 * 48


def test_plan_command(tmp_path):
    spec = write_spec(tmp_path / "g.yaml", tmp_path / "runs", "embedded", tmp_path / "data")
    out = subprocess.run([sys.executable, "-m", "toolkit", "plan", f"spec={spec}", "plan.mfu=0.5"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "english/cosmosqa/udpos/seed2" in out.stdout and "14 cells (0 done)" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "toolkit", "plan", f"spec={spec}", "plan.mfo=0.5"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "plan.mfu" in bad.stderr


def test_run_grid_isolates_failures_and_skips_done_cells(tmp_path, monkeypatch, capsys):
    """The runner's bookkeeping, in-process with stand-in phases (the launched test runs real ones)."""
    import torch
    from transformers.integrations import HfDeepSpeedConfig
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    from toolkit.grid import runner
    from toolkit.grid.runner import run_grid
    from toolkit.pipeline import run_dirs
    from toolkit.runtime import distributed
    from toolkit.models import encoder

    calls, broken = [], {"cosmosqa"}

    def fake_intermediate(cfg):
        calls.append(("intermediate", cfg.intermediate))
        if cfg.intermediate in broken:
            raise RuntimeError("cosmosqa exploded")
        run_dirs.intermediate_dir(cfg).mkdir(parents=True, exist_ok=True)
        (run_dirs.intermediate_dir(cfg) / "DONE").write_text("")
        # As a ZeRO-3 cell leaves it: transformers' global config set (encoder.load_encoder does this).
        encoder._LIVE_DS_CONFIG = HfDeepSpeedConfig({"zero_optimization": {"stage": 3}, "train_batch_size": 1})
        assert is_deepspeed_zero3_enabled()

    def fake_target(cfg):
        calls.append(("target", cfg.approach, cfg.intermediate, cfg.target, cfg.seed))
        # The next cell (ZeRO-2 here) must not load its model partitioned by the previous ZeRO-3 cell.
        assert not is_deepspeed_zero3_enabled() and encoder._LIVE_DS_CONFIG is None
        run = run_dirs.target_dir(cfg)
        run.mkdir(parents=True, exist_ok=True)
        score = 50.0 + cfg.seed + (5 if cfg.approach == "english" else 0)
        (run / "results.json").write_text(json.dumps({
            "task": cfg.target, "approach": cfg.approach, "intermediate": run_dirs.intermediate_name(cfg),
            "seed": cfg.seed, "metrics": {"en": {"accuracy" if cfg.target == "xnli" else "f1": score}},
            "average": {}, "score": score}))
        (run / "DONE").write_text("")

    monkeypatch.setattr(runner, "run_intermediate", fake_intermediate)
    monkeypatch.setattr(runner, "run_target", fake_target)
    monkeypatch.setattr(runner, "init_distributed", lambda *_: distributed.Dist(0, 0, 1, torch.device("cpu")))
    grid = load_grid(write_spec(tmp_path / "g.yaml", tmp_path / "runs", "embedded", tmp_path / "data"))

    outcomes = run_grid(grid)
    results = {o.cell.name: o.result for o in outcomes}
    assert results["english/cosmosqa"] == "failed"
    assert results["english/cosmosqa/xnli/seed1"] == "skipped"  # its intermediate run failed
    assert sum(r == "ran" for r in results.values()) == 1 + 4 + 4
    failed = tmp_path / "runs" / "g" / "english" / "cosmosqa" / "FAILED"
    assert "Traceback" in failed.read_text() and "cosmosqa exploded" in failed.read_text()
    out = capsys.readouterr().out
    assert "grid summary: 1 failed, 9 ran, 4 skipped" in out
    assert "skipped: english/cosmosqa/udpos/seed2: its intermediate run" in out
    # Every cell that ran is listed with its wall time; the stand-in runs have no model to time.
    times = out[out.index("cell wall times"):]
    assert times.count(" s  ") == 10 and "s  english/mnli/xnli/seed1\n" in times
    assert "inference cost xnli: not compared (DataError" in out and "holds no exported model" in out
    report = json.loads((grid.experiment_dir / "report" / "report.json").read_text())
    assert [r["name"] for r in report["rows"]] == ["none", "english/mnli"]
    assert report["rows"][1]["cells"]["xnli"]["delta"] == pytest.approx(5.0)

    # Rerun: finished cells are not run again; the failed one is retried (and now succeeds).
    calls.clear()
    broken.clear()
    outcomes = run_grid(grid)
    assert calls == [("intermediate", "cosmosqa")] + [
        ("target", "english", "cosmosqa", t, s) for t in ("xnli", "udpos") for s in (1, 2)]
    assert not failed.exists()
    assert sum(o.result == "skipped-done" for o in outcomes) == 1 + 4 + 4


# ---------------------------------------------------------------------------------------------
# Slow: the grid through the launcher, killed and rerun; a failing cell; TensorBoard.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_grid(tiny_model_dir, tmp_path_factory):
    """Run the 14-cell grid plus two failing cells with 2 ranks, kill it mid-way, rerun it."""
    tmp = tmp_path_factory.mktemp("grid")
    # A data folder of its own: the session's MNLI fixture is shared and must stay as it is.
    data = write_family_data(write_mnli_fixture(tmp / "data"))
    root = tmp / "runs"
    # pawsx has no folder in the data dir: its cells fail; the rest must finish.
    targets = [{"task": "xnli", "languages": ["en", "de"]}, {"task": "udpos", "languages": ["en", "de"]},
               {"task": "pawsx", "languages": ["en"]}]
    spec = write_spec(tmp / "g.yaml", root, str(tiny_model_dir), data, targets=targets)
    exp = root / "g"
    job = start_phase("grid", [f"spec={spec}"], tmp / "cache", tmp / "first.log")
    # Killed while the second intermediate run trains (after 5 finished target cells' worth).
    wait_for(exp / "english" / "cosmosqa" / "checkpoints" / "latest", job, timeout=600)
    kill_job(job)
    first_done = {p.parent: p.stat().st_mtime_ns for p in exp.glob("*/*/*/seed*/results.json")
                  if (p.parent / "DONE").exists()}
    job = start_phase("grid", [f"spec={spec}"], tmp / "cache", tmp / "second.log")
    rc = job.wait(timeout=900)
    return {"exp": exp, "spec": spec, "rc": rc, "first_done": first_done, "data": data,
            "log": (tmp / "second.log").read_text(), "first_log": (tmp / "first.log").read_text()}


@pytest.mark.slow
@pytest.mark.distributed
def test_grid_killed_and_rerun_finishes_every_cell_once(finished_grid):
    log = finished_grid["log"]
    assert finished_grid["rc"] == 1, log[-4000:]  # the pawsx cells failed
    assert len(finished_grid["first_done"]) >= 4, finished_grid["first_log"][-3000:]
    grid = load_grid(finished_grid["spec"])
    good = [c for c in grid.cells if c.cfg.target != "pawsx" or c.kind == "intermediate"]
    assert len(good) == 14
    for cell in good:
        assert (cell.run_dir / "DONE").exists(), cell.name
        if cell.kind == "target":
            result = json.loads((cell.run_dir / "results.json").read_text())
            assert (result["approach"], result["task"], result["seed"]) == (
                cell.cfg.approach, cell.cfg.target, cell.cfg.seed)
    # No finished cell was trained again: its results.json is the first run's file.
    for run, mtime in finished_grid["first_done"].items():
        assert (run / "results.json").stat().st_mtime_ns == mtime, run
    # The interrupted intermediate run resumed from its checkpoint; finished cells were skipped.
    assert "resumed from" in log
    done_before = len(finished_grid["first_done"]) + 1  # + the english/mnli intermediate run
    for cell in good:
        was_done = cell.run_dir in finished_grid["first_done"] or cell.name == "english/mnli"
        assert (f"{cell.kind} {cell.name}: done\n" in log) == was_done, cell.name
    assert "intermediate english/cosmosqa: partial\n" in log
    assert f"grid summary: 6 failed, {14 - done_before} ran, {done_before} skipped-done" in log


@pytest.mark.slow
@pytest.mark.distributed
def test_failing_cells_are_reported_and_the_rest_finish(finished_grid):
    exp, log = finished_grid["exp"], finished_grid["log"]
    failed = sorted(exp.glob("*/*/pawsx/seed*/FAILED"))
    assert len(failed) == 3 * 2, failed  # three rows x two seeds
    text = failed[0].read_text()
    assert "Traceback" in text and "pawsx" in text
    assert "grid summary:" in log and "6 failed" in log
    assert log.count("  failed: ") == 6 and "english/mnli/pawsx/seed1" in log
    # The report was built from the cells that finished: 3 rows x (xnli, udpos).
    report = json.loads((exp / "report" / "report.json").read_text())
    assert [r["name"] for r in report["rows"]] == ["none", "english/cosmosqa", "english/mnli"]
    assert report["columns"] == ["xnli", "udpos", "average"]
    for row in report["rows"]:
        for task in ("xnli", "udpos"):
            scores = [json.loads((exp / row["approach"] / row["intermediate"] / task / f"seed{s}" /
                                  "results.json").read_text())["score"] for s in SEEDS]
            assert row["cells"][task]["mean"] == pytest.approx(sum(scores) / 2)


def _get(port: int, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


@pytest.mark.slow
@pytest.mark.distributed
def test_tensorboard_serves_the_comparison(finished_grid):
    binary = shutil.which("tensorboard")
    if binary is None:
        pytest.skip("the tensorboard command is not installed")
    exp, port = finished_grid["exp"], free_port()
    server = subprocess.Popen([binary, "--logdir", str(exp), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 90
        while True:  # until TensorBoard answers and has loaded every run
            try:
                tags = _get(port, "/data/plugin/scalars/tags")
                if len(tags) >= 14 + 3:  # the phase runs and the three report rows
                    break
            except OSError:
                pass
            assert server.poll() is None and time.time() < deadline, "tensorboard did not come up"
            time.sleep(1)
        # Runs that overlay approaches: each phase run by its path, plus one run per report row.
        assert "english/mnli/xnli/seed1/tb" in tags and "none/none/xnli/seed2/tb" in tags
        for row in ("english-mnli", "english-cosmosqa", "none"):
            assert {"compare/xnli/score", "compare/udpos/mean"} <= set(tags[f"tb_compare/{row}"])
        assert "eval/xnli/score" in tags["english/cosmosqa/xnli/seed2/tb"]

        layout = _get(port, "/data/plugin/custom_scalars/layout")
        titles = {c["title"]: c for c in layout["category"]}
        assert {"xnli", "udpos", "average"} <= set(titles)
        charts = [ch for ch in titles["xnli"]["chart"]]
        assert any(ch.get("multiline", {}).get("tag") == ["^compare/xnli/score$"] for ch in charts)
        assert any(ch.get("margin", {}).get("series") for ch in charts)

        experiment = _get(port, "/data/plugin/hparams/experiment", {"experimentName": ""})
        hparams = {h["name"] for h in experiment["hparamInfos"]}
        assert {"approach", "intermediate", "target", "seed", "train.learning_rate"} <= hparams
        assert {m["name"]["tag"] for m in experiment["metricInfos"]} == {"hparam/score", "hparam/dev_score", "hparam/validation_score"}
        groups = _get(port, "/data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS"],
            "colParams": [{"hparam": "approach"}], "startIndex": 0, "sliceSize": 100})
        sessions = [s for g in groups["sessionGroups"] for s in g["sessions"]]
        assert len(sessions) == 14  # one row per finished cell: 2 intermediate + 12 target runs
        score = next(s for s in sessions if s["name"] == "english/mnli/xnli/seed1/tb")
        result = json.loads((exp / "english" / "mnli" / "xnli" / "seed1" / "results.json").read_text())
        value = next(m["value"] for m in score["metricValues"] if m["name"]["tag"] == "hparam/score")
        assert value == pytest.approx(result["score"], rel=1e-5)

        text_runs = _get(port, "/data/plugin/text/tags")
        assert "report/text_summary" in text_runs.get("tb_compare/report", [])
    finally:
        kill_job(server)
