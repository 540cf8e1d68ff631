"""Opening a logged-in IMAP connection for one `[[imap]]` account (TLS, LOGIN / PLAIN / XOAUTH2) and checking it.

The functions here block (imapclient is a blocking library); the ingestor runs them in the account's own thread,
`check_imap_account` in a worker thread. Library errors are mapped to the `ImapError` family at this edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import shlex
import ssl
import subprocess
from pathlib import Path

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from gateway.settings import ImapAccountSettings

log = logging.getLogger(__name__)

TOKEN_COMMAND_TIMEOUT = 30.0


class ImapError(Exception):
    """A mailbox could not be read; the ingestor records it in its state and retries with backoff."""

    reason_code = "imap-error"


class ImapAuthError(ImapError):
    """The server refused the credentials, or no OAuth2 token could be obtained."""

    reason_code = "imap-auth"


class ImapUnavailable(ImapError):
    """The server could not be reached, TLS failed, or the connection dropped (network, restart, BYE)."""

    reason_code = "imap-unavailable"


class ImapFolderError(ImapError):
    """The configured folder does not exist or cannot be selected."""

    reason_code = "imap-folder"


def where(account: ImapAccountSettings) -> str:
    return f"{account.host}:{account.port}"


def read_password(account: ImapAccountSettings) -> str:
    """The account's password: from `password_file` when set, read afresh so a rotated secret needs no restart."""
    if not account.password_file:
        return account.password
    try:
        return Path(account.password_file).expanduser().read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ImapAuthError(f"password_file {account.password_file} cannot be read: {exc.strerror}") from exc


def read_oauth2_token(account: ImapAccountSettings) -> str:
    """The XOAUTH2 access token, read afresh at every login (tokens expire within the hour)."""
    if account.oauth2_token_command:
        try:
            done = subprocess.run(
                shlex.split(account.oauth2_token_command),
                capture_output=True,
                text=True,
                timeout=TOKEN_COMMAND_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ImapAuthError(f"oauth2_token_command could not run: {exc}") from exc
        if done.returncode != 0:
            detail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise ImapAuthError(f"oauth2_token_command exited with {done.returncode}: {detail[0]}")
        token = done.stdout.strip()
        source = "oauth2_token_command"
    else:
        try:
            token = Path(account.oauth2_token_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImapAuthError(f"oauth2_token_file {account.oauth2_token_file}: {exc.strerror or exc}") from exc
        source = "oauth2_token_file"
    if not token:
        raise ImapAuthError(f"{source} gave an empty token")
    return token


def tls_context(account: ImapAccountSettings) -> ssl.SSLContext:
    """Certificate and host name checked; `ca_file` adds a private CA (or a self-signed server certificate)."""
    return ssl.create_default_context(cafile=account.ca_file or None)


def open_imap_client(account: ImapAccountSettings) -> IMAPClient:
    """Connect, secure the connection as configured, and log in. Blocking."""
    try:
        client = IMAPClient(
            account.host,
            port=account.port,
            ssl=account.tls == "ssl",
            ssl_context=tls_context(account) if account.tls == "ssl" else None,
            timeout=account.timeout_seconds,
        )
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapUnavailable(f"cannot connect to {where(account)} ({account.tls}): {_reason(exc)}") from exc
    try:
        if account.tls == "starttls":
            client.starttls(tls_context(account))
        _login(client, account)
    except BaseException:
        close_imap_client(client, logout=False)
        raise
    return client


def _login(client: IMAPClient, account: ImapAccountSettings) -> None:
    try:
        if account.auth == "xoauth2":
            client.oauth2_login(account.username, read_oauth2_token(account))
        elif account.auth == "plain":
            client.plain_login(account.username, read_password(account))
        else:
            client.login(account.username, read_password(account))
    except LoginError as exc:
        raise ImapAuthError(
            f"login failed for {account.username} at {where(account)} ({account.auth}): {_reason(exc)}"
        ) from exc
    except imaplib.IMAP4.abort as exc:
        raise ImapUnavailable(f"connection to {where(account)} dropped during login: {_reason(exc)}") from exc
    except imaplib.IMAP4.error as exc:  # e.g. no STARTTLS offered, or an AUTHENTICATE mechanism the server lacks
        raise ImapAuthError(f"login to {where(account)} refused ({account.auth}): {_reason(exc)}") from exc
    except OSError as exc:  # includes ssl.SSLError from STARTTLS
        raise ImapUnavailable(f"cannot secure or use the connection to {where(account)}: {_reason(exc)}") from exc


def close_imap_client(client: IMAPClient, *, logout: bool) -> None:
    """Say LOGOUT when the server is there to hear it; otherwise just close the socket. Never raises."""
    try:
        if logout:
            client.logout()
            return
    except Exception:  # the connection is going away either way
        pass
    with contextlib.suppress(Exception):
        client.shutdown()


def describe_error(exc: BaseException) -> str:
    """One line for the account's state, the log and `imap status`."""
    if isinstance(exc, ImapError):
        return str(exc)
    if isinstance(exc, imaplib.IMAP4.abort):
        return f"connection lost: {_reason(exc)}"
    if isinstance(exc, OSError):
        return f"network error: {_reason(exc)}"
    if isinstance(exc, imaplib.IMAP4.error):
        return f"server refused a command: {_reason(exc)}"
    return f"{type(exc).__name__}: {exc}"


def _reason(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return text


def _check_blocking(account: ImapAccountSettings) -> str:
    client = open_imap_client(account)
    try:
        try:
            info = client.select_folder(account.folder, readonly=True)
        except imaplib.IMAP4.error as exc:
            raise ImapFolderError(f"folder {account.folder!r} cannot be selected: {_reason(exc)}") from exc
        parts = [
            f"logged in to {where(account)} as {account.username} ({account.tls}, {account.auth})",
            f"folder {account.folder} has {info.get(b'EXISTS', 0)} messages",
        ]
        if account.processed_folder:
            exists = client.folder_exists(account.processed_folder)
            parts.append(
                f"processed folder {account.processed_folder} "
                + ("exists" if exists else "does not exist yet and will be created")
            )
        else:
            parts.append("taken messages are flagged \\Seen")
        parts.append("IDLE " + ("available" if client.has_capability("IDLE") else "not offered: polling"))
        return "; ".join(parts)
    finally:
        close_imap_client(client, logout=True)


async def check_imap_account(account: ImapAccountSettings) -> tuple[bool, str]:
    """Log in to the mailbox and look at its folders, as `inbox311 check-config` does; never raises."""
    try:
        return True, await asyncio.to_thread(_check_blocking, account)
    except Exception as exc:
        return False, describe_error(exc)
