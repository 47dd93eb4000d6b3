"""Ad impressions and ad response pieces that need no warehouse: row reasons, the hasher the
served model uses (scikit-learn's), the down-sampling correction, and ``bench/ctr_eval.py``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fixed_dates import END_DATE

from warehouse.sources import recognise
from warehouse.sources.ads import parse
from warehouse.synthetic_ads import make_impressions


def test_impressions_are_recognised_and_each_bad_row_has_its_reason() -> None:
    frame = make_impressions(6, seed=1, end_date=END_DATE)
    assert recognise(frame.columns).name == "ads"
    frame = frame.astype(object)
    frame.loc[1, "cost"] = "-1"
    frame.loc[2, ["customer_id", "anonymous_id"]] = None
    frame.loc[3, ["clicked", "converted"]] = ["FALSE", "TRUE"]
    frame.loc[4, "shown_at"] = "2999-01-01 00:00:00"
    reasons = parse(frame, now=pd.Timestamp(END_DATE).to_pydatetime())["row_problem"].tolist()
    assert reasons[0] is None and reasons[5] is None
    assert reasons[1] == "cost is '-1', not an amount >= 0"
    assert reasons[2].startswith("user is empty")
    assert "converted is 'TRUE', not TRUE or FALSE, and TRUE only after a click" in reasons[3]
    assert "shown_at is '2999-01-01 00:00:00'" in reasons[4]


def test_the_served_hasher_is_scikit_learns_feature_hasher() -> None:
    from sklearn.feature_extraction import FeatureHasher

    from models.ad_response_model import HashedLogistic, tokens

    rows = [tokens(r) for r in make_impressions(50, seed=2, end_date=END_DATE).to_dict("records")]
    hasher = FeatureHasher(n_features=2**12, input_type="string", alternate_sign=False)
    x = hasher.transform(rows)
    coef = np.random.default_rng(0).normal(size=2**12)
    head = HashedLogistic(2**12, coef, -1.0)
    assert np.allclose(head.log_odds(rows), x @ coef - 1.0)
