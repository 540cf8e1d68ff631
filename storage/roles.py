"""The staff roles, in a module of their own so the CLI can name them without loading the database layer."""

from __future__ import annotations

ROLES: tuple[str, ...] = ("admin", "agent", "viewer")
