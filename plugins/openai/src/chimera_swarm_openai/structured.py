"""Structured output that works with the server at hand: negotiated once, then remembered.

OpenAI, vLLM and recent llama.cpp servers take ``response_format: json_schema`` and hold
the model to the skill's output schema. Others refuse it: some with a 400, some with a 500
whose body is a request-validation error. Several of those take ``json_object`` (some of
them with a ``schema`` beside it), and any server can be asked for JSON in the prompt. So,
unless a skill pins a format, the backend tries in this order:

1. ``json_schema``: the server enforces the schema;
2. ``json_object`` with the schema beside it (llama.cpp and llama-cpp-python enforce it),
   and the schema in the system message;
3. plain ``json_object``, with the schema in the system message;
4. no ``response_format``, with the schema in the system message.

A refusal that is about the format moves to the next step at once (no waiting, and no
in-process retry spent). The first step the server accepts is remembered per base URL and
per "with tools or not" (a server may take ``json_schema`` alone but not beside tools) for
the life of the backend, so only the first call to a server pays for the negotiation. A
refusal is never remembered, only an acceptance: a server that refused for another reason
is not marked as lacking a format it has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from chimera_swarm_openai.parsing import schema_name


class Mode(StrEnum):
    """How the answer's JSON is asked for."""

    JSON_SCHEMA = "json_schema"
    JSON_OBJECT_WITH_SCHEMA = "json_object+schema"
    JSON_OBJECT = "json_object"
    PROMPT = "prompt"


#: The negotiation order of ``response_format: auto``.
NEGOTIATION = (Mode.JSON_SCHEMA, Mode.JSON_OBJECT_WITH_SCHEMA, Mode.JSON_OBJECT, Mode.PROMPT)
#: What a pinned ``response_format`` option sends.
PINNED = {"json_schema": Mode.JSON_SCHEMA, "json_object": Mode.JSON_OBJECT, "none": Mode.PROMPT}

#: A refusal that names the output format (and so may go away with a simpler one).
_ABOUT_FORMAT = re.compile(
    r"response[_ ]format|json[_ ]?schema|json[_ ]object|\bschema\b|grammar", re.IGNORECASE
)


class FormatMemory:
    """What each server accepted, by ``(base URL, with tools)``, for this backend's life."""

    def __init__(self) -> None:
        self._accepted: dict[tuple[str, bool], Mode] = {}

    def modes(self, base_url: str, with_tools: bool, pinned: str) -> tuple[Mode, ...]:
        """The formats to try, in order, for one call."""
        if pinned != "auto":
            return (PINNED[pinned],)
        known = self._accepted.get((base_url, with_tools))
        start = NEGOTIATION.index(known) if known is not None else 0
        return NEGOTIATION[start:]

    def accepted(self, base_url: str, with_tools: bool, mode: Mode) -> None:
        """Remember that the server at ``base_url`` answered a request sent with ``mode``."""
        self._accepted[(base_url, with_tools)] = mode

    def known(self, base_url: str, with_tools: bool) -> Mode | None:
        """The format remembered for this server, if any."""
        return self._accepted.get((base_url, with_tools))


def about_format(refusal: str) -> bool:
    """Whether a refusal's text is about the output format (so a simpler one may pass)."""
    return _ABOUT_FORMAT.search(refusal) is not None


def response_format(mode: Mode, skill: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``response_format`` request field for ``mode`` (``None``: send none)."""
    if mode is Mode.JSON_SCHEMA:
        return {
            "type": "json_schema",
            "json_schema": {
                "name": schema_name(skill),
                "schema": dict(schema),
                # strict mode needs every property required and additionalProperties false;
                # chimera schemas need not be written that way, and the Worker validates.
                "strict": False,
            },
        }
    if mode is Mode.JSON_OBJECT_WITH_SCHEMA:
        return {"type": "json_object", "schema": dict(schema)}
    if mode is Mode.JSON_OBJECT:
        return {"type": "json_object"}
    return None


def schema_instruction(mode: Mode, schema: Mapping[str, Any], with_tools: bool) -> str | None:
    """What the system message says about the answer's form, where the server cannot.

    With ``json_schema`` the server holds the model to the schema and nothing is added.
    Otherwise the schema is spelt out (``json_object`` on OpenAI also insists that the
    word JSON appears in the messages).
    """
    if mode is Mode.JSON_SCHEMA:
        return None
    when = "When you give your final answer, reply" if with_tools else "Reply"
    return (
        f"{when} with one JSON object and nothing else, valid against this JSON Schema: "
        + json.dumps(dict(schema), separators=(",", ":"), ensure_ascii=False)
    )
