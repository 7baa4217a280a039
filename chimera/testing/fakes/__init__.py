"""In-memory fakes of every chimera port, for tests of services and plugins.

They share one :class:`~chimera.testing.fakes.store.MemoryStore` (what Redis would hold)
and behave like the Redis adapters in everything the services rely on: one call is one
atomic step, a duplicate Result commits once, a stale copy of a settled task is dropped,
pending entries have owners, delivery counts and idle times (from an injectable clock).
``FakePorts`` builds them all at once. The contract suite in ``tests/chimera/contracts``
runs the same tests against these fakes and against the Redis adapters.

Import them from :mod:`chimera.testing`.
"""
