"""The Worker: runs tasks as agents and sends what they come to.

Read :mod:`chimera.services.worker.task_run` for one task's way from its stream entry to its
settlement; :mod:`~chimera.services.worker.core` holds the pure rules it applies,
:mod:`~chimera.services.worker.agent` the LLM/tool loop, and
:mod:`~chimera.services.worker.worker` the loop that reads, runs, sends and keeps leases.
"""

from chimera.services.worker.settings import WorkerSettings
from chimera.services.worker.worker import Worker

__all__ = ["Worker", "WorkerSettings"]
