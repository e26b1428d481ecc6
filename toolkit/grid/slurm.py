"""The grid on a Slurm cluster, through submitit: one job per cell, `afterok` dependencies, job
arrays, job records, status, cancel, and the job side (ranks, preemption, requeue).

Submitting (`grid spec=... executor=slurm`, on a login node; returns once submitted):
- every cell not DONE and without a live job is submitted: intermediate cells first, each
  target cell with `afterok` on the job of the run it starts from (unless that run is DONE);
  the target cells that share a parent job and resources go out as one job array;
  `--kill-on-invalid-dep=yes` cancels a child whose parent failed instead of leaving it
  pending forever;
- the job id of each cell is recorded in runs/<experiment>/slurm/jobs.json (atomically, under
  a file lock), so a rerun skips cells whose job is queued or running and resubmits only what
  is missing or failed;
- the jobs run this checkout's code: PYTHONPATH starts with its root in every job.

In the job (`run_cell_job`, on every rank, started by srun): rank, world size and the master
address come from the SLURM_* variables (submitit's TorchDistributedEnvironment); the cell runs
as in the local grid. Slurm sends SIGNAL `signal_seconds` before the limit (and a preempting
scheduler sends it too): the training loop checkpoints at its next logging step, rank 0 requeues
the job, and the requeued job resumes from that checkpoint. Logs: runs/<experiment>/slurm/
logs/<job id>/<job id>_<rank>_log.{out,err}, one pair per rank.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from toolkit.config.deepspeed import resolve_batch
from toolkit.engine import preemption
from toolkit.errors import ConfigError
from toolkit.grid.plan import encoder_params
from toolkit.grid.resources import Resources, resolve
from toolkit.grid.runner import attempt_cell
from toolkit.grid.spec import Cell, Grid
from toolkit.io import REPO_ROOT, atomic_write_json
from toolkit.pipeline import run_dirs
from toolkit.runtime.distributed import init_distributed, leave_process_group

# submitit's preemption signal (it writes --signal=USR2@<signal_seconds>); NCCL may use USR1.
SIGNAL = "USR2"

# sacct job states by what the grid does with them; any state not listed counts as failed.
STATE_CLASS = {
    **dict.fromkeys(("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED"),
                    "queued"),
    **dict.fromkeys(("RUNNING", "CONFIGURING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING"), "running"),
    "COMPLETED": "completed",
}
ALIVE = ("queued", "running")
# A job neither sacct nor squeue knows: an array task cancelled before it ever started.
GONE = "GONE"
ENDED = "ENDED (out of the queue; accounting has no final state yet)"


# ---------------------------------------------------------------------------------------------
# Job records and accounting.
# ---------------------------------------------------------------------------------------------


def _records_path(grid: Grid) -> Path:
    return run_dirs.slurm_dir(grid.experiment_dir) / "jobs.json"


def _lock(grid: Grid) -> FileLock:
    """One submitter (or canceller) at a time per experiment: jobs.json is read, changed, rewritten."""
    path = _records_path(grid)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path.with_name(".jobs.lock")))


def load_records(grid: Grid) -> dict[str, dict]:
    """cell name -> {"job", "earlier", "phase", "logs", "after", "submitted"} for every cell ever submitted."""
    path = _records_path(grid)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON ({err}); it records this grid's Slurm jobs") from None


@dataclass(frozen=True)
class JobInfo:
    state: str  # the sacct state's first word (CANCELLED, not "CANCELLED by 0")
    nodes: str
    gpu_hours: float  # over every attempt of the job (requeues included)
    cpu_hours: float


def _tres(alloc: str, key: str) -> int:
    for item in alloc.split(","):
        name, _, value = item.partition("=")
        if name == key and value.isdigit():
            return int(value)
    return 0


def _run(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ConfigError(f"cannot ask Slurm about this grid's jobs ({' '.join(command)}): {err}") from None
    if out.returncode != 0:
        raise ConfigError(f"{command[0]} failed ({out.stderr.strip()}); the Slurm executor needs squeue and job "
                          "accounting (sacct, slurmdbd) to know which cells are queued, running or failed")
    return out.stdout


def query_jobs(job_ids: list[str]) -> dict[str, JobInfo]:
    """State and usage of each job. Only squeue says whether a job is alive: accounting lags behind
    the controller (and an array task cancelled while pending never gets a record of its own).
    A job out of the queue has sacct's final state, or ENDED while accounting still shows it
    alive; a job neither knows is absent. Usage is sacct's, over every attempt."""
    from submitit.slurm.slurm import SlurmInfoWatcher  # parses sacct's array notation (12_[0-3])

    if not job_ids:
        return {}
    queue = {}
    for line in _run(["squeue", "-h", "-r", "-o", "%i|%T|%N"]).splitlines():
        job, state, nodes = (line.split("|") + ["", ""])[:3]
        queue[job] = (state, nodes)
    text = _run(["sacct", "-X", "-D", "--parsable2", "-o", "JobID,State,ElapsedRaw,AllocTRES,NodeList",
                 "-j", ",".join(sorted({j.split("_")[0] for j in job_ids}))])
    hours: dict[str, list[float]] = {}
    lines = text.splitlines()
    for line in lines[1:]:  # every attempt of every job: usage adds up over requeues
        row = dict(zip(lines[0].split("|"), line.split("|")))
        seconds = int(row["ElapsedRaw"] or 0)
        usage = hours.setdefault(row["JobID"], [0.0, 0.0])
        usage[0] += seconds * _tres(row["AllocTRES"], "gres/gpu") / 3600
        usage[1] += seconds * _tres(row["AllocTRES"], "cpu") / 3600
    latest = SlurmInfoWatcher(delay_s=0).read_info(text)  # the last attempt's row wins
    found = {}
    for job in job_ids:
        if job in queue:
            state, nodes = queue[job]
        elif latest.get(job, {}).get("State"):
            state, nodes = latest[job]["State"].split()[0], latest[job].get("NodeList", "")
            if STATE_CLASS.get(state) in ALIVE:  # out of the queue, so accounting is behind
                state = ENDED
        else:
            continue
        found[job] = JobInfo(state, nodes, *hours.get(job, (0.0, 0.0)))
    return found


