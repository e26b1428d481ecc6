"""The grid on Slurm (`executor=slurm`): resources and spec checks (fast), then a real Slurm cluster
on localhost (tests/fixtures/slurm.py: munged, MariaDB, slurmdbd, slurmctld, two slurmd) running
small grids on the tiny model (slow):

- grid `s` (english/mnli, then xnli seeds 1 and 2 as one array after it): the intermediate job
  gets the scheduler's signal mid-training, checkpoints, requeues and resumes with the loss
  curve of the local executor's run; seed 2 is scancel'd while it waits, is reported failed,
  and a rerun submits it alone; the targets start only after the intermediate ended; every
  results.json equals the local executor's;
- grid `b`: its intermediate fails (no data), so Slurm cancels the target waiting on it and
  `status` says why; a rerun resubmits both and `grid cancel` cancels them and nothing else;
- grid `n`: one cell on two nodes (n1, n2), its two ranks started by srun.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.fixtures.data import write_mnli_fixture
from tests.fixtures.launch import REPO, job_env, scalars
from tests.fixtures.slurm import missing_slurm, start_cluster
from toolkit.cli import main as cli_main
from toolkit.errors import ConfigError
from toolkit.grid.resources import Resources, resolve, size_class
from toolkit.grid.slurm import cell_resources, grid_status, load_records
from toolkit.grid.spec import load_grid

INTERMEDIATE_STEPS = 100


def write_spec(path: Path, root: Path, model: str, data: Path, experiment: str, **changes) -> Path:
    spec = {
        "base": {
            "experiment": experiment, "output_root": str(root),
            "model": {"name_or_path": model, "max_seq_length": 64},
            "data": {"data_dir": str(data)},
            "train": {"deepspeed_config": "ds_configs/zero2.json", "micro_batch_size": 4, "learning_rate": 3e-3,
                      "warmup_ratio": 0.25, "max_steps": 4, "eval_every": 4, "log_every": 2},
            "eval": {"batch_size": 16},
        },
        "approaches": ["english"],
        "intermediates": ["mnli"],
        "targets": [{"task": "xnli", "languages": ["en", "de"]}],
        "seeds": [1, 2],
        "intermediate_overrides": {"train.max_steps": INTERMEDIATE_STEPS, "train.eval_every": 50},
        # CPU-only jobs sized for the test nodes (2 CPUs each, no memory configured).
        "slurm": {"gpus_per_node": 0, "cpus_per_task": 1, "mem_gb": 0, "time_minutes": 10, "signal_seconds": 60},
    }
    spec.update(changes)
    path.write_text(yaml.safe_dump(spec))
    return path


# ---------------------------------------------------------------------------------------------
# Fast: resources, the spec's slurm settings, the commands' checks.
# ---------------------------------------------------------------------------------------------


def test_resources_defaults_by_size_then_spec_layers():
    assert size_class(21e6).name == "base" and size_class(302e6).name == "large"
    assert size_class(2.8e9).name == "xl" and size_class(10.7e9).name == "xxl"
    large = resolve(302_000_000, "intermediate", [])
    assert (large.nodes, large.gpus_per_node, large.world_size) == (1, 4, 4)
    layers = [{"all": {"partition": "gpu", "sbatch": {"exclusive": True}}, "target": {"time_minutes": 30}},
              {"all": {"gpus_per_node": 2, "sbatch": {"mail-type": "END"}}}]
    target = resolve(302_000_000, "target", layers)
    assert target == Resources(gpus_per_node=2, mem_gb=256, time_minutes=30, partition="gpu",
                               sbatch={"exclusive": True, "mail-type": "END"})
    assert resolve(302_000_000, "intermediate", layers).time_minutes == 720  # `target:` applies to targets only
    cpu = resolve(21e6, "evaluation", [{"all": {"gpus_per_node": 0, "tasks_per_node": 3, "nodes": 2}}])
    assert cpu.ranks_per_node == 3 and cpu.world_size == 6
    with pytest.raises(ConfigError, match="signal_seconds=600 is not shorter than the 10-minute limit"):
        resolve(21e6, "target", [{"all": {"time_minutes": 10, "signal_seconds": 600}}])


@pytest.mark.parametrize("slurm, message", [
    ({"gpu_per_node": 4}, "unknown Slurm setting 'gpu_per_node' (did you mean 'gpus_per_node'"),
    ({"nodes": 0}, "slurm.nodes: expected a whole number >= 1"),
    ({"target": {"time_minutes": "2h"}}, "slurm.target.time_minutes: expected a whole number >= 1"),
    ({"partition": ""}, "slurm.partition: expected a non-empty name"),
    ({"sbatch": {"--exclusive": True}}, "slurm.sbatch: expected a mapping of sbatch flag names without dashes"),
])
def test_bad_slurm_settings_fail_when_the_spec_loads(tmp_path, slurm, message):
    spec = write_spec(tmp_path / "g.yaml", tmp_path / "runs", "embedded", tmp_path / "data", "e", slurm=slurm)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_grid(spec)


def test_cells_carry_phase_dependencies_and_their_resources(tmp_path):
    targets = [{"task": "xnli", "languages": ["en"], "slurm": {"time_minutes": 45}}, "tatoeba"]
    spec = write_spec(tmp_path / "g.yaml", tmp_path / "runs", "FacebookAI/xlm-roberta-large", tmp_path / "data",
                      "e", intermediates=["mnli>squad_v2"], targets=targets, seeds=[1], slurm={"partition": "gpu"},
                      base={"experiment": "e", "output_root": str(tmp_path / "runs"),
                            "config": "configs/xlmr_large/target.yaml"})
    grid = load_grid(spec)
    cells = {c.name: c for c in grid.cells}
    first, chain = cells["english/mnli"], cells["english/mnli-then-squad_v2"]
    assert first.depends_on is None and chain.depends_on == first.run_dir  # a chain waits for its prefix
    xnli, tatoeba = cells["english/mnli-then-squad_v2/xnli/seed1"], cells["english/mnli-then-squad_v2/tatoeba/seed1"]
    assert xnli.depends_on == tatoeba.depends_on == chain.run_dir
    assert (first.phase, xnli.phase, tatoeba.phase) == ("intermediate", "target", "evaluation")
    # XLM-R Large defaults, then the spec's partition and the target's own time limit.
    assert cell_resources(xnli) == Resources(gpus_per_node=4, mem_gb=256, time_minutes=45, partition="gpu")
    assert cell_resources(tatoeba).gpus_per_node == 1 and cell_resources(first).time_minutes == 720
    # The batch arithmetic of each cell is checked for the world size it will get.
    grid = load_grid(spec, ["train.train_batch_size=12"])
    with pytest.raises(ConfigError, match=r"english/mnli on 1 node\(s\) x 4 rank\(s\): train.train_batch_size=12"):
        cell_resources(grid.cells[0])


def test_status_before_anything_was_submitted_and_a_mistyped_executor(tmp_path, capsys):
    spec = write_spec(tmp_path / "g.yaml", tmp_path / "runs", "embedded", tmp_path / "data", "e")
    grid = load_grid(spec)
    text = grid_status(grid)  # nothing recorded: no Slurm command is needed
    assert text.splitlines()[0].split() == ["english/mnli", "not", "submitted"]
    assert "3 cells: 3 not submitted" in text and "0.00 GPU-hours" in text
    assert cli_main(["grid", f"spec={spec}", "executor=slrum"]) == 2
    assert "unknown executor 'slrum' (did you mean 'slurm'?)" in capsys.readouterr().err


def test_preemption_signal_is_agreed_only_once_installed():
    import signal

    import torch

    from toolkit.engine import preemption
    from toolkit.runtime.distributed import Dist

    dist = Dist(0, 0, 1, torch.device("cpu"))
    saved, handler = dict(preemption._state), signal.getsignal(signal.SIGUSR2)
    try:
        preemption._state.update(installed=False, received=False)
        assert not preemption.requested(dist)
        preemption.install(signal.SIGUSR2)
        assert not preemption.requested(dist)
        signal.raise_signal(signal.SIGUSR2)  # the process lives on: the handler only sets the flag
        assert preemption.requested(dist)
    finally:
        preemption._state.update(saved)
        signal.signal(signal.SIGUSR2, handler)


# ---------------------------------------------------------------------------------------------
# Slow: a real cluster.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = missing_slurm()
    if missing:
        pytest.skip(missing)
    try:
        running = start_cluster(tmp_path_factory.mktemp("slurm"))
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        pytest.skip(f"cannot start the local Slurm cluster: {err}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", running.env["SLURM_CONF"])  # for submitit's sbatch/sacct/scancel
        yield running
    running.stop()


def _until(what: str, ok, timeout: float = 240, cluster=None):
    deadline = time.time() + timeout
    while True:
        value = ok()
        if value:
            return value
        if time.time() > deadline:
            queue = cluster.run("squeue", check=False).stdout if cluster else ""
            raise AssertionError(f"{what} within {timeout} s\n{queue}")
        time.sleep(0.5)


def _grid(*args: str) -> str:
    """`python -m toolkit grid ...` in this process (no second start-up); its stdout."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main(["grid", *args])
    assert status == 0, err.getvalue()[-3000:]
    return out.getvalue()


