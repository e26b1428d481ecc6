"""Batch order: global batches, per-rank micro-batches, the multi-task sampler and resumable streams."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.data.batching import (
    TaskStream,
    global_batches,
    planned_steps,
    rank_micro_batches,
    task_for_step,
    task_probabilities,
)
from toolkit.errors import ConfigError


def skewed_lengths(n: int, seed: int = 0) -> list[int]:
    """Token lengths shaped like NLI pairs: mostly short, a long tail, clipped to 8..256."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(mean=3.7, sigma=0.5, size=n), 8, 256).astype(int).tolist()


def padded_ratio(batches: list[list[int]], lengths: list[int]) -> float:
    """Fraction of the tokens in padded batches that are padding (each batch padded to its max)."""
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    real = sum(lengths[i] for b in batches for i in b)
    return 1 - real / padded


# ---------------------------------------------------------------------------------------------
# Global batches.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, batch_size", [(100, 1), (100, 7), (1000, 32), (1003, 32), (5000, 64), (64, 64)])
@pytest.mark.parametrize("group", [True, False])
def test_global_batches_partition(n, batch_size, group):
    lengths = skewed_lengths(n)
    batches = global_batches(lengths, batch_size, seed=3, epoch=1, group_by_length=group)
    assert len(batches) == n // batch_size
    assert all(len(b) == batch_size for b in batches)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))  # every example at most once per epoch
    assert set(flat) <= set(range(n))
    assert all(isinstance(i, int) for i in flat)


def test_fewer_examples_than_a_batch():
    with pytest.raises(ConfigError, match="3 training examples are fewer than one global batch of 4"):
        global_batches([5, 6, 7], 4, seed=0, epoch=0)


@pytest.mark.parametrize("group", [True, False])
def test_order_is_seeded_and_changes_with_epoch(group):
    lengths = skewed_lengths(2000)
    first = global_batches(lengths, 16, seed=1, epoch=0, group_by_length=group)
    assert global_batches(lengths, 16, seed=1, epoch=0, group_by_length=group) == first
    assert global_batches(lengths, 16, seed=1, epoch=1, group_by_length=group) != first
    assert global_batches(lengths, 16, seed=2, epoch=0, group_by_length=group) != first
    # Not just the batch order: the batches themselves are different sets of examples.
    sets0 = {frozenset(b) for b in first}
    sets1 = {frozenset(b) for b in global_batches(lengths, 16, seed=1, epoch=1, group_by_length=group)}
    assert len(sets0 & sets1) < len(sets0) // 10


@pytest.mark.parametrize("n", [1003, 5011])
def test_left_over_examples_rotate_over_epochs(n):
    """The examples dropped to fill whole batches change every epoch, so none is never seen.

    Distinct lengths make "the shortest ones" well defined: sorting before cutting the
    left-overs would drop exactly those every epoch.
    """
    lengths = (np.random.default_rng(0).permutation(n) + 8).tolist()
    seen: set[int] = set()
    for epoch in range(12):
        for b in global_batches(lengths, 32, seed=5, epoch=epoch, group_by_length=True):
            seen.update(b)
    assert seen == set(range(n))


def test_length_grouping_reduces_padding():
    lengths = skewed_lengths(6400, seed=1)
    grouped = np.mean([padded_ratio(global_batches(lengths, 32, 0, e, True), lengths) for e in range(3)])
    shuffled = np.mean([padded_ratio(global_batches(lengths, 32, 0, e, False), lengths) for e in range(3)])
    # Measured: 0.62 of the tokens are padding in random batches, 0.06 with grouping.
    assert shuffled > 0.4
    assert grouped < 0.1
    assert grouped < shuffled / 5


