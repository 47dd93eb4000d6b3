"""Free-text masking: the three kinds of personal data go, shop data stays."""

import pytest

from mercato.pii import CARD_MASK, EMAIL_MASK, PHONE_MASK, mask_free_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+shop@example.co.uk please", f"write to {EMAIL_MASK} please"),
        ("card 4111 1111 1111 1111 was charged", f"card {CARD_MASK} was charged"),
        ("card 4111-1111-1111-1111.", f"card {CARD_MASK}."),
        ("number 378282246310005 (amex)", f"number {CARD_MASK} (amex)"),
        ("call +44 20 7946 0958 today", f"call {PHONE_MASK} today"),
        ("call (555) 123-4567 or 07700 900123", f"call {PHONE_MASK} or {PHONE_MASK}"),
        ("mobile 07700900123", f"mobile {PHONE_MASK}"),
    ],
)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask_free_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "invoice 536365 for 12 items at 2.55 each",
        "product 85123A arrived on 2026-11-28, order C536379",
        "I paid 1,234.56 for 3 of them; size 10-12",
        "cancel purchase 3707955617",
        "",
    ],
)
def test_shop_data_is_kept(text: str) -> None:
    assert mask_free_text(text) == text
