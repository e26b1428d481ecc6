"""Inference-cost measurement: ordered, correctly counted numbers on tiny models built in code,
results.json / TensorBoard after a real single-process target run, and option checking.

No assertion is about speed: the machine is shared, so only orders and counts are checked.
"""

from __future__ import annotations

import json

import pytest
import torch

from tests.fixtures.launch import run_phase, scalars
from toolkit.config.schema import describe
from toolkit.pipeline.checks import load_config
from toolkit.errors import ConfigError, DataError
from toolkit.evaluation import efficiency
from toolkit.evaluation.efficiency import Settings, draw_sample, inference_dtype
from toolkit.evaluation.retrieval import sentence_ids
from toolkit.families.registry import get_family
from toolkit.families.multitask import MultiTaskModel
from toolkit.models.params import parameter_counts
from tests.fixtures.tiny_models import tiny_encoder, tiny_tokenizer
from toolkit.tasks.records import TaggingExample
from toolkit.tasks.registry import get_task

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def tagging_features(tokenizer):
    """UD-POS features: 30 English sentences of varied length, 5 German ones (a few of them
    longer than a window, so German has more features than sentences)."""
    spec = get_task("udpos")
    words = {"en": ["the", "cat", "sees", "a", "dog"], "de": ["die", "Katze", "sieht", "den", "Hund"]}
    tags = ["DET", "NOUN", "VERB", "DET", "NOUN"]
    features = {}
    for lang, n in (("en", 30), ("de", 5)):
        examples = [TaggingExample(f"{lang}{i}", tuple(words[lang] * (1 + i % 4)), tuple(tags * (1 + i % 4)))
                    for i in range(n)]
        features[lang] = get_family(spec.family).featurize(spec, examples, tokenizer, 64)
    return spec, features


def settings(examples=20, warmup=2, batch_size=8) -> Settings:
    return Settings(examples=examples, warmup=warmup, batch_size=batch_size, device=CPU, dtype=torch.float32)


def check_ordered(record: dict, threads: int | None = None) -> None:
    """Sane, ordered numbers; `threads`: the measuring process's torch threads (default: ours)."""
    lat, thr = record["latency_ms"], record["throughput"]
    assert lat["batch_size"] == 1
    assert lat["p95"] >= lat["p50"] > 0 and lat["mean"] > 0
    assert thr["examples_per_s"] > 0 and thr["tokens_per_s"] > 0 and thr["seconds"] > 0
    # Both rates come from one timed pass: their ratio is the sample's tokens per input.
    assert thr["tokens_per_s"] / thr["examples_per_s"] == pytest.approx(thr["tokens"] / record["sample"]["examples"])
    assert record["device"] == "cpu" and record["dtype"] == "float32"
    assert record["torch_threads"] == (threads or torch.get_num_threads())


def test_sample_is_spread_evenly_over_languages_and_fixed():
    sample = draw_sample({"en": 10, "de": 3, "fr": 0}, 8)
    assert len(sample) == 8
    assert sum(lang == "de" for lang, _ in sample) == 3  # all it has; English fills the rest
    assert len(set(sample)) == 8 and all(0 <= i < {"en": 10, "de": 3}[lang] for lang, i in sample)
    assert draw_sample({"en": 10, "de": 3, "fr": 0}, 8) == sample  # fixed seed
    assert draw_sample({"en": 10, "de": 10}, 6) == [(lang, i) for lang, i in draw_sample({"en": 10, "de": 10}, 20)[:6]]
    assert [lang for lang, _ in draw_sample({"en": 10, "de": 10}, 4)] == ["en", "de", "en", "de"]
    assert len(draw_sample({"en": 2}, 8)) == 2
    with pytest.raises(DataError, match="no evaluation inputs"):
        draw_sample({"en": 0}, 4)


