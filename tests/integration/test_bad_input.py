"""Bad input of every kind gives one clear error naming its source, before any training.

The catalogue of docs/reliability.md: mistyped names (with the nearest valid ones), malformed
rows, bad files, a tokenizer from another model, inconsistent batch sizes, and the same through
`bash run_scripts/intermediate.sh` (exit code 2, the message on stderr, no training output).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.launch import REPO, job_env
from toolkit.config.schema import TrainArgs
from toolkit.pipeline.checks import load_config
from toolkit.config.deepspeed import resolve_batch
from toolkit.data.features import load_examples
from toolkit.errors import ConfigError, DataError
from toolkit.pipeline.stages import parse
from toolkit.tasks.registry import get_task
from toolkit.tasks.benchmarks import check_languages

GOOD = {"premise": "A cat sleeps.", "hypothesis": "A pet rests.", "label": 0}


# ---------------------------------------------------------------------------------------------
# Names.
# ---------------------------------------------------------------------------------------------


def test_unknown_task_suggests_nearest():
    with pytest.raises(ConfigError, match=r"unknown task 'mnlii' \(did you mean 'mnli'"):
        get_task("mnlii")
    with pytest.raises(ConfigError, match=r"unknown task 'sqad_v2' \(did you mean 'squad_v2'"):
        parse("mnli+sqad_v2")


def test_unknown_approach_and_choice_values():
    with pytest.raises(ConfigError, match=r"approach='englsh' is not one of english, mlm, translated, none "
                                          r"\(did you mean 'english'\?\)"):
        load_config(["approach=englsh"])
    with pytest.raises(ConfigError, match=r"train.precision='bf61' is not one of"):
        load_config(["train.precision=bf61"])


def test_unknown_config_key_suggests_nearest(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'train.learning_rat' \(did you mean "
                                          r"'train.learning_rate'"):
        load_config(["train.learning_rat=1e-5"])
    bad = tmp_path / "run.yaml"
    bad.write_text("train:\n  micro_batchsize: 8\n")
    with pytest.raises(ConfigError, match=rf"{bad}: unknown config key 'train.micro_batchsize' \(did you mean "
                                          r"'train.micro_batch_size'"):
        load_config([f"config={bad}"])


def test_unknown_language_suggests_nearest():
    with pytest.raises(ConfigError, match="xnli") as err:
        check_languages("xnli", ["en", "dee"])
    assert "'dee'" in str(err.value) and "'de'" in str(err.value)


def test_inconsistent_batch_sizes():
    with pytest.raises(ConfigError, match=r"inconsistent batch sizes: train.train_batch_size=32 but "
                                          r"train.micro_batch_size=4 x train.gradient_accumulation_steps=2 x "
                                          r"world size 2 = 16"):
        resolve_batch(TrainArgs(micro_batch_size=4, gradient_accumulation_steps=2, train_batch_size=32), 2)
    with pytest.raises(ConfigError, match="train_batch_size=10 is not divisible by train.micro_batch_size=4"):
        resolve_batch(TrainArgs(micro_batch_size=4, train_batch_size=10), 2)


# ---------------------------------------------------------------------------------------------
# Rows and files.
# ---------------------------------------------------------------------------------------------


def _mnli(root: Path, rows: list) -> Path:
    (root / "mnli").mkdir(parents=True, exist_ok=True)
    path = root / "mnli" / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "row, message",
    [
        ({"premise": "x", "label": 1}, "line 2: missing field 'hypothesis' (has: premise, label)"),
        ({**GOOD, "label": 7}, "line 2: field 'label' = 7 is outside 0..2"),
        ({**GOOD, "label": "yes"}, "line 2: field 'label' = 'yes' is neither a label name"),
        ({**GOOD, "premise": ""}, "line 2: field 'premise' is empty"),
    ],
    ids=["missing-field", "label-range", "label-type", "empty-text"],
)
def test_malformed_rows_name_file_line_and_field(tmp_path, row, message):
    path = _mnli(tmp_path, [GOOD, row])
    with pytest.raises(DataError) as err:
        load_examples(get_task("mnli"), "train", None, str(tmp_path), None)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_empty_file(tmp_path):
    path = _mnli(tmp_path, [])
    with pytest.raises(DataError, match=f"mnli: {path} is empty"):
        load_examples(get_task("mnli"), "train", None, str(tmp_path), None)


def test_bad_utf8_names_the_line(tmp_path):
    (tmp_path / "xnli").mkdir()
    path = tmp_path / "xnli" / "test-de.tsv"
    path.write_bytes("Ein Hund.\tEin Tier.\tentailment\n".encode() + b"K\xe4se\tx\tneutral\n")
    with pytest.raises(DataError, match=rf"{path}: line 2 is not valid UTF-8"):
        load_examples(get_task("xnli"), "test", "de", str(tmp_path), None)


def test_answer_span_outside_context(tmp_path):
    (tmp_path / "squad").mkdir()
    path = tmp_path / "squad" / "dev-v1.1.json"
    qa = {"id": "q1", "question": "Where?", "answers": [{"text": "the mat", "answer_start": 100}]}
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [
        {"context": "The cat sat on the mat.", "qas": [qa]}]}]}))
    with pytest.raises(DataError) as err:
        load_examples(get_task("squad"), "validation", None, str(tmp_path), None)
    assert str(err.value) == (
        f"{path} data[0].paragraphs[0].qas[0] (id q1): answers[0] field 'answer_start' = 100 puts the "
        "7-character answer outside the 23-character context"
    )


# ---------------------------------------------------------------------------------------------
# Model and tokenizer.
# ---------------------------------------------------------------------------------------------


def test_tokenizer_of_another_model_is_refused():
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from toolkit.models.encoder import check_tokenizer_matches
    from tests.fixtures.tiny_models import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    small = XLMRobertaModel(XLMRobertaConfig(vocab_size=len(tokenizer) - 10, hidden_size=8, num_hidden_layers=1,
                                             num_attention_heads=1, intermediate_size=8))
    with pytest.raises(ConfigError, match=rf"tokenizer of 'other/model' has {len(tokenizer)} tokens but the "
                                          rf"encoder's embedding table has {len(tokenizer) - 10} rows"):
        check_tokenizer_matches(tokenizer, small, "other/model")


# ---------------------------------------------------------------------------------------------
# Through the run script: exit code 2, message on stderr, nothing trained or written beyond config.
# ---------------------------------------------------------------------------------------------


def _run_script(args: list[str], cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "run_scripts/intermediate.sh", *args], cwd=REPO, env=job_env(cache),
                          capture_output=True, text=True, timeout=300)


def test_typo_in_run_script_arguments_fails_in_a_second(tmp_path):
    proc = _run_script([f"output_root={tmp_path / 'runs'}", "train.learnig_rate=1e-5"], tmp_path / "cache")
    assert proc.returncode == 2
    assert "error: unknown config key 'train.learnig_rate' (did you mean 'train.learning_rate'" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_malformed_data_through_run_script(tiny_model_dir, tmp_path):
    data = tmp_path / "data"
    path = _mnli(data, [GOOD, {**GOOD, "label": 9}])
    root = tmp_path / "runs"
    proc = _run_script([f"model.name_or_path={tiny_model_dir}", f"data.data_dir={data}", f"output_root={root}",
                        "experiment=bad"], tmp_path / "cache")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"error: {path} line 2: field 'label' = 9 is outside 0..2" in proc.stderr
    assert "Traceback" not in proc.stderr
    run = root / "bad" / "english" / "mnli"
    left = sorted(p.name for p in run.iterdir()) if run.exists() else []
    # At most the merged config (saved at phase start, before data is read); never checkpoints,
    # TensorBoard files, an encoder or DONE.
    assert set(left) <= {"config.yaml"}, left
