"""The Python client: submit tasks to a swarm, follow them, cancel them, review them.

It is what the ``chimera`` command itself uses for ``submit``, ``results``, ``cancel`` and
``review``, and what an application (a web service, a notebook, a script) embeds::

    async with chimera.Client.from_swarm("swarm.yaml", redis_url="redis://cache:6379/0") as client:
        task = await client.submit("acme", "classify", {"subject": "Refund", "body": "…"})
        outcome = await client.wait(task, timeout_s=30)
        print(outcome.state, outcome.output)

The tasks are run by ``chimera worker`` processes on the same Redis (or, for a notebook or a
test, by :meth:`Client.serve` in this process).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pluggy

from chimera.bootstrap import Runtime, build_runtime
from chimera.client.review import ReviewClient
from chimera.client.runs import RunsClient
from chimera.config.swarm import Swarm
from chimera.lib.keys import DEFAULT_PREFIX
from chimera.lib.redis_connect import DEFAULT_REDIS_URL
from chimera.models.task import Task
from chimera.ports.stores import TaskState
from chimera.services.cancel import Cancelled
from chimera.services.judge import JudgeSettings
from chimera.services.outcomes import Outcome
from chimera.services.planner import Submission
from chimera.services.worker import WorkerSettings


class NotConnected(RuntimeError):
    """The client was used before ``connect()`` (or outside ``async with``)."""


class Client:
    """An application's handle on one swarm and the Redis its workers share.

    Build it with :meth:`from_swarm`, then use it as an async context manager (or call
    :meth:`connect` and :meth:`close` yourself, in a web framework's start-up and shut-down
    hooks). One client may be shared by every request of a process: its methods are
    safe to call concurrently.

    Args:
        swarm: the loaded swarm.
        redis_url: the Redis the workers use (``None``: ``$CHIMERA_REDIS_URL``, else
            ``redis://127.0.0.1:6379/0``).
        prefix: the key prefix (``None``: ``$CHIMERA_PREFIX``, else ``chimera``).
        embedded: use an in-process Redis instead (a notebook or a test; start workers
            with :meth:`serve`).
        actor: who this client acts as in the audit trail (cancellations, reviews);
            default: the user running the process.
        plugin_manager: the plugin manager to build backends, policies and sinks with.
    """

    def __init__(
        self,
        swarm: Swarm,
        redis_url: str | None = None,
        *,
        prefix: str | None = None,
        embedded: bool = False,
        actor: str | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> None:
        self.swarm = swarm
        self.redis_url = None if embedded else _redis_url(redis_url)
        self.prefix = prefix or os.environ.get("CHIMERA_PREFIX") or DEFAULT_PREFIX
        self.actor = actor or _user()
        self._plugin_manager = plugin_manager
        self._runtime: Runtime | None = None
        self._owns_runtime = True
        self.review = ReviewClient(lambda: self.runtime.review(), self.actor)
        self.runs = RunsClient(
            swarm,
            lambda: self.runtime.run_keeper(self.actor),
            lambda: self.runtime.cancel(),
            self.actor,
        )

    @classmethod
    def from_swarm(
        cls,
        path: str | Path,
        redis_url: str | None = None,
        *,
        prefix: str | None = None,
        embedded: bool = False,
        actor: str | None = None,
    ) -> Client:
        """Load ``path`` (a ``swarm.yaml``) with the installed plugins; not yet connected.

        Raises:
            ConfigError: the swarm or a skill file has problems (each with file:line:col).
        """
        from chimera.plugins.loading import load_checked
        from chimera.plugins.manager import get_plugin_manager

        pm = get_plugin_manager()
        swarm = load_checked(Path(path), pm)
        return cls(
            swarm, redis_url, prefix=prefix, embedded=embedded, actor=actor, plugin_manager=pm
        )

    @classmethod
    def of(cls, runtime: Runtime, actor: str | None = None) -> Client:
        """A client over a runtime someone else built and will close (the CLI's)."""
        client = cls(runtime.swarm, embedded=True, prefix=runtime.keyspace.prefix, actor=actor)
        client._runtime, client._owns_runtime = runtime, False
        return client

    # -- connection ---------------------------------------------------------------------

    async def connect(self) -> Self:
        """Connect to Redis and build the swarm's plugin objects (once).

        Raises:
            InvalidRedisUrl: the URL cannot name a Redis server.
            RedisUnavailable: the server did not answer, or refused the credentials.
        """
        if self._runtime is None:
            self._runtime = await build_runtime(
                self.swarm,
                self.redis_url,
                self.prefix,
                plugin_manager=self._plugin_manager,
                role="client",
            )
        return self

    async def close(self) -> None:
        """Close the connection and the plugin objects (if this client opened them)."""
        runtime, self._runtime = self._runtime, None
        if runtime is not None and self._owns_runtime:
            await runtime.close()

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def runtime(self) -> Runtime:
        """The connected runtime (adapters and services).

        Raises:
            NotConnected: before :meth:`connect`.
        """
        if self._runtime is None:
            raise NotConnected("connect the client first: `async with client:` or connect()")
        return self._runtime

    # -- submitting ---------------------------------------------------------------------

    async def submit(
        self, tenant: str, skill: str, input: Mapping[str, Any], *, session: str | None = None
    ) -> Task:
        """Validate one task against the swarm and enqueue it.

        Returns:
            The Task (its ``id`` and ``session`` among others).

        Raises:
            PlanningError: unknown tenant or skill, a skill the tenant may not run, or input
                that does not match the skill's input schema; nothing was enqueued.
            QuotaExceeded: the tenant (or session) has used its token budget.
        """
        [task] = await self.submit_many([Submission(tenant, skill, dict(input))], session=session)
        return task

    async def submit_many(
        self, items: Iterable[Submission | Mapping[str, Any]], *, session: str | None = None
    ) -> list[Task]:
        """Validate every task, then enqueue them all (all or nothing), in batches.

        Args:
            items: :class:`Submission` objects or mappings with ``tenant``, ``skill``,
                ``input`` and optionally ``session``.
            session: the session of items that name none (default: a new one, shared).

        Raises:
            PlanningError: naming every invalid item (``item N: …``); nothing was enqueued.
            QuotaExceeded: a tenant (or session) has used its token budget.
        """
        submissions = [_submission(item) for item in items]
        return await self.runtime.planner().submit(submissions, session)

    # -- following ----------------------------------------------------------------------

    async def result(self, task: Task | str, *, tenant: str | None = None) -> Outcome:
        """Where a task stands now (``unknown`` when no tenant has it).

        Raises:
            UnknownTenant: ``tenant`` is not one of the swarm's.
        """
        if isinstance(task, Task):
            return await self.runtime.lookup().find(task.id, task.tenant)
        return await self.runtime.lookup().find(task, tenant)

    async def wait(
        self, task: Task | str, *, timeout_s: float | None = None, tenant: str | None = None
    ) -> Outcome:
        """Wait until the task reaches an outcome (waiting for review counts) and return it.

        Raises:
            TimeoutError: it had not reached one after ``timeout_s`` seconds.
        """
        [outcome] = await self.wait_all([task], timeout_s=timeout_s, tenant=tenant)
        if outcome.state is TaskState.PENDING:
            raise TimeoutError(f"task {outcome.task_id} is still pending after {timeout_s}s")
        return outcome

    async def wait_all(
        self,
        tasks: Sequence[Task | str],
        *,
        timeout_s: float | None = None,
        tenant: str | None = None,
    ) -> list[Outcome]:
        """Wait until every task reached an outcome, or ``timeout_s`` seconds passed.

        Returns:
            One outcome per task, in order; a task still running at the timeout reads
            ``pending``, one no tenant has reads ``unknown``.
        """
        lookup = self.runtime.lookup()
        known: list[Task] = []
        settled: dict[int, Outcome] = {}
        for index, task in enumerate(tasks):
            if isinstance(task, Task):
                known.append(task)
                continue
            found = await lookup.find(task, tenant)
            if found.task is not None and not found.done:
                known.append(found.task)
            else:
                settled[index] = found
        waited = iter(await lookup.wait(known, timeout_s) if known else [])
        return [settled[i] if i in settled else next(waited) for i in range(len(tasks))]

    async def outcomes(
        self, *, tenant: str, session: str, follow: bool = False, poll_s: float = 0.5
    ) -> AsyncIterator[Outcome]:
        """Yield each task of a session once, as it reaches its outcome.

        Ends once every task of the session has one, unless ``follow`` (then tasks
        submitted into the session later are picked up, until you stop iterating).

        Raises:
            UnknownTenant: the swarm has no such tenant.
            NoSuchSession: the tenant has no such session.
        """
        lookup = self.runtime.lookup()
        async for outcome in lookup.follow(tenant, session, poll_s, until_done=not follow):
            yield outcome

    # -- cancelling ---------------------------------------------------------------------

    async def cancel(
        self,
        *task_ids: str,
        tenant: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> list[Cancelled]:
        """Cancel tasks by id (one entry per distinct id); those with an outcome keep it.

        Queued and delayed tasks never run; a running task's Result is dropped, not
        committed.

        Raises:
            NothingToCancel: no tenant has a task by any of the ids.
        """
        service = self.runtime.cancel()
        return await service.cancel_tasks(task_ids, actor or self.actor, reason, tenant)

    async def cancel_session(
        self, tenant: str, session: str, *, reason: str | None = None, actor: str | None = None
    ) -> list[Cancelled]:
        """Cancel every task of a session that has not settled.

        Raises:
            NoSuchSession: the tenant has no such session.
        """
        service = self.runtime.cancel()
        return await service.cancel_session(tenant, session, actor or self.actor, reason)

    # -- running workers here -----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serve(
        self, *, tenants: Sequence[str] | None = None, concurrency: int = 200
    ) -> AsyncIterator[None]:
        """Run a Worker and a Judge in this process while the ``async with`` block runs.

        For notebooks, tests and the embedded Redis; production runs ``chimera worker``.
        On leaving the block they stop cleanly (unfinished tasks are handed back).
        """
        runtime = self.runtime
        stop = asyncio.Event()
        worker = runtime.worker(tenants, WorkerSettings(concurrency=concurrency, block_ms=100))
        judge = runtime.judge(tenants, settings=JudgeSettings(block_ms=100))
        loops = [asyncio.create_task(worker.run(stop)), asyncio.create_task(judge.run(stop))]
        try:
            yield
        finally:
            stop.set()
            failures = await asyncio.gather(*loops, return_exceptions=True)
            for failure in failures:
                if isinstance(failure, Exception):
                    raise failure


def _redis_url(given: str | None) -> str:
    return given or os.environ.get("CHIMERA_REDIS_URL") or DEFAULT_REDIS_URL


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in this environment (a container)
        return "client"


def _submission(item: Submission | Mapping[str, Any]) -> Submission:
    if isinstance(item, Submission):
        return item
    return Submission(
        tenant=item["tenant"],
        skill=item["skill"],
        input=item["input"],
        session=item.get("session"),
        where=item.get("where"),
    )
