"""A grid spec: reading and checking it, and the cells it expands to (every cell's config,
task and language checked before any work starts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toolkit.approaches.registry import APPROACHES, get_approach
from toolkit.config.overrides import apply_values, parse_overrides
from toolkit.config.schema import LABEL_CHARS, RunConfig
from toolkit.errors import ConfigError, nearest
from toolkit.families.registry import get_family
from toolkit.grid.resources import parse_slurm
from toolkit.io import repo_path
from toolkit.pipeline import run_dirs
from toolkit.pipeline.checks import check_run_config
from toolkit.pipeline.inputs import target_languages, target_stages
from toolkit.pipeline.stages import CHAIN
from toolkit.tasks.registry import get_task


SPEC_KEYS = ("base", "approaches", "intermediates", "targets", "seeds", "axes",
             "intermediate_overrides", "target_overrides", "slurm")
TARGET_KEYS = ("task", "languages", "overrides", "slurm")
# Keys that place a run folder: the grid sets them per cell, so overrides may not.
CELL_KEYS = ("approach", "intermediate", "target", "seed", "variant")
FOLDER_KEYS = CELL_KEYS + ("experiment", "output_root")


@dataclass(frozen=True)
class Target:
    task: str
    languages: tuple[str, ...] | None = None
    overrides: dict = field(default_factory=dict, compare=False, hash=False)
    slurm: dict = field(default_factory=dict, compare=False, hash=False)  # parsed by resources.parse_slurm


@dataclass
class Cell:
    """One phase run of the grid: an intermediate run, or one target x seed run."""

    kind: str  # "intermediate" or "target"
    cfg: RunConfig
    run_dir: Path
    # The run this cell starts from: a target's intermediate run, or a chain's previous stage.
    depends_on: Path | None = None
    slurm: list = field(default_factory=list)  # the spec's Slurm settings for it, in order (resources.resolve)

    @property
    def name(self) -> str:
        row = run_dirs.row_name(self.cfg)
        return row if self.kind == "intermediate" else f"{row}/{self.cfg.target}/seed{self.cfg.seed}"

    @property
    def phase(self) -> str:
        """intermediate, target, or evaluation (a target without training: retrieval)."""
        if self.kind == "intermediate":
            return "intermediate"
        return "target" if get_family(get_task(self.cfg.target).family).trainable else "evaluation"


@dataclass
class Grid:
    spec_path: Path
    experiment_dir: Path
    cells: list[Cell]


# ---------------------------------------------------------------------------------------------
# Reading and checking a spec (everything is checked before any work starts).
# ---------------------------------------------------------------------------------------------


def _nest(values: Any, where: str) -> dict:
    """{'train.num_epochs': 2} -> {'train': {'num_epochs': 2}} (nested mappings pass through)."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of config keys, got {values!r}")
    out: dict = {}
    for key, value in values.items():
        node = out
        parts = str(key).split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if isinstance(value, dict):
            node.setdefault(parts[-1], {}).update(_nest(value, f"{where}.{key}"))
        else:
            node[parts[-1]] = value
    return out


def _check_not_folder_keys(values: dict, where: str, forbidden=FOLDER_KEYS) -> None:
    bad = [k for k in values if k in forbidden]
    if bad:
        raise ConfigError(f"{where}: {', '.join(bad)} cannot be overridden here; the grid sets "
                          f"{', '.join(CELL_KEYS)} per cell, and experiment/output_root come from base")


def _resolve_file(name: str, spec_path: Path) -> Path:
    for candidate in (spec_path.parent / name, repo_path(name)):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{spec_path}: base.config file {name!r} not found")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err


def _names_list(raw: Any, key: str, path: Path) -> list:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: {key!r} must be a non-empty list, got {raw!r}")
    return raw


def _target(raw: Any, path: Path, i: int) -> Target:
    where = f"{path}: targets[{i}]"
    if isinstance(raw, str):
        return Target(raw)
    if not isinstance(raw, dict) or "task" not in raw:
        raise ConfigError(f"{where}: expected a task name or a mapping with 'task', got {raw!r}")
    for key in raw:
        if key not in TARGET_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}{nearest(str(key), TARGET_KEYS)}; "
                              f"valid keys: {', '.join(TARGET_KEYS)}")
    langs = raw.get("languages")
    if isinstance(langs, str):
        langs = [x.strip() for x in langs.split(",") if x.strip()]
    if langs is not None and not (isinstance(langs, list) and all(isinstance(x, str) for x in langs)):
        raise ConfigError(f"{where}: languages must be a list of language codes, got {langs!r}")
    overrides = _nest(raw.get("overrides"), f"{where}.overrides")
    _check_not_folder_keys(overrides, f"{where}.overrides")
    slurm = parse_slurm(raw.get("slurm"), f"{where}.slurm", phases=False)
    return Target(str(raw["task"]), tuple(langs) if langs else None, overrides, slurm)


