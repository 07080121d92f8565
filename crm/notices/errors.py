"""How a channel reports a failed send: the sender retries temporary ones and gives up on permanent ones."""

from __future__ import annotations


class SendFailure(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemporaryFailure(SendFailure):
    """Try again later: SMTP 4xx, a connection refused or timed out, an HTTP 5xx or 429 from a provider."""


class PermanentFailure(SendFailure):
    """Never going to work as it is: SMTP 5xx (unknown mailbox, refused), an HTTP 4xx from a provider."""
