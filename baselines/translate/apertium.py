"""Apertium (Debian's rule-based MT) as a translation backend, with Spanish as the pivot.

Batching: one `apertium -u -f txt <mode>` process translates a whole batch. Sentences are
separated by blank lines: a single newline is not a boundary for Apertium (its transfer
rules reorder words across it: "the big\\nhouse" comes out as "La casa\\ngrande"), but a blank
line ends a sentence, and it is kept in the output. `-u` drops the `*` marks on unknown words.
Should the output ever have a different number of blank-line-separated parts than the input,
the batch is split in halves and retried, down to single sentences.

Languages: a direct English mode (eng-spa) is used when installed; otherwise English is
translated into Spanish and then with a Spanish mode (es-pt, es-fr ...) into the target.
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import subprocess

from baselines.translate.languages import DEBIAN_ENGLISH_PAIRS, DEBIAN_SPANISH_PAIRS, ISO3
from toolkit.errors import ConfigError

log = logging.getLogger(__name__)

_BLANK_LINE = re.compile(r"\n\s*\n")
_MODE = re.compile(r"^[a-z]{2,3}-[a-z]{2,3}$")  # "eng-spa", "es-pt"; variants (pt_BR) excluded


@functools.lru_cache(maxsize=None)
def installed_modes(binary: str = "apertium") -> frozenset[str]:
    """Translation modes Apertium reports with `apertium -l` (e.g. {"eng-spa", "es-pt"})."""
    out = subprocess.run([binary, "-l"], capture_output=True, text=True, check=True).stdout
    return frozenset(m for m in (line.strip() for line in out.splitlines()) if _MODE.match(m))


def _direct(modes: frozenset[str], src: str, tgt: str) -> str | None:
    for a in (src, ISO3.get(src, src)):
        for b in (tgt, ISO3.get(tgt, tgt)):
            if f"{a}-{b}" in modes:
                return f"{a}-{b}"
    return None


def route(modes: frozenset[str], src: str, tgt: str) -> list[str]:
    """The Apertium modes that take `src` to `tgt`: one direct mode, or two through Spanish.

    Raises ConfigError naming the Debian package(s) to install when there is no path.
    """
    direct = _direct(modes, src, tgt)
    if direct:
        return [direct]
    if "es" not in (src, tgt):
        first, second = _direct(modes, src, "es"), _direct(modes, "es", tgt)
        if first and second:
            return [first, second]
    needed = []
    if src == "en":
        if tgt in DEBIAN_ENGLISH_PAIRS:
            needed = [DEBIAN_ENGLISH_PAIRS[tgt]]
        elif tgt in DEBIAN_SPANISH_PAIRS:
            needed = [DEBIAN_SPANISH_PAIRS[tgt]]
            if not _direct(modes, "en", "es"):
                needed.insert(0, DEBIAN_ENGLISH_PAIRS["es"])
    hint = (
        f"install the Debian package(s): apt-get install {' '.join(needed)}"
        if needed
        else "Debian has no Apertium package for this direction (apt-cache search apertium); "
        "use the nllb backend"
    )
    raise ConfigError(
        f"Apertium cannot translate {src}->{tgt}: no installed mode {src}-{tgt} and no path "
        f"through Spanish (installed modes: {', '.join(sorted(modes)) or 'none'}); {hint}"
    )


class ApertiumBackend:
    """Debian `apertium` in batch mode. `model` is the Apertium version (part of cache keys)."""

    name = "apertium"

    def __init__(self, batch_size: int = 256, binary: str = "apertium") -> None:
        path = shutil.which(binary)
        if path is None:
            raise ConfigError(
                f"the apertium backend needs the `{binary}` program: apt-get install apertium "
                "apertium-eng-spa (plus a Spanish pair such as apertium-es-pt for other targets)"
            )
        self._binary = path
        self.batch_size = batch_size
        version = subprocess.run([path, "-V"], capture_output=True, text=True).stdout.split()
        self.model = "apertium-" + (version[-1] if version else "unknown")

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        """One translation per text, through the direct or Spanish-pivot modes."""
        out = [" ".join(t.split()) for t in texts]
        for mode in route(installed_modes(self._binary), src, tgt):
            out = self._run_mode(mode, out)
        return out

    def _run_mode(self, mode: str, texts: list[str]) -> list[str]:
        # Empty texts would be invisible between blank-line separators: they stay empty.
        keep = [i for i, t in enumerate(texts) if t]
        out = [""] * len(texts)
        for i, translated in zip(keep, self._batch(mode, [texts[i] for i in keep])):
            out[i] = translated
        return out

    def _batch(self, mode: str, texts: list[str]) -> list[str]:
        if not texts:
            return []
        raw = self._call(mode, "\n\n".join(texts) + "\n")
        parts = [" ".join(p.split()) for p in _BLANK_LINE.split(raw.strip("\n"))]
        if len(parts) == len(texts):
            return parts
        if len(texts) == 1:
            return [" ".join(raw.split())]
        log.warning(
            "apertium %s returned %d parts for %d sentences; retrying in halves",
            mode, len(parts), len(texts),
        )
        half = len(texts) // 2
        return self._batch(mode, texts[:half]) + self._batch(mode, texts[half:])

    def _call(self, mode: str, text: str) -> str:
        proc = subprocess.run(
            [self._binary, "-u", "-f", "txt", mode], input=text, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"apertium {mode} failed (exit {proc.returncode}): {proc.stderr.strip()}"
            )
        return proc.stdout