def _intermediates(raw: Any, approaches: list[str], path: Path) -> dict[str, list[str]]:
    """approach -> intermediate sets. `intermediates` is one list for every approach, or a
    mapping approach -> list (approaches may support different tasks: `translated` no tagging)."""
    if raw is None:
        raw = []
    if isinstance(raw, dict):
        for key in raw:
            if key not in approaches:
                raise ConfigError(f"{path}: intermediates: {key!r} is not one of the grid's approaches "
                                  f"{', '.join(approaches)}{nearest(str(key), approaches)}")
        lists = {a: raw.get(a) or [] for a in approaches}
    else:
        lists = {a: raw for a in approaches}
    out = {}
    for approach, names in lists.items():
        if not get_approach(approach).has_intermediate:
            continue
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{path}: intermediates must list at least one task for approach {approach!r}")
        out[approach] = [str(n) for n in names]  # checked per cell, with the cell's corpora
    return out


def _seeds(raw: Any, approaches: list[str], path: Path) -> dict[str, list[int]]:
    """`seeds`: one list for every approach, or a mapping approach -> list (e.g. more seeds for
    the `none` control than for the rest)."""
    if isinstance(raw, dict):
        unknown = [a for a in raw if a not in approaches]
        missing = [a for a in approaches if a not in raw]
        if unknown or missing:
            raise ConfigError(f"{path}: seeds as a mapping must list each of the grid's approaches "
                              f"({', '.join(approaches)}) once" + (f"; unknown: {', '.join(map(str, unknown))}"
                                                                    if unknown else "")
                              + (f"; missing: {', '.join(missing)}" if missing else ""))
        lists = {a: _names_list(raw[a], f"seeds.{a}", path) for a in approaches}
    else:
        lists = dict.fromkeys(approaches, _names_list(raw, "seeds", path))
    for approach, values in lists.items():
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values) or len(set(values)) != len(values):
            raise ConfigError(f"{path}: seeds of {approach!r} must be distinct integers, got {values!r}")
    return lists


def _axes(raw: Any, path: Path) -> list[tuple[dict[str, str], dict]]:
    """Every combination of the axes' values: ({axis: label}, nested overrides), in spec order."""
    if raw is None:
        return [({}, {})]
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: axes must map axis names to {{label: overrides}} mappings, got {raw!r}")
    variants = [({}, {})]
    for axis, values in raw.items():
        where = f"{path}: axes.{axis}"
        if not set(str(axis)) <= LABEL_CHARS:
            raise ConfigError(f"{where}: axis names may use letters, digits, '_' and '-' only")
        if not isinstance(values, dict) or not values:
            raise ConfigError(f"{where}: expected a mapping of value labels to config overrides, "
                              f"e.g. {{base: {{model.name_or_path: FacebookAI/xlm-roberta-base}}}}")
        options = []
        for label, overrides in values.items():
            if not set(str(label)) <= LABEL_CHARS:
                raise ConfigError(f"{where}.{label}: value labels name run folders: letters, digits, "
                                  "'_' and '-' only")
            nested = _nest(overrides, f"{where}.{label}")
            _check_not_folder_keys(nested, f"{where}.{label}")
            options.append((str(label), nested))
        variants = [({**labels, str(axis): label}, _merge(layer, nested))
                    for labels, layer in variants for label, nested in options]
    return variants


def _merge(a: dict, b: dict) -> dict:
    """Nested override mappings merged, `b` winning (two axes may set keys of one section)."""
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _chain_prefixes(joined: str) -> list[str]:
    """'a>b>c' -> ['a', 'a>b', 'a>b>c'] (a single stage -> itself)."""
    parts = joined.split(CHAIN)
    return [CHAIN.join(parts[: i + 1]) for i in range(len(parts))]


def _cell_config(layers: list[dict], cell_keys: dict) -> RunConfig:
    cfg = RunConfig()
    for values in layers:
        apply_values(cfg, values)
    apply_values(cfg, cell_keys)
    check_run_config(cfg)
    return cfg


