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
    assert {"userknn_cosine", "userknn_pearson", "content", "hybrid"} <= set(names)


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


def test_hybrid_takes_item_text_and_is_tuned_on_a_validation_split(tmp_path: Path) -> None:
    """Users 1-12 buy "red" items, 13-24 "blue" ones; item 99 is red and never bought."""
    rows = [
        (u, i + (0 if u <= 12 else 10), 4.0, 1_600_000_000 + 86_400 * (u % 5 + 10 * i))
        for u in range(1, 25)
        for i in range(6)
        if (u + i) % 3
    ]
    train = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items = pd.DataFrame(
        {
            "item_id": [*range(6), *range(10, 16), 99],
            "text": [f"red lamp {i}" for i in range(6)]
            + [f"blue vase {i}" for i in range(6)]
            + ["red lamp large"],
        }
    )
    src, item_file, out = tmp_path / "r.csv", tmp_path / "items.csv", tmp_path / "top.csv"
    train.to_csv(src, index=False)
    items.to_csv(item_file, index=False)
    base = [sys.executable, str(SCRIPT), "--train", str(src), "--k", "3", "--out", str(out)]
    missing = subprocess.run([*base, "--model", "hybrid"], capture_output=True, text=True)
    assert missing.returncode != 0 and "--items" in missing.stderr
    done = subprocess.run(
        [*base, "--model", "hybrid", "--items", str(item_file), "--validation-days", "10"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "tuned on the last 10 days" in done.stderr and "alpha" in done.stderr
    top = pd.read_csv(out)
    red_users = top[top["user_id"] <= 12]
    assert 99 in set(red_users["item_id"])  # the never-bought red item reaches red buyers
    assert 99 not in set(top[top["user_id"] > 12]["item_id"])


def test_a_movielens_ratings_file_is_read_as_stars_like_the_ratings_source(tmp_path: Path) -> None:
    """MovieLens names and Unix seconds; C is rated with A by many, but badly: not a like."""
    rows = [(u, 1, 5.0) for u in range(10)] + [(u, 2, 5.0) for u in range(10)]
    rows += [(u, 1, 5.0) for u in range(10, 40)] + [(u, 3, 1.0) for u in range(10, 40)]
    rows += [(100, 1, 5.0), (101, 1, 4.5), (101, 3, 1.0)]
    train = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    train["timestamp"] = 1_600_000_000 + 60 * train.index
    src, out = tmp_path / "ratings.csv", tmp_path / "top.csv"
    train.to_csv(src, index=False)
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--train", str(src), "--model", "itemknn", "--k", "2"]
        + ["--no-tune", "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "feedback: explicit ratings, a like is >= 4 stars" in run.stderr
    top = pd.read_csv(out)
    first = top[top["rank"] == 1].set_index("user_id")["item_id"]
    assert first[100] == 2  # liked together with A, not merely rated together
    assert 3 not in set(top.loc[top["user_id"] == 101, "item_id"])  # rated: never again
