"""Review text reaches the warehouse with e-mail addresses, phone and card numbers masked.

A generated reviews batch with personal data pasted into some texts and titles (and into one
row that is set aside as bad, which raw keeps with its reason) goes through landing, the raw
gate, dbt's review models and the mart gate; no stored copy but the archived delivery holds the
personal data.
"""

from __future__ import annotations

import pandas as pd
from fixed_dates import END_DATE

from mercato.pii import CARD_MASK, EMAIL_MASK, PHONE_MASK
from mercato.settings import Settings
from warehouse import landing, reader

EMAIL = "jane.doe@example.com"
PHONE = "+44 20 7946 0958"
CARD = "4111 1111 1111 1111"


def test_review_text_is_masked_before_it_is_stored(
    warehouse_settings: Settings, small_frame: pd.DataFrame
) -> None:
    from pipeline import stages
    from warehouse.synthetic_reviews import generate_reviews

    settings = warehouse_settings
    landing.ensure_raw_tables(settings)
    frame = generate_reviews(orders=small_frame, end_date=END_DATE, seed=5, review_rate=0.5)
    frame = frame.drop_duplicates("review_id").reset_index(drop=True)
    frame.loc[0, "text"] = f"Great mug, mail me at {EMAIL} or call {PHONE}."
    frame.loc[1, "text"] = f"Charged twice on {CARD}! Order 536365 of 12 mugs."
    frame.loc[2, "title"] = f"ask {EMAIL}"
    frame.loc[3, "text"] = ""  # a bad row, set aside with its title
    frame.loc[3, "title"] = f"call {PHONE}"
    path = settings.home / "reviews.csv"
    frame.to_csv(path, index=False)

    result = landing.ingest_file(settings, path, source="reviews")
    assert result.status == "loaded"
    stages.transform(settings, select="stg_reviews+")
    stages.validate(settings)

    raw = reader.read_table(settings, "raw.reviews").set_index("review_id")
    ids = frame["review_id"].astype(str)
    assert raw.loc[ids[0], "text"] == f"Great mug, mail me at {EMAIL_MASK} or call {PHONE_MASK}."
    assert raw.loc[ids[1], "text"] == f"Charged twice on {CARD_MASK}! Order 536365 of 12 mugs."
    assert raw.loc[ids[2], "title"] == f"ask {EMAIL_MASK}"
    facts = reader.read_table(settings, "review_facts")
    assert facts["text"].str.contains(EMAIL_MASK, regex=False).any()
    stored = [raw, facts, reader.read_table(settings, "review_rejects")]
    stored += [pd.read_csv(p) for p in settings.quarantine_dir.rglob("*.csv")]
    stored_text = "\n".join(f.astype(str).to_csv() for f in stored)
    stored_text += "\n".join(p.read_text() for p in settings.quarantine_dir.rglob("*.md"))
    for secret in (EMAIL, PHONE, CARD, "7946 0958", "1111 1111"):
        assert secret not in stored_text, secret
    assert raw.loc[ids[3], "title"] == f"call {PHONE_MASK}"  # a set-aside row: masked too
    assert pd.notna(raw.loc[ids[3], "reject_reason"])
