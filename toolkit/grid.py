"""The experiment grid: approaches x intermediate tasks x target tasks x seeds, run as one job.

A grid spec is a YAML file:

    base:                      # a run config, like configs/*.yaml (may start with `config: path`)
      experiment: paper
      model: {name_or_path: FacebookAI/xlm-roberta-large}
    approaches: [english, none]
    intermediates: [mnli, cosmosqa, mnli+cosmosqa]   # '+' joins a multi-task set; or a
                                                     # mapping approach -> list
    targets:                   # a task name, or {task, languages, overrides}
      - xnli
      - {task: udpos, languages: [en, de], overrides: {train.num_epochs: 5}}
    seeds: [1, 2, 3]
    axes:                      # optional: more dimensions, each value a label -> config overrides
      model:
        base:  {model.name_or_path: FacebookAI/xlm-roberta-base}
        large: {model.name_or_path: FacebookAI/xlm-roberta-large}
    intermediate_overrides: {train.num_epochs: 2}   # optional, per phase
    target_overrides: {train.learning_rate: 7.0e-6}

Each (approach, intermediate) pair is one intermediate run (the `none` approach has none, and
one row whatever the intermediates), followed by every target x seed fine-tuned from it.
`>` chains intermediate stages (`mnli>squad_v2`, see `toolkit.stages`): every prefix of a
chain is a cell of its own, shared with a grid entry of the same name. Axes multiply the
grid: every combination of their values is a variant, whose overrides apply after the phase
overrides and whose labels suffix the run folders (`squad@large`) and sit in results.json. The
phases own their run folders (DONE skips, checkpoints resume), so the grid only orders the
cells, isolates failures and builds the report. `plan` lists the cells and estimates their
compute without running anything.
"""

from __future__ import annotations

import functools
import gc
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toolkit.config import APPROACHES, REPO_ROOT, RunConfig, _apply, parse_overrides, validate
from toolkit.errors import ConfigError
from toolkit.tasks.base import get_task, nearest

SPEC_KEYS = ("base", "approaches", "intermediates", "targets", "seeds", "axes",
             "intermediate_overrides", "target_overrides")
TARGET_KEYS = ("task", "languages", "overrides")
# Keys that place a run folder: the grid sets them per cell, so overrides may not.
CELL_KEYS = ("approach", "intermediate", "target", "seed", "variant")
FOLDER_KEYS = CELL_KEYS + ("experiment", "output_root")


@dataclass(frozen=True)
class Target:
    task: str
    languages: tuple[str, ...] | None = None
    overrides: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Cell:
    """One phase run of the grid: an intermediate run, or one target x seed run."""

    kind: str  # "intermediate" or "target"
    cfg: RunConfig
    run_dir: Path
    depends_on: Path | None = None  # the intermediate run a target cell starts from

    @property
    def name(self) -> str:
        c = self.cfg
        from toolkit.phases import intermediate_name, variant_suffix

        row = f"{c.approach}/{intermediate_name(c)}{variant_suffix(c)}"
        return row if self.kind == "intermediate" else f"{row}/{c.target}/seed{c.seed}"


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
    for candidate in (spec_path.parent / name, Path(name), REPO_ROOT / name):
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
    return Target(str(raw["task"]), tuple(langs) if langs else None, overrides)


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
        if approach == "none":
            continue
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{path}: intermediates must list at least one task for approach {approach!r}")
        out[approach] = [str(n) for n in names]  # checked per cell, with the cell's corpora
    return out


def _axes(raw: Any, path: Path) -> list[tuple[dict[str, str], dict]]:
    """Every combination of the axes' values: ({axis: label}, nested overrides), in spec order."""
    from toolkit.config import LABEL_CHARS

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
    from toolkit.stages import CHAIN

    parts = joined.split(CHAIN)
    return [CHAIN.join(parts[: i + 1]) for i in range(len(parts))]


def _cell_config(layers: list[dict], cell_keys: dict) -> RunConfig:
    cfg = RunConfig()
    for values in layers:
        _apply(cfg, values)
    _apply(cfg, cell_keys)
    validate(cfg)
    return cfg


