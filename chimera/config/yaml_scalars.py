"""What a YAML scalar means: its tag, resolved or written, and the JSON value it gives.

Only the JSON core tags are accepted (see :mod:`chimera.config.yaml_builder` for why). A
scalar that does not fit its tag, an integer Python will not parse (over 4,300 digits) and
a non-finite float are reported, never raised.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
import yaml.constructor
import yaml.resolver

CORE = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (CORE + t for t in ("str", "int", "float", "bool", "null"))
SEQ_TAGS = frozenset({None, "!", CORE + "seq"})
MAP_TAGS = frozenset({None, "!", CORE + "map"})
ACCEPTED = "!!str, !!int, !!float, !!bool, !!null, !!seq, !!map"
_TYPED = (INT, FLOAT, BOOL, NULL)
#: The smallest integer Python will not print (4301 digits): nothing could show it.
_INT_LIMIT = 10**4300
#: Longer than this (binary is the longest way to write a number), an int is surely over it.
_INT_TEXT_LIMIT = 15_000


def short_tag(tag: str) -> str:
    """``tag:yaml.org,2002:int`` as a user writes it: ``!!int``."""
    return "!!" + tag[len(CORE) :] if tag.startswith(CORE) else tag


def unsupported(tag: str, kind: str) -> str:
    """The message for a tag outside the accepted ones, on ``kind`` ("a list"…)."""
    return f"unsupported tag {short_tag(tag)!r} on {kind} (allowed: {ACCEPTED})"


class Scalars:
    """Reads scalars as YAML 1.1's safe schema would, minus dates and non-JSON numbers."""

    def __init__(self) -> None:
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()

    def read(self, event: yaml.ScalarEvent) -> tuple[Any, bool, str | None]:
        """Return ``(value, is_text, problem)``; ``problem`` is ``None`` when all is well.

        ``is_text`` says the value is a string (so ``${VAR}`` may be interpolated in it).
        """
        tag = event.tag
        if tag is None and event.implicit[0]:
            tag = self._resolve(event.value)
            if tag not in _TYPED:
                tag = STR  # dates, '<<' and '=' outside keys: plain text
        elif tag is None or tag == "!":
            tag = STR
        if tag == STR:
            return event.value, True, None
        if tag not in _TYPED:
            return event.value, False, unsupported(tag, "a scalar")
        return self._typed(tag, event.value, explicit=event.tag is not None)

    def _resolve(self, text: str) -> str:
        resolve: Any = self.resolver.resolve  # untyped in PyYAML's stubs
        return str(resolve(yaml.ScalarNode, text, (True, False)))

    def _typed(self, tag: str, text: str, *, explicit: bool) -> tuple[Any, bool, str | None]:
        if explicit:
            implied = self._resolve(text)
            if implied != tag and not (tag == FLOAT and implied == INT):
                return None, False, f"{text[:40]!r} is not a valid {short_tag(tag)}"
        node = yaml.ScalarNode(tag, text)
        if tag == NULL:
            return None, False, None
        if tag == BOOL:
            return self.constructor.construct_yaml_bool(node), False, None
        if tag == INT:
            if len(text) - text.count("_") > _INT_TEXT_LIMIT:  # skip a slow parse (base 60)
                return 0, False, f"integer {text[:40]!r} has more than 4300 digits"
            try:
                integer: int = self.constructor.construct_yaml_int(node)
            except ValueError:  # Python refuses to parse ints of more than 4300 digits
                digits = sum(c.isdigit() for c in text)
                reason = "has more than 4300 digits" if digits > 4300 else "is not a valid !!int"
                return 0, False, f"integer {text[:40]!r} {reason}"
            if abs(integer) >= _INT_LIMIT:  # written in hex or base 60, so not refused above
                return 0, False, f"integer {text[:40]!r} has more than 4300 digits"
            return integer, False, None
        try:
            number: float = self.constructor.construct_yaml_float(node)
        except ValueError:
            number = math.nan  # a form the resolver accepts but float() does not ("._")
        if not math.isfinite(number):
            return 0.0, False, f"{text[:40]!r} is not a JSON number (no .inf or .nan)"
        return number, False, None
