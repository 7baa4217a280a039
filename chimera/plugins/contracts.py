"""Building a plugin's object and checking it against its port before anything uses it.

A factory may return anything; Python will not stop it. Without this check, a backend
whose ``complete`` is a plain ``def`` would fail only when the first task's call is
awaited, deep inside the Worker. Checked here, it stops the command at start-up with one
line naming the plugin and what is missing.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from chimera.config.errors import ConfigError
from chimera.plugins.context import PluginContext


class PluginError(Exception):
    """A plugin's factory failed, or built an object that does not fit its port."""


def port_problems(thing: object, port: type) -> list[str]:
    """What ``thing`` lacks to satisfy the Protocol ``port``, one short phrase each.

    Checks every attribute the Protocol declares (a ``str`` one must hold a non-empty
    string) and every method: present, callable, and ``async def`` where the Protocol's
    is. Argument lists are not compared; the conformance suites in ``chimera.testing``
    exercise the methods for real.
    """
    problems: list[str] = []
    for attribute, hint in _attributes(port).items():
        value = getattr(thing, attribute, _MISSING)
        if value is _MISSING:
            problems.append(f"it has no `{attribute}` attribute")
        elif hint is str and not (isinstance(value, str) and value.strip()):
            problems.append(f"`{attribute}` must be a non-empty string, got {value!r}")
    for method, spec in _methods(port).items():
        value = getattr(thing, method, _MISSING)
        if value is _MISSING:
            problems.append(f"it has no `{method}` method")
        elif not callable(value):
            problems.append(f"`{method}` is not callable")
        elif inspect.iscoroutinefunction(spec) and not inspect.iscoroutinefunction(value):
            problems.append(f"`{method}` must be `async def`")
    return problems


def build_checked(
    kind: str,
    name: str,
    plugin: str,
    factory: Callable[[PluginContext], object],
    context: PluginContext,
    port: type,
) -> object:
    """Call ``factory(context)`` and check what it returns against ``port``.

    Args:
        kind: ``backend``, ``policy`` or ``audit sink``, for messages.
        name: the registered name.
        plugin: the plugin that registered it, for messages.
        factory: the registered factory.
        context: what the factory is given.
        port: the Protocol the object must satisfy.

    Raises:
        PluginError: one line naming the object, its plugin, and what went wrong.
        ConfigError: raised by the factory itself (a ``file:line:col`` problem in the
            user's configuration); passed on as it is.
    """
    try:
        thing = factory(context)
    except ConfigError:
        raise
    except Exception as exc:
        raise PluginError(
            f"{kind} {name!r} could not be created: {type(exc).__name__}: {exc} (plugin {plugin!r})"
        ) from exc
    problems = port_problems(thing, port)
    if problems:
        raise PluginError(
            f"{kind} {name!r} does not fit the {port.__name__} port: "
            f"{'; '.join(problems)} (plugin {plugin!r})"
        )
    return thing


_MISSING = object()
_PROTOCOL_INTERNALS = frozenset({"__init__", "__subclasshook__", "__class_getitem__"})


def _attributes(port: type) -> dict[str, Any]:
    """Data attributes the Protocol declares, with their resolved type hints."""
    hints: dict[str, Any] = typing.get_type_hints(port)
    return {name: hint for name, hint in hints.items() if not name.startswith("_")}


def _methods(port: type) -> dict[str, Callable[..., object]]:
    """Public methods the Protocol declares (its own and inherited from other Protocols)."""
    found: dict[str, Callable[..., object]] = {}
    for klass in reversed(port.__mro__):
        if klass is object or not getattr(klass, "_is_protocol", False):
            continue
        for attr, value in vars(klass).items():
            if inspect.isfunction(value) and not attr.startswith("_"):
                found[attr] = value
    return {name: value for name, value in found.items() if name not in _PROTOCOL_INTERNALS}
