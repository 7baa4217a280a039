r"""Strings that match a regular expression, for the mock backend's ``pattern`` support.

A small parser for the part of Python's regex syntax that output schemas use: literals
and escapes, ``.``, classes (``[a-z0-9_]``, ``[^…]``, ``\d \w \s`` and their negations),
groups (plain, ``(?:…)``, named), alternation, the quantifiers ``* + ? {m} {m,} {m,n}``
(lazy and possessive forms too) and the anchors ``^ $ \A \Z``. Anything else
(look-arounds, back-references, ``\b``, inline flags) raises :class:`RegexUnsupported`,
which ``chimera validate`` reports for mock skills.

Why not a library: ``rstr`` and ``exrex`` walk the private parser of the ``re`` module
(``sre_parse``, renamed ``re._parser`` in 3.11 and deprecated), untyped, so a Python
upgrade may break them; ``hypothesis.from_regex`` is a test dependency, random rather
than seeded, and heavy to import in a worker. The subset here is small, deterministic,
and every string it builds is checked with ``re.search`` before it is used.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass

#: Longest string the sampler builds; longer patterns are refused rather than built.
MAX_SAMPLE_LENGTH = 10_000

#: Extra repetitions drawn for an open-ended quantifier (``*``, ``+``, ``{m,}``).
_OPEN_EXTRA = 3

_DIGITS = string.digits
_WORD = string.ascii_letters + string.digits + "_"
_SPACE = " \t"
_PRINTABLE = string.ascii_letters + string.digits + " -_.,:;!?@#%&+=/"
_CLASS_ESCAPES = {"d": _DIGITS, "w": _WORD, "s": _SPACE}
_CHAR_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}


class RegexUnsupported(ValueError):
    """The pattern uses syntax the sampler does not handle."""


@dataclass(frozen=True)
class _Chars:
    choices: str  # non-empty


@dataclass(frozen=True)
class _Seq:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Alt:
    options: tuple[_Node, ...]


@dataclass(frozen=True)
class _Repeat:
    item: _Node
    low: int
    high: int | None


@dataclass(frozen=True)
class _Anchor:
    pass


_Node = _Chars | _Seq | _Alt | _Repeat | _Anchor

#: ``choose(n)`` returns a number in ``range(n)``; the caller decides how (seeded).
Choose = Callable[[int], int]


def sample_regex(pattern: str, choose: Choose, *, longest: bool = False) -> str:
    """Build a string that contains a match of ``pattern``.

    Args:
        pattern: a regular expression in the supported subset.
        choose: picks among alternatives and repetition counts.
        longest: take every quantifier's largest count (bounded), to reach a minimum length.

    Raises:
        RegexUnsupported: the pattern uses unsupported syntax, or cannot be sampled.
    """
    tree = _Parser(pattern).parse()
    out: list[str] = []
    _emit(tree, choose, longest, out)
    text = "".join(out)
    if re.search(pattern, text) is None:
        raise RegexUnsupported("no string built from it matches (anchors in the middle?)")
    return text


def _emit(node: _Node, choose: Choose, longest: bool, out: list[str]) -> None:
    stack: list[_Node] = [node]
    size = 0
    while stack:
        item = stack.pop()
        if isinstance(item, _Chars):
            out.append(item.choices[choose(len(item.choices))])
            size += 1
            if size > MAX_SAMPLE_LENGTH:
                raise RegexUnsupported(f"matches are longer than {MAX_SAMPLE_LENGTH} characters")
        elif isinstance(item, _Seq):
            stack.extend(reversed(item.items))
        elif isinstance(item, _Alt):
            stack.append(item.options[choose(len(item.options))])
        elif isinstance(item, _Repeat):
            high = item.low + _OPEN_EXTRA if item.high is None else item.high
            count = high if longest else item.low + choose(high - item.low + 1)
            if count > MAX_SAMPLE_LENGTH:
                raise RegexUnsupported(f"matches are longer than {MAX_SAMPLE_LENGTH} characters")
            stack.extend([item.item] * count)


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0
        self.depth = 0

    def parse(self) -> _Node:
        node = self._alternation()
        if self.pos < len(self.text):
            raise RegexUnsupported(f"unbalanced ')' at position {self.pos}")
        return node

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _take(self) -> str:
        char = self._peek()
        if not char:
            raise RegexUnsupported("the pattern ends too early")
        self.pos += 1
        return char

    def _alternation(self) -> _Node:
        options = [self._sequence()]
        while self._peek() == "|":
            self.pos += 1
            options.append(self._sequence())
        return options[0] if len(options) == 1 else _Alt(tuple(options))

    def _sequence(self) -> _Node:
        items: list[_Node] = []
        while self._peek() not in ("", "|", ")"):
            atom = self._atom()
            items.append(self._quantified(atom))
        return _Seq(tuple(items))

    def _quantified(self, atom: _Node) -> _Node:
        char = self._peek()
        bounds: tuple[int, int | None] | None = None
        if char in ("*", "+", "?"):
            self.pos += 1
            bounds = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{":
            bounds = self._braces()
        if bounds is None:
            return atom
        if isinstance(atom, _Anchor):
            raise RegexUnsupported("a quantifier after an anchor")
        if self._peek() in ("?", "+"):  # lazy or possessive: the same strings match
            self.pos += 1
        if self._peek() in ("*", "+", "?", "{"):
            raise RegexUnsupported("multiple repeat")
        return _Repeat(atom, bounds[0], bounds[1])

    def _braces(self) -> tuple[int, int | None] | None:
        match = re.compile(r"\{(\d*)(,?)(\d*)\}").match(self.text, self.pos)
        if match is None or (not match.group(1) and not match.group(3)):
            return None  # a literal '{', as Python reads it
        self.pos = match.end()
        low = int(match.group(1) or 0) if len(match.group(1)) < 7 else MAX_SAMPLE_LENGTH + 1
        if not match.group(2):
            return low, low
        if not match.group(3):
            return low, None
        high = int(match.group(3)) if len(match.group(3)) < 7 else MAX_SAMPLE_LENGTH + 1
        if high < low:
            raise RegexUnsupported("a {m,n} quantifier with n < m")
        return low, high

    def _atom(self) -> _Node:
        char = self._take()
        if char == "(":
            return self._group()
        if char == "[":
            return _Chars(self._class())
        if char == ".":
            return _Chars(_PRINTABLE)
        if char in ("^", "$"):
            return _Anchor()
        if char == "\\":
            return self._escape(in_class=False)
        if char in ("*", "+", "?"):
            raise RegexUnsupported(f"nothing to repeat at position {self.pos - 1}")
        return _Chars(char)

    def _group(self) -> _Node:
        if self._peek() == "?":
            self.pos += 1
            kind = self._take()
            if kind == ":":
                pass
            elif (kind == "P" and self._peek() == "<") or (
                kind == "<" and self._peek() not in "=!"
            ):
                if kind == "P":
                    self.pos += 1
                end = self.text.find(">", self.pos)
                if end < 0:
                    raise RegexUnsupported("an unterminated group name")
                self.pos = end + 1
            else:
                raise RegexUnsupported(f"the group '(?{kind}…)' (look-around, flag or reference)")
        self.depth += 1
        if self.depth > 100:
            raise RegexUnsupported("groups nested more than 100 deep")
        node = self._alternation()
        self.depth -= 1
        if self._take() != ")":
            raise RegexUnsupported("an unterminated group")
        return node

    def _escape(self, *, in_class: bool) -> _Node:
        char = self._take()
        if char in _CLASS_ESCAPES:
            return _Chars(_CLASS_ESCAPES[char])
        if char.lower() in _CLASS_ESCAPES:  # \D \W \S: a character outside the class
            excluded = _CLASS_ESCAPES[char.lower()]
            return _Chars("".join(c for c in _PRINTABLE if c not in excluded))
        if char in _CHAR_ESCAPES:
            return _Chars(_CHAR_ESCAPES[char])
        if char in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[char]
            digits = self.text[self.pos : self.pos + width]
            if len(digits) != width or not all(c in string.hexdigits for c in digits):
                raise RegexUnsupported(f"a bad \\{char} escape")
            self.pos += width
            return _Chars(chr(int(digits, 16)))
        if not in_class and char in ("A", "Z"):
            return _Anchor()
        if char.isalnum():
            raise RegexUnsupported(f"the escape '\\{char}'")
        return _Chars(char)

    def _class(self) -> str:
        negate = self._peek() == "^"
        if negate:
            self.pos += 1
        members: set[str] = set()
        first = True
        while True:
            char = self._take()
            if char == "]" and not first:
                break
            first = False
            if char == "\\":
                node = self._escape(in_class=True)
                assert isinstance(node, _Chars)
                if len(node.choices) > 1:
                    members.update(node.choices)
                    continue
                char = node.choices
            if self._peek() == "-" and self.text[self.pos + 1 : self.pos + 2] not in ("]", ""):
                self.pos += 1
                end = self._take()
                if end == "\\":
                    escaped = self._escape(in_class=True)
                    assert isinstance(escaped, _Chars)
                    end = escaped.choices
                if len(end) != 1 or ord(end) < ord(char):
                    raise RegexUnsupported(f"a bad range {char}-{end}")
                members.update(chr(c) for c in range(ord(char), min(ord(end), ord(char) + 500) + 1))
                continue
            members.add(char)
        if negate:
            chosen = "".join(c for c in _PRINTABLE if c not in members)
        else:
            chosen = "".join(sorted(members))
        if not chosen:
            raise RegexUnsupported("a character class no printable character matches")
        return chosen
