"""``mcp_servers`` in swarm.yaml and ``tools`` in skills: shapes, and what validate reports."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from chimera.config.errors import ConfigError
from chimera.config.loader import KnownNames, load_swarm
from chimera.models.config import SkillConfig
from chimera.models.mcp_config import McpServerConfig, split_tool_ref

SKILL = """\
name: {name}
backend: {backend}
prompt: "Help with {{{{ text }}}}"
input_schema: {{type: object, required: [text], properties: {{text: {{type: string}}}}}}
output_schema: {{type: object, required: [reply], properties: {{reply: {{type: string}}}}}}
tools:
{tools}
"""

SWARM = """\
version: 1
skills: [skills/*.yaml]
mcp_servers:
  support:
    command: python
    args: [-m, chimera.demo.support_tools]
    tools: [lookup_order, search_kb]
    tool_settings:
      lookup_order: {{call_timeout_s: 5}}
  remote:
    url: https://tools.example.com/mcp
    headers: {{Authorization: Bearer shared}}
    sensitive: true
tenants:
  acme:
    skills: [helper]
{tenant_extra}
"""


def project(
    tmp_path: Path,
    tools: list[str],
    tenant_extra: str = "",
    backend: str = "mock",
    swarm: str = SWARM,
) -> Path:
    (tmp_path / "skills").mkdir(exist_ok=True)
    listed = "\n".join(f"  - {t}" for t in tools) or "  []"
    skill = SKILL.format(name="helper", backend=backend, tools=listed)
    (tmp_path / "skills" / "helper.yaml").write_text(skill)
    path = tmp_path / "swarm.yaml"
    path.write_text(swarm.format(tenant_extra=textwrap.indent(tenant_extra, "    ")))
    return path


def problems(path: Path, known: KnownNames | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_swarm(path, known)
    return [str(p).removeprefix(str(path.parent) + "/") for p in info.value.problems]


def test_a_swarm_with_servers_and_a_skill_with_tools_loads(tmp_path: Path) -> None:
    path = project(tmp_path, ["support.lookup_order", "remote.*"])
    swarm = load_swarm(path)
    support = swarm.config.mcp_servers["support"]
    remote = swarm.config.mcp_servers["remote"]
    assert (support.transport, remote.transport) == ("stdio", "http")
    assert swarm.skill("helper").config.tools == ["support.lookup_order", "remote.*"]
    assert swarm.skill("helper").config.max_steps == 8


def test_per_tool_settings_override_the_server() -> None:
    server = McpServerConfig(
        command="srv",
        call_timeout_s=30,
        sensitive=True,
        tool_settings={"slow": {"call_timeout_s": 300}, "read": {"sensitive": False}},
    )
    assert server.call_timeout_for("slow") == 300
    assert server.call_timeout_for("read") == 30
    assert server.sensitive_for("read") is False
    assert server.sensitive_for("slow") is True


def test_timeouts_default_to_generous_values() -> None:
    server = McpServerConfig(url="http://localhost:1/mcp")
    assert (server.connect_timeout_s, server.call_timeout_s) == (30.0, 60.0)
    assert server.allows("anything")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "give either command"),
        ({"command": "a", "url": "http://x/mcp"}, "give either command"),
        ({"url": "http://x/mcp", "env": {"A": "1"}}, "args, env and cwd are for stdio"),
        ({"command": "a", "headers": {"A": "1"}}, "headers are for streamable-HTTP"),
        ({"url": "ftp://x/mcp"}, "should match pattern"),
        ({"command": "a", "tools": []}, "at least 1 item"),
        ({"command": "a", "call_timeout_s": 0}, "greater than 0"),
    ],
)
def test_server_shape_errors(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        McpServerConfig.model_validate(fields)


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("support.lookup_order", ("support", "lookup_order")),
        ("support.*", ("support", None)),
        ("fs.read.file", ("fs", "read.file")),
    ],
)
def test_tool_references(ref: str, parsed: tuple[str, str | None]) -> None:
    assert split_tool_ref(ref) == parsed


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("support", "names no tool; write 'support.*'"),
        ("support.", "is not 'server.tool' or 'server.*'"),
        ("sup port.x", "is not 'server.tool' or 'server.*'"),
    ],
)
def test_bad_tool_references_are_explained(ref: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_tool_ref(ref)


def test_a_bare_server_name_in_a_skill_is_reported_at_its_line(tmp_path: Path) -> None:
    path = project(tmp_path, ["support.search_kb", "support"])
    assert problems(path)[0] == (
        "skills/helper.yaml:8:5: tools.1: tool reference 'support' names no tool; "
        "write 'support.*' for all of them"
    )


def test_max_steps_is_bounded() -> None:
    base = {
        "name": "s",
        "prompt": "p",
        "input_schema": {"type": "object"},
        "output_schema": {"type": "object"},
    }
    assert SkillConfig.model_validate({**base, "max_steps": 3}).max_steps == 3
    with pytest.raises(ValidationError):
        SkillConfig.model_validate({**base, "max_steps": 0})
    with pytest.raises(ValidationError):
        SkillConfig.model_validate({**base, "max_steps": 1000})


def test_unknown_server_in_a_skill(tmp_path: Path) -> None:
    path = project(tmp_path, ["support.search_kb", "suport.lookup_order"])
    assert problems(path) == [
        "skills/helper.yaml:8:5: unknown MCP server 'suport'; did you mean 'support'? "
        "(expected one of: remote, support)"
    ]


def test_a_skill_naming_servers_when_there_are_none(tmp_path: Path) -> None:
    swarm = "version: 1\nskills: [skills/*.yaml]\ntenants:\n  acme: {{skills: [helper]}}\n"
    path = project(tmp_path, ["support.*"], swarm=swarm)
    [problem] = problems(path)
    assert "unknown MCP server 'support' (swarm.yaml lists no mcp_servers)" in problem


def test_tool_outside_the_allow_list(tmp_path: Path) -> None:
    path = project(tmp_path, ["support.issue_refund"])
    assert problems(path) == [
        "skills/helper.yaml:7:5: tool 'issue_refund' is not in the tools of server "
        "'support' (lookup_order, search_kb)"
    ]


def test_two_tools_with_one_name(tmp_path: Path) -> None:
    path = project(tmp_path, ["support.search_kb", "remote.search_kb", "support.search_kb"])
    assert problems(path) == [
        "skills/helper.yaml:8:5: 'remote.search_kb' and 'support.search_kb' both give the "
        "model a tool named 'search_kb'",
        "skills/helper.yaml:9:5: 'support.search_kb' repeats 'support.search_kb'",
    ]


def test_tenant_override_of_an_unknown_server(tmp_path: Path) -> None:
    extra = "mcp_servers:\n  suport: {env: {TOKEN: x}}\n"
    path = project(tmp_path, ["support.*"], tenant_extra=extra)
    [problem] = problems(path)
    assert problem.startswith("swarm.yaml:18:7: unknown MCP server 'suport'; did you mean")


def test_tenant_override_of_the_wrong_kind(tmp_path: Path) -> None:
    extra = "mcp_servers:\n  support: {headers: {A: b}}\n  remote: {env: {A: b}}\n"
    path = project(tmp_path, ["support.*"], tenant_extra=extra)
    assert problems(path) == [
        "swarm.yaml:18:26: server 'support' is a stdio server; headers apply to url servers",
        "swarm.yaml:19:21: server 'remote' is a url server; env applies to stdio servers",
    ]


def test_tool_settings_outside_the_allow_list_and_repeated_tools(tmp_path: Path) -> None:
    swarm = SWARM.replace(
        "tools: [lookup_order, search_kb]", "tools: [lookup_order, search_kb, search_kb]"
    ).replace("lookup_order: {{call_timeout_s: 5}}", "refund: {{call_timeout_s: 5}}")
    path = project(tmp_path, ["support.*"], swarm=swarm)
    assert problems(path) == [
        "swarm.yaml:7:38: tool 'search_kb' is listed twice",
        "swarm.yaml:9:7: tool 'refund' is not in the tools of server 'support'",
    ]


def test_a_backend_that_cannot_call_tools(tmp_path: Path) -> None:
    path = project(tmp_path, ["support.*"], backend="plain")
    known = KnownNames(backends=["mock", "plain"], tool_backends=["mock"])
    assert problems(path, known) == [
        "skills/helper.yaml:2:10: backend 'plain' cannot call tools (backends that can: mock)"
    ]
    assert load_swarm(project(tmp_path, ["support.*"], backend="mock"), known)


def test_without_tools_any_backend_will_do(tmp_path: Path) -> None:
    path = project(tmp_path, [], backend="plain")
    known = KnownNames(backends=["mock", "plain"], tool_backends=["mock"])
    assert load_swarm(path, known).skill("helper").config.tools == []
