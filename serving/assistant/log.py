"""The assistant's conversation log and hand-over tickets, as CSV files in the data home.

``<home>/assistant/conversations.csv`` has one row per turn, ``tickets.csv`` one row per
hand-over, each with the ``customer_id`` (empty for a guest) so a request to forget a customer
finds their rows like any other table's. The serving process must not write the DuckDB
warehouse (it has one writer, the pipeline), so these are plain files the pipeline or a person
can load; a ticket names its conversation and carries the message that opened it. Messages and
replies are stored through ``mercato.pii.mask_free_text``: e-mail addresses, card-like and
phone numbers never reach the disk.
"""

from __future__ import annotations

import csv
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mercato.pii import mask_free_text

CONVERSATION_COLUMNS = (
    "conversation_id",
    "turn_at",
    "customer_id",
    "message",
    "reply",
    "intent",
    "probability",
    "handed_over",
    "ticket_id",
    "sources",
)
TICKET_COLUMNS = (
    "ticket_id",
    "opened_at",
    "conversation_id",
    "customer_id",
    "reason",
    "intent",
    "message",
    "status",
)


class ConversationLog:
    """Appends turns and tickets (one lock per process: the service has one worker)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.conversations = self.folder / "conversations.csv"
        self.tickets = self.folder / "tickets.csv"
        self._lock = threading.Lock()

    def _append(self, path: Path, columns: tuple[str, ...], row: dict[str, Any]) -> None:
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            new = not path.exists()
            with path.open("a", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
                if new:
                    writer.writeheader()
                writer.writerow({c: row.get(c, "") for c in columns})

    def turn(
        self,
        conversation_id: str,
        customer_id: str | None,
        message: str,
        reply: str,
        intent: str,
        probability: float,
        ticket_id: str | None,
        sources: list[dict[str, Any]],
    ) -> None:
        self._append(
            self.conversations,
            CONVERSATION_COLUMNS,
            {
                "conversation_id": conversation_id,
                "turn_at": _now(),
                "customer_id": customer_id or "",
                "message": mask_free_text(message),
                "reply": mask_free_text(reply),
                "intent": intent,
                "probability": f"{probability:.4f}",
                "handed_over": "true" if ticket_id else "false",
                "ticket_id": ticket_id or "",
                "sources": json.dumps(sources, separators=(",", ":")),
            },
        )

    def ticket(
        self,
        ticket_id: str,
        conversation_id: str,
        customer_id: str | None,
        reason: str,
        intent: str,
        message: str,
    ) -> None:
        self._append(
            self.tickets,
            TICKET_COLUMNS,
            {
                "ticket_id": ticket_id,
                "opened_at": _now(),
                "conversation_id": conversation_id,
                "customer_id": customer_id or "",
                "reason": reason,
                "intent": intent,
                "message": mask_free_text(message),
                "status": "open",
            },
        )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
