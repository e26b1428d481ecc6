"""The Hugging Face Hub through its own clients (`datasets`, `huggingface_hub`): which split of
which repository at which revision, loading it, checking it before any work starts, and the
commit it resolved to, online or from the local cache (`HF_HUB_OFFLINE=1`).

Everything that talks to the Hub goes through here, so the errors are ours: they name the
dataset, config, split and revision, say what is wrong and what to do. The clients' own
messages are kept at the end of ours; some are misleading on their own (a script-only dataset
surfaces as "Couldn't find cache").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from toolkit.errors import ConfigError, DataError

PARQUET_EXPORT = "refs/convert/parquet"  # the Hub's automatic Parquet conversion branch
_PREPARE_HINT = "run `python -m toolkit prepare` with the same spec or config on a machine with network first"


@dataclass(frozen=True)
class HubSource:
    """One split of a Hub dataset: `load_dataset(path, name, split=, revision=, data_dir=)`.

    revision: a branch ("main", "refs/convert/parquet") or a commit id. data_dir: the folder of
    one config on a Parquet-export branch (`<config>/<split>/NNNN.parquet`), where `name` does
    not apply. columns: what the task reads, as (column, kind) pairs (`feature_kind`'s names,
    alternatives joined with "|"), checked against the split's features before any row is read.
    """

    path: str
    name: str | None
    split: str
    revision: str = "main"
    data_dir: str | None = None
    columns: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        config = self.name if self.data_dir is None else f"data_dir={self.data_dir}"
        return f"{self.path}[{config}]/{self.split}@{self.revision}"

    def at(self, revision: str | None) -> "HubSource":
        """The same split at another revision (None: unchanged)."""
        return self if revision is None else replace(self, revision=revision)


def is_offline() -> bool:
    """Whether the clients run offline (`HF_HUB_OFFLINE=1`, read when they were imported)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def is_commit(revision: str | None) -> bool:
    return revision is not None and len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)


# ---------------------------------------------------------------------------------------------
# Datasets.
# ---------------------------------------------------------------------------------------------


def feature_kind(feature: Any) -> str:
    """A feature's kind in the words `HubSource.columns` uses: string, int, float, bool,
    class_label, list[<kind>] or struct."""
    import datasets  # heavy

    if isinstance(feature, datasets.ClassLabel):
        return "class_label"
    if isinstance(feature, (datasets.Sequence, datasets.LargeList)) or type(feature).__name__ == "List":
        return f"list[{feature_kind(feature.feature)}]"
    if isinstance(feature, list):
        return f"list[{feature_kind(feature[0])}]"
    if isinstance(feature, dict):
        return "struct"
    if isinstance(feature, datasets.Value):
        dtype = feature.dtype
        if dtype in ("string", "large_string"):
            return "string"
        if dtype.startswith(("int", "uint")):
            return "int"
        if dtype.startswith("float"):
            return "float"
        return "bool" if dtype == "bool" else dtype
    return type(feature).__name__


def check_columns(source: HubSource, features) -> None:
    """A DataError naming the first column the task reads that is missing or of another kind."""
    for column, expected in source.columns:
        if column not in features:
            raise DataError(
                f"{source.label}: has no column {column!r} (expected {expected}); its columns: "
                f"{', '.join(features)}. The repository changed: pin an older revision for this task "
                "(data.hub_revisions) or report it"
            )
        found = feature_kind(features[column])
        if found not in expected.split("|"):
            raise DataError(
                f"{source.label}: column {column!r} is {found}, the task expects {expected}. The "
                "repository changed: pin an older revision for this task (data.hub_revisions) or report it"
            )


def _script_in_repo(source: HubSource) -> str | None:
    """The loading script's name when the repository holds one at the revision (None if not or
    when that cannot be asked)."""
    from huggingface_hub import HfApi

    script = source.path.split("/")[-1] + ".py"
    try:
        files = HfApi().list_repo_files(source.path, repo_type="dataset", revision=source.revision)
    except Exception:  # the load's own error is reported instead
        return None
    return script if script in files else None


