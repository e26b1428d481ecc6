"""Typed records every task is made of: examples, data sources and the task spec itself.

A task is data, not code paths: a `TaskSpec` names its family (which fixes the featuriser,
the head and the decoder), its labels, its metric, its languages and where its data lives.
Loaders turn a source into a list of family-specific examples; everything downstream works
on those examples only.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence, Union

from toolkit.errors import ConfigError


# ---------------------------------------------------------------------------------------------
# Examples: one record type per task family.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairExample:
    """Single sentence or sentence-pair classification (NLI, paraphrase)."""

    id: str
    text_a: str
    text_b: str | None
    label: int  # index into TaskSpec.labels; -1 when the split has no gold label


@dataclass(frozen=True)
class MultipleChoiceExample:
    """Pick one of several endings/answers given a context and a question."""

    id: str
    context: str
    question: str
    choices: tuple[str, ...]
    label: int  # index into choices; -1 when unlabelled


@dataclass(frozen=True)
class Answer:
    """A gold answer span: its text and its character offset in the context."""

    text: str
    start: int


@dataclass(frozen=True)
class SpanQAExample:
    """Extractive QA. `answers` is empty for unanswerable (SQuAD v2) questions."""

    id: str
    question: str
    context: str
    answers: tuple[Answer, ...]
    title: str = ""

    @property
    def is_impossible(self) -> bool:
        return not self.answers


@dataclass(frozen=True)
class TaggingExample:
    """Token tagging (POS, NER, CCG): one tag per whitespace token."""

    id: str
    tokens: tuple[str, ...]
    tags: tuple[str, ...]


@dataclass(frozen=True)
class TextExample:
    """Raw text for masked language modelling, with its language."""

    id: str
    text: str
    language: str


@dataclass(frozen=True)
class RetrievalExample:
    """One sentence on either side of a parallel retrieval task (Tatoeba, BUCC)."""

    id: str
    text: str
    side: str  # "source" (the non-English language) or "target" (English)


Example = Union[
    PairExample, MultipleChoiceExample, SpanQAExample, TaggingExample, TextExample, RetrievalExample
]


# ---------------------------------------------------------------------------------------------
# Data sources and task specs.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubSource:
    """A split of a Hugging Face Hub dataset: `datasets.load_dataset(path, name, split=split)`."""

    path: str
    name: str | None
    split: str


@dataclass(frozen=True)
class LoadRequest:
    """What a loader is asked for.

    `split` is "train", "validation" or "test"; `language` is an XTREME language code (None
    for English-only tasks); `data_dir` points at local files (None means the Hub);
    `max_examples` caps the number read (None: all), taking the first ones in file order.
    """

    split: str
    language: str | None = None
    data_dir: str | None = None
    max_examples: int | None = None


Loader = Callable[["TaskSpec", LoadRequest], list]


@dataclass(frozen=True)
class TaskSpec:
    """Everything the toolkit knows about one task.

    family: which featuriser/head/decoder the task uses ("pair_classification",
        "multiple_choice", "span_qa", "tagging", "mlm", "retrieval").
    labels: label names for classification and tagging (index = label id).
    metric: the metric name used for validation and zero-shot scoring (see evaluation.metrics).
    languages: evaluation languages (target tasks; English first). Empty for English-only tasks.
    xtreme_id: the id used in XTREME's submission layout (target tasks only).
    train_size: train examples as used in the paper (documentation and compute planning).
    loader: reads one split of the task from the Hub or local files.
    local_layout: one line describing the expected local file layout, for docs and errors.
    """

    name: str
    family: str
    description: str
    metric: str
    loader: Loader
    labels: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    xtreme_id: str | None = None
    train_size: int | None = None
    hub: str = ""
    local_layout: str = ""
    train_task: str | None = None  # target tasks trained on another task's data (XNLI -> MNLI)
    # English tasks a target is fine-tuned on first, in order, before train_task (its benchmark's
    # recipe: XTREME-R trains XCOPA on SocialIQA, then COPA). The run config may override them.
    train_stages: tuple[str, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)
    # Run once per run with the task's local data folder (or None); returns the spec to use.
    # For tasks whose labels come from their training data (CCG supertags).
    setup: Callable[["TaskSpec", str | None], "TaskSpec"] | None = None

    @property
    def num_labels(self) -> int:
        return len(self.labels)


# ---------------------------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------------------------

_TASKS: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    """Add a task to the registry (module import time). Names are unique."""
    if spec.name in _TASKS:
        raise ValueError(f"task {spec.name!r} registered twice")
    _TASKS[spec.name] = spec
    return spec


def nearest(name: str, choices: Sequence[str]) -> str:
    """A ' (did you mean ...?)' hint for a mistyped name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def get_task(name: str) -> TaskSpec:
    """Look a task up by name; an unknown name is a ConfigError listing the nearest names."""
    from toolkit import tasks  # noqa: F401  (importing the package registers every task)

    if name not in _TASKS:
        raise ConfigError(
            f"unknown task {name!r}{nearest(name, sorted(_TASKS))}; "
            f"known tasks: {', '.join(sorted(_TASKS))}"
        )
    return _TASKS[name]


def all_tasks() -> dict[str, TaskSpec]:
    """Every registered task, by name."""
    from toolkit import tasks  # noqa: F401

    return dict(_TASKS)
