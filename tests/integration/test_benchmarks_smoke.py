"""Smoke test of the benchmark command: `python -m benchmarks.run --quick` still runs end to end
(tiny random model, 2 CPU ranks through the deepspeed launcher) and prints every figure.

Benchmarks are not tests: nothing here checks a timing or a ratio.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.distributed]


def test_quick_benchmark_prints_every_figure(tmp_path):
    saved = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--save", str(saved)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=3600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    lines = proc.stdout.splitlines()
    for figure in "12345678":
        assert any(line.startswith(f"{figure} ") for line in lines), f"figure {figure} missing:\n{proc.stdout[-3000:]}"
    results = json.loads(saved.read_text())
    for name in ("padding", "caching", "training", "mfu", "step", "memory", "eval", "retrieval"):  # all but memory_bf16
        assert name in results
    # Every rank's model-state bytes were measured for each ZeRO stage of the quick run (0 and 3).
    for stage in (0, 3):
        ranks = results["memory"][f"zero{stage}"]["ranks"]
        assert len(ranks) == 2 and all(r["params"] > 0 and r["grads"] > 0 and r["optimizer"] > 0 for r in ranks)


def test_paper_grid_tables_print():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.paper_grid"], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "| **total** |" in proc.stdout and "| 3 |" in proc.stdout
