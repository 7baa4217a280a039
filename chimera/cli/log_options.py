"""``--log-level`` and ``--log-json/--log-console``, before or after the command's name.

The group reads them (and ``CHIMERA_LOG_LEVEL``) first and configures logging; every
command and subcommand accepts them too, so ``chimera run swarm.yaml --log-level INFO``
works, and a value given after the command's name wins over one given before it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import click
from click.core import ParameterSource

from chimera.lib.logging import configure_logging

LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
LEVEL_HELP = (
    "Log level on stderr (default: INFO for `worker`, WARNING otherwise). Env: CHIMERA_LOG_LEVEL."
)
JSON_HELP = "JSON log lines, or readable ones (default: readable on a terminal, JSON otherwise)."
_META_KEY = "chimera.log_settings"


@dataclass
class LogSettings:
    """The logging the command line asked for."""

    level: str
    json: bool | None

    def apply(self) -> None:
        """Configure logging accordingly."""
        configure_logging(level=self.level, json=self.json)


def level_option(**extra: Any) -> click.Option:
    """The ``--log-level`` option (``extra``: more ``click.Option`` arguments)."""
    settings: dict[str, Any] = {"help": LEVEL_HELP, **extra}
    return click.Option(
        ["--log-level"], type=click.Choice(LEVELS, case_sensitive=False), **settings
    )


def json_option(**extra: Any) -> click.Option:
    """The ``--log-json/--log-console`` flag (``extra``: more ``click.Option`` arguments)."""
    settings: dict[str, Any] = {"help": JSON_HELP, "default": None, **extra}
    return click.Option(["--log-json/--log-console"], **settings)


def configure_from_group(ctx: click.Context, level: str | None, json: bool | None) -> None:
    """Configure logging from the group's options (or their defaults) and remember it."""
    default = "INFO" if ctx.invoked_subcommand == "worker" else "WARNING"
    settings = LogSettings(level=(level or default).upper(), json=json)
    ctx.meta[_META_KEY] = settings
    settings.apply()


def _override(ctx: click.Context, param: click.Parameter, value: object) -> None:
    """Apply ``--log-level``/``--log-json`` given after a command's name."""
    given = ctx.get_parameter_source(param.name or "") is ParameterSource.COMMANDLINE
    if value is None or not given:
        return
    settings = ctx.meta.get(_META_KEY)
    if settings is None:  # a command invoked on its own, without the group
        settings = ctx.meta[_META_KEY] = LogSettings(level="WARNING", json=None)
    if param.name == "log_level":
        settings.level = str(value).upper()
    else:
        settings.json = bool(value)
    settings.apply()


def add_log_options(command: click.Command) -> None:
    """Give ``command`` (and, for a group, each of its subcommands) the logging options."""
    names = {param.name for param in command.params}
    if "log_level" not in names:
        command.params.append(
            level_option(
                expose_value=False,
                callback=_override,
                metavar="LEVEL",
                help="DEBUG, INFO, WARNING or ERROR; as `chimera --log-level`.",
            )
        )
    if "log_json" not in names:
        command.params.append(
            json_option(
                expose_value=False,
                callback=_override,
                help="As `chimera --log-json/--log-console`.",
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_log_options(sub)


def debug_requested() -> bool:
    """Whether the running command was asked for DEBUG logs (then errors show tracebacks)."""
    ctx = click.get_current_context(silent=True)
    settings = ctx.meta.get(_META_KEY) if ctx is not None else None
    if settings is None:
        return False
    return bool(logging.getLevelNamesMapping()[settings.level] <= logging.DEBUG)


def log_arguments(ctx: click.Context) -> list[str]:
    """The logging this command runs with, as group options for a child ``chimera``."""
    settings = ctx.meta.get(_META_KEY)
    if settings is None:
        return []
    words = ["--log-level", settings.level]
    if settings.json is not None:
        words.append("--log-json" if settings.json else "--log-console")
    return words
