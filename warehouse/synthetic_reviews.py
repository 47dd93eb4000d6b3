"""Seeded synthetic product reviews beside the synthetic orders, for the default run and tests.

Reviews are written by customers about products they bought: the pairs come from order lines
(``warehouse.synthetic.generate_orders``, or any order lines in the UCI schema), so a review's
``product_id`` is a stock code of the catalogue, its ``customer_id`` a buyer, and its
``created_at`` a few days after that customer's first purchase of it (never on or after the end
date). The text has something real to learn:

- each product has a quality (some are simply worse), and for a fifth of them a drift over the
  period, so ratings differ by product and some products' ratings trend up or down;
- the text follows the rating: glowing at 5 stars, praise with a caveat at 4, mixed at 3,
  complaints at 1-2, with negations both ways ("not bad at all", "not worth it") and phrases
  no sentiment lexicon knows ("sent it back", "bought a second one"), so a word count alone
  is not enough; as with real reviewers, a sixth of the texts read one or two stars away from
  their rating (one in twenty as the opposite one);
- each product has its own flaw and its own strength, mentioned in its negative and positive
  reviews, so praise and complaint terms differ between products;
- each reviewer has an age (``reviewer_age``, 18 to 79, from a hash of the customer id, so
  the rest of the data does not move with it), which the source reduces to its age band;
- the defects of real exports, in small proportions: reviews without text and repeated rows
  (the raw gate sets both aside), and reviews without a title.

The same arguments always give the same rows; ``end_date`` is required so that nothing depends
on the day the generator runs (tests pass ``tests/fixed_dates.END_DATE``, the demo today).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from warehouse.synthetic import write_frame

#: The columns written, in the reviews source's own names.
COLUMNS = [
    "review_id",
    "product_id",
    "customer_id",
    "rating",
    "title",
    "text",
    "created_at",
    "category",
    "reviewer_age",
]

#: Cuts of a product's quality plus noise (mean 0, sd about 1.35) into 1-5 stars, so that about
#: 4% / 8% / 12% / 22% / 54% of reviews get 1 to 5 stars, as on the clothing file.
_RATING_CUTS = np.array([-2.36, -1.59, -0.95, -0.14])
#: Share of reviews whose text reads as another rating (one or two stars away), and the share
#: of those that read as the opposite one (a 5-star "broke after a week", a 1-star "love it").
_MOOD_NOISE = 0.15
_MIRRORED = 0.05
_FLAWS = [
    "it arrived broken",
    "the colour faded after one wash",
    "it is much smaller than pictured",
    "it feels like cheap plastic",
    "the paint chipped within a week",
    "it wobbles on the table",
    "the handle came off",
    "it has a strange chemical smell",
    "the stitching came loose",
    "the lid does not close properly",
]
_STRENGTHS = [
    "it is really sturdy",
    "the colours are beautiful",
    "it is great value for money",
    "it was packed very carefully",
    "it makes a lovely gift",
    "the print is crisp and bright",
    "it is bigger than I expected",
    "the finish is smooth and solid",
    "it washes well",
    "it looks even better in person",
]
_PRAISE = [
    "Absolutely love this {c}.",
    "Gorgeous {c}, exactly as described.",
    "Really happy with this {c}.",
    "Great quality and fast delivery.",
    "I would definitely buy it again.",
    "Can't fault it at all.",
    "Perfect for my kitchen.",
    "My friends keep asking where I got it.",
    "Exactly what I was looking for.",
    "Bought a second one for my sister.",
    "Arrived the next day.",
]
_MILD_PRAISE = [
    "Nice {c} overall.",
    "Pretty good for the price.",
    "Not bad at all.",
    "Does what it should.",
    "Good {c}, would recommend.",
]
_CAVEATS = [
    "A bit pricey though.",
    "Delivery took a while.",
    "Slightly smaller than I thought.",
    "The box was a little dented.",
]
_MIXED = [
    "It's okay, nothing special.",
    "Average {c}, does the job.",
    "Mixed feelings about this one.",
    "Fine for the price but I expected more.",
]
_COMPLAINTS = [
    "Really disappointed with this {c}.",
    "Not worth the money.",
    "Poor quality, sadly.",
    "Not as described.",
    "Would not buy again.",
    "Unfortunately I had to return it.",
    "Sent it back the same week.",
    "Asked for my money back.",
    "Lasted about a month.",
]
_ANGER = [
    "Terrible {c}, a complete waste of money.",
    "Worst purchase I have made this year.",
    "Awful, I want a refund.",
    "Do not buy this {c}.",
]
_TITLES = {
    5: ["Love it!", "Perfect", "Excellent", "Beautiful", "Highly recommend"],
    4: ["Very nice", "Good buy", "Happy with it", "Pretty good"],
    3: ["It's ok", "Average", "Mixed feelings", "Could be better"],
    2: ["Disappointed", "Not great", "Poor quality"],
    1: ["Awful", "Waste of money", "Returned it", "Terrible"],
}


def generate_reviews(
    *,
    end_date: date,
    orders: pd.DataFrame | None = None,
    n_customers: int = 1000,
    n_products: int = 300,
    days: int = 365,
    seed: int = 42,
    review_rate: float = 0.12,
    missing_text_share: float = 0.01,
    duplicate_share: float = 0.004,
    untitled_share: float = 0.2,
) -> pd.DataFrame:
    """Return reviews in the reviews source's schema (``created_at`` as ISO text).

    ``orders`` are order lines in the UCI schema; by default the synthetic orders of the same
    ``end_date``, ``n_customers``, ``n_products``, ``days`` and ``seed``. About
    ``review_rate`` of (customer, product) purchases get a review.
    """
    if orders is None:
        from warehouse.synthetic import generate_orders

        orders = generate_orders(
            end_date=end_date, n_customers=n_customers, n_products=n_products, days=days, seed=seed
        )
    rng = np.random.default_rng([seed, 20_240_607])
    end = pd.Timestamp(datetime.combine(end_date, datetime.min.time()))
    bought = _first_purchases(orders)
    if bought.empty:
        return pd.DataFrame(columns=COLUMNS)

    products = np.sort(bought["stock_code"].unique())
    quality = rng.normal(0.0, 0.9, size=len(products))
    drift = np.where(rng.random(len(products)) < 0.2, rng.normal(0.0, 1.5, len(products)), 0.0)
    flaw = rng.integers(0, len(_FLAWS), size=len(products))
    strength = rng.integers(0, len(_STRENGTHS), size=len(products))
    index = {code: i for i, code in enumerate(products)}

    reviewed = bought[rng.random(len(bought)) < review_rate].reset_index(drop=True)
    if reviewed.empty:
        return pd.DataFrame(columns=COLUMNS)
    delay = pd.to_timedelta(rng.uniform(1.0, 30.0, size=len(reviewed)), unit="D")
    created = (reviewed["first_bought_at"] + delay).dt.floor("min")
    latest = end - pd.Timedelta(minutes=1)
    created = created.where(created <= latest, latest)
    p = reviewed["stock_code"].map(index).to_numpy()
    start = created.min()
    span = max((end - start).total_seconds(), 1.0)
    position = ((created - start).dt.total_seconds() / span).to_numpy() - 0.5
    latent = quality[p] + drift[p] * position + rng.normal(0.0, 1.0, len(reviewed))
    rating = np.searchsorted(_RATING_CUTS, latent) + 1

    # people's words and stars disagree at times: some texts read as another rating would
    roll = rng.random(len(reviewed))
    nearby = np.clip(rating + rng.choice([-2, -1, 1, 2], size=len(reviewed)), 1, 5)
    mood = np.where(roll < _MOOD_NOISE, nearby, rating)
    mood = np.where(roll < _MIRRORED, 6 - rating, mood)
    texts, titles = [], []
    for i in range(len(reviewed)):
        category = reviewed.at[i, "category"].lower()
        texts.append(
            _text(rng, int(mood[i]), category, _FLAWS[flaw[p[i]]], _STRENGTHS[strength[p[i]]])
        )
        choices = _TITLES[int(mood[i])]
        titles.append(
            None if rng.random() < untitled_share else choices[rng.integers(len(choices))]
        )
    frame = pd.DataFrame(
        {
            "product_id": reviewed["stock_code"].to_numpy(),
            "customer_id": reviewed["customer_id"].to_numpy(),
            "rating": rating,
            "title": titles,
            "text": texts,
            "created_at": created.to_numpy(),
            "category": reviewed["category"].to_numpy(),
        }
    )
    frame = frame.sort_values(["created_at", "product_id", "customer_id"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame.insert(0, "review_id", [f"R{n:07d}" for n in range(1, len(frame) + 1)])
    blank = rng.random(len(frame)) < missing_text_share
    frame.loc[blank, "text"] = ""
    repeats = frame.sample(frac=duplicate_share, random_state=int(rng.integers(1 << 31)))
    frame = pd.concat([frame, repeats], ignore_index=True)
    frame["created_at"] = pd.to_datetime(frame["created_at"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    frame["reviewer_age"] = frame["customer_id"].map(_age)
    return frame[COLUMNS]


def write_reviews(path: str | Path, **kwargs: object) -> Path:
    """Generate reviews and write them as CSV or Parquet, chosen by the file's suffix."""
    return write_frame(generate_reviews(**kwargs), path)  # type: ignore[arg-type]


