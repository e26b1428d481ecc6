"""Every task family through the real launcher: a 4-family multi-task ZeRO-3 intermediate run
that is killed and resumed, and target runs of the tagging, QA and retrieval families.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.fixtures.data import write_mnli_fixture
from tests.fixtures.families import write_family_data
from tests.fixtures.launch import kill_job, run_phase, scalars, start_phase, wait_for

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

TASKS = ["mnli", "squad_v2", "cosmosqa", "ccg"]  # pair, span QA, multiple choice, tagging


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    # A folder of its own: the session's MNLI fixture is shared with other tests, which must
    # not see these extra tasks appear in it.
    root = write_mnli_fixture(tmp_path_factory.mktemp("family_data"))
    return write_family_data(root)


def base_args(tiny_model_dir, data_dir, root, zero="zero3") -> list[str]:
    return [
        f"model.name_or_path={tiny_model_dir}", f"data.data_dir={data_dir}", f"output_root={root}",
        f"train.deepspeed_config=ds_configs/{zero}.json", "train.micro_batch_size=4",
        "train.learning_rate=3e-3", "train.log_every=4", "model.max_seq_length=64", "model.doc_stride=32",
    ]


def test_multitask_zero3_killed_and_resumed_draws_the_same_tasks(tiny_model_dir, data_dir, tmp_path):
    from toolkit.data.batching import task_for_step, task_probabilities

    args = base_args(tiny_model_dir, data_dir, tmp_path / "runs") + [
        "experiment=mt", f"intermediate={'+'.join(TASKS)}", "train.max_steps=24", "train.eval_every=8",
    ]
    run = tmp_path / "runs" / "mt" / "english" / "+".join(TASKS)
    job = start_phase("intermediate", args, tmp_path / "cache", tmp_path / "first.log")
    wait_for(run / "checkpoints" / "step8" / "zero_pp_rank_1_mp_rank_00_model_states.pt", job)
    wait_for(run / "checkpoints" / "latest", job)
    kill_job(job)
    out = run_phase("intermediate", args, tmp_path / "cache")
    assert "resumed from" in out.stdout
    assert (run / "DONE").exists()

    # The resumed run consumed, per task, exactly the batches the uninterrupted draw gives.
    state = torch.load(run / "checkpoints" / "step24" / "zero_pp_rank_0_mp_rank_00_model_states.pt",
                       map_location="cpu", weights_only=False)["xstilts"]
    probs = task_probabilities(state["sizes"], "proportional")
    drawn = [task_for_step(TASKS, probs, 1, step) for step in range(24)]
    assert state["streams"] == {t: drawn.count(t) for t in TASKS}
    assert len(set(drawn)) >= 3, drawn  # the sampler really mixed the families

    tags = scalars(run / "tb")
    for t in TASKS:
        assert f"eval/{t}/score" in tags
    assert sum(f"train/{t}/loss" in tags for t in TASKS) >= 3
    heads = json.loads((run / "encoder" / "heads.json").read_text())
    assert set(heads) == set(TASKS)
    assert heads["ccg"]["labels"][-1] == "<rare>"


@pytest.mark.parametrize(
    "target, metrics",
    [("udpos", {"f1", "precision", "recall"}), ("xquad", {"f1", "exact_match"})],
)
def test_target_family_two_ranks(tiny_model_dir, data_dir, tmp_path, target, metrics):
    args = base_args(tiny_model_dir, data_dir, tmp_path / "runs", zero="zero2") + [
        "experiment=fam", "approach=none", f"target={target}", "train.max_steps=16", "train.eval_every=8",
        "eval.languages=en,de",
    ] + (["eval.seqeval=1.x"] if target == "udpos" else [])  # the non-default seqeval reaches every scorer
    run_phase("target", args, tmp_path / "cache")
    run = tmp_path / "runs" / "fam" / "none" / "none" / target / "seed1"
    results = json.loads((run / "results.json").read_text())
    assert results["scoring"] == ({"metric": "seqeval", "seqeval": "1.x"} if target == "udpos" else {"metric": "squad"})
    assert set(results["metrics"]) == {"en", "de"}
    assert all(set(m) == metrics for m in results["metrics"].values())
    if target == "xquad":
        mean = lambda k: (results["metrics"]["en"][k] + results["metrics"]["de"][k]) / 2  # noqa: E731
        assert results["score"] == pytest.approx((mean("f1") + mean("exact_match")) / 2)
        assert json.loads((run / "predictions" / "xquad" / "test-de.json").read_text())
    else:
        assert results["score"] == pytest.approx(results["average"]["f1"])
        lines = (run / "predictions" / "udpos" / "test-de.tsv").read_text().split("\n\n")
        assert len([s for s in lines if s.strip()]) == 16

    from toolkit.evaluation.xtreme_format import score_files

    official = score_files(run / "predictions", run / "gold", [target], seqeval="1.x")
    assert official[target]["score"] == pytest.approx(results["score"])


def test_tatoeba_target_without_training(tiny_model_dir, tmp_path):
    root = tmp_path / "data" / "tatoeba"
    root.mkdir(parents=True)
    de = ["Ich habe Hunger.", "Das Haus ist groß.", "Wo ist der Bahnhof?", "Ich liebe dich."]
    en = ["I am hungry.", "The house is big.", "Where is the station?", "I love you."]
    (root / "tatoeba.deu-eng.deu").write_text("\n".join(de) + "\n", encoding="utf-8")
    (root / "tatoeba.deu-eng.eng").write_text("\n".join(en) + "\n", encoding="utf-8")
    args = [f"model.name_or_path={tiny_model_dir}", f"data.data_dir={tmp_path / 'data'}",
            f"output_root={tmp_path / 'runs'}", "approach=none", "target=tatoeba", "eval.languages=de"]
    run_phase("target", args, tmp_path / "cache")
    run = tmp_path / "runs" / "default" / "none" / "none" / "tatoeba" / "seed1"
    results = json.loads((run / "results.json").read_text())
    assert set(results["metrics"]) == {"de"} and 0 <= results["score"] <= 100
    assert results["scoring"] == {"metric": "tatoeba"}
    lines = (run / "predictions" / "tatoeba" / "test-de.tsv").read_text().split()
    assert len(lines) == 4 and all(0 <= int(x) < 4 for x in lines)
    assert (run / "DONE").exists()
