"""Ad response models on generated impressions, and ``bench/ctr_eval.py`` on a generated file
in the Criteo layout (a subprocess, as a user runs it)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from fixed_dates import END_DATE

from mercato.settings import REPO_ROOT
from warehouse.synthetic_ads import make_impressions


def test_down_sampling_is_corrected_back_to_the_traffic_rate() -> None:
    from models.ad_response import fit_hashed_logistic
    from models.ad_response_model import downsampling_correction, tokens

    assert downsampling_correction(np.array([0.5]), 0.1)[0] == pytest.approx(0.5 / 5.5)
    frame = make_impressions(6000, seed=3, end_date=END_DATE)
    rows = [tokens(r) for r in frame.to_dict("records")]
    y = (frame["clicked"] == "TRUE").to_numpy().astype(int)
    head, rate = fit_hashed_logistic(rows, y, seed=0, negative_ratio=2.0, n_features=2**14)
    assert rate < 0.3  # negatives really were dropped
    assert head.predict(rows).mean() == pytest.approx(y.mean(), rel=0.15)


def test_ctr_eval_reads_the_criteo_layout_and_prints_json(tmp_path) -> None:
    rng = np.random.default_rng(0)

    def write(path, n):
        ints = rng.integers(0, 50, size=(n, 13)).astype(object)
        ints[rng.random((n, 13)) < 0.1] = ""
        cats = rng.choice(["68fd1e64", "80e26c9b", "fb936136"], size=(n, 26))
        logit = -2.0 + 0.06 * np.where(ints[:, 0] == "", 0, ints[:, 0]).astype(float)
        logit += 1.2 * (cats[:, 0] == "68fd1e64")
        label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
        lines = ["\t".join(map(str, [label[i], *ints[i], *cats[i]])) for i in range(n)]
        path.write_text("\n".join(lines) + "\n")
        return path

    train, test = write(tmp_path / "train.txt", 3000), write(tmp_path / "test.txt", 1000)
    out = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "ctr_eval.py"), "--train", str(train),
         "--test", str(test), "--label-col", "label", "--format", "criteo"],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    result = json.loads(out.stdout)
    models = result["models"]
    assert result["n_train"] == 3000 and result["n_test"] == 1000
    assert models["hashed_logistic"]["roc_auc"] > 0.65
    assert models["hist_gradient_boosting"]["roc_auc"] > 0.65
    assert models["hashed_logistic"]["log_loss"] < models["base_rate"]["log_loss"]


def test_hashed_logistic_beats_the_placement_campaign_rate_on_a_later_hold_out() -> None:
    import pandas as pd

    from models.ad_response import compare, time_split

    raw = make_impressions(12000, seed=5, end_date=END_DATE)
    frame = raw.assign(
        shown_at=pd.to_datetime(raw["shown_at"]),
        clicked=(raw["clicked"] == "TRUE").astype(int),
        converted=(raw["converted"] == "TRUE").astype(int),
        is_known_customer=raw["customer_id"].notna(),
    )
    frame["hour_of_day"] = frame["shown_at"].dt.hour
    frame["day_of_week"] = frame["shown_at"].dt.dayofweek + 1
    train, test = time_split(frame)
    assert train["shown_at"].max() <= test["shown_at"].min()
    result = compare(train, test)
    hold_out = result["hold_out"]
    lr, rate = hold_out["hashed_logistic"], hold_out["placement_campaign_rate"]
    assert lr["roc_auc"] > rate["roc_auc"] and lr["log_loss"] < rate["log_loss"]
    assert hold_out["hist_gradient_boosting"]["roc_auc"] > 0.6
    assert lr["ece"] < 0.02  # the corrected sample still gives probabilities
    assert "conversion_hashed_logistic" in hold_out
