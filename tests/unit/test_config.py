"""Run configuration: YAML + overrides, type coercion, validation, batch arithmetic, ds_config filling."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from toolkit.io import REPO_ROOT
from toolkit.config.deepspeed import ZERO12_REDUCE_BUCKET
from toolkit.config.schema import RunConfig, TrainArgs, describe, to_dict, to_yaml
from toolkit.config.deepspeed import fill_ds_config, load_ds_config, resolve_batch
from toolkit.pipeline.checks import load_config
from toolkit.errors import ConfigError

DS_CONFIGS = ["zero0", "zero1", "zero2", "zero3", "zero3_offload", "zero3_nvme"]


def leaf_keys(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        # Sections are non-empty mappings; an empty one is a mapping-valued field (variant).
        out += leaf_keys(v, f"{prefix}{k}.") if isinstance(v, dict) and v else [f"{prefix}{k}"]
    return out


# ---------------------------------------------------------------------------------------------
# Loading and overrides.
# ---------------------------------------------------------------------------------------------


def test_defaults_load_and_validate():
    assert load_config([]) == RunConfig()


def test_yaml_then_overrides_win_whatever_their_order(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 7\ntrain:\n  learning_rate: 2e-5\n  micro_batch_size: 8\n", encoding="utf-8")
    for args in ([f"config={path}", "seed=3"], ["seed=3", f"config={path}"]):
        cfg = load_config(args)
        assert cfg.seed == 3
        # YAML 1.1 reads 2e-5 (no dot) as a string; the float field still gets a float.
        assert cfg.train.learning_rate == 2e-5 and isinstance(cfg.train.learning_rate, float)
        assert cfg.train.micro_batch_size == 8
        assert cfg.train.num_epochs == RunConfig().train.num_epochs  # untouched keys keep defaults


def test_config_path_relative_to_repository(tmp_path, monkeypatch):
    (tmp_path / "x.yaml").write_text("seed: 5\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_config(["config=x.yaml"]).seed == 5
    monkeypatch.chdir("/")
    rel = os.path.relpath(tmp_path / "x.yaml", REPO_ROOT)
    assert load_config([f"config={rel}"]).seed == 5


@pytest.mark.parametrize(
    "arg, get, expected",
    [
        ("train.learning_rate=1e-3", lambda c: c.train.learning_rate, 1e-3),
        ("train.learning_rate=2", lambda c: c.train.learning_rate, 2.0),
        ("train.num_epochs=1", lambda c: c.train.num_epochs, 1.0),
        ("eval.languages=de,fr", lambda c: c.eval.languages, ["de", "fr"]),
        ("eval.languages=de, fr ,", lambda c: c.eval.languages, ["de", "fr"]),
        ("eval.languages=[de, fr]", lambda c: c.eval.languages, ["de", "fr"]),
        ("eval.languages=de", lambda c: c.eval.languages, ["de"]),
        ("eval.languages=null", lambda c: c.eval.languages, None),
        ("train.adam_betas=0.9,0.98", lambda c: c.train.adam_betas, [0.9, 0.98]),
        ("train.adam_betas=[0.8, 1]", lambda c: c.train.adam_betas, [0.8, 1.0]),
        ("train.length_grouping=false", lambda c: c.train.length_grouping, False),
        ("train.gradient_accumulation_steps=4", lambda c: c.train.gradient_accumulation_steps, 4),
        ("train.gradient_accumulation_steps=null", lambda c: c.train.gradient_accumulation_steps, None),
        ("train.sampler_cap=1000", lambda c: c.train.sampler_cap, 1000),
        ("data.data_dir=/tmp/some dir", lambda c: c.data.data_dir, "/tmp/some dir"),
        ("model.revision=", lambda c: c.model.revision, None),
        ("seed=3", lambda c: c.seed, 3),
        # Text fields keep what was typed, even where YAML would read a date, octal or float.
        ("experiment=2020-05-26", lambda c: c.experiment, "2020-05-26"),
        ("experiment=1.10", lambda c: c.experiment, "1.10"),
        ("model.revision=0123456", lambda c: c.model.revision, "0123456"),
        ("intermediate=mnli+squad_v2", lambda c: c.intermediate, "mnli+squad_v2"),
        ("data.data_dir=a=b", lambda c: c.data.data_dir, "a=b"),
    ],
)
def test_override_types(arg, get, expected):
    value = get(load_config([arg]))
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(expected, list):
        assert [type(v) for v in value] == [type(v) for v in expected]


@pytest.mark.parametrize(
    "arg, named",
    [
        ("train.micro_batch_size=abc", "train.micro_batch_size"),
        ("train.micro_batch_size=2.5", "train.micro_batch_size"),
        ("train.length_grouping=1", "train.length_grouping"),
        ("train.learning_rate=fast", "train.learning_rate"),
        ("train.learning_rate=true", "train.learning_rate"),
        ("train.adam_betas=a,b", "train.adam_betas[0]"),
        ("eval.languages=[de, [fr]]", "eval.languages[1]"),
        ("experiment=null", "experiment"),
        ("seed.x=1", "seed"),
        ("train=3", "train"),
    ],
)
def test_bad_values_name_the_key(arg, named):
    with pytest.raises(ConfigError, match=re.escape(repr(named))):
        load_config([arg])


@pytest.mark.parametrize(
    "arg, typo, suggestion",
    [
        ("train.learning_rat=1e-3", "train.learning_rat", "train.learning_rate"),
        ("seeds=3", "seeds", "seed"),
        ("trian.learning_rate=1", "trian", "train"),
        ("eval.language=de", "eval.language", "eval.languages"),
        ("model.max_seq_len=64", "model.max_seq_len", "model.max_seq_length"),
    ],
)
def test_unknown_key_names_the_nearest(arg, typo, suggestion):
    with pytest.raises(ConfigError) as err:
        load_config([arg])
    msg = str(err.value)
    assert f"unknown config key {typo!r}" in msg
    assert f"did you mean {suggestion!r}" in msg


def test_unknown_key_in_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  warmup: 0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config([f"config={path}"])
    assert str(path) in str(err.value) and "'train.warmup'" in str(err.value)
    assert "did you mean 'train.warmup_ratio'" in str(err.value)


@pytest.mark.parametrize(
    "text, expected",
    [("train: [1, 2\n", "not valid YAML"), ("- seed\n- 3\n", "expected a mapping"), ("train: 3\n", "is a section")],
)
def test_bad_yaml_files(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as err:
        load_config([f"config={path}"])
    assert str(path) in str(err.value)


def test_missing_yaml_and_malformed_override(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml not found"):
        load_config([f"config={tmp_path / 'nope.yaml'}"])
    with pytest.raises(ConfigError, match="expected key=value, got 'seed'"):
        load_config(["seed"])
    with pytest.raises(ConfigError, match="'train' is not a section"):
        load_config(["train=3", "train.seed=1"])


def test_empty_yaml_is_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing set\n", encoding="utf-8")
    assert load_config([f"config={path}"]) == RunConfig()


@pytest.mark.parametrize(
    "arg, named",
    [
        ("approach=englsh", "did you mean 'english'"),
        ("train.precision=bf61", "train.precision"),
        ("train.sampler=temprature", "did you mean 'temperature'"),
        ("train.micro_batch_size=0", "train.micro_batch_size must be >= 1"),
        ("train.gradient_accumulation_steps=0", "train.gradient_accumulation_steps must be >= 1"),
        ("train.train_batch_size=-8", "train.train_batch_size must be >= 1"),
        ("train.eval_every=0", "train.eval_every"),
        ("train.warmup_ratio=1", "train.warmup_ratio"),
        ("train.warmup_ratio=-0.1", "train.warmup_ratio"),
        ("model.max_seq_length=4", "model.max_seq_length"),
        ("eval.seqeval=1.2.2", "eval.seqeval='1.2.2' is not one of 0.0.x, 1.x"),
    ],
)
def test_validation(arg, named):
    with pytest.raises(ConfigError, match=named):
        load_config([arg])


def test_saved_yaml_reloads_identically(tmp_path):
    cfg = load_config([
        "experiment=2020-05-26", "train.learning_rate=3e-6", "eval.languages=de,fr", "train.sampler_cap=7",
        "model.revision=0123", "train.adam_betas=0.9,0.98", "data.max_train_examples=100",
    ])
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg), encoding="utf-8")
    assert load_config([f"config={path}"]) == cfg


def test_describe_covers_every_field_with_help():
    rows = describe()
    keys = [k for k, _, _ in rows]
    assert keys == leaf_keys(to_dict(RunConfig()))
    assert len(keys) == len(set(keys))
    defaults = dict((k, d) for k, d, _ in rows)
    assert defaults["train.learning_rate"] == 1e-5 and defaults["model.name_or_path"] == "embedded"
    for key, _, help_text in rows:
        assert len(help_text.split()) >= 2, f"{key} has no real help text: {help_text!r}"


# ---------------------------------------------------------------------------------------------
# Batch arithmetic.
# ---------------------------------------------------------------------------------------------


def train_args(micro, accum=None, total=None) -> TrainArgs:
    return TrainArgs(micro_batch_size=micro, gradient_accumulation_steps=accum, train_batch_size=total)


@pytest.mark.parametrize(
    "micro, accum, total, world, expected",
    [
        (4, None, None, 1, (4, 4, 1)),
        (4, None, None, 4, (16, 4, 1)),
        (4, None, 32, 2, (32, 4, 4)),
        (4, 2, None, 2, (16, 4, 2)),
        (4, 2, 16, 2, (16, 4, 2)),
        (1, None, 8, 8, (8, 1, 1)),
    ],
)
def test_resolve_batch(micro, accum, total, world, expected):
    assert resolve_batch(train_args(micro, accum, total), world) == expected


def test_resolve_batch_every_combination():
    """Over a grid: consistent settings resolve to the unique solution, all others are errors
    naming every key that was set."""
    resolved = errors = 0
    for micro in (1, 2, 3, 4):
        for accum in (None, 1, 2, 3):
            for total in (None, *range(1, 25)):
                for world in (1, 2, 4):
                    args = train_args(micro, accum, total)
                    a = accum if accum is not None else (1 if total is None else None)
                    t = total if total is not None else micro * a * world
                    if a is None:
                        a = t // (micro * world) if t % (micro * world) == 0 else None
                    solvable = a is not None and a >= 1 and t == micro * a * world
                    if solvable:
                        assert resolve_batch(args, world) == (t, micro, a)
                        resolved += 1
                        continue
                    with pytest.raises(ConfigError) as err:
                        resolve_batch(args, world)
                    msg = str(err.value)
                    assert f"train.micro_batch_size={micro}" in msg and f"world size {world}" in msg
                    assert f"train.train_batch_size={total}" in msg
                    if accum is not None:
                        assert f"train.gradient_accumulation_steps={accum}" in msg
                    errors += 1
    assert resolved > 100 and errors > 500


# ---------------------------------------------------------------------------------------------
# DeepSpeed configs.
# ---------------------------------------------------------------------------------------------


def test_every_shipped_ds_config_is_listed():
    assert sorted(p.stem for p in (REPO_ROOT / "ds_configs").glob("*.json")) == sorted(DS_CONFIGS)


@pytest.mark.parametrize("name", DS_CONFIGS)
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_fill_ds_config(name, precision, tmp_path):
    raw = load_ds_config(f"ds_configs/{name}.json")
    before = json.dumps(raw, sort_keys=True)
    assert "auto" in before
    train = TrainArgs(
        micro_batch_size=2, gradient_accumulation_steps=3, learning_rate=3e-5, weight_decay=0.05,
        adam_betas=[0.9, 0.98], adam_eps=1e-6, warmup_ratio=0.25, max_grad_norm=0.5, precision=precision,
        nvme_path=str(tmp_path),
    )
    ds = fill_ds_config(raw, train, world_size=4, total_steps=200, hidden_size=32, largest_param=1001)
    assert json.dumps(raw, sort_keys=True) == before  # the input is not modified
    assert "auto" not in json.dumps(ds)
    assert (ds["train_batch_size"], ds["train_micro_batch_size_per_gpu"], ds["gradient_accumulation_steps"]) == (24, 2, 3)
    assert ds["gradient_clipping"] == 0.5
    opt = ds["optimizer"]["params"]
    assert (opt["lr"], opt["weight_decay"], opt["betas"], opt["eps"]) == (3e-5, 0.05, [0.9, 0.98], 1e-6)
    sched = ds["scheduler"]["params"]
    assert (sched["warmup_min_lr"], sched["warmup_max_lr"]) == (0.0, 3e-5)
    assert (sched["warmup_num_steps"], sched["total_num_steps"]) == (50, 200)
    assert ds["bf16"]["enabled"] is (precision == "bf16")
    assert ds["fp16"]["enabled"] is (precision == "fp16")
    zero = ds["zero_optimization"]
    assert zero["stage"] == int(name[4])
    if zero["stage"] == 2:  # large buckets: a few collectives per step, not one per weight matrix
        assert zero["reduce_bucket_size"] == ZERO12_REDUCE_BUCKET
    if zero["stage"] == 3:  # small buckets: the buffer would eat the memory ZeRO-3 saves
        assert zero["reduce_bucket_size"] == 32 * 32
    if zero["stage"] == 3:
        assert zero["stage3_prefetch_bucket_size"] == int(0.9 * 32 * 32)
        assert zero["stage3_param_persistence_threshold"] == 320
    if name == "zero3_nvme":
        assert zero["offload_param"]["nvme_path"] == zero["offload_optimizer"]["nvme_path"] == str(tmp_path)
        assert zero["offload_param"]["buffer_size"] == 251  # the largest parameter's partition on 4 ranks


def test_fused_adam_where_deepspeed_has_it(monkeypatch):
    """DeepSpeed's fused Adam (its vectorised CPU kernel on CPU ranks) unless it cannot be built."""
    import shutil

    import torch

    def torch_adam():
        return fill_ds_config(load_ds_config("ds_configs/zero2.json"), TrainArgs(), 1, 10, 32)["optimizer"]["params"]["torch_adam"]

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    monkeypatch.setattr("torch.utils.cpp_extension.is_ninja_available", lambda: True)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    assert torch_adam() is False
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no C++ compiler: PyTorch's AdamW
    assert torch_adam() is True
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # CUDA: the CUDA kernel
    assert torch_adam() is False