def test_grouped_batches_still_come_in_random_order():
    """Grouping sorts inside pools only; the batch sequence must not run long-to-short."""
    lengths = skewed_lengths(6400, seed=2)
    batches = global_batches(lengths, 32, seed=0, epoch=0, group_by_length=True)
    longest = np.array([max(lengths[i] for i in b) for b in batches])
    rank_corr = np.corrcoef(np.arange(len(longest)), np.argsort(np.argsort(longest)))[0, 1]
    assert abs(rank_corr) < 0.2
    # And neighbouring batches are not near-duplicates in length (not a sorted run).
    assert np.mean(np.diff(longest) < 0) < 0.7


# ---------------------------------------------------------------------------------------------
# Micro-batches per rank.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("world, accum", [(1, 1), (1, 4), (2, 1), (2, 2), (4, 1), (4, 2), (4, 4)])
def test_ranks_share_the_global_batch(world, accum):
    lengths = skewed_lengths(1000)
    batch = global_batches(lengths, 32, seed=0, epoch=0)[0]
    per_rank = [rank_micro_batches(batch, lengths, world, rank, accum) for rank in range(world)]
    size = 32 // (world * accum)
    assert all(len(micros) == accum for micros in per_rank)  # every rank steps the same number of times
    assert all(len(m) == size for micros in per_rank for m in micros)
    flat = [i for micros in per_rank for m in micros for i in m]
    assert sorted(flat) == sorted(batch)  # disjoint and complete: the global batch, whatever the world size


