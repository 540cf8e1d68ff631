"""Fingerprint pyproject.toml's dependency lists, and check that the lock files were made from them.

`.ci/lock` writes the fingerprint as the first line of each lock file; `.ci/venv` (and so `.ci/run` and
`make run`) refuses a lock whose line does not match, so a stale lock is never installed silently.

    python3.11 .ci/deps_digest.py                     # print the header line for the current pyproject.toml
    python3.11 .ci/deps_digest.py --check LOCK...     # exit 1, saying what to run, when a lock is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER_PREFIX = "# pyproject-deps-sha256: "


def dependency_digest(pyproject: Path) -> str:
    """sha256 over what decides the lock's content; other pyproject edits (tool config) leave it unchanged."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    relevant = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def header_line(pyproject: Path) -> str:
    return HEADER_PREFIX + dependency_digest(pyproject)


def stale_locks(pyproject: Path, locks: list[Path]) -> list[str]:
    """One message per lock that is missing or whose header does not match pyproject.toml."""
    expected = header_line(pyproject)
    problems = []
    for lock in locks:
        if not lock.is_file():
            problems.append(f"{lock.name} is missing")
            continue
        with lock.open(encoding="utf-8") as stream:
            first = stream.readline().rstrip("\n")
        if first != expected:
            problems.append(f"{lock.name} was not generated from the current pyproject.toml dependencies")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--check", nargs="+", type=Path, metavar="LOCK", help="lock files to verify")
    args = parser.parse_args(argv)
    if not args.check:
        print(header_line(args.pyproject))
        return 0
    problems = stale_locks(args.pyproject, args.check)
    for problem in problems:
        print(f"ERROR: {problem}.", file=sys.stderr)
    if problems:
        print("ERROR: the lock files are stale: run `bash .ci/lock` and commit the result.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
