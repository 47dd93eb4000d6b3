"""The reviews source end to end: the real clothing file and broken deliveries through landing,
the raw gate, dbt's staging and marts, and the mart gate.

Good rows load while bad ones are set aside with their reason (``review_rejects``); a file that
is mostly bad, or not UTF-8, is refused whole and the warehouse is unchanged. The source is
added with ``MERCATO_EXTRA_SOURCES`` semantics (``Settings.extra_sources``) while it is not one
of Mercato's own, so these tests pass before and after it is.
"""

from __future__ import annotations

import dataclasses
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from expectations import GateFailed
from mercato.names import source_modules
from mercato.settings import REPO_ROOT, Settings, get_settings
from warehouse import landing, reader
from warehouse.landing import IngestResult

CLOTHING_ZIP = REPO_ROOT.parent / "shared" / "data" / "reviews"
CLOTHING_ZIP = CLOTHING_ZIP / "womens_clothing_ecommerce_reviews.csv.zip"
REVIEW_MARTS = ("review_facts", "product_review_stats", "review_rejects")


def with_reviews(settings: Settings) -> Settings:
    """``settings`` with the reviews source, whether it is built in yet or not."""
    if "reviews" in source_modules(settings):
        return settings
    extra = {**settings.extra_sources, "reviews": "warehouse.sources.reviews"}
    return dataclasses.replace(settings, extra_sources=extra)


def build(settings: Settings) -> None:
    """The review models with their dbt tests, then the whole mart gate."""
    from pipeline import stages

    stages.transform(settings, select="stg_reviews+")
    stages.validate(settings)


@pytest.fixture
def reviews_settings(warehouse_settings: Settings) -> Settings:
    """A private copy of the built warehouse (orders loaded) with the reviews source added."""
    settings = with_reviews(warehouse_settings)
    landing.ensure_raw_tables(settings)
    return settings


