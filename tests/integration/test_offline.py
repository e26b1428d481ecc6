"""The data path of a cluster without internet: `prepare` a grid against the loopback Hub (the
tiny model served as FacebookAI/xlm-roberta-large, the splits in their real schema), then run
the grid's first cell with HF_HUB_OFFLINE=1 while the Hub refuses every connection; an item
that was not prepared fails before any work with a line that names it.

Every command runs in a subprocess, because both Hub clients read HF_HUB_OFFLINE and HF_HOME
once, at import.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.fixtures.hub import hub_environment
from tests.fixtures.hub_sources import serve_registry
from tests.fixtures.launch import REPO, job_env
from tests.fixtures.tiny_models import save_tiny_model
from toolkit.pipeline.checks import load_config
from toolkit.pipeline.inputs import hub_inputs

MODEL = "FacebookAI/xlm-roberta-large"


def _spec(path, root):
    spec = {
        "base": {
            "experiment": "offline", "output_root": str(root),
            "model": {"name_or_path": MODEL, "max_seq_length": 32},
            "train": {"deepspeed_config": "ds_configs/zero2.json", "micro_batch_size": 2, "max_steps": 2,
                      "eval_every": 2, "log_every": 1, "learning_rate": 1e-3},
            "eval": {"batch_size": 8, "efficiency": False},
        },
        "approaches": ["none"],
        "intermediates": ["mnli"],
        "targets": [{"task": "xnli", "languages": ["de"]}],
        "seeds": [1],
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def _run(args: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def prepared(loopback_hub, tmp_path_factory):
    """A grid spec prepared into a fresh HF_HOME: (spec, env online, env offline, prepare output)."""
    tmp = tmp_path_factory.mktemp("offline")
    model_commit = loopback_hub.add_model_folder(MODEL, save_tiny_model(tmp / "tiny"))
    spec = _spec(tmp / "grid.yaml", tmp / "runs")
    cfg = load_config(["approach=none", "target=xnli", "eval.languages=de", f"model.name_or_path={MODEL}"])
    serve_registry(loopback_hub, [s for _, s in hub_inputs(cfg, "target")])
    online = {**job_env(tmp / "cache"), **hub_environment(loopback_hub, tmp / "hf_home")}
    offline = {**online, "HF_HUB_OFFLINE": "1"}
    out = _run(["bash", "run_scripts/prepare.sh", f"spec={spec}"], online)
    assert out.returncode == 0, out.stdout + out.stderr
    return {"spec": spec, "online": online, "offline": offline, "stdout": out.stdout, "root": tmp / "runs",
            "model_commit": model_commit}


def test_prepare_prints_the_manifest(prepared, loopback_hub):
    lines = prepared["stdout"].splitlines()
    for source in ("nyu-mll/glue[mnli]/train@main", "nyu-mll/glue[mnli]/validation_matched@main",
                   "facebook/xnli[de]/test@main", "facebook/xnli[de]/validation@main"):
        commit = loopback_hub.commit("datasets", source.split("[")[0])
        assert any(line.startswith(f"dataset {source}") and f"commit={commit}" in line for line in lines), lines
    assert any(line.startswith(f"model   {MODEL}") and prepared["model_commit"] in line for line in lines), lines
    assert lines[-1] == "prepare: 5 of 5 items ready; the same runs can now run with HF_HUB_OFFLINE=1"


def test_the_prepared_grid_runs_offline(prepared, loopback_hub):
    loopback_hub.offline, before = True, len(loopback_hub.requests)
    try:
        out = _run(["bash", "run_scripts/grid.sh", f"spec={prepared['spec']}"], prepared["offline"])
    finally:
        loopback_hub.offline = False
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert len(loopback_hub.requests) == before, loopback_hub.requests[before:]  # not one request
    results = json.loads(next(prepared["root"].glob("offline/none/none/xnli/seed1/results.json")).read_text())
    prov = results["provenance"]
    assert prov["model"] == {"name_or_path": MODEL, "revision": None, "commit": prepared["model_commit"]}
    read = {(d["dataset"], d["config"], d["split"]): d for d in prov["data"]}
    assert set(read) == {("nyu-mll/glue", "mnli", "train"), ("nyu-mll/glue", "mnli", "validation_matched"),
                         ("facebook/xnli", "de", "test"), ("facebook/xnli", "de", "validation")}
    for (dataset, _, _), entry in read.items():
        assert entry["revision"] == "main" and entry["commit"] == loopback_hub.commit("datasets", dataset)
        assert entry["rows"] == entry["split_rows"] == 3 and len(entry["fingerprint"]) == 16


@pytest.mark.parametrize("override, message", [
    ("eval.languages=fr", "facebook/xnli[fr]/test@main: not in the local Hugging Face cache and HF_HUB_OFFLINE=1"),
    ("model.name_or_path=FacebookAI/xlm-roberta-base",
     "model.name_or_path=FacebookAI/xlm-roberta-base: not in the local Hugging Face cache"),
])
def test_offline_without_the_item_fails_before_any_work(prepared, override, message, tmp_path):
    out = _run([sys.executable, "-m", "toolkit", "target", "approach=none", "target=xnli", "eval.languages=de",
                f"model.name_or_path={MODEL}", f"output_root={tmp_path}", override], prepared["offline"])
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr and "python -m toolkit prepare" in out.stderr
    assert not any(tmp_path.iterdir())  # no run folder, no process group, no training


def test_prepare_reports_each_unusable_item_on_one_line(prepared, tmp_path):
    out = _run([sys.executable, "-m", "toolkit", "prepare", "approach=none", "target=udpos", "eval.languages=th",
                "eval.split=validation", "model.name_or_path=nobody/no-such-model"], prepared["online"])
    assert out.returncode == 1
    missing = [line for line in out.stdout.splitlines() if line.startswith("MISSING")]
    assert len(missing) == 2, out.stdout
    assert "nobody/no-such-model" in missing[0] and "could not download" in missing[0]
    assert "udpos.Thai has no validation split" in missing[1]
