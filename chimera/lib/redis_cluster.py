"""Redis Cluster: the ``redis+cluster://`` URL and redis-py's asyncio cluster client.

``redis+cluster://[user:password@]host:port[,host:port...]`` names a few of a cluster's
nodes (any of them: the client learns the rest with ``CLUSTER SLOTS``);
``rediss+cluster://`` does the same over TLS. A cluster has one database, so the path is
empty or ``/0``. Every tenant's keys share one hash slot (:mod:`chimera.lib.keys`), so each
Lua call and each transaction touches one slot; what reads several tenants reads them one
slot at a time (:mod:`chimera.lib.redis_queue`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def is_cluster_url(url: str | None) -> bool:
    """Tell whether ``url`` names a Redis Cluster (``redis+cluster://``, ``rediss+cluster://``)."""
    return bool(url) and str(url).split("://", 1)[0].lower() in CLUSTER_SCHEMES


def is_cluster(client: Any) -> bool:
    """Tell whether ``client`` is a cluster client (it routes each key to its slot's node)."""
    return isinstance(client, RedisCluster)


async def node_of(client: Any, key: str) -> Any:
    """The cluster node serving ``key``'s slot, as the client's slot map says.

    Given as ``target_nodes``, it spares redis-py a ``COMMAND GETKEYS`` round trip to find
    the keys of a command whose keys move (``XREADGROUP``, ``XREAD``); the client still
    follows ``MOVED`` and ``ASK`` from there.
    """
    cluster = cast("RedisCluster", client)
    await cluster.initialize()  # a no-op once the slot map is known
    return cluster.get_node_from_key(key)


def slot_of(key: str) -> int:
    """The hash slot of ``key`` (its ``{tag}`` when it has one)."""
    return int(key_slot(key.encode()))


def by_slot(keys: Iterable[str]) -> list[list[str]]:
    """``keys`` grouped by hash slot, each group in the order given."""
    groups: dict[int, list[str]] = defaultdict(list)
    for key in keys:
        groups[slot_of(key)].append(key)
    return list(groups.values())


@dataclass(frozen=True)
class ClusterUrl:
    """What a cluster URL says: the seed nodes and the credentials."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    tls: bool


def parse_cluster_url(url: str) -> ClusterUrl:
    """Split a ``redis+cluster://`` URL into nodes and credentials.

    Raises:
        ValueError: the URL cannot name a cluster; the message never shows credentials.
    """
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in CLUSTER_SCHEMES:
        raise ValueError("the scheme must be redis+cluster:// or rediss+cluster://")
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    if query or fragment:
        raise ValueError("a cluster URL takes no query options")
    userinfo, at, hosts = rest.rpartition("@")
    hosts, slash, path = hosts.partition("/")
    if slash and path not in ("", "0"):
        raise ValueError("a cluster has only database 0")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    nodes = tuple(_node(part) for part in hosts.split(",") if part.strip())
    if not nodes:
        raise ValueError("no host")
    return ClusterUrl(nodes, username, password, scheme.lower() == "rediss+cluster")


def _node(text: str) -> tuple[str, int]:
    parts = urlsplit("//" + text.strip())
    port = parts.port  # ValueError for a port that is not a number in range
    if not parts.hostname:
        raise ValueError(f"no host in {text.strip()!r}")
    if not port:
        raise ValueError(f"{text.strip()!r} needs a port (a cluster node has no default)")
    return parts.hostname, port


def connect_cluster(url: str, client_name: str | None = None) -> RedisCluster:
    """An asyncio cluster client for ``url``, decoding replies (as every chimera client does).

    Raises:
        ValueError: the URL cannot name a cluster.
    """
    parsed = parse_cluster_url(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
        username=parsed.username,
        password=parsed.password,
        ssl=parsed.tls,
        decode_responses=True,
        health_check_interval=30,
        client_name=client_name,
    )
