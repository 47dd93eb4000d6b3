"""The orders and the catalogue the assistant answers from, read from the warehouse.

Read through ``warehouse.reader`` (read-only, so the pipeline can keep writing) from the marts
``fct_order_lines`` and ``dim_products`` into arrays grouped by invoice and by customer, so a
question costs a dictionary look-up instead of a DuckDB connection (opening one is several
milliseconds, most of the answer's budget). "Live": the snapshot is reloaded, in a background
thread while the old one keeps answering, when the warehouse file changed (looked at no more
than every :data:`CHECK_SECONDS`).

**Status of an order.** The marts hold what was ordered and what was cancelled, not shipments:
a ``C`` invoice is a cancellation; an order whose every line was later cancelled by the same
customer is ``cancelled``; otherwise the status is estimated from the days since the order, on
the warehouse's clock (its latest order, which is today on live data): ``processing`` before
:data:`DISPATCH_DAYS`, ``dispatched`` before :data:`DELIVERY_DAYS`, else ``delivered``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mercato.names import customer_id_text
from mercato.settings import Settings

logger = logging.getLogger("mercato.serving")

CHECK_SECONDS = 5.0
DISPATCH_DAYS = 1
DELIVERY_DAYS = 4
RECENT_ORDERS = 3

ORDER_LINES_SQL = """
select
    lines.invoice_no, lines.stock_code, lines.customer_id, lines.quantity, lines.unit_price,
    lines.line_amount, lines.ordered_at, lines.is_cancellation, products.description