def test_short_runs_still_have_a_decay_step():
    ds = fill_ds_config(load_ds_config("ds_configs/zero2.json"), TrainArgs(warmup_ratio=0.5), 1, 1, 32)
    sched = ds["scheduler"]["params"]
    assert sched["total_num_steps"] > sched["warmup_num_steps"]


@pytest.mark.parametrize("world", [1, 2, 4])
@pytest.mark.parametrize("name", ["zero1", "zero3_offload", "zero3_nvme"])
def test_deepspeed_accepts_filled_config(name, world, monkeypatch, tmp_path):
    """DeepSpeed's own config parser checks the batch arithmetic for the given world size (and,
    for the offload configs, every offload field's name and type)."""
    import deepspeed.runtime.config as ds_config

    monkeypatch.setattr(ds_config.dist, "get_rank", lambda *a, **k: 0)
    mpu = SimpleNamespace(get_data_parallel_world_size=lambda: world)
    train = TrainArgs(micro_batch_size=2, train_batch_size=16, nvme_path=str(tmp_path))
    filled = fill_ds_config(load_ds_config(f"ds_configs/{name}.json"), train, world, 100, 64, largest_param=10**6)
    parsed = ds_config.DeepSpeedConfig(filled, mpu=mpu)
    assert (parsed.train_batch_size, parsed.train_micro_batch_size_per_gpu) == (16, 2)
    assert parsed.gradient_accumulation_steps == 16 // (2 * world)
    assert parsed.zero_optimization_stage == int(name[4])
    offload = parsed.zero_config.offload_param
    if name == "zero3_nvme":
        assert offload.device == "nvme" and str(offload.nvme_path) == str(tmp_path)
        assert offload.buffer_size == -(-10**6 // world)
        assert parsed.zero_config.offload_optimizer.device == "nvme"
        assert parsed.aio_config["queue_depth"] == 8
    elif name == "zero3_offload":
        assert offload.device == "cpu" and parsed.zero_config.offload_optimizer.device == "cpu"


def test_nvme_offload_needs_a_writable_folder_before_anything_runs(tmp_path):
    nvme = ["train.deepspeed_config=ds_configs/zero3_nvme.json"]
    with pytest.raises(ConfigError, match=r"nvme_path is \"auto\" but train.nvme_path is not set"):
        load_config(nvme)
    with pytest.raises(ConfigError, match=r"train.nvme_path=.*missing: no such folder"):
        load_config(nvme + [f"train.nvme_path={tmp_path / 'missing'}"])
    with pytest.raises(ConfigError, match=r"train.nvme_path=/sys: cannot write there"):
        load_config(nvme + ["train.nvme_path=/sys"])
    assert load_config(nvme + [f"train.nvme_path={tmp_path}"]).train.nvme_path == str(tmp_path)
    assert not list(tmp_path.iterdir())  # the write test leaves nothing behind
    # A path written into the file itself is checked too, and the option is not needed then.
    ds = load_ds_config("ds_configs/zero3_nvme.json")
    ds["zero_optimization"]["offload_param"]["nvme_path"] = str(tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"offload_param.nvme_path=.*nope: no such folder"):
        fill_ds_config(ds, TrainArgs(nvme_path=str(tmp_path)), 1, 10, 32, largest_param=10)
    # The other configs ignore the option.
    assert load_config(["train.deepspeed_config=ds_configs/zero3.json"]).train.nvme_path is None


def test_nvme_offload_without_async_io_says_how_to_get_it(monkeypatch):
    from deepspeed.accelerator import get_accelerator

    from toolkit.engine.trainer import require_async_io

    builder = type(get_accelerator().create_op_builder("AsyncIOBuilder"))
    monkeypatch.setattr(builder, "is_compatible", lambda self, verbose=False: False)
    with pytest.raises(ConfigError, match="zero3_nvme.json offloads to NVMe.*apt-get install libaio-dev"):
        require_async_io("ds_configs/zero3_nvme.json")


def test_leftover_auto_is_an_error():
    ds = load_ds_config("ds_configs/zero2.json")
    ds["zero_optimization"]["allgather_bucket_size"] = "auto"
    ds["activation_checkpointing"] = {"partition_activations": "auto"}
    with pytest.raises(ConfigError) as err:
        fill_ds_config(ds, TrainArgs(), 1, 10, 32)
    assert "zero_optimization.allgather_bucket_size" in str(err.value)
    assert "activation_checkpointing.partition_activations" in str(err.value)


@pytest.mark.parametrize(
    "key, value", [("train_batch_size", 64), ("train_micro_batch_size_per_gpu", 8), ("gradient_accumulation_steps", 2)]
)
def test_explicit_batch_values_must_agree(key, value):
    ds = load_ds_config("ds_configs/zero1.json")
    ds[key] = value
    with pytest.raises(ConfigError) as err:
        fill_ds_config(ds, TrainArgs(micro_batch_size=4), 2, 10, 32)
    assert "disagree with the run config" in str(err.value) and "(8, 4, 1)" in str(err.value)


def test_explicit_or_missing_batch_values_that_agree_are_kept():
    ds = load_ds_config("ds_configs/zero1.json")
    ds.update(train_batch_size=8, train_micro_batch_size_per_gpu=4)
    del ds["gradient_accumulation_steps"]
    out = fill_ds_config(ds, TrainArgs(micro_batch_size=4), 2, 10, 32)
    assert (out["train_batch_size"], out["train_micro_batch_size_per_gpu"], out["gradient_accumulation_steps"]) == (8, 4, 1)


def test_inconsistent_run_batch_fails_before_deepspeed():
    with pytest.raises(ConfigError, match="train.gradient_accumulation_steps=3"):
        fill_ds_config(load_ds_config("ds_configs/zero2.json"), train_args(4, 3, 16), 2, 10, 32)


def test_load_ds_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="nothere.json not found"):
        load_ds_config(str(tmp_path / "nothere.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"train_batch_size": auto}', encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON") as err:
        load_ds_config(str(bad))
    assert str(bad) in str(err.value)


def test_ds_config_path_resolves_from_any_cwd(monkeypatch):
    """The default `ds_configs/zero2.json` is found from outside the repository too."""
    monkeypatch.chdir("/")
    assert load_ds_config(TrainArgs().deepspeed_config)["zero_optimization"]["stage"] == 2


# ---------------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------------


def xstilts(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_cli_lists_tasks():
    from toolkit.tasks.registry import all_tasks

    out = xstilts("tasks")
    assert out.returncode == 0, out.stderr
    listed = {line.split()[0] for line in out.stdout.splitlines() if line and not line.startswith(" ")}
    assert listed == set(all_tasks()) and {"mnli", "xnli"} <= listed
    assert "nyu-mll/glue (mnli)" in out.stdout and "facebook/xnli" in out.stdout


def test_cli_lists_options():
    out = xstilts("options")
    assert out.returncode == 0, out.stderr
    listed = [line.split(" = ")[0] for line in out.stdout.splitlines() if " = " in line and not line.startswith(" ")]
    assert listed == [k for k, _, _ in describe()]
    assert "train.learning_rate = 1e-05" in out.stdout
    assert xstilts("--local_rank=0", "options").stdout == out.stdout  # the DeepSpeed launcher's flag is ignored


def test_cli_usage():
    out = xstilts()
    assert out.returncode == 0 and "usage: python -m toolkit <command>" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["frobnicate"], "error: unknown command 'frobnicate'"),
        (["intermediat"], "error: unknown command 'intermediat' (did you mean 'intermediate'?)"),
        (["intermediate", "train.learning_rat=1e-3"],
         "error: unknown config key 'train.learning_rat' (did you mean 'train.learning_rate'"),
        (["target", "approach=englsh"], "error: approach='englsh' is not one of english, mlm, translated, none"),
        (["evaluate", "train.micro_batch_size=abc"], "error: config key 'train.micro_batch_size': expected int, got 'abc'"),
        (["intermediate", "config=/nonexistent/run.yaml"], "error: config file /nonexistent/run.yaml not found"),
        (["score", "only_one_dir"], "error: score needs PRED_DIR GOLD_DIR"),
        (["score", "p", "g", "seqeval=2.x"], "error: score: seqeval='2.x' is not one of 0.0.x, 1.x"),
        (["score", "p", "g", "benchmrk=xtreme"], "error: score: unknown option 'benchmrk' (did you mean 'benchmark'?)"),
    ],
)
def test_cli_errors_exit_2_with_a_message(args, message, tmp_path):
    out = xstilts(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert not any(tmp_path.iterdir())  # nothing was started or written
