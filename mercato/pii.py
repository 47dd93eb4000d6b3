"""Masking of personal data in free text, before any layer stores it.

Why it exists: reviews, support messages and conversation logs are written by customers, who
paste their e-mail address, phone number or card number into them. Mercato keeps the text for
models and for people to read, but never those three; every source or log that stores free text
calls ``mask_free_text`` first. Standard library only, so every layer can use it.

The patterns are deliberately wide (a false mask costs a few characters of a review; a missed card
number is a breach), with two limits that keep shop data readable: a run of digits counts as a
phone number only from 9 digits on (11 when it has no +, space, dot, dash or bracket), so invoice
and order numbers (``536365``, ``3707955617``), product codes, amounts and dates survive; and
a 13-19 digit run is masked as a card whether or not its Luhn check holds.
"""

from __future__ import annotations

import re

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
CARD_MASK = "[card]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
#: 13-19 digits, optionally grouped by single spaces or dashes (4-4-4-4, 4-6-5, ...).
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
#: An optional +country code, then digits with spaces, dots, dashes or brackets between them.
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d ().-]{7,}\d(?![\d])")
_MIN_PHONE_DIGITS = 9
#: an unbroken run of digits is a phone number only from 11 digits on (``07700900123``), so a
#: ten-digit order number (``3707955617``) is kept
_MIN_BARE_PHONE_DIGITS = 11


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    least = _MIN_BARE_PHONE_DIGITS if found.isdigit() else _MIN_PHONE_DIGITS
    return PHONE_MASK if digits >= least else found


def mask_free_text(text: str) -> str:
    """``text`` with e-mail addresses, card-like numbers and phone numbers replaced by masks.

    Cards are masked before phones, so a card number is never reported as a phone number.
    """
    if not text:
        return text
    masked = _EMAIL.sub(EMAIL_MASK, text)
    masked = _CARD.sub(CARD_MASK, masked)
    return _PHONE.sub(_phone, masked)
