"""What a support message names: invoices, products, e-mail addresses, amounts and dates.

Patterns for what has a shape, the catalogue for what has a name:

- ``invoice``: a run of 6 or more digits, optionally after ``#`` or with the ``C`` of a
  cancellation (``536365``, ``#536365``, ``C536379``); the shop's invoices are 6 digits;
- ``product_code``: a stock code of the catalogue, 5 digits and optional letters (``85123A``);
- ``product``: a product of the catalogue named in the text, tolerant of typos: each message
  word is matched to the catalogue's words (exactly, else by ``difflib``'s ratio at least
  :data:`WORD_CUTOFF`, among words of about the same length), and a product is named when the
  matched words cover at least :data:`MIN_COVERAGE` of its name's words (two words at least,
  or its only word). ``rapidfuzz`` is not a dependency; ``difflib`` is the standard library's;
- ``email``, ``amount`` (``£12.50``, ``12 pounds``, ``EUR 5``) and ``date`` (ISO, ``3/12/2011``,
  ``3 March 2011``, ``March 3``, ``today``, ``yesterday``).

Every entity carries its span in the message (``start``, ``end``) as written.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

WORD_CUTOFF = 0.8
MIN_COVERAGE = 0.66
MAX_PRODUCTS = 3
_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
PATTERNS = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    "invoice": re.compile(r"(?<![\w@.])#?\s?([Cc]?\d{6,})(?![\w@])"),
    "amount": re.compile(
        r"(?:[£$€]\s?\d+(?:[.,]\d{1,2})?|\b(?:gbp|eur|usd)\s?\d+(?:[.,]\d{1,2})?"
        r"|\b\d+(?:[.,]\d{1,2})?\s?(?:pounds?|euros?|dollars?|gbp|eur|usd)\b)",
        re.IGNORECASE,
    ),
    "date": re.compile(
        r"\b(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}"
        rf"|\d{{1,2}}(?:st|nd|rd|th)?\s(?:{_MONTHS})(?:\s\d{{4}})?"
        rf"|(?:{_MONTHS})\s\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s\d{{4}})?"
        r"|today|yesterday|last week)\b",
        re.IGNORECASE,
    ),
    "product_code": re.compile(r"(?<![\w#])(\d{5}[A-Za-z]{0,2})(?![\w])"),
}
_WORD = re.compile(r"[a-z]+")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


#: Words that never name a product, whatever the catalogue holds.
_NOT_PRODUCT = _word_set(
    """about after again also and any are bill but can cancel card change check could did does
    for from get had has have hello help her his how invoice its just like made make may more
    much not now number order ordered please refund return sent set she some that the their
    them then there they this thank thanks track want was what when where which who why will
    with would you your"""
)


@dataclass(frozen=True)
class Entity:
    """One thing found in a message."""

    type: str
    value: str
    start: int
    end: int
    score: float = 1.0
    details: dict = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict:
        out = {"type": self.type, "value": self.value, "start": self.start, "end": self.end}
        if self.score != 1.0:
            out["score"] = round(self.score, 3)
        return {**out, **self.details}


class Catalogue:
    """The shop's products (stock code -> name), indexed for typo-tolerant name matching."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = {str(code).upper(): str(name).strip() for code, name in names.items() if name}
        self._words: dict[str, list[str]] = {}
        self._by_word: dict[str, set[str]] = {}
        for code, name in self.names.items():
            name_words = [w for w in _WORD.findall(name.lower()) if len(w) > 1]
            self._words[code] = name_words
            for word in name_words:
                self._by_word.setdefault(word, set()).add(code)
        self._by_length: dict[int, list[str]] = {}
        for word in self._by_word:
            self._by_length.setdefault(len(word), []).append(word)
        self.match_word = functools.lru_cache(maxsize=20_000)(self._match_word)

    def _match_word(self, word: str) -> tuple[str, float] | None:
        """The catalogue word ``word`` means (itself, or its closest spelling) and the ratio."""
        if word in self._by_word:
            return word, 1.0
        if len(word) < 4:
            return None
        near = [w for n in range(len(word) - 2, len(word) + 3) for w in self._by_length.get(n, ())]
        found = difflib.get_close_matches(word, near, n=1, cutoff=WORD_CUTOFF)
        if not found:
            return None
        return found[0], difflib.SequenceMatcher(None, word, found[0]).ratio()

    def find(self, text: str) -> list[Entity]:
        """Products named in ``text``, best first (see the module docstring)."""
        matched: dict[str, tuple[float, int, int]] = {}
        for m in re.finditer(r"[a-z]+", text.lower()):
            word = m.group(0)
            if len(word) < 3 or word in _NOT_PRODUCT:
                continue
            found = self.match_word(word)
            if found and (found[0] not in matched or matched[found[0]][0] < found[1]):
                matched[found[0]] = (found[1], m.start(), m.end())
        if not matched:
            return []
        candidates = set().union(*(self._by_word[w] for w in matched))
        numbers = set(re.findall(r"\b\d{1,3}\b", text))
        scored = []
        for code in candidates:
            name_words = self._words[code]
            hits = [w for w in dict.fromkeys(name_words) if w in matched]
            coverage = len(hits) / len(set(name_words))
            if coverage < MIN_COVERAGE or len(hits) < min(2, len(set(name_words))):
                continue
            quality = sum(matched[w][0] for w in hits) / len(hits)
            digits = set(re.findall(r"\b\d{1,3}\b", self.names[code]))
            bonus = 0.01 if digits and digits <= numbers else 0.0
            start = min(matched[w][1] for w in hits)
            end = max(matched[w][2] for w in hits)
            scored.append((coverage * quality + bonus, code, start, end))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [
            Entity(
                "product",
                code,
                start,
                end,
                min(score, 1.0),
                {"name": self.names[code], "text": text[start:end]},
            )
            for score, code, start, end in scored[:MAX_PRODUCTS]
        ]


def extract(text: str, catalogue: Catalogue | None = None) -> list[Entity]:
    """Every entity of ``text``, in order of appearance (e-mails first claim their characters,
    so the digits of an address are not an invoice)."""
    found: list[Entity] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    for kind in ("email", "amount", "date", "invoice", "product_code"):
        for m in PATTERNS[kind].finditer(text):
            group = 1 if m.re.groups else 0
            start, end = m.span(group)
            if not free(m.start(), m.end()):
                continue
            value = m.group(group).strip()
            if kind == "invoice":
                value = value.upper()
            elif kind == "product_code":
                value = value.upper()
                if catalogue is None or value not in catalogue.names:
                    continue
            elif kind == "email":
                value = value.lower()
            details = {"name": catalogue.names[value]} if kind == "product_code" else {}
            found.append(Entity(kind, value, start, end, details=details))
            taken.append((m.start(), m.end()))
    if catalogue is not None:
        found += [e for e in catalogue.find(text) if free(e.start, e.end)]
    return sorted(found, key=lambda e: (e.start, e.type))