# -- helpers -------------------------------------------------------------------------------------


def _first_purchases(orders: pd.DataFrame) -> pd.DataFrame:
    """(customer, product) pairs of sold product lines with the first purchase and a category.

    Cancellations, adjustments, non-product codes (postage, fees) and guest lines are left out;
    a product's category is the last word of its description ("VINTAGE MUG 3" -> "Mug").
    """
    lines = orders.copy()
    invoice = lines["InvoiceNo"].astype(str)
    code = lines["StockCode"].astype(str).str.strip().str.upper()
    sold = (
        ~invoice.str.startswith(("C", "A"))
        & lines["CustomerID"].notna()
        & (pd.to_numeric(lines["Quantity"], errors="coerce") > 0)
        & code.str.match(r"^\d")
        & lines["Description"].notna()
    )
    lines = lines[sold]
    frame = pd.DataFrame(
        {
            "customer_id": lines["CustomerID"].map(_customer),
            "stock_code": code[sold],
            "first_bought_at": pd.to_datetime(lines["InvoiceDate"]),
            "category": lines["Description"].map(_category),
        }
    )
    pairs = frame.groupby(["customer_id", "stock_code"], as_index=False).agg(
        first_bought_at=("first_bought_at", "min"), category=("category", "first")
    )
    return pairs.sort_values(["first_bought_at", "customer_id", "stock_code"]).reset_index(
        drop=True
    )


