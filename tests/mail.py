"""Delivering the outbox inside a test: the relay hands each due delivery straight to the sender instead of
a broker, exactly as a worker would run it."""

from __future__ import annotations

from crm.notices.outbox import relay, send_delivery


def deliver_queued() -> int:
    """Sends everything due now; returns how many deliveries were handed to the sender."""
    return relay(send_delivery)
