"""Mine association rules from any basket file and write them as CSV; print the timing.

The door for outside benchmarks of the basket family (``models.basket``: FP-growth, then the
rules with their support, confidence and lift). Input, by content:

- one basket per line, items separated by commas (``bread,milk,eggs``); blank lines skipped;
- long format, a header ``basket_id,item`` then one row per basket and item (a third
  ``timestamp`` column is allowed, for ``--evaluate``);
- Parquet, long (``basket_id, item[, timestamp]``) or the UCI Online Retail export
  (``InvoiceNo, StockCode, Quantity, InvoiceDate``: one invoice = one basket, cancellations out).

Output columns ``antecedents,consequents,support,confidence,lift`` (items sorted and joined by
``|``; floats at full precision), best lift first.

    python bench/basket_rules.py --transactions baskets.csv --min-support 0.01 \\
        --min-confidence 0.2 --out rules.csv
    python bench/basket_rules.py \\
        --transactions ../shared/data/online_retail/online_retail.parquet \\
        --min-support 0.01 --min-confidence 0.2 --out rules.csv --check-mlxtend --evaluate 30

``--check-mlxtend`` also runs mlxtend's own pipeline (``TransactionEncoder``, ``fpgrowth``,
``association_rules``) on the same baskets, prints its time and whether the rule sets are equal.
``--evaluate DAYS`` (needs timestamps) mines on the baskets before the last DAYS and prints the
hold-out next-item hit rate of the rules beside popularity, as the family's gate measures it.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import pandas as pd

from models.basket import (
    DEFAULT_K,
    PopularNextItems,
    RulesThenPopular,
    fit_rules,
    holdout_queries,
    mine_rules,
    next_item_metrics,
    temporal_split,
    transactions_from_long,
)

OUTPUT_COLUMNS = ["antecedents", "consequents", "support", "confidence", "lift"]


def read_transactions(path: Path) -> pd.DataFrame:
    """The baskets of ``path`` as a long frame ``basket_id, item[, timestamp]``.

    Raises ``ValueError`` naming the problem (no baskets, an item holding ``|``, a Parquet
    file with neither layout).
    """
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
        if {"InvoiceNo", "StockCode"} <= set(frame.columns):
            frame = frame.dropna(subset=["InvoiceNo", "StockCode"])
            keep = ~frame["InvoiceNo"].astype(str).str.startswith("C")
            if "Quantity" in frame.columns:
                keep &= frame["Quantity"] > 0
            frame = frame[keep]
            out = pd.DataFrame(
                {
                    "basket_id": frame["InvoiceNo"].astype(str),
                    "item": frame["StockCode"].astype(str),
                }
            )
            if "InvoiceDate" in frame.columns:
                out["timestamp"] = pd.to_datetime(frame["InvoiceDate"])
        elif {"basket_id", "item"} <= set(frame.columns):
            out = frame
        else:
            raise ValueError(
                f"{path}: a Parquet file needs columns basket_id, item (or the Online Retail "
                f"InvoiceNo, StockCode); it has {list(frame.columns)}"
            )
    else:
        out = _read_text(path)
    out = out.dropna(subset=["basket_id", "item"])
    out["basket_id"] = out["basket_id"].astype(str)
    out["item"] = out["item"].astype(str).str.strip()
    out = out[out["item"] != ""]
    bad = out["item"].str.contains("|", regex=False)
    if bad.any():
        raise ValueError(
            f"{path}: item {out['item'][bad].iloc[0]!r} holds '|', the output separator"
        )
    if out.empty:
        raise ValueError(f"{path}: no baskets found")
    return out.reset_index(drop=True)


def _read_text(path: Path) -> pd.DataFrame:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if header[:2] == ["basket_id", "item"]:
        frame = pd.DataFrame([r for r in rows[1:] if r], dtype=str)
        if frame.empty:
            raise ValueError(f"{path}: a header and no rows")
        if frame.shape[1] < 2:
            raise ValueError(f"{path}: long format needs two columns, basket_id and item")
        frame = frame.iloc[:, : min(3, frame.shape[1], len(header))]
        frame.columns = header[: frame.shape[1]]
        if "timestamp" in frame.columns:
            frame["timestamp"] = pd.to_datetime(frame["timestamp"])
        return frame
    pairs = [
        (str(n), item)
        for n, items in enumerate(r for r in rows if any(c.strip() for c in r))
        for item in items
    ]
    return pd.DataFrame(pairs, columns=["basket_id", "item"])


def write_rules(rules: pd.DataFrame, out: Path) -> None:
    table = pd.DataFrame(
        {
            "antecedents": rules["antecedents"].map("|".join),
            "consequents": rules["consequents"].map("|".join),
            "support": rules["support"],
            "confidence": rules["confidence"],
            "lift": rules["lift"],
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.17g")


def mlxtend_rules(
    long: pd.DataFrame, min_support: float, min_confidence: float, max_len: int | None
) -> tuple[pd.DataFrame, float]:
    """mlxtend's own pipeline on the same baskets: (rules as OUTPUT_COLUMNS, seconds)."""
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    start = time.perf_counter()
    baskets = long.groupby("basket_id", sort=False)["item"].agg(list).tolist()
    encoder = TransactionEncoder()
    onehot = pd.DataFrame(encoder.fit(baskets).transform(baskets), columns=encoder.columns_)
    itemsets = fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=max_len)
    if len(itemsets):
        rules = association_rules(
            itemsets, num_itemsets=len(onehot), metric="confidence", min_threshold=min_confidence
        )
    else:
        rules = pd.DataFrame(columns=["antecedents", "consequents", *OUTPUT_COLUMNS[2:]])
    seconds = time.perf_counter() - start
    out = pd.DataFrame(
        {
            "antecedents": rules["antecedents"].map(lambda s: "|".join(sorted(map(str, s)))),
            "consequents": rules["consequents"].map(lambda s: "|".join(sorted(map(str, s)))),
            "support": rules["support"].astype(float),
            "confidence": rules["confidence"].astype(float),
            "lift": rules["lift"].astype(float),
        }
    )
    return out, seconds


