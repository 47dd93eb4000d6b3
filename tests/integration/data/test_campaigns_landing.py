"""Landing a campaign file: bad rows kept out with their reason, a broken file refused whole."""

from __future__ import annotations

import pandas as pd
import pytest
from fixed_dates import END_DATE

from expectations import GateFailed
from mercato.settings import Settings
from warehouse import landing, reader
from warehouse.synthetic_campaigns import write_campaigns


def campaign_file(tmp_path, name: str = "campaign.csv", n: int = 200) -> pd.DataFrame:
    """A generated campaign of ``n`` customers, read back as text (written by :func:`save`)."""
    path = write_campaigns(
        tmp_path / name, end_date=END_DATE, n_customers=n, campaign="spring", seed=3
    )
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def save(frame: pd.DataFrame, path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def exposures(settings: Settings) -> pd.DataFrame:
    return reader.query(settings, "select * from raw.campaign_exposures order by customer_id")


def test_bad_rows_are_kept_out_with_their_reason_and_the_rest_loads(
    settings: Settings, tmp_path
) -> None:
    frame = campaign_file(tmp_path)
    frame.loc[2, "spend"] = "$12.50"  # data row 3
    frame.loc[9, "converted"] = "maybe"  # data row 10, two broken rules
    frame.loc[9, "treatment_arm"] = ""
    frame.loc[20, "sent_at"] = "2031-01-01 09:00:00"  # data row 21: in the future
    frame.loc[30, "recency"] = ""  # an empty optional attribute is fine
    frame.loc[41, "customer_id"] = frame.loc[40, "customer_id"]  # rows 41 and 42: one customer
    path = tmp_path / "campaign.csv"
    save(frame, path)

    result = landing.ingest_file(settings, path)

    assert result.status == "loaded" and result.source == "campaigns"
    assert result.rows == 195 and result.quarantined_rows == 5
    folder = settings.quarantine_dir / f"rows-{result.batch_id}"
    assert any(str(folder) in w for w in result.warnings)
    kept_out = pd.read_csv(folder / "rejected_rows.csv", dtype=str, keep_default_na=False)
    assert kept_out["data_row"].tolist() == ["3", "10", "21", "41", "42"]
    reasons = kept_out["reason"].tolist()
    assert reasons[0] == "spend is '$12.50', not a plain number >= 0 (no currency sign)"
    assert "treatment_arm is empty" in reasons[1] and "converted is 'maybe'" in reasons[1]
    assert reasons[2].startswith("sent_at is '2031-01-01 09:00:00'")
    twice = frame.loc[40, "customer_id"]
    assert reasons[3] == reasons[4] == f"customer_id {twice!r} appears 2 times in campaign 'spring'"
    assert kept_out["spend"].iloc[0] == "$12.50"  # the delivered value, as delivered
    report = (folder / "report.md").read_text()
    assert "5 rows of batch" in report and "spend: 1 rows" in report

    loaded = exposures(settings)
    assert len(loaded) == 195
    assert twice not in set(loaded["customer_id"])
    assert frame.loc[2, "customer_id"] not in set(loaded["customer_id"])
    kept = loaded.set_index("customer_id").loc[frame.loc[30, "customer_id"]]
    assert pd.isna(kept["recency"]) and kept["treatment_arm"] == frame.loc[30, "treatment_arm"]
    batches = reader.query(settings, "select row_count, source from raw.batches")
    assert batches.iloc[0].tolist() == [195, "campaigns"]


def test_a_file_with_too_many_bad_rows_is_refused_whole(settings: Settings, tmp_path) -> None:
    frame = campaign_file(tmp_path, "shifted.csv", 100)
    frame.loc[:29, "spend"] = "-5"
    path = tmp_path / "shifted.csv"
    save(frame, path)
    with pytest.raises(GateFailed, match="at most 10% of the campaign rows are bad"):
        landing.ingest_file(settings, path)
    quarantined = list(settings.quarantine_dir.glob("*/shifted.csv"))
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == path.read_bytes()
    assert "spend" in (quarantined[0].parent / "report.md").read_text()
    counts = reader.table_counts(settings) if settings.warehouse_path.exists() else {}
    assert counts.get("raw.campaign_exposures", 0) == 0


def test_a_file_without_a_required_column_is_refused(settings: Settings, tmp_path) -> None:
    frame = campaign_file(tmp_path, "short.csv", 50).drop(columns=["converted"])
    path = tmp_path / "short.csv"
    save(frame, path)
    with pytest.raises(GateFailed, match="required column converted is missing"):
        landing.ingest_file(settings, path)
    assert len(list(settings.quarantine_dir.glob("*/short.csv"))) == 1


def test_a_clean_file_loads_every_row_and_quarantines_nothing(settings: Settings, tmp_path) -> None:
    frame = campaign_file(tmp_path, "clean.csv", 120)
    path = tmp_path / "clean.csv"
    save(frame, path)
    result = landing.ingest_file(settings, path)
    assert result.rows == 120 and result.quarantined_rows == 0
    assert not list(settings.quarantine_dir.glob("rows-*"))
    loaded = exposures(settings)
    assert sorted(loaded["customer_id"]) == sorted(frame["customer_id"])
    assert loaded["spend"].sum() == pytest.approx(pd.to_numeric(frame["spend"]).sum())
