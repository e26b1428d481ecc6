"""BUCC-scale bitext mining in a fresh process (so peak memory is this job's alone).

`--method ours` runs `toolkit.evaluation.retrieval.mine_pairs` (exact k-NN with faiss in query
batches, ratio margin, one pair per sentence). `--method naive` builds the full similarity
matrix with one matrix product and takes the same k neighbours and margins from it: the
all-pairs approach whose memory grows with n^2.

Embeddings are random unit vectors (dim 384, multilingual-e5-small's size) in which 10% of the
targets are noisy copies of sources, so that mining has real pairs to find.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np


def embeddings(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    src = rng.standard_normal((n, dim), dtype=np.float32)
    trg = rng.standard_normal((n, dim), dtype=np.float32)
    planted = n // 10
    trg[:planted] = src[:planted] + 0.5 * rng.standard_normal((planted, dim), dtype=np.float32)
    src /= np.linalg.norm(src, axis=1, keepdims=True)
    trg /= np.linalg.norm(trg, axis=1, keepdims=True)
    return src, trg


def naive_mine(src: np.ndarray, trg: np.ndarray, k: int = 4) -> int:
    """All-pairs similarity matrix, then the same ratio margins; returns the pairs found."""
    sims = src @ trg.T
    fwd_ind = np.argpartition(-sims, k, axis=1)[:, :k]
    fwd_sim = np.take_along_axis(sims, fwd_ind, 1)
    bwd_ind = np.argpartition(-sims, k, axis=0)[:k].T
    bwd_sim = np.take_along_axis(sims, bwd_ind.T, 0).T
    fwd_mean, bwd_mean = fwd_sim.mean(1), bwd_sim.mean(1)
    fwd_margin = fwd_sim / ((fwd_mean[:, None] + bwd_mean[fwd_ind]) / 2)
    best = fwd_ind[np.arange(len(src)), fwd_margin.argmax(1)]
    return int((best[: len(src) // 10] == np.arange(len(src) // 10)).sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--method", choices=["ours", "naive"], required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    from toolkit.evaluation.retrieval import mine_pairs  # imported before the baseline reading

    src, trg = embeddings(args.n, args.dim)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    if args.method == "ours":
        mined = mine_pairs(src, trg)
        found = int(((mined.source == mined.target) & (mined.source < args.n // 10)).sum())
    else:
        found = naive_mine(src, trg)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    Path(args.out).write_text(json.dumps({
        "method": args.method, "n": args.n, "dim": args.dim, "seconds": seconds,
        "peak_rss": peak, "embeddings_bytes": src.nbytes + trg.nbytes, "rss_before": base,
        "planted_found": found, "planted": args.n // 10,
    }))


if __name__ == "__main__":
    main()