def _explain(source: HubSource, err: Exception) -> DataError:
    """Our error for a failed load: offline without the cache, a script-only repository, or the
    client's message with the source named."""
    if is_offline():
        return DataError(f"{source.label}: not in the local Hugging Face cache and HF_HUB_OFFLINE=1 is set; "
                         f"{_PREPARE_HINT} ({type(err).__name__}: {err})")
    script = _script_in_repo(source)
    if script is not None:
        return DataError(
            f"{source.label}: the repository holds only a loading script ({script}) at this revision, which "
            f"datasets >= 4 no longer runs; read its Parquet conversion instead (revision={PARQUET_EXPORT!r}, "
            "data_dir=<config>) or another maintained copy"
        )
    return DataError(f"could not load Hub dataset {source.label}: {type(err).__name__}: {err}")


def load_split(source: HubSource):
    """The split as a `datasets.Dataset` (downloaded into, or read from, the normal HF cache),
    its columns checked against `source.columns`."""
    import datasets  # heavy

    try:
        ds = datasets.load_dataset(source.path, source.name, split=source.split, revision=source.revision,
                                   data_dir=source.data_dir)
    except Exception as err:  # the clients' errors name neither the task's split nor a fix
        raise _explain(source, err) from err
    check_columns(source, ds.features)
    return ds


def split_commit(ds) -> str | None:
    """The commit a loaded split was built from: `datasets` names its cache folder after it."""
    files = getattr(ds, "cache_files", None) or []
    if not files:
        return None
    folder = Path(files[0]["filename"]).parent.name
    return folder if is_commit(folder) else None


def split_bytes(ds) -> int:
    """Bytes of the split's Arrow files in the cache."""
    return sum(os.path.getsize(f["filename"]) for f in getattr(ds, "cache_files", None) or []
               if os.path.exists(f["filename"]))


def _builder(source: HubSource):
    import datasets  # heavy

    try:
        return datasets.load_dataset_builder(source.path, source.name, revision=source.revision,
                                             data_dir=source.data_dir)
    except Exception as err:  # the clients' errors name neither the task's split nor a fix
        raise _explain(source, err) from err


def cached_commit(repo_id: str, repo_type: str, revision: str) -> str | None:
    """The commit the local Hub cache maps `revision` to (None: never resolved here)."""
    from huggingface_hub import constants

    if is_commit(revision):
        return revision
    folder = f"{repo_type}s--" + repo_id.replace("/", "--")
    ref = Path(constants.HF_HUB_CACHE) / folder / "refs" / revision
    return ref.read_text(encoding="utf-8").strip() if ref.is_file() else None


def check_source(source: HubSource) -> None:
    """Pre-flight for one split, without downloading its data: the repository, revision and
    config exist and hold no script only, the split exists, the columns fit. Offline: the split
    is in the cache at the commit its revision resolved to when it was prepared."""
    builder = _builder(source)
    splits = list(builder.info.splits or {}) or list(getattr(builder.config, "data_files", None) or {})
    if splits and source.split not in splits:
        raise DataError(f"{source.label}: no split {source.split!r}; it has {', '.join(splits)}")
    if builder.info.features is not None:
        check_columns(source, builder.info.features)
    if is_offline():
        wanted = cached_commit(source.path, "dataset", source.revision)
        if wanted is not None and builder.hash != wanted:
            raise DataError(
                f"{source.label}: the cache holds commit {builder.hash}, but revision {source.revision!r} "
                f"was resolved to {wanted} when it was prepared; {_PREPARE_HINT}"
            )


# ---------------------------------------------------------------------------------------------
# Models.
# ---------------------------------------------------------------------------------------------

_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
# What transformers reads to build an encoder and its tokenizer; other formats (TF, Flax,
# ONNX) are never downloaded.
_MODEL_FILES = (".json", ".model", ".txt", ".safetensors", ".tiktoken")


def is_local_model(name_or_path: str) -> bool:
    """A path (absolute, relative with ./ or ../, or an existing folder) rather than a Hub id."""
    return name_or_path.startswith(("/", "./", "../", "~")) or os.path.isdir(name_or_path)


