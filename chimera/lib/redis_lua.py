"""Calling Lua scripts from pipelines by SHA, without redis-py's extra round trip.

redis-py's ``Script`` objects, used with a pipeline, send ``SCRIPT EXISTS`` before every
execute: a second round trip per batch. Here scripts are loaded once per client and called
with ``EVALSHA``; a ``NOSCRIPT`` reply (server restarted, ``SCRIPT FLUSH``) reloads them and
re-sends only the commands that failed, which never ran.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError


@dataclass(frozen=True)
class Lua:
    """One script: its source and SHA1."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


@dataclass
class Call:
    """A script call queued into a batch."""

    script: Lua
    keys: Sequence[str]
    args: Sequence[Any]


class LuaBatch:
    """Runs a batch of script calls (and plain commands) in one pipelined round trip."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._loaded: set[str] = set()

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        """Send every call in one pipeline; return the replies in order.

        Raises:
            ResponseError: a script failed for another reason than NOSCRIPT.
        """
        if not calls:
            return []
        await self._load({call.script for call in calls})
        replies = await self._send(calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            self._loaded.clear()
            await self._load({calls[i].script for i in missing})
            retried = await self._send([calls[i] for i in missing])
            for index, reply in zip(missing, retried, strict=True):
                replies[index] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def _send(self, calls: Sequence[Call]) -> list[Any]:
        async with self.client.pipeline(transaction=False) as pipe:
            for call in calls:
                pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
            return list(await pipe.execute(raise_on_error=False))

    async def _load(self, scripts: set[Lua]) -> None:
        todo = [s for s in scripts if s.sha not in self._loaded]
        if not todo:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for script in todo:
                pipe.script_load(script.source)
            await pipe.execute()
        self._loaded.update(s.sha for s in todo)
