"""One shared encoder with one head per task; saving and loading it as Hugging Face files."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from toolkit.errors import ConfigError
from toolkit.io import atomic_dir
from toolkit.families.base import HeadOutput
from toolkit.families.registry import get_family
from toolkit.tasks.records import TaskSpec

HEADS_WEIGHTS = "heads.safetensors"
HEADS_INFO = "heads.json"


class MultiTaskModel(nn.Module):
    """The encoder runs once per batch; the batch's task picks the head."""

    def __init__(self, encoder: nn.Module, specs: dict[str, TaskSpec]):
        super().__init__()
        self.encoder = encoder
        self.specs = dict(specs)
        self.heads = nn.ModuleDict(
            {name: get_family(spec.family).make_head(spec, encoder) for name, spec in specs.items()}
        )

    def forward(self, task: str, batch: dict[str, torch.Tensor]) -> HeadOutput:
        hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return self.heads[task](hidden.last_hidden_state, batch)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay on weight matrices, none on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_norm = "LayerNorm" in name or "layer_norm" in name or "norm." in name
        (no_decay if name.endswith("bias") or is_norm else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def tied_to_encoder(model: MultiTaskModel) -> set[str]:
    """Head parameter names that are encoder Parameters themselves (the MLM decoder is the word
    embedding): saved once, with the encoder, not again in heads.safetensors."""
    shared = {id(p) for p in model.encoder.parameters()}
    return {name for name, p in model.heads.named_parameters() if id(p) in shared}


def gathered_state_dict(module: nn.Module, is_rank0: bool, skip: set[str] = frozenset()) -> dict[str, torch.Tensor]:
    """A full CPU state dict of `module` on rank 0, also under ZeRO-3 (parameters gathered).

    Every rank must call this (gathering is collective); ranks other than 0 get {}. Parameters
    are gathered one at a time so peak memory stays one tensor above the shard. Names in
    `skip` are left out.
    """
    state: dict[str, torch.Tensor] = {}
    zero3 = any(hasattr(p, "ds_id") for p in module.parameters())
    if zero3:
        import deepspeed

        for name, param in module.named_parameters():
            if name in skip:
                continue
            with deepspeed.zero.GatheredParameters([param], modifier_rank=None):
                if is_rank0:
                    state[name] = param.detach().to("cpu", copy=True).contiguous()
        if is_rank0:
            for name, buf in module.named_buffers():
                state[name] = buf.detach().to("cpu", copy=True).contiguous()
        return state
    if is_rank0:
        state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()
                 if k not in skip}
    return state


def export_model(model: MultiTaskModel, tokenizer, out_dir: str | Path, is_rank0: bool) -> None:
    """Write encoder (Hugging Face `save_pretrained`), tokenizer and heads to `out_dir`, atomically.

    Collective under ZeRO-3: call on every rank.
    """
    encoder_state = gathered_state_dict(model.encoder, is_rank0)
    heads_state = gathered_state_dict(model.heads, is_rank0, skip=tied_to_encoder(model))
    if not is_rank0:
        return
    with atomic_dir(out_dir) as tmp:
        model.encoder.save_pretrained(tmp, state_dict=encoder_state, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        save_file(heads_state, str(tmp / HEADS_WEIGHTS))
        info = {name: {"family": s.family, "labels": list(s.labels)} for name, s in model.specs.items()}
        (tmp / HEADS_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")


def load_heads(model: MultiTaskModel, model_dir: str | Path) -> None:
    """Load saved heads into `model` (task names and label sets must match what was saved)."""
    model_dir = Path(model_dir)
    info_path = model_dir / HEADS_INFO
    if not info_path.is_file():
        raise ConfigError(f"{model_dir} has no {HEADS_INFO}: not a model written by xstilts")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    for name, spec in model.specs.items():
        if name not in info:
            raise ConfigError(f"{model_dir} has no head for task {name!r} (has: {', '.join(info)})")
        if info[name]["labels"] != list(spec.labels):
            raise ConfigError(f"{model_dir}: head {name!r} was trained with labels {info[name]['labels']}")
    state = load_file(str(model_dir / HEADS_WEIGHTS))
    wanted = {k: v for k, v in state.items() if k.split(".", 1)[0] in model.specs}
    missing, unexpected = model.heads.load_state_dict(wanted, strict=False)
    missing = set(missing) - tied_to_encoder(model)  # tied weights come with the encoder
    if missing or unexpected:
        raise ConfigError(f"{model_dir / HEADS_WEIGHTS}: missing head weights {sorted(missing)}, "
                          f"unexpected {sorted(unexpected)}")
