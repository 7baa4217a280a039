"""The built-in backend, policy and sinks pass the conformance suite plugin authors use."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from chimera.lib.redis_audit import RedisAuditSink, read_chain
from chimera.models.config import MockConfig, MockToolCall
from chimera.services.audit import LogAuditSink
from chimera.services.judge_policy import ThresholdPolicy
from chimera.services.mock_backend import MockBackend
from chimera.testing import (
    BackendConformance,
    PolicyConformance,
    RecordingSink,
    SinkConformance,
    make_request,
    make_task,
)


class TestMockBackend(BackendConformance):
    @pytest.fixture
    def backend(self) -> MockBackend:
        return MockBackend({"answer": MockConfig()})


class TestMockBackendPlayingToolCalls(BackendConformance):
    """The mock is registered with tools=True: scripted, it passes the tool-call cases."""

    @pytest.fixture
    def backend(self) -> MockBackend:
        calls = [
            MockToolCall(tool="lookup_order", arguments={"order_id": "A-1"}),
            MockToolCall(tool="check_stock", arguments={"sku": "SKU-9"}),
        ]
        return MockBackend({"answer": MockConfig(tool_calls=[calls])})

    @pytest.fixture
    def backend_calls_tools(self) -> bool:
        return True

    @pytest.fixture
    def request_for_backend(self) -> Any:
        return make_request(skill="unscripted")  # a skill whose mock makes no tool calls


class TestThresholdPolicy(PolicyConformance):
    @pytest.fixture
    def policy(self) -> ThresholdPolicy:
        return ThresholdPolicy()


class TestLogSink(SinkConformance):
    @pytest.fixture
    def sink(self) -> LogAuditSink:
        return LogAuditSink()


class TestRecordingSink(SinkConformance):
    @pytest.fixture
    def sink(self) -> RecordingSink:
        return RecordingSink()

    @pytest.fixture
    def stored(self, sink: RecordingSink) -> Any:
        return lambda: sink.events


class TestRedisSink(SinkConformance):
    @pytest.fixture
    def sink(self, fake_redis: aioredis.Redis, keyspace: Keyspace) -> RedisAuditSink:
        return RedisAuditSink(fake_redis, keyspace)

    @pytest.fixture
    def stored(self, fake_redis: aioredis.Redis, keyspace: Keyspace) -> Any:
        async def read() -> list[Any]:
            records = []
            for tenant in ("acme", "globex"):
                check = await read_chain(fake_redis, keyspace, tenant)
                assert check.ok
                records += [r.event for r in check.records]
            order = {"result": 0, "decision": 1, "committed": 2}
            return sorted(records, key=lambda e: order[e.type.value])

        return read


def test_pytest_plugin_fixtures_are_available(chimera_task: Any, chimera_policy_input: Any) -> None:
    assert chimera_task.tenant == "acme"
    assert chimera_policy_input.result.task_id == chimera_policy_input.task.id


def test_builders_make_valid_objects() -> None:
    task = make_task(tenant="globex")
    assert task.tenant == "globex"
