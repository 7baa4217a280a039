"""Bounds on what loading a configuration may cost, whatever the files contain.

A configuration is written by people and read by every command, so it is small: these
limits sit far above any real swarm and far below what would make ``chimera validate``
slow or hungry. Each one is reported as a ``file:line:col`` problem when crossed.
"""

from __future__ import annotations

#: Largest YAML file read. Bulk task inputs belong in JSONL (``chimera run --input``).
MAX_FILE_BYTES = 1024 * 1024

#: Most values (scalars, lists and mappings) built from one file. Each use of an alias
#: counts the whole value it stands for, so an alias bomb stops here instead of expanding.
MAX_VALUES = 100_000

#: Most characters of text (scalars and keys, ``${VAR}`` values included) one file may
#: expand to, each use of an alias counting its whole text: a long string aliased 100,000
#: times would otherwise be gigabytes the first time anything serialises it.
MAX_TEXT = 4 * 1024 * 1024

#: Deepest nesting of lists and mappings in one file, aliases expanded. Deep enough for a
#: JSON Schema nested dozens of objects deep, shallow enough for every recursive checker
#: (pydantic, jsonschema) downstream to stay far from Python's recursion limit.
MAX_DEPTH = 100

#: Directory entries one ``skills:`` pattern may look at while matching.
MAX_GLOB_ENTRIES = 10_000

#: Skill files one swarm may load, and their total size.
MAX_SKILL_FILES = 1_000
MAX_SKILL_BYTES = 16 * 1024 * 1024
