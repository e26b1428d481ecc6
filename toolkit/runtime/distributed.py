"""Process group setup for every launch form: `deepspeed` launcher, torchrun, Slurm, or plain bash.

A plain `bash run_scripts/x.sh` is a world of one; it goes through the same DeepSpeed engine
as a cluster job, so there is one code path to trust.
"""

from __future__ import annotations

import datetime
import glob
import os
import socket
from dataclasses import dataclass

import torch

from toolkit.runtime.launch import check_launcher_hostfile

@dataclass(frozen=True)
class Dist:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            torch.distributed.barrier()

    def all_gather_object(self, obj):
        """Every rank's `obj`, in rank order."""
        if self.world_size == 1:
            return [obj]
        out = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj):
        """Rank 0's `obj` on every rank."""
        if self.world_size == 1:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unlink_shared_memory(local_rank: int) -> None:
    """Remove the names of DeepSpeed's CPU all-reduce buffers once every rank has mapped them.

    DeepSpeed creates a ~70 MB file per rank in /dev/shm and never removes it; jobs (and
    killed jobs above all) would fill the machine's memory with them. The mappings live on
    after the names are gone, so removing them right after start-up is safe.
    """
    probe = torch.ones(1)
    torch.distributed.all_reduce(probe)  # every rank has opened every peer's buffer by now
    torch.distributed.barrier()
    addr, port = os.environ.get("MASTER_ADDR", ""), os.environ.get("MASTER_PORT", "")
    for path in glob.glob(f"/dev/shm/deepspeed_*_{addr}_{port}_{local_rank}"):
        try:
            os.unlink(path)
        except OSError:
            pass
    torch.distributed.barrier()


def leave_process_group() -> None:
    """Destroy the process group, if this process joined one, before the interpreter exits.

    Without it, gloo's worker threads can still hold finished work (a barrier's tensors) while
    Python tears itself down; a rank then dies with SIGABRT ("terminate called without an
    active exception") after it has done all its work, and the launcher reports the whole job
    as failed (pytorch/pytorch#190489). Destroying is local to this rank: no peer is waited for,
    so it is also safe after an error that only this rank raised.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def init_distributed(timeout_minutes: float = 30.0) -> Dist:
    """Join (or create) the process group through DeepSpeed and pick this rank's device.

    `timeout_minutes` bounds how long a collective may wait for a dead or stuck rank before
    the job fails with an error instead of hanging.
    """
    import deepspeed
    from deepspeed.accelerator import get_accelerator

    check_launcher_hostfile()  # before any rank waits for peers that were never started
    if "RANK" not in os.environ:  # launched without a launcher: a world of one
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1")
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    accelerator = get_accelerator()
    if accelerator.device_name() != "cpu":
        accelerator.set_device(local_rank)
    if not torch.distributed.is_initialized():
        deepspeed.init_distributed(timeout=datetime.timedelta(minutes=timeout_minutes))
        if accelerator.device_name() == "cpu" and torch.distributed.get_world_size() > 1:
            _unlink_shared_memory(local_rank)
    device = torch.device(accelerator.device_name(local_rank) if accelerator.device_name() != "cpu" else "cpu")
    return Dist(
        rank=torch.distributed.get_rank(),
        local_rank=local_rank,
        world_size=torch.distributed.get_world_size(),
        device=device,
    )
