"""Commands packed by hiredis are the bytes redis-py's own packer makes, and they work."""

from __future__ import annotations

import redis.asyncio as aioredis

from chimera.lib.redis_connect import connect
from chimera.lib.redis_packing import pack_with_hiredis


def test_hiredis_packing_matches_redis_py() -> None:
    plain = aioredis.Redis().connection_pool.connection_class()
    fast = pack_with_hiredis(aioredis.Redis()).connection_pool.connection_class()
    for args in [
        ("EVALSHA", "a" * 40, 2, "k:{t}:1", "k:{t}:2", "héllo", 17, b"\x00raw"),
        ("CONFIG GET", "maxmemory"),
        ("XADD", "s", "*", "body", '{"x": 1}'),
    ]:
        assert b"".join(fast.pack_command(*args)) == b"".join(plain.pack_command(*args))


def test_a_memoryview_falls_back_to_the_python_packer() -> None:
    fast = pack_with_hiredis(aioredis.Redis()).connection_pool.connection_class()
    packed = b"".join(bytes(chunk) for chunk in fast.pack_command("SET", "k", memoryview(b"v")))
    assert packed == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"


def test_connect_packs_with_hiredis_and_does_it_once() -> None:
    client = connect("redis://127.0.0.1:6379/0")
    cls = client.connection_pool.connection_class
    assert cls.__name__ == "HiredisPackingConnection"
    assert pack_with_hiredis(client).connection_pool.connection_class is cls
