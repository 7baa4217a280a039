"""Redis Cluster without a cluster: the URL, the client it builds, one slot per tenant."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from redis.asyncio.cluster import RedisCluster

import chimera.lib.lua as lua_package
from chimera.lib.keys import Keyspace, TenantKeys
from chimera.lib.logging import redact_text
from chimera.lib.lua.wrapper import ScriptKeys
from chimera.lib.redis_cluster import by_slot, is_cluster_url, parse_cluster_url, slot_of
from chimera.lib.redis_connect import InvalidRedisUrl, check_url, connect, safe_url
from chimera.lib.redis_packing import _HiredisPacking


def test_a_cluster_url_names_every_seed_node_and_the_credentials() -> None:
    parsed = parse_cluster_url("redis+cluster://app:s%40cret@10.0.0.1:7001,[::1]:7002,cache:7003")

    assert parsed.nodes == (("10.0.0.1", 7001), ("::1", 7002), ("cache", 7003))
    assert (parsed.username, parsed.password, parsed.tls) == ("app", "s@cret", False)
    assert parse_cluster_url("rediss+cluster://h:1/0").tls is True
    assert is_cluster_url("REDIS+CLUSTER://h:1")
    assert not is_cluster_url("redis://h:1")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+cluster://h:7001/1", "only database 0"),
        ("redis+cluster://h:7001?socket_timeout=1", "no query options"),
        ("redis+cluster://h", "needs a port"),
        ("redis+cluster://h:99999", "out of range"),
        ("redis+cluster://:pw@", "no host"),
    ],
)
def test_a_cluster_url_that_cannot_work_is_refused_without_its_password(
    url: str, says: str
) -> None:
    with pytest.raises(InvalidRedisUrl, match=says) as caught:
        check_url(url.replace("://", "://u:hunter2@", 1))

    assert "hunter2" not in str(caught.value)


def test_safe_url_hides_the_credentials_of_a_cluster_url() -> None:
    shown = safe_url("redis+cluster://app:hunter2@h1:7001,h2:7002")

    assert shown == "redis+cluster://***@h1:7001,h2:7002"


async def test_connect_builds_a_cluster_client_that_packs_with_hiredis() -> None:
    client = connect("redis+cluster://127.0.0.1:7001,127.0.0.1:7002", client_name="t")

    assert isinstance(client, RedisCluster)
    nodes = client.nodes_manager.startup_nodes.values()
    assert {node.port for node in nodes} == {7001, 7002}
    assert all(issubclass(node.connection_class, _HiredisPacking) for node in nodes)
    # Nodes learnt later from CLUSTER SLOTS are built from these settings.
    assert issubclass(client.connection_kwargs["connection_class"], _HiredisPacking)
    await client.aclose()


def _every_key(keys: TenantKeys) -> list[str]:
    names = [
        getattr(keys, name)
        for name, member in inspect.getmembers(type(keys))
        if isinstance(member, property | type(TenantKeys.tasks))
    ]
    return [*names, keys.session("s1"), keys.session_tasks("s1")]


def test_every_key_of_a_tenant_shares_the_tenant_slot() -> None:
    keys = Keyspace("chimera").tenant("acme")
    every = _every_key(keys)

    assert len(every) > 15
    assert {slot_of(key) for key in every} == {slot_of("{acme}")}


def _wrappers() -> list[type[ScriptKeys]]:
    for module in pkgutil.iter_modules(lua_package.__path__):
        importlib.import_module(f"{lua_package.__name__}.{module.name}")
    found: list[type[ScriptKeys]] = []
    todo = list(ScriptKeys.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_script_call_touches_one_slot() -> None:
    """Each wrapper's keys come from one tenant: legal in one Lua call on a cluster."""
    keys = Keyspace("chimera").tenant("globex")
    checked = 0
    for wrapper in _wrappers():
        for name, maker in inspect.getmembers(wrapper, inspect.ismethod):
            if not name.startswith("of"):
                continue
            takes_session = len(inspect.signature(maker).parameters) == 2
            script_keys = maker(keys, "s1") if takes_session else maker(keys)
            assert {slot_of(k) for k in script_keys.keys().values()} == {slot_of("{globex}")}
            checked += 1

    assert checked >= 20


def test_by_slot_groups_keys_of_one_tenant_together() -> None:
    space = Keyspace("p")
    keys = [space.tenant("a").tasks, space.tenant("b").tasks, space.tenant("a").results]

    assert sorted(by_slot(keys)) == sorted([[keys[0], keys[2]], [keys[1]]])


async def test_the_password_of_a_cluster_url_is_never_written() -> None:
    client = connect("redis+cluster://app:Cluster-pw-77@127.0.0.1:7001,127.0.0.1:7002")

    assert redact_text("upstream said Cluster-pw-77") == "upstream said [REDACTED]"
    await client.aclose()
