"""`plan`: a grid's cells with their status and estimated compute (tokens, FLOPs, GPU-hours),
without running anything. The cost numbers come from the records: each family's assumed
tokens per input, each target's test examples per language, each task's training size."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from toolkit.config.schema import RunConfig
from toolkit.data.features import load_examples
from toolkit.errors import ConfigError, DataError
from toolkit.families.registry import FAMILIES, get_family
from toolkit.grid.runner import cell_status
from toolkit.grid.spec import Cell, Grid
from toolkit.models.params import config_parameter_counts
from toolkit.pipeline.inputs import selection_sets, target_languages, target_stages
from toolkit.pipeline.stages import corpus_names, last_stage
from toolkit.tasks.registry import get_task

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
    from transformers import AutoConfig  # heavy: transformers' model registry

    fields = dict(KNOWN_SHAPES[name])
    return AutoConfig.for_model(fields.pop("model_type"), **fields)


def _model_config(name_or_path: str):
    """The config of a local folder, a KNOWN_SHAPES id, or a Hub id in the local cache."""
    from transformers import AutoConfig  # heavy: transformers' model registry

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
    return config_parameter_counts(_model_config(name_or_path))["non_embedding"]


def _tokens_per_example(spec, cfg: RunConfig) -> int:
    return get_family(spec.family).tokens_per_example(spec, cfg.model.max_seq_length)


_COUNTS: dict[tuple, int | None] = {}


def local_count(spec, split: str, language: str | None, cfg: RunConfig) -> int | None:
    """Examples in the task's local data under data.data_dir (counted once), or None without it.

    Local data that cannot be read also gives None: the plan then uses the stated sizes and
    says so in its `data` column (the run itself will report the error).
    """
    data_dir = cfg.data.data_dir
    if not data_dir or not (Path(data_dir) / spec.name).is_dir() or not get_family(spec.family).trainable:
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
    stated sizes (TaskSpec.train_size, Target.eval_examples_per_language); `data` says which.
    """
    cfg = cell.cfg
    params = encoder_params(cfg.model.name_or_path)
    measured: list[bool] = []
    if cell.kind == "intermediate":
        # Only the chain's last stage: the earlier ones are cells of their own. Corpora are
        # left out of the estimate (their size is a character budget, not a count of examples).
        tasks = [get_task(n) for n in last_stage(cfg) if n not in corpus_names(cfg)]
        train = _train_tokens(cfg, tasks, gpus, measured)
        evaluate = 0.0
    else:
        spec = get_task(cfg.target)
        source = get_task(spec.train_task) if spec.train_task else spec
        train = 0.0
        if get_family(spec.family).trainable:  # each training stage is a run of its own, then the target's
            for task in [*target_stages(cfg, spec), source]:
                train += _train_tokens(cfg, [task], gpus, measured)
        examples = 0
        languages = target_languages(cfg, spec)
        # Test, then the selection (dev) data scored in the same pass (a dev set's size is
        # taken as the test set's where no local data is there to count).
        sets = [(spec, lang, cfg.eval.split) for lang in languages]
        if get_family(spec.family).trainable:  # retrieval's dev pass (BUCC) is part of its mining
            sets += [(s, load, split) for _, s, load, split in selection_sets(cfg, spec, languages)]
        for task, lang, split in sets:
            count = local_count(task, split, lang, cfg)
            measured.append(count is not None)
            count = spec.target.eval_examples_per_language if count is None else count
            examples += min(count, cfg.data.max_eval_examples or count)
        evaluate = examples * _tokens_per_example(spec, cfg)
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
        f"tokens per example {_mean_tokens()} (span QA and MLM: max_seq_length); example counts from the "
        "local data (data: local) or the stated sizes: the paper's train sizes and approximate XTREME "
        "test sizes per language (data: stated); periodic validation not counted.",
    ]
    return "\n".join(lines)


def _human(n: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"




def _mean_tokens() -> dict[str, int]:
    """The families' assumed mean tokens per input, as the plan's footnote states them."""
    return {name: f.mean_tokens for name, f in FAMILIES.items() if f.mean_tokens is not None}


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
