"""Realised performance of a recommender's kept top-k lists: judged on the purchases that
followed them, beside popularity refitted to the same moment, once the window has passed
(issue #20: "recommendations from the orders that followed")."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from monitoring.monitor import alerts
from monitoring.realised import read_predictions, score_ranked, write_ranked
from monitoring.report import render

AS_OF = pd.Timestamp("2026-03-01 12:00")


def purchases() -> pd.DataFrame:
    """a, b and c bought before AS_OF; in the 30 days after, a bought i3 and i4 (both new to
    a), b bought i1 again (not new) and i5, c nothing, x (no list) i4; y's order 35 days on
    shows the data covers the window."""
    rows = [
        ("a", "i1", "2026-02-01"),
        ("a", "i2", "2026-02-02"),
        ("b", "i1", "2026-02-03"),
        ("c", "i3", "2026-02-04"),
        ("c", "i1", "2026-02-05"),
        ("a", "i4", "2026-03-02"),
        ("a", "i3", "2026-03-05"),
        ("b", "i1", "2026-03-03"),
        ("b", "i5", "2026-03-10"),
        ("x", "i4", "2026-03-04"),
        ("y", "i2", "2026-04-05"),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["rating"] = 1.0
    return frame


def kept(tmp_path: Path) -> pd.DataFrame:
    lists = [["i4", "i3"], ["i2", "i5"], ["i2", "i4"]]
    write_ranked(tmp_path, "recommendation", ["a", "b", "c"], lists, AS_OF, "7")
    (frame,) = read_predictions(tmp_path, "recommendation")
    return frame


def test_kept_lists_are_judged_on_the_new_purchases_that_followed(tmp_path: Path) -> None:
    frame = kept(tmp_path)
    assert list(frame.columns) == ["customer_id", "rank", "item_id", "as_of", "model_version"]
    scored = score_ranked("recommendation", frame, purchases(), 30, k=2)
    assert scored is not None
    # a and b bought something new to them; c bought nothing, x had no list
    assert (scored.customers, scored.n, scored.model_version) == (3, 2, "7")
    # a: both of its two new products at ranks 1 and 2; b: its one new product (i5) at rank 2
    b_ndcg = (1 / math.log2(3)) / 1.0
    assert scored.metrics["ndcg_at_2"] == pytest.approx((1.0 + b_ndcg) / 2)
    assert scored.metrics["precision_at_2"] == pytest.approx((1.0 + 0.5) / 2)
    # popularity at AS_OF (i1 > i2, i3) knows neither i4 nor i5: it finds only a's i3
    assert 0 < scored.popularity["ndcg_at_2"] < scored.metrics["ndcg_at_2"]
    assert scored.lift == pytest.approx(
        scored.metrics["ndcg_at_2"] / scored.popularity["ndcg_at_2"]
    )


def test_lists_wait_until_the_window_has_passed(tmp_path: Path) -> None:
    frame = kept(tmp_path)
    assert score_ranked("recommendation", frame, purchases(), 36, k=2) is None
    early = purchases()[purchases()["timestamp"] < "2026-03-20"]
    assert score_ranked("recommendation", frame, early, 30, k=2) is None


def test_a_recommender_below_popularity_is_an_alert_and_shown(tmp_path: Path) -> None:
    scored = score_ranked("recommendation", kept(tmp_path), purchases(), 30, k=2)
    assert scored is not None
    worse = {**scored.to_dict(), "lift": 0.8}
    result = {
        "run": "r",
        "at": "now",
        "limits": {"psi_max": 0.25, "p_value": 0.01, "prediction_psi_max": 0.25},
        "families": {},
        "realised_topk": [worse],
    }
    assert alerts(result, 0.55) == ([], [])  # the lift floor is off unless set
    result["limits"]["min_realised_lift"] = 1.0
    messages, retrain = alerts(result, 0.55)
    assert retrain == ["recommendation"]
    assert "realised ndcg_at_2" in messages[0] and "0.80x popularity" in messages[0]
    result["limits"]["min_realised_lift"] = 0.5
    assert alerts(result, 0.55) == ([], [])
    page = render({**result, "alerts": messages})
    assert "Realised performance of earlier top-k lists" in page and "0.8" in page
