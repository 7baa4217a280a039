"""Models this process validated, found again by the exact JSON text they came from.

A ``chimera worker`` process runs a Worker and a Judge. The Worker validates each task it
reads and builds each Result it publishes; a moment later its own Judge reads the same
texts back from Redis (the ledger row of the task, the Result's entry) and would validate
them again. Validation is a pure function of the text, so a model validated from (or
serialised to) exactly that text is the model the Judge would get: it is reused instead.
That is "each model validated once per hop": what crosses Redis between two processes is
still validated on arrival, since a text no part of this process produced is never found.

The cache is off until a Judge runs in the process (:meth:`DecodedCache.enable`), and
bounded. When it is full a new text is not kept (it is validated again later) rather than
an older one dropped: a Judge that fell behind its Worker reads the oldest texts first, and
dropping those would make every lookup miss. A text the Judge never asks for (its task
judged elsewhere, an entry deleted) is dropped once it is :data:`MAX_AGE_S` old.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

#: Texts kept at most. A Worker holds at most its concurrency (200 by default, 1,000 is a
#: lot) of tasks and Results between their publication and their judging.
CAPACITY = 8192
#: A text kept this long was not asked for in time and will not be.
MAX_AGE_S = 60.0


class DecodedCache:
    """Validated models by the text they were read from or written as; one per process.

    Args:
        capacity: texts kept at most.
        max_age_s: how long a text not asked for is kept (once the cache is full).
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        capacity: int = CAPACITY,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.max_age_s = max_age_s
        self.clock = clock
        self.enabled = False
        #: Models found here instead of validated again, since start.
        self.reused = 0
        # Oldest first: an OrderedDict drops from its front in constant time.
        self._models: OrderedDict[str, tuple[float, BaseModel]] = OrderedDict()

    def enable(self) -> None:
        """Start keeping models: a Judge in this process will ask for them."""
        self.enabled = True

    def remember(self, text: str, model: BaseModel) -> None:
        """Keep ``model`` as what ``text`` validates to (a no-op while disabled)."""
        if not self.enabled:
            return
        models = self._models
        now = self.clock()
        if len(models) >= self.capacity:
            expired = now - self.max_age_s
            while models and next(iter(models.values()))[0] < expired:
                models.popitem(last=False)
            if len(models) >= self.capacity:
                return
        models[text] = (now, model)

    def take(self, text: str | bytes, kind: type[M]) -> M | None:
        """The ``kind`` model ``text`` validates to, if this process has it; it is kept no more.

        Taken, not looked at: each text is judged once, and a redelivered copy is rare
        enough to validate again.
        """
        if not self._models:
            return None
        key = text.decode("utf-8", errors="surrogateescape") if isinstance(text, bytes) else text
        kept = self._models.pop(key, None)
        if kept is None or not isinstance(kept[1], kind):
            return None
        self.reused += 1
        return kept[1]

    def __len__(self) -> int:
        return len(self._models)
