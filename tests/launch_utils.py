"""Launching run scripts the way users do (`deepspeed ... run_scripts/x.sh`) from tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(phase: str, args: list[str], ranks: int) -> list[str]:
    """The literal user command: `deepspeed --num_gpus N run_scripts/<phase>.sh key=value ...`."""
    script = f"run_scripts/{phase}.sh"  # relative: tests run from the repository root, as users do
    if ranks == 0:
        return ["bash", script, *args]
    launcher = [shutil.which("deepspeed") or "deepspeed"]
    return [*launcher, "--num_gpus", str(ranks), "--master_port", str(free_port()), script, *args]


def job_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(XSTILTS_CACHE=str(cache), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    return env


def run_phase(phase: str, args: list[str], cache: Path, ranks: int = 2, timeout: float = 900):
    """Run a phase to completion; returns the CompletedProcess (stdout+stderr in .stdout)."""
    proc = subprocess.run(
        launch_command(phase, args, ranks), cwd=REPO, env=job_env(cache), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{phase} failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
    return proc


def start_phase(phase: str, args: list[str], cache: Path, log: Path, ranks: int = 2):
    """Start a phase in its own process group (so a test can kill the whole job)."""
    handle = open(log, "w")
    return subprocess.Popen(
        launch_command(phase, args, ranks), cwd=REPO, env=job_env(cache), stdout=handle,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


def kill_job(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"job ended (rc={proc.returncode}) before {path} appeared")
        if time.time() > deadline:
            kill_job(proc)
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.1)


def scalars(tb_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag in a TensorBoard folder: tag -> [(step, value)], in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    for events in sorted(tb_dir.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return {k: sorted(v) for k, v in out.items()}
