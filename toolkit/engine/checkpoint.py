"""DeepSpeed checkpoints of a run: save (atomically moving `latest`), load (converting a
checkpoint written by another number of ranks), prune.

Layout: `<run>/checkpoints/step<N>/` (DeepSpeed's files), `latest` (the newest complete tag),
`universal/` (a conversion in progress). The loop's own state travels in the client state
under CLIENT_KEY.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from toolkit.errors import CheckpointError
from toolkit.io import atomic_dir, atomic_write_text
from toolkit.runtime.distributed import Dist

CLIENT_KEY = "xstilts"  # the key of earlier releases, kept so their checkpoints still resume


def prune_checkpoints(ckpt_dir: Path, keep: int, protect: set[str]) -> None:
    """Delete all but the newest `keep` step checkpoints, never those named in `protect`."""
    tags = sorted(
        (p for p in ckpt_dir.iterdir() if p.is_dir() and p.name.startswith("step")),
        key=lambda p: int(p.name[4:]),
    )
    for old in tags[:-keep]:
        if old.name not in protect:
            shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(engine, ckpt_dir: Path, tag: str, state: dict[str, Any], dist: Dist) -> None:
    """Save checkpoint `tag` with the loop's `state`; `latest` moves to it only once every rank
    has written its part.

    A failed save (disk full, no permission) removes the partial folder and raises an error that
    says why; `latest` still names the previous, complete checkpoint, which a rerun resumes from.
    (DeepSpeed's own `latest` is rewritten in place, so a full disk could leave it empty.)
    """
    try:
        # DeepSpeed's universal-checkpoint converter requires this key; empty: no tensor-parallel layout.
        client = {CLIENT_KEY: state, "universal_checkpoint_info": {}}
        engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state=client, save_latest=False)
    except (OSError, RuntimeError) as err:  # torch.save reports a failed write as RuntimeError
        # torch words a full disk obscurely ("unexpected pos ..."): say how much space was left.
        free = shutil.disk_usage(ckpt_dir).free / 2**20
        shutil.rmtree(ckpt_dir / tag, ignore_errors=True)
        latest = ckpt_dir / "latest"
        previous = latest.read_text().strip() if latest.is_file() else None
        keep = f"the previous checkpoint {ckpt_dir / previous} is intact; a rerun resumes from it" if previous \
            else "there is no earlier checkpoint; a rerun starts from the beginning"
        raise CheckpointError(f"could not save checkpoint {ckpt_dir / tag} ({free:.0f} MiB free there): {err}. "
                           f"Removed the partial checkpoint; {keep}. Free space (or fix permissions) and rerun.") \
            from err
    dist.barrier()
    if dist.is_main:
        atomic_write_text(ckpt_dir / "latest", tag)


def _saved_world_size(tag_dir: Path) -> int | None:
    """How many data-parallel ranks wrote this checkpoint (None without ZeRO partitions)."""
    return len(list(tag_dir.glob("*zero_pp_rank_*_mp_rank_00_optim_states.pt"))) or None


def load_checkpoint(engine, ckpt_dir: Path, dist: Dist, tag: str | None = None) -> dict[str, Any]:
    """Load checkpoint `tag` (default: the one `latest` names); returns its client state.

    A checkpoint written by another number of ranks has its ZeRO optimizer partitions cut for
    that number, which DeepSpeed cannot load directly: rank 0 converts it once with DeepSpeed's
    universal-checkpoint converter (into checkpoints/universal/<tag>) and every rank loads that.
    """
    tag = tag or (ckpt_dir / "latest").read_text().strip()
    saved = _saved_world_size(ckpt_dir / tag)
    if saved is None or saved == dist.world_size:
        _, client = engine.load_checkpoint(str(ckpt_dir), tag=tag)
        return client
    universal = ckpt_dir / "universal"
    if dist.is_main and not (universal / tag).is_dir():
        print(f"checkpoint {ckpt_dir / tag} was written by {saved} ranks, this run has {dist.world_size}: "
              f"converting it to a universal checkpoint in {universal / tag}", flush=True)
        with atomic_dir(universal / tag) as tmp:
            done = subprocess.run(
                [sys.executable, "-m", "deepspeed.checkpoint.ds_to_universal", "--input_folder", str(ckpt_dir / tag),
                 "--output_folder", str(tmp), "--num_extract_workers", "1", "--num_merge_workers", "1"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            if done.returncode != 0:
                raise CheckpointError(
                    f"checkpoint {ckpt_dir / tag} was written by {saved} ranks and could not be converted for "
                    f"{dist.world_size} (DeepSpeed's ds_to_universal failed):\n{done.stdout[-2000:]}\n"
                    f"Resume with {saved} ranks instead."
                )
    dist.barrier()
    # DeepSpeed consults this flag only while loading; setting it for this one load spares
    # rebuilding the engine, and later loads (the best checkpoint) are ordinary ones again.
    engine._config.load_universal_checkpoint = True
    try:
        _, client = engine.load_checkpoint(str(universal), tag=tag)
    finally:
        engine._config.load_universal_checkpoint = False
    dist.barrier()
    if dist.is_main:  # the next save is a native checkpoint for this world size
        shutil.rmtree(universal, ignore_errors=True)
    return client
