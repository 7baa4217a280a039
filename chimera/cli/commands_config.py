"""``chimera validate`` and ``chimera schema``: working with the YAML before running it."""

from __future__ import annotations

import json
from pathlib import Path

import click
from pydantic import BaseModel

from chimera.cli.errors import reports_input_errors
from chimera.cli.loading import load_for_cli
from chimera.models.config import SkillConfig, SwarmConfig
from chimera.services.planner import count_jobs

SWARM_ARG = click.argument(
    "swarm", type=click.Path(dir_okay=False, path_type=Path), metavar="SWARM"
)


@click.command()
@SWARM_ARG
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@reports_input_errors
def validate(swarm: Path, as_json: bool) -> None:
    """Check SWARM (swarm.yaml) and every skill file it names.

    Exits 0 with a one-line summary when all is well. Otherwise prints one
    `file:line:col: message` line per problem to stderr and exits 2.
    """
    loaded = load_for_cli(swarm)
    policies = sorted(
        {
            loaded.judge_for(t, s).policy
            for t in loaded.tenants
            for s in loaded.config.tenants[t].skills
        }
    )
    tenants, skills = loaded.tenants, sorted(loaded.skills)
    jobs = count_jobs(loaded.config.jobs)
    pipelines = list(loaded.config.pipelines)
    if as_json:
        summary = {
            "swarm": loaded.config.name,
            "tenants": tenants,
            "skills": skills,
            "policies": policies,
            "pipelines": pipelines,
            "jobs": jobs,
        }
        click.echo(json.dumps(summary))
        return
    named = f" ({', '.join(pipelines)})" if pipelines else ""
    click.echo(
        f"{swarm}: ok: {len(tenants)} tenants ({', '.join(tenants)}), "
        f"{len(skills)} skills ({', '.join(skills)}), "
        f"policies: {', '.join(policies)}, {len(pipelines)} pipelines{named}, {jobs} jobs"
    )


SCHEMAS: dict[str, type[BaseModel]] = {"swarm": SwarmConfig, "skill": SkillConfig}


def json_schema(kind: str) -> dict[str, object]:
    """Return the JSON Schema of a swarm file or a skill file."""
    schema: dict[str, object] = SCHEMAS[kind].model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"chimera {kind} file"
    return schema


@click.command()
@click.argument("kind", type=click.Choice(sorted(SCHEMAS)), default="swarm")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write swarm.schema.json and skill.schema.json into this folder instead.",
)
def schema(kind: str, out: Path | None) -> None:
    """Print the JSON Schema of a swarm file (default) or a skill file.

    Editors that speak the YAML language server autocomplete and check your files when
    they start with a line such as:

        # yaml-language-server: $schema=specs/001-observable-mcp-swarm/contracts/swarm.schema.json
    """
    if out is None:
        click.echo(json.dumps(json_schema(kind), indent=2))
        return
    out.mkdir(parents=True, exist_ok=True)
    for name in SCHEMAS:
        target = out / f"{name}.schema.json"
        target.write_text(json.dumps(json_schema(name), indent=2) + "\n", encoding="utf-8")
        click.echo(f"wrote {target}")


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(validate)
    group.add_command(schema)