def test_same_examples_per_step_for_any_world_size():
    """The global batch does not depend on the world size, and neither does its union over ranks."""
    lengths = skewed_lengths(640)
    batches = global_batches(lengths, 16, seed=4, epoch=2)
    for batch in batches[:5]:
        unions = {
            world: frozenset(i for r in range(world) for m in rank_micro_batches(batch, lengths, world, r, 16 // (world * 2)) for i in m)
            for world in (1, 2, 4, 8)
        }
        assert set(unions.values()) == {frozenset(batch)}


def test_ranks_get_similar_lengths_at_each_step():
    """At each accumulation step the ranks' micro-batches are neighbours in length order, so the
    slowest rank (the step's wall time) pads far less than with a random deal."""
    rng = np.random.default_rng(0)
    lengths = skewed_lengths(4000, seed=3)
    world, accum = 4, 2
    dealt, random_deal = 0, 0
    for batch in global_batches(lengths, 64, seed=0, epoch=0, group_by_length=False)[:30]:
        micros = [rank_micro_batches(batch, lengths, world, r, accum) for r in range(world)]
        shuffled = rng.permutation(batch).reshape(world, accum, -1)
        for k in range(accum):
            dealt += max(len(micros[r][k]) * max(lengths[i] for i in micros[r][k]) for r in range(world))
            random_deal += max(len(m) * max(lengths[i] for i in m) for m in shuffled[:, k])
    assert dealt < 0.85 * random_deal


def test_micro_batch_split_must_divide():
    with pytest.raises(ConfigError, match="not divisible into 8 micro-batches"):
        rank_micro_batches(list(range(12)), [1] * 12, world_size=4, rank=0, accumulation=2)


# ---------------------------------------------------------------------------------------------
# Multi-task sampling.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, cap, expected",
    [
        ("proportional", None, {"a": 0.1, "b": 0.9}),
        ("temperature", None, {"a": 10 / 40, "b": 30 / 40}),  # sqrt(100)=10, sqrt(900)=30
        ("uniform", None, {"a": 0.5, "b": 0.5}),
        ("proportional", 400, {"a": 0.2, "b": 0.8}),
        ("temperature", 400, {"a": 10 / 30, "b": 20 / 30}),
        ("uniform", 400, {"a": 0.5, "b": 0.5}),
        ("proportional", 50, {"a": 0.5, "b": 0.5}),
    ],
)
def test_task_probabilities(method, cap, expected):
    probs = task_probabilities({"a": 100, "b": 900}, method, temperature=2.0, cap=cap)
    assert probs.keys() == expected.keys()
    for t in expected:
        assert probs[t] == pytest.approx(expected[t])


def test_temperature_interpolates_between_proportional_and_uniform():
    sizes = {"mnli": 392_702, "squad_v2": 130_319, "commonsenseqa": 9_741}
    assert task_probabilities(sizes, "temperature", 1.0) == pytest.approx(task_probabilities(sizes, "proportional"))
    hot = task_probabilities(sizes, "temperature", 1000.0)
    assert hot == pytest.approx(task_probabilities(sizes, "uniform"), abs=0.01)
    assert sum(task_probabilities(sizes, "temperature", 3.0).values()) == pytest.approx(1.0)


def test_unknown_sampler():
    with pytest.raises(ConfigError, match="unknown sampler 'roundrobin'"):
        task_probabilities({"a": 1}, "roundrobin")


def test_task_for_step_is_a_pure_function():
    tasks = ["mnli", "squad_v2", "hellaswag"]
    probs = {"mnli": 0.5, "squad_v2": 0.3, "hellaswag": 0.2}
    forward = [task_for_step(tasks, probs, seed=9, step=s) for s in range(500)]
    backward = [task_for_step(tasks, probs, seed=9, step=s) for s in reversed(range(500))][::-1]
    assert forward == backward  # no hidden state: a resumed run, or another rank, draws the same
    assert forward != [task_for_step(tasks, probs, seed=10, step=s) for s in range(500)]
    assert task_for_step(["mnli"], {"mnli": 1.0}, seed=0, step=123) == "mnli"


def test_task_draws_follow_the_probabilities():
    tasks = ["a", "b", "c"]
    probs = task_probabilities({"a": 600, "b": 300, "c": 100}, "proportional")
    steps = 20_000
    draws = [task_for_step(tasks, probs, seed=1, step=s) for s in range(steps)]
    for t in tasks:
        # Binomial standard error at p=0.5 and 20k draws is 0.0035; allow ~3 of them.
        assert draws.count(t) / steps == pytest.approx(probs[t], abs=0.011)


# ---------------------------------------------------------------------------------------------
# Resumable streams and step planning.
# ---------------------------------------------------------------------------------------------


def test_task_stream_walks_epoch_after_epoch():
    lengths = skewed_lengths(330)
    stream = TaskStream(lengths, 32, seed=6, group_by_length=True)
    assert stream.per_epoch == 10
    got = [stream.next() for _ in range(25)]
    expected = [b for e in range(3) for b in global_batches(lengths, 32, 6, e, True)][:25]
    assert got == expected
    assert stream.position == 25


@pytest.mark.parametrize("position", [0, 1, 7, 10, 11, 29])
def test_task_stream_resumes_identically(position):
    lengths = skewed_lengths(330)
    original = TaskStream(lengths, 32, seed=6, group_by_length=False)
    for _ in range(position):
        original.next()
    restored = TaskStream(lengths, 32, seed=6, group_by_length=False)
    restored.position = position  # what a checkpoint stores
    assert [restored.next() for _ in range(15)] == [original.next() for _ in range(15)]


def test_task_stream_needs_one_batch():
    with pytest.raises(ConfigError, match="2 training examples are fewer than one global batch of 4"):
        TaskStream([3, 4], 4, seed=0, group_by_length=True)


@pytest.mark.parametrize(
    "sizes, batch, epochs, max_steps, expected",
    [
        ({"a": 100}, 16, 3.0, -1, 18),  # 6 full batches per epoch
        ({"a": 100, "b": 50}, 16, 3.0, -1, 27),
        ({"a": 100, "b": 50}, 16, 0.5, -1, 5),  # ceil(4.5)
        ({"a": 100}, 16, 3.0, 7, 7),
        ({"a": 10}, 16, 3.0, -1, 1),
    ],
)
def test_planned_steps(sizes, batch, epochs, max_steps, expected):
    assert planned_steps(sizes, batch, epochs, max_steps) == expected
