"""The blocking folder steps against the real Dovecot: UID search above a checkpoint, BODY.PEEK[] fetches, the
COPY + \\Deleted + EXPUNGE fallback for servers without MOVE, and the IDLE wait."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest
from imapclient import IMAPClient

from gateway.ingest.imap_folder import fetch_raw, mark_processed, search_new_uids, select_folder, wait_in_idle
from tests.imap_server import Mailbox, report_bytes


@pytest.fixture
def mailbox(imap_port: int) -> Iterator[Mailbox]:
    box = Mailbox(imap_port).create()
    yield box
    box.remove()


@pytest.fixture
def client(mailbox: Mailbox) -> Iterator[IMAPClient]:
    c = mailbox.client()
    yield c
    c.logout()


def test_select_reports_the_folder_and_creates_the_processed_folder(mailbox: Mailbox, client: IMAPClient) -> None:
    mailbox.append([report_bytes(1), report_bytes(2)])
    status = select_folder(client, mailbox.folder, mailbox.done)
    assert status.uidvalidity == mailbox.uidvalidity() and status.exists == 2
    assert status.idle and status.move and status.uidplus  # what Dovecot offers
    assert client.folder_exists(mailbox.done)


def test_search_returns_only_uids_above_the_checkpoint(mailbox: Mailbox, client: IMAPClient) -> None:
    mailbox.append([report_bytes(n) for n in range(3)])
    select_folder(client, mailbox.folder, "")
    assert search_new_uids(client, 0) == [1, 2, 3]
    assert search_new_uids(client, 2) == [3]
    # "UID 4:*" matches UID 3 on the server (RFC 3501: * is the highest UID); nothing is new here
    assert client.search(["UID", "4:*"]) == [3]
    assert search_new_uids(client, 3) == []


def test_fetch_returns_the_exact_bytes_and_leaves_seen_alone(mailbox: Mailbox, client: IMAPClient) -> None:
    sent = report_bytes(1, body="Ünïcode body, 8-bit as sent.\n")
    mailbox.append([sent])
    select_folder(client, mailbox.folder, "")
    fetched = fetch_raw(client, [1])
    assert fetched[1].replace(b"\r\n", b"\n") == sent.replace(b"\r\n", b"\n")
    assert mailbox.flags() == {1: ()}  # not \Seen: nothing is marked before it is stored


@pytest.mark.parametrize("uidplus", [True, False])
def test_copy_delete_expunge_when_the_server_has_no_move(mailbox: Mailbox, client: IMAPClient, uidplus: bool) -> None:
    mailbox.append([report_bytes(n) for n in range(4)])
    status = select_folder(client, mailbox.folder, mailbox.done)
    without_move = dataclasses.replace(status, move=False, uidplus=uidplus)
    mark_processed(client, [1, 3], mailbox.done, without_move)
    assert mailbox.uids() == [2, 4]
    assert mailbox.count(mailbox.done) == 2
    assert all(b"\\Deleted" not in f for f in mailbox.flags().values())


def test_flag_seen_without_a_processed_folder(mailbox: Mailbox, client: IMAPClient) -> None:
    mailbox.append([report_bytes(n) for n in range(2)])
    status = select_folder(client, mailbox.folder, "")
    mark_processed(client, [2], "", status)
    flags = mailbox.flags()
    assert b"\\Seen" not in flags[1] and b"\\Seen" in flags[2]


def test_idle_wakes_for_new_mail(mailbox: Mailbox, client: IMAPClient) -> None:
    select_folder(client, mailbox.folder, "")
    idling = threading.Event()
    threading.Timer(0.3, lambda: idling.wait(5) and mailbox.append([report_bytes(1)])).start()
    started = time.monotonic()
    assert wait_in_idle(client, stop=threading.Event(), renew_after=30, on_idle=idling.set) == "new-mail"
    assert time.monotonic() - started < 3
    assert search_new_uids(client, 0) == [1]  # the connection is usable after DONE


def test_mail_that_arrives_just_before_idle_is_not_missed(mailbox: Mailbox, client: IMAPClient) -> None:
    select_folder(client, mailbox.folder, "")
    assert search_new_uids(client, 0) == []
    mailbox.append([report_bytes(1)])  # between our last look and IDLE
    started = time.monotonic()
    assert wait_in_idle(client, stop=threading.Event(), renew_after=30) == "new-mail"
    assert time.monotonic() - started < 3


def test_idle_stops_promptly_and_renews(mailbox: Mailbox, client: IMAPClient) -> None:
    select_folder(client, mailbox.folder, "")
    assert wait_in_idle(client, stop=threading.Event(), renew_after=0.3) == "renew"
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert wait_in_idle(client, stop=stop, renew_after=30) == "stop"
    assert time.monotonic() - started < 1.5
