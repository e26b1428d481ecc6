"""Shared pieces of the benchmarks: realistic synthetic data, the model, launching 2 ranks.

The data is synthesised from real sentences shipped in the repository (demo_data: Tatoeba in
ten languages, XQuAD English paragraphs and questions) so that the token-length distributions
are the ones users meet, without needing MNLI or SQuAD themselves:

- MNLI-like pairs: premise = one to three consecutive English sentences (MNLI premises are
  ~22 words with a long tail), hypothesis = one short sentence (~11 words).
- SQuAD-like windows: question + a whole XQuAD paragraph (SQuAD paragraphs, 120 words on
  average, up to ~700), truncated to the 384-token window every SQuAD recipe uses.
- Zero-shot evaluation pairs in each Tatoeba language, built the same way as the MNLI-like ones.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from toolkit.tasks.records import PairExample

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo_data"
TATOEBA_LANGS = ["ara", "cmn", "deu", "fra", "hin", "jpn", "rus", "spa"]


def english_sentences() -> list[str]:
    """Real English sentences (Tatoeba's English sides, deduplicated, in file order)."""
    seen: dict[str, None] = {}
    for path in sorted((DEMO / "tatoeba").glob("tatoeba.*-eng.eng")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen.setdefault(line.strip(), None)
    return list(seen)


def language_sentences(lang: str) -> list[str]:
    path = DEMO / "tatoeba" / f"tatoeba.{lang}-eng.{lang}"
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _pairs(sentences: list[str], n: int, seed: int, prefix: str) -> list[PairExample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))  # sentences per premise
        start = int(rng.integers(0, len(sentences) - k))
        premise = " ".join(sentences[start : start + k])
        hypothesis = sentences[int(rng.integers(0, len(sentences)))]
        out.append(PairExample(f"{prefix}-{i}", premise, hypothesis, int(rng.integers(0, 3))))
    return out


def mnli_like(n: int, seed: int = 0) -> list[PairExample]:
    """`n` English premise/hypothesis pairs with MNLI-like lengths (3 labels)."""
    return _pairs(english_sentences(), n, seed, "mnli")


def squad_like(n: int, seed: int = 0) -> list[PairExample]:
    """`n` question + paragraph pairs from XQuAD English (SQuAD's own paragraphs and questions)."""
    data = json.loads((DEMO / "xquad" / "xquad.en.json").read_text(encoding="utf-8"))
    qa = [(q["question"], p["context"]) for a in data["data"] for p in a["paragraphs"] for q in p["qas"]]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(qa), size=n)
    return [PairExample(f"squad-{i}", qa[j][0], qa[j][1], int(rng.integers(0, 3))) for i, j in enumerate(picks)]


def eval_sets(per_language: int, seed: int = 0) -> dict[str, list[PairExample]]:
    """XNLI-like pairs in every Tatoeba language of demo_data (plus English)."""
    sets = {"eng": _pairs(english_sentences(), per_language, seed, "eng")}
    for lang in TATOEBA_LANGS:
        sets[lang] = _pairs(language_sentences(lang), per_language, seed, lang)
    return sets


def model_dir(quick: bool, scratch: Path) -> str:
    """The embedded multilingual-e5-small (XLM-R architecture), or a tiny random XLM-R for --quick."""
    if not quick:
        from toolkit.models.embedded import embedded_path

        return str(embedded_path())
    from tests.fixtures.tiny_models import save_tiny_model

    folder = scratch / "tiny-model"
    if not folder.exists():
        save_tiny_model(folder)
    return str(folder)


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def launch(module: str, args: list[str], ranks: int = 2, timeout: float = 3600, attempts: int = 3) -> dict:
    """Run `python -m <module> args` on `ranks` CPU ranks through the deepspeed launcher.

    Each rank gets one thread (2 ranks on 2 cores). Rank 0 writes its result as JSON to the
    file named by --out, which is returned. A rendezvous port taken by another job between
    choosing and binding it (EADDRINUSE) is retried with a fresh port.
    """
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    for attempt in range(attempts):
        port = _free_port()
        cmd = [shutil.which("deepspeed") or "deepspeed", "--num_gpus", str(ranks), "--master_port", str(port),
               "--no_local_rank", "--module", module, *args, "--out", str(out)]
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=timeout)
        finally:
            # DeepSpeed's CPU all-reduce leaves a shared-memory buffer per rank (tens of MB) in
            # /dev/shm after the job ends; repeated launches would fill the machine's memory.
            for leftover in Path("/dev/shm").glob(f"deepspeed_*_{port}_*"):
                leftover.unlink(missing_ok=True)
        if proc.returncode == 0 or "EADDRINUSE" not in proc.stdout:
            break
    if proc.returncode != 0 or out.stat().st_size == 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-5000:]}")
    result = json.loads(out.read_text())
    out.unlink()
    return result


def run_python(module: str, args: list[str], timeout: float = 3600) -> dict:
    """Run `python -m <module> args --out F` in a fresh process (for honest peak memory)."""
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-m", module, *args, "--out", str(out)], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed ({proc.returncode}):\n{proc.stdout[-5000:]}")
    result = json.loads(out.read_text())
    out.unlink()
    return result


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
