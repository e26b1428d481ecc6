"""The contract every machine-translation backend keeps, and the factory the config uses."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from baselines.translate.apertium import ApertiumBackend
from baselines.translate.nllb import NllbBackend
from toolkit.errors import ConfigError


@runtime_checkable
class Backend(Protocol):
    """Translates sentences. `name` and `model` identify its output in the translation cache.

    `translate(texts, src, tgt)` returns exactly one string per input, in order; `src` and
    `tgt` are XTREME language codes ("en", "de"). Texts are single normalised sentences
    without newlines (see `text.segment`). `batch_size` is how many sentences the backend
    wants per call: the caller groups sentences of similar length into batches of that size.
    """

    name: str
    model: str
    batch_size: int

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]: ...


BACKENDS = ("apertium", "nllb")


def make_backend(name: str, **options: Any) -> Backend:
    """A backend by name: "apertium" (Debian apertium) or "nllb" (NLLB-200 via fairseq2).

    `options` go to the backend's constructor (e.g. `model="nllb-200_dense_distill_600m"`,
    `device="cuda"`, `beam_size=4` for nllb; `batch_size` for both).
    """
    if name == "apertium":
        return ApertiumBackend(**options)
    if name == "nllb":
        return NllbBackend(**options)
    raise ConfigError(
        f"unknown translation backend {name!r}; known: {', '.join(BACKENDS)} "
        "(XTREME's own translate-train files are read with baselines.translate.load_provided)"
    )
