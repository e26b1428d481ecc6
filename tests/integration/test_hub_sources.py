"""Every registered Hub source, read through the real `datasets` and `huggingface_hub` clients
from the loopback Hub (tests/fixtures/hub.py) with the exact config, split, revision and data
folder the registry uses, by the task's own loader.

The fast suite loads one language per task, Hub dataset and split; the other languages (the
same code path with another config name) run with `-m slow`.
"""

from __future__ import annotations

import pytest

from tests.fixtures.hub_sources import serve_registry
from toolkit.tasks import provenance
from toolkit.tasks.records import LoadRequest
from toolkit.tasks.registry import get_task, registered_sources, sources_of


def _params() -> list:
    seen, out = set(), []
    for entry in registered_sources():
        key = (entry.task, entry.source.path, entry.split)
        marks = (pytest.mark.slow,) if key in seen else ()
        seen.add(key)
        out.append(pytest.param(entry, id=f"{entry.task}:{entry.source.label}", marks=marks))
    return out


def test_every_source_has_a_revision_and_the_columns_it_reads():
    entries = registered_sources()
    assert len({e.source.path for e in entries}) >= 15
    for entry in entries:
        assert entry.source.revision, entry
        assert entry.source.columns, entry


@pytest.mark.parametrize("entry", _params())
def test_registered_source_loads_through_the_real_clients(loopback_hub, entry):
    spec = get_task(entry.task)
    serve_registry(loopback_hub, list(sources_of(spec, entry.split, entry.language)))  # what this load reads
    with provenance.recording() as log:
        examples = spec.loader(spec, LoadRequest(entry.split, entry.language))
    assert examples
    read = [r for r in log if r.source == entry.source]
    assert read, f"{entry.source.label} was not read; read: {[r.source.label for r in log]}"
    record = read[0].as_dict()
    assert record["commit"] == loopback_hub.commit("datasets", entry.source.path, entry.source.revision)
    assert record["rows"] == record["split_rows"] > 0 and len(record["fingerprint"]) == 16


def test_the_paper_grid_reads_only_registered_sources():
    """What `prepare spec=configs/grids/paper.yaml` fetches: every Hub split of its cells is one
    the test above loads, and only the cells with CCG (licensed, local files only) cannot be
    prepared from the Hub."""
    from toolkit.errors import ConfigError
    from toolkit.grid.spec import load_grid
    from toolkit.pipeline.inputs import hub_inputs

    registered = {entry.source for entry in registered_sources()}
    read, unusable = set(), []
    for cell in load_grid("configs/grids/paper.yaml").cells:
        try:
            read |= {source for _, source in hub_inputs(cell.cfg, cell.kind)}
        except ConfigError as err:
            unusable.append((cell.cfg.intermediate, str(err)))
    assert read and read <= registered
    assert unusable and all("ccg" in inter.split("+") and err.startswith("ccg: has no Hub source")
                            for inter, err in unusable)