def load_grid(spec_path: str | Path, overrides: list[str] = ()) -> Grid:
    """Read and check a grid spec; `overrides` (key=value) apply to every cell after the spec.

    Every cell's config, task and language is checked here, so a typo fails before any work.
    """
    path = repo_path(spec_path)
    if not path.is_file():
        raise ConfigError(f"grid spec {spec_path} not found")
    spec = _read_yaml(path)
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a mapping with keys {', '.join(SPEC_KEYS)}")
    for key in spec:
        if key not in SPEC_KEYS:
            raise ConfigError(f"{path}: unknown grid key {key!r}{nearest(str(key), SPEC_KEYS)}; "
                              f"valid keys: {', '.join(SPEC_KEYS)}")
    for key in ("approaches", "targets", "seeds"):
        if key not in spec:
            raise ConfigError(f"{path}: missing grid key {key!r}")

    if not isinstance(spec.get("base") or {}, dict):
        raise ConfigError(f"{path}: 'base' must be a mapping of config keys")
    base = dict(spec.get("base") or {})
    layers = []
    if "config" in base:
        base_file = _resolve_file(str(base.pop("config")), path)
        values = _read_yaml(base_file) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{base_file}: expected a mapping of config keys")
        try:
            apply_values(RunConfig(), values)  # so a bad key names this file
        except ConfigError as err:
            raise ConfigError(f"{base_file} (base.config of {path}): {err}") from None
        layers.append(values)
    layers.append(_nest(base, f"{path}: base"))
    _check_not_folder_keys(layers[-1], f"{path}: base", CELL_KEYS)
    command_line = parse_overrides(list(overrides))
    _check_not_folder_keys(command_line, "command line", CELL_KEYS)

    approaches = [str(a) for a in _names_list(spec["approaches"], "approaches", path)]
    for a in approaches:
        if a not in APPROACHES:
            raise ConfigError(f"{path}: unknown approach {a!r}{nearest(a, APPROACHES)}; "
                              f"valid approaches: {', '.join(APPROACHES)}")
    per_approach = _intermediates(spec.get("intermediates"), approaches, path)
    targets = [_target(t, path, i) for i, t in enumerate(_names_list(spec["targets"], "targets", path))]
    seeds = _seeds(spec["seeds"], approaches, path)
    phase_layers = {}
    for phase in ("intermediate", "target"):
        key = f"{phase}_overrides"
        phase_layers[phase] = _nest(spec.get(key), f"{path}: {key}")
        _check_not_folder_keys(phase_layers[phase], f"{path}: {key}")

    variants = _axes(spec.get("axes"), path)
    slurm = parse_slurm(spec.get("slurm"), f"{path}: slurm")

    cells: list[Cell] = []
    seen: set[Path] = set()
    experiment_dir = None
    for labels, variant_layer in variants:
        tag = "@" + ".".join(labels.values()) if labels else ""
        for approach in approaches:
            has_intermediate = get_approach(approach).has_intermediate
            for joined in (per_approach[approach] if has_intermediate else [run_dirs.NONE]):
                inter_keys = {"approach": approach, "variant": labels}
                inter = None  # after the loop: the run the targets start from
                for prefix in (_chain_prefixes(joined) if has_intermediate else []):
                    try:
                        icfg = _cell_config(layers + [phase_layers["intermediate"], variant_layer, command_line],
                                            {**inter_keys, "intermediate": prefix})
                    except ConfigError as err:
                        raise ConfigError(f"{path}: intermediate cell {approach}/{prefix}{tag}: {err}") from None
                    previous, inter = inter, run_dirs.intermediate_dir(icfg)
                    if inter not in seen:
                        seen.add(inter)
                        cells.append(Cell("intermediate", icfg, inter, previous, [slurm]))
                if has_intermediate:
                    inter_keys["intermediate"] = joined
                for t in targets:
                    keys = {**inter_keys, "target": t.task}
                    if t.languages:
                        keys["eval"] = {"languages": list(t.languages)}
                    # A target that is not trained (retrieval) gives the same result under every seed.
                    trainable = get_family(get_task(t.task).family).trainable
                    for seed in seeds[approach] if trainable else seeds[approach][:1]:
                        try:
                            cfg = _cell_config(layers + [phase_layers["target"], t.overrides, variant_layer,
                                                         command_line], {**keys, "seed": seed})
                            task = get_task(t.task)
                            target_languages(cfg, task)
                            target_stages(cfg, task)
                        except ConfigError as err:
                            raise ConfigError(f"{path}: target cell {approach}/{joined}{tag}/{t.task}/seed{seed}: "
                                              f"{err}") from None
                        cells.append(Cell("target", cfg, run_dirs.target_dir(cfg), inter, [slurm, t.slurm]))
                        experiment_dir = run_dirs.experiment_dir(cfg)
    return Grid(path, experiment_dir, cells)


def parse_grid_args(args: list[str]) -> tuple[str, dict[str, str], list[str]]:
    """Split `spec=... executor=.. plan=true plan.peak_tflops=.. key=value` into spec, grid options
    (executor, plan), overrides."""
    spec, options, rest = None, {}, []
    for arg in args:
        key, _, value = arg.partition("=")
        if key == "spec":
            spec = value
        elif key == "executor":
            options[key] = value
        elif key == "plan" or key.startswith("plan."):
            options[key] = value
        else:
            rest.append(arg)
    if not spec:
        raise ConfigError("grid/plan needs spec=PATH.yaml (e.g. spec=configs/grids/demo.yaml)")
    for key in options:
        if key not in ("executor", "plan", "plan.peak_tflops", "plan.mfu", "plan.gpus"):
            raise ConfigError(f"unknown plan option {key!r}"
                              f"{nearest(key, ('plan.peak_tflops', 'plan.mfu', 'plan.gpus'))}")
    return spec, options, rest
