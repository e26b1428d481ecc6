"""The task registry: importing this package registers every task module listed here."""

import importlib

from xstilts.tasks.base import TaskSpec, all_tasks, get_task, register

_TASK_MODULES = [
    "xstilts.tasks.nli",
    "xstilts.tasks.classification",
    "xstilts.tasks.multiple_choice",
    "xstilts.tasks.copa",
    "xstilts.tasks.qa",
    "xstilts.tasks.tagging",
    "xstilts.tasks.retrieval_tasks",
    "baselines.mlm.corpus",  # the `mlm` task of the mlm approach
]

for _module in _TASK_MODULES:
    importlib.import_module(_module)

__all__ = ["TaskSpec", "all_tasks", "get_task", "register"]
