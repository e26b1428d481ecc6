"""Typed records every task is made of: examples, data sources and the task spec itself.

A task is data, not code paths: a `TaskSpec` names its family (which fixes the featuriser,
the head and the decoder), its labels, its metric, its languages and where its data lives.
Loaders turn a source into a list of family-specific examples; everything downstream works
on those examples only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Union

from toolkit.hub import HubSource


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
class LoadRequest:
    """What a loader is asked for.

    `split` is "train", "validation" or "test"; `language` is an XTREME language code (None
    for English-only tasks); `data_dir` points at local files (None means the Hub);
    `max_examples` caps the number read (None: all), taking the first ones in file order;
    `revision` replaces the registered revision of every Hub source the task reads (None: keep).
    """

    split: str
    language: str | None = None
    data_dir: str | None = None
    max_examples: int | None = None
    revision: str | None = None


def revision_of(spec: "TaskSpec", req: LoadRequest) -> str | None:
    """The revision a load reads the task's Hub sources at, when not the registered one: the
    request's, else the run's pin for the task (`data.hub_revisions`, put into
    `extra["hub_revision"]` by the pipeline); None keeps each source's own."""
    return req.revision or spec.extra.get("hub_revision")


Loader = Callable[["TaskSpec", LoadRequest], list]
# The Hub splits one load of a task reads, in order; a split or language the task does not have
# is a ConfigError (or DataError) here, before anything is downloaded.
HubSources = Callable[["TaskSpec", LoadRequest], tuple[HubSource, ...]]


@dataclass(frozen=True)
class Selection:
    """The data a target's models are compared and chosen on (the paper's dev protocol).

    split: the split scored for selection ("validation"); None when the target has no dev set
        (Tatoeba), so it is chosen for by the dev average of the other targets.
    languages: "target": each evaluated language's own dev set (XTREME ships them); "english":
        English dev only, the validation split of the task the target trains on (XQuAD and
        TyDiQA-GoldP have no other).
    without_dev: evaluated languages XTREME has no dev set for (left out of selection).
    caveat: what a reader of the report must know about this selection data, if anything.
    """

    split: str | None = "validation"
    languages: str = "target"
    without_dev: tuple[str, ...] = ()
    caveat: str = ""

    def __post_init__(self) -> None:
        if self.languages not in ("target", "english"):
            raise ValueError(f"Selection.languages must be 'target' or 'english', not {self.languages!r}")

    def describe(self) -> str:
        """One line for the report: which data the target is selected on."""
        if self.split is None:
            return "no dev set: chosen by the dev average of the other targets"
        where = "English" if self.languages == "english" else "each language's"
        text = f"{where} {self.split} split"
        if self.without_dev:
            text += f" (none for {', '.join(self.without_dev)})"
        return text + (f"; {self.caveat}" if self.caveat else "")


@dataclass(frozen=True)
class Target:
    """What makes a task an XTREME target, all in one place.

    xtreme_id: the task's id in XTREME's submission layout (`predictions/<xtreme_id>/`).
    file_format: how its prediction and gold files look: classification, multiple_choice,
        tagging, qa, bucc or tatoeba (see `toolkit.evaluation.xtreme_format`).
    benchmarks: benchmark name -> the languages that benchmark's evaluate.py averages the
        task's score over, in that script's order (English included where the list has it).
    eval_examples_per_language: approximate test examples per language, for `plan`'s
        evaluation cost when no local data is there to count.
    train_task: the task whose English training data the target fine-tunes on (XNLI: MNLI);
        None: its own.
    train_stages: English tasks fine-tuned on first, in order, before train_task (its
        benchmark's recipe: XTREME-R trains XCOPA on SocialIQA, then COPA). The run config may
        override them.
    selection: the dev data models are compared and chosen on (see `Selection`).
    test_labels_public: False when the test gold is not released (BUCC): test then yields
        submission files only, unless local data brings its gold.
    """

    xtreme_id: str
    file_format: str
    benchmarks: Mapping[str, tuple[str, ...]]
    eval_examples_per_language: int
    train_task: str | None = None
    train_stages: tuple[str, ...] = ()
    selection: Selection = Selection()
    test_labels_public: bool = True

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language any benchmark lists, the first benchmark's order first: what the task
        can be evaluated in (XQuAD's 11 XTREME languages, then XTREME-R's Romanian)."""
        out: list[str] = []
        for langs in self.benchmarks.values():
            out += [lang for lang in langs if lang not in out]
        return tuple(out)


@dataclass(frozen=True)
class TaskSpec:
    """Everything the toolkit knows about one task.

    family: which featuriser/head/decoder the task uses (a `toolkit.families` record:
        "pair_classification", "multiple_choice", "span_qa", "tagging", "mlm", "retrieval").
    labels: label names for classification and tagging (index = label id).
    metric: the metric used for validation and zero-shot scoring (`toolkit.evaluation.metrics`);
        for a target, the one XTREME's evaluate.py applies.
    languages: evaluation languages, English first. A target's default: every language its
        benchmarks list. Empty for English-only tasks.
    target: what makes it an XTREME target (None for intermediate-only tasks).
    train_size: train examples as used in the paper (documentation and compute planning).
    loader: reads one split of the task from the Hub or local files.
    hub_sources: the Hub splits (dataset, config, split, revision, columns) a load reads; the
        loader reads exactly these, and `prepare` and the pre-flight checks ask it too.
    local_layout: one line describing the expected local file layout, for docs and errors.
    """

    name: str
    family: str
    description: str
    metric: str
    loader: Loader
    labels: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    target: Target | None = None
    train_size: int | None = None
    hub: str = ""
    hub_sources: HubSources | None = None
    local_layout: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)
    # Run once per run with the task's local data folder (or None); returns the spec to use.
    # For tasks whose labels come from their training data (CCG supertags).
    setup: Callable[["TaskSpec", str | None], "TaskSpec"] | None = None

    def __post_init__(self) -> None:
        if self.target is not None and not self.languages:
            langs = self.target.languages
            object.__setattr__(self, "languages", tuple(sorted(langs, key=lambda lang: lang != "en")))

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def xtreme_id(self) -> str | None:
        """The target's id in XTREME's submission layout; None for intermediate-only tasks."""
        return self.target.xtreme_id if self.target else None

    @property
    def train_task(self) -> str | None:
        return self.target.train_task if self.target else None

    @property
    def train_stages(self) -> tuple[str, ...]:
        return self.target.train_stages if self.target else ()