def load_grid(spec_path: str | Path, overrides: list[str] = ()) -> Grid:
    """Read and check a grid spec; `overrides` (key=value) apply to every cell after the spec.

    Every cell's config, task and language is checked here, so a typo fails before any work.
    """
    from toolkit.phases import intermediate_dir, target_dir, target_languages, target_stages

    path = Path(spec_path)
    if not path.is_file() and (REPO_ROOT / path).is_file():
        path = REPO_ROOT / path
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
            _apply(RunConfig(), values)  # so a bad key names this file
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
    seeds = _names_list(spec["seeds"], "seeds", path)
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"{path}: seeds must be integers, got {seeds!r}")
    phase_layers = {}
    for phase in ("intermediate", "target"):
        key = f"{phase}_overrides"
        phase_layers[phase] = _nest(spec.get(key), f"{path}: {key}")
        _check_not_folder_keys(phase_layers[phase], f"{path}: {key}")

    variants = _axes(spec.get("axes"), path)

    cells: list[Cell] = []
    seen: set[Path] = set()
    experiment_dir = None
    for labels, variant_layer in variants:
        tag = "@" + ".".join(labels.values()) if labels else ""
        for approach in approaches:
            for joined in (["none"] if approach == "none" else per_approach[approach]):
                inter_keys = {"approach": approach, "variant": labels}
                inter = None
                for prefix in ([] if approach == "none" else _chain_prefixes(joined)):
                    try:
                        icfg = _cell_config(layers + [phase_layers["intermediate"], variant_layer, command_line],
                                            {**inter_keys, "intermediate": prefix})
                    except ConfigError as err:
                        raise ConfigError(f"{path}: intermediate cell {approach}/{prefix}{tag}: {err}") from None
                    inter = intermediate_dir(icfg)
                    if inter not in seen:
                        seen.add(inter)
                        cells.append(Cell("intermediate", icfg, inter))
                if approach != "none":
                    inter_keys["intermediate"] = joined
                for t in targets:
                    keys = {**inter_keys, "target": t.task}
                    if t.languages:
                        keys["eval"] = {"languages": list(t.languages)}
                    for seed in seeds:
                        try:
                            cfg = _cell_config(layers + [phase_layers["target"], t.overrides, variant_layer,
                                                         command_line], {**keys, "seed": seed})
                            task = get_task(t.task)
                            target_languages(cfg, task)
                            target_stages(cfg, task)
                        except ConfigError as err:
                            raise ConfigError(f"{path}: target cell {approach}/{joined}{tag}/{t.task}/seed{seed}: "
                                              f"{err}") from None
                        cell = Cell("target", cfg, target_dir(cfg), inter)
                        experiment_dir = cell.run_dir.parents[3]
                        cells.append(cell)
    return Grid(path, experiment_dir, cells)


# ---------------------------------------------------------------------------------------------
# Status and running.
# ---------------------------------------------------------------------------------------------


def cell_status(cell: Cell) -> str:
    """done (DONE), failed (FAILED from a previous attempt), partial (started), or todo."""
    if (cell.run_dir / "DONE").exists():
        return "done"
    if (cell.run_dir / "FAILED").exists():
        return "failed"
    if (cell.run_dir / "config.yaml").exists() or (cell.run_dir / "checkpoints").exists():
        return "partial"
    return "todo"


@dataclass
class Outcome:
    cell: Cell
    result: str  # "ran", "skipped-done", "failed", "skipped"
    message: str = ""


def release_memory() -> None:
    """Forget one cell's DeepSpeed state before the next cell of the same process.

    A cell that failed midway leaves its engine alive (see `trainer.release_all_engines`).
    Transformers keeps the live ZeRO-3 config in a global (it makes `from_pretrained`
    partition weights); left set, the next ZeRO-2 cell would load a partitioned model.
    """
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    from toolkit.engine.trainer import release_all_engines
    from toolkit.models import encoder

    release_all_engines()
    unset_hf_deepspeed_config()
    encoder._LIVE_DS_CONFIG = None
    gc.collect()
    from deepspeed.accelerator import get_accelerator

    get_accelerator().empty_cache()