@pytest.fixture(scope="module")
def clothing_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clothing file extracted from its zip (landing reads CSV and Parquet, not zip)."""
    if not CLOTHING_ZIP.is_file():
        pytest.skip(f"real reviews not found at {CLOTHING_ZIP}")
    path = tmp_path_factory.mktemp("clothing") / "womens_clothing_reviews.csv"
    with zipfile.ZipFile(CLOTHING_ZIP) as archive:
        path.write_bytes(archive.read(archive.namelist()[0]))
    return path


@pytest.fixture(scope="module")
def clothing_home(
    built_home: Path, clothing_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, IngestResult]]:
    """The built warehouse with the clothing file ingested, the review marts built and gated."""
    home = tmp_path_factory.mktemp("clothing-home") / "home"
    shutil.copytree(built_home, home)
    settings = with_reviews(dataclasses.replace(get_settings(), home=home))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MERCATO_HOME", str(home))
        result = landing.ingest_file(settings, clothing_csv)
        build(settings)
        yield settings, result


def test_the_clothing_file_loads_its_good_reviews_and_sets_the_rest_aside(clothing_home) -> None:
    settings, result = clothing_home
    assert (result.source, result.status, result.rows) == ("reviews", "loaded", 23_486)
    warnings = "\n".join(result.warnings)
    assert "845 rows fail" in warnings and "text is not empty" in warnings
    assert "(data rows 93, 94, 99, 136, 143)" in warnings
    assert "2 rows fail" in warnings and "duplicate" in warnings
    assert "unexpected columns" not in warnings  # Age is the reviewer's age band now
    counts = reader.table_counts(settings)
    assert counts["raw.reviews"] == 23_486, "raw keeps every delivered row"
    assert counts["review_facts"] == 23_486 - 845 - 2
    assert counts["review_rejects"] == 847
    rejects = reader.read_table(settings, "review_rejects")
    assert rejects["reject_reason"].value_counts().to_dict() == {
        "text is empty or whitespace only": 845,
        "duplicate of data row 1892": 1,
        "duplicate of data row 9448": 1,
    }
    assert set(rejects.loc[rejects["reject_reason"].str.startswith("dup"), "source_row"]) == {
        12_527,
        21_889,
    }
    raw_columns = reader.query(settings, "describe raw.reviews")["column_name"].tolist()
    assert "Age" not in raw_columns and "reject_reason" in raw_columns
    # the age is stored as its band only, everywhere (the file's ages run from 18 to 99)
    bands = reader.query(settings, "select age_band, count(*) as n from raw.reviews group by 1")
    assert set(bands["age_band"]) == {"<25", "25-34", "35-44", "45-54", "55-64", "65+"}
    assert bands["n"].sum() == 23_486
    facts = reader.query(settings, "select count(age_band) as n from main.review_facts")
    assert facts["n"].iloc[0] == counts["review_facts"]


def test_staging_fixes_the_exports_mojibake_and_typo(clothing_home) -> None:
    settings, _ = clothing_home
    facts = reader.read_table(settings, "review_facts")
    assert not facts["text"].str.contains("ã©|ã¨|ã¼|\u00a0", regex=True).any()
    assert facts["text"].str.contains("fiancé").any()
    assert set(facts["division"].dropna()) == {"General", "General Petite", "Intimates"}
    assert facts["sentiment_label"].value_counts().to_dict().keys() == {
        "positive",
        "neutral",
        "negative",
    }
    assert (facts["is_positive"].isna() == (facts["rating"] == 3)).all()
    # the review id is the file's unnamed row-number column
    assert facts["review_id"].iloc[:3].tolist() == sorted(facts["review_id"].iloc[:3].tolist())
    assert "0" in set(facts["review_id"])


def test_product_statistics_follow_the_reviews_and_have_no_trend_without_dates(
    clothing_home,
) -> None:
    settings, _ = clothing_home
    stats = reader.read_table(settings, "product_review_stats").set_index("product_id")
    facts = reader.read_table(settings, "review_facts")
    top = facts["product_id"].value_counts().index[0]
    mine = facts[facts["product_id"] == top]
    assert stats.loc[top, "n_reviews"] == len(mine)
    assert stats.loc[top, "mean_rating"] == pytest.approx(mine["rating"].mean())
    assert stats.loc[top, "positive_share"] == pytest.approx((mine["rating"] >= 4).mean())
    assert stats.loc[top, "category"] == mine["category"].mode().iloc[0]
    shares = stats[["positive_share", "neutral_share", "negative_share"]].sum(axis=1)
    assert shares.to_numpy() == pytest.approx(1.0)
    assert stats["rating_trend_per_30d"].isna().all(), "the clothing file has no dates"
    assert len(stats) == facts["product_id"].nunique()


def _reviews(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "review_id": [f"r{i:03d}" for i in range(n)],
            "product_id": [f"p{i % 5}" for i in range(n)],
            "rating": [str(1 + i % 5) for i in range(n)],
            "text": [f"review number {i} of a product" for i in range(n)],
            "created_at": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )


def test_each_kind_of_bad_row_is_set_aside_and_the_good_rows_load(
    reviews_settings: Settings, tmp_path: Path
) -> None:
    """One batch (Parquet, so a text can carry raw bytes) with every row check failing once."""
    frame = _reviews().astype(object)
    bad = {
        1: ("review_id", None, "review_id is missing"),
        2: ("product_id", None, "product_id is missing"),
        3: ("rating", "7", "rating '7' is not a whole number from 1 to 5"),
        4: ("text", "   ", "text is empty or whitespace only"),
        5: ("text", "caf\xe9".encode("latin-1"), "text is not valid UTF-8"),
        6: ("text", "y" * 10_001, "characters, over the limit of 10,000"),
        7: ("created_at", "2099-05-01", "is in the future"),
        8: ("review_id", "r000", "duplicate of data row 1"),
    }
    for row, (column, value, _) in bad.items():
        frame.at[row, column] = value
    # a binary text column, as a Parquet export can carry: UTF-8 bytes but row 5's
    frame["text"] = [t if isinstance(t, bytes) else t.encode() for t in frame["text"]]
    path = tmp_path / "reviews.parquet"
    frame.to_parquet(path, index=False)
    result = landing.ingest_file(reviews_settings, path)
    assert result.status == "loaded" and result.rows == 40
    build(reviews_settings)
    rejects = reader.read_table(reviews_settings, "review_rejects").set_index("source_row")
    assert sorted(rejects.index) == [row + 1 for row in bad]
    for row, (_, _, reason) in bad.items():
        assert reason in rejects.loc[row + 1, "reject_reason"], row
    facts = reader.read_table(reviews_settings, "review_facts")
    assert len(facts) == 40 - len(bad)
    assert set(facts["review_id"]).isdisjoint({"r001", "r003", "r004", "r005", "r006", "r007"})


def test_a_batch_that_is_mostly_bad_is_rejected_whole_and_changes_nothing(
    reviews_settings: Settings, tmp_path: Path
) -> None:
    """Ratings on a 10-point scale (three in four above 5): not a few bad reviews but a wrong
    file, or a wrong column map."""
    before = reader.table_hashes(reviews_settings)
    path = tmp_path / "ten-point.csv"
    _reviews().assign(rating=[str(6 + i % 5) if i % 4 else "3" for i in range(40)]).to_csv(
        path, index=False
    )
    with pytest.raises(GateFailed, match="at most 50% of the rows fail a row check") as caught:
        landing.ingest_file(reviews_settings, path)
    report = Path(caught.value.result.report_path)
    assert report.parent.parent == reviews_settings.quarantine_dir
    assert (report.parent / "ten-point.csv").read_bytes() == path.read_bytes()
    assert "rating '7' is not a whole number" in report.read_text()
    assert reader.table_hashes(reviews_settings) == before


def test_a_csv_that_is_not_utf8_is_refused_whole_by_landing(
    reviews_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(_reviews().assign(text="café au lait").to_csv(index=False).encode("latin-1"))
    with pytest.raises(GateFailed, match="not valid UTF-8: byte 0xe9 at line 2"):
        landing.ingest_file(reviews_settings, path)
    assert reader.table_counts(reviews_settings)["raw.reviews"] == 0


def test_a_missing_required_column_rejects_the_batch(
    reviews_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "no-text.csv"
    _reviews().drop(columns=["text"]).to_csv(path, index=False)
    with pytest.raises(GateFailed, match="required column text is missing"):
        landing.ingest_file(reviews_settings, path, source="reviews")


def test_a_review_delivered_again_replaces_its_earlier_version(
    reviews_settings: Settings, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    _reviews(20).to_csv(first, index=False)
    edited = _reviews(20).iloc[[0]].assign(text="edited: it broke after all", rating="1")
    edited.to_csv(second, index=False)
    for path in (first, second):
        landing.ingest_file(reviews_settings, path)
    build(reviews_settings)
    facts = reader.read_table(reviews_settings, "review_facts").set_index("review_id")
    assert len(facts) == 20
    assert facts.loc["r000", "text"] == "edited: it broke after all"
    assert facts.loc["r000", "sentiment_label"] == "negative"
    stats = reader.read_table(reviews_settings, "product_review_stats").set_index("product_id")
    assert stats.loc["p0", "n_reviews"] == 4
    assert stats["rating_trend_per_30d"].notna().any(), "dated reviews give a trend"


def test_without_reviews_the_review_marts_are_empty_and_pass_the_gate(
    warehouse_settings: Settings,
) -> None:
    """The built warehouse has never had a review: its review marts exist, empty, and the mart
    gate (which ran when it was built) passes; so do the families that skip them."""
    from models.sentiment import SentimentFamily

    for mart in REVIEW_MARTS:
        assert len(reader.read_table(warehouse_settings, mart)) == 0, mart
    assert not SentimentFamily().has_data(warehouse_settings)
