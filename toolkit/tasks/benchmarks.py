"""The benchmarks (XTREME, XTREME-R) as data, built from the target records of the registry.

A benchmark's per-task language lists are the ones google-research/xtreme's `evaluate.py`
averages over; each target task carries its own (`Target.benchmarks`), and this module
gathers them. A task's score is the mean over exactly the chosen benchmark's list, English
included where a list has it (Tatoeba and BUCC are retrieval into English, so English is not on
their lists). The run config's `benchmark` picks the record (`get_benchmark`); it decides the
default evaluation languages (`evaluation_languages`) and the languages a score averages over
(`official_languages`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from toolkit.errors import ConfigError, nearest
from toolkit.tasks.languages import FILE_CODES, codes
from toolkit.tasks.records import TaskSpec
from toolkit.tasks.registry import all_tasks


# XTREME id -> its target task, in registry order (the registry is fixed once imported).
_TARGETS: dict[str, TaskSpec] = {s.xtreme_id: s for s in all_tasks().values() if s.target}


@dataclass(frozen=True)
class NotRun:
    """A task of a benchmark that this toolkit does not run: its languages and why not."""

    languages: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Benchmark:
    """One benchmark as google-research/xtreme's evaluate.py defines it.

    name: the run-config value (`benchmark: xtreme_r`); title: how papers name it;
    evaluate_version: evaluate.py's `--xtreme_version`; not_run: tasks of the benchmark this
    toolkit does not run, with their languages and the reason. The tasks it runs are the
    registered targets that list the benchmark, in registry order.
    """

    name: str
    title: str
    evaluate_version: str
    not_run: Mapping[str, NotRun] = field(default_factory=dict)

    @property
    def targets(self) -> dict[str, TaskSpec]:
        """XTREME id -> the registered target scored under this benchmark, in benchmark order."""
        return {tid: s for tid, s in _TARGETS.items() if self.name in s.target.benchmarks}

    @property
    def languages(self) -> dict[str, tuple[str, ...]]:
        """Every task of the benchmark (XTREME id) -> the languages its score averages over."""
        out = {tid: spec.target.benchmarks[self.name] for tid, spec in self.targets.items()}
        out.update({tid: n.languages for tid, n in self.not_run.items()})
        return out

    @property
    def tasks(self) -> tuple[str, ...]:
        """The benchmark's tasks this toolkit runs, in the benchmark's order."""
        return tuple(self.targets)

    @property
    def average_label(self) -> str:
        return f"{self.title} average"


# XTREME-R's two trained-retrieval tasks (docs/research/xtreme_r.md has the details).
_XTREME_R_NOT_RUN = {
    "mewslix": NotRun(
        codes("ar de en es fa ja pl ro ta tr uk"),
        "Mewsli-X needs a dual encoder fine-tuned with in-batch negatives against a candidate set of "
        "~1M English Wikipedia entities; its data exists only as the output of google-research's "
        "extraction script (WikiNews and Wikipedia dumps), not on the Hub or in any file this toolkit "
        "can check offline",
    ),
    "lareqa": NotRun(
        (),
        "LAReQA needs a dual encoder fine-tuned on SQuAD with in-batch negatives and a language-agnostic "
        "answer pool (XQuAD-R); XTREME's evaluate.py does not score it from submissions (its language "
        "list is empty)",
    ),
}

BENCHMARKS: Mapping[str, Benchmark] = {
    "xtreme": Benchmark("xtreme", "XTREME", "xtreme"),
    "xtreme_r": Benchmark("xtreme_r", "XTREME-R", "xtreme-r", _XTREME_R_NOT_RUN),
}


def get_benchmark(name: str) -> Benchmark:
    """The benchmark record named `name` ('xtreme' or 'xtreme_r')."""
    if name not in BENCHMARKS:
        raise ConfigError(
            f"unknown benchmark {name!r}{nearest(name, sorted(BENCHMARKS))}; "
            f"expected one of {', '.join(BENCHMARKS)}"
        )
    return BENCHMARKS[name]


def target_spec(xtreme_id: str) -> TaskSpec:
    """The registered target task whose XTREME id is `xtreme_id`."""
    if xtreme_id not in _TARGETS:
        raise ConfigError(f"unknown XTREME task id {xtreme_id!r}{nearest(xtreme_id, sorted(_TARGETS))}; "
                          f"known: {', '.join(_TARGETS)}")
    return _TARGETS[xtreme_id]


def official_languages(task: str, benchmark: str = "xtreme") -> tuple[str, ...]:
    """The languages a benchmark averages a task's score over, e.g. 15 for XTREME's 'xnli'."""
    bench = get_benchmark(benchmark)
    if task in bench.not_run:
        raise ConfigError(f"{bench.title} task {task!r} is not run by this toolkit: {bench.not_run[task].reason}")
    langs = bench.languages
    if task not in langs:
        raise ConfigError(
            f"{task!r} is not part of {bench.title}{nearest(task, bench.tasks)}; "
            f"{bench.title} tasks: {', '.join(bench.tasks)} (benchmark={bench.name})"
        )
    return langs[task]


def known_languages(task: str) -> tuple[str, ...]:
    """Every language any benchmark lists for `task` (an XTREME id): what it can be evaluated in."""
    return target_spec(task).target.languages


def all_languages(benchmark: str = "xtreme") -> tuple[str, ...]:
    """Every language of any task the benchmark scores, sorted."""
    return tuple(sorted(set().union(*get_benchmark(benchmark).languages.values())))


def evaluation_languages(task: str, benchmark: str = "xtreme") -> tuple[str, ...]:
    """The languages a target is evaluated in by default: the benchmark's list, English first."""
    official = official_languages(task, benchmark)
    return tuple(sorted(official, key=lambda lang: lang != "en"))


def check_languages(task: str, langs: Iterable[str], benchmark: str = "xtreme") -> tuple[str, ...]:
    """Return `langs` (in the given order) after checking them for a benchmark's task.

    Each code must be one the task has under some benchmark (Romanian XQuAD may be evaluated
    under XTREME too; it is just not averaged), and at least one must count toward the chosen
    benchmark's score. Unknown codes raise one ConfigError naming every bad code with the
    nearest valid ones; a dataset's own code (e.g. Tatoeba's 'deu', UD's 'German') gets the
    code to use.
    """
    official = official_languages(task, benchmark)
    valid = known_languages(task)
    langs = tuple(langs)
    problems = []
    for lang in langs:
        if lang in valid:
            continue
        hint = nearest(lang, valid)
        for code, other in FILE_CODES.get(task, {}).items():
            if other.lower() == str(lang).lower() and code in valid:
                hint = f" ({lang!r} is the file code of {code!r}; use {code!r})"
        problems.append(f"{lang!r}{hint}")
    duplicates = sorted({lang for lang in langs if langs.count(lang) > 1})
    if duplicates:
        problems.append(f"listed more than once: {', '.join(duplicates)}")
    title = get_benchmark(benchmark).title
    if problems:
        counted = "" if valid == official else f" ({title} averages over {', '.join(official)})"
        raise ConfigError(
            f"bad languages for {title} task {task!r}: {'; '.join(problems)}. "
            f"Valid languages: {', '.join(valid)}{counted}"
        )
    if langs and not set(langs) & set(official):
        raise ConfigError(
            f"none of the languages {', '.join(langs)} counts toward the {title} score of {task!r}; "
            f"it averages over {', '.join(official)}"
        )
    return langs