# ---------------------------------------------------------------------------------------------
# The state of each cell: its run folder first (DONE), then its job.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellState:
    status: str  # done, queued, running, failed, not submitted
    job: str = ""
    detail: str = ""


def _last_error_line(cell: Cell, record: dict) -> tuple[str, str]:
    """(the last line of the cell's error, the file it came from): FAILED, else rank 0's stderr."""
    failed = run_dirs.failed_path(cell.run_dir)
    candidates = [failed] if failed.is_file() else []
    candidates.append(Path(record["logs"]) / f"{record['job']}_0_log.err")
    for path in candidates:
        if path.is_file():
            lines = [l.strip() for l in path.read_text(errors="replace").splitlines() if l.strip()]
            errors = [l for l in lines if "Error" in l or "error" in l] or lines
            if errors:
                return errors[-1][:300], str(path)
    return "", str(candidates[-1])


def cell_states(grid: Grid, records: dict[str, dict], jobs: dict[str, JobInfo]) -> dict[str, CellState]:
    """What each cell is, by its run folder and its recorded job."""
    by_dir = {c.run_dir: c for c in grid.cells}
    states: dict[str, CellState] = {}
    for cell in grid.cells:
        record = records.get(cell.name)
        if run_dirs.is_done(cell.run_dir):
            states[cell.name] = CellState("done", record["job"] if record else "")
            continue
        if record is None:
            started = " (started before: resumes from its checkpoint)" if run_dirs.has_started(cell.run_dir) else ""
            states[cell.name] = CellState("not submitted", detail=started.strip())
            continue
        job = record["job"]
        info = jobs.get(job)
        slurm_state = info.state if info else GONE
        kind = STATE_CLASS.get(slurm_state, "failed")
        if kind == "queued":
            parent = by_dir.get(cell.depends_on)
            waits = record.get("after") and parent is not None and not run_dirs.is_done(parent.run_dir)
            states[cell.name] = CellState("queued", job, f"waiting for {parent.name}" if waits else slurm_state)
        elif kind == "running":
            states[cell.name] = CellState("running", job, f"on {info.nodes}" if info and info.nodes else "")
        else:
            parent = by_dir.get(cell.depends_on)
            parent_state = states.get(parent.name) if parent is not None else None
            if slurm_state == "CANCELLED" and parent_state is not None and parent_state.status == "failed":
                reason = f"its parent {parent.name} (job {parent_state.job}) failed"
                states[cell.name] = CellState("failed", job, f"CANCELLED: {reason}")
                continue
            if slurm_state == GONE:
                states[cell.name] = CellState("failed", job, "not in squeue or sacct (cancelled before it started)")
                continue
            if kind == "completed":
                slurm_state = "COMPLETED without DONE"
            line, source = _last_error_line(cell, record)
            states[cell.name] = CellState("failed", job, f"{slurm_state}: {line or 'no error line'} (log: {source})")
    return states


