"""Shared pytest fixtures: a tiny model folder, the shared real data, and a small learnable
MNLI/XNLI set (built by `tests.fixtures.data.write_mnli_fixture`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.data import shared_data_root, write_mnli_fixture


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real evaluation data; tests that need it are skipped where it is absent."""
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"shared real data not found at {root} (set XSTILTS_SHARED_DATA)")
    return root


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random XLM-R encoder + tokenizer saved as a Hugging Face folder."""
    from tests.fixtures.tiny_models import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def mnli_fixture_dir(tmp_path_factory) -> Path:
    """A `data.data_dir` holding a small learnable MNLI (jsonl) and XNLI en/de/fr (XTREME tsv)."""
    return write_mnli_fixture(tmp_path_factory.mktemp("nli_data"))
