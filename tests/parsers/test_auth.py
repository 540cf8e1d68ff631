"""SPF/DKIM/DMARC verdicts from Authentication-Results, trusting only the nearest or a named MTA."""

from __future__ import annotations

from parsers.auth import parse_authentication_results
from parsers.email import parse_email
from parsers.types import AuthVerdicts

GMAIL = (
    "mx.google.com; dkim=pass header.i=@example.org header.s=s1 header.b=abc; spf=pass (google.com: domain of "
    "jane@example.org designates 192.0.2.1 as permitted sender) smtp.mailfrom=jane@example.org; dmarc=pass (p=NONE "
    "sp=NONE dis=NONE) header.from=example.org"
)


def test_a_typical_header() -> None:
    assert parse_authentication_results([GMAIL]) == AuthVerdicts(spf="pass", dkim="pass", dmarc="pass")


def test_failures_and_the_best_of_several_dkim_signatures() -> None:
    value = "mx.city.example; spf=softfail smtp.mailfrom=x; dkim=fail header.d=a; dkim=pass header.d=b; dmarc=fail"
    assert parse_authentication_results([value]) == AuthVerdicts(spf="softfail", dkim="pass", dmarc="fail")


def test_only_trusted_authserv_ids_count() -> None:
    forged = "mx.city.example; spf=pass; dkim=pass; dmarc=pass"
    real = "mx.city.example.net; spf=fail; dmarc=fail"
    verdicts = parse_authentication_results([forged, real], trusted_authserv_ids=["mx.city.example.net"])
    assert verdicts == AuthVerdicts(spf="fail", dkim=None, dmarc="fail")
    assert parse_authentication_results([forged], trusted_authserv_ids=["other.example"]) is None


def test_received_spf_fills_in_and_garbage_is_permerror() -> None:
    assert parse_authentication_results([], ["Pass (mailfrom) identity=mailfrom;"]) == AuthVerdicts(spf="pass")
    assert parse_authentication_results(["mx; dkim=bogus"]) == AuthVerdicts(dkim="permerror")
    assert parse_authentication_results([]) is None


def test_verdicts_reach_the_parsed_message() -> None:
    raw = (
        f"Authentication-Results: {GMAIL}\r\nFrom: jane@example.org\r\nTo: reports@city.example\r\n"
        "Subject: Pothole\r\n\r\nHole.\r\n"
    ).encode()
    assert parse_email(raw).auth == AuthVerdicts(spf="pass", dkim="pass", dmarc="pass")
    assert parse_email(raw, trusted_authserv_ids=["mx.city.example"]).auth is None
