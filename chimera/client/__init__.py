"""The Python client for applications: ``chimera.Client`` (see :mod:`chimera.client.client`)."""

from __future__ import annotations

from chimera.client.client import Client, NotConnected
from chimera.client.review import ReviewClient

__all__ = ["Client", "NotConnected", "ReviewClient"]