def _age(customer_id: object) -> int:
    """A reviewer's age, 18 to 79: a stable hash of the id (no draw from the shared stream)."""
    digest = hashlib.sha256(str(customer_id).encode()).digest()
    return 18 + int.from_bytes(digest[:4], "big") % 62


def _customer(value: object) -> str:
    text = str(value).strip()
    return re.sub(r"\.0+$", "", text)


def _category(description: object) -> str:
    words = re.sub(r"\s+\d+$", "", str(description).strip()).split()
    return words[-1].capitalize() if words else "Other"


def _pick(rng: np.random.Generator, options: list[str], category: str) -> str:
    return options[rng.integers(len(options))].format(c=category)


def _text(rng: np.random.Generator, rating: int, category: str, flaw: str, strength: str) -> str:
    """A review whose sentiment follows ``rating``, naming the product's flaw or strength."""
    if rating == 5:
        parts = [_pick(rng, _PRAISE, category), f"{strength.capitalize()}."]
        if rng.random() < 0.5:
            parts.append(_pick(rng, _PRAISE, category))
    elif rating == 4:
        parts = [_pick(rng, _MILD_PRAISE, category), f"{strength.capitalize()}."]
        if rng.random() < 0.4:
            parts.append(_pick(rng, _CAVEATS, category))
    elif rating == 3:
        parts = [_pick(rng, _MIXED, category)]
        parts.append(f"{(strength if rng.random() < 0.5 else flaw).capitalize()}.")
    elif rating == 2:
        parts = [_pick(rng, _COMPLAINTS, category), f"{flaw.capitalize()}."]
        if rng.random() < 0.3:
            parts.append("It looks nice, but that is all.")
    else:
        parts = [_pick(rng, _ANGER, category), f"{flaw.capitalize()}."]
        parts.append(_pick(rng, _COMPLAINTS, category))
    order = rng.permutation(len(parts)) if rng.random() < 0.3 else np.arange(len(parts))
    return " ".join(parts[j] for j in order)