def test_model_measurement_is_ordered_and_counts_right(tokenizer, tagging_features):
    spec, features = tagging_features
    model = MultiTaskModel(tiny_encoder(tokenizer), {spec.name: spec})
    seen_keys = set()
    original = model.forward

    def spy(task, batch):
        seen_keys.update(batch)
        return original(task, batch)

    model.forward = spy
    record = efficiency.measure_model(model, spec, features, tokenizer.pad_token_id, settings())
    check_ordered(record)
    sizes = {lang: len(f) for lang, f in features.items()}
    assert record["sample"]["examples"] == 20
    assert record["sample"]["languages"] == {"en": 20 - sizes["de"], "de": sizes["de"]}
    assert record["sample"]["warmup"] == 2
    assert record["throughput"]["batch_size"] == 8 and record["throughput"]["batches"] == 3
    sampled = [features[lang][i] for lang, i in draw_sample(sizes, 20)]
    assert record["throughput"]["tokens"] == sum(len(f["input_ids"]) for f in sampled)
    assert record["sample"]["mean_length"] == pytest.approx(sum(f["length"] for f in sampled) / 20)
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    assert record["model"] == "encoder + tagging head"
    assert seen_keys == {"input_ids", "attention_mask"}  # gold labels never reach the served model
    assert not model.training


