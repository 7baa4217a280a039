"""A skill's ``options:`` for the openai backend: what they may be, checked by name and type.

The same table answers two callers: ``chimera validate`` (through the plugin's
``check_skill`` hook, with ``file:line:col`` and a did-you-mean for a misspelt name) and
each call (a skill that slipped past validation fails as ``invalid_input`` rather than
having a typo ignored).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chimera import BackendError, ErrorKind, JsonValue

#: ``auto`` negotiates with the server; the others send exactly that format.
ResponseFormatOption = Literal["auto", "json_schema", "json_object", "none"]
ToolChoice = Literal["auto", "required", "none"]


@dataclass(frozen=True)
class OptionProblem:
    """One bad option: its name, what is wrong, and whether the name itself is the fault."""

    name: str
    message: str
    unknown: bool = False


@dataclass(frozen=True)
class RequestOptions:
    """A skill's ``options:`` for this backend, checked.

    Attributes:
        temperature: sampling temperature.
        max_tokens: cap on the answer's length in tokens.
        top_p: nucleus sampling.
        seed: best-effort determinism, where the server supports it.
        base_url: send this skill's calls to another server.
        api_key_env: environment variable holding the key for ``base_url``.
        confidence_field: the output field the model may report its confidence in.
        logprobs: ask for token logprobs and derive the confidence from them.
        system: a system message sent before the conversation.
        response_format: ``auto`` (default) negotiates structured output with the server
            (``json_schema``, then ``json_object``, then JSON asked for in the prompt) and
            remembers what it accepted; ``json_schema``, ``json_object`` or ``none`` send
            that and nothing else.
        tool_choice: ``auto`` (default): the model decides; ``required``: the first step
            must call a tool (later steps are ``auto``, so the model can still answer);
            ``none``: the model may not call tools.
        parallel_tool_calls: sent as is when set (some local servers default to false).
        extra_body: further top-level request fields for a particular server.
    """

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    confidence_field: str = "confidence"
    logprobs: bool = False
    system: str | None = None
    response_format: ResponseFormatOption = "auto"
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool | None = None
    extra_body: Mapping[str, JsonValue] | None = None

    @classmethod
    def parse(cls, options: Mapping[str, JsonValue]) -> RequestOptions:
        """Check ``options`` by name and type.

        Raises:
            BackendError: (``invalid_input``) naming every unknown or ill-typed option; a
                typo must fail loudly rather than be silently ignored.
        """
        problems = option_problems(options)
        if problems:
            raise BackendError(
                "openai backend: " + "; ".join(p.message for p in problems),
                ErrorKind.INVALID_INPUT,
            )
        values: dict[str, Any] = dict(options)
        if values.get("base_url") is not None:
            values["base_url"] = str(values["base_url"]).rstrip("/")
        return cls(**values)


def option_problems(options: Mapping[str, JsonValue]) -> list[OptionProblem]:
    """Every unknown or ill-typed option, in the order written."""
    problems: list[OptionProblem] = []
    for name, value in options.items():
        check = _CHECKS.get(name)
        if check is None:
            problems.append(OptionProblem(name, _unknown(name), unknown=True))
            continue
        kind, valid = check
        if not valid(value):
            problems.append(OptionProblem(name, f"option {name!r} must be {kind}, got {value!r}"))
    return problems


def _unknown(name: str) -> str:
    known = sorted(_CHECKS)
    message = f"unknown option {name!r} for the openai backend"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return f"{message} (known: {', '.join(known)})"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _one_of(*choices: str) -> tuple[str, Callable[[Any], bool]]:
    return f"one of {', '.join(choices)}", lambda v: v in choices


_CHECKS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "temperature": ("a number", lambda v: v is None or _number(v)),
    "max_tokens": ("a positive whole number", lambda v: v is None or (_integer(v) and v > 0)),
    "top_p": ("a number", lambda v: v is None or _number(v)),
    "seed": ("a whole number", lambda v: v is None or _integer(v)),
    "base_url": (
        "an http:// or https:// URL",
        lambda v: v is None or (isinstance(v, str) and v.startswith(("http://", "https://"))),
    ),
    "api_key_env": ("an environment variable name", lambda v: v is None or _text(v)),
    "confidence_field": ("a field name", _text),
    "logprobs": ("true or false", lambda v: isinstance(v, bool)),
    "system": ("text", lambda v: v is None or isinstance(v, str)),
    "response_format": _one_of("auto", "json_schema", "json_object", "none"),
    "tool_choice": _one_of("auto", "required", "none"),
    "parallel_tool_calls": ("true or false", lambda v: v is None or isinstance(v, bool)),
    "extra_body": ("a mapping", lambda v: v is None or isinstance(v, dict)),
}
