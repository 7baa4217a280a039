"""Calling Lua scripts from pipelines by SHA, without redis-py's extra round trip.

redis-py's ``Script`` objects, used with a pipeline, send ``SCRIPT EXISTS`` before every
execute: a second round trip per batch. Here scripts are loaded once per client and called
with ``EVALSHA``; a ``NOSCRIPT`` reply (server restarted, ``SCRIPT FLUSH``) reloads them and
re-sends only the commands that failed, which never ran. On a Redis Cluster each script is
loaded on every master (a slot may move to any of them), and a master that still answers
``NOSCRIPT`` (one added later, one restarted) is caught the same way.

Every chimera script is called this way (see ``chimera/lib/lua/``): a typed wrapper per
script builds a :class:`Call` from named keys and arguments, and :class:`LuaBatch` sends it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import redis.asyncio as aioredis
from redis.client import NEVER_DECODE
from redis.exceptions import NoScriptError

from chimera.lib.redis_cluster import is_cluster

R = TypeVar("R")


def raw_reply(reply: Any) -> Any:
    """The reply as the client decoded it (for calls that parse nothing)."""
    return reply


@dataclass(frozen=True)
class Lua:
    """One script: its source, SHA1 and the names of its inputs.

    Attributes:
        source: the Lua text sent to the server.
        name: what errors call it.
        key_names: the names of ``KEYS[1..n]``, in order (empty: positional use only).
        arg_names: the names of the fixed ``ARGV[1..m]``; a script may take more after them.
    """

    source: str
    name: str = "script"
    key_names: tuple[str, ...] = ()
    arg_names: tuple[str, ...] = ()
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())

    def call(
        self,
        keys: Mapping[str, str],
        args: Mapping[str, Any],
        parse: Callable[[Any], R],
        rest: Sequence[Any] = (),
    ) -> Call[R]:
        """A call of this script with its inputs given by name.

        Args:
            keys: every key, by the name the script gives it.
            args: every fixed argument, by the name the script gives it.
            parse: turns the reply into the caller's type.
            rest: arguments after the fixed ones (per-item lists).

        Raises:
            ValueError: a name is missing or unknown (a bug in the wrapper, not a fault).
        """
        return self.call_ordered(self.key_values(keys, args), args, parse, rest)

    def key_values(
        self, keys: Mapping[str, str], args: Mapping[str, Any] | None = None
    ) -> list[str]:
        """The values of ``keys`` in the order of ``KEYS``.

        Raises:
            ValueError: a key name is missing or unknown.
        """
        if len(keys) != len(self.key_names):
            raise ValueError(self._mismatch(keys, args or {}))
        try:
            return [keys[name] for name in self.key_names]
        except KeyError:
            raise ValueError(self._mismatch(keys, args or {})) from None

    def call_ordered(
        self,
        key_values: Sequence[str],
        args: Mapping[str, Any],
        parse: Callable[[Any], R],
        rest: Sequence[Any] = (),
    ) -> Call[R]:
        """Like :meth:`call`, with the keys already in the order of ``KEYS``.

        Raises:
            ValueError: an argument name is missing or unknown.
        """
        try:
            if len(args) != len(self.arg_names):
                raise KeyError
            arg_values = [args[name] for name in self.arg_names]
        except KeyError:
            named = dict(zip(self.key_names, key_values, strict=True))
            raise ValueError(self._mismatch(named, args)) from None
        return Call(self, key_values, [*arg_values, *rest], parse)

    def _mismatch(self, keys: Mapping[str, str], args: Mapping[str, Any]) -> str:
        return (
            f"{self.name}: called with keys {sorted(keys)} and args {sorted(args)}; "
            f"it takes keys {list(self.key_names)} and args {list(self.arg_names)}"
        )


@dataclass(frozen=True)
class Call(Generic[R]):
    """A script call queued into a batch, and how to read its reply.

    ``undecoded``: the reply is read as bytes whatever the client decodes (a script that
    returns stream entries: one entry that is not UTF-8 must not fail the batch).
    """

    script: Lua
    keys: Sequence[str]
    args: Sequence[Any]
    parse: Callable[[Any], R] = raw_reply
    undecoded: bool = False


class LuaBatch:
    """Runs a batch of script calls in one pipelined round trip."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._loaded: set[str] = set()

    async def run(self, calls: Sequence[Call[R]]) -> list[R]:
        """Send every call in one pipeline; return the parsed replies in order.

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
        return [call.parse(reply) for call, reply in zip(calls, replies, strict=True)]

    async def run_one(self, call: Call[R]) -> R:
        """Send one call; return its parsed reply."""
        [reply] = await self.run([call])
        return reply

    async def _send(self, calls: Sequence[Call[Any]]) -> list[Any]:
        async with self.client.pipeline(transaction=False) as pipe:
            for call in calls:
                # As a raw command: a cluster pipeline refuses ``evalsha()`` by name, though
                # it routes EVALSHA by its keys like any other command.
                options: dict[str, Any] = {NEVER_DECODE: []} if call.undecoded else {}
                pipe.execute_command(
                    "EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args, **options
                )
            return list(await pipe.execute(raise_on_error=False))

    async def _load(self, scripts: set[Lua]) -> None:
        todo = [s for s in scripts if s.sha not in self._loaded]
        if not todo:
            return
        if is_cluster(self.client):
            # A cluster client sends SCRIPT LOAD to every master; its pipeline cannot.
            for script in todo:
                await self.client.script_load(script.source)
            self._loaded.update(s.sha for s in todo)
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for script in todo:
                pipe.script_load(script.source)
            await pipe.execute()
        self._loaded.update(s.sha for s in todo)
