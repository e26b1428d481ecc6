"""Shared pytest fixtures: a tiny model folder, the shared real data, a small learnable
MNLI/XNLI set (built by `tests.fixtures.data.write_mnli_fixture`), and the loopback Hub.

The loopback Hub (`tests.fixtures.hub.LoopbackHub`) starts here, at import, and `HF_ENDPOINT`,
`HF_HOME` (a private temporary folder) and `HF_UPDATE_DOWNLOAD_COUNTS` are set before any test
module imports `datasets` or `huggingface_hub`: both clients read them once, at import. So
every Hub request of the session, in this process and in the runs it launches, goes to
127.0.0.1, and no test touches the user's Hugging Face cache.
"""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.hub import LoopbackHub, session_hub

LOOPBACK_HUB = session_hub()  # before anything imports datasets or huggingface_hub

import pytest  # noqa: E402  (after the environment above)

from tests.fixtures.data import shared_data_root, write_mnli_fixture  # noqa: E402


@pytest.fixture(scope="session")
def loopback_hub() -> LoopbackHub:
    """The session's loopback Hub; fails if a client was imported before its endpoint was set."""
    from huggingface_hub import constants

    assert constants.ENDPOINT == LOOPBACK_HUB.url, (
        f"huggingface_hub was imported before tests/conftest.py set HF_ENDPOINT ({constants.ENDPOINT})"
    )
    return LOOPBACK_HUB


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


def pytest_collection_modifyitems(config, items):
    """Files with slow tests run first. Under `pytest -n 2 --dist loadfile` (.ci/run) each worker
    takes whole files in this order, so the long end-to-end files start early and the many short
    files fill the gaps, instead of one worker finishing a long file alone at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: order within a file is kept
