"""Resolving a skill's ``tools`` against what its servers list."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from chimera.models.config import SkillConfig
from chimera.models.llm import ToolSpec
from chimera.models.mcp_config import McpServerConfig
from chimera.models.types import JsonValue
from chimera.ports.tools import ToolBinding, ToolResult
from chimera.services.tool_catalog import (
    MissingTool,
    ToolCatalogError,
    missing_tools,
    referenced_servers,
    select_tools,
    skill_tools,
)

SERVERS = {
    "desk": McpServerConfig(
        command="desk",
        tools=["lookup_order", "search_kb", "issue_refund"],
        call_timeout_s=20,
        tool_settings={"issue_refund": {"sensitive": True, "call_timeout_s": 90}},
    ),
    "web": McpServerConfig(url="https://web.example/mcp", sensitive=True),
}


def specs(*names: str) -> list[ToolSpec]:
    return [ToolSpec(name=n, description=f"{n} tool") for n in names]


OFFERED = {
    "desk": specs("lookup_order", "search_kb", "issue_refund", "drop_tables"),
    "web": specs("fetch", "search"),
}


def test_named_tools_keep_the_skill_order_and_take_their_settings() -> None:
    bindings = select_tools(["desk.issue_refund", "desk.lookup_order"], SERVERS, OFFERED)
    assert [(b.server, b.tool, b.sensitive, b.timeout_s) for b in bindings] == [
        ("desk", "issue_refund", True, 90.0),
        ("desk", "lookup_order", False, 20.0),
    ]
    assert bindings[0].spec.description == "issue_refund tool"


def test_a_wildcard_brings_every_allowed_tool_and_nothing_else() -> None:
    bindings = select_tools(["desk.*"], SERVERS, OFFERED)
    assert [b.tool for b in bindings] == ["lookup_order", "search_kb", "issue_refund"]


def test_a_wildcard_on_a_server_without_allow_list_takes_all_it_offers() -> None:
    bindings = select_tools(["web.*"], SERVERS, OFFERED)
    assert [(b.tool, b.sensitive, b.timeout_s) for b in bindings] == [
        ("fetch", True, 60.0),
        ("search", True, 60.0),
    ]


def test_a_tool_named_twice_is_bound_once() -> None:
    bindings = select_tools(["desk.search_kb", "desk.*"], SERVERS, OFFERED)
    assert [b.tool for b in bindings] == ["search_kb", "lookup_order", "issue_refund"]


def test_one_name_from_two_servers_is_refused() -> None:
    offered = {**OFFERED, "web": specs("search_kb")}
    with pytest.raises(ToolCatalogError, match="'desk' and 'web' both offer a tool named"):
        select_tools(["desk.*", "web.*"], SERVERS, offered)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("desk.drop_tables", "not in server 'desk'"),
        ("web.crawl", "does not offer a tool 'crawl' \\(it offers: fetch, search\\)"),
        ("mail.send", "no MCP server called 'mail'"),
    ],
)
def test_missing_tools_are_refused(ref: str, message: str) -> None:
    with pytest.raises(MissingTool, match=message):
        select_tools([ref], SERVERS, OFFERED)


def test_missing_tools_lists_each_reference_the_servers_do_not_offer() -> None:
    refs = ["desk.lookup_order", "web.crawl", "desk.*", "gone.tool", "other.x"]
    offered = {"desk": OFFERED["desk"], "web": OFFERED["web"]}
    assert missing_tools(refs, SERVERS, offered) == [
        (1, "tool 'web.crawl': server 'web' does not offer 'crawl' (it offers: fetch, search)")
    ]
    assert missing_tools(["web.crawl"], SERVERS, {}) == []


def test_referenced_servers_in_first_mention_order() -> None:
    assert referenced_servers(["web.a", "desk.*", "web.b"]) == ["web", "desk"]


class ListingToolbox:
    """Answers ``tools()`` from a fixed listing and counts the calls."""

    def __init__(self, offered: dict[str, list[ToolSpec]]) -> None:
        self.offered = offered
        self.listed: list[tuple[str, str | None]] = []

    async def tools(self, server: str, tenant: str | None = None) -> Sequence[ToolSpec]:
        self.listed.append((server, tenant))
        return self.offered[server]

    async def call(
        self, binding: ToolBinding, arguments: dict[str, JsonValue], tenant: str
    ) -> ToolResult:
        raise AssertionError("not called here")

    async def aclose(self) -> None:
        return None


def skill(tools: list[str]) -> SkillConfig:
    return SkillConfig(
        name="helper",
        prompt="p",
        input_schema={"type": "object"},
        output_schema={"type": "object"},
        tools=tools,
    )


async def test_skill_tools_lists_only_the_servers_the_skill_names() -> None:
    toolbox = ListingToolbox(OFFERED)
    bindings = await skill_tools(skill(["web.fetch", "desk.search_kb"]), SERVERS, toolbox, "acme")
    assert list(bindings) == ["fetch", "search_kb"]
    assert bindings["fetch"].server == "web"
    assert toolbox.listed == [("web", "acme"), ("desk", "acme")]


async def test_a_skill_without_tools_lists_nothing() -> None:
    toolbox = ListingToolbox(OFFERED)
    assert await skill_tools(skill([]), SERVERS, toolbox, "acme") == {}
    assert toolbox.listed == []
