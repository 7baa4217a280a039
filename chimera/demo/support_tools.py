"""A small support-desk MCP server over a fixed, offline data set.

Tools: ``lookup_order`` (an order with its payments), ``search_kb`` (knowledge-base
articles by keywords) and ``issue_refund`` (a side effect, kept in memory: configure it as
``sensitive`` so a human approves each call).

Run it as a stdio server (what swarm.yaml starts) or over streamable HTTP::

    python -m chimera.demo.support_tools
    python -m chimera.demo.support_tools --http --port 8100

``SUPPORT_TOOLS_LATENCY_MS`` adds a delay to every call, to play a slow back office.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from typing import Annotated, Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from chimera.demo.support_data import ARTICLES, ORDERS

_WORD = re.compile(r"[a-z0-9]{3,}")


def build_server(latency_ms: float = 0.0) -> MCPServer:
    """The support-desk server; ``latency_ms`` delays every tool call."""
    server: MCPServer = MCPServer(
        "chimera-support-desk",
        instructions="Order lookups, knowledge-base search and refunds for the demo desk.",
        log_level="WARNING",
    )
    refunds: list[dict[str, Any]] = []

    async def pause() -> None:
        if latency_ms > 0:
            await anyio.sleep(latency_ms / 1000.0)

    @server.tool()
    async def lookup_order(
        order_id: Annotated[str, Field(description="Order number, such as A-1001.")],
    ) -> dict[str, Any]:
        """Look up an order: customer, status, items, total and every payment made."""
        await pause()
        order = ORDERS.get(order_id.strip().upper())
        if order is None:
            raise ToolError(f"no order {order_id!r}; order numbers look like A-1001")
        return {"order_id": order_id.strip().upper(), **order}

    @server.tool()
    async def search_kb(
        query: Annotated[str, Field(description="Keywords describing the problem.")],
        limit: Annotated[int, Field(ge=1, le=10, description="Most articles returned.")] = 3,
    ) -> dict[str, Any]:
        """Search the knowledge base; returns the best-matching articles first."""
        await pause()
        return {"articles": search(query, limit)}

    @server.tool()
    async def issue_refund(
        order_id: Annotated[str, Field(description="Order number, such as A-1001.")],
        amount: Annotated[float, Field(gt=0, description="Amount to refund.")],
        reason: Annotated[str, Field(min_length=3, description="Why, for the customer.")],
    ) -> dict[str, Any]:
        """Refund part or all of what was paid for an order. A side effect: it moves money."""
        await pause()
        key = order_id.strip().upper()
        order = ORDERS.get(key)
        if order is None:
            raise ToolError(f"no order {order_id!r}")
        paid = sum(p["amount"] for p in order["payments"])
        refunded = sum(r["amount"] for r in refunds if r["order_id"] == key)
        if amount > paid - refunded:
            raise ToolError(f"cannot refund {amount}: {paid - refunded} is left to refund")
        refund = {
            "refund_id": f"R-{len(refunds) + 1:04d}",
            "order_id": key,
            "amount": amount,
            "currency": order["currency"],
            "reason": reason,
        }
        refunds.append(refund)
        return refund

    return server


def search(query: str, limit: int = 3) -> list[dict[str, Any]]:
    """Articles sharing words with ``query``, best first (title words count double)."""
    words = set(_WORD.findall(query.lower()))
    scored = []
    for article in ARTICLES:
        title = _WORD.findall(article["title"].lower())
        body = _WORD.findall(article["body"].lower())
        score = 2 * sum(w in words for w in title) + sum(w in words for w in body)
        if score:
            scored.append((-score, article["id"], article))
    return [
        {"id": a["id"], "title": a["title"], "text": a["body"], "score": -s}
        for s, _, a in sorted(scored)[:limit]
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the server on stdio (default) or streamable HTTP."""
    parser = argparse.ArgumentParser(prog="python -m chimera.demo.support_tools")
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    options = parser.parse_args(argv)
    latency = float(os.environ.get("SUPPORT_TOOLS_LATENCY_MS", "0") or 0)
    server = build_server(latency)
    if options.http:
        server.run("streamable-http", host=options.host, port=options.port)
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
