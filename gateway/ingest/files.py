"""Messages from files: single .eml files, mbox files and Maildir folders, read lazily one at a time."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path


class FileIngestError(Exception):
    """A path that is neither a message file, an mbox nor a Maildir."""


def _is_maildir(path: Path) -> bool:
    return path.is_dir() and all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(5) == b"From "


def count_messages(paths: list[Path]) -> int:
    """How many messages `iter_messages` will yield (for a progress bar); cheap for .eml, one scan for mbox."""
    total = 0
    for path in paths:
        if _is_maildir(path):
            total += len(mailbox.Maildir(path, create=False))
        elif path.is_file() and _is_mbox(path):
            total += len(mailbox.mbox(path, create=False))
        elif path.is_dir():
            total += sum(1 for p in path.rglob("*.eml") if p.is_file())
        else:
            total += 1
    return total


def iter_messages(paths: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(source description, raw bytes) for every message under `paths`, in a stable order."""
    for path in paths:
        if not path.exists():
            raise FileIngestError(f"{path}: no such file or directory")
        if _is_maildir(path):
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(box.iterkeys()):
                with box.get_file(key) as fh:
                    yield f"maildir:{path.name}/{key}", fh.read()
        elif path.is_dir():
            for eml in sorted(p for p in path.rglob("*.eml") if p.is_file()):
                yield f"file:{eml.name}", eml.read_bytes()
        elif _is_mbox(path):
            box = mailbox.mbox(path, create=False)
            for i, key in enumerate(box.iterkeys()):
                with box.get_file(key) as fh:
                    yield f"mbox:{path.name}#{i}", fh.read()
        else:
            yield f"file:{path.name}", path.read_bytes()