def check_model_folder(path: str, option: str = "model.name_or_path") -> None:
    """A ConfigError unless `path` is a Hugging Face model folder (config.json plus weights)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"{option}={path}: no such folder (and a Hub id has the form owner/name)")
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"{option}={path}: this folder is not a Hugging Face model: it has no config.json. Give a "
            "folder written by save_pretrained (an encoder/ or model/ of a finished run), a Hub id such as "
            "FacebookAI/xlm-roberta-large, or 'embedded'"
        )
    if not any((folder / name).is_file() for name in _WEIGHTS):
        raise ConfigError(f"{option}={path}: the folder has a config.json but no weights ({', '.join(_WEIGHTS)})")


def check_model(name_or_path: str, revision: str | None, option: str = "model.name_or_path") -> None:
    """Pre-flight for the encoder: a model folder, or a Hub model that exists, is not gated for
    this user and has the revision; offline, one whose config is in the cache."""
    if name_or_path == "embedded":
        return
    if is_local_model(name_or_path):
        return check_model_folder(name_or_path, option)
    from huggingface_hub import HfApi, try_to_load_from_cache
    from huggingface_hub.utils import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    where = f"{option}={name_or_path}" + (f" (revision {revision})" if revision else "")
    if is_offline():
        if not isinstance(try_to_load_from_cache(name_or_path, "config.json", revision=revision), str):
            raise ConfigError(f"{where}: not in the local Hugging Face cache and HF_HUB_OFFLINE=1 is set; {_PREPARE_HINT}")
        return
    try:
        HfApi().model_info(name_or_path, revision=revision)
    except GatedRepoError:
        raise ConfigError(
            f"{where}: a gated model; accept its licence on https://huggingface.co/{name_or_path} and log in "
            "(`hf auth login` or HF_TOKEN) on this machine"
        ) from None
    except RevisionNotFoundError:
        raise ConfigError(f"{where}: the model has no such revision (model.revision)") from None
    except RepositoryNotFoundError:
        raise ConfigError(
            f"{where}: no such model on the Hub (or it is private); check the id, e.g. FacebookAI/xlm-roberta-large"
        ) from None
    except Exception as err:  # network trouble: say which model could not be checked
        raise ConfigError(f"{where}: could not reach the Hub to check the model ({type(err).__name__}: {err})") from err


def model_commit(name_or_path: str, revision: str | None) -> str | None:
    """The commit a Hub model id resolves to (from the cache offline); None for folders."""
    if name_or_path == "embedded" or is_local_model(name_or_path):
        return None
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(name_or_path, "config.json", revision=revision)
    except Exception:  # provenance only: a model that loaded has a config; record no commit otherwise
        return None
    return Path(path).parent.name


@dataclass(frozen=True)
class Download:
    """What `download_model` fetched: the commit, bytes on disk and the snapshot folder."""

    commit: str
    size: int
    folder: str


def download_model(repo_id: str, revision: str | None) -> Download:
    """The files transformers needs for the encoder and tokenizer, into the HF cache.

    Safetensors weights when the repository has them, else PyTorch's; never TF, Flax or ONNX.
    `hf_hub_download` writes each file under a temporary name and renames it when complete,
    so an interrupted download leaves nothing that a later load would take for whole.
    """
    from huggingface_hub import HfApi, hf_hub_download

    info = HfApi().model_info(repo_id, revision=revision, files_metadata=True)
    names = [s.rfilename for s in info.siblings or [] if "/" not in s.rfilename]
    safetensors = any(n.endswith(".safetensors") for n in names)
    wanted = [n for n in names if n.endswith(_MODEL_FILES) or (not safetensors and n.startswith("pytorch_model"))]
    size, folder = 0, ""
    for name in wanted:
        path = hf_hub_download(repo_id, name, revision=revision)  # the branch: offline loads resolve it
        size += os.path.getsize(path)
        folder = str(Path(path).parent)
    return Download(info.sha, size, folder)
