"""``chimera task show``: one task's whole story, from the audit trail and stored records."""

from __future__ import annotations

import json
from pathlib import Path

import click

from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.errors import InputError, reports_input_errors
from chimera.cli.options import distributed_redis, json_option, prefix_option
from chimera.cli.runtime import with_client
from chimera.cli.story_render import print_story
from chimera.client import Client
from chimera.services.story.model import TaskStory


@click.group()
def task() -> None:
    """Look into one task: everything that happened to it."""


@task.command()
@SWARM_ARG
@click.argument("task_id")
@distributed_redis
@prefix_option
@click.option("--tenant", help="Look the id up in this tenant only (default: every tenant).")
@json_option
@reports_input_errors
def show(
    swarm: Path, task_id: str, redis_url: str, prefix: str, tenant: str | None, as_json: bool
) -> None:
    """Show TASK_ID's whole story: input, every attempt, tool calls, decisions, outcome.

    Each attempt shows its rendered prompt, the model's answer (or error), tokens and cost,
    its tool calls, and the Judge's verdict and reason; then the review and the human
    decisions, the commit or the dead letter, timings per stage and the trace id. Prompts
    and answers of attempts that were not committed are kept cut to 4000 characters (the
    cut is marked). An id no tenant has exits 2.
    """

    async def body(client: Client) -> TaskStory | None:
        return await client.runtime.task_stories().show(task_id, tenant)

    story = with_client(swarm, redis_url, prefix, body)
    if story is None:
        where = f"tenant {tenant!r}" if tenant else "this swarm"
        raise InputError(f"no task of {where} has the id {task_id}")
    if as_json:
        click.echo(json.dumps(story.as_json(), ensure_ascii=False))
    else:
        print_story(story)


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(task)