# ---------------------------------------------------------------------------------------------
# Submitting.
# ---------------------------------------------------------------------------------------------


def cell_resources(cell: Cell) -> Resources:
    """The cell's Slurm request: size defaults, then the spec's settings; its batch arithmetic checked."""
    res = resolve(encoder_params(cell.cfg.model.name_or_path), cell.phase, cell.slurm)
    if cell.phase != "evaluation":
        try:
            resolve_batch(cell.cfg.train, res.world_size)
        except ConfigError as err:
            raise ConfigError(f"cell {cell.name} on {res.nodes} node(s) x {res.ranks_per_node} rank(s): {err}; "
                              "set the spec's slurm: gpus_per_node/nodes to fit, or train.train_batch_size") \
                from None
    return res


def _executor_parameters(res: Resources, name: str, after: str | None) -> dict:
    params = dict(job_name=name, nodes=res.nodes, ntasks_per_node=res.ranks_per_node,
                  cpus_per_task=res.cpus_per_task, time=res.time_minutes, signal_delay_s=res.signal_seconds,
                  # The jobs import this checkout's toolkit, whatever else the environment holds.
                  setup=[f"export PYTHONPATH={REPO_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"],
                  additional_parameters={"kill-on-invalid-dep": "yes", "requeue": True, **res.sbatch})
    if res.gpus_per_node:
        params["gpus_per_node"] = res.gpus_per_node
    if res.mem_gb:
        params["mem"] = f"{res.mem_gb}GB"
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(res, key):
            params[key] = getattr(res, key)
    if after:
        params["dependency"] = f"afterok:{after}"
    return params


def _request(res: Resources) -> str:
    gpus = f"{res.gpus_per_node} GPU(s)" if res.gpus_per_node else "no GPU"
    mem = f", {res.mem_gb} GB" if res.mem_gb else ""
    where = "".join(f", {k} {getattr(res, k)}" for k in ("partition", "account", "qos", "constraint") if getattr(res, k))
    return (f"{res.nodes} node(s) x {gpus}, {res.ranks_per_node} rank(s)/node x {res.cpus_per_task} CPUs{mem}, "
            f"{res.time_minutes // 60}:{res.time_minutes % 60:02d} limit{where}")


