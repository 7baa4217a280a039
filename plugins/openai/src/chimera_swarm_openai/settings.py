"""Process-wide settings of the OpenAI backend, read from the environment."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

#: Where requests go unless ``CHIMERA_OPENAI_BASE_URL`` or a skill's ``base_url`` says otherwise.
DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: The environment variables read by :meth:`OpenAISettings.from_env`, by setting.
ENV_VARS = {
    "base_url": "CHIMERA_OPENAI_BASE_URL",
    "api_key": "CHIMERA_OPENAI_API_KEY",
    "timeout_s": "CHIMERA_OPENAI_TIMEOUT_S",
    "max_retries": "CHIMERA_OPENAI_MAX_RETRIES",
    "default_confidence": "CHIMERA_OPENAI_DEFAULT_CONFIDENCE",
    "backoff_base_s": "CHIMERA_OPENAI_BACKOFF_BASE_S",
    "backoff_max_s": "CHIMERA_OPENAI_BACKOFF_MAX_S",
    "max_connections": "CHIMERA_OPENAI_MAX_CONNECTIONS",
}
#: Read when ``CHIMERA_OPENAI_API_KEY`` is unset, as the OpenAI SDK does.
FALLBACK_API_KEY_VAR = "OPENAI_API_KEY"

_T = TypeVar("_T")


@dataclass(frozen=True)
class OpenAISettings:
    """How the backend reaches the server and how patient it is.

    Attributes:
        base_url: the API root; requests go to ``{base_url}/chat/completions``.
        api_key: sent as ``Authorization: Bearer ...`` when set. Never shown in ``repr``.
        timeout_s: per-HTTP-request timeout (connect, read, write and pool wait).
        max_retries: extra attempts after a 429 or 5xx answer, inside one ``complete`` call.
        default_confidence: confidence when the answer carries none; ``None`` leaves it to
            the skill's ``default_confidence``.
        backoff_base_s: wait before the first in-process retry when the server gives no
            ``Retry-After``; doubled on each further retry.
        backoff_max_s: cap on any in-process wait. A ``Retry-After`` longer than this is not
            waited for here: the call fails at once with ``retry_after_s`` set, and the
            chimera Worker schedules the retry (without holding a slot meanwhile).
        max_connections: size of the HTTP connection pool (a Worker holds many calls).
    """

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    max_retries: int = 2
    default_confidence: float | None = None
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    max_connections: int = 200

    def __post_init__(self) -> None:
        problems = []
        if not self.base_url.startswith(("http://", "https://")):
            problems.append(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not (self.timeout_s > 0 and math.isfinite(self.timeout_s)):
            problems.append(f"timeout_s must be a positive number, got {self.timeout_s}")
        if self.max_retries < 0:
            problems.append(f"max_retries must be 0 or more, got {self.max_retries}")
        if self.default_confidence is not None and not 0.0 <= self.default_confidence <= 1.0:
            problems.append(f"default_confidence must be in [0, 1], got {self.default_confidence}")
        if not self.backoff_base_s >= 0 or not self.backoff_max_s >= 0:
            problems.append("backoff_base_s and backoff_max_s must be 0 or more")
        if self.max_connections < 1:
            problems.append(f"max_connections must be 1 or more, got {self.max_connections}")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpenAISettings:
        """Read the settings from ``CHIMERA_OPENAI_*`` variables; unset or empty means default.

        Args:
            environ: the environment to read; ``os.environ`` by default.

        Raises:
            ValueError: a variable holds a value of the wrong kind; the message names it
                (and never repeats the API key).
        """
        env = os.environ if environ is None else environ

        def get(name: str, convert: Callable[[str], _T], default: _T) -> _T:
            var = ENV_VARS[name]
            raw = env.get(var, "").strip()
            if not raw:
                return default
            try:
                return convert(raw)
            except ValueError:
                raise ValueError(f"{var} must be {_KIND[convert]}, got {raw!r}") from None

        api_key = (
            env.get(ENV_VARS["api_key"], "").strip() or env.get(FALLBACK_API_KEY_VAR, "").strip()
        )
        defaults = cls()
        try:
            return cls(
                base_url=get("base_url", str, defaults.base_url).rstrip("/"),
                api_key=api_key or None,
                timeout_s=get("timeout_s", float, defaults.timeout_s),
                max_retries=get("max_retries", int, defaults.max_retries),
                default_confidence=get("default_confidence", _optional_float, None),
                backoff_base_s=get("backoff_base_s", float, defaults.backoff_base_s),
                backoff_max_s=get("backoff_max_s", float, defaults.backoff_max_s),
                max_connections=get("max_connections", int, defaults.max_connections),
            )
        except ValueError as exc:
            raise ValueError(f"chimera-swarm-openai settings: {exc}") from None


def _optional_float(raw: str) -> float | None:
    return None if raw.lower() in ("none", "null") else float(raw)


_KIND: dict[object, str] = {
    str: "text",
    float: "a number",
    int: "a whole number",
    _optional_float: "a number in [0, 1] (or 'none')",
}