def test_sample_larger_than_the_evaluation_data_takes_all_of_it(tokenizer, tagging_features):
    spec, features = tagging_features
    model = MultiTaskModel(tiny_encoder(tokenizer), {spec.name: spec})
    record = efficiency.measure_model(model, spec, features, tokenizer.pad_token_id,
                                      settings(examples=1000, warmup=0, batch_size=32))
    sizes = {lang: len(f) for lang, f in features.items()}
    assert record["sample"]["examples"] == sum(sizes.values()) and record["sample"]["languages"] == sizes
    assert record["throughput"]["batches"] == -(-sum(sizes.values()) // 32)
    check_ordered(record)


def test_encoder_measurement_embeds_sentences(tokenizer):
    texts = {"de": ["Die Katze schläft.", "Ein Mann spielt Gitarre auf der Straße."] * 3,
             "en": ["The cat sat on the mat.", "Two dogs run."] * 3}
    encoder = tiny_encoder(tokenizer)
    record = efficiency.measure_encoder(encoder, tokenizer, texts, 1, 16, settings(examples=10, batch_size=4))
    check_ordered(record)
    assert record["sample"]["languages"] == {"de": 5, "en": 5}
    assert record["throughput"]["batches"] == 3
    sampled = [texts[lang][i] for lang, i in draw_sample({"de": 6, "en": 6}, 10)]
    assert record["throughput"]["tokens"] == sum(len(ids) for ids in sentence_ids(tokenizer, sampled, 16))
    assert record["model"] == "encoder, mean-pooled hidden state 1"
    with pytest.raises(ConfigError, match="layer 5 is outside 0..2"):
        efficiency.measure_encoder(encoder, tokenizer, texts, 5, 16, settings())


def test_records_become_scalars_and_a_log_line(tokenizer, tagging_features):
    spec, features = tagging_features
    model = MultiTaskModel(tiny_encoder(tokenizer), {spec.name: spec})
    record = efficiency.measure_model(model, spec, features, tokenizer.pad_token_id, settings())
    tags = efficiency.scalars("udpos", record)
    assert tags["efficiency/udpos/latency_p50_ms"] == record["latency_ms"]["p50"]
    assert tags["efficiency/udpos/tokens_per_s"] == record["throughput"]["tokens_per_s"]
    assert set(tags) == {f"efficiency/udpos/{name}" for name in efficiency.NUMBERS}
    line = efficiency.summary("udpos", record)
    assert line.startswith("udpos inference on cpu (float32,") and "batch 8" in line


def test_inference_dtype_follows_precision_on_accelerators_only():
    assert inference_dtype("bf16", CPU) is torch.float32
    assert inference_dtype("fp16", CPU) is torch.float32
    assert inference_dtype("bf16", torch.device("cuda", 0)) is torch.bfloat16
    assert inference_dtype("fp16", torch.device("cuda", 0)) is torch.float16
    assert inference_dtype("fp32", torch.device("cuda", 0)) is torch.float32
    with pytest.raises(ConfigError, match="train.precision='fp8'"):
        inference_dtype("fp8", CPU)


@pytest.mark.parametrize("override, message", [
    ("eval.efficiency_examples=0", "eval.efficiency_examples must be >= 1, got 0"),
    ("eval.efficiency_warmup=-1", "eval.efficiency_warmup must be >= 0, got -1"),
    ("eval.batch_size=0", "eval.batch_size must be >= 1, got 0"),
    ("eval.efficiency=maybe", "config key 'eval.efficiency': expected bool, got 'maybe'"),
    ("eval.efficiency_examples=many", "config key 'eval.efficiency_examples': expected int"),
])
def test_bad_option_values_are_clear_errors(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config([override])


def test_settings_check_their_values():
    with pytest.raises(ConfigError, match="eval.efficiency_examples must be >= 1"):
        settings(examples=0)
    with pytest.raises(ConfigError, match="eval.batch_size must be >= 1"):
        settings(batch_size=0)


def test_options_are_documented():
    options = {key: (default, help_text) for key, default, help_text in describe()}
    assert options["eval.efficiency"][0] is True and "results.json" in options["eval.efficiency"][1]
    assert options["eval.efficiency_examples"][0] == 256 and options["eval.efficiency_examples"][1]
    assert options["eval.efficiency_warmup"][1]
    assert load_config(["eval.efficiency=false"]).eval.efficiency is False


def test_zero_shot_writes_the_record_into_results_json(tokenizer, mnli_fixture_dir, tmp_path):
    """The phases' evaluation step (target and evaluate both end in it), in process, world of one."""
    from toolkit.pipeline import results
    from toolkit.runtime.distributed import Dist
    from toolkit.families.multitask import export_model
    from toolkit.engine.board import Board

    cfg = load_config([f"data.data_dir={mnli_fixture_dir}", f"data.cache_dir={tmp_path / 'cache'}",
                       "approach=none", "target=xnli", "eval.efficiency_examples=24", "eval.efficiency_warmup=1",
                       "eval.batch_size=10"])
    spec = get_task("xnli")
    model = MultiTaskModel(tiny_encoder(tokenizer), {spec.name: spec})
    export_model(model, tokenizer, tmp_path / "model", True)
    board = Board(tmp_path / "tb")
    dist = Dist(rank=0, local_rank=0, world_size=1, device=CPU)
    results.zero_shot(cfg, spec, ["en", "de"], model, tokenizer, dist, tmp_path, board, tmp_path / "model",
                     parameter_counts(model.encoder, model.heads))
    board.close()

    record = json.loads((tmp_path / "results.json").read_text())["efficiency"]
    check_ordered(record)
    assert record["sample"]["examples"] == 24 and record["sample"]["languages"] == {"en": 12, "de": 12}
    assert record["sample"]["warmup"] == 1
    assert record["throughput"]["batch_size"] == 10 and record["throughput"]["batches"] == 3
    assert record["model"] == "encoder + pair_classification head"
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    tags = scalars(tmp_path / "tb")
    for name, (section, key) in efficiency.NUMBERS.items():
        assert tags[f"efficiency/xnli/{name}"] == [(0, pytest.approx(record[section][key], rel=1e-6))]

    cfg.eval.efficiency = False
    results.zero_shot(cfg, spec, ["en"], model, tokenizer, dist, tmp_path, Board(None), tmp_path / "model",
                     parameter_counts(model.encoder, model.heads))
    assert "efficiency" not in json.loads((tmp_path / "results.json").read_text())


def write_tatoeba(root) -> None:
    data = root / "tatoeba"
    data.mkdir(parents=True)
    (data / "tatoeba.deu-eng.deu").write_text("Ich habe Hunger.\nDas Haus ist groß.\nWo ist der Bahnhof?\n")
    (data / "tatoeba.deu-eng.eng").write_text("I am hungry.\nThe house is big.\nWhere is the station?\n")


def test_retrieval_records_the_encoder_embedding_a_sentence(tiny_model_dir, tmp_path):
    from toolkit.pipeline import results
    from toolkit.runtime.distributed import Dist

    write_tatoeba(tmp_path / "data")
    cfg = load_config([f"data.data_dir={tmp_path / 'data'}", "approach=none", "target=tatoeba",
                       "eval.efficiency_examples=5"])
    dist = Dist(rank=0, local_rank=0, world_size=1, device=CPU)
    results.score_untrained(cfg, get_task("tatoeba"), ["de"], str(tiny_model_dir), dist, tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    record = results["efficiency"]
    check_ordered(record)
    assert record["sample"]["languages"] == {"de": 5}  # of its three German and three English sentences
    assert record["model"] == "encoder, mean-pooled hidden state 1"  # the tiny model's default layer
    assert "efficiency/tatoeba/latency_p50_ms" in scalars(tmp_path / "tb")


@pytest.mark.slow
def test_single_process_target_then_two_rank_evaluate_record_efficiency(tiny_model_dir, mnli_fixture_dir, tmp_path):
    args = [f"model.name_or_path={tiny_model_dir}", f"data.data_dir={mnli_fixture_dir}",
            f"output_root={tmp_path / 'runs'}", "experiment=cost", "approach=none", "target=xnli",
            "train.max_steps=2", "train.eval_every=2", "train.micro_batch_size=4", "eval.languages=en,de",
            "eval.efficiency_examples=24", "eval.batch_size=10"]
    out = run_phase("target", args, tmp_path / "cache", ranks=0)
    run = tmp_path / "runs" / "cost" / "none" / "none" / "xnli" / "seed1"
    record = json.loads((run / "results.json").read_text())["efficiency"]
    check_ordered(record, threads=1)  # launched jobs run with OMP_NUM_THREADS=1 (tests.fixtures.launch.job_env)
    assert record["sample"]["languages"] == {"en": 12, "de": 12}
    assert record["parameters"] == sum(
        p.numel() for p in efficiency.load_served_model(run / "model", get_task("xnli")).parameters())
    assert "xnli inference on cpu (float32" in out.stdout
    assert set(scalars(run / "tb")) >= {f"efficiency/xnli/{name}" for name in efficiency.NUMBERS}

    # Two ranks: rank 0 times the model, the other waits for it.
    run_phase("evaluate", args + ["eval.languages=en,fr", "eval.efficiency_examples=10"], tmp_path / "cache", ranks=2)
    record = json.loads((run / "results.json").read_text())["efficiency"]
    check_ordered(record, threads=1)
    assert record["sample"]["languages"] == {"en": 5, "fr": 5}


# ---------------------------------------------------------------------------------------------
# The interleaved comparison of several models (the report's inference-cost table).
# ---------------------------------------------------------------------------------------------

def test_rounds_are_summarised_with_intervals_ratios_and_verdicts():
    p50 = {"none": [10.0, 12.0, 11.0, 13.0], "same": [10.2, 11.8, 11.1, 12.9], "slow": [20.0, 25.0, 22.0, 26.0]}
    per_s = {"none": [100.0, 90.0, 95.0, 85.0], "same": [99.0, 91.0, 94.0, 86.0], "slow": [50.0, 44.0, 47.0, 42.0]}
    out = efficiency.summarise_rounds({"latency_p50_ms": p50, "examples_per_s": per_s}, "none")
    assert out["none"]["latency_p50_ms"]["verdict"] == "reference"
    assert out["none"]["latency_p50_ms"]["ratio_to_reference"] == 1.0
    lat = out["none"]["latency_p50_ms"]
    assert lat["mean"] == pytest.approx(11.5) and lat["ci95"][0] < 11.5 < lat["ci95"][1]
    # Student t (3 degrees of freedom): 3.182 x s / sqrt(4)
    assert lat["ci95"][1] - 11.5 == pytest.approx(3.182446 * torch.tensor(p50["none"]).std().item() / 2, rel=1e-5)
    # Same cost round by round: the paired ratio's interval holds 1, although the rounds vary by 30%.
    assert out["same"]["latency_p50_ms"]["verdict"] == "no difference"
    assert out["same"]["examples_per_s"]["verdict"] == "no difference"
    assert out["slow"]["latency_p50_ms"]["verdict"] == "slower" and out["slow"]["examples_per_s"]["verdict"] == "slower"
    assert out["slow"]["latency_p50_ms"]["ratio_to_reference"] == pytest.approx(2.0, abs=0.05)
    assert out["slow"]["latency_p50_ms"]["rounds"] == p50["slow"]
    faster = efficiency.summarise_rounds({"latency_p50_ms": {"none": p50["slow"], "fast": p50["none"]}}, "none")
    assert faster["fast"]["latency_p50_ms"]["verdict"] == "faster"


def test_models_are_timed_in_rotating_interleaved_rounds():
    calls = []

    def runner(name):
        def run(batch):
            calls.append((name, len(batch)))
            return len(batch)
        return run

    inputs, lengths = list(range(5)), [3, 1, 4, 1, 5]
    out = efficiency.compare({m: runner(m) for m in ("a", "b", "c")}, inputs, lengths,
                             settings(warmup=1, batch_size=2), rounds=3, reference="a")
    # A model's turn: 1 warm-up call, 5 batch-1 calls, then 3 batches of the throughput pass.
    turns = [calls[i][0] for i in range(0, len(calls), 9)]
    assert turns == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert [n for _, n in calls[:9]] == [1, 1, 1, 1, 1, 1, 2, 2, 1]
    assert set(out) == {"a", "b", "c"} and all(len(out[m]["latency_p50_ms"]["rounds"]) == 3 for m in out)
    with pytest.raises(ConfigError, match="reference model 'z'"):
        efficiency.compare({"a": runner("a")}, inputs, lengths, settings(), rounds=1, reference="z")


def test_grid_cost_comparison_reaches_the_report(tokenizer, mnli_fixture_dir, tmp_path):
    """Finished target runs of two approaches -> inference_cost.json -> the report's table."""
    from toolkit.families.multitask import export_model
    from toolkit.pipeline import run_dirs
    from toolkit.pipeline.cost import compare_runs
    from toolkit.reporting.report import write_report
    from toolkit.runtime.distributed import Dist

    spec = get_task("xnli")
    cfgs = []
    for approach, score in (("english", 40.0), ("none", 35.0)):
        cfg = load_config([f"data.data_dir={mnli_fixture_dir}", f"data.cache_dir={tmp_path / 'cache'}",
                           f"output_root={tmp_path / 'runs'}", "experiment=cost", f"approach={approach}",
                           "intermediate=mnli", "target=xnli", "eval.languages=en,de",
                           "eval.efficiency_examples=6", "eval.efficiency_warmup=1", "eval.cost_rounds=3"])
        run = run_dirs.target_dir(cfg)
        torch.manual_seed(len(cfgs))
        export_model(MultiTaskModel(tiny_encoder(tokenizer), {spec.name: spec}), tokenizer, run_dirs.model_dir(run), True)
        (run / "results.json").write_text(json.dumps({
            "task": "xnli", "approach": approach, "intermediate": "none" if approach == "none" else "mnli",
            "seed": 1, "metrics": {"en": {"accuracy": score}}, "average": {"accuracy": score}, "score": score}))
        (run / "DONE").write_text("")
        cfgs.append(cfg)
    dist = Dist(rank=0, local_rank=0, world_size=1, device=CPU)
    out = compare_runs(cfgs, dist, run_dirs.cost_path(tmp_path / "runs" / "cost"))
    entry = out["xnli"]
    assert entry["reference"] == "none" and list(entry["models"]) == ["none", "english/mnli"]
    assert entry["examples"] == 6 and entry["rounds"] == 3 and entry["languages"] == ["de", "en"]
    assert entry["models"]["english/mnli"]["score"] == 40.0
    assert json.loads((tmp_path / "runs" / "cost" / "inference_cost.json").read_text()) == json.loads(json.dumps(out))

    table = write_report(tmp_path / "runs" / "cost")
    assert [(e["target"], e["name"]) for e in table["inference_cost"]] == [("xnli", "none"), ("xnli", "english/mnli")]
    markdown = (tmp_path / "runs" / "cost" / "report" / "report.md").read_text()
    assert "## Inference cost" in markdown and "| xnli | none | 35.0 |" in markdown and "| reference |" in markdown
    verdict = entry["models"]["english/mnli"]["latency_p50_ms"]["verdict"]
    assert f": {verdict} |" in markdown
    lines = (tmp_path / "runs" / "cost" / "report" / "inference_cost.csv").read_text().splitlines()
    assert lines[0].startswith("target,name,reference,score,latency_p50_ms") and len(lines) == 3

    cfgs[0].eval.cost_rounds = 0  # the reference's settings apply to its task: 0 skips it
    cfgs[1].eval.cost_rounds = 0
    assert compare_runs(cfgs, dist, tmp_path / "skipped.json") == {}
