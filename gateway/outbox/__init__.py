"""Outbound: what we owe residents, rendered into outbox rows and drained by the senders."""
