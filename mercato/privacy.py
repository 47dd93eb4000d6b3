"""The privacy ground every layer shares: pseudonyms, the suppression list and the erasure log.

Why it exists: a customer may ask to be forgotten (GDPR article 17). ``mercato forget`` removes
them from every place the data home keeps them, but the id must stay *recognisable* afterwards,
or a redelivered batch would bring them back; and logs and run summaries should not carry raw
ids at all. Both needs are met by one keyed hash (HMAC-SHA256 with a key kept in the data home,
``privacy/key``, made once on first use), so:

- ``pseudonym(home, id)`` is what logs and run summaries show instead of an id;
- the suppression list (``privacy/suppressed.txt``) holds the pseudonyms of forgotten customers,
  never their ids, and ingest drops every line whose customer's pseudonym is on it;
- the erasure log (``privacy/erasures.jsonl``) records per place the batch, table or file, the
  number of lines removed and the time, and no personal data at all (not even the pseudonym: a
  log line says *what* was rewritten, the suppression list says *who* stays out).

Without the key a pseudonym cannot be reversed or recomputed from a guessed id; delete the key
and every pseudonym in the home becomes unlinkable (new ones start afresh). Standard library
only, so every layer can use it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mercato.names import customer_id_text

PRIVACY_DIR = "privacy"
KEY_FILE = "key"
SUPPRESSION_FILE = "suppressed.txt"
ERASURE_LOG = "erasures.jsonl"
#: Shown instead of an id in a pseudonym: ``cust-`` and 16 hex digits of the keyed hash.
PSEUDONYM_PREFIX = "cust-"

_NOT_ALNUM = re.compile(r"[^a-z0-9]")
#: Column (or JSON key) names that hold a customer id, compared without case, ``_`` or spaces:
#: ``CustomerID``, ``customer_id``, ``Customer ID``, ``customer_id_text``, ``customer``, and the
#: ratings source's ``user_id`` / ``userId`` (a rating's user is a customer of the shop).
CUSTOMER_COLUMN_NAMES = frozenset({"customerid", "customeridtext", "customer", "userid"})


def is_customer_column(name: Any) -> bool:
    """Whether a column or key called ``name`` holds customer ids (``CUSTOMER_COLUMN_NAMES``)."""
    return _NOT_ALNUM.sub("", str(name).lower()) in CUSTOMER_COLUMN_NAMES


def privacy_dir(home: Path) -> Path:
    return Path(home) / PRIVACY_DIR


def home_key(home: Path) -> bytes:
    """The data home's pseudonym key, made (32 random bytes, owner-only file) on first use."""
    path = privacy_dir(home) / KEY_FILE
    if path.is_file():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key.hex().encode())
    finally:
        os.close(fd)
    return key


class Pseudonymizer:
    """Keyed hashes of customer ids for one data home (the key is read once)."""

    def __init__(self, home: Path) -> None:
        self._key = home_key(home)

    def __call__(self, customer_id: Any) -> str | None:
        """``cust-<16 hex>`` for an id in any of its written forms; None for an empty id."""
        text = customer_id_text(customer_id)
        if text is None:
            return None
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest[:16]


def pseudonym(home: Path, customer_id: Any) -> str | None:
    """The pseudonym of one customer id in ``home`` (see :class:`Pseudonymizer`)."""
    return Pseudonymizer(home)(customer_id)


def scrub(value: Any, pseudo: Pseudonymizer) -> Any:
    """``value`` (a JSON-like structure) with every customer-id entry replaced by its pseudonym.

    Used on run summaries before they are written: a key that names a customer id (see
    :func:`is_customer_column`, plus plural ``customer_ids``) has its value, or each value of a
    list, pseudonymised; everything else is kept.
    """
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if is_customer_column(key) and not isinstance(item, Mapping | list | tuple):
                out[key] = pseudo(item)
            elif _NOT_ALNUM.sub("", str(key).lower()) == "customerids" and isinstance(
                item, list | tuple
            ):
                out[key] = [pseudo(v) for v in item]
            else:
                out[key] = scrub(item, pseudo)
        return out
    if isinstance(value, list | tuple):
        return [scrub(v, pseudo) for v in value]
    return value


# -- suppression list -----------------------------------------------------------------------------


def suppression_path(home: Path) -> Path:
    return privacy_dir(home) / SUPPRESSION_FILE


def suppressed(home: Path) -> frozenset[str]:
    """Pseudonyms of every forgotten customer of ``home`` (empty when nobody was forgotten)."""
    path = suppression_path(home)
    if not path.is_file():
        return frozenset()
    return frozenset(line.strip() for line in path.read_text().splitlines() if line.strip())


def suppress(home: Path, pseudonyms: Iterable[str]) -> int:
    """Add pseudonyms to the suppression list; returns how many were new."""
    current = suppressed(home)
    new = sorted(set(pseudonyms) - current)
    if new:
        path = privacy_dir(home) / SUPPRESSION_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as out:
            out.writelines(f"{p}\n" for p in new)
    return len(new)


# -- erasure log ----------------------------------------------------------------------------------


def log_erasure(home: Path, entries: Iterable[Mapping[str, Any]]) -> Path:
    """Append one line per place to ``privacy/erasures.jsonl``, each stamped with the time.

    An entry names the place (``kind``: table, file, archive, online_store, service...) and
    ``where`` (a table name or a path relative to the home) and ``lines`` removed; callers must
    not put ids in it.
    """
    path = privacy_dir(home) / ERASURE_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    with path.open("a") as out:
        for entry in entries:
            out.write(json.dumps({"at": at, **entry}, sort_keys=True, default=str) + "\n")
    return path