def slurm_plan(grid: Grid) -> str:
    """What `executor=slurm` would submit for the cells not DONE: jobs, sbatch calls, arrays,
    and each phase's requests (without asking Slurm which cells are already queued)."""
    todo = [c for c in grid.cells if not run_dirs.is_done(c.run_dir)]
    resources = {c.name: cell_resources(c) for c in todo}
    submissions, arrays = 0, 0
    groups: dict[tuple, int] = {}
    for cell in todo:
        if cell.kind == "target":
            parent = cell.depends_on if cell.depends_on and not run_dirs.is_done(cell.depends_on) else None
            groups[(parent, repr(resources[cell.name]))] = groups.get((parent, repr(resources[cell.name])), 0) + 1
        else:
            submissions += 1
    submissions += len(groups)
    arrays = sum(n > 1 for n in groups.values())
    requests: dict[tuple[str, str], int] = {}
    for cell in todo:
        key = (cell.phase, _request(resources[cell.name]))
        requests[key] = requests.get(key, 0) + 1
    lines = [f"Slurm (executor=slurm): {len(todo)} jobs in {submissions} sbatch submissions ({arrays} job arrays) "
             f"for the {len(todo)} cells not DONE"]
    lines += [f"  {phase:<12} {n:>5} jobs  {request}" for (phase, request), n in sorted(requests.items())]
    return "\n".join(lines)


