"""bench/recsys_topk.py on an outside-style interactions file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from mercato.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "bench" / "recsys_topk.py"


def test_list_models_prints_accepted_names() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--list-models"], capture_output=True, text=True, check=True
    )
    names = out.stdout.split()
    assert {"popularity", "itemknn", "ease", "rp3beta"} <= set(names)


def test_writes_top_k_unseen_items_per_user(tmp_path: Path) -> None:
    rows = [
        (u, i, 4.0, 1_600_000_000 + 60 * (u * 7 + i))
        for u in range(1, 25)
        for i in range(8)
        if (u + i) % 3
    ]
    train = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    src, out = tmp_path / "ratings.csv", tmp_path / "top.parquet"
    train.to_csv(src, index=False)
    subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--train",
            str(src),
            "--k",
            "3",
            "--model",
            "ease",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    top = pd.read_parquet(out)
    assert list(top.columns) == ["user_id", "item_id", "rank", "score"]
    assert pd.api.types.is_integer_dtype(top["user_id"])
    assert set(top["user_id"]) == set(train["user_id"])
    assert top.groupby("user_id")["rank"].apply(list).map(lambda r: r == sorted(r)).all()
    seen = set(zip(train["user_id"], train["item_id"], strict=True))
    assert not any((u, i) in seen for u, i in zip(top["user_id"], top["item_id"], strict=True))
