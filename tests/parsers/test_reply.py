"""Reply stripping measured on every third-party reply fixture that comes with an expected reply.

Sets: talon (client .eml files and HTML replies, plus the inline cases of its quotation tests), GitHub's
email_reply_parser (`visible_text`), and mail-parser-reply (the `equals` checks on the newest reply's body).
Known, deliberate disagreements (kept in the count, never skipped): talon keeps "Sent from my iPhone" and a
Sparrow "-- " signature in the reply, where we remove signatures; mail-parser-reply keeps a trailing
"------------------------------" rule that GitHub's parser (and we) drop.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest

from parsers.body import html_to_text
from parsers.email import parse_email
from parsers.reply import strip_reply
from tests.parsers.email_fixtures import EMAIL, load_expected, read_bytes, wrap_body

REQUIRED_SHARE = 0.90


@dataclass(frozen=True)
class Case:
    set_name: str
    name: str
    expected: str
    got: str
    ignore_all_whitespace: bool = False

    @property
    def matches(self) -> bool:
        if self.ignore_all_whitespace:
            return re.sub(r"\s", "", self.got) == re.sub(r"\s", "", self.expected)
        return " ".join(self.got.split()) == " ".join(self.expected.split())


def _text_file(folder: str, relative: str) -> str:
    return (EMAIL / folder / relative).read_text(encoding="utf-8")


def _all_cases() -> list[Case]:
    cases: list[Case] = []
    for item in load_expected("talon")["expectations"]:
        if item["file"].endswith(".eml"):
            got = parse_email(read_bytes("talon", item["file"])).body_new
            cases.append(Case("talon", item["file"], item["expected_reply"], got))
        else:
            html = (EMAIL / "talon" / item["file"]).read_text(encoding="utf-8", errors="replace")
            got = strip_reply(html_to_text(html))
            cases.append(Case("talon", item["file"], item["expected_reply"], got, ignore_all_whitespace=True))
    for item in load_expected("talon", "quotations_inline.json")["cases"]:
        got = parse_email(wrap_body(item["body"])).body_new
        cases.append(Case("talon-inline", item["test"], item["expected"], got))
    for item in load_expected("github_email_reply_parser")["expectations"]:
        if "visible_text" in item:
            got = parse_email(wrap_body(_text_file("github_email_reply_parser", item["file"]))).body_new
            cases.append(Case("github", item["file"], item["visible_text"], got))
    for case in load_expected("mail_parser_reply")["cases"]:
        for check in case["checks"]:
            if check.get("reply") == 0 and check.get("field") == "body" and check.get("op") == "equals":
                got = parse_email(wrap_body(_text_file("mail_parser_reply", case["file"]))).body_new
                cases.append(Case("mail-parser-reply", f"{case['test']} ({case['file']})", check["value"], got))
    return cases


def test_reply_stripping_matches_at_least_90_percent_of_expected_replies() -> None:
    cases = _all_cases()
    by_set: dict[str, list[Case]] = {}
    for case in cases:
        by_set.setdefault(case.set_name, []).append(case)
    print()
    for set_name, items in by_set.items():
        hits = sum(case.matches for case in items)
        print(f"reply stripping {set_name:18} {hits:3}/{len(items):3} = {hits / len(items):6.1%}")
    for case in cases:
        if not case.matches:
            print(f"  differs: {case.set_name} {case.name}: expected {case.expected!r}, got {case.got[:120]!r}")
    total = sum(case.matches for case in cases)
    print(f"reply stripping {'ALL':18} {total:3}/{len(cases):3} = {total / len(cases):6.1%}")
    assert len(cases) >= 80  # every fixture with an expected reply was read
    assert total / len(cases) >= REQUIRED_SHARE


@pytest.mark.parametrize(
    ("file", "starts_with"),
    [
        ("emails/email_1_2.txt", "Hi,"),
        ("emails/email_1_3.txt", "Oh thanks.\n\nHaving"),
        ("emails/greedy_on.txt", "On your remote host"),
    ],
)
def test_github_fixtures_keep_the_reply_start(file: str, starts_with: str) -> None:
    got = strip_reply(_text_file("github_email_reply_parser", file))
    assert got.startswith(starts_with)


def test_signature_and_inline_rules_from_the_github_fixtures() -> None:
    assert strip_reply(_text_file("github_email_reply_parser", "emails/correct_sig.txt")).endswith("signature.")
    middle = strip_reply(_text_file("github_email_reply_parser", "emails/email_sig_delimiter_in_middle_of_line.txt"))
    assert "this is not a signature" in middle and middle.endswith("kthxbai")
    inline = strip_reply(_text_file("github_email_reply_parser", "emails/email_1_8.txt"))
    assert "Hey there, this is my signature" not in inline and "and under this." in inline
    assert "One outstanding question" in strip_reply(
        _text_file("github_email_reply_parser", "emails/email_one_is_not_on.txt")
    )


@pytest.mark.parametrize("file", ["emails/email_long_quote.txt", "emails/pathological.txt"])
def test_huge_and_pathological_bodies_stay_fast(file: str) -> None:
    text = _text_file("github_email_reply_parser", file)
    started = time.perf_counter()
    strip_reply(text, "en")
    # Not a speed test: catastrophic regex backtracking would take minutes; normal runs take milliseconds.
    assert time.perf_counter() - started < 5.0


# Quote headers as the common clients write them in the languages the issue names; the reply is always "Hola".
QUOTE_HEADERS = {
    "en-gmail": "On Mon, Jan 5, 2026 at 10:00 AM Ana Ruiz <ana@example.org> wrote:\n\n> Old text",
    "en-outlook": "________________________________\nFrom: Ana Ruiz <ana@example.org>\nSent: Monday, January 5, 2026 "
    "10:00 AM\nTo: Reports <reports@city.example>\nSubject: Pothole\n\nOld text",
    "en-original": "-----Original Message-----\nFrom: Ana\nSent: Monday\n\nOld text",
    "es-gmail": "El lun, 5 ene 2026 a las 10:00, Ana Ruiz (<ana@example.org>) escribió:\n\n> Texto anterior",
    "es-outlook": "De: Ana Ruiz <ana@example.org>\nEnviado: lunes, 5 de enero de 2026 10:00\nPara: Reportes\n"
    "Asunto: Bache\n\nTexto anterior",
    "fr-gmail": "Le lun. 5 janv. 2026 à 10:00, Ana Ruiz <ana@example.org> a écrit :\n\n> Ancien texte",
    "fr-outlook": "De : Ana Ruiz <ana@example.org>\nEnvoyé : lundi 5 janvier 2026 10:00\nÀ : Signalements\n"
    "Objet : Nid de poule\n\nAncien texte",
    "de-gmail": "Am Mo., 5. Jan. 2026 um 10:00 Uhr schrieb Ana Ruiz <ana@example.org>:\n\n> Alter Text",
    "de-outlook": "Von: Ana Ruiz <ana@example.org>\nGesendet: Montag, 5. Januar 2026 10:00\nAn: Meldungen\n"
    "Betreff: Schlagloch\n\nAlter Text",
    "pt-apple": "Em 5 de jan. de 2026, às 10:00, Ana Ruiz <ana@example.org> escreveu:\n\n> Texto antigo",
    "pt-outlook": "De: Ana Ruiz <ana@example.org>\nEnviado: segunda-feira, 5 de janeiro de 2026 10:00\n"
    "Para: Ocorrências\nAssunto: Buraco\n\nTexto antigo",
    "pt-original": "-----Mensagem original-----\nDe: Ana\n\nTexto antigo",
    "zh-gmail": "Ana Ruiz <ana@example.org> 于2026年1月5日周一 10:00写道：\n\n> 旧的内容",
    "zh-outlook": "发件人: Ana Ruiz <ana@example.org>\n发送时间: 2026年1月5日 10:00\n收件人: 报告\n"
    "主题: 坑洼\n\n旧的内容",
    "mobile": "Sent from my iPhone\n\nOn Jan 5, 2026, at 10:00, Ana <ana@example.org> wrote:\n\n> Old",
    "mobile-es": "Enviado desde mi iPhone",
    "mobile-de": "Von meinem iPhone gesendet",
    "mobile-pt": "Enviado do meu iPhone",
    "mobile-zh": "发自我的iPhone",
    "sig-dash": "-- \nAna Ruiz\n555-0100",
}


@pytest.mark.parametrize("name", sorted(QUOTE_HEADERS))
def test_quote_headers_and_signatures_in_every_language(name: str) -> None:
    assert strip_reply(f"Hola\n\n{QUOTE_HEADERS[name]}\n") == "Hola"


def test_bottom_posted_reply_and_forward_are_kept() -> None:
    bottom = "On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi\nHello, the light is still out"
    assert strip_reply(bottom) == "Hello, the light is still out"
    forward = "FYI\n\n---------- Forwarded message ---------\nFrom: Ana <ana@example.org>\nSubject: Pothole\n\nBig hole"
    assert strip_reply(forward) == forward
    parsed = parse_email(wrap_body("See below\n\nFrom: Ana <ana@example.org>\nSent: Monday\n\nBig hole", "Fwd: hole"))
    assert "Big hole" in parsed.body_new  # a forward's history is the report itself


def test_running_text_mentioning_wrote_is_not_cut() -> None:
    text = "My neighbour wrote:\nthe pothole is getting bigger every day"
    assert strip_reply(text) == text