def evaluate(long: pd.DataFrame, args: argparse.Namespace) -> None:
    """Hold-out next-item figures of the rules, rules then popularity, and popularity."""
    if "timestamp" not in long.columns:
        raise SystemExit("--evaluate needs timestamps (a timestamp column or InvoiceDate)")
    lines = long.rename(columns={"timestamp": "ordered_at"})
    train, holdout = temporal_split(lines, args.evaluate)
    start = time.perf_counter()
    rules = fit_rules(train, args.min_support, args.min_confidence, args.max_len)
    seconds = time.perf_counter() - start
    popular = PopularNextItems(train)
    queries = holdout_queries(holdout, args.seed)
    print(
        f"hold-out: last {args.evaluate} days, {len(queries.hidden):,} baskets with 2+ products "
        f"(one hidden each); rules mined on {train['basket_id'].nunique():,} earlier baskets "
        f"in {seconds:.2f} s ({len(rules.rules):,} rules)"
    )
    k = args.k
    header = f"{'model':<20} {'hit@' + str(k):>8} {'prec@' + str(k):>8} {'answered':>9} "
    print(header + f"{'prec(answered)':>15}")
    for name, model in (
        ("rules", rules),
        ("rules_then_popular", RulesThenPopular(rules, popular)),
        ("popularity", popular),
    ):
        m, _ = next_item_metrics(model, queries, k)
        print(
            f"{name:<20} {m[f'hit_rate_at_{k}']:>8.4f} {m[f'precision_at_{k}']:>8.4f} "
            f"{m['answered_share']:>9.1%} {m[f'answered_precision_at_{k}']:>15.4f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=Path, required=True, help="basket file")
    parser.add_argument("--min-support", type=float, required=True, help="share of baskets")
    parser.add_argument("--min-confidence", type=float, required=True)
    parser.add_argument("--max-len", type=int, default=None, help="largest itemset (default: any)")
    parser.add_argument("--out", type=Path, required=True, help="rules CSV to write")
    parser.add_argument("--check-mlxtend", action="store_true", help="compare with mlxtend")
    parser.add_argument("--evaluate", type=int, metavar="DAYS", help="hold-out figures")
    parser.add_argument("--k", type=int, default=DEFAULT_K, help="suggestions for --evaluate")
    parser.add_argument("--seed", type=int, default=42, help="hidden-item draw for --evaluate")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        long = read_transactions(args.transactions)
        read_seconds = time.perf_counter() - start
        tx = transactions_from_long(long)
        rules = mine_rules(tx, args.min_support, args.min_confidence, args.max_len)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mine_seconds = time.perf_counter() - start - read_seconds
    write_rules(rules, args.out)
    total = time.perf_counter() - start
    print(
        f"{tx.n_baskets:,} baskets, {len(tx.items):,} items -> {len(rules):,} rules "
        f"(min support {args.min_support:g}, min confidence {args.min_confidence:g}); "
        f"read {read_seconds:.2f} s, encode+mine {mine_seconds:.2f} s, total {total:.2f} s "
        f"-> {args.out}"
    )
    if args.check_mlxtend:
        reference, seconds = mlxtend_rules(
            long, args.min_support, args.min_confidence, args.max_len
        )
        ours = {
            (a, c)
            for a, c in zip(
                rules["antecedents"].map("|".join), rules["consequents"].map("|".join), strict=True
            )
        }
        theirs = set(zip(reference["antecedents"], reference["consequents"], strict=True))
        same = (
            "the same rule set"
            if ours == theirs
            else (
                f"DIFFERENT rule sets: {len(ours - theirs)} only here, "
                f"{len(theirs - ours)} only in mlxtend"
            )
        )
        print(
            f"mlxtend (TransactionEncoder + fpgrowth + association_rules): {seconds:.2f} s, {same}"
        )
    if args.evaluate:
        evaluate(long, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
