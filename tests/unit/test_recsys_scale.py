"""bench/recsys_scale.py's 10x data: ten shops with the customers' habits, not ten copies of one."""

from __future__ import annotations

import pandas as pd
import pytest

from mercato.settings import REPO_ROOT


def test_ten_times_the_data_has_ten_times_the_customers_products_and_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT / "bench"))
    from recsys_scale import replicate

    lines = pd.DataFrame(
        {
            "user_id": ["1", "1", "2"],
            "item_id": ["A", "B", "A"],
            "rating": [1.0, 2.0, 1.0],
            "timestamp": pd.to_datetime(["2011-01-03", "2011-01-03", "2011-02-01"]),
        }
    )
    items = pd.DataFrame({"item_id": ["A", "B", "C"], "text": ["red", "blue", "new"]})
    big, big_items = replicate(lines, items, 10)
    assert (len(big), big["user_id"].nunique(), big_items["item_id"].nunique()) == (30, 20, 30)
    copy = big[big["user_id"] == "1~4"]
    assert set(copy["item_id"]) == {"A~4", "B~4"}  # copy r of a customer buys copy r
    shift = copy["timestamp"] - pd.Timestamp("2011-01-03")
    assert shift.nunique() == 1 and abs(shift.iloc[0]) <= pd.Timedelta(days=7)  # one invoice
    assert replicate(lines, items, 1)[0] is lines
