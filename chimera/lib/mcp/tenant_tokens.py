"""Bearer tokens of ``chimera mcp serve`` over HTTP: one per tenant, from the environment.

Tenant ``acme`` has the token in ``CHIMERA_MCP_TOKEN_ACME``: the tenant name upper-cased,
every character other than a letter or digit written as ``_``. A tenant without a token
cannot connect over HTTP. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping

from mcp.server.auth.provider import AccessToken, TokenVerifier

TOKEN_ENV_PREFIX = "CHIMERA_MCP_TOKEN_"
#: Shortest token accepted: a guessable token would let anyone in as that tenant.
MIN_TOKEN_CHARS = 16
#: The scope every tenant token carries.
TENANT_SCOPE = "chimera:tenant"


class TokenError(Exception):
    """The token configuration cannot be used safely; the message says which variable."""


def token_variable(tenant: str) -> str:
    """The environment variable holding ``tenant``'s token."""
    return TOKEN_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", tenant.upper())


def tokens_from_env(tenants: Iterable[str], environ: Mapping[str, str]) -> dict[str, str]:
    """Map each tenant with a token to it (only tenants whose variable is set).

    Raises:
        TokenError: two tenants share a variable name or a token, or a token is too short.
    """
    tokens: dict[str, str] = {}
    variables: dict[str, str] = {}
    for tenant in tenants:
        variable = token_variable(tenant)
        if variable in variables:
            raise TokenError(
                f"tenants {variables[variable]!r} and {tenant!r} would share {variable}; "
                "rename one of them"
            )
        variables[variable] = tenant
        token = environ.get(variable, "")
        if not token:
            continue
        if len(token) < MIN_TOKEN_CHARS:
            raise TokenError(f"{variable} is shorter than {MIN_TOKEN_CHARS} characters")
        for other, other_token in tokens.items():
            if hmac.compare_digest(token, other_token):
                raise TokenError(f"tenants {other!r} and {tenant!r} have the same token")
        tokens[tenant] = token
    return tokens


class TenantTokenVerifier(TokenVerifier):
    """Accepts a tenant's token and names the tenant as the client (``client_id``)."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = [(tenant, token.encode()) for tenant, token in tokens.items()]

    async def verify_token(self, token: str) -> AccessToken | None:
        """The tenant's access token, or ``None`` for a token no tenant has."""
        offered = token.encode()
        tenant = None
        # Compare with every token, not stopping at a match, so timing says nothing.
        for name, expected in self._tokens:
            if hmac.compare_digest(offered, expected):
                tenant = name
        if tenant is None:
            return None
        return AccessToken(token=token, client_id=tenant, scopes=[TENANT_SCOPE])
