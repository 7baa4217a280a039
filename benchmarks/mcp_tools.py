"""The MCP toolbox's own cost per tool call, beside the raw MCP SDK session in the same run.

Prints a table; it is a measurement, not a test. Usage:

    uv run python benchmarks/mcp_tools.py [--calls N] [--concurrency C] [--rounds R]

Both sides call a no-op tool on one local stdio server (this file, started with
``--serve``) over one SDK client session, the one the toolbox opened:

- ``raw SDK``: ``client.call_tool("noop")`` on that ``mcp.Client``;
- ``toolbox``: chimera's ``McpToolbox.call`` with a ``ToolBinding`` (session lookup, timeout,
  error mapping, ``ToolResult`` conversion) over the same client.

Each is measured sequentially (one call at a time: latency) and with C calls in flight
(throughput), R rounds alternating the two sides, best round kept. The difference per call
is the toolbox's overhead. Starting the server (once per process) is reported separately.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mcp import Client
from mcp.server import MCPServer

from chimera.lib.mcp import McpToolbox
from chimera.lib.mcp import toolbox as toolbox_module
from chimera.lib.mcp.session import McpSession
from chimera.lib.mcp.transports import connect
from chimera.models.llm import ToolSpec
from chimera.models.mcp_config import McpServerConfig
from chimera.ports.tools import ToolBinding

SERVER_ARGS = [__file__, "--serve"]


def serve() -> None:
    noop_server().run("stdio")


async def timed(calls: int, concurrency: int, call: Callable[[], Awaitable[Any]]) -> float:
    """Seconds for ``calls`` calls with ``concurrency`` in flight."""
    queue = iter(range(calls))

    async def lane() -> None:
        for _ in queue:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - started


def noop_server() -> MCPServer:
    server: MCPServer = MCPServer("noop", log_level="WARNING")

    @server.tool()
    def noop() -> str:
        """Do nothing."""
        return "ok"

    return server


Call = Callable[[], Awaitable[Any]]


async def compare(
    raw: Call, boxed: Call, calls: int, concurrency: int, rounds: int
) -> list[tuple[str, float, float]]:
    """Best µs per call of each side, sequential and with ``concurrency`` in flight."""
    await timed(200, 1, raw)  # warm up both paths
    await timed(200, 1, boxed)
    seconds: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):  # alternate, so a load spike on the machine hits both sides
        for lanes in (1, concurrency):
            for side, call in (("raw", raw), ("toolbox", boxed)):
                seconds.setdefault((side, lanes), []).append(await timed(calls, lanes, call))
    return [
        (
            "sequential" if lanes == 1 else f"{lanes} in flight",
            min(seconds["raw", lanes]) / calls * 1e6,
            min(seconds["toolbox", lanes]) / calls * 1e6,
        )
        for lanes in (1, concurrency)
    ]


async def over_stdio(calls: int, concurrency: int, rounds: int) -> list[tuple[str, float, float]]:
    """McpToolbox.call vs the SDK client it opened, on one stdio server process."""
    built: list[Client] = []

    def capture(target: Any, on_closed: Callable[[], None]) -> Client:
        client = connect(target, on_closed)
        built.append(client)
        return client

    toolbox_module.connect = capture  # type: ignore[assignment]
    config = McpServerConfig(command=sys.executable, args=SERVER_ARGS)
    toolbox = McpToolbox({"bench": config})
    binding = ToolBinding(spec=ToolSpec(name="noop"), server="bench", tool="noop")
    started = time.perf_counter()
    await toolbox.tools("bench")
    print(
        f"stdio session start (spawn, handshake, tools/list): "
        f"{(time.perf_counter() - started) * 1000:.0f} ms, once per server per process"
    )
    [client] = built

    async def raw() -> Any:
        return await client.call_tool("noop", {}, read_timeout_seconds=60)

    async def boxed() -> Any:
        return await toolbox.call(binding, {}, "bench")

    try:
        return await compare(raw, boxed, calls, concurrency, rounds)
    finally:
        await toolbox.aclose()


async def in_memory(calls: int, concurrency: int, rounds: int) -> list[tuple[str, float, float]]:
    """McpSession.call vs its SDK client, on the in-process transport: no pipes, no server
    process, so only the two client paths differ and machine noise is smaller."""
    built: list[Client] = []

    def factory(on_closed: Callable[[], None]) -> Client:
        built.append(Client(noop_server(), cache=None))
        return built[-1]

    session = McpSession("bench", factory, connect_timeout_s=30)
    await session.tools()
    [client] = built

    async def raw() -> Any:
        return await client.call_tool("noop", {}, read_timeout_seconds=60)

    async def boxed() -> Any:
        return await session.call("noop", {}, 60)

    try:
        return await compare(raw, boxed, calls, concurrency, rounds)
    finally:
        await session.aclose()


def show(title: str, rows: list[tuple[str, float, float]]) -> None:
    print(title)
    print(
        f"  {'mode':<16}{'raw SDK µs/call':>17}{'toolbox µs/call':>17}{'overhead µs':>13}"
        f"{'raw calls/s':>13}{'toolbox calls/s':>17}"
    )
    for mode, raw_us, box_us in rows:
        print(
            f"  {mode:<16}{raw_us:>17.1f}{box_us:>17.1f}{box_us - raw_us:>13.1f}"
            f"{1e6 / raw_us:>13.0f}{1e6 / box_us:>17.0f}"
        )


async def main(calls: int, concurrency: int, rounds: int) -> None:
    print(f"No-op MCP tool, {calls} calls per round, best of {rounds} alternating rounds")
    show("stdio server process (what a worker runs):", await over_stdio(calls, concurrency, rounds))
    show("in-process server (client paths only):", await in_memory(calls, concurrency, rounds))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--serve", action="store_true", help="run the no-op stdio server")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    if options.serve:
        serve()
    else:
        asyncio.run(main(options.calls, options.concurrency, options.rounds))
