"""Pre-flight errors, before any process group or training: what a phase reads from the Hub is
checked through the real clients against the loopback Hub, and a bad item fails with a message
naming the dataset, config, split, revision or model, and what was expected."""

from __future__ import annotations

import datasets
import pytest
from datasets import Features, Value

from tests.fixtures.hub_sources import schema_table, serve_registry
from tests.fixtures.tiny_models import save_tiny_model
from toolkit.cli import main
from toolkit.errors import ConfigError, DataError
from toolkit.hub import HubSource, check_model, check_source
from toolkit.pipeline.checks import check_inputs, load_config
from toolkit.pipeline.inputs import hub_inputs
from toolkit.tasks.registry import get_task, sources_of


def _xnli(lang: str, split: str = "test") -> HubSource:
    return sources_of(get_task("xnli"), split, lang)[0]


def test_a_served_phase_passes(loopback_hub, tiny_model_dir):
    cfg = load_config(["approach=none", "target=xnli", "eval.languages=de", f"model.name_or_path={tiny_model_dir}"])
    serve_registry(loopback_hub, [s for _, s in hub_inputs(cfg, "target")])
    check_inputs(cfg, "target")


def test_unknown_config_and_split(loopback_hub):
    serve_registry(loopback_hub, [_xnli("de")])
    with pytest.raises(DataError, match=r"facebook/xnli\[fr\]/test@main: .*'fr' not found. Available: \['de'\]"):
        check_source(_xnli("fr"))
    with pytest.raises(DataError, match=r"facebook/xnli\[de\]/validation@main: no split 'validation'; it has test"):
        check_source(_xnli("de", "validation"))


def test_unknown_revision(loopback_hub):
    serve_registry(loopback_hub, [_xnli("de")])
    with pytest.raises(DataError, match=r"facebook/xnli\[de\]/test@v9: .*Revision 'v9' doesn't exist"):
        check_source(_xnli("de").at("v9"))


def test_script_only_dataset_names_the_parquet_export(loopback_hub):
    cosmos = sources_of(get_task("cosmosqa"), "train", None)[0]
    serve_registry(loopback_hub, [cosmos])  # the export branch, and main holding cosmos_qa.py only
    check_source(cosmos)
    with pytest.raises(DataError, match=r"holds only a loading script \(cosmos_qa.py\).*refs/convert/parquet"):
        check_source(cosmos.at("main"))


def test_columns_that_do_not_match_the_task(loopback_hub, monkeypatch):
    source = _xnli("de")
    table = schema_table(source)
    as_text = table.cast(Features({**table.features, "label": Value("string")}))
    loopback_hub.add_dataset("facebook/xnli", {"de": {"test": as_text}})
    with pytest.raises(DataError, match=r"facebook/xnli\[de\]/test@main: column 'label' is string, the task expects class_label"):
        check_source(source)
    loopback_hub.add_dataset("facebook/xnli", {"de": {"test": table.remove_columns("hypothesis")}})
    with pytest.raises(DataError, match=r"has no column 'hypothesis' \(expected string\)"):
        check_source(source)


def test_models_gated_missing_or_not_a_model_folder(loopback_hub, tmp_path, tiny_model_dir):
    loopback_hub.add_model_folder("someone/gated-model", tiny_model_dir, gated=True)
    with pytest.raises(ConfigError, match="someone/gated-model: a gated model; accept its licence"):
        check_model("someone/gated-model", None)
    with pytest.raises(ConfigError, match="nobody/nothing: no such model on the Hub"):
        check_model("nobody/nothing", None)
    loopback_hub.add_model_folder("someone/open-model", tiny_model_dir)
    check_model("someone/open-model", None)
    with pytest.raises(ConfigError, match="revision v9.*no such revision"):
        check_model("someone/open-model", "v9")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="has a config.json but no weights"):
        check_model(str(tmp_path), None)


def test_a_folder_that_is_not_a_model_fails_before_the_process_group(tmp_path, capsys, mnli_fixture_dir):
    status = main(["target", "approach=none", "target=xnli", "model.name_or_path=/tmp",
                   f"data.data_dir={mnli_fixture_dir}", f"output_root={tmp_path}"])
    err = capsys.readouterr().err
    assert status == 2 and "model.name_or_path=/tmp: this folder is not a Hugging Face model: it has no config.json" in err
    assert not any(tmp_path.iterdir())


def test_a_task_the_hub_lacks_a_split_of(loopback_hub):
    cfg = load_config(["approach=none", "target=udpos", "eval.languages=yo", "eval.split=validation"])
    with pytest.raises(ConfigError, match=r"udpos 'yo': google/xtreme's udpos.Yoruba has no validation split"):
        check_inputs(cfg, "target")
    cfg = load_config(["approach=english", "intermediate=ccg", "target=xnli"])
    with pytest.raises(ConfigError, match="ccg: has no Hub source, only local files; set data.data_dir"):
        check_inputs(cfg, "intermediate")


def test_hub_revisions_pin_a_task_and_unknown_tasks_are_refused(loopback_hub):
    cfg = load_config(["approach=none", "target=xnli", "eval.languages=de", "data.hub_revisions={xnli: v2}"])
    assert {s.revision for _, s in hub_inputs(cfg, "target") if s.path == "facebook/xnli"} == {"v2"}
    assert {s.revision for _, s in hub_inputs(cfg, "target") if s.path == "nyu-mll/glue"} == {"main"}
    with pytest.raises(ConfigError, match="data.hub_revisions: unknown task 'xnlli'"):
        load_config(["data.hub_revisions={xnlli: v2}"])


def test_datasets_is_really_talking_to_the_loopback_hub(loopback_hub):
    assert datasets.config.HF_ENDPOINT == loopback_hub.url
