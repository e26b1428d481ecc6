"""The task registry: importing this package registers every task module listed here."""

import importlib

from toolkit.tasks.base import TaskSpec, all_tasks, get_task, register

_TASK_MODULES = [
    "toolkit.tasks.nli",
    "toolkit.tasks.classification",
    "toolkit.tasks.multiple_choice",
    "toolkit.tasks.copa",
    "toolkit.tasks.qa",
    "toolkit.tasks.tagging",
    "toolkit.tasks.retrieval_tasks",
    "baselines.mlm.corpus",  # the `mlm` task of the mlm approach
]

for _module in _TASK_MODULES:
    importlib.import_module(_module)

__all__ = ["TaskSpec", "all_tasks", "get_task", "register"]
