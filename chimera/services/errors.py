"""The one kind of error a service raises when a request cannot be served as asked."""

from __future__ import annotations


class RequestError(Exception):
    """The request names something that does not exist or is not allowed.

    Unknown tenant, no such session, nothing waiting under that id, submissions that do
    not fit the swarm: the caller can fix the request, nothing was changed, and the message
    says what to fix. The CLI prints it as one ``error: …`` line and exits 2.
    """
