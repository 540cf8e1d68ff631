"""Pure parsing: bytes and forms in, frozen dataclasses out. No database, no network, no settings."""
