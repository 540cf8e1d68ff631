"""The error a command reports when its database cannot be opened; cheap to import (the CLI catches it)."""

from __future__ import annotations


class DatabaseUnavailable(Exception):
    """The database cannot be opened: its server is down or refuses us, it does not exist, or its file cannot be
    created. The message names the database (without its password) and the reason, in one line."""
