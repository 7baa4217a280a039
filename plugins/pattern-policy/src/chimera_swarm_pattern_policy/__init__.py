"""The ``patterns`` Judge policy: deny secrets, send personal data to a human, then bands.

Before the confidence bands, the policy scans every string in a Result's output (object
keys included, at any depth) for regular expressions:

1. a ``deny`` pattern matches (an AWS access key, a private key, an API key, a bearer
   token, …): the verdict is ``deny``, with a reason naming the pattern and the field,
   never the matched text;
2. a ``review`` pattern matches (an email address, a phone number, …), or a string is
   longer than ``max_lengths`` allows: ``review``;
3. otherwise the ``threshold`` policy's bands decide
   (:func:`chimera.services.judge_policy.decide_by_thresholds`).

Everything is configured through ``judge.options`` in swarm.yaml, at any level::

    judge:
      policy: patterns
      options:
        deny_patterns: {internal_host: 'db-[a-z]+[.]corp[.]example'}
        review_patterns: {email: null}     # drop a built-in pattern
        max_lengths: {summary: 2000, "*": 20000}

Patterns are compiled once per distinct ``options`` and cached. The policy is pure: the
same Result, task and settings always give the same decision. Malformed options (a bad
regex, a negative length) are reported by ``chimera validate``, and by every command that
loads the swarm, with the ``file:line:col`` where they are written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chimera import (
    ConfigIssue,
    Decision,
    JsonValue,
    PluginContext,
    PolicyInput,
    PolicyRegistrar,
    Verdict,
    decide_by_thresholds,
    hookimpl,
)

__all__ = [
    "DEFAULT_DENY_PATTERNS",
    "DEFAULT_REVIEW_PATTERNS",
    "OptionsError",
    "PatternPolicy",
    "Rules",
    "check_judge_options",
    "compile_rules",
    "register_policies",
]

#: Secrets an LLM output should never carry. Names are what a deny reason shows.
DEFAULT_DENY_PATTERNS: dict[str, str] = {
    "aws_access_key_id": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "private_key": r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    "api_key": r"\bsk-[A-Za-z0-9_-]{20,}",
    "stripe_live_key": r"\b[rs]k_live_[0-9A-Za-z]{16,}",
    "github_token": r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})",
    "slack_token": r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    "bearer_token": r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*",
}

#: Personal data a human should look at before it is committed.
DEFAULT_REVIEW_PATTERNS: dict[str, str] = {
    "email": r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    "phone_number": (
        r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{2,4})[\s.-]\d{3,4}[\s.-]\d{3,4}(?!\w)"
    ),
}

#: The keys of ``judge.options`` this policy reads; any other key is left to other policies.
OPTION_KEYS = ("builtin_patterns", "deny_patterns", "review_patterns", "max_lengths")

_WILDCARD = "*"


Loc = tuple[str, ...]


class OptionsError(ValueError):
    """``judge.options`` cannot be used by the ``patterns`` policy (a bad regex, a bad type).

    Attributes:
        problems: ``(place under judge.options, message)`` for each problem.
    """

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        self.problems = problems
        super().__init__(
            "\n".join(f"judge.options.{'.'.join(loc)}: {message}" for loc, message in problems)
        )


@dataclass(frozen=True)
class Rules:
    """The compiled form of one ``judge.options``."""

    deny: tuple[tuple[str, re.Pattern[str]], ...]
    review: tuple[tuple[str, re.Pattern[str]], ...]
    max_lengths: Mapping[str, int]


class PatternPolicy:
    """Deny outputs carrying secrets, park those carrying personal data, else confidence bands.

    Args:
        cache_size: how many distinct ``judge.options`` to keep compiled.
    """

    name = "patterns"

    def __init__(self, cache_size: int = 256) -> None:
        self._rules: dict[str, Rules] = {}
        self._cache_size = cache_size

    def rules_for(self, options: Mapping[str, Any]) -> Rules:
        """The compiled rules for ``options``, compiling them on first use.

        Raises:
            OptionsError: the options are malformed.
        """
        key = json.dumps({k: options.get(k) for k in OPTION_KEYS}, sort_keys=True)
        rules = self._rules.get(key)
        if rules is None:
            rules = compile_rules(options)
            if len(self._rules) >= self._cache_size:
                self._rules.pop(next(iter(self._rules)))
            self._rules[key] = rules
        return rules

    async def decide(self, item: PolicyInput) -> Decision:
        """Deny on a secret, ``review`` on personal data or an overlong field, else the bands.

        Raises:
            OptionsError: ``judge.options`` is malformed (``check_judge_options`` reports
                that when the swarm loads, before any Result is judged).
        """
        rules = self.rules_for(item.settings.options)
        output = item.result.output or {}
        denied = _matches(rules.deny, output)
        if denied:
            reason = "output matches deny pattern " + _describe(denied)
            retry = item.settings.on_deny == "retry" and item.task.attempt < item.task.max_attempts
            return _decision(item, self.name, Verdict.DENY, reason, retry)
        flagged = _matches(rules.review, output)
        if flagged:
            reason = "output matches review pattern " + _describe(flagged) + ": a human decides"
            return _decision(item, self.name, Verdict.REVIEW, reason)
        too_long = _too_long(rules.max_lengths, output)
        if too_long is not None:
            path, length, limit = too_long
            reason = (
                f"field {path!r} is {length} characters, over max_lengths {limit}: a human decides"
            )
            return _decision(item, self.name, Verdict.REVIEW, reason)
        return decide_by_thresholds(item, self.name)


def compile_rules(options: Mapping[str, Any]) -> Rules:
    """Compile ``judge.options`` into rules, reporting every problem at once.

    Raises:
        OptionsError: one line per problem (``judge.options.deny_patterns.x: …``).
    """
    problems: list[tuple[Loc, str]] = []
    builtin = options.get("builtin_patterns", True)
    if not isinstance(builtin, bool):
        problems.append((("builtin_patterns",), "expected true or false"))
        builtin = True
    deny = _compile_set("deny_patterns", DEFAULT_DENY_PATTERNS, builtin, options, problems)
    review = _compile_set("review_patterns", DEFAULT_REVIEW_PATTERNS, builtin, options, problems)
    max_lengths = _max_lengths(options.get("max_lengths"), problems)
    if problems:
        raise OptionsError(problems)
    return Rules(deny=deny, review=review, max_lengths=max_lengths)


def _compile_set(
    key: str,
    defaults: Mapping[str, str],
    builtin: bool,
    options: Mapping[str, Any],
    problems: list[tuple[Loc, str]],
) -> tuple[tuple[str, re.Pattern[str]], ...]:
    sources: dict[str, str | None] = dict(defaults) if builtin else {}
    configured = options.get(key)
    if isinstance(configured, Mapping):
        sources.update(configured)
    elif isinstance(configured, list):
        sources.update({str(source): source for source in configured})
    elif configured is not None:
        problems.append(((key,), "expected a mapping of name to regex, or a list of regexes"))
    compiled: list[tuple[str, re.Pattern[str]]] = []
    for name, source in sources.items():
        if source is None:
            continue  # ``name: null`` switches a built-in pattern off
        if not isinstance(source, str):
            problems.append(((key, name), "expected a regex string"))
            continue
        try:
            compiled.append((name, re.compile(source)))
        except re.error as exc:
            problems.append(((key, name), f"invalid regex: {exc}"))
    return tuple(compiled)


def _max_lengths(configured: Any, problems: list[tuple[Loc, str]]) -> dict[str, int]:
    if configured is None:
        return {}
    if not isinstance(configured, Mapping):
        problems.append((("max_lengths",), "expected a mapping of field to length"))
        return {}
    limits: dict[str, int] = {}
    for field, limit in configured.items():
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            problems.append((("max_lengths", str(field)), "expected a whole number >= 0"))
            continue
        limits[str(field)] = limit
    return limits


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """Every string in ``value`` as ``(path, field, text)``, keys before their values.

    ``path`` names the place (``items[2].text``); ``field`` is the same without list
    indices (``items.text``), which is what ``max_lengths`` is keyed by.
    """
    if isinstance(value, str):
        yield path or "$", re.sub(r"\[\d+\]", "", path) or "$", value
    elif isinstance(value, Mapping):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else str(key)
            yield child_path, "", str(key)
            yield from _strings(child, child_path)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings(child, f"{path}[{index}]")


def _matches(
    patterns: tuple[tuple[str, re.Pattern[str]], ...], output: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """``(pattern name, path)`` of every pattern that matches, each pattern once."""
    found: list[tuple[str, str]] = []
    if not patterns:
        return found
    seen: set[str] = set()
    for path, _, text in _strings(output):
        for name, pattern in patterns:
            if name not in seen and pattern.search(text):
                seen.add(name)
                found.append((name, path))
    return found


def _describe(matches: list[tuple[str, str]]) -> str:
    return ", ".join(f"{name!r} in field {path!r}" for name, path in matches)


def _too_long(limits: Mapping[str, int], output: Mapping[str, Any]) -> tuple[str, int, int] | None:
    if not limits:
        return None
    for path, field, text in _strings(output):
        if not field:
            continue  # an object key, not a field's value
        limit = limits.get(field, limits.get(_WILDCARD))
        if limit is not None and len(text) > limit:
            return path, len(text), limit
    return None


def _decision(
    item: PolicyInput, policy: str, verdict: Verdict, reason: str, retry: bool = False
) -> Decision:
    return Decision.on(item.result, verdict, reason, policy, item.settings.thresholds, retry)


def _patterns(context: PluginContext) -> PatternPolicy:
    return PatternPolicy()


@hookimpl
def register_policies(register: PolicyRegistrar) -> None:
    """Register the ``patterns`` policy (secrets denied, personal data reviewed, then bands)."""
    register("patterns", _patterns)


@hookimpl
def check_judge_options(policy: str, options: Mapping[str, JsonValue]) -> list[ConfigIssue]:
    """Report every malformed option of the ``patterns`` policy, where it is written.

    chimera calls this when a swarm loads, for each place in swarm.yaml whose
    ``judge.options`` reach this policy, so a bad regex stops ``chimera validate`` (and
    ``run``, ``worker``) with a ``file:line:col`` instead of failing every batch.
    """
    if policy != PatternPolicy.name:
        return []
    try:
        compile_rules(options)
    except OptionsError as exc:
        return [
            ConfigIssue(loc, f"judge.options.{'.'.join(loc)}: {message}")
            for loc, message in exc.problems
        ]
    return []
