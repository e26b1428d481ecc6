"""What a grid cell asks Slurm for: nodes, GPUs, CPUs, memory, time, partition, account, qos,
constraint, extra sbatch flags, and how long before its limit it is warned.

A grid spec's optional `slurm:` mapping sets any field for every cell, and its `intermediate`,
`target` and `evaluation` sub-mappings set them per phase (`evaluation`: targets without
training, BUCC and Tatoeba, scored on the intermediate encoder); a target's own `slurm:`
mapping comes last. Whatever they leave unset comes from `SIZE_DEFAULTS`, picked by the
encoder's size, so an XLM-R Large grid needs no `slurm:` at all on a standard GPU partition:

    slurm:
      partition: gpu
      account: my-lab
      intermediate: {gpus_per_node: 4, time_minutes: 720}
      target: {time_minutes: 240}
      sbatch: {exclusive: true}     # any other sbatch flag, without the dashes
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from toolkit.errors import ConfigError, nearest

PHASES = ("intermediate", "target", "evaluation")


@dataclass(frozen=True)
class Resources:
    """One cell's Slurm request. Ranks: nodes x tasks_per_node, one per GPU unless set."""

    nodes: int = 1
    gpus_per_node: int = 1
    tasks_per_node: int = 0  # 0: one per GPU (one on a node without GPUs)
    cpus_per_task: int = 8
    mem_gb: int = 0  # per node; 0: the partition's default
    time_minutes: int = 240
    signal_seconds: int = 300  # the warning before the limit: checkpoint and requeue
    partition: str = ""
    account: str = ""
    qos: str = ""
    constraint: str = ""
    sbatch: dict = field(default_factory=dict)  # extra flags: {name without dashes: value}

    @property
    def ranks_per_node(self) -> int:
        return self.tasks_per_node or max(self.gpus_per_node, 1)

    @property
    def world_size(self) -> int:
        return self.nodes * self.ranks_per_node


HELP = {
    "nodes": "nodes per cell; the ranks start with srun on each",
    "gpus_per_node": "GPUs per node (0: a CPU-only job)",
    "tasks_per_node": "ranks per node (default: one per GPU)",
    "cpus_per_task": "CPU cores per rank (data loading, tokenisation)",
    "mem_gb": "memory per node in GB (0: the partition's default)",
    "time_minutes": "the time limit",
    "signal_seconds": "seconds before the limit when the cell checkpoints and requeues itself",
    "partition": "Slurm partition", "account": "Slurm account", "qos": "quality of service",
    "constraint": "node features, e.g. a100|h100",
    "sbatch": "any other sbatch flags as {name: value} (value true: a flag without value)",
}
_MINIMUM = {"nodes": 1, "gpus_per_node": 0, "tasks_per_node": 0, "cpus_per_task": 1, "mem_gb": 0,
            "time_minutes": 1, "signal_seconds": 0}
FIELDS = tuple(f.name for f in fields(Resources))


@dataclass(frozen=True)
class SizeClass:
    """Defaults for encoders with at most `max_params` non-embedding parameters."""

    name: str
    max_params: float
    phases: dict[str, dict[str, Any]]