def _attempt(cell: Cell, dist) -> str | None:
    """Run one cell on every rank; the joined tracebacks of the ranks that failed, or None."""
    from toolkit import phases

    if dist.is_main:
        (cell.run_dir / "FAILED").unlink(missing_ok=True)
    error = None
    try:
        (phases.run_intermediate if cell.kind == "intermediate" else phases.run_target)(cell.cfg)
    except Exception:  # noqa: BLE001  (any cell failure is reported, and the grid carries on)
        error = traceback.format_exc()
    finally:
        release_memory()
    # Every rank learns whether any rank failed, so all ranks take the same next step.
    errors = dist.all_gather_object(error)
    failed = [f"rank {r}:\n{e}" for r, e in enumerate(errors) if e]
    return "\n".join(failed) if failed else None


def run_grid(grid: Grid) -> list[Outcome]:
    """Run every cell in order on every rank; failures are written to <cell>/FAILED and skipped past.

    Ends with the report of the experiment and a summary of the cells (printed by rank 0).

    A rank that fails while the others wait inside a collective cannot be recovered from:
    that hangs until the process group's timeout, as any DeepSpeed job would.
    """
    from toolkit.engine.distributed import init_distributed

    # The process group is made once, for every cell: its timeout comes from the grid's base config.
    dist = init_distributed(grid.cells[0].cfg.train.collective_timeout_minutes if grid.cells else 30.0)
    outcomes: list[Outcome] = []
    failed_intermediates: set[Path] = set()
    for i, cell in enumerate(grid.cells, 1):
        if dist.is_main:
            print(f"grid [{i}/{len(grid.cells)}] {cell.kind} {cell.name}: {cell_status(cell)}", flush=True)
        if cell.depends_on in failed_intermediates:
            outcomes.append(Outcome(cell, "skipped", f"its intermediate run {cell.depends_on} failed"))
            continue
        if cell_status(cell) == "done":
            outcomes.append(Outcome(cell, "skipped-done"))
            continue
        started = time.perf_counter()
        error = _attempt(cell, dist)
        if dist.is_main:
            print(f"grid [{i}/{len(grid.cells)}] {cell.name}: {'done' if error is None else 'failed'} in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
        if error is None:
            outcomes.append(Outcome(cell, "ran"))
            continue
        if dist.is_main:
            cell.run_dir.mkdir(parents=True, exist_ok=True)
            (cell.run_dir / "FAILED").write_text(error, encoding="utf-8")
            print(f"grid: {cell.name} FAILED (see {cell.run_dir / 'FAILED'}):\n{error}", flush=True)
        if cell.kind == "intermediate":
            failed_intermediates.add(cell.run_dir)
        outcomes.append(Outcome(cell, "failed", error.strip().splitlines()[-1]))
    if dist.is_main:
        _final_report(grid)
        print(summary(outcomes), flush=True)
    dist.barrier()
    return outcomes


def _final_report(grid: Grid) -> None:
    from toolkit.reporting.report import to_markdown, write_report

    try:
        print(to_markdown(write_report(grid.experiment_dir)), flush=True)
    except ConfigError as err:  # e.g. no target cell finished
        print(f"grid: no report: {err}", flush=True)


def summary(outcomes: list[Outcome]) -> str:
    """The end-of-grid summary: counts, then every failed or skipped cell with its reason."""
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    lines = ["grid summary: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))]
    for o in outcomes:
        if o.result in ("failed", "skipped"):
            where = f" ({o.cell.run_dir / 'FAILED'})" if o.result == "failed" else ""
            lines.append(f"  {o.result}: {o.cell.name}: {o.message}{where}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Plan: the cells and their compute, without running.
# ---------------------------------------------------------------------------------------------

# Assumed mean tokens per example (XLM-R pieces), by family. Span QA and MLM fill their windows.
MEAN_TOKENS = {"pair_classification": 64, "multiple_choice": 96, "tagging": 48, "retrieval": 40}
# Approximate XTREME / XTREME-R test examples per language (used for the evaluation cost).
EVAL_PER_LANGUAGE = {"xnli": 5010, "pawsx": 2000, "udpos": 1500, "panx": 10000, "xquad": 1190,
                     "mlqa": 6000, "tydiqa": 560, "bucc2018": 20000, "tatoeba": 1000, "xcopa": 500}
# The shape-defining fields of the Hub configs (config.json) of backbones users name, so that the
# plan needs no download. Anything else transformers can build is read from a local folder or
# the local Hugging Face cache instead.
_XLMR = dict(model_type="xlm-roberta", vocab_size=250002, max_position_embeddings=514, type_vocab_size=1)
_XLMR_XL = dict(model_type="xlm-roberta-xl", vocab_size=250880, max_position_embeddings=514, type_vocab_size=1,
                num_attention_heads=32)
_XLMR_BASE = dict(_XLMR, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
_XLMR_LARGE = dict(_XLMR, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
_QWEN25 = dict(model_type="qwen2", vocab_size=151936, max_position_embeddings=32768)
KNOWN_SHAPES: dict[str, dict] = {
    "FacebookAI/xlm-roberta-base": _XLMR_BASE, "xlm-roberta-base": _XLMR_BASE,
    "FacebookAI/xlm-roberta-large": _XLMR_LARGE, "xlm-roberta-large": _XLMR_LARGE,
    "facebook/xlm-roberta-xl": dict(_XLMR_XL, hidden_size=2560, num_hidden_layers=36, intermediate_size=10240),
    "facebook/xlm-roberta-xxl": dict(_XLMR_XL, hidden_size=4096, num_hidden_layers=48, intermediate_size=16384),
    "microsoft/mdeberta-v3-base": dict(
        model_type="deberta-v2", vocab_size=251000, hidden_size=768, num_hidden_layers=12,
        num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512, type_vocab_size=0,
        relative_attention=True, position_buckets=256, max_relative_positions=-1, pos_att_type=["p2c", "c2p"],
        norm_rel_ebd="layer_norm", share_att_key=True, position_biased_input=False),
    "embedded": dict(_XLMR, vocab_size=250037, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=1536, type_vocab_size=2),  # multilingual-e5-small
    "Qwen/Qwen2.5-0.5B": dict(_QWEN25, hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                              num_key_value_heads=2, intermediate_size=4864, tie_word_embeddings=True),
    "Qwen/Qwen2.5-1.5B": dict(_QWEN25, hidden_size=1536, num_hidden_layers=28, num_attention_heads=12,
                              num_key_value_heads=2, intermediate_size=8960, tie_word_embeddings=True),
    "Qwen/Qwen2.5-7B": dict(_QWEN25, vocab_size=152064, max_position_embeddings=131072, hidden_size=3584,
                            num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                            intermediate_size=18944, tie_word_embeddings=False),
    "meta-llama/Llama-3.2-1B": dict(model_type="llama", vocab_size=128256, hidden_size=2048, num_hidden_layers=16,
                                    num_attention_heads=32, num_key_value_heads=8, intermediate_size=8192,
                                    max_position_embeddings=131072, tie_word_embeddings=True),
    "meta-llama/Llama-3.1-8B": dict(model_type="llama", vocab_size=128256, hidden_size=4096, num_hidden_layers=32,
                                    num_attention_heads=32, num_key_value_heads=8, intermediate_size=14336,
                                    max_position_embeddings=131072, tie_word_embeddings=False),
    "google/gemma-2-2b": dict(model_type="gemma2", vocab_size=256000, hidden_size=2304, num_hidden_layers=26,
                              num_attention_heads=8, num_key_value_heads=4, head_dim=256, intermediate_size=9216,
                              max_position_embeddings=8192),
}


def known_config(name: str):
    """The transformers config of a KNOWN_SHAPES entry."""
    from transformers import AutoConfig

    fields = dict(KNOWN_SHAPES[name])
    return AutoConfig.for_model(fields.pop("model_type"), **fields)


def _model_config(name_or_path: str):
    """The config of a local folder, a KNOWN_SHAPES id, or a Hub id in the local cache."""
    from transformers import AutoConfig

    if (Path(name_or_path) / "config.json").is_file():
        return AutoConfig.from_pretrained(name_or_path)
    if name_or_path in KNOWN_SHAPES:
        return known_config(name_or_path)
    try:
        return AutoConfig.from_pretrained(name_or_path, local_files_only=True)
    except (OSError, ValueError):
        raise ConfigError(f"plan: no config.json for model {name_or_path!r}, not in the local Hugging Face "
                          f"cache and no known shape; known: {', '.join(KNOWN_SHAPES)} or a local folder") from None


@functools.lru_cache(maxsize=64)
def encoder_params(name_or_path: str) -> int:
    """Non-embedding parameters of the backbone (the weights every token passes through).

    Counted exactly from the model's config on the meta device (any architecture: grouped-query
    attention, gated MLPs, relative positions). Embedding lookups cost no multiply-adds, so they
    are left out, as in Kaplan et al.'s 6ND rule.
    """
    from toolkit.models.params import config_parameter_counts

    return config_parameter_counts(_model_config(name_or_path))["non_embedding"]


def _tokens_per_example(spec, cfg: RunConfig) -> int:
    if spec.family in ("span_qa", "mlm"):
        return cfg.model.max_seq_length
    mean = min(MEAN_TOKENS.get(spec.family, cfg.model.max_seq_length), cfg.model.max_seq_length)
    if spec.family == "multiple_choice":
        mean *= int(spec.extra.get("num_choices", 4))
    return mean


_COUNTS: dict[tuple, int | None] = {}


def local_count(spec, split: str, language: str | None, cfg: RunConfig) -> int | None:
    """Examples in the task's local data under data.data_dir (counted once), or None without it.

    Local data that cannot be read also gives None: the plan then uses the stated sizes and
    says so in its `data` column (the run itself will report the error).
    """
    from toolkit.data.features import load_examples
    from toolkit.errors import DataError

    data_dir = cfg.data.data_dir
    if not data_dir or not (Path(data_dir) / spec.name).is_dir() or spec.family == "retrieval":
        return None
    key = (spec.name, split, language, str(Path(data_dir).resolve()))
    if key not in _COUNTS:
        try:
            _COUNTS[key] = len(load_examples(spec, split, language, data_dir, None))
        except (DataError, ConfigError, OSError):
            _COUNTS[key] = None
    return _COUNTS[key]


def _train_tokens(cfg: RunConfig, tasks: list, gpus: int, measured: list[bool]) -> float:
    sizes = []
    for spec in tasks:
        size = local_count(spec, "train", None, cfg)
        measured.append(size is not None)
        size = (spec.train_size or 0) if size is None else size
        if cfg.data.max_train_examples:
            size = min(size, cfg.data.max_train_examples)
        sizes.append((spec, size))
    total = sum(s for _, s in sizes)
    if total == 0:
        return 0.0
    mean_tokens = sum(s * _tokens_per_example(spec, cfg) for spec, s in sizes) / total
    if cfg.train.max_steps > 0:
        t = cfg.train
        batch = t.train_batch_size or t.micro_batch_size * (t.gradient_accumulation_steps or 1) * gpus
        return cfg.train.max_steps * batch * mean_tokens
    return total * cfg.train.num_epochs * mean_tokens


def cell_compute(cell: Cell, gpus: int = 1) -> dict[str, Any]:
    """Estimated training and evaluation tokens and FLOPs of one cell (periodic validation excluded).

    Example counts come from the local data when data.data_dir holds the task, else from the
    stated sizes (TaskSpec.train_size, EVAL_PER_LANGUAGE); `data` says which.
    """
    cfg = cell.cfg
    params = encoder_params(cfg.model.name_or_path)
    measured: list[bool] = []
    if cell.kind == "intermediate":
        from toolkit.stages import corpus_names, last_stage

        # Only the chain's last stage: the earlier ones are cells of their own. Corpora are
        # left out of the estimate (their size is a character budget, not a count of examples).
        tasks = [get_task(n) for n in last_stage(cfg) if n not in corpus_names(cfg)]
        train = _train_tokens(cfg, tasks, gpus, measured)
        evaluate = 0.0
    else:
        from toolkit.phases import target_languages, target_stages

        spec = get_task(cfg.target)
        source = get_task(spec.train_task) if spec.train_task else spec
        train = 0.0
        if spec.family != "retrieval":  # each training stage is a run of its own, then the target's
            for task in [*target_stages(cfg, spec), source]:
                train += _train_tokens(cfg, [task], gpus, measured)
        examples = 0
        for lang in target_languages(cfg, spec):
            count = local_count(spec, cfg.eval.split, lang, cfg)
            measured.append(count is not None)
            count = EVAL_PER_LANGUAGE.get(spec.name, 1000) if count is None else count
            examples += min(count, cfg.data.max_eval_examples or count)
        sides = 2 if spec.family == "retrieval" else 1  # both sentences of each pair are encoded
        evaluate = examples * sides * _tokens_per_example(spec, cfg)
    data = "local" if measured and all(measured) else "mixed" if any(measured) else "stated"
    return {"params": params, "train_tokens": train, "eval_tokens": evaluate, "data": data,
            "flops": 6 * params * train + 2 * params * evaluate}


def plan(grid: Grid, peak_tflops: float = 312.0, mfu: float = 0.4, gpus: int = 1) -> str:
    """A table of the cells: status, tokens, FLOPs and GPU-hours at peak_tflops x mfu per GPU."""
    rate = peak_tflops * 1e12 * mfu
    rows, totals = [], {"all": [0.0, 0.0], "left": [0.0, 0.0]}
    for cell in grid.cells:
        c = cell_compute(cell, gpus)
        status = cell_status(cell)
        hours = c["flops"] / rate / 3600
        for key in ("all",) + (("left",) if status != "done" else ()):
            totals[key][0] += c["flops"]
            totals[key][1] += hours
        rows.append((cell.name, status, c["data"], _human(c["train_tokens"]), _human(c["eval_tokens"]),
                     f"{c['flops']:.2e}", f"{hours:.3g}"))
    header = ("cell", "status", "data", "train tok", "eval tok", "FLOPs", "GPU-h")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i < 3 else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*header)] + [fmt.format(*r) for r in rows]
    done = sum(1 for r in rows if r[1] == "done")
    lines += [
        "",
        f"{len(rows)} cells ({done} done); total {totals['all'][0]:.2e} FLOPs = {totals['all'][1]:.3g} GPU-hours, "
        f"left to run {totals['left'][0]:.2e} FLOPs = {totals['left'][1]:.3g} GPU-hours",
        f"Assumptions: {peak_tflops:g} TFLOP/s peak per GPU at {mfu:.0%} utilisation (plan.peak_tflops, "
        "plan.mfu); FLOPs = 6 x params x training tokens + 2 x params x evaluation tokens, params = "
        "non-embedding encoder weights; tokens = train size x epochs (or max_steps x batch) x mean "
        f"tokens per example {MEAN_TOKENS} (span QA and MLM: max_seq_length); example counts from the "
        "local data (data: local) or the stated sizes: the paper's train sizes and approximate XTREME "
        "test sizes per language (data: stated); periodic validation not counted.",
    ]
    return "\n".join(lines)


def _human(n: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def parse_grid_args(args: list[str]) -> tuple[str, dict[str, str], list[str]]:
    """Split `spec=... plan=true plan.peak_tflops=.. key=value` into spec, plan options, overrides."""
    spec, options, rest = None, {}, []
    for arg in args:
        key, _, value = arg.partition("=")
        if key == "spec":
            spec = value
        elif key == "plan" or key.startswith("plan."):
            options[key] = value
        else:
            rest.append(arg)
    if not spec:
        raise ConfigError("grid/plan needs spec=PATH.yaml (e.g. spec=configs/grids/demo.yaml)")
    for key in options:
        if key not in ("plan", "plan.peak_tflops", "plan.mfu", "plan.gpus"):
            raise ConfigError(f"unknown plan option {key!r}"
                              f"{nearest(key, ('plan.peak_tflops', 'plan.mfu', 'plan.gpus'))}")
    return spec, options, rest


def plan_from_options(grid: Grid, options: dict[str, str]) -> str:
    try:
        peak = float(options.get("plan.peak_tflops", 312.0))
        mfu = float(options.get("plan.mfu", 0.4))
        gpus = int(options.get("plan.gpus", 1))
    except ValueError as err:
        raise ConfigError(f"plan options: {err}") from None
    if not (peak > 0 and 0 < mfu <= 1 and gpus >= 1):
        raise ConfigError("plan.peak_tflops must be > 0, plan.mfu in (0, 1], plan.gpus >= 1")
    return plan(grid, peak, mfu, gpus)
