"""Merging a run configuration: defaults <- YAML file <- `key=value` overrides, then the checks
that need no data, model or registry (ranges, choices, batch keys, the NVMe folder).

Unknown keys are errors that name the nearest valid key. A value typed on the command line is
parsed as YAML unless its field is text (`experiment=2020-05-26` stays a string).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import yaml

from toolkit.config.deepspeed import check_nvme_offload, ds_config_path, load_ds_config
from toolkit.config.schema import LABEL_CHARS, LR_SCALINGS, PRECISIONS, SAMPLERS, SEQEVAL_BEHAVIOURS, RunConfig
from toolkit.errors import ConfigError, nearest
from toolkit.io import repo_path


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
        if isinstance(value, str) and value.strip().startswith("{"):  # {xnli: <commit>} on the command line
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                pass
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


def apply_values(obj: Any, values: dict[str, Any], prefix: str = "") -> None:
    """Set the (nested) `values` on a config dataclass, checking every key and type."""
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
            apply_values(current, value, f"{full}.")
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


def merge_config(args: list[str]) -> RunConfig:
    """Defaults, then the YAML file given as `config=...` (if any), then the other overrides;
    checked by `check_values`. The registries' checks come on top: `toolkit.pipeline.checks`."""
    cfg = RunConfig()
    rest = []
    for arg in args:
        if arg.startswith("config="):
            path = repo_path(arg.split("=", 1)[1])
            if not path.is_file():
                raise ConfigError(f"config file {path} not found")
            try:
                values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as err:
                raise ConfigError(f"{path}: not valid YAML ({err})") from err
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: expected a mapping of config keys")
            try:
                apply_values(cfg, values)
            except ConfigError as err:
                raise ConfigError(f"{path}: {err}") from None
        else:
            rest.append(arg)
    apply_values(cfg, parse_overrides(rest))
    check_values(cfg)
    return cfg


def _one_of(value: str, choices: tuple[str, ...], key: str) -> None:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not one of {', '.join(choices)}{nearest(value, choices)}")


def check_values(cfg: RunConfig) -> None:
    """Checks that need no data, model or registry: ranges, choices, folder-name characters."""
    _one_of(cfg.train.precision, PRECISIONS, "train.precision")
    _one_of(cfg.train.sampler, SAMPLERS, "train.sampler")
    _one_of(cfg.train.lr_scaling, LR_SCALINGS, "train.lr_scaling")
    _one_of(cfg.eval.seqeval, SEQEVAL_BEHAVIOURS, "eval.seqeval")
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
    for key, minimum in (("batch_size", 1), ("efficiency_examples", 1), ("efficiency_warmup", 0), ("cost_rounds", 0)):
        if getattr(cfg.eval, key) < minimum:
            raise ConfigError(f"eval.{key} must be >= {minimum}, got {getattr(cfg.eval, key)}")
    if cfg.model.max_seq_length < 8:
        raise ConfigError(f"model.max_seq_length must be >= 8, got {cfg.model.max_seq_length}")
    ds_path = ds_config_path(cfg.train.deepspeed_config)
    if ds_path.is_file():  # a missing file is reported where it is read (load_ds_config)
        check_nvme_offload(load_ds_config(str(ds_path)), cfg.train.nvme_path, str(ds_path))
