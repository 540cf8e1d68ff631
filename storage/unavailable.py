"""What a command reports when its database cannot be opened or lacks its tables; cheap to import (the CLI uses
it), SQLAlchemy loaded only once a statement has failed."""

from __future__ import annotations

import traceback


class DatabaseUnavailable(Exception):
    """The database cannot be opened: its server is down or refuses us, it does not exist, or its file cannot be
    created. The message names the database (without its password) and the reason, in one line."""


# SQLSTATEs (PostgreSQL): the database, the role or its password is not there; a table or column is not.
_CANNOT_OPEN = {"3D000", "28P01", "28000"}
_MISSING = {"42P01", "42703"}


def database_problem(exc: BaseException, url: str) -> str | None:
    """One line for an error a command met in its database: it could not be opened, or it lacks this version's
    tables (never brought up to date, or behind); None for anything else, which is a bug to show in full."""
    orig = getattr(exc, "orig", None)
    from_sqlalchemy = type(exc).__module__.startswith("sqlalchemy")
    state = getattr(orig, "sqlstate", None)
    words = first_line(orig if orig is not None else exc)
    if from_sqlalchemy and (state in _MISSING or words.startswith(("no such table", "no such column"))):
        return (
            f"database {_shown(url)} lacks this version's tables ({words}): if it is the right database, run"
            " `inbox311 db upgrade` (`serve` and `ingest` run it too)"
        )
    connecting = isinstance(exc, OSError) and any("/asyncpg/" in frame.filename for frame in traceback.extract_tb(
        exc.__traceback__))  # fmt: skip
    if connecting or (from_sqlalchemy and (state in _CANNOT_OPEN or words == "unable to open database file")):
        return cannot_open(url, words)
    return None


def cannot_open(url: str, reason: str) -> str:
    """The line for a database that cannot be opened: `storage.db.check_reachable`'s and a command's alike."""
    return f"database: cannot open {_shown(url)}: {reason}"


def first_line(error: BaseException) -> str:
    """An error's own first line of words, or its class's name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)  # never the password