# Starting points, not measurements: one node, as many GPUs as the model's batch and memory
# comfortably use, and time limits with room (a requeued cell resumes, so a short limit costs
# only the restart). configs/xlmr_large's train_batch_size 32 = micro 8 x 4 GPUs.
SIZE_DEFAULTS: tuple[SizeClass, ...] = (
    SizeClass("base", 150e6, {
        "intermediate": dict(gpus_per_node=1, mem_gb=64, time_minutes=480),
        "target": dict(gpus_per_node=1, mem_gb=64, time_minutes=240),
        "evaluation": dict(gpus_per_node=1, mem_gb=64, time_minutes=60)}),
    SizeClass("large", 600e6, {
        "intermediate": dict(gpus_per_node=4, mem_gb=256, time_minutes=720),
        "target": dict(gpus_per_node=4, mem_gb=256, time_minutes=360),
        "evaluation": dict(gpus_per_node=1, mem_gb=64, time_minutes=60)}),
    SizeClass("xl", 4e9, {
        "intermediate": dict(gpus_per_node=8, mem_gb=512, time_minutes=1440),
        "target": dict(gpus_per_node=8, mem_gb=512, time_minutes=720),
        "evaluation": dict(gpus_per_node=1, mem_gb=128, time_minutes=120)}),
    SizeClass("xxl", float("inf"), {
        "intermediate": dict(nodes=2, gpus_per_node=8, mem_gb=1000, time_minutes=2880),
        "target": dict(nodes=2, gpus_per_node=8, mem_gb=1000, time_minutes=1440),
        "evaluation": dict(gpus_per_node=8, mem_gb=1000, time_minutes=240)}),
)


def _check_fields(values: Any, where: str) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of Slurm settings ({', '.join(FIELDS)}), got {values!r}")
    out = {}
    for key, value in values.items():
        key = str(key)
        if key not in FIELDS:
            raise ConfigError(f"{where}: unknown Slurm setting {key!r}{nearest(key, FIELDS)}; "
                              f"valid: {', '.join(FIELDS)}")
        if key == "sbatch":
            if not isinstance(value, dict) or any(str(k).startswith("-") for k in value):
                raise ConfigError(f"{where}.sbatch: expected a mapping of sbatch flag names without dashes "
                                  f"to values, e.g. {{exclusive: true, mail-type: END}}; got {value!r}")
            out[key] = {str(k): v for k, v in value.items()}
        elif key in _MINIMUM:
            if isinstance(value, bool) or not isinstance(value, int) or value < _MINIMUM[key]:
                raise ConfigError(f"{where}.{key}: expected a whole number >= {_MINIMUM[key]} "
                                  f"({HELP[key]}), got {value!r}")
            out[key] = value
        else:
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{where}.{key}: expected a non-empty name ({HELP[key]}), got {value!r}")
            out[key] = value.strip()
    return out


def parse_slurm(raw: Any, where: str, phases: bool = True) -> dict[str, dict[str, Any]]:
    """A spec's `slurm:` mapping, checked: {"all": {...}, "<phase>": {...}} (a target's own
    `slurm:` has no phase sections: `phases=False`)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of Slurm settings, got {raw!r}")
    sections = {p: raw[p] for p in PHASES if phases and p in raw}
    rest = {k: v for k, v in raw.items() if k not in sections}
    out = {"all": _check_fields(rest, where)} if rest else {}
    for phase, values in sections.items():
        out[phase] = _check_fields(values, f"{where}.{phase}")
    if not phases and any(p in raw for p in PHASES):
        raise ConfigError(f"{where}: a target's slurm settings apply to its own cells; "
                          f"phase sections ({', '.join(PHASES)}) belong in the spec's top-level slurm:")
    return out


def size_class(params: int) -> SizeClass:
    """The defaults for an encoder of `params` non-embedding parameters."""
    return next(c for c in SIZE_DEFAULTS if params <= c.max_params)


def resolve(params: int, phase: str, layers: list[dict[str, dict[str, Any]]]) -> Resources:
    """The defaults for the encoder's size, then each layer's `all` and `<phase>` settings."""
    out = replace(Resources(), **size_class(params).phases[phase])
    for layer in layers:
        for section in ("all", phase):
            values = dict(layer.get(section, {}))
            if "sbatch" in values:
                values["sbatch"] = {**out.sbatch, **values["sbatch"]}
            out = replace(out, **values)
    if out.signal_seconds >= out.time_minutes * 60:
        raise ConfigError(f"slurm: signal_seconds={out.signal_seconds} is not shorter than the "
                          f"{out.time_minutes}-minute limit of a {phase} cell")
    return out
