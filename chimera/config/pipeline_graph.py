"""The step graph of a pipeline: cycles, an order to run in, and what each step depends on.

Steps are nodes and ``needs`` are edges from a step to the steps it waits for. Names a
step needs that do not exist are left out here; the checks report them on their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(needs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle as the steps along it, first step repeated at the end; None if there is none.

    The cycle reported is the first one met walking the steps in the order given, so the
    message is the same on every run.
    """
    done: set[str] = set()
    for start in needs:
        if start in done:
            continue
        # Iterative depth-first search: ``path`` is the chain of needs being followed.
        path = [start]
        stack = [iter(needs[start])]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                done.add(path.pop())
            elif step in path:
                return [*path[path.index(step) :], step]
            elif step in needs and step not in done:
                path.append(step)
                stack.append(iter(needs[step]))
    return None


def topological_order(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Every step after the steps it needs; ties keep the order the steps were written in.

    Raises:
        ValueError: the graph has a cycle.
    """
    order: list[str] = []
    placed: set[str] = set()
    remaining = list(needs)
    while remaining:
        ready = [s for s in remaining if all(n in placed or n not in needs for n in needs[s])]
        if not ready:
            raise ValueError(f"the steps {', '.join(remaining)} form a cycle")
        order.extend(ready)
        placed.update(ready)
        remaining = [s for s in remaining if s not in placed]
    return order


def ancestors(needs: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """For each step, every step it needs directly or through other steps.

    Raises:
        ValueError: the graph has a cycle.
    """
    found: dict[str, frozenset[str]] = {}
    for step in topological_order(needs):
        direct = [n for n in needs[step] if n in needs]
        found[step] = frozenset(direct).union(*(found[n] for n in direct))
    return found
