"""Batch order: length-grouped global batches, the rank's share of them, and the task sampler.

Everything here is a pure function of (seed, epoch/step, sizes): no hidden state. That is what
makes training resumable and world-size independent — a resumed run recomputes the same
order, and every rank computes the same global batch and the same task for a step, which
ZeRO-3 requires (all ranks must run the same forward path).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from toolkit.errors import ConfigError


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([abs(int(k)) for k in keys])


def global_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_length: bool = True,
    group_factor: int = 50,
) -> list[list[int]]:
    """One epoch of global batches (index lists) in a seeded random order.

    With length grouping, shuffled examples are cut into pools of `group_factor` batches and
    each pool is sorted by length before being cut into batches, so a batch holds examples of
    similar length (little padding) while the pools and the batch order stay random. The last
    incomplete batch is dropped: every optimizer step sees exactly `batch_size` examples.
    """
    n = len(lengths)
    if n < batch_size:
        raise ConfigError(f"{n} training examples are fewer than one global batch of {batch_size}")
    rng = _rng(seed, epoch, 7919)
    # The left-over examples are cut from the random permutation, before any length sorting,
    # so they differ from epoch to epoch (sorting first would drop the shortest ones every time).
    order = rng.permutation(n)[: (n // batch_size) * batch_size]
    if group_by_length:
        lengths = np.asarray(lengths)
        pool = batch_size * group_factor
        pieces = []
        for start in range(0, len(order), pool):
            chunk = order[start : start + pool]
            pieces.append(chunk[np.argsort(-lengths[chunk], kind="stable")])
        order = np.concatenate(pieces)
    batches = order.reshape(-1, batch_size)
    batches = batches[rng.permutation(len(batches))]
    return [b.tolist() for b in batches]


def rank_micro_batches(
    batch: Sequence[int], lengths: Sequence[int], world_size: int, rank: int, accumulation: int
) -> list[list[int]]:
    """This rank's micro-batches of one global batch (`accumulation` of them).

    The global batch is sorted by length and cut into world_size x accumulation equal micro-
    batches, dealt round-robin so ranks get similar lengths (no rank waits for a long one).
    The set of examples per optimizer step is the same for any world size.
    """
    parts = world_size * accumulation
    if len(batch) % parts:
        raise ConfigError(f"global batch {len(batch)} not divisible into {parts} micro-batches")
    size = len(batch) // parts
    ordered = sorted(batch, key=lambda i: -lengths[i])
    micro = [ordered[k * size : (k + 1) * size] for k in range(parts)]
    return [micro[k] for k in range(rank, parts, world_size)]


def task_probabilities(
    sizes: dict[str, int], method: str, temperature: float = 2.0, cap: int | None = None,
    shares: dict[str, float] | None = None,
) -> dict[str, float]:
    """Sampling probability per task: proportional to size, size^(1/T), or uniform.

    `shares` fixes some tasks' probabilities (the `mlm` approach gives MLM a configured share
    of the steps whatever the corpus size); the other tasks split the rest by `method`.
    """
    shares = dict(shares or {})
    rest = 1.0 - sum(shares.values())
    if set(shares) - set(sizes) or not 0 < rest <= 1 or any(v <= 0 for v in shares.values()):
        raise ConfigError(f"fixed task shares {shares} must be > 0, sum below 1 and name tasks of {sorted(sizes)}")
    capped = {t: min(s, cap) if cap else s for t, s in sizes.items() if t not in shares}
    if method == "uniform":
        weights = {t: 1.0 for t in capped}
    elif method == "temperature":
        weights = {t: s ** (1.0 / temperature) for t, s in capped.items()}
    elif method == "proportional":
        weights = {t: float(s) for t, s in capped.items()}
    else:
        raise ConfigError(f"unknown sampler {method!r}: proportional, temperature or uniform")
    total = sum(weights.values())
    probs = {t: rest * w / total for t, w in weights.items()}
    return {t: shares[t] if t in shares else probs[t] for t in sizes}


def task_for_step(tasks: Sequence[str], probs: dict[str, float], seed: int, step: int) -> str:
    """The task drawn for optimizer step `step`: identical on every rank, and after a resume."""
    if len(tasks) == 1:
        return tasks[0]
    u = _rng(seed, step, 104729).random()
    cumulative = 0.0
    for t in tasks:
        cumulative += probs[t]
        if u < cumulative:
            return t
    return tasks[-1]


class TaskStream:
    """Endless global batches of one task: epoch after epoch, each in a fresh seeded order.

    `position` (global batches consumed) is the only state; it is saved with the checkpoint.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, group_by_length: bool):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self.per_epoch = len(self.lengths) // batch_size
        if self.per_epoch == 0:
            raise ConfigError(f"{len(self.lengths)} training examples are fewer than one global batch of {batch_size}")
        self.position = 0
        self._epoch = -1
        self._batches: list[list[int]] = []

    def next(self) -> list[int]:
        epoch, index = divmod(self.position, self.per_epoch)
        if epoch != self._epoch:
            self._batches = global_batches(
                self.lengths, self.batch_size, self.seed, epoch, self.group_by_length
            )
            self._epoch = epoch
        self.position += 1
        return self._batches[index]


def planned_steps(
    sizes: dict[str, int], batch_size: int, num_epochs: float, max_steps: int,
    shares: dict[str, float] | None = None,
) -> int:
    """Optimizer steps of a phase: max_steps, or epochs over the summed task sizes.

    Tasks with a fixed share of the steps (`shares`, see `task_probabilities`) are not counted
    in the epochs: the other tasks get `num_epochs` passes (in expectation) and the shared
    tasks' steps come on top, so adding MLM does not shorten the intermediate tasks' training.
    """
    if max_steps > 0:
        return max_steps
    shares = shares or {}
    per_epoch = sum(s // batch_size for t, s in sizes.items() if t not in shares)
    return max(1, math.ceil(per_epoch * num_epochs / (1.0 - sum(shares.values()))))
