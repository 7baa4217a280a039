"""Tenant bearer tokens for ``chimera mcp serve --transport http``."""

from __future__ import annotations

import pytest

from chimera.lib.mcp.tenant_tokens import (
    TENANT_SCOPE,
    TenantTokenVerifier,
    TokenError,
    token_variable,
    tokens_from_env,
)

ACME = "acme-secret-token-1"
GLOBEX = "globex-secret-token"


@pytest.mark.parametrize(
    ("tenant", "variable"),
    [("acme", "CHIMERA_MCP_TOKEN_ACME"), ("big-co.eu", "CHIMERA_MCP_TOKEN_BIG_CO_EU")],
)
def test_token_variables(tenant: str, variable: str) -> None:
    assert token_variable(tenant) == variable


def test_only_tenants_with_a_token_are_served() -> None:
    env = {"CHIMERA_MCP_TOKEN_ACME": ACME, "CHIMERA_MCP_TOKEN_GLOBEX": ""}
    assert tokens_from_env(["acme", "globex", "initech"], env) == {"acme": ACME}


@pytest.mark.parametrize(
    ("tenants", "env", "message"),
    [
        (["acme"], {"CHIMERA_MCP_TOKEN_ACME": "short"}, "shorter than 16 characters"),
        (["big-co", "big_co"], {}, "'big-co' and 'big_co' would share CHIMERA_MCP_TOKEN_BIG_CO"),
        (
            ["acme", "globex"],
            {"CHIMERA_MCP_TOKEN_ACME": ACME, "CHIMERA_MCP_TOKEN_GLOBEX": ACME},
            "'acme' and 'globex' have the same token",
        ),
    ],
)
def test_unsafe_token_setups_are_refused(
    tenants: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(TokenError, match=message):
        tokens_from_env(tenants, env)


async def test_a_token_names_its_tenant() -> None:
    verifier = TenantTokenVerifier({"acme": ACME, "globex": GLOBEX})
    token = await verifier.verify_token(GLOBEX)
    assert token is not None
    assert (token.client_id, token.scopes) == ("globex", [TENANT_SCOPE])
    assert await verifier.verify_token("acme-secret-token-2") is None
    assert await verifier.verify_token("") is None
