"""bench/basket_rules.py gives exactly mlxtend's rule set, on a public example and on the real file.

The reference is mlxtend's own pipeline (``TransactionEncoder``, ``fpgrowth``,
``association_rules`` with ``metric="confidence"``), run here on the same baskets and
thresholds; the script runs as a user runs it, in a subprocess, and only its CSV is compared.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from basket_data import TEXTBOOK

from mercato.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "bench" / "basket_rules.py"


def run_bench(src: Path, out: Path, support: float, confidence: float) -> str:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--transactions",
            str(src),
            "--min-support",
            str(support),
            "--min-confidence",
            str(confidence),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def mlxtend_reference(baskets: list[list[str]], support: float, confidence: float) -> pd.DataFrame:
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    encoder = TransactionEncoder()
    onehot = pd.DataFrame(encoder.fit(baskets).transform(baskets), columns=encoder.columns_)
    itemsets = fpgrowth(onehot, min_support=support, use_colnames=True)
    rules = association_rules(
        itemsets, num_itemsets=len(baskets), metric="confidence", min_threshold=confidence
    )
    return pd.DataFrame(
        {
            "antecedents": rules["antecedents"].map(lambda s: "|".join(sorted(s))),
            "consequents": rules["consequents"].map(lambda s: "|".join(sorted(s))),
            "support": rules["support"],
            "confidence": rules["confidence"],
            "lift": rules["lift"],
        }
    )


def assert_same_rules(out: Path, reference: pd.DataFrame) -> None:
    got = pd.read_csv(out, dtype={"antecedents": str, "consequents": str})
    assert list(got.columns) == ["antecedents", "consequents", "support", "confidence", "lift"]
    key = ["antecedents", "consequents"]
    assert len(reference) > 0, "mlxtend found no rule: the case tests nothing"
    assert not got.duplicated(key).any()
    assert set(map(tuple, got[key].to_numpy())) == set(map(tuple, reference[key].to_numpy()))
    both = got.merge(reference, on=key, suffixes=("", "_mlxtend"))
    for col in ("support", "confidence", "lift"):
        assert both[col].to_numpy() == pytest.approx(both[f"{col}_mlxtend"].to_numpy(), rel=1e-9)


def test_public_example_one_basket_per_line(tmp_path: Path) -> None:
    src, out = tmp_path / "baskets.csv", tmp_path / "rules.csv"
    src.write_text("\n".join(",".join(b) for b in TEXTBOOK) + "\n\n")
    stdout = run_bench(src, out, 0.22, 0.5)
    assert "9 baskets" in stdout and " s" in stdout
    assert_same_rules(out, mlxtend_reference(TEXTBOOK, 0.22, 0.5))


@pytest.mark.shared
def test_real_file_sample_long_format(tmp_path: Path, real_data: Path) -> None:
    """The first 3,000 invoices of the real file (cancellations out), in long format."""
    raw = pd.read_parquet(real_data, columns=["InvoiceNo", "StockCode", "Quantity"])
    raw = raw[~raw["InvoiceNo"].str.startswith("C") & (raw["Quantity"] > 0)]
    first = raw["InvoiceNo"].drop_duplicates().head(3000)
    sample = raw[raw["InvoiceNo"].isin(first)]
    long = sample.rename(columns={"InvoiceNo": "basket_id", "StockCode": "item"})
    src, out = tmp_path / "long.csv", tmp_path / "rules.csv"
    long[["basket_id", "item"]].to_csv(src, index=False)
    run_bench(src, out, 0.02, 0.3)
    baskets = long.groupby("basket_id")["item"].agg(lambda s: sorted(set(s))).tolist()
    assert_same_rules(out, mlxtend_reference(baskets, 0.02, 0.3))


def test_a_file_without_baskets_is_refused_by_name(tmp_path: Path) -> None:
    src = tmp_path / "empty.csv"
    src.write_text("basket_id,item\n")
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--transactions",
            str(src),
            "--min-support",
            "0.1",
            "--min-confidence",
            "0.1",
            "--out",
            str(tmp_path / "rules.csv"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "no rows" in done.stderr