def _sacct(cluster, jobs: list[str], fields: str) -> list[dict]:
    out = cluster.run("sacct", "-X", "-D", "--parsable2", "-o", f"JobID,{fields}", "-j", ",".join(jobs)).stdout
    lines = out.splitlines()
    return [dict(zip(lines[0].split("|"), line.split("|"))) for line in lines[1:]]


def _log(record: dict, rank: int = 0, kind: str = "err") -> str:
    path = Path(record["logs"]) / f"{record['job']}_{rank}_log.{kind}"
    return path.read_text(errors="replace") if path.is_file() else ""


@pytest.fixture(scope="module")
def flow(cluster, tiny_model_dir, tmp_path_factory):
    """Run grids s, b and n on the cluster (and grid s with the local executor); what they left."""
    tmp = tmp_path_factory.mktemp("grids")
    data = write_mnli_fixture(tmp / "data")
    cache = tmp / "cache"
    env = job_env(cache)
    spec = write_spec(tmp / "s.yaml", tmp / "runs", str(tiny_model_dir), data, "s")
    broken = write_spec(tmp / "b.yaml", tmp / "runs", str(tiny_model_dir), data, "b", intermediates=["cosmosqa"],
                        seeds=[1])
    two_nodes = write_spec(tmp / "n.yaml", tmp / "runs", str(tiny_model_dir), data, "n", approaches=["none"],
                           targets=[{"task": "xnli", "languages": ["en"]}], seeds=[1])
    spec_n = yaml.safe_load(two_nodes.read_text())
    spec_n["slurm"]["target"] = {"nodes": 2}
    two_nodes.write_text(yaml.safe_dump(spec_n))
    seen: dict = {"tmp": tmp}
    with pytest.MonkeyPatch.context() as patch:
        for key in ("XSTILTS_CACHE", "OMP_NUM_THREADS", "TOKENIZERS_PARALLELISM", "PYTHONUNBUFFERED"):
            patch.setenv(key, env[key])  # the jobs inherit the submitter's environment
        # The local executor's run of grid s, in its own output root, while the cluster works.
        local = subprocess.Popen([sys.executable, "-m", "toolkit", "grid", f"spec={spec}", f"output_root={tmp / 'local'}"],
                                 cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen["submit"] = _grid(f"spec={spec}", "executor=slurm")
        grid = load_grid(spec)
        first = load_records(grid)
        seen["first"] = first
        # seed 2 is killed while it waits for the intermediate; a rerun submits it alone, after
        # the intermediate's job, which is still queued or running.
        cluster.run("scancel", first["english/mnli/xnli/seed2"]["job"])
        seen["status_cancelled"] = _grid("status", f"spec={spec}")
        seen["rerun"] = _grid(f"spec={spec}", "executor=slurm")
        seen["second"] = load_records(grid)
        _grid(f"spec={broken}", "executor=slurm")
        _grid(f"spec={two_nodes}", "executor=slurm")

        # The scheduler's warning signal once the intermediate trains; Slurm holds a requeued job
        # for about two minutes (BeginTime), which the test does not wait out.
        inter = first["english/mnli"]
        _until("the intermediate job training", lambda: "train mnli:" in _log(inter), cluster=cluster)
        seen["status_training"] = _grid("status", f"spec={spec}")
        cluster.run("scancel", "--signal=USR2", inter["job"])
        _until("the requeued intermediate job pending", lambda: "BeginTime" in cluster.run(
            "squeue", "-h", "-j", inter["job"], "-o", "%r", check=False).stdout, cluster=cluster)
        cluster.run("scontrol", "update", f"JobId={inter['job']}", "StartTime=now")

        # Grid b: the intermediate fails, Slurm cancels its target; then rerun and cancel it.
        grid_b = load_grid(broken)
        _until("grid b's target cancelled", lambda: "CANCELLED" in grid_status(grid_b), cluster=cluster)
        seen["status_b"] = grid_status(grid_b)
        seen["rerun_b"] = _grid(f"spec={broken}", "executor=slurm")
        seen["records_b"] = load_records(grid_b)
        seen["cancel_b"] = _grid("cancel", f"spec={broken}")

        grid_n = load_grid(two_nodes)
        # The run script takes the same arguments (checked while the jobs finish).
        script = subprocess.Popen(["bash", "run_scripts/grid.sh", "status", f"spec={spec}"], cwd=REPO,
                                  env={**env, "SLURM_CONF": cluster.env["SLURM_CONF"]}, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        _until("grid b's jobs out of the queue", lambda: not set(r["job"] for r in seen["records_b"].values()) & set(
            cluster.run("squeue", "-h", "-o", "%i").stdout.split()), cluster=cluster)
        seen["status_b_cancelled"] = grid_status(grid_b)
        _until("every cell of grids s and n DONE", lambda: all(
            (c.run_dir / "DONE").exists() for c in grid.cells + grid_n.cells), timeout=300, cluster=cluster)
        seen["status_final"] = _grid("status", f"spec={spec}")
        seen["records_n"] = load_records(grid_n)
        seen["script"] = script.communicate(timeout=300)
        seen["local"] = local.communicate(timeout=600)[0]
        assert local.returncode == 0, seen["local"][-3000:]
    seen.update(grid=grid, grid_n=grid_n, cluster=cluster)
    return seen


@pytest.mark.slow
def test_targets_wait_for_their_intermediate(flow):
    first = flow["first"]
    inter, seed1 = first["english/mnli"], first["english/mnli/xnli/seed1"]
    assert seed1["after"] == inter["job"] and seed1["job"].endswith("_0")  # one array for the seeds
    assert f"{seed1['job']}  english/mnli/xnli/seed1  (after {inter['job']})" in flow["submit"]
    assert re.search(r"english/mnli/xnli/seed1\s+queued\s+job \S+\s+waiting for english/mnli", flow["status_training"])
    seed2 = flow["second"]["english/mnli/xnli/seed2"]
    rows = _sacct(flow["cluster"], [inter["job"], seed1["job"].split("_")[0], seed2["job"]], "State,Start,End")
    ended = max(r["End"] for r in rows if r["JobID"] == inter["job"])  # the last attempt, after the requeue
    assert [r["State"] for r in rows if r["JobID"] == inter["job"]] == ["REQUEUED", "COMPLETED"]
    for job in (seed1["job"], seed2["job"]):
        started = next(r["Start"] for r in rows if r["JobID"] == job)
        assert started >= ended, rows


@pytest.mark.slow
def test_requeued_intermediate_resumes_with_the_local_loss_curve(flow):
    inter = flow["first"]["english/mnli"]
    out = _log(inter, kind="out")
    stop = re.search(r"english/mnli: stopped at step (\d+) on the scheduler's signal; checkpoint (\S+); "
                     r"requeueing job", out)
    assert stop, out[-3000:]
    step = int(stop.group(1))
    assert 0 < step < INTERMEDIATE_STEPS and step % 2 == 0  # at a logging step, before the end
    assert f"resumed from {stop.group(2)} at step {step}/{INTERMEDIATE_STEPS}" in out
    run = "s/english/mnli/tb"
    slurm, local = scalars(flow["tmp"] / "runs" / run)["train/loss"], scalars(flow["tmp"] / "local" / run)["train/loss"]
    assert [s for s, _ in slurm] == [s for s, _ in local] == list(range(2, INTERMEDIATE_STEPS + 1, 2))
    # The same curve, before and after the requeue. Bit-exact on some CPUs; on an AVX-512 EPYC the
    # resumed steps differed in fp32's last bits (0.9380764961 vs 0.9380764365 at step 58).
    assert [loss for _, loss in slurm] == pytest.approx([loss for _, loss in local], rel=1e-6, abs=0)


@pytest.mark.slow
def test_scancelled_cell_is_reported_failed_and_resubmitted_alone(flow):
    status = flow["status_cancelled"]
    # Out of the queue; accounting may not have caught up with the cancellation yet.
    assert re.search(r"english/mnli/xnli/seed2\s+failed\s+job \S+\s+(not in squeue or sacct \(cancelled before "
                     r"it started\)|ENDED)", status), status
    assert re.search(r"english/mnli/xnli/seed1\s+queued\s+job \S+\s+waiting for english/mnli", status), status
    assert "submitted 1 cell(s) to Slurm; 0 done, 2 already queued or running" in flow["rerun"]
    first, second = flow["first"], flow["second"]
    for name in ("english/mnli", "english/mnli/xnli/seed1"):
        assert second[name] == first[name], name
    again = second["english/mnli/xnli/seed2"]
    assert again["earlier"] == [first["english/mnli/xnli/seed2"]["job"]]
    assert again["after"] == first["english/mnli"]["job"]  # the intermediate's job, still alive
    final = flow["status_final"]
    assert "3 cells: 3 done" in final and "GPU-hours" in final
    out, err = flow["script"]  # `bash run_scripts/grid.sh status spec=...` while the jobs ran
    assert "english/mnli/xnli/seed2" in out and "3 cells: " in out, err[-3000:]


@pytest.mark.slow
def test_results_equal_the_local_executors(flow):
    for cell in flow["grid"].cells:
        if cell.kind != "target":
            continue
        local = flow["tmp"] / "local" / cell.run_dir.relative_to(flow["tmp"] / "runs")
        slurm, here = (json.loads((d / "results.json").read_text()) for d in (cell.run_dir, local))
        assert slurm.pop("efficiency") and here.pop("efficiency")  # latencies: wall-clock measurements
        assert slurm == here, cell.name


@pytest.mark.slow
def test_failed_parent_cancels_its_target_and_cancel_touches_only_its_grid(flow):
    status = flow["status_b"]
    assert re.search(r"english/cosmosqa\s+failed\s+job (\d+)\s+FAILED: .+\(log: .+FAILED\)", status), status
    parent = re.search(r"english/cosmosqa\s+failed\s+job (\d+)", status).group(1)
    assert f"CANCELLED: its parent english/cosmosqa (job {parent}) failed" in status
    records = flow["records_b"]
    assert records["english/cosmosqa/xnli/seed1"]["after"] == records["english/cosmosqa"]["job"]  # the new job
    jobs = sorted(r["job"] for r in records.values())
    assert flow["cancel_b"].strip().endswith(f"cancelled 2 job(s) of {flow['tmp'] / 'b.yaml'}: {' '.join(jobs)}")
    assert re.search(r"english/cosmosqa\s+failed\s+job \d+\s+CANCELLED", flow["status_b_cancelled"])
    # grid s's and grid n's jobs were left alone: they finished.
    assert all((c.run_dir / "DONE").exists() for c in flow["grid"].cells + flow["grid_n"].cells)


@pytest.mark.slow
@pytest.mark.distributed
def test_two_node_cell_runs_one_rank_per_node(flow):
    record = flow["records_n"]["none/none/xnli/seed1"]
    rows = _sacct(flow["cluster"], [record["job"]], "State,NodeList,NNodes")
    assert rows[-1]["State"] == "COMPLETED" and rows[-1]["NodeList"] == "n[1-2]" and rows[-1]["NNodes"] == "2"
    for rank in (0, 1):  # one log pair per rank, both in the world of two
        assert "Rank {} is connected to 1 peer ranks".format(rank) in _log(record, rank, "out") + _log(record, rank)
    result = json.loads((flow["grid_n"].cells[0].run_dir / "results.json").read_text())
    assert set(result["metrics"]) == {"en"}
