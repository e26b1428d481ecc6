"""`predict`: length-sorted batches give every feature the output it gets alone, in feature order,
for a cached FeatureTable and a plain list alike; per-token outputs are padded with PAD_VALUE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toolkit.data.features import featurize_cached
from toolkit.runtime.distributed import Dist
from toolkit.evaluation.predict import PAD_VALUE, predict
from toolkit.families.multitask import MultiTaskModel
from tests.fixtures.tiny_models import tiny_encoder, tiny_tokenizer
from toolkit.tasks.records import PairExample, TaggingExample, TaskSpec
from toolkit.tasks.registry import get_task

TAGS = TaskSpec(name="toy_tags", family="tagging", description="toy", metric="seqeval",
                loader=lambda spec, req: [], labels=("NOUN", "VERB", "X"))
CPU = Dist(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))
WORDS = "the cat sat on a mat while seven quick brown foxes jumped over lazy dogs".split()


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def _alone(model, spec, features, pad_id):
    """Each feature's outputs from a batch of one (no padding at all)."""
    return [predict(model, spec, [f], 1, pad_id, CPU) for f in features]


def _examples(spec):
    rng = np.random.default_rng(0)
    if spec.family == "tagging":
        return [TaggingExample(f"s{i}", tuple(WORDS[: int(n)]), tuple("X" for _ in range(int(n))))
                for i, n in enumerate(rng.integers(1, len(WORDS), size=11))]
    return [PairExample(f"p{i}", " ".join(WORDS[: int(a)]), " ".join(WORDS[-int(b):]), 0)
            for i, (a, b) in enumerate(rng.integers(1, len(WORDS), size=(11, 2)))]


@pytest.mark.parametrize("spec", [get_task("mnli"), TAGS], ids=["pair", "tagging"])
def test_sorted_batches_match_each_feature_alone(spec, tokenizer, tmp_path):
    model = MultiTaskModel(tiny_encoder(tokenizer), {spec.name: spec})
    pad = tokenizer.pad_token_id
    table = featurize_cached(spec, _examples(spec), tokenizer, 64, tmp_path)
    rows = list(table)
    assert len({r["length"] for r in rows}) > 3  # lengths really differ: batches are reordered
    batched = predict(model, spec, table, 4, pad, CPU)
    assert all(np.array_equal(batched[k], v) for k, v in predict(model, spec, rows, 4, pad, CPU).items())
    for i, (row, alone) in enumerate(zip(rows, _alone(model, spec, rows, pad))):
        for key, value in alone.items():
            width = value.shape[1:]
            got = batched[key][i][tuple(slice(0, s) for s in width)]
            np.testing.assert_allclose(got, value[0], rtol=1e-4, atol=1e-4)
            if spec.family == "tagging":  # wider than this feature's batch: padded
                assert batched[key].shape[1] == max(r["length"] for r in rows)
    assert model.training  # predict restores the mode it found


def test_no_features_no_outputs(tokenizer):
    spec = get_task("mnli")
    model = MultiTaskModel(tiny_encoder(tokenizer), {spec.name: spec})
    assert predict(model, spec, [], 4, tokenizer.pad_token_id, CPU) == {}
    assert PAD_VALUE < -1e8