from main.fct_order_lines as lines
left join main.dim_products as products on lines.stock_code = products.stock_code
order by lines.invoice_no, lines.stock_code
"""
CATALOGUE_SQL = "select stock_code, description from main.dim_products"


@dataclass(frozen=True)
class Snapshot:
    """One read of the order lines, grouped by invoice and by customer.

    ``lines`` holds one array per column (NumPy, in invoice order): a request slices them,
    which costs microseconds where a DataFrame's ``iloc`` costs a hundred.
    """

    lines: dict[str, np.ndarray]
    by_invoice: dict[str, tuple[int, int]]
    by_customer: dict[str, list[str]]
    invoice_customer: dict[str, str | None]
    invoice_time: dict[str, pd.Timestamp]
    catalogue: dict[str, str]
    clock: pd.Timestamp | None
    loaded_at: float

    @classmethod
    def empty(cls) -> Snapshot:
        return cls({}, {}, {}, {}, {}, {}, None, time.time())

    @classmethod
    def read(cls, settings: Settings) -> Snapshot:
        from warehouse import reader

        lines = reader.query_if_built(settings, ORDER_LINES_SQL)
        products = reader.query_if_built(settings, CATALOGUE_SQL)
        if lines is None or products is None:
            return cls.empty()
        lines = lines.reset_index(drop=True)
        lines["invoice_no"] = lines["invoice_no"].astype(str).str.upper()
        lines["customer_id"] = [customer_id_text(c) for c in lines["customer_id"]]
        invoice = lines["invoice_no"].to_numpy()
        edges = np.flatnonzero(np.r_[True, invoice[1:] != invoice[:-1], True])
        by_invoice = {
            str(invoice[a]): (int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)
        }
        heads = lines.iloc[edges[:-1]]
        invoice_customer = dict(zip(heads["invoice_no"], heads["customer_id"], strict=True))
        invoice_time = dict(zip(heads["invoice_no"], heads["ordered_at"], strict=True))
        by_customer: dict[str, list[str]] = {}
        ordered = heads.sort_values("ordered_at", ascending=False, kind="stable")
        for number, customer in zip(ordered["invoice_no"], ordered["customer_id"], strict=True):
            if customer:
                by_customer.setdefault(customer, []).append(number)
        catalogue = {
            str(c).upper(): str(d).strip()
            for c, d in zip(products["stock_code"], products["description"], strict=True)
            if isinstance(d, str) and d.strip()
        }
        clock = lines["ordered_at"].max() if len(lines) else None
        columns = {
            "stock_code": lines["stock_code"].astype(str).to_numpy(),
            "description": lines["description"].fillna("").astype(str).str.strip().to_numpy(),
            "quantity": lines["quantity"].to_numpy(dtype=np.int64),
            "unit_price": lines["unit_price"].to_numpy(dtype=np.float64).round(2),
            "amount": lines["line_amount"].to_numpy(dtype=np.float64).round(2),
        }
        return cls(
            columns,
            by_invoice,
            by_customer,
            invoice_customer,
            invoice_time,
            catalogue,
            clock,
            time.time(),
        )

    # -- answers ------------------------------------------------------------------------------
    def owned_invoice(self, invoice_no: str, customer_id: str | None) -> bool:
        """Whether ``invoice_no`` exists and belongs to ``customer_id`` (never for no customer)."""
        owner = self.invoice_customer.get(invoice_no.upper())
        return bool(customer_id) and owner is not None and owner == customer_id

    def order(self, invoice_no: str) -> dict[str, Any]:
        """An invoice's status, date, lines (with descriptions) and the lines cancelled since."""
        invoice_no = invoice_no.upper()
        customer = self.invoice_customer[invoice_no]
        ordered_at = self.invoice_time[invoice_no]
        items = self._lines(invoice_no)
        cancelled = (
            [] if invoice_no.startswith("C") else self._cancelled(customer, items, ordered_at)
        )
        total = sum(item["amount"] for item in items)
        return {
            "invoice_no": invoice_no,
            "ordered_at": ordered_at.isoformat(sep=" ") if ordered_at is not None else None,
            "status": self._status(invoice_no, items, cancelled, ordered_at),
            "items": items,
            "total": round(total, 2),
            "cancelled_lines": cancelled,
        }

    def recent_orders(self, customer_id: str, k: int = RECENT_ORDERS) -> list[dict[str, Any]]:
        """The customer's ``k`` latest orders (not cancellations): number, date, status, total."""
        out = []
        orders = [n for n in self.by_customer.get(customer_id, []) if not n.startswith("C")]
        for number in orders[:k]:
            order = self.order(number)
            out.append(
                {key: order[key] for key in ("invoice_no", "ordered_at", "status", "total")}
                | {"n_items": len(order["items"])}
            )
        return out

    def _lines(self, invoice_no: str) -> list[dict[str, Any]]:
        """An invoice's lines as plain dicts (description None where the catalogue has none)."""
        start, end = self.by_invoice[invoice_no]
        part = {name: values[start:end].tolist() for name, values in self.lines.items()}
        return [
            {
                "stock_code": code,
                "description": description or None,
                "quantity": quantity,
                "unit_price": price,
                "amount": amount,
            }
            for code, description, quantity, price, amount in zip(
                part["stock_code"],
                part["description"],
                part["quantity"],
                part["unit_price"],
                part["amount"],
                strict=True,
            )
        ]

    def _cancelled(
        self, customer: str | None, items: list[dict[str, Any]], ordered_at: pd.Timestamp
    ) -> list[dict[str, Any]]:
        """Lines of the customer's later cancellations of products of this order."""
        if not customer:
            return []
        codes = {item["stock_code"] for item in items}
        out = []
        for number in self.by_customer.get(customer, []):
            if not number.startswith("C") or self.invoice_time[number] < ordered_at:
                continue
            out += [
                {**line, "cancellation": number}
                for line in self._lines(number)
                if line["stock_code"] in codes
            ]
        return out

    def _status(
        self,
        invoice_no: str,
        items: list[dict[str, Any]],
        cancelled: list[dict[str, Any]],
        ordered_at: pd.Timestamp,
    ) -> str:
        if invoice_no.startswith("C"):
            return "cancellation"
        if cancelled:
            ordered: dict[str, int] = {}
            for item in items:
                ordered[item["stock_code"]] = ordered.get(item["stock_code"], 0) + item["quantity"]
            back: dict[str, int] = {}
            for line in cancelled:
                back[line["stock_code"]] = back.get(line["stock_code"], 0) - line["quantity"]
            if all(back.get(code, 0) >= quantity for code, quantity in ordered.items()):
                return "cancelled"
            return "partly cancelled"
        days = (self.clock - ordered_at).total_seconds() / 86_400 if self.clock is not None else 0
        if days < DISPATCH_DAYS:
            return "processing"
        if days < DELIVERY_DAYS:
            return "dispatched"
        return "delivered"


class ShopData:
    """The current :class:`Snapshot`, reloaded in the background when the warehouse changes."""

    def __init__(self, settings: Settings, check_seconds: float = CHECK_SECONDS) -> None:
        self.settings = settings
        self.check_seconds = check_seconds
        self._snapshot: Snapshot | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._loading = False

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.settings.warehouse_path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _load(self) -> None:
        stamp = self._file_stamp()
        try:
            snapshot = Snapshot.read(self.settings)
        except Exception as exc:  # noqa: BLE001 - a busy or broken warehouse keeps the old data
            logger.warning("assistant: cannot read the warehouse (%s); keeping the last read", exc)
            snapshot = None
        with self._lock:
            if snapshot is not None:
                self._snapshot, self._stamp = snapshot, stamp
            self._loading = False

    def current(self) -> Snapshot:
        """The latest snapshot (the first call reads the warehouse; later ones never wait)."""
        if self._snapshot is None:
            with self._lock:
                if self._snapshot is None:
                    self._loading = True
            if self._loading:
                self._load()
            return self._snapshot or Snapshot.empty()
        now = time.monotonic()
        if now - self._checked >= self.check_seconds:
            self._checked = now
            if self._file_stamp() != self._stamp:
                with self._lock:
                    start, self._loading = not self._loading, True
                if start:
                    threading.Thread(target=self._load, name="assistant-shop", daemon=True).start()
        return self._snapshot
