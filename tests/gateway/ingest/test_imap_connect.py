"""Connecting to a mailbox: TLS modes, login mechanisms, OAuth2 token sources, and the errors people will read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gateway.ingest.imap_connect import ImapAuthError, check_imap_account, read_oauth2_token
from gateway.settings import ConfigError, ImapAccountSettings, load_settings
from tests.imap_server import PASSWORD, USER, account, free_port


def imap_section(**values: object) -> dict[str, str]:
    fields = ", ".join(f"{k} = {v!r}".replace("'", '"') for k, v in values.items())
    return {"INBOX311__IMAP": f"[{{{fields}}}]"}


# ---- settings ---------------------------------------------------------------------------------------------------


def test_plain_imap_is_refused_for_a_remote_host() -> None:
    with pytest.raises(ConfigError, match=r"imap\.0: .*only allowed for a loopback host"):
        load_settings(None, environ=imap_section(name="city", host="imap.city.example", tls="plain", username="u"))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_plain_imap_is_allowed_on_loopback(host: str) -> None:
    settings = load_settings(None, environ=imap_section(name="city", host=host, tls="plain", username="u"))
    assert settings.imap[0].tls == "plain"


def test_xoauth2_needs_a_token_source() -> None:
    with pytest.raises(ConfigError, match="oauth2_token_command or oauth2_token_file"):
        load_settings(None, environ=imap_section(name="city", host="imap.example", username="u", auth="xoauth2"))


def test_idle_is_reissued_within_rfc_2177s_29_minutes() -> None:
    # RFC 2177: a server may log out a client idle for 30 minutes, so IDLE is re-issued before 29
    assert ImapAccountSettings(name="city", host="h", username="u").idle_renew_seconds < 29 * 60
    with pytest.raises(ConfigError, match=r"imap\.0\.idle_renew_seconds"):
        load_settings(None, environ=imap_section(name="city", host="h", username="u", idle_renew_seconds=1800.0))


def test_account_names_must_be_unique_and_plain() -> None:
    two = {"INBOX311__IMAP": '[{name="a", host="h", username="u"}, {name="a", host="g", username="v"}]'}
    with pytest.raises(ConfigError, match="its own name"):
        load_settings(None, environ=two)
    with pytest.raises(ConfigError, match=r"imap\.0\.name"):
        load_settings(None, environ=imap_section(name="city hall:1", host="h", username="u"))


# ---- OAuth2 tokens ----------------------------------------------------------------------------------------------


def xoauth2(**values: str) -> ImapAccountSettings:
    return ImapAccountSettings(name="city", host="imap.example", username="u", auth="xoauth2", **values)


def test_token_from_a_command_is_stripped() -> None:
    command = f"{sys.executable} -c \"print('  ya29.token  ')\""
    assert read_oauth2_token(xoauth2(oauth2_token_command=command)) == "ya29.token"


def test_token_command_failure_names_its_exit_code_and_last_error_line() -> None:
    command = f"{sys.executable} -c \"import sys; sys.stderr.write('refresh token expired\\n'); sys.exit(3)\""
    with pytest.raises(ImapAuthError, match="exited with 3: refresh token expired"):
        read_oauth2_token(xoauth2(oauth2_token_command=command))


def test_token_command_that_does_not_exist() -> None:
    with pytest.raises(ImapAuthError, match="could not run"):
        read_oauth2_token(xoauth2(oauth2_token_command="/nonexistent/get-token"))


def test_token_from_a_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("ya29.from-file\n")
    assert read_oauth2_token(xoauth2(oauth2_token_file=str(token))) == "ya29.from-file"
    token.write_text("\n")
    with pytest.raises(ImapAuthError, match="empty token"):
        read_oauth2_token(xoauth2(oauth2_token_file=str(token)))
    with pytest.raises(ImapAuthError, match="No such file"):
        read_oauth2_token(xoauth2(oauth2_token_file=str(tmp_path / "missing")))


# ---- logging in to the real server ------------------------------------------------------------------------------


async def test_check_over_plain_loopback(imap_port: int) -> None:
    ok, message = await check_imap_account(account(imap_port, "INBOX"))
    assert ok, message
    assert message.startswith(f"logged in to 127.0.0.1:{imap_port} as {USER} (plain, login); folder INBOX has ")
    assert "IDLE available" in message and "processed folder INBOX-done does not exist yet" in message


async def test_check_over_starttls_with_authenticate_plain(imap_port: int, imap_cafile: str) -> None:
    acct = account(imap_port, "INBOX", tls="starttls", auth="plain", ca_file=imap_cafile, processed_folder="")
    ok, message = await check_imap_account(acct)
    assert ok, message
    assert "(starttls, plain)" in message and "flagged \\Seen" in message


async def test_check_over_imaps(imaps_port: int, imap_cafile: str) -> None:
    ok, message = await check_imap_account(account(imaps_port, "INBOX", tls="ssl", ca_file=imap_cafile))
    assert ok, message
    assert "(ssl, login)" in message


async def test_imaps_with_an_untrusted_certificate_fails_clearly(imaps_port: int) -> None:
    ok, message = await check_imap_account(account(imaps_port, "INBOX", tls="ssl"))
    assert not ok
    assert message.startswith(f"cannot connect to 127.0.0.1:{imaps_port} (ssl): ")
    assert "CERTIFICATE_VERIFY_FAILED" in message


async def test_starttls_with_an_untrusted_certificate_fails_clearly(imap_port: int) -> None:
    ok, message = await check_imap_account(account(imap_port, "INBOX", tls="starttls"))
    assert not ok and "CERTIFICATE_VERIFY_FAILED" in message


async def test_nobody_listening() -> None:
    port = free_port()
    ok, message = await check_imap_account(account(port, "INBOX"))
    assert not ok and message == f"cannot connect to 127.0.0.1:{port} (plain): Connection refused"


async def test_xoauth2_on_a_server_without_it_is_an_auth_error(imap_port: int, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("secret")
    acct = account(imap_port, "INBOX", auth="xoauth2", oauth2_token_file=str(token))
    ok, message = await check_imap_account(acct)
    assert not ok and message.startswith(f"login failed for {USER} at 127.0.0.1:{imap_port} (xoauth2)")


async def test_password_from_a_file_logs_in_and_a_missing_file_is_named(imap_port: int, tmp_path: Path) -> None:
    secret = tmp_path / "imap-password"
    secret.write_text(PASSWORD + "\n")
    ok, message = await check_imap_account(account(imap_port, "INBOX", password="", password_file=str(secret)))
    assert ok, message
    ok, message = await check_imap_account(
        account(imap_port, "INBOX", password="", password_file=str(tmp_path / "missing"))
    )
    assert not ok and "password_file" in message and "No such file" in message


def test_password_and_password_file_together_are_refused() -> None:
    with pytest.raises(ValueError, match="password or password_file"):
        ImapAccountSettings(name="city", host="imap.example", username="u", password="p", password_file="/run/p")
