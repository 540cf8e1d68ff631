"""`inbox311 user add|list|password|role`: staff accounts for the inbox. Passwords come from a prompt or stdin,
never from the command line (where other users of the machine could read them)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable

from gateway.commands.tickets_cmd import render_table
from gateway.settings import Settings
from storage.roles import ROLES

MIN_PASSWORD = 10


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    user = sub.add_parser("user", help="staff accounts")
    usub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = usub.add_parser("add", help="create a staff account")
    add.add_argument("email")
    add.add_argument("--role", choices=ROLES, default="agent")
    add.add_argument("--name", default=None)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add_config(add)
    add.set_defaults(func=_add)
    ls = usub.add_parser("list", help="list staff accounts")
    add_config(ls)
    ls.set_defaults(func=_list)
    pw = usub.add_parser("password", help="set a new password (ends the account's sessions)")
    pw.add_argument("email")
    pw.add_argument("--password-stdin", action="store_true")
    add_config(pw)
    pw.set_defaults(func=_password)
    role = usub.add_parser("role", help="change an account's role, or deactivate it")
    role.add_argument("email")
    role.add_argument("--role", choices=ROLES, required=True)
    role.add_argument("--deactivate", action="store_true", help="the account can no longer log in")
    add_config(role)
    role.set_defaults(func=_role)


def read_password(from_stdin: bool) -> str | None:
    """The new password, or None (after saying why on stderr) when it is unusable."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("inbox311: the passwords differ", file=sys.stderr)
            return None
    if len(password) < MIN_PASSWORD:
        print(f"inbox311: a password needs at least {MIN_PASSWORD} characters", file=sys.stderr)
        return None
    return password


async def _add(args: argparse.Namespace, settings: Settings) -> int:
    if "@" not in args.email:
        print("inbox311: EMAIL must be an email address", file=sys.stderr)
        return 2
    password = read_password(args.password_stdin)
    if password is None:
        return 2
    from gateway.web.auth import hash_password
    from storage.db import Database
    from storage.staff import StaffExists, create_staff_user

    try:
        async with Database(settings.database.url) as db, db.write() as session:
            user = await create_staff_user(
                session=session, email=args.email, password_hash=hash_password(password), role=args.role, name=args.name
            )
    except StaffExists:
        print(f"inbox311: {args.email.lower()} has an account already", file=sys.stderr)
        return 1
    print(f"created {user.email} ({user.role})")
    return 0


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import Database
    from storage.staff import list_staff

    async with Database(settings.database.url) as db, db.read() as session:
        users = await list_staff(session=session, active_only=False)
    rows = [{"email": u.email, "name": u.name, "role": u.role, "active": u.active} for u in users]
    print(render_table(rows, ("email", "name", "role", "active")) if rows else "no staff accounts")
    return 0


async def _password(args: argparse.Namespace, settings: Settings) -> int:
    password = read_password(args.password_stdin)
    if password is None:
        return 2
    from gateway.web.auth import hash_password
    from storage.db import Database
    from storage.staff import get_staff_by_email, set_staff_password

    async with Database(settings.database.url) as db, db.write() as session:
        user = await get_staff_by_email(session=session, email=args.email)
        if user is None or user.id is None:
            print(f"inbox311: no account {args.email.lower()}", file=sys.stderr)
            return 1
        await set_staff_password(session=session, staff_id=user.id, password_hash=hash_password(password))
    print(f"password changed for {args.email.lower()}")
    return 0


async def _role(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import Database
    from storage.staff import get_staff_by_email, set_staff_role

    async with Database(settings.database.url) as db, db.write() as session:
        user = await get_staff_by_email(session=session, email=args.email)
        if user is None or user.id is None:
            print(f"inbox311: no account {args.email.lower()}", file=sys.stderr)
            return 1
        await set_staff_role(session=session, staff_id=user.id, role=args.role, active=not args.deactivate)
    print(f"{args.email.lower()}: {args.role}{' (deactivated)' if args.deactivate else ''}")
    return 0
