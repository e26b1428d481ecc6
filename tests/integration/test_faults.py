"""Faults during training: a rank dies, a run is resumed (same or smaller world), a save fails.

All through the real launcher on the tiny model and the MNLI fixture, ZeRO-2 on CPU, where
training is deterministic: the loss curve of a killed-and-resumed run must equal an
uninterrupted run's at every logged step after the resume point.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.launch import run_phase, start_phase, wait_for

pytestmark = pytest.mark.distributed

RUN = Path("f") / "english" / "mnli"  # run folder under output_root (experiment "f")


def fault_args(tiny_model_dir: Path, data_dir: Path, root: Path, steps: int = 40) -> list[str]:
    return [
        f"model.name_or_path={tiny_model_dir}",
        f"data.data_dir={data_dir}",
        f"output_root={root}",
        "experiment=f",
        "train.deepspeed_config=ds_configs/zero2.json",
        "train.micro_batch_size=4",
        "train.train_batch_size=8",  # fixed global batch: 2 ranks x 4, or 1 rank x 4 x 2 accumulation
        "train.learning_rate=2e-3",
        f"train.max_steps={steps}",
        "train.eval_every=4",
        "train.log_every=2",
    ]


def losses_of_last_session(tb: Path) -> dict[int, float]:
    """train/loss per step from the newest TensorBoard file (the resumed session's)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    newest = max(tb.glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)
    acc = EventAccumulator(str(newest), size_guidance={"scalars": 0})
    acc.Reload()
    return {e.step: e.value for e in acc.Scalars("train/loss")}


def rank_pid(job: subprocess.Popen, rank: int) -> int:
    """The pid of the training process of `rank` among the job's processes (by its RANK variable)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if int(proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[2]) != job.pid:
                    continue  # not in the job's process group
                env = proc.joinpath("environ").read_bytes().split(b"\0")
                cmd = proc.joinpath("cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if f"RANK={rank}".encode() in env and b"run_scripts/intermediate.sh" in cmd \
                    and b"deepspeed.launcher" not in cmd:
                return int(proc.name)
        time.sleep(0.5)
    raise AssertionError(f"no process of rank {rank} found in job {job.pid}")


@pytest.mark.slow
def test_killed_rank_ends_job_and_resume_repeats_the_loss_curve(tiny_model_dir, mnli_fixture_dir, tmp_path):
    cache = tmp_path / "cache"
    whole = tmp_path / "whole"
    run_phase("intermediate", fault_args(tiny_model_dir, mnli_fixture_dir, whole), cache)
    reference = losses_of_last_session(whole / RUN / "tb")
    assert sorted(reference) == list(range(2, 41, 2))

    # SIGKILL one rank after the first checkpoint: the launcher notices and ends the whole job.
    broken = tmp_path / "broken"
    args = fault_args(tiny_model_dir, mnli_fixture_dir, broken)
    job = start_phase("intermediate", args, cache, tmp_path / "killed.log")
    wait_for(broken / RUN / "checkpoints" / "latest", job)
    os.killpg(job.pid, signal.SIGSTOP)  # freeze the job so it cannot finish before the kill
    victim = rank_pid(job, 1)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    os.killpg(job.pid, signal.SIGCONT)
    code = job.wait(timeout=120)
    elapsed = time.time() - killed_at
    log = (tmp_path / "killed.log").read_text()
    assert code != 0, log[-3000:]
    assert elapsed < 60, f"the job took {elapsed:.0f} s to end after a rank died"
    assert not (broken / RUN / "DONE").exists()
    print(f"job ended {elapsed:.1f} s after rank 1 was killed (exit code {code})")

    # The same checkpoint resumed on 1 rank instead of 2 (through DeepSpeed's universal checkpoint).
    single = tmp_path / "single"
    shutil.copytree(broken, single)

    rerun = run_phase("intermediate", args, cache)
    start = int(re.search(r"resumed from .*step(\d+) at step \d+/40", rerun.stdout).group(1))
    resumed = losses_of_last_session(broken / RUN / "tb")
    assert sorted(resumed) == [s for s in range(start + 2, 41, 2)], resumed
    for step, value in resumed.items():
        assert value == reference[step], f"step {step}: resumed loss {value} != uninterrupted {reference[step]}"

    one = run_phase("intermediate", fault_args(tiny_model_dir, mnli_fixture_dir, single), cache, ranks=1)
    assert re.search(rf"resumed from .*step{start} at step {start}/40", one.stdout), one.stdout[-3000:]
    assert "was written by 2 ranks, this run has 1: converting it to a universal checkpoint" in one.stdout
    for step, value in losses_of_last_session(single / RUN / "tb").items():
        # Same data and weights; only the summation order of the gradient differs (1 rank x 2
        # micro-batches instead of 2 ranks x 1).
        assert value == pytest.approx(reference[step], rel=1e-4), step
    assert (single / RUN / "DONE").exists()


def _mount_tmpfs(where: Path, size_mb: int) -> None:
    where.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root/CAP_SYS_ADMIN): {out.stderr.strip()}")


@pytest.mark.slow
def test_full_disk_during_save_keeps_previous_checkpoint(tiny_model_dir, mnli_fixture_dir, tmp_path):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, 64)
    try:
        cache = tmp_path / "cache"
        args = fault_args(tiny_model_dir, mnli_fixture_dir, disk, steps=40)
        ckpt = disk / RUN / "checkpoints"
        job = start_phase("intermediate", args, cache, tmp_path / "full.log", ranks=0)
        wait_for(ckpt / "latest", job)
        os.killpg(job.pid, signal.SIGSTOP)  # hold the job still while the disk fills
        kept = (ckpt / "latest").read_text()
        failing = f"step{int(kept[4:]) + 4}"
        before = {p.name: p.stat().st_size for p in (ckpt / kept).iterdir()}
        with open(disk / "filler", "wb") as filler:  # take every free byte of the tmpfs
            try:
                while True:
                    filler.write(b"\0" * (1 << 20))
                    filler.flush()
            except OSError:
                pass
        os.killpg(job.pid, signal.SIGCONT)
        code = job.wait(timeout=600)
        log = (tmp_path / "full.log").read_text()
        assert code != 0, log[-3000:]
        assert f"could not save checkpoint {ckpt / failing} (0 MiB free there): " in log, log[-3000:]
        assert f"the previous checkpoint {ckpt / kept} is intact; a rerun resumes from it" in log
        assert (ckpt / "latest").read_text() == kept
        assert not (ckpt / failing).exists(), "the partial checkpoint must be removed"
        assert {p.name: p.stat().st_size for p in (ckpt / kept).iterdir()} == before

        (disk / "filler").unlink()
        rerun = run_phase("intermediate", args, cache, ranks=0)
        assert f"{kept} at step {kept[4:]}/40" in rerun.stdout, rerun.stdout[-3000:]
        assert (disk / RUN / "DONE").exists()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
