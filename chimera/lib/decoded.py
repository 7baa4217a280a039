"""Models this process validated, found again by the exact JSON text they came from.

A ``chimera worker`` process runs a Worker and a Judge. The Worker validates each task it
reads and builds each Result it publishes; a moment later its own Judge reads the same
texts back from Redis (the ledger row of the task, the Result's entry) and would validate
them again. Validation is a pure function of the text, so a model validated from (or
serialised to) exactly that text is the model the Judge would get: it is reused instead.
That is "each model validated once per hop": what crosses Redis between two processes is
still validated on arrival, since a text no part of this process produced is never found.

The cache is off until a Judge runs in the process (:meth:`DecodedCache.enable`), and
bounded: a text the Judge never asks for (its task judged elsewhere, an entry deleted) is
dropped, oldest first, once :data:`CAPACITY` texts are kept.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

#: Texts kept at most. A Worker holds at most its concurrency (200 by default, 1,000 is a
#: lot) of tasks and Results between their publication and their judging.
CAPACITY = 4096


class DecodedCache:
    """Validated models by the text they were read from or written as; one per process.

    Args:
        capacity: texts kept at most; the oldest is dropped to make room.
    """

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self.enabled = False
        #: Models found here instead of validated again, since start.
        self.reused = 0
        self._models: dict[str, BaseModel] = {}

    def enable(self) -> None:
        """Start keeping models: a Judge in this process will ask for them."""
        self.enabled = True

    def remember(self, text: str, model: BaseModel) -> None:
        """Keep ``model`` as what ``text`` validates to (a no-op while disabled)."""
        if not self.enabled:
            return
        models = self._models
        if len(models) >= self.capacity:
            # Insertion order: the first key is the oldest text.
            del models[next(iter(models))]
        models[text] = model

    def take(self, text: str | bytes, kind: type[M]) -> M | None:
        """The ``kind`` model ``text`` validates to, if this process has it; it is kept no more.

        Taken, not looked at: each text is judged once, and a redelivered copy is rare
        enough to validate again.
        """
        if not self._models:
            return None
        key = text.decode("utf-8", errors="surrogateescape") if isinstance(text, bytes) else text
        found = self._models.pop(key, None)
        if not isinstance(found, kind):
            return None
        self.reused += 1
        return found

    def __len__(self) -> int:
        return len(self._models)
