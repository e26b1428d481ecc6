"""The NLLB backend end to end on a tiny random NLLB built with fairseq2's own config and factory."""

import io

import pytest

pytest.importorskip("fairseq2")
spm = pytest.importorskip("sentencepiece")

from fairseq2.device import CPU  # noqa: E402
from fairseq2.models.nllb import NllbConfig, NllbTokenizerConfig, get_nllb_model_hub, load_nllb_tokenizer  # noqa: E402

from baselines.translate import make_backend, translate_examples  # noqa: E402
from baselines.translate.nllb import NllbBackend  # noqa: E402
from toolkit.errors import ConfigError  # noqa: E402
from toolkit.tasks.records import PairExample  # noqa: E402

CORPUS = [
    "The cat sat on the mat.", "A quick brown fox jumps over the lazy dog.",
    "El gato se sentó en la alfombra.", "Un zorro marrón salta sobre el perro.",
    "Premise and hypothesis are short sentences.",
] * 10


@pytest.fixture(scope="module")
def tiny_nllb(tmp_path_factory):
    """(model, tokenizer): a sentencepiece model trained here, loaded the way NLLB's is."""
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS), model_writer=buf, vocab_size=60,
        hard_vocab_limit=False, character_coverage=1.0, minloglevel=2,
    )
    path = tmp_path_factory.mktemp("nllb") / "tiny.spm"
    path.write_bytes(buf.getvalue())
    tokenizer = load_nllb_tokenizer(path, NllbTokenizerConfig(langs=["eng_Latn", "spa_Latn"], default_lang="eng_Latn"))
    vocab = tokenizer.vocab_info
    config = NllbConfig(
        model_dim=16, max_seq_len=64, vocab_size=vocab.size, pad_idx=vocab.pad_idx,
        num_encoder_layers=1, num_decoder_layers=1, num_encoder_attn_heads=2,
        num_decoder_attn_heads=2, ffn_inner_dim=32, dropout_p=0.0,
    )
    return get_nllb_model_hub().create_new_model(config, device=CPU), tokenizer


class CountingNllb(NllbBackend):
    """Records each backend call made by translate_examples."""

    calls: list

    def translate(self, texts, src, tgt):
        self.calls.append(len(texts))
        return super().translate(texts, src, tgt)


def test_tiny_nllb_translates_through_the_backend_interface(tiny_nllb):
    model, tokenizer = tiny_nllb
    backend = NllbBackend.from_components(model, tokenizer, "tiny-test", beam_size=2, batch_size=2,
                                          max_len_a=1.0, max_len_b=4)
    texts = ["The cat sat on the mat.", "", "A quick brown fox.", "The dog.", "Sentences here."]
    out = backend.translate(texts, "en", "es")  # XTREME codes map to FLORES codes
    assert len(out) == 5 and all(isinstance(t, str) for t in out) and out[1] == ""
    assert backend.truncated == 0


def test_tiny_nllb_runs_inside_translate_examples_with_the_cache(tiny_nllb, tmp_path):
    model, tokenizer = tiny_nllb
    pairs = [PairExample(f"p{i}", f"The cat number {i} sat.", "The dog sat.", i % 3) for i in range(5)]

    backend = CountingNllb.from_components(model, tokenizer, "tiny-test", beam_size=1, batch_size=2, max_len_a=0.5,
                                           max_len_b=4)
    backend.calls = []
    out, stats = translate_examples(pairs, backend, "es", tmp_path / "c.db", progress=False)
    assert len(out) == 5 and [e.label for e in out] == [0, 1, 2, 0, 1]
    assert stats.translated_segments == 6 and backend.calls == [2, 2, 2]  # 6 distinct sentences

    again = CountingNllb.from_components(model, tokenizer, "tiny-test")
    again.calls = []
    out2, stats2 = translate_examples(pairs, again, "es", tmp_path / "c.db", progress=False)
    assert again.calls == [] and out2 == out and stats2.cached_segments == 6


def test_model_names_and_errors():
    assert make_backend("nllb", model="facebook/nllb-200-distilled-600M").model == "nllb-200_dense_distill_600m"
    with pytest.raises(ConfigError, match="unknown NLLB model 'no-such-model'.*nllb-200_dense_distill_600m"):
        make_backend("nllb", model="no-such-model").translate(["Hello."], "en", "de")
    with pytest.raises(ConfigError, match="unknown translation backend"):
        make_backend("google")
