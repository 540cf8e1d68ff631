"""The outbox's direct email writer: what a mail client reads back is what the payload said."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from gateway.outbox.email_render import envelope, render_email

UNSUBSCRIBE = "<https://city.example/unsubscribe/" + "x" * 120 + ">, <mailto:unsubscribe+abc@city.example>"


def _payload(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "from": "City 311 <reports@city.example>",
        "to": "resident@mail.example",
        "subject": "Re: Pothole on Main St [SR-2026-000042]",
        "text": "Thank you.\nYour tracking number is SR-2026-000042.\n.\nA line with = and trailing space \n",
        "headers": {
            "Message-ID": "<sr-2026-000042.ack.1@city.example>",
            "In-Reply-To": "<abc@mail.example>",
            "References": " ".join(f"<ref{n}-{'y' * 40}@mail.example>" for n in range(20)),
            "Auto-Submitted": "auto-replied",
            "List-Unsubscribe": UNSUBSCRIBE,
        },
    }
    payload.update(changes)
    return payload


def _read(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_headers_and_body_read_back_exactly() -> None:
    data = render_email(_payload(), date="Mon, 23 Nov 2026 10:00:00 -0000")
    assert data is not None
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    message = _read(data)
    assert message["From"] == "City 311 <reports@city.example>"
    assert message["Subject"] == "Re: Pothole on Main St [SR-2026-000042]"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["References"].split() == [f"<ref{n}-{'y' * 40}@mail.example>" for n in range(20)]
    assert message.get_content().replace("\r\n", "\n") == _payload()["text"]  # CRLF on the wire
    assert f"List-Unsubscribe: {UNSUBSCRIBE}\r\n".encode() in data  # one line, never folded or encoded
    assert b"Content-Transfer-Encoding: 7bit" in data  # plain ASCII: a link in the body reads whole in raw mail


def test_words_outside_ascii_are_encoded_and_decode_back() -> None:
    payload = _payload(
        subject="Re: Bache en la calle Año Nuevo [SR-2026-000042]",
        text="Gracias. Número de seguimiento: SR-2026-000042 — ¡hasta pronto!\n",
        **{"from": "Ciudad Añasco 311 <reports@city.example>"},
    )
    data = render_email(payload, date="Mon, 23 Nov 2026 10:00:00 -0000")
    assert data is not None and data.isascii()
    assert b"Content-Transfer-Encoding: quoted-printable" in data
    message = _read(data)
    assert message["Subject"] == "Re: Bache en la calle Año Nuevo [SR-2026-000042]"
    assert message["From"].addresses[0].display_name == "Ciudad Añasco 311"
    assert message.get_content().replace("\r\n", "\n") == payload["text"]


def test_a_stored_value_cannot_add_headers() -> None:
    data = render_email(_payload(subject="Hello\r\nBcc: victim@mail.example"), date="x")
    assert data is not None
    assert _read(data)["Bcc"] is None


def test_an_address_outside_ascii_is_left_to_the_general_path() -> None:
    assert render_email(_payload(to="josé@correo.example"), date="x") is None


def test_envelope_comes_from_the_address_fields() -> None:
    assert envelope(_payload(to="Ann <ann@mail.example>")) == ("reports@city.example", ["ann@mail.example"])