def submit_grid(grid: Grid) -> int:
    """Submit every cell that is neither DONE nor queued/running; record the job ids. Exit status 0."""
    import submitit  # only the Slurm executor needs it

    resources = {c.name: cell_resources(c) for c in grid.cells}  # every cell checked before any sbatch
    logs = run_dirs.slurm_dir(grid.experiment_dir) / "logs"
    experiment = grid.experiment_dir.name
    with _lock(grid):
        records = load_records(grid)
        states = cell_states(grid, records, query_jobs([r["job"] for r in records.values()]))
        job_of: dict[Path, str] = {c.run_dir: states[c.name].job for c in grid.cells
                                   if states[c.name].status in ALIVE}
        todo = [c for c in grid.cells if states[c.name].status not in ALIVE + ("done",)]
        submitted: list[str] = []

        def record(cell: Cell, job: str, after: str | None) -> None:
            old = records.get(cell.name)
            earlier = (old["earlier"] + [old["job"]]) if old else []
            records[cell.name] = {"job": job, "earlier": earlier, "phase": cell.phase, "logs": str(logs / job),
                                  "after": after, "submitted": time.strftime("%Y-%m-%dT%H:%M:%S")}
            job_of[cell.run_dir] = job
            submitted.append(job)

        try:
            groups: dict[tuple, list[Cell]] = {}
            for cell in todo:  # spec order: a chain's stages and every parent come before their children
                parent = job_of.get(cell.depends_on) if cell.depends_on else None
                if cell.kind == "target":  # siblings with one parent and one request: one job array
                    groups.setdefault((parent, repr(resources[cell.name])), []).append(cell)
                    continue
                executor = submitit.SlurmExecutor(folder=str(logs / "%j"))
                executor.update_parameters(**_executor_parameters(
                    resources[cell.name], f"xstilts-{experiment}-{cell.name}", parent))
                record(cell, executor.submit(run_cell_job, cell).job_id, parent)
            for (parent, _), cells in groups.items():
                executor = submitit.SlurmExecutor(folder=str(logs / "%j"))
                executor.update_parameters(**_executor_parameters(
                    resources[cells[0].name], f"xstilts-{experiment}-{cells[0].name.rsplit('/', 2)[0]}", parent))
                jobs = executor.map_array(run_cell_job, cells) if len(cells) > 1 \
                    else [executor.submit(run_cell_job, cells[0])]
                for cell, job in zip(cells, jobs):
                    record(cell, job.job_id, parent)
        except (OSError, subprocess.SubprocessError, submitit.core.utils.FailedJobError) as err:
            raise ConfigError(f"sbatch failed after {len(submitted)} job(s) were submitted (they are recorded; "
                              f"a rerun submits the rest): {err}") from None
        finally:
            atomic_write_json(_records_path(grid), records)
    alive = sum(states[c.name].status in ALIVE for c in grid.cells)
    done = sum(states[c.name].status == "done" for c in grid.cells)
    print(f"grid: submitted {len(submitted)} cell(s) to Slurm; {done} done, {alive} already queued or running; "
          f"job ids in {_records_path(grid)}", flush=True)
    for cell in todo:
        print(f"  {records[cell.name]['job']:>10}  {cell.name}"
              + (f"  (after {records[cell.name]['after']})" if records[cell.name]["after"] else ""), flush=True)
    print(f"watch it: python -m toolkit grid status spec={grid.spec_path}", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# Status and cancel.
# ---------------------------------------------------------------------------------------------


def grid_status(grid: Grid) -> str:
    """One line per cell, the counts, and the GPU-hours spent so far (every recorded job and attempt)."""
    records = load_records(grid)
    every_job = [j for r in records.values() for j in [r["job"], *r["earlier"]]]
    jobs = query_jobs(every_job)
    states = cell_states(grid, records, jobs)
    width = max(len(c.name) for c in grid.cells)
    lines, counts = [], {}
    for cell in grid.cells:
        s = states[cell.name]
        counts[s.status] = counts.get(s.status, 0) + 1
        job = f"job {s.job}" if s.job else ""
        lines.append(f"{cell.name:<{width}}  {s.status:<13} {job:<12} {s.detail}".rstrip())
    gpu = sum(jobs[j].gpu_hours for j in every_job if j in jobs)
    cpu = sum(jobs[j].cpu_hours for j in every_job if j in jobs)
    lines += ["", f"{len(grid.cells)} cells: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
              f"spent so far (sacct, every attempt): {gpu:.2f} GPU-hours, {cpu:.2f} CPU-hours"]
    return "\n".join(lines)


def cancel_grid(grid: Grid) -> str:
    """scancel this grid's queued and running jobs (no other job is touched)."""
    with _lock(grid):
        records = load_records(grid)
        states = cell_states(grid, records, query_jobs([r["job"] for r in records.values()]))
        alive = sorted({s.job for s in states.values() if s.status in ALIVE and s.job})
        if alive:
            out = subprocess.run(["scancel", *alive], capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise ConfigError(f"scancel {' '.join(alive)} failed: {out.stderr.strip()}")
    return f"grid: cancelled {len(alive)} job(s) of {grid.spec_path}" + (f": {' '.join(alive)}" if alive else "")


# ---------------------------------------------------------------------------------------------
# Inside the job.
# ---------------------------------------------------------------------------------------------


def run_cell_job(cell: Cell) -> str:
    """One rank of a cell's job (srun starts one per rank): join the job's process group, run the
    cell; on the scheduler's signal, checkpoint (in the training loop), requeue and exit."""
    import submitit  # the job side of submitit: its JobEnvironment reads the SLURM_* variables

    dist_env = submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False,
                                                                      overwrite=True)
    # Node names need not resolve as host names (Slurm reaches nodes by NodeAddr): rank 0 runs on
    # the node srun was started from, whose address Slurm gives every task.
    os.environ["MASTER_ADDR"] = os.environ.get("SLURM_LAUNCH_NODE_IPADDR", dist_env.master_addr)
    preemption.install(getattr(signal, f"SIG{SIGNAL}"))
    dist = init_distributed(cell.cfg.train.collective_timeout_minutes)
    try:
        error = attempt_cell(cell, dist)
    except preemption.Preempted as stop:
        if dist.is_main:
            job = submitit.JobEnvironment().job_id
            print(f"{cell.name}: {stop}; requeueing job {job}", flush=True)
            subprocess.run(["scontrol", "requeue", job], check=True, timeout=120)
        leave_process_group()
        sys.exit(0)  # not an exception: submitit must not record a result for a job that goes on
    if error is not None:
        if dist.is_main:
            run_dirs.mark_failed(cell.run_dir, error)
        leave_process_group()
        raise RuntimeError(f"{cell.name} failed: {error.strip().splitlines()[-1]}")
    leave_process_group()
    return f"{cell.name}: done"
