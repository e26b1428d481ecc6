"""Zero-shot evaluation throughput over many languages: `toolkit.evaluation.predict` against
`Trainer.predict`, both on the same 2 ranks, model weights, features and batch size.

Ours sorts each language's features by length and shares the batches across ranks; Trainer
predicts in dataset order with `DataCollatorWithPadding` and gathers the logits. Each side first
predicts two untimed batches, so neither pays the process's first-call costs in the timing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks.common import eval_sets
from toolkit.data.features import featurize_cached
from toolkit.runtime.distributed import init_distributed, leave_process_group
from toolkit.models.encoder import load_encoder, load_tokenizer
from toolkit.families.multitask import MultiTaskModel
from toolkit.tasks.registry import get_task


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--per-language", type=int, default=200)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--cache", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    dist = init_distributed()
    tokenizer = load_tokenizer(args.model)
    spec = get_task("mnli")
    tables = {
        lang: featurize_cached(spec, examples, tokenizer, 128, Path(args.cache), dist.rank, dist.barrier)
        for lang, examples in eval_sets(args.per_language).items()
    }
    tokens = sum(sum(t.column("length")) for t in tables.values())
    examples = sum(len(t) for t in tables.values())

    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer, TrainingArguments

    from toolkit.evaluation.predict import predict

    torch.manual_seed(0)
    ours = MultiTaskModel(load_encoder(args.model), {"mnli": spec})
    warm = min(2 * args.batch, len(tables["eng"]))  # first calls pay one-off costs (allocator, kernels): untimed
    predict(ours, spec, tables["eng"].rows(range(warm)), args.batch, tokenizer.pad_token_id, dist)
    dist.barrier()
    start = time.perf_counter()
    for table in tables.values():
        predict(ours, spec, table, args.batch, tokenizer.pad_token_id, dist)
    dist.barrier()
    ours_s = time.perf_counter() - start

    targs = TrainingArguments(output_dir="/tmp/xstilts-bench-predict", per_device_eval_batch_size=args.batch,
                              report_to="none", disable_tqdm=True, dataloader_num_workers=0,
                              use_cpu=True)  # CPU ranks: accelerate joins our gloo group as MULTI_CPU
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=3)
    trainer = Trainer(model=model, args=targs, data_collator=DataCollatorWithPadding(tokenizer))
    hf_sets = {
        lang: t._table.select_columns(["input_ids"]).map(lambda r: {"attention_mask": [1] * len(r["input_ids"])})
        for lang, t in tables.items()
    }
    trainer.predict(hf_sets["eng"].select(range(warm)))
    dist.barrier()
    start = time.perf_counter()
    for data in hf_sets.values():
        trainer.predict(data)
    dist.barrier()
    hf_s = time.perf_counter() - start
    if dist.is_main:
        Path(args.out).write_text(json.dumps({
            "languages": len(tables), "examples": examples, "tokens": tokens, "batch": args.batch,
            "ours_s": ours_s, "hf_s": hf_s, "ours_ex_per_s": examples / ours_s, "hf_ex_per_s": examples / hf_s,
        }))


if __name__ == "__main__":
    main()
    leave_process_group()  # a rank exiting with live gloo work can abort after its work is done
