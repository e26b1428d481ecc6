"""One side of the training-throughput benchmark, run on every rank by the deepspeed launcher.

`--side ours` trains with `toolkit.engine.trainer.train` (length-grouped batches); `--side
hf_grouped` trains the same encoder with Hugging Face's `Trainer` at its best setting for this
(`group_by_length=True`: megabatches of 50 batches sorted by length, `DataCollatorWithPadding`),
and `--side hf` with Trainer's defaults (random batches, `group_by_length=False`). Every side
has the *same filled DeepSpeed config*, hence the same optimizer implementation (the config's:
DeepSpeed's fused Adam, on CPU ranks its vectorised CPU Adam kernel), and the same frozen
parameters, token ids (our cached features), micro batch, precision, ZeRO stage, learning-rate
schedule and number of steps.

Measured: real (non-padding) tokens of the steps after `--warmup`, over the wall time of those
steps on rank 0 (each step ends with a gradient all-reduce, so the ranks are in step).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import mnli_like, squad_like
from toolkit.config.schema import RunConfig
from toolkit.config.deepspeed import fill_ds_config, load_ds_config
from toolkit.data.features import FeatureTable, featurize_cached
from toolkit.runtime.distributed import init_distributed, leave_process_group
from toolkit.models.encoder import load_tokenizer
from toolkit.tasks.registry import get_task

PROFILES = {"mnli": (mnli_like, 128), "squad": (squad_like, 384)}


class CountingTable(FeatureTable):
    """Our feature table, counting the real tokens of every batch the engine reads."""

    def __init__(self, table: FeatureTable):
        super().__init__(table._table)
        self.tokens = 0

    def rows(self, indices):
        rows = super().rows(indices)
        self.tokens += sum(r["length"] for r in rows)
        return rows


class ClockBoard:
    """A TensorBoard stand-in that notes (time, tokens so far) at every train/loss log."""

    def __init__(self, table: CountingTable):
        self.table = table
        self.marks: list[tuple[int, float, int]] = []

    def scalar(self, tag, value, step):
        if tag == "train/loss":
            self.marks.append((step, time.perf_counter(), self.table.tokens))

    def text(self, *args, **kwargs):
        pass


def run_config(args, world_size: int) -> RunConfig:
    cfg = RunConfig()
    cfg.seed = 1
    cfg.model.name_or_path = args.model
    cfg.model.max_seq_length = PROFILES[args.profile][1]
    t = cfg.train
    t.micro_batch_size, t.gradient_accumulation_steps = args.micro, 1
    t.max_steps, t.eval_every, t.log_every = args.warmup + args.steps, 10**9, args.warmup
    t.learning_rate, t.precision, t.deepspeed_config = 1e-5, args.precision, args.zero
    t.freeze_embeddings = args.freeze_embeddings
    return cfg


def features(args, tokenizer, cfg, dist, cache: Path) -> FeatureTable:
    make, max_length = PROFILES[args.profile]
    return featurize_cached(get_task("mnli"), make(args.examples), tokenizer, max_length, cache,
                            dist.rank, dist.barrier)


def total_tokens(count: int) -> int:
    t = torch.tensor([count], dtype=torch.long)
    if torch.distributed.is_initialized():
        torch.distributed.all_reduce(t)
    return int(t.item())


def side_ours(args, dist, tokenizer, cfg, table, scratch: Path) -> dict:
    from toolkit.engine.trainer import PhaseData, RunFiles, train

    counting = CountingTable(table)
    board = ClockBoard(counting)
    data = PhaseData(specs={"mnli": get_task("mnli")}, train={"mnli": counting})
    (scratch / "run").mkdir(parents=True, exist_ok=True)
    run = scratch / "run"
    files = RunFiles(checkpoints=run / "checkpoints", ds_config=run / "ds_config.json", export=scratch / "export")
    train(cfg, dist, files, data, tokenizer, args.model, board)
    (_, t0, n0), (_, t1, n1) = board.marks[0], board.marks[-1]
    return {"seconds": t1 - t0, "tokens": total_tokens(n1 - n0)}


def hf_deepspeed_state_on_cpu() -> None:
    """Let `Trainer` run DeepSpeed on CPU ranks.

    accelerate only recognises a DeepSpeed world on accelerators: on CPU it would see one
    process and refuse the 2-rank batch sizes. Configuring its state ourselves over the process
    group already joined (gloo) gives Trainer the same 2-rank DeepSpeed setup our engine has.
    """
    import os

    from accelerate import PartialState

    os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
    PartialState(backend="gloo")


def side_hf(args, dist, tokenizer, cfg, table, scratch: Path) -> dict:
    from transformers import (AutoConfig, AutoModelForSequenceClassification, DataCollatorWithPadding,
                              Trainer, TrainerCallback, TrainingArguments)

    t = cfg.train
    steps = t.max_steps
    hidden = AutoConfig.from_pretrained(args.model).hidden_size
    ds = fill_ds_config(load_ds_config(t.deepspeed_config), t, dist.world_size, steps, hidden)
    hf_deepspeed_state_on_cpu()
    targs = TrainingArguments(
        output_dir=str(scratch / "hf"), per_device_train_batch_size=t.micro_batch_size,
        gradient_accumulation_steps=1, max_steps=steps, learning_rate=t.learning_rate,
        weight_decay=t.weight_decay, adam_beta1=t.adam_betas[0], adam_beta2=t.adam_betas[1],
        adam_epsilon=t.adam_eps, max_grad_norm=t.max_grad_norm,
        warmup_steps=ds["scheduler"]["params"]["warmup_num_steps"], logging_steps=steps,
        save_strategy="no", report_to="none", dataloader_num_workers=0, seed=cfg.seed,
        disable_tqdm=True, deepspeed=ds, accelerator_config={"use_configured_state": True},
        group_by_length=args.side == "hf_grouped", bf16=t.precision == "bf16",
    )
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=3)
    if t.freeze_embeddings:  # what our engine does for train.freeze_embeddings
        model.get_input_embeddings().weight.requires_grad_(False)

    rows = table._table.select_columns(["input_ids", "label"]).rename_column("label", "labels")
    rows = rows.map(lambda r: {"attention_mask": [1] * len(r["input_ids"])})

    class Counting(DataCollatorWithPadding):
        tokens = 0

        def __call__(self, feats):
            batch = super().__call__(feats)
            Counting.tokens += int(batch["attention_mask"].sum())
            return batch

    marks: list[tuple[float, int]] = []

    class Clock(TrainerCallback):
        def on_step_end(self, targs_, state, control, **kw):
            if state.global_step in (args.warmup, steps):
                marks.append((time.perf_counter(), Counting.tokens))

    trainer = Trainer(model=model, args=targs, train_dataset=rows, data_collator=Counting(tokenizer),
                      callbacks=[Clock()])
    trainer.train()
    (t0, n0), (t1, n1) = marks[0], marks[-1]
    return {"seconds": t1 - t0, "tokens": total_tokens(n1 - n0)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--side", choices=["ours", "hf", "hf_grouped"], required=True)
    p.add_argument("--profile", choices=list(PROFILES), required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--zero", default="ds_configs/zero2.json")
    p.add_argument("--micro", type=int, default=8)
    p.add_argument("--examples", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="train.precision of every side (bf16: DeepSpeed's bf16 weights with fp32 master weights)")
    p.add_argument("--freeze-embeddings", action="store_true",
                   help="both sides: no gradients for the embedding tables (96M of e5-small's 118M parameters)")
    p.add_argument("--cache", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    dist = init_distributed()
    torch.manual_seed(1)
    tokenizer = load_tokenizer(args.model)
    cfg = run_config(args, dist.world_size)
    table = features(args, tokenizer, cfg, dist, Path(args.cache))
    scratch = Path(tempfile.mkdtemp(prefix="xstilts-bench-")) if dist.is_main else None
    scratch = Path(dist.broadcast_object(str(scratch) if scratch else None))
    result = (side_ours if args.side == "ours" else side_hf)(args, dist, tokenizer, cfg, table, scratch)
    dist.barrier()
    if dist.is_main:
        shutil.rmtree(scratch, ignore_errors=True)
        result.update(side=args.side, profile=args.profile, micro=args.micro, steps=args.steps, precision=args.precision,
                      freeze_embeddings=args.freeze_embeddings,
                      zero=args.zero, ranks=dist.world_size, tokens_per_s=result["tokens"] / result["seconds"])
        Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
    leave_process_group()  # a rank exiting with live gloo work can abort after its work is done
