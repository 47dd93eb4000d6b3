"""``bench/clv_fit.py``, the issue's CLI, run as a user runs it (a subprocess, JSON on stdout).

Acceptance point 1 of issue 15: on the CDNOW 1/10 sample (weeks, calibration the first 39
weeks), the CLI reproduces Fader, Hardie & Lee's (2005) BG/NBD parameters to within 1% each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mercato.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "bench" / "clv_fit.py"
CLV_DATA = REPO_ROOT.parent / "shared" / "data" / "clv"
#: Fader, Hardie & Lee (2005), table 1 (BG/NBD, CDNOW 1/10 sample).
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
TOLERANCE = 0.01


def run_cli(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.mark.shared
def test_cli_reproduces_the_published_cdnow_parameters_within_one_percent() -> None:
    sample = CLV_DATA / "CDNOW_sample.txt"
    if not sample.is_file():
        pytest.skip(f"CDNOW sample not found at {sample} (shared data folder absent)")
    report = run_cli(
        "--transactions",
        str(sample),
        "--names",
        "master_id,customer_id,date,cds,value",
        "--customer-col",
        "customer_id",
        "--date-col",
        "date",
        "--value-col",
        "value",
        "--calibration-end",
        "1997-09-30",
        "--no-pareto",
    )
    assert report["data"]["customers"] == 2357 and report["data"]["unit"] == "weeks"
    fitted = report["models"]["bgnbd"]["params"]
    for name, published in PUBLISHED_BGNBD.items():
        assert abs(fitted[name] / published - 1) < TOLERANCE, (name, fitted[name], published)
    assert report["models"]["bgnbd"]["converged"]
    assert "gamma_gamma" in report["models"]
    holdout = report["holdout"]
    assert holdout["duration"] == pytest.approx(39.0)  # 1997-10-01 .. 1998-06-30, in weeks
    buckets = [row["calibration_frequency"] for row in holdout["by_calibration_frequency"]]
    assert buckets == ["0", "1", "2", "3", "4", "5", "6", "7+"]


def test_cli_fits_a_small_csv_log_and_names_missing_columns(tmp_path: Path) -> None:
    """Any transaction log: ids, dates and values by name; a wrong name is refused clearly."""
    rng = np.random.default_rng(3)
    rows = []
    for customer in range(60):  # BG/NBD customers: Gamma purchase rates, Beta dropout
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 40)))
        rate, dropout = rng.gamma(1.5, 1 / 30), rng.beta(1, 3)
        while day <= pd.Timestamp("2024-06-30"):
            rows.append((f"c{customer}", day.strftime("%Y-%m-%d"), float(rng.gamma(4, 5))))
            if len(rows) > 1 and rng.random() < dropout:
                break
            day += pd.Timedelta(days=1 + int(rng.exponential(1 / rate)))
    log = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["who", "when", "amount"]).to_csv(log, index=False)
    report = run_cli(
        "--transactions", str(log), "--customer-col", "who", "--date-col", "when",
        "--value-col", "amount", "--calibration-end", "2024-03-31", "--freq", "D",
        "--observation-end", "2024-06-30",
    )  # fmt: skip
    assert report["data"]["customers"] == 60 and report["data"]["unit"] == "days"
    assert set(report["models"]) == {"bgnbd", "pareto_nbd", "gamma_gamma"}
    totals = report["holdout"]["repeat_purchases_total"]
    assert totals["customers"] == 60 and 0 < totals["bgnbd"] < 10 * totals["actual"]
    failed = subprocess.run(
        [sys.executable, str(SCRIPT), "--transactions", str(log), "--customer-col", "id",
         "--date-col", "when"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert failed.returncode == 2 and "['id']" in failed.stderr
