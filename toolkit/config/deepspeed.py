"""DeepSpeed configuration: fill every "auto" value from the run config, check the batch
arithmetic (train_batch = micro x accumulation x world size) and the NVMe offload folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from toolkit.config.schema import TrainArgs
from toolkit.errors import ConfigError
from toolkit.io import repo_path


def resolve_batch(train: TrainArgs, world_size: int) -> tuple[int, int, int]:
    """(train_batch_size, micro_batch_size, gradient_accumulation_steps) for `world_size` ranks.

    Whatever is unset is derived; what is set must satisfy global = micro x accum x world.
    """
    micro, accum, total = train.micro_batch_size, train.gradient_accumulation_steps, train.train_batch_size
    if accum is None and total is None:
        accum = 1
    if total is None:
        total = micro * accum * world_size
    if accum is None:
        if total % (micro * world_size):
            raise ConfigError(
                f"train.train_batch_size={total} is not divisible by train.micro_batch_size={micro} x "
                f"world size {world_size}; choose sizes with train_batch_size = micro_batch_size x "
                "gradient_accumulation_steps x world size"
            )
        accum = total // (micro * world_size)
    if accum < 1 or total != micro * accum * world_size:
        raise ConfigError(
            f"inconsistent batch sizes: train.train_batch_size={total} but train.micro_batch_size={micro} x "
            f"train.gradient_accumulation_steps={accum} x world size {world_size} = {micro * accum * world_size}"
        )
    return total, micro, accum


def effective_learning_rate(train: TrainArgs, global_batch: int) -> float:
    """train.learning_rate scaled to `global_batch` by train.lr_scaling (none, linear, sqrt)."""
    if train.lr_scaling == "none":
        return train.learning_rate
    ratio = global_batch / train.lr_reference_batch_size
    return train.learning_rate * (ratio if train.lr_scaling == "linear" else ratio ** 0.5)


NVME_SECTIONS = ("offload_param", "offload_optimizer")


def nvme_offload(ds: dict[str, Any]) -> dict[str, Any]:
    """{section: its nvme_path as written} for every ZeRO offload section on the NVMe device."""
    zero = ds.get("zero_optimization") or {}
    return {
        s: zero[s].get("nvme_path")
        for s in NVME_SECTIONS
        if isinstance(zero.get(s), dict) and zero[s].get("device") == "nvme"
    }


def check_nvme_offload(ds: dict[str, Any], nvme_path: str | None, source: str) -> None:
    """Every NVMe offload section must swap to an existing, writable folder.

    `"auto"` stands for `nvme_path` (train.nvme_path). Checked where it runs: on every rank,
    so each node's own drive is checked.
    """
    for section, path in nvme_offload(ds).items():
        where = f"{source}: zero_optimization.{section}.nvme_path"
        if path == "auto":
            if not nvme_path:
                raise ConfigError(
                    f"{where} is \"auto\" but train.nvme_path is not set: ZeRO-Infinity swaps to files on a "
                    "local NVMe drive; set train.nvme_path=/path/to/a/folder/on/nvme (same path on every node)"
                )
            path, where = nvme_path, "train.nvme_path"
        if not path:
            raise ConfigError(f"{where} is not set: offloading to NVMe needs the folder to swap to")
        folder = Path(path)
        if not folder.is_dir():
            raise ConfigError(f"{where}={path}: no such folder (create it on the NVMe drive first)")
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".xstilts-write-test-"):
                pass
        except OSError as err:
            raise ConfigError(f"{where}={path}: cannot write there ({err.strerror or err})") from None


def fill_ds_config(
    ds: dict[str, Any],
    train: TrainArgs,
    world_size: int,
    total_steps: int,
    hidden_size: int,
    largest_param: int | None = None,
) -> dict[str, Any]:
    """A copy of a DeepSpeed config with every "auto" replaced from the run config.

    Values the file sets explicitly must agree with the run config where both describe the same
    thing (batch sizes): a silent disagreement would train with other settings than printed.
    NVMe offload: `nvme_path` comes from train.nvme_path, and the parameter swap buffers'
    `buffer_size` from `largest_param` (elements of the model's largest parameter): DeepSpeed
    swaps each rank's partition of a parameter through one buffer, so a buffer must hold the
    largest partition (the default 1e8 elements is less than XLM-R Large's embedding matrix).
    """
    check_nvme_offload(ds, train.nvme_path, "DeepSpeed config")
    total, micro, accum = resolve_batch(train, world_size)
    lr = effective_learning_rate(train, total)
    # DeepSpeed's WarmupDecayLR refuses 0 warmup steps (short runs, warmup_ratio 0): use at least 1.
    warmup = max(1, int(round(train.warmup_ratio * total_steps)))
    fills = {
        "train_batch_size": total,
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": accum,
        "gradient_clipping": train.max_grad_norm,
        "optimizer.params.lr": lr,
        "optimizer.params.weight_decay": train.weight_decay,
        "optimizer.params.betas": list(train.adam_betas),
        "optimizer.params.eps": train.adam_eps,
        # DeepSpeed's fused Adam: CUDA kernels on GPUs, its vectorised CPU Adam kernel on CPU ranks
        # (3x faster than torch.optim.AdamW there). PyTorch's AdamW only where neither can run.
        "optimizer.params.torch_adam": not _fused_adam_available(),
        "scheduler.params.warmup_min_lr": 0.0,
        "scheduler.params.warmup_max_lr": lr,
        "scheduler.params.warmup_num_steps": warmup,
        "scheduler.params.total_num_steps": max(total_steps, warmup + 1),
        "bf16.enabled": train.precision == "bf16",
        "fp16.enabled": train.precision == "fp16",
        "zero_optimization.reduce_bucket_size": _reduce_bucket_size(ds, hidden_size),
        "zero_optimization.stage3_prefetch_bucket_size": int(0.9 * hidden_size * hidden_size),
        "zero_optimization.stage3_param_persistence_threshold": 10 * hidden_size,
        "zero_optimization.offload_param.nvme_path": train.nvme_path,
        "zero_optimization.offload_optimizer.nvme_path": train.nvme_path,
    }
    if largest_param is not None:
        fills["zero_optimization.offload_param.buffer_size"] = -(-largest_param // world_size)
    out = json.loads(json.dumps(ds))
    for dotted, value in fills.items():
        node, parts = out, dotted.split(".")
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and node.get(parts[-1]) == "auto":
            node[parts[-1]] = value
    leftover = [k for k, v in _walk(out) if v == "auto"]
    if leftover:
        raise ConfigError(f"DeepSpeed config: no run-config value for 'auto' keys {', '.join(leftover)}")
    # A file may leave batch keys out (DeepSpeed would derive them): they get the run's values.
    batch_keys = ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps")
    explicit = tuple(out.setdefault(k, v) for k, v in zip(batch_keys, (total, micro, accum)))
    if explicit != (total, micro, accum):
        raise ConfigError(
            "DeepSpeed config batch sizes (train_batch_size, train_micro_batch_size_per_gpu, "
            f"gradient_accumulation_steps) = {explicit} disagree with the run config {(total, micro, accum)} "
            f"on {world_size} ranks; set them to \"auto\""
        )
    return out


def _walk(node: Any, prefix: str = ""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{prefix}{k}.")
    else:
        yield prefix.rstrip("."), node


# ZeRO-1/2 gradient buckets: each full bucket is one collective. A hidden^2 bucket (Hugging Face's
# rule) means about one collective per weight matrix, ~150 per step for a 12-layer model, and the
# step becomes latency-bound (on CPU ranks over gloo, 0.7 s of a 2 s step). 5e7 elements reduce a
# base-size encoder in one or two collectives for a 100-200 MB buffer.
ZERO12_REDUCE_BUCKET = 50_000_000


def _reduce_bucket_size(ds: dict[str, Any], hidden_size: int) -> int:
    """Elements per gradient-reduction bucket: large under ZeRO-1/2, hidden^2 under ZeRO-3,
    where the bucket buffer would count against the memory the stage is chosen to save."""
    stage = (ds.get("zero_optimization") or {}).get("stage", 0)
    return hidden_size * hidden_size if stage == 3 else max(hidden_size * hidden_size, ZERO12_REDUCE_BUCKET)


def _fused_adam_available() -> bool:
    """Whether DeepSpeed's fused Adam can run on this machine's ranks.

    With CUDA it is DeepSpeed's CUDA kernel. Without any accelerator DeepSpeed runs on its CPU
    accelerator, whose fused Adam is the AVX-vectorised CPU Adam kernel, compiled once on first
    use (ninja and a C++ compiler, which DeepSpeed's CPU communication op needs anyway). Other
    accelerators keep PyTorch's AdamW.
    """
    import torch  # heavy: only the DeepSpeed filling on a rank needs it
    from torch.utils.cpp_extension import is_ninja_available

    if torch.cuda.is_available():
        return True
    if torch.accelerator.is_available():  # an accelerator other than CUDA
        return False
    return is_ninja_available() and shutil.which(os.environ.get("CXX", "c++")) is not None


def ds_config_path(path: str) -> Path:
    """A DeepSpeed config path, relative to the working folder or else to the repository."""
    return repo_path(path)


def load_ds_config(path: str) -> dict[str, Any]:
    """Read a DeepSpeed JSON config (path relative to the cwd or the repository)."""
    p = ds_config_path(path)
    if not p.is_file():
        raise ConfigError(f"train.deepspeed_config: {path} not found (see ds_configs/)")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{p}: not valid JSON ({err})") from err
