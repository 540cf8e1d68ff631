"""Phone numbers in E.164 (`+17735550100`), the one form a phone contact is stored and matched under.

Channel prefixes such as Twilio's `whatsapp:+31612345678` are split off: the number is the person, the prefix is only
how they reached us.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

# Prefixes Twilio puts before an address on its non-SMS channels (Messaging "channel addresses").
CHANNEL_PREFIXES = ("whatsapp", "messenger", "rcs")


@dataclass(frozen=True, slots=True)
class PhoneAddress:
    """An address as a provider wrote it: the E.164 number (None when it is not a phone number) and its prefix."""

    raw: str
    e164: str | None
    channel_prefix: str | None = None  # "whatsapp" for `whatsapp:+31...`

    @property
    def reply_address(self) -> str:
        """The address an answer goes to on the same channel (`whatsapp:+31...` stays on WhatsApp)."""
        number = self.e164 or self.raw
        return f"{self.channel_prefix}:{number}" if self.channel_prefix and self.e164 else number


def normalise_phone(text: str, *, default_region: str | None = "US") -> str | None:
    """`(773) 555-0100` -> `+17735550100`; None when `text` cannot be a phone number.

    "Possible" rather than "valid" numbers are accepted: carriers' test ranges (555-01xx) and newly allocated blocks
    are real senders even when the metadata does not know them yet.
    """
    candidate = text.strip()
    if not candidate or len(candidate) > 40:
        return None
    region = None if candidate.startswith("+") else default_region
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_phone_address(text: str, *, default_region: str | None = "US") -> PhoneAddress:
    """Split a provider address into channel prefix and E.164 number (short codes and sender ids stay raw)."""
    raw = text.strip()
    prefix, sep, rest = raw.partition(":")
    if sep and prefix.lower() in CHANNEL_PREFIXES:
        return PhoneAddress(
            raw=raw, e164=normalise_phone(rest, default_region=default_region), channel_prefix=prefix.lower()
        )
    return PhoneAddress(raw=raw, e164=normalise_phone(raw, default_region=default_region))
